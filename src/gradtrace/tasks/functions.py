"""Function fitting: learn y = f(x) on an interval from x drawn evenly in x or in ln x (x², 1/x, sin x)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from gradtrace.errors import check_choice, check_int, check_real, describe
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["FIT_FUNCTIONS", "FunctionFit"]


class _Function(NamedTuple):
    evaluate: Callable[[torch.Tensor], torch.Tensor]
    low: float
    high: float
    poles: tuple[float, ...]


# The default domains are the course notes' examples.
_FUNCTIONS: dict[str, _Function] = {
    "square": _Function(torch.square, -1.0, 1.0, ()),
    "reciprocal": _Function(torch.reciprocal, 1.0, 100.0, (0.0,)),
    "sin": _Function(torch.sin, 1.0, 2 * math.pi, ()),
}

#: The functions :class:`FunctionFit` knows, with their default domain (low, high).
FIT_FUNCTIONS: dict[str, tuple[float, float]] = {name: (f.low, f.high) for name, f in _FUNCTIONS.items()}
#: How :class:`FunctionFit` spreads x over the domain and feeds it to the network: evenly in x, or in ln x.
FIT_SCALES = ("linear", "log")

# Midpoints of the grid that averages f over the domain: the midpoint rule's error, of order
# (width / points)² · max |f''|, stays below 1e-9 for every default domain.
_QUADRATURE_POINTS = 2**20


@functools.lru_cache(maxsize=32)
def _statistics(function: str, low: float, high: float, scale: str = "linear") -> tuple[float, float, float]:
    """Return (variance, min, max) of f(x) for x drawn as ``scale`` says, on a fine float64 grid.

    The variance is over x ~ U[low, high] for "linear", over ln x ~ U[ln low, ln high] for "log": the midpoints
    are even in x, or in ln x.
    """
    evaluate = _FUNCTIONS[function].evaluate
    start, stop = (math.log(low), math.log(high)) if scale == "log" else (low, high)
    step = (stop - start) / _QUADRATURE_POINTS
    midpoints = start + step * (torch.arange(_QUADRATURE_POINTS, dtype=torch.float64) + 0.5)
    values = evaluate(midpoints.exp() if scale == "log" else midpoints)
    variance = float(values.var(correction=0))
    # The midpoints miss the endpoints, where monotone functions take their extremes.
    ends = evaluate(torch.tensor([low, high], dtype=torch.float64))
    everything = torch.cat([values, ends])
    return variance, float(everything.min()), float(everything.max())


@dataclass(frozen=True)
class FunctionFit(Task):
    """Fit y = f(x) from x drawn over [low, high]: "square" x², "reciprocal" 1/x or "sin" sin x.

    A non-sequential regression task (T = 1): inputs (B, 1, 1), targets (B, 1, 1) the raw f(x), mask
    (B, 1) all true, scored by the mean squared error. The default domains are the course notes'
    examples: x² on [−1, 1], 1/x on [1, 100], sin x on [1, 2π]. A network learns badly from raw x as
    large as 100 (its first layer saturates or its gradients blow up), so with ``normalize`` (the
    default) the network sees x mapped affinely onto [−1, 1], 2 (x − low) / (high − low) − 1;
    :meth:`raw_x` maps a batch's inputs back.

    ``scale`` says on which scale x lives. "linear" (the default) draws x ~ U[low, high] and feeds x. "log"
    (for 0 < low) draws x evenly in ln x, ln x ~ U[ln low, ln high], and feeds ln x (mapped onto [−1, 1] with
    ``normalize``). A function that changes most where x is small needs it: 1/x on [1, 100] falls from 1 to
    0.1 over the first 9 % of the domain, a sharp bend on the linear scale of a network whose first-layer
    weights are of order 1; on ln x it is the smooth e^(−ln x), and each decade of x gets as many training
    points as the next.

    The baseline is the best constant prediction, the mean of f: its loss is the variance of f(x)
    for x drawn as ``scale`` says, computed once with the midpoint rule on 2²⁰ points (4/45 for x² on
    [−1, 1]). A point counts correct when |ŷ − y| ≤ 5 % of the range max f − min f over the domain.

    Args:
        function: one of ``FIT_FUNCTIONS``.
        low: left end of the domain; None takes the function's default.
        high: right end of the domain, > ``low``; None takes the function's default.
        normalize: feed the network x (or ln x) mapped onto [−1, 1] instead of the raw value.
        scale: one of ``FIT_SCALES``: "linear" draws and feeds x, "log" draws evenly in ln x and feeds ln x.

    Raises:
        ValueError: for an unknown function or scale, ``low`` ≥ ``high``, a non-finite end, a domain that
            contains a pole of the function (x = 0 for "reciprocal"), or ``scale="log"`` with ``low`` ≤ 0.
        TypeError: for an end that is not a real number or a ``normalize`` that is not a bool.

    Example:
        >>> task = FunctionFit("reciprocal")
        >>> task.domain
        (1.0, 100.0)
        >>> batch = task.grid(3)
        >>> batch.inputs[:, 0, 0].tolist(), task.raw_x(batch).tolist()
        ([-1.0, 0.0, 1.0], [1.0, 50.5, 100.0])
        >>> [round(y, 4) for y in batch.targets[:, 0, 0].tolist()]
        [1.0, 0.0198, 0.01]
        >>> logarithmic = FunctionFit("reciprocal", scale="log")
        >>> [round(v, 4) for v in logarithmic.grid(3).inputs[:, 0, 0].tolist()]  # ln x onto [−1, 1]
        [-1.0, 0.7033, 1.0]
    """

    function: str = "square"
    low: float | None = None
    high: float | None = None
    normalize: bool = True
    scale: str = "linear"

    name: ClassVar[str] = "function_fit"
    loss_kind: ClassVar[str] = "mse"
    #: A point counts correct within this fraction of the range of f over the domain.
    TOLERANCE: ClassVar[float] = 0.05

    def __post_init__(self) -> None:
        check_choice("function", self.function, _FUNCTIONS, what="function")
        for end in ("low", "high"):
            if getattr(self, end) is not None:
                check_real(end, getattr(self, end))
        if not isinstance(self.normalize, bool):
            raise TypeError(f"`normalize` must be a bool, got {describe(self.normalize)}.")
        check_choice("scale", self.scale, FIT_SCALES, what="scale")
        low, high = self.domain
        if low >= high:
            raise ValueError(f"`low` must be less than `high`, got low={low} and high={high} "
                             f"(the domain of {self.function!r} without them is {FIT_FUNCTIONS[self.function]}).")
        if self.scale == "log" and low <= 0:
            raise ValueError(f"`scale`='log' draws x evenly in ln x, so the domain must be positive; got low={low} "
                             f"(choose 0 < low < high, or scale='linear').")
        for pole in _FUNCTIONS[self.function].poles:
            if low <= pole <= high:
                raise ValueError(
                    f"`low`={low} and `high`={high} give a domain that contains the pole of "
                    f"{self.function!r} at x = {pole}; choose both ends on one side of it "
                    f"({pole} < low < high or low < high < {pole})."
                )

    @property
    def domain(self) -> tuple[float, float]:
        """The interval (low, high) that x is drawn from, defaults filled in."""
        spec = _FUNCTIONS[self.function]
        low = spec.low if self.low is None else float(self.low)
        high = spec.high if self.high is None else float(self.high)
        return low, high

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return 1

    @property
    def baseline_loss(self) -> float:
        return _statistics(self.function, *self.domain, self.scale)[0]

    @property
    def tolerance(self) -> float:
        """Largest |ŷ − y| that counts correct: ``TOLERANCE`` times the range of f over the domain."""
        _, smallest, largest = _statistics(self.function, *self.domain)
        return self.TOLERANCE * (largest - smallest)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Return f(x) elementwise, the function the task fits (any shape, ``x``'s dtype)."""
        return _FUNCTIONS[self.function].evaluate(x)

    def raw_x(self, batch: Batch) -> torch.Tensor:
        """Return the x in the domain that a batch of this task was built from.

        Args:
            batch: a batch from :meth:`sample` or :meth:`grid`, inputs (…, B, 1, 1).

        Returns:
            (…, B) the raw x, undoing the map onto [−1, 1] when ``normalize`` is set and the logarithm with
            ``scale="log"``.
        """
        fed = batch.inputs[..., -1, 0]
        if self.normalize:
            start, stop = self._ends()
            fed = start + (fed + 1) * (0.5 * (stop - start))
        return fed.exp() if self.scale == "log" else fed

    def _ends(self) -> tuple[float, float]:
        """The domain's ends on the scale of x that the task draws and feeds (ln of them with scale="log")."""
        low, high = self.domain
        return (math.log(low), math.log(high)) if self.scale == "log" else (low, high)

    def grid(self, n: int) -> Batch:
        """Return ``n`` evenly spaced points from ``low`` to ``high`` (both included), as one batch.

        Draw the network's outputs on it against ``batch.targets`` to see the fit against the truth.

        Args:
            n: number of points, ≥ 2.

        Returns:
            A :class:`Batch` with inputs (n, 1, 1), targets (n, 1, 1) and mask (n, 1).

        Raises:
            ValueError: for ``n`` < 2.
            TypeError: for an ``n`` that is not an integer.
        """
        n = check_int("n", n, minimum=2, maximum=100_000_000)
        low, high = self.domain
        return self._batch(torch.linspace(low, high, n))

    def _batch(self, x: torch.Tensor) -> Batch:
        fed = x.log() if self.scale == "log" else x
        if self.normalize:
            start, stop = self._ends()
            fed = 2 * (fed - start) / (stop - start) - 1
        targets = self.evaluate(x)
        mask = torch.ones(x.shape[0], 1, dtype=torch.bool)
        return Batch(fed.view(-1, 1, 1), targets.view(-1, 1, 1), mask, loss=self.loss_kind)

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        start, stop = self._ends()
        drawn = start + (stop - start) * torch.rand(batch_size, generator=generator)
        return self._batch(drawn.exp() if self.scale == "log" else drawn)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return (out[..., -1, 0] - targets[..., -1, 0]).abs() <= self.tolerance
