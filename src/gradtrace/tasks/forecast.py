"""Next-step forecasting from a window of past values, on a train/test split of one fixed series."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_choice, check_int, check_real, check_seed, describe
from gradtrace.tasks.base import Batch, Task, aligned
from gradtrace.tasks.mackey_glass import mackey_glass

__all__ = ["FORECAST_SERIES", "FORECAST_SPLITS", "Forecast", "price_series"]

#: The series :class:`Forecast` can be built on.
FORECAST_SERIES: tuple[str, ...] = ("mackey_glass", "price")
#: The parts of the series a :class:`Forecast` draws its targets from.
FORECAST_SPLITS: tuple[str, ...] = ("train", "test")


def price_series(length: int, *, drift: float = 2e-4, volatility: float = 0.01, amplitude: float = 0.05,
                 period: float = 50.0, initial: float = 100.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Simulate a synthetic price: geometric Brownian motion times a slow seasonal factor.

    log S_t = log S₀ + (μ − σ²/2) t + σ W_t + A sin(2π t / P), with W_t = ε₁ + … + ε_t a random walk
    of independent ε ~ N(0, 1) (W₀ = 0). Without the seasonal term this is the exact solution of
    dS = μ S dt + σ S dW sampled at unit steps; its increments are unpredictable, so the seasonal
    term gives a forecaster something to learn beyond repeating the last price (with the defaults
    its swing per step, about A·2π/P ≈ 0.006 in log-price, is comparable to the noise σ = 0.01).
    The defaults read as daily prices: 2·10⁻⁴ drift (5 % a year of 252 days), 1 % daily volatility.

    Args:
        length: number of time steps returned, ≥ 1.
        drift: μ, the expected log-return per step (before the Itô correction −σ²/2).
        volatility: σ ≥ 0, the standard deviation of the log-return noise per step.
        amplitude: A ≥ 0, the amplitude of the seasonal term in log-price.
        period: P > 0, the seasonal period in steps.
        initial: S₀ > 0, the price at t = 0.
        seed: seeds the noise ε (the same seed gives the same series).
        dtype: floating dtype of the result (the simulation runs in float64).

    Returns:
        (length,) tensor S₀, S₁, …, S_{length−1}, all positive.

    Raises:
        ValueError: for an argument out of range.
        TypeError: for an argument of the wrong type.

    Example:
        >>> price = price_series(250, seed=1)
        >>> price.shape, float(price[0]), bool((price > 0).all())
        (torch.Size([250]), 100.0, True)

    References:
        Black & Scholes 1973, "The pricing of options and corporate liabilities", Journal of
        Political Economy 81 (the log-normal price model).
    """
    length = check_int("length", length, minimum=1, maximum=100_000_000)
    drift = check_real("drift", drift)
    volatility = check_real("volatility", volatility, minimum=0.0)
    amplitude = check_real("amplitude", amplitude, minimum=0.0)
    period = check_real("period", period, minimum=0.0, exclusive_minimum=True)
    initial = check_real("initial", initial, minimum=0.0, exclusive_minimum=True)
    seed = check_seed(seed)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"`dtype` must be a floating torch.dtype, got {describe(dtype)}.")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(length - 1, generator=generator, dtype=torch.float64)
    walk = torch.cat([torch.zeros(1, dtype=torch.float64), noise.cumsum(0)])
    t = torch.arange(length, dtype=torch.float64)
    log_return = ((drift - 0.5 * volatility**2) * t + volatility * walk
                  + amplitude * torch.sin(2 * math.pi * t / period))  # log(S_t / S₀), 0 at t = 0
    return (initial * log_return.exp()).to(dtype)


def _split_point(length: int, train_fraction: float) -> int:
    """Return how many leading points of the series are the train part."""
    return round(train_fraction * length)


@functools.lru_cache(maxsize=16)
def _standardized(series: str, length: int, train_fraction: float, seed: int) -> torch.Tensor:
    """Build the raw series once and standardize it with the train part's mean and std (float64)."""
    if series == "price":
        raw = price_series(length, seed=seed)
    else:
        raw = mackey_glass(length, seed=seed)
    train = raw[: _split_point(length, train_fraction)]
    return (raw - train.mean()) / train.std(correction=0)


