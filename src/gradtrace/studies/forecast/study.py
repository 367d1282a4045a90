"""Next-step forecasting from a window of the last five values: MLP, Elman RNN, LSTM and ESN against persistence.

Every model sees the same thing, the window x_{j−5}, …, x_{j−1}, measured from its last value, and
predicts the change x_j − x_{j−1} (see :class:`~gradtrace.studies.forecast.change.ChangeForecast`); each is
scored on the test part of the series (the last 20 %, never trained on) against the persistence
forecast x̂_j = x_{j−1}, the change 0, which needs no model. On the chaotic Mackey-Glass series the window
determines the next value almost exactly. On the synthetic price (a geometric random walk with a small
seasonal term) the increments are almost unpredictable: only the seasonal term can be forecast, and the
forecaster that knows it exactly (:func:`~gradtrace.studies.forecast.change.seasonal_oracle`) shows how
little that is worth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import ESN, LSTM, MLP, ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, run_arrays
from gradtrace.studies.claims import Claim
from gradtrace.studies.forecast.change import ChangeForecast, seasonal_oracle
from gradtrace.studies.forecast.claims import forecast_claims
from gradtrace.studies.forecast.config import MODELS, QUICK, SERIES, ForecastConfig, Key, run_name
from gradtrace.tasks import Forecast
from gradtrace.train import Run, fit

__all__ = ["ForecastStudy", "fit_esn_to_windows"]


def fit_esn_to_windows(esn: ESN, task: Forecast | ChangeForecast) -> ESN:
    """Fit an ESN's readout in closed form to the target after each window of a forecast task's split.

    The reservoir is driven over each window from the zero state, and the readout is the ridge
    regression of the target on the state after the window's last value: the ESN then sees exactly
    what the other models see, the last ``window`` values, through a fixed random nonlinear
    expansion. (Driving the reservoir once over the whole series would let its state remember values
    older than the window: a different, better-informed forecaster.)

    Args:
        esn: the echo state network, input and output size 1, readout "last".
        task: the forecast task; every window of its split is a training example.

    Returns:
        ``esn``, its readout fitted.
    """
    windows = task.windows()
    return esn.fit_readout(windows.inputs, windows.targets, washout=task.max_length - 1)


class ForecastStudy(Study):
    """Window-5 next-step prediction on Mackey-Glass and a synthetic price, four models against persistence.

    One run per series and model: an MLP on the flattened window, an Elman RNN and an LSTM fed the window
    step by step (readout at the last step), all trained by Adam on windows of the train part; and an echo
    state network whose readout is fitted in closed form (see :func:`fit_esn_to_windows`). The members of each
    ensemble are seeds; the series derive from the config's seed. Each member forecasts every window of the
    test part; a run keeps the forecasts, the truth and persistence's, and the RMSE of each against
    persistence's.
    """

    name = "forecast"
    config_class = ForecastConfig
    quick_config = QUICK
    title = "Forecasting the next value from the last five: MLP, RNN, LSTM and ESN against persistence"
    description = ("Next-step forecasts from the last 5 values of Mackey-Glass (chaotic) and of a synthetic price "
                   "(a geometric random walk with a small seasonal term): an MLP, an Elman RNN, an LSTM (Adam) and an "
                   "echo state network (ridge readout), each predicting the change from the last value, scored on the "
                   "held-out last 20% of each series against persistence (repeat the last value).")
    text = {
        "title": {"en": title, "pt": "Prever o próximo valor a partir dos cinco últimos: MLP, RNN, LSTM e ESN contra a "
                                     "persistência"},
        "question": {
            "en": "Can a network that sees the last five values forecast the next one better than simply repeating "
                  "the last value, on a chaotic series and on a price?",
            "pt": "Uma rede que vê os cinco últimos valores consegue prever o próximo melhor do que simplesmente "
                  "repetir o último valor, numa série caótica e num preço?",
        },
        "description": {
            "en": description,
            "pt": "Previsões de um passo a partir dos 5 últimos valores de Mackey-Glass (caótica) e de um preço "
                  "sintético (um passeio aleatório geométrico com um pequeno termo sazonal): uma MLP, uma RNN de "
                  "Elman, uma LSTM (Adam) e uma rede de estado de eco (leitura ridge), cada uma prevendo a variação "
                  "em relação ao último valor, avaliadas nos últimos 20% de cada série, nunca vistos no treino, "
                  "contra a persistência (repetir o último valor).",
        },
    }

    summary_columns = (("test RMSE", Key.RMSE, ".3g"), ("persistence RMSE", Key.PERSISTENCE_RMSE, ".3g"),
                       ("RMSE / persistence", Key.RATIO, ".3f"), ("min", Key.RATIO_MIN, ".3f"),
                       ("max", Key.RATIO_MAX, ".3f"), ("beat it", Key.BEATS, "d"), ("of", Key.SEEDS, "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(run_name(series, model), 1 if model == "esn" else config.steps,
                        _executor(config, series, model, seeds))
                for series in SERIES if series in config.series for model in MODELS if model in config.models]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Against persistence, on each series: see :mod:`gradtrace.studies.forecast.claims`."""
        return forecast_claims(self.resolve(quick))


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


