"""Forecasting the change from the last value: the task every model of the study trains on, and the price's oracle."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import GradtraceError, describe
from gradtrace.tasks import Batch, Forecast, Task, price_series

__all__ = ["ChangeForecast", "seasonal_oracle"]


def _relative(batch: Batch) -> Batch:
    """Return ``batch`` with every window and its target measured from the window's last value."""
    last = batch.inputs[:, -1:, :]                       # (B, 1, 1)
    targets = batch.targets.clone()
    targets[:, -1, :] -= last[:, 0, :]                   # only the last step is scored
    return Batch(batch.inputs - last, targets, batch.mask, loss=batch.loss)


@dataclass(frozen=True)
class ChangeForecast(Task):
    """Predict x_j − x_{j−1} from the window x_{j−w} − x_{j−1}, …, x_{j−1} − x_{j−1} of a :class:`Forecast`.

    The same windows and targets as ``levels``, each measured from the window's last value: a model of
    the change never sees where the level is, so a series that drifts beyond the range of its train
    part (a price) asks for no extrapolation. Predicting a change Δ is forecasting x_{j−1} + Δ, with the
    same error: the MSE here is the MSE of the level forecast, and persistence is the forecast Δ = 0,
    whose loss is the baseline, as in ``levels``.

    Args:
        levels: the forecast task on the values themselves.

    Raises:
        TypeError: if ``levels`` is not a :class:`~gradtrace.tasks.Forecast`.

    Example:
        >>> task = ChangeForecast(Forecast("price", window=4, length=200))
        >>> batch = task.sample(3, seed=0)
        >>> batch.inputs[:, -1, 0].tolist(), task.baseline_loss == task.levels.baseline_loss
        ([0.0, 0.0, 0.0], True)
    """

    levels: Forecast

    name: ClassVar[str] = "forecast_change"
    loss_kind: ClassVar[str] = "mse"

    def __post_init__(self) -> None:
        if not isinstance(self.levels, Forecast):
            raise TypeError(f"`levels` must be a Forecast, got {describe(self.levels)}.")

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return self.levels.max_length

    @property
    def baseline_loss(self) -> float:
        return self.levels.baseline_loss

    def windows(self) -> Batch:
        """Return every window of the split as one batch, in order of the targets' positions (see Forecast)."""
        return _relative(self.levels.windows())

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        return _relative(self.levels.sample(batch_size, generator=generator))

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        # The change's error is the level's error: the same tolerance applies.
        return self.levels.correct(outputs, batch)

    def describe(self) -> str:
        """Return a one-line description, e.g. ``forecast_change(series='price', window=5, ...)``."""
        return f"{self.name}{self.levels.describe()[len(self.levels.name):]}"


def seasonal_oracle(task: Forecast) -> torch.Tensor:
    """Return, for every target of a price task's split, the forecast of one who knows how the price is made.

    The price is S_j = S_{j−1} · exp(μ − σ²/2 + σ ε_j + A (sin(2πj/P) − sin(2π(j−1)/P))) with ε_j unpredictable
    (see :func:`~gradtrace.tasks.price_series`); the mean of S_j given the past is S_{j−1} · exp(μ + A (sin(2πj/P)
    − sin(2π(j−1)/P))). No forecaster of x_j from the past can beat this one's expected squared error: what it
    leaves is the noise σ ε_j that nothing predicts.

    Args:
        task: a forecast task on the ``"price"`` series.

    Returns:
        (N,) float64 forecasts in the task's standardized units, in the order of ``task.windows()``.

    Raises:
        ValueError: if ``task`` is not on the price series.
        GradtraceError: if the price this function rebuilds is not the task's series (``price_series``'s
            defaults or ``Forecast``'s standardization changed without this function).
    """
    if task.series != "price":
        raise ValueError(f"`task` must forecast the 'price' series, got {task.series!r}.")
    defaults = {name: parameter.default for name, parameter in inspect.signature(price_series).parameters.items()}
    raw = price_series(task.length, seed=task.seed)
    split = round(task.train_fraction * task.length)  # Forecast's split: the train part is the first `split` points
    first, stop = (split, task.length) if task.split == "test" else (task.window, split)
    mean, std = raw[:split].mean(), raw[:split].std(correction=0)
    if not torch.allclose((raw - mean) / std, task.series_values(), rtol=0.0, atol=1e-9):
        raise GradtraceError("The price rebuilt for the seasonal oracle differs from the task's series: "
                             "price_series or Forecast changed; update seasonal_oracle with them.")
    j = torch.arange(first, stop, dtype=torch.float64)
    phase = 2 * math.pi / defaults["period"]
    seasonal_step = defaults["amplitude"] * (torch.sin(phase * j) - torch.sin(phase * (j - 1)))
    forecast = raw[first - 1 : stop - 1] * torch.exp(defaults["drift"] + seasonal_step)
    return (forecast - mean) / std
