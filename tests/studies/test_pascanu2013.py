"""The pascanu2013 study: its plan, the remedies of each algorithm, what a run stores, its drawer."""

import math

import numpy as np
import pytest
import torch

from gradtrace.store import Store
from gradtrace.studies import STUDIES, Pascanu2013, Pascanu2013Config, run_study
from gradtrace.studies.pascanu2013 import ALGORITHMS, INITS, QUICK, make_model, make_remedies
from gradtrace.studies.pascanu2013.figures import draw as pascanu2013_figures
from gradtrace.tasks import TemporalOrder

SEEDS = 2


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("pascanu2013"), create=True)
    run_study(Pascanu2013(), store, quick=True, seeds=SEEDS)
    return store


def test_the_study_is_registered_and_plans_every_setting():
    assert STUDIES["pascanu2013"] is Pascanu2013
    full = Pascanu2013().plan(quick=False, seeds=1)
    config = Pascanu2013Config()
    assert len(full) == len(INITS) * len(ALGORITHMS) * len(config.lengths)
    assert full[0].name == "sigmoid-MSGD-T20" and full[-1].name == "smart_tanh-MSGD-CR-T30"
    assert {spec.steps for spec in full} == {config.steps}
    assert len(Pascanu2013().plan(quick=True, seeds=1)) == len(INITS) * len(ALGORITHMS)


def test_each_algorithm_gets_its_remedies_in_the_authors_order():
    config = Pascanu2013Config()
    assert make_remedies(config, "MSGD") is None
    assert make_remedies(config, "MSGD-C").describe() == "clip_by_global_norm(max_norm=1.0)"
    # The code adds α∂Ω/∂W_rec to the loss gradient, then clips the sum; its Ω compares squared norms
    # and averages over sequences and kept steps, the Ω the paper's α weighs.
    assert make_remedies(config, "MSGD-CR").describe() == (
        "chain(pascanu_penalty(weight=4.0, form='squared', reduction='mean'), clip_by_global_norm(max_norm=1.0))")
    measured = Pascanu2013Config(measure_omega=True, penalty_form="norm")
    assert make_remedies(measured, "MSGD").describe() == (
        "pascanu_penalty(weight=0.0, form='norm', reduction='mean')")
    assert make_remedies(measured, "MSGD-C").describe().startswith("chain(pascanu_penalty(weight=0.0")


def test_the_three_initializations_follow_the_paper():
    task = TemporalOrder(10)
    config = Pascanu2013Config(hidden_size=20, smart_nonzeros=5)
    sigmoid, basic, smart = (make_model(config, init, task, 2) for init in INITS)
    assert sigmoid.activation == "sigmoid" and basic.activation == smart.activation == "tanh"
    for model in (sigmoid, basic, smart):
        assert model.readout == "last" and not model.b.detach().any() and not model.b_out.detach().any()
    assert float(sigmoid.W_rec.detach().std()) < 0.02 < float(basic.W_rec.detach().std()) < 0.2
    w = smart.W_rec.detach().double()
    assert ((w != 0).sum(-1) == 5).all()
    assert torch.allclose(torch.linalg.eigvals(w).abs().amax(-1), torch.full((2,), 0.95, dtype=torch.float64))


def test_a_quick_run_stores_the_summary_and_arrays(store):
    names = store.names("pascanu2013")
    assert len(names) == len(INITS) * len(ALGORITHMS)
    T = QUICK.lengths[0]
    for name in names:
        record = store.get("pascanu2013", name)
        s, a = record.summary, record.arrays
        assert record.status == "finished" and name == f"{s['init']}-{s['algorithm']}-T{s['length']}"
        assert s["seeds"] == SEEDS and 0 <= s["successes"] <= s["ever_successes"] <= SEEDS
        assert s["success_low"] <= s["success_rate"] <= s["success_high"]
        assert s["success_rate"] == s["successes"] / SEEDS
        assert math.isclose(s["baseline_loss"], math.log(4))
        assert 0 <= s["above_threshold"] <= 1 and s["final/horizon"] <= T
        assert a["train/loss"].shape == a["grad/norm"].shape == (QUICK.steps, SEEDS)
        assert a["final/grad_norms"].shape == (SEEDS, T) and a["first_success_step"].shape == (SEEDS,)
        clipped = s["algorithm"] != "MSGD"
        assert ("clip/fired" in a) == clipped and (s["clip_fired"] is not None) == clipped
        regularized = s["algorithm"] == "MSGD-CR"
        assert ("omega" in a) == regularized
        if regularized:
            assert np.isfinite(a["omega"]).all() and (a["omega"] >= 0).all() and s["omega_end"] >= 0


def test_the_algorithms_start_from_the_same_weights(store):
    for init in INITS:
        radii = [store.get("pascanu2013", f"{init}-{algorithm}-T10").arrays["init/spectral_radius"]
                 for algorithm in ALGORITHMS]
        assert all(np.array_equal(radii[0], r) for r in radii[1:])


def test_the_drawer_compares_with_the_paper(store):
    figures, tables = pascanu2013_figures(store)
    assert [f.title for f in figures][:3] == [
        "Success rate per initialization, length and algorithm", "Loss curves", "Gradient norm before clipping"]
    assert "Ω along training" in [f.title for f in figures]
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") for f in figures)
    table = tables[0]
    assert table.title == "Pascanu, Mikolov & Bengio 2013: published vs ours"
    assert table.columns == ["setting", "published", "ours", "budget"]
    assert len(table.rows) == len(INITS) * len(ALGORITHMS)
    published = {row[0]: row[1] for row in table.rows}
    assert published["basic tanh, MSGD-CR, T = 10"].startswith("5/5 seeds")
    assert "not transcribed" in published["sigmoid, MSGD, T = 10"]
    assert all("Pascanu: up to 5M updates" in row[3] for row in table.rows)
    assert "5,000,000 at 0.01" in figures[0].caption and "Figure 7" in figures[0].caption


def test_the_drawer_of_an_empty_store_draws_nothing(tmp_path):
    assert pascanu2013_figures(Store(tmp_path, create=True)) == ([], [])


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"inits": ("sigmoid", "tanh")}, ValueError, "Unknown init 'tanh' for `inits`"),
    ({"algorithms": ()}, ValueError, "`algorithms` must be a non-empty tuple"),
    ({"lengths": (5,)}, ValueError, "`lengths` must be at least 10, got 5"),
    ({"hidden_size": 10}, ValueError, "`smart_nonzeros` must be between 1 and hidden_size = 10, got 15"),
    ({"penalty_reduction": "max"}, ValueError, "Unknown reduction 'max'"),
    ({"penalty_form": "l2"}, ValueError, "Unknown form of Ω 'l2' for `penalty_form`. Available: 'squared', 'norm'"),
    ({"lr": 0.0}, ValueError, "`lr` must be"),
    ({"steps": 1.5}, TypeError, "`steps` must be int"),
])
def test_a_bad_config_is_refused(options, error, match):
    with pytest.raises(error, match=match):
        Pascanu2013Config(**options)


def test_a_config_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="must be a Pascanu2013Config"):
        Pascanu2013({"steps": 10})
