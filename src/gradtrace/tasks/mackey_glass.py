"""The Mackey-Glass series: a chaotic delay system, and one-step-ahead prediction of it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_int, check_real, check_seed, describe
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["MackeyGlass", "mackey_glass", "nrmse"]

#: Half-width of the uniform perturbation a seed adds to each point of the initial history.
HISTORY_NOISE = 0.1
# A tolerance for "is this ratio an integer", far above float rounding and far below any step.
_INTEGER_TOLERANCE = 1e-9


def _steps_in(name: str, span: float, dt: float) -> int:
    """Return span / dt as an integer, or raise naming ``name`` when it is not a whole number."""
    ratio = span / dt
    steps = round(ratio)
    if steps < 1 or abs(ratio - steps) > _INTEGER_TOLERANCE * max(1.0, ratio):
        raise ValueError(f"`{name}`={span} must be a whole number of integration steps dt={dt}, "
                         f"got {ratio:.6g} steps.")
    return steps


def mackey_glass(length: int, *, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, n: float = 10.0,
                 dt: float = 0.1, x0: float = 1.2, discard: int = 500, seed: int | None = None,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Integrate the Mackey-Glass delay equation and sample it at unit time steps.

    dx/dt = β x(t−τ) / (1 + x(t−τ)ⁿ) − γ x(t). With the defaults (τ = 17) the series is chaotic.

    The integrator is the classic fourth-order Runge-Kutta method with step ``dt`` on a grid where
    τ is a whole number of steps, so the delayed value at the start and end of a step is a grid
    point already computed; at the half step it is interpolated with the four-point midpoint rule
    (−x₋₁ + 9x₀ + 9x₁ − x₂)/16, which keeps the scheme fourth order. Every 1/dt-th grid point is
    kept, which samples the solution at unit time steps as Jaeger (2001) does. The history on
    [−τ, 0] is the constant ``x0``; with a ``seed`` each of its grid points gets an independent
    perturbation drawn from U(−0.1, 0.1), which is the only randomness. The first ``discard`` time
    units (the transient onto the attractor) are dropped. The result is deterministic: the same
    arguments give the same series.

    Args:
        length: number of unit time steps returned, ≥ 1.
        tau: the delay τ > 0, a whole number of steps ``dt``.
        beta: production rate β > 0.
        gamma: decay rate γ > 0.
        n: the exponent n > 0.
        dt: integration step in (0, 1]; 1/dt must be a whole number.
        x0: the value of the initial history.
        discard: time units integrated and dropped before the first returned value, ≥ 0.
        seed: seeds the perturbation of the initial history; None keeps it constant.
        dtype: floating dtype of the result (the integration itself runs in float64).

    Returns:
        (length,) tensor: x(discard), x(discard + 1), ….

    Raises:
        ValueError: for an argument out of range, or τ or 1 that is not a whole number of steps.
        TypeError: for an argument of the wrong type.

    Example:
        >>> x = mackey_glass(300)
        >>> x.shape, bool(x.min() > 0.2), bool(x.max() < 1.5)
        (torch.Size([300]), True, True)

    References:
        Mackey & Glass 1977, "Oscillation and chaos in physiological control systems", Science 197.
        Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural
        networks", GMD Report 148 (section on the Mackey-Glass attractor).
    """
    length = check_int("length", length, minimum=1)
    tau = check_real("tau", tau, minimum=0.0, exclusive_minimum=True)
    beta = check_real("beta", beta, minimum=0.0, exclusive_minimum=True)
    gamma = check_real("gamma", gamma, minimum=0.0, exclusive_minimum=True)
    n = check_real("n", n, minimum=0.0, exclusive_minimum=True)
    dt = check_real("dt", dt, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    x0 = check_real("x0", x0)
    discard = check_int("discard", discard, minimum=0)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"`dtype` must be a floating torch.dtype, got {describe(dtype)}.")
    per_unit = _steps_in("1 (the sampling interval)", 1.0, dt)
    delay = _steps_in("tau", tau, dt)
    history = [x0] * (delay + 1)  # grid points t = −τ, …, 0
    if seed is not None:
        generator = torch.Generator().manual_seed(check_seed(seed))
        noise = (torch.rand(delay + 1, generator=generator, dtype=torch.float64) * 2 - 1) * HISTORY_NOISE
        history = [x0 + float(e) for e in noise]
    values = _integrate(history, delay, (discard + length - 1) * per_unit, dt, beta, gamma, n)
    kept = values[delay + discard * per_unit :: per_unit]
    return torch.tensor(kept[:length], dtype=torch.float64).to(dtype)


def _integrate(history: list[float], delay: int, steps: int, dt: float, beta: float, gamma: float,
               n: float) -> list[float]:
    """Advance the grid ``steps`` RK4 steps past ``history``; return history and solution together.

    Plain Python floats: each step is a handful of scalar operations, which tensors would only slow.
    """
    xs = list(history)

    def production(x: float) -> float:
        return beta * x / (1.0 + abs(x) ** n)

    half = 0.5 * dt
    last = len(xs) - 1
    for i in range(last, last + steps):
        # Grid indices of the delayed values, clamped into the known grid: the clamp only acts on
        # the first steps, where the history itself is not smooth anyway.
        j = i - delay
        before, now, after, next_after = (xs[max(j - 1, 0)], xs[j], xs[min(j + 1, i)], xs[min(j + 2, i)])
        g_now, g_after = production(now), production(after)
        g_half = production((9.0 * (now + after) - before - next_after) / 16.0)
        x = xs[i]
        k1 = g_now - gamma * x
        k2 = g_half - gamma * (x + half * k1)
        k3 = g_half - gamma * (x + half * k2)
        k4 = g_after - gamma * (x + dt * k3)
        xs.append(x + dt / 6.0 * (k1 + 2.0 * (k2 + k3) + k4))
    return xs


