"""The hochreiter1997 study: its plan, the sequences-to-success count, what a run stores, its drawer."""

import math

import numpy as np
import pytest

from gradtrace.models import LSTM, ElmanRNN
from gradtrace.store import Store
from gradtrace.studies import STUDIES, Hochreiter1997, Hochreiter1997Config, run_study
from gradtrace.studies.hochreiter1997.figures import draw as hochreiter1997_figures
from gradtrace.studies.hochreiter1997.study import QUICK, _build, sequences_to_success
from gradtrace.tasks import Adding

SEEDS = 2
COLUMNS = ["setting", "published", "ours", "budget"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("hochreiter1997"), create=True)
    run_study(Hochreiter1997(), store, quick=True, seeds=SEEDS)
    return store


def test_the_study_is_registered_and_plans_lstm_and_elman_per_length():
    assert STUDIES["hochreiter1997"] is Hochreiter1997
    config = Hochreiter1997Config()
    assert 100 in config.lengths  # Table 7's shortest length
    full = Hochreiter1997().plan(quick=False, seeds=1)
    assert [s.name for s in full] == [f"{m}-T{t}" for t in config.lengths for m in config.models]
    assert {s.steps for s in full} == {config.steps} and config.steps > QUICK.steps
    assert [s.name for s in Hochreiter1997().plan(quick=True, seeds=1)] == ["lstm-T20", "elman-T20"]


def test_the_lstm_starts_with_an_open_forget_gate_and_the_elman_with_tanh():
    task = Adding(20, variant="hochreiter1997")
    lstm = _build(QUICK, "lstm", task, 2)
    H = QUICK.hidden_size
    assert isinstance(lstm, LSTM) and lstm.readout == "last"
    assert (lstm.b.detach()[:, H:2 * H] == QUICK.lstm_forget_bias).all()
    elman = _build(QUICK, "elman", task, 2)
    assert isinstance(elman, ElmanRNN) and elman.activation == "tanh" and elman.num_models == 2


def test_sequences_to_success_counts_updates_times_batch_at_the_first_success():
    steps = np.array([0, 4, 9, 14])
    success = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, np.nan]])
    counts = sequences_to_success(steps, success, 8)
    assert counts[0] == 10 * 8 and counts[1] == 5 * 8 and math.isnan(counts[2])
    assert sequences_to_success(steps[:0], np.zeros((0, 2)), 8).shape == (2,)


def test_a_quick_run_stores_counts_and_a_sane_summary(store):
    assert store.names("hochreiter1997") == ["lstm-T20", "elman-T20"]
    for name in store.names("hochreiter1997"):
        record = store.get("hochreiter1997", name)
        s, a = record.summary, record.arrays
        assert record.status == "finished" and name == f"{s['model']}-T{s['length']}"
        assert s["seeds"] == SEEDS and 0 <= s["solved"] <= SEEDS
        assert s["success_low"] <= s["success_rate"] <= s["success_high"]
        assert s["budget_sequences"] == QUICK.steps * QUICK.batch_size
        assert 0 <= s["final/accuracy_min"] <= s["final/accuracy_median"] <= s["final/accuracy_max"] <= 1
        assert math.isclose(s["baseline_loss"], Adding(20, variant="hochreiter1997").baseline_loss)
        counts = a["sequences_to_success"]
        assert counts.shape == (SEEDS,) and int(np.isfinite(counts).sum()) == s["solved"]
        assert np.all(counts[np.isfinite(counts)] <= s["budget_sequences"])
        assert a["task/accuracy"].shape == (len(a["eval/step"]), SEEDS)
        assert a["train/loss"].shape == (QUICK.steps, SEEDS)


def test_the_drawer_returns_figures_and_the_published_table(store):
    figures, tables = hochreiter1997_figures(store)
    assert len(figures) == 2 and all(f.png.startswith(b"\x89PNG") for f in figures)
    assert "Table 7" in figures[0].caption and "forget gate" in figures[0].caption
    (table,) = tables
    assert table.title == "Hochreiter & Schmidhuber 1997: published vs ours" and table.columns == COLUMNS
    assert len(table.rows) == 2 and all(len(row) == 4 for row in table.rows)
    assert "T = 100" in table.rows[0][1] and "updates × 4 sequences" in table.rows[0][3]


def test_the_drawer_of_an_empty_store_draws_nothing(tmp_path):
    assert hochreiter1997_figures(Store(tmp_path, create=True)) == ([], [])


@pytest.mark.parametrize(("options", "message"), [
    ({"models": ("gru",)}, "Unknown model 'gru' for `models`"),
    ({"lengths": (10,)}, "`lengths` must be at least 20, got 10"),
    ({"lr": 0.0}, "`lr`"),
    ({"optimizer": "lbfgs"}, "Unknown optimizer 'lbfgs'"),
    ({"models": ()}, "at least one model"),
])
def test_a_bad_config_is_refused(options, message):
    with pytest.raises(ValueError, match=message):
        Hochreiter1997Config(**options)