def _tasks(config: ForecastConfig, series: str) -> tuple[ChangeForecast, ChangeForecast]:
    options = {"window": config.window, "length": config.length, "train_fraction": config.train_fraction,
               "seed": config.seed}
    return (ChangeForecast(Forecast(series, split="train", **options)),
            ChangeForecast(Forecast(series, split="test", **options)))


def _executor(config: ForecastConfig, series: str, model_name: str,
              seeds: int) -> Callable[[StepCallback | None], Outcome]:
    def execute(callback: StepCallback | None) -> Outcome:
        train, test = _tasks(config, series)
        model = _make_model(model_name, config, seeds)
        run_config = {**config.model_dump(), Key.SERIES: series, Key.MODEL: model_name, Key.SEEDS: seeds,
                      "task": train.describe(), "model_repr": model.extra_repr()}
        if model_name == "esn":
            fit_esn_to_windows(model, train)
            batch = train.windows()
            with torch.no_grad():
                train_loss = train.score(model(batch.inputs).outputs, batch)["task/loss"].double().numpy()
            if callback is not None:
                callback(0, {"train/loss": torch.as_tensor(train_loss)})
            arrays = {Key.TRAINING_STEP: np.zeros(1, dtype=np.int64), Key.TRAINING_LOSS: train_loss[None]}
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
        return Outcome(arrays, run_config, {Key.SERIES: series, Key.MODEL: model_name, Key.SEEDS: seeds, **summary})

    return execute


def _training_arrays(run: Run) -> dict[str, np.ndarray]:
    return run_arrays(run, renamed={"eval/step": Key.TRAINING_STEP, "task/loss": Key.TRAINING_LOSS})


def _rmse(forecast: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    """Root-mean-square error over the last axis (the targets), float64 NumPy."""
    return (forecast - truth).square().mean(-1).sqrt().numpy()


def _forecasts(model, task: ChangeForecast) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return every member's forecast of each target of ``task``'s split (K, N), the truth (N,) and persistence (N,)."""
    changes, levels = task.windows(), task.levels.windows()
    with torch.no_grad():
        change = model(changes.inputs).outputs[..., 0].double()       # (K, N)
    last = levels.inputs[:, -1, 0].double()
    return last + change, levels.targets[:, -1, 0].double(), last


def _evaluate(model, train: ChangeForecast, test: ChangeForecast) -> tuple[dict[str, np.ndarray], dict]:
    """Forecast every test window with every member; score against the truth and against persistence."""
    forecast, truth, persistence = _forecasts(model, test)
    rmse = _rmse(forecast, truth)
    persistence_rmse = float(_rmse(persistence, truth))
    fitted, seen_truth, seen_persistence = _forecasts(model, train)
    # In-sample error over every train window: whether the model beats persistence where it has data.
    train_ratio = _rmse(fitted, seen_truth) / float(_rmse(seen_persistence, seen_truth))
    ratio = np.where(np.isfinite(rmse), rmse, np.inf) / persistence_rmse
    first = round(test.levels.train_fraction * test.levels.length)  # the test part starts here (Forecast's split)
    arrays = {
        Key.TEST_POSITION: np.arange(first, first + len(truth)), Key.TEST_TRUTH: truth.numpy(),
        Key.TEST_PERSISTENCE: persistence.numpy(), Key.TEST_PREDICTION: forecast.float().numpy(),
        Key.TEST_RMSE: rmse, Key.TRAIN_RMSE: _rmse(fitted, seen_truth),
    }
    median = float(np.median(ratio))
    summary = {
        Key.RMSE: float(np.median(rmse)), Key.PERSISTENCE_RMSE: persistence_rmse,
        Key.RATIO: median, Key.RATIO_MIN: float(ratio.min()), Key.RATIO_MAX: float(ratio.max()),
        Key.BEATS: int((ratio < 1).sum()), Key.TRAIN_RATIO: float(np.median(train_ratio)),
        Key.MEDIAN_MEMBER: int(np.argsort(ratio, kind="stable")[(len(ratio) - 1) // 2]),
        "test_points": len(truth),
    }
    if test.levels.series == "price":
        summary[Key.ORACLE_RATIO] = float(_rmse(seasonal_oracle(test.levels), truth)) / persistence_rmse
    return arrays, summary