@dataclass(frozen=True)
class Forecast(Task):
    """Predict the next value of a series from a window of its last ``window`` values.

    One series of ``length`` points is built once per parameter set (cached) and standardized to
    zero mean and unit standard deviation with the statistics of its train part, the first
    round(train_fraction · length) points; the test part is the rest, so test values may leave the
    range seen in training (a drifting price does). A target x_j lies in the chosen split; its window
    x_{j−window}, …, x_{j−1} may reach back into the train part for a test target, as a forecaster
    sees the past. ``sample`` draws target positions uniformly in the split; :meth:`windows` gives
    every one in order.

    Layout: inputs (B, window, 1) the window; targets (B, window, 1) zero except the last step, which
    holds x_j; mask (B, window) true only at the last step. A recurrent model with readout="last"
    and an MLP with input_size = window (it flattens the window) both fit it. The loss is MSE. The
    baseline is the persistence forecast x̂_j = x_{j−1}, which needs no model: its loss is the mean
    of (x_j − x_{j−1})² over the split's targets, computed exactly. A window counts correct when
    |ŷ − x_j| ≤ ``TOLERANCE`` = 0.1, in standardized units (a tenth of the train part's standard
    deviation).

    Series:
        ``"mackey_glass"``: :func:`~gradtrace.tasks.mackey_glass.mackey_glass` with τ = 17 (chaotic),
            the ``seed`` perturbing its initial history.
        ``"price"``: :func:`price_series` with its defaults and the given ``seed``.

    Args:
        series: one of ``FORECAST_SERIES``.
        window: number of past values the forecast sees, ≥ 1 and less than the number of points
            of each part of the split.
        length: number of points of the series.
        split: "train" or "test", the part the targets come from.
        train_fraction: the fraction of the series, in (0, 1), that is the train part.
        seed: which series: seeds its randomness (see Series).

    Raises:
        ValueError: for an unknown series or split, or an argument out of range.
        TypeError: for an argument of the wrong type.

    Example:
        >>> task = Forecast("price", window=4, length=200)
        >>> batch = task.sample(3, seed=0)
        >>> tuple(batch.inputs.shape), batch.mask[0].tolist()
        ((3, 4, 1), [False, False, False, True])
        >>> x = task.series_values()
        >>> abs(float(x[:160].mean())) < 1e-9, round(float(x[:160].std(correction=0)), 6)
        (True, 1.0)

    References:
        Mackey & Glass 1977, "Oscillation and chaos in physiological control systems", Science 197.
    """

    series: str = "mackey_glass"
    window: int = 5
    length: int = 2000
    split: str = "train"
    train_fraction: float = 0.8
    seed: int = 0

    name: ClassVar[str] = "forecast"
    loss_kind: ClassVar[str] = "mse"
    #: A forecast counts correct within this absolute error, in standardized units.
    TOLERANCE: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        check_choice("series", self.series, FORECAST_SERIES, what="series")
        check_choice("split", self.split, FORECAST_SPLITS, what="split")
        check_int("length", self.length, minimum=4, maximum=10_000_000)
        check_int("window", self.window, minimum=1)
        fraction = check_real("train_fraction", self.train_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"`train_fraction` must lie in (0, 1), got {fraction}.")
        check_seed(self.seed)
        train = _split_point(self.length, fraction)
        test = self.length - train
        if self.window >= min(train, test):
            raise ValueError(
                f"`window`={self.window} must be less than the number of points in each part of the "
                f"split, here train {train} and test {test} (length={self.length}, "
                f"train_fraction={fraction}); use a window below {min(train, test)}."
            )

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return self.window

    def series_values(self) -> torch.Tensor:
        """Return the whole standardized series (length,) in float64; shared, do not modify."""
        return _standardized(self.series, self.length, float(self.train_fraction), self.seed)

    def _targets_range(self) -> tuple[int, int]:
        """Return [first, stop) of the positions j whose value x_j is a target of this split."""
        train = _split_point(self.length, self.train_fraction)
        return (self.window, train) if self.split == "train" else (train, self.length)

    @property
    def baseline_loss(self) -> float:
        x = self.series_values()
        first, stop = self._targets_range()
        return float((x[first:stop] - x[first - 1 : stop - 1]).square().mean())

    def windows(self) -> Batch:
        """Return every window of the split as one batch, targets in order of their position.

        Returns:
            A :class:`Batch` with inputs (N, window, 1), N the number of targets in the split.
        """
        return self._batch(torch.arange(*self._targets_range()))

    def _batch(self, positions: torch.Tensor) -> Batch:
        x = self.series_values().to(torch.get_default_dtype())
        window = x[positions[:, None] + torch.arange(-self.window, 0)]  # (B, window)
        targets = torch.zeros(positions.shape[0], self.window, 1)
        targets[:, -1, 0] = x[positions]
        mask = torch.zeros(positions.shape[0], self.window, dtype=torch.bool)
        mask[:, -1] = True
        return Batch(window.unsqueeze(-1), targets, mask, loss=self.loss_kind)

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        first, stop = self._targets_range()
        return self._batch(torch.randint(first, stop, (batch_size,), generator=generator))

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return (out[..., -1, 0] - targets[..., -1, 0]).abs() <= self.TOLERANCE