def nrmse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the root-mean-square error divided by the target's standard deviation.

    Both are reduced over their last two axes (time, outputs); leading axes (members, sequences)
    are kept, and ``target`` broadcasts against ``prediction``. 0 is a perfect prediction, 1 is as
    good as predicting the target's mean.

    Args:
        prediction: (..., T, O).
        target: (..., T, O), broadcastable to ``prediction``.

    Returns:
        (...) the normalized root-mean-square error, in ``prediction``'s dtype.

    Raises:
        ValueError: when the shapes do not broadcast or have fewer than two axes.

    Example:
        >>> y = torch.tensor([[0.0], [2.0]])
        >>> float(nrmse(y + 0.5, y))
        0.5
    """
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, torch.Tensor) or value.dim() < 2:
            raise ValueError(f"`{name}` must be a tensor of shape (..., T, O), got {describe(value)}.")
    try:
        shape = torch.broadcast_shapes(prediction.shape, target.shape)
    except RuntimeError:
        raise ValueError(f"`prediction` {tuple(prediction.shape)} and `target` {tuple(target.shape)} "
                         "do not broadcast.") from None
    target = target.to(prediction.dtype).expand(shape)
    error = (prediction - target).square().mean((-2, -1)).sqrt()
    return error / target.std((-2, -1), correction=0)


@functools.lru_cache(maxsize=8)
def _series(tau: float, series_length: int) -> torch.Tensor:
    return mackey_glass(series_length, tau=tau)


@dataclass(frozen=True)
class MackeyGlass(Task):
    """Predict the Mackey-Glass series one step ahead, at every step.

    One long series of ``series_length`` unit time steps is integrated once (see
    :func:`mackey_glass`); a batch is windows of it at random offsets. Inputs (B, T, 1) are
    x_t, …, x_{t+T−1}, targets (B, T, 1) the same window one step later, and every step is scored
    by MSE. The baseline is the persistence forecast x̂_{t+1} = x_t, which needs no memory: its MSE
    is mean (x_{t+1} − x_t)² over the series (about 1.1·10⁻³ for τ = 17). A sequence counts correct
    when its normalized root-mean-square error (:func:`nrmse`, RMSE over the window divided by the
    series' standard deviation) is below ``NRMSE_THRESHOLD`` = 0.05 (our choice, a third of the
    persistence forecast's 0.15 for τ = 17).

    Args:
        length: window length T ≥ 1.
        tau: the delay τ of the equation (17 gives the classic chaotic series; 30 is harder).
        series_length: length of the pre-computed series the windows are cut from, > T.

    Example:
        >>> batch = MackeyGlass(50).sample(4, seed=0)
        >>> tuple(batch.inputs.shape), bool(torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1]))
        ((4, 50, 1), True)

    References:
        Mackey & Glass 1977; Jaeger & Haas 2004, "Harnessing nonlinearity: predicting chaotic
        systems and saving energy in wireless communication", Science 304.
    """

    length: int
    tau: float = 17.0
    series_length: int = 10_000

    name: ClassVar[str] = "mackey_glass"
    loss_kind: ClassVar[str] = "mse"
    #: A window counts correct below this NRMSE.
    NRMSE_THRESHOLD: ClassVar[float] = 0.05

    def __post_init__(self) -> None:
        check_int("length", self.length, minimum=1, maximum=1_000_000)
        check_real("tau", self.tau, minimum=0.0, exclusive_minimum=True)
        check_int("series_length", self.series_length, minimum=self.length + 1, maximum=10_000_000)

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return self.length

    @property
    def needs_every_step(self) -> bool:
        return True

    @property
    def series(self) -> torch.Tensor:
        """The pre-computed series (series_length,) in float64; shared, do not modify."""
        return _series(float(self.tau), self.series_length)

    @property
    def baseline_loss(self) -> float:
        x = self.series
        return float((x[1:] - x[:-1]).square().mean())

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        T = self.length
        series = self.series.to(torch.get_default_dtype())
        offsets = torch.randint(0, self.series_length - T, (batch_size,), generator=generator)
        windows = series[offsets[:, None] + torch.arange(T + 1)]  # (B, T + 1)
        inputs, targets = windows[:, :-1, None], windows[:, 1:, None]
        mask = torch.ones(batch_size, T, dtype=torch.bool)
        return Batch(inputs, targets, mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, mask = aligned(outputs, batch)
        error = ((out - targets.to(out.dtype)).square().mean(-1) * mask).sum(-1) / mask.sum(-1)
        return error.sqrt() / float(self.series.std(correction=0)) < self.NRMSE_THRESHOLD

