"""The bengio1994 study: its plan, what a run stores, its drawer."""

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies import STUDIES, Bengio1994, Bengio1994Config, run_study
from gradtrace.studies.bengio1994 import QUICK
from gradtrace.studies.bengio1994.figures import draw as bengio1994_figures

SEEDS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("bengio1994"), create=True)
    run_study(Bengio1994(), store, quick=True, seeds=SEEDS)
    return store


def test_the_study_is_registered_with_many_seeds():
    assert STUDIES["bengio1994"] is Bengio1994 and Bengio1994.default_seeds == 20
    config = Bengio1994Config()
    assert [s.name for s in Bengio1994().plan(quick=False, seeds=1)] == [f"T{t}" for t in config.lengths]
    assert [s.name for s in Bengio1994().plan(quick=True, seeds=1)] == [f"T{t}" for t in QUICK.lengths]


def test_a_quick_run_stores_the_summary_and_arrays(store):
    assert store.names("bengio1994") == [f"T{t}" for t in QUICK.lengths]
    for length in QUICK.lengths:
        record = store.get("bengio1994", f"T{length}")
        s, a = record.summary, record.arrays
        assert record.status == "finished" and s["length"] == length and s["seeds"] == SEEDS
        assert 0 <= s["successes"] <= SEEDS and s["success_low"] <= s["success_rate"] <= s["success_high"]
        assert 0 <= s["radius_above_one"] <= SEEDS and s["baseline_loss"] == pytest.approx(0.64)
        assert 1 <= s["init/horizon"] <= length and 1 <= s["final/horizon"] <= length
        assert a["init/W_rec"].shape == a["final/W_rec"].shape == (SEEDS, 1, 1)
        # One unit: the spectral radius is |w|, and U(−1, 1) never starts bistable.
        np.testing.assert_allclose(a["init/spectral_radius"], np.abs(a["init/W_rec"][:, 0, 0]), rtol=1e-6)
        assert (a["init/spectral_radius"] < 1).all()
        assert a["init/grad_norms"].shape == a["final/grad_norms"].shape == (SEEDS, length)
        assert a["train/loss"].shape == (QUICK.steps, SEEDS)


def test_the_drawer_says_there_is_no_published_curve(store):
    figures, tables = bengio1994_figures(store)
    assert [f.title for f in figures] == ["Success frequency against the sequence length",
                                          "How far back the gradient reaches", "Recurrent weight of every seed",
                                          "Learning curves"]
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") for f in figures)
    assert "not transcribed" in figures[0].caption and "no series" in figures[0].caption
    table = tables[0]
    assert table.title == "Bengio, Simard & Frasconi 1994: published vs ours"
    assert table.columns == ["setting", "published", "ours", "budget"]
    assert [row[0].split(" (")[0] for row in table.rows] == [f"T = {t}" for t in QUICK.lengths]
    assert all("not transcribed" in row[1] and row[2].endswith("]") for row in table.rows)


def test_the_drawer_of_an_empty_store_draws_nothing(tmp_path):
    assert bengio1994_figures(Store(tmp_path, create=True)) == ([], [])


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"lengths": ()}, ValueError, "`lengths` must be a non-empty tuple"),
    ({"lengths": (5, 5)}, ValueError, "without repeats"),
    ({"lengths": (3,)}, ValueError, "`length` must exceed `latch_steps` \\(3\\)"),
    ({"noise": -1.0}, ValueError, "`noise` must be at least 0"),
    ({"hidden_size": 0}, ValueError, "`hidden_size` must be at least 1"),
    ({"lr": "fast"}, TypeError, "`lr` must be float"),
])
def test_a_bad_config_is_refused(options, error, match):
    with pytest.raises(error, match=match):
        Bengio1994Config(**options)


def test_a_config_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="must be a Bengio1994Config"):
        Bengio1994(config=0)
