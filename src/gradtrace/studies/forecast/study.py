"""Next-step forecasting from a window of the last five values: MLP, Elman RNN, LSTM and ESN against persistence.

Every model sees the same thing, the window x_{j−5}, …, x_{j−1}, and predicts x_j; each is scored
on the test part of the series (the last 20 %, never trained on) against the persistence forecast
x̂_j = x_{j−1}, which needs no model. On the chaotic Mackey-Glass series the window determines the
next value almost exactly and every model beats persistence by far. On the synthetic price (a
geometric random walk with a small seasonal term) the increments are close to unpredictable, and
the test prices drift beyond the range seen in training, where a model of the level must
extrapolate; persistence, which only repeats the last value, does not care where the level is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import ESN, LSTM, MLP, ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.tasks import FORECAST_SERIES, Forecast, nrmse
from gradtrace.train import Run, fit

__all__ = ["FORECAST_MODELS", "ForecastConfig", "ForecastStudy", "fit_esn_to_windows"]

#: The forecasters compared, in the order the report shows them, with their labels.
FORECAST_MODELS = {"mlp": "MLP", "elman": "Elman RNN", "lstm": "LSTM", "esn": "echo state network"}


class ForecastConfig(StudyConfig):
    """Sizes of the forecast study (the defaults take about a minute on 2 idle CPU cores)."""

    series: tuple[str, ...] = FORECAST_SERIES
    models: tuple[str, ...] = tuple(FORECAST_MODELS)
    window: int = 5                 # the course notes' window of the last five values
    length: int = 2000              # points per series: 1600 to train on, 400 to test (train_fraction 0.8)
    train_fraction: float = 0.8
    series_seed: int = 0            # which series (Forecast's seed); the model seeds are apart from it
    mlp_hidden: tuple[int, ...] = (32,)  # the window flattened into 5 inputs, one hidden layer
    hidden_size: int = 32           # Elman RNN and LSTM, fed the window one value per step
    activation: str = "tanh"
    # Adam. At this budget the trained models' Mackey-Glass error is still falling slowly (the ESN's
    # closed-form readout is far ahead of them); on the price more steps would not help, since the
    # test error there comes from extrapolation, not from underfitting.
    steps: int = 1500
    lr: float = 5e-3
    batch_size: int = 64            # windows drawn afresh from the train part every step
    eval_batch_size: int = 256      # fit's held-out batch, from the train part, during training
    # ESN: untrained reservoir, so a large one is cheap; inputs of unit variance would saturate tanh
    # with input_scaling 1, 0.5 keeps the units near their linear range.
    reservoir_size: int = 200
    esn_spectral_radius: float = 0.9
    esn_leak_rate: float = 1.0      # five steps from the zero state: no slow units needed
    esn_input_scaling: float = 0.5
    esn_ridge: float = 1e-6
    seed: int = 0


# A first look in seconds: the same models, far fewer steps and units.
QUICK = ForecastConfig(mlp_hidden=(16,), hidden_size=16, steps=100, reservoir_size=50, eval_batch_size=64)


def fit_esn_to_windows(esn: ESN, task: Forecast) -> ESN:
    """Fit an ESN's readout in closed form to the next value after each window of the train part.

    The reservoir is driven over each window from the zero state, and the readout is the ridge
    regression of the next value on the state after the window's last value: the ESN then sees
    exactly what the other models see, the last ``window`` values, through a fixed random
    nonlinear expansion. (Driving the reservoir once over the whole series would let its state
    remember values older than the window: a different, better-informed forecaster.)

    Args:
        esn: the echo state network, input and output size 1, readout "last".
        task: the forecast task; every window of its split is a training example.

    Returns:
        ``esn``, its readout fitted.
    """
    windows = task.windows()
    return esn.fit_readout(windows.inputs, windows.targets, washout=task.window - 1)


class ForecastStudy(Study):
    """Window-5 next-step prediction on Mackey-Glass and a synthetic price, four models against persistence.

    One run per series and model: an MLP on the flattened window, an Elman RNN and an LSTM fed the
    window step by step (readout at the last step), all trained by Adam on windows of the train part;
    and an echo state network whose readout is fitted in closed form (see
    :func:`fit_esn_to_windows`). The members of each ensemble are seeds. Each member predicts every
    window of the test part; a run keeps the predictions, the truth and the persistence forecast,
    and reports the test MSE, the NRMSE (RMSE over the test targets' standard deviation) and the
    ratio of the MSE to persistence's, below 1 where the model beats it.
    """

    name = "forecast"
    config_class = ForecastConfig
    quick_config = QUICK
    title = "Forecasting from a window of five values: MLP, RNN, LSTM and ESN against persistence"
    description = ("Next-step prediction from the last 5 values on Mackey-Glass (chaotic) and a synthetic price "
                   "(geometric random walk with a small seasonal term): an MLP, an Elman RNN, an LSTM (Adam) and an "
                   "echo state network (ridge readout), seeds as ensemble members, scored on the held-out last 20% "
                   "of each series against the persistence forecast (repeat the last value).")

    summary_columns = (("test MSE", "test/mse", ".3g"), ("min", "test/mse_min", ".3g"), ("max", "test/mse_max", ".3g"),
                       ("NRMSE", "nrmse", ".3f"), ("persistence MSE", "persistence_mse", ".3g"),
                       ("MSE / persistence", "vs_persistence", ".3g"), ("beat it", "beats_persistence", "d"),
                       ("of", "seeds", "d"), ("train part: MSE / persistence", "train_vs_persistence", ".3g"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        unknown = [model for model in config.models if model not in FORECAST_MODELS]
        if unknown:
            raise ValueError(f"Unknown model(s) {unknown} in the forecast study. "
                             f"Available: {', '.join(FORECAST_MODELS)}.")
        unknown = [series for series in config.series if series not in FORECAST_SERIES]
        if unknown:
            raise ValueError(f"Unknown series {unknown} in the forecast study. "
                             f"Available: {', '.join(FORECAST_SERIES)}.")
        return [RunSpec(f"{series}-{model}", 1 if model == "esn" else config.steps,
                        _executor(config, series, model, seeds))
                for series in config.series for model in config.models]


def _make_model(model: str, config: ForecastConfig, seeds: int) -> MLP | ElmanRNN | LSTM | ESN:
    options = {"num_models": seeds, "seed": config.seed}
    if model == "mlp":
        return MLP(config.window, config.mlp_hidden, 1, activation=config.activation, **options)
    if model == "elman":
        return ElmanRNN(1, config.hidden_size, 1, activation=config.activation, readout="last", **options)
    if model == "lstm":
        return LSTM(1, config.hidden_size, 1, readout="last", **options)
    return ESN(1, config.reservoir_size, 1, spectral_radius=config.esn_spectral_radius,
               leak_rate=config.esn_leak_rate, input_scaling=config.esn_input_scaling, ridge=config.esn_ridge,
               readout="last", **options)


def _executor(config: ForecastConfig, series: str, model_name: str,
              seeds: int) -> Callable[[StepCallback | None], Outcome]:
    def execute(callback: StepCallback | None) -> Outcome:
        options = {"window": config.window, "length": config.length, "train_fraction": config.train_fraction,
                   "seed": config.series_seed}
        train, test = Forecast(series, split="train", **options), Forecast(series, split="test", **options)
        model = _make_model(model_name, config, seeds)
        run_config = {**config.model_dump(), "series_name": series, "model": model_name,
                      "label": FORECAST_MODELS[model_name], "task": train.describe(), "seeds": seeds,
                      "model_repr": model.extra_repr()}
        if model_name == "esn":
            fit_esn_to_windows(model, train)
            batch = train.windows()
            with torch.no_grad():
                train_loss = train.score(model(batch.inputs).outputs, batch)["task/loss"].double().numpy()
            if callback is not None:
                callback(0, {"train/loss": torch.as_tensor(train_loss)})
            arrays = {"eval/step": np.zeros(1, dtype=np.int64), "task/loss": train_loss[None]}
        else:
            try:
                run = fit(model, train, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                          seed=config.seed, eval_batch_size=config.eval_batch_size, callback=callback)
            except RunInterrupted as error:
                raise RunInterrupted(str(error), partial=Outcome(_training_arrays(error.partial), run_config, {},
                                                                 "interrupted")) from None
            arrays = _training_arrays(run)
            model.eval()
        measured, summary = _evaluate(model, train, test)
        arrays.update(measured)
        summary = {"series": series, "model": model_name, "label": FORECAST_MODELS[model_name], "seeds": seeds,
                   **summary}
        return Outcome(arrays, run_config, summary)

    return execute


def _training_arrays(run: Run) -> dict[str, np.ndarray]:
    return {"eval/step": run.history["eval/step"], "task/loss": run.history["task/loss"],
            "diverged_at": run.diverged_at}


def _evaluate(model, train: Forecast, test: Forecast) -> tuple[dict[str, np.ndarray], dict]:
    """Predict every test window with every member; score against the truth and against persistence."""
    batch = test.windows()
    with torch.no_grad():
        prediction = model(batch.inputs).outputs[..., 0].double()  # (K, N)
    truth = batch.targets[:, -1, 0].double()
    persistence = batch.inputs[:, -1, 0].double()
    mse = (prediction - truth).square().mean(-1).numpy()
    scores = nrmse(prediction[..., None], truth[:, None]).numpy()
    persistence_mse = test.baseline_loss
    seen_windows = train.windows()
    with torch.no_grad():
        fitted = model(seen_windows.inputs).outputs[..., 0].double()
    # In-sample error over every train window: whether the model beats persistence where it has data.
    train_mse = (fitted - seen_windows.targets[:, -1, 0].double()).square().mean(-1).numpy()
    persistence_nrmse = float(nrmse(persistence[:, None], truth[:, None]))
    first = round(test.train_fraction * test.length)  # the test part starts here (Forecast's split)
    seen = train.series_values()[:first]
    # A model of the level has to extrapolate for these targets; persistence does not.
    outside = float(((truth < seen.min()) | (truth > seen.max())).double().mean())
    arrays = {
        "test/position": np.arange(first, first + len(truth)), "test/truth": truth.numpy(),
        "test/persistence": persistence.numpy(), "test/prediction": prediction.float().numpy(),
        "test/mse": mse, "test/nrmse": scores, "train/mse": train_mse,
    }
    finite = np.where(np.isfinite(mse), mse, np.inf)
    summary = {
        "test/mse": float(np.median(finite)), "test/mse_min": float(np.min(finite)),
        "test/mse_max": float(np.max(finite)), "nrmse": float(np.median(scores)),
        "persistence_mse": persistence_mse, "persistence_nrmse": persistence_nrmse,
        "vs_persistence": float(np.median(finite)) / persistence_mse,
        "beats_persistence": int((finite < persistence_mse).sum()),
        "train/mse": float(np.median(train_mse)), "train_persistence_mse": train.baseline_loss,
        "train_vs_persistence": float(np.median(train_mse)) / train.baseline_loss,
        "test_points": len(truth), "outside_train_range": outside,
        "train_min": float(seen.min()), "train_max": float(seen.max()),
        "median_member": int(np.argsort(finite, kind="stable")[(len(finite) - 1) // 2]),
    }
    return arrays, summary
