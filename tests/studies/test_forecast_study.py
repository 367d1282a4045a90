"""The forecast study: four models against persistence on Mackey-Glass and a synthetic price, and its figures."""

import numpy as np
import pytest
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import ESN
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.claims import evaluate_claims
from gradtrace.studies.forecast import (
    MODELS,
    QUICK,
    SERIES,
    ChangeForecast,
    ForecastConfig,
    ForecastStudy,
    Key,
    fit_esn_to_windows,
    run_name,
    seasonal_oracle,
)
from gradtrace.studies.forecast.figures import draw
from gradtrace.tasks import Forecast

SEEDS = 2
TEST_POINTS = 80  # QUICK: 400 points, the last 20 % to test


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("forecast"))
    run_study(ForecastStudy(), store, quick=True, seeds=SEEDS)
    return store


def test_every_series_and_model_is_scored_on_the_test_part(store):
    names = [run_name(series, model) for series in SERIES for model in MODELS]
    assert store.names("forecast") == names
    for name in names:
        a, s = store.get("forecast", name).arrays, store.get("forecast", name).summary
        assert a[Key.TEST_PREDICTION].shape == (SEEDS, TEST_POINTS)
        assert a[Key.TEST_POSITION].tolist() == list(range(320, 400))
        rmse = np.sqrt(((a[Key.TEST_PREDICTION] - a[Key.TEST_TRUTH]) ** 2).mean(1))
        np.testing.assert_allclose(a[Key.TEST_RMSE], rmse, rtol=1e-4)
        # Persistence repeats the last value: its RMSE is the square root of the task's baseline loss.
        persistence = np.sqrt(((a[Key.TEST_PERSISTENCE] - a[Key.TEST_TRUTH]) ** 2).mean())
        assert s[Key.PERSISTENCE_RMSE] == pytest.approx(persistence)
        task = Forecast(s[Key.SERIES], split="test", length=QUICK.length, seed=QUICK.seed)
        assert s[Key.PERSISTENCE_RMSE] == pytest.approx(task.baseline_loss ** 0.5)
        assert s[Key.RATIO_MIN] <= s[Key.RATIO] <= s[Key.RATIO_MAX]
        assert s[Key.RATIO] == pytest.approx(np.median(a[Key.TEST_RMSE]) / s[Key.PERSISTENCE_RMSE])
        assert (Key.ORACLE_RATIO in s) == (s[Key.SERIES] == "price")


def test_a_change_forecast_sees_the_window_from_its_last_value():
    levels = Forecast("price", length=200, seed=3)
    task = ChangeForecast(levels)
    changes, windows = task.windows(), levels.windows()
    last = windows.inputs[:, -1:, :]
    torch.testing.assert_close(changes.inputs, windows.inputs - last)
    torch.testing.assert_close(changes.targets[:, -1], windows.targets[:, -1] - last[:, 0])
    # Forecasting no change is persistence: its loss is the baseline of both tasks.
    loss = task.score(torch.zeros(1, *changes.targets.shape[:1], 1), changes)["task/loss"]
    assert float(loss) == pytest.approx(task.baseline_loss, rel=1e-5) and task.baseline_loss == levels.baseline_loss
    assert task.describe().startswith("forecast_change(series='price'")
    with pytest.raises(TypeError, match="`levels` must be a Forecast"):
        ChangeForecast("price")


def test_the_seasonal_oracle_beats_persistence_but_not_by_much():
    task = Forecast("price", split="test", seed=0)
    truth = task.windows().targets[:, -1, 0].double()
    ratio = float((seasonal_oracle(task) - truth).square().mean()) ** 0.5 / task.baseline_loss ** 0.5
    assert 0.8 < ratio < 1.0
    with pytest.raises(ValueError, match="'price' series"):
        seasonal_oracle(Forecast("mackey_glass", length=200))


def test_esn_is_fitted_on_windows_from_the_zero_state():
    task = ChangeForecast(Forecast("mackey_glass", length=300))
    esn = fit_esn_to_windows(ESN(1, 30, 1, readout="last", num_models=2, seed=0), task)
    windows = task.windows()
    # The state after a window depends on that window only: the first window fed alone gives the same output.
    with torch.no_grad():
        together = esn(windows.inputs).outputs
        alone = esn(windows.inputs[:1]).outputs
    np.testing.assert_allclose(together[:, :1].numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
    assert float(task.score(together, windows)["task/loss"].max()) < task.baseline_loss


def test_claims_are_measured(store):
    verdicts = evaluate_claims(store, ForecastStudy())
    assert [v.name for v in verdicts] == ["forecasters-beat-persistence-on-chaos",
                                          "nothing-much-beats-persistence-on-price"]
    assert all(v.measured for v in verdicts)
    assert "rede de estado de eco" in verdicts[0].sentence["pt"]


def test_an_untrained_forecaster_fails_the_chaos_claim(tmp_path):
    # One Adam step leaves the MLP's forecast of Mackey-Glass near its starting guess, not 5× below persistence.
    study = ForecastStudy(QUICK.model_copy(update={"series": ("mackey_glass",), "models": ("mlp",), "steps": 1}))
    store = Store(tmp_path)
    run_study(study, store, seeds=SEEDS)
    (verdict,) = evaluate_claims(store, study)
    assert verdict.measured and not verdict.held


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_table(store, lang):
    figures, tables = draw(store, lang)
    assert len(figures) == 2 and all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = tables[0].rows
    assert len(rows) == 8 and rows[0][:2] == ["Mackey-Glass (τ = 17)", "MLP"]
    if lang == "pt":
        assert rows[4][:2] == ["preço sintético", "MLP"] and "," in rows[0][2] and "." not in rows[0][2]
    assert draw(Store(store.root / "empty"), lang) == ([], [])


def test_interrupted_run_keeps_its_partial_arrays(tmp_path, interrupt_at):
    store = Store(tmp_path)
    config = ForecastConfig(series=("price",), models=("lstm",), length=200, hidden_size=4, steps=10)
    with pytest.raises(RunInterrupted, match="interrupted during run 'price-lstm'"):
        run_study(ForecastStudy(config), store, seeds=2, progress=interrupt_at(step=2))
    record = store.get("forecast", "price-lstm")
    assert record.status == "interrupted" and record.arrays[Key.TRAINING_LOSS].shape[1] == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("models", ("mlp", "gru"), r"Unknown or no models \['gru'\].*Available: mlp, elman, lstm, esn"),
    ("series", ("sunspots",), r"Unknown or no series \['sunspots'\].*Available: mackey_glass, price"),
    ("train_fraction", 1.0, r"`train_fraction` must lie in \(0, 1\)"),
])
def test_bad_config_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        ForecastConfig(**{field: value})
