"""The le2015 study: its plan, the three networks' starts, what a run stores, its drawer."""

import math

import numpy as np
import pytest
import torch

from gradtrace.models import LSTM, ElmanRNN
from gradtrace.store import Store
from gradtrace.studies import STUDIES, Le2015, Le2015Config, run_study
from gradtrace.studies.le2015.figures import draw as le2015_figures
from gradtrace.studies.le2015.study import LE2015_MODELS, QUICK, _build
from gradtrace.tasks import Adding

SEEDS = 2
COLUMNS = ["setting", "published", "ours", "budget"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("le2015"), create=True)
    run_study(Le2015(), store, quick=True, seeds=SEEDS)
    return store


def test_the_study_is_registered_and_plans_three_models_at_t150():
    assert STUDIES["le2015"] is Le2015
    config = Le2015Config()
    assert min(config.lengths) >= 150 and set(config.models) == set(LE2015_MODELS)
    full = Le2015().plan(quick=False, seeds=1)
    assert [s.name for s in full] == [f"{m}-T{t}" for t in config.lengths for m in config.models]
    assert {s.steps for s in full} == {config.steps} and config.steps > QUICK.steps
    assert config.lr("lstm") > 0 and config.clip_norm == 1.0


def test_the_irnn_starts_at_the_identity_and_the_others_as_usual():
    task = Adding(10)
    H = QUICK.hidden_size
    irnn = _build(QUICK, "irnn", task, 2)
    assert isinstance(irnn, ElmanRNN) and irnn.activation == "relu"
    assert torch.equal(irnn.W_rec.detach(), torch.eye(H).expand(2, H, H))
    assert not irnn.b.detach().any() and float(irnn.W_in.detach().abs().max()) < 0.01
    tanh = _build(QUICK, "tanh", task, 2)
    assert isinstance(tanh, ElmanRNN) and tanh.activation == "tanh"
    assert float(tanh.W_rec.detach().abs().max()) <= 1 / math.sqrt(H)
    lstm = _build(QUICK, "lstm", task, 2)
    assert isinstance(lstm, LSTM) and (lstm.b.detach()[:, H:2 * H] == QUICK.lstm_forget_bias).all()


def test_a_quick_run_stores_curves_and_a_sane_summary(store):
    assert store.names("le2015") == ["irnn-T10", "tanh-T10", "lstm-T10"]
    for name in store.names("le2015"):
        record = store.get("le2015", name)
        s, a = record.summary, record.arrays
        assert record.status == "finished" and name == f"{s['model']}-T{s['length']}"
        assert math.isclose(s["baseline_loss"], 1 / 6) and s["seeds"] == SEEDS
        assert s["task/loss_min"] <= s["task/loss"] <= s["task/loss_max"]
        assert 0 <= s["beats_baseline"] <= SEEDS and s["beats_low"] <= s["beats_baseline"] / SEEDS <= s["beats_high"]
        assert 0 <= s["clip_fraction"] <= 1 and s["diverged"] == 0
        assert a["train/loss"].shape == a["grad/norm"].shape == a["clip/fired"].shape == (QUICK.steps, SEEDS)
        assert a["task/loss"].shape == (len(a["eval/step"]), SEEDS) and np.isfinite(a["task/loss"]).all()
        assert record.config["lr"] == QUICK.lr(s["model"])


def test_the_drawer_returns_figures_and_the_published_table(store):
    figures, tables = le2015_figures(store)
    assert len(figures) == 2 and all(f.png.startswith(b"\x89PNG") for f in figures)
    assert "baseline" in figures[0].caption and "not transcribed" in figures[0].caption
    (table,) = tables
    assert table.title == "Le, Jaitly & Hinton 2015: published vs ours" and table.columns == COLUMNS
    assert [row[0] for row in table.rows] == ["IRNN (ReLU, W_rec = I), T = 10", "RNN, tanh, T = 10", "LSTM, T = 10"]
    assert "0.167" in table.rows[0][1] and "updates × 4 sequences" in table.rows[0][3]


def test_the_drawer_of_an_empty_store_draws_nothing(tmp_path):
    assert le2015_figures(Store(tmp_path, create=True)) == ([], [])


@pytest.mark.parametrize(("options", "message"), [
    ({"models": ("gru",)}, "Unknown model 'gru' for `models`"),
    ({"lrs": (("irnn", 1e-3),)}, "`lrs` has no learning rate for model 'tanh'"),
    ({"clip_norm": 0.0}, "`clip_norm`"),
    ({"margin": 1.5}, "`margin` must be at most 1"),
    ({"lengths": ()}, "at least one length"),
])
def test_a_bad_config_is_refused(options, message):
    with pytest.raises(ValueError, match=message):
        Le2015Config(**options)


def test_the_learning_rate_of_a_model_not_in_the_study_is_refused():
    with pytest.raises(ValueError, match="Unknown model 'gru'"):
        Le2015Config().lr("gru")
