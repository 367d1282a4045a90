"""The forecast study: four models against persistence on Mackey-Glass and a synthetic price, and its figures."""

import numpy as np
import pytest
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import ESN
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.forecast import FORECAST_MODELS, ForecastConfig, ForecastStudy, fit_esn_to_windows
from gradtrace.studies.forecast.figures import draw as forecast_figures
from gradtrace.tasks import Forecast

SEEDS = 2
# 300 points: 240 to train on, 60 to test; tiny models and budgets.
SMALL = ForecastConfig(length=300, mlp_hidden=(8,), hidden_size=8, steps=40, lr=0.01, batch_size=32,
                       eval_batch_size=32, reservoir_size=40)
TEST_POINTS = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("forecast"))
    run_study(ForecastStudy(SMALL), store, seeds=SEEDS)
    return store


def test_every_series_and_model_is_scored_on_the_test_part(store):
    names = [f"{series}-{model}" for series in ("mackey_glass", "price") for model in FORECAST_MODELS]
    assert store.names("forecast") == names
    for name in names:
        run = store.get("forecast", name)
        a, s = run.arrays, run.summary
        assert a["test/prediction"].shape == (SEEDS, TEST_POINTS)
        assert a["test/position"].tolist() == list(range(240, 300))
        np.testing.assert_allclose(a["test/mse"], ((a["test/prediction"] - a["test/truth"]) ** 2).mean(1), rtol=1e-5)
        np.testing.assert_allclose(a["test/nrmse"], np.sqrt(a["test/mse"]) / a["test/truth"].std(), rtol=1e-5)
        # The persistence forecast is the window's last value, and its MSE the task's baseline.
        assert s["persistence_mse"] == pytest.approx(((a["test/persistence"] - a["test/truth"]) ** 2).mean())
        assert s["vs_persistence"] == pytest.approx(np.median(a["test/mse"]) / s["persistence_mse"])
        assert s["test/mse_min"] <= s["test/mse"] <= s["test/mse_max"]
        assert a["train/mse"].shape == (SEEDS,)
        assert s["train_vs_persistence"] == pytest.approx(np.median(a["train/mse"]) / s["train_persistence_mse"])


def test_the_window_determines_mackey_glass_and_the_esn_readout_finds_it(store):
    esn = store.get("forecast", "mackey_glass-esn").summary
    # The ridge readout on a random expansion of the window leaves far less error than repeating the last value.
    assert esn["vs_persistence"] < 0.05 and esn["beats_persistence"] == SEEDS
    for model in ("mlp", "elman", "lstm"):
        assert esn["test/mse"] < store.get("forecast", f"mackey_glass-{model}").summary["test/mse"]
    assert esn["outside_train_range"] == 0.0 and esn["train_vs_persistence"] < 0.05


def test_outside_train_range_counts_test_targets_beyond_the_train_part(store):
    run = store.get("forecast", "price-mlp")
    truth, s = run.arrays["test/truth"], run.summary
    assert s["outside_train_range"] == pytest.approx(np.mean((truth < s["train_min"]) | (truth > s["train_max"])))


def test_the_default_price_series_drifts_above_its_train_part():
    # Why no model of the level beats persistence on the price: most test values were never seen in training.
    values = Forecast("price").series_values()
    assert float((values[1600:] > values[:1600].max()).double().mean()) > 0.5


def test_esn_is_fitted_on_windows_from_the_zero_state():
    task = Forecast("mackey_glass", length=300)
    esn = fit_esn_to_windows(ESN(1, 30, 1, readout="last", num_models=2, seed=0), task)
    windows = task.windows()
    # The state after a window depends on that window only: the first window fed alone gives the same output.
    with torch.no_grad():
        together = esn(windows.inputs).outputs
        alone = esn(windows.inputs[:1]).outputs
    np.testing.assert_allclose(together[:, :1].numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
    assert float(task.score(together, windows)["task/loss"].max()) < task.baseline_loss


def test_figures_and_table(store):
    figures, tables = forecast_figures(store)
    assert [f.title for f in figures] == ["Test-set predictions against the truth", "Test error per model"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = tables[0].rows
    assert len(rows) == 8
    assert rows[0][:2] == ["Mackey-Glass (τ = 17)", "MLP"]
    assert "persistence" in figures[1].caption and "outside the range" in figures[1].caption


def test_empty_store_draws_nothing(tmp_path):
    assert forecast_figures(Store(tmp_path)) == ([], [])


def test_interrupted_run_keeps_its_partial_arrays(tmp_path, interrupt_at):

    store = Store(tmp_path)
    config = ForecastConfig(series=("price",), models=("lstm",), length=200, hidden_size=4, steps=10)
    with pytest.raises(RunInterrupted, match="interrupted during run 'price-lstm'"):
        run_study(ForecastStudy(config), store, seeds=2, progress=interrupt_at(step=2))
    record = store.get("forecast", "price-lstm")
    assert record.status == "interrupted" and record.arrays["task/loss"].shape[1] == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("models", ("mlp", "gru"), "Unknown model.*Available: mlp, elman, lstm, esn"),
    ("series", ("sunspots",), "Unknown series.*Available: mackey_glass, price"),
])
def test_unknown_names_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        ForecastStudy(ForecastConfig(**{field: value})).plan(quick=False, seeds=1)
