"""XOR: the four points no single-layer perceptron separates, the first problem a hidden layer solves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_real
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["XOR"]

# The truth table in a fixed order: (0, 0), (0, 1), (1, 0), (1, 1) → 0, 1, 1, 0.
_POINTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
_LABELS = (0.0, 1.0, 1.0, 0.0)


@dataclass(frozen=True)
class XOR(Task):
    """Output x₁ XOR x₂ for a point of {0, 1}²: 1 for (0, 1) and (1, 0), 0 for (0, 0) and (1, 1).

    A non-sequential task (T = 1): inputs (B, 1, 2), targets (B, 1, 1), mask (B, 1) all true. A batch
    draws the four points equally often (see below); with ``noise`` > 0 each input coordinate gets
    independent Gaussian jitter of that standard deviation, the target staying the clean label. The
    loss is the mean squared error J = 1/N Σ (ŷ − y)², which the 2-2-1 sigmoid network of
    Rumelhart, Hinton & Williams learns; predicting 0.5 everywhere scores the baseline 0.25. A point
    counts correct when (ŷ > 0.5) equals its label. :meth:`points` gives the four clean points as
    one batch, for exact evaluation and plots of the decision surface.

    A batch is balanced: it holds every point ⌊B/4⌋ or ⌈B/4⌉ times, shuffled, so ``sample(4)`` is
    the whole truth table and ``fit(..., dataset_size=4, batch_size=4)`` is batch gradient descent on
    exactly the four points (independent draws would often miss one).

    Args:
        noise: standard deviation of the input jitter, ≥ 0 (0 keeps the inputs exactly in {0, 1}²).

    Raises:
        ValueError: for a negative or non-finite ``noise``.
        TypeError: for a ``noise`` that is not a real number.

    Example:
        >>> batch = XOR().points()
        >>> batch.inputs[:, 0].tolist(), batch.targets[:, 0, 0].tolist()
        ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 1.0, 1.0, 0.0])
        >>> tuple(XOR(noise=0.1).sample(8, seed=0).inputs.shape)
        (8, 1, 2)

    References:
        Minsky & Papert 1969, "Perceptrons", MIT Press (XOR is not linearly separable).
        Rumelhart, Hinton & Williams 1986, "Learning representations by back-propagating errors",
        Nature 323 (a hidden layer trained by back-propagation solves it).
    """

    noise: float = 0.0

    name: ClassVar[str] = "xor"
    loss_kind: ClassVar[str] = "mse"

    def __post_init__(self) -> None:
        check_real("noise", self.noise, minimum=0.0)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return 1

    @property
    def baseline_loss(self) -> float:
        # Half the points have target 0, half 1: the constant 0.5 is off by 0.5 on every one.
        return 0.25

    def points(self) -> Batch:
        """Return the four clean points of the truth table as one batch, in the order 00, 01, 10, 11.

        Returns:
            A :class:`Batch` with inputs (4, 1, 2), targets (4, 1, 1) and mask (4, 1), without jitter.
        """
        inputs = torch.tensor(_POINTS).unsqueeze(1)
        targets = torch.tensor(_LABELS).view(4, 1, 1)
        return Batch(inputs, targets, torch.ones(4, 1, dtype=torch.bool), loss=self.loss_kind)

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        # Whole rounds of the four points, then a random subset for the remainder, all shuffled.
        rounds = torch.arange(4).repeat(batch_size // 4)
        rest = torch.randperm(4, generator=generator)[: batch_size % 4]
        everything = torch.cat([rounds, rest])
        index = everything[torch.randperm(batch_size, generator=generator)]
        inputs = torch.tensor(_POINTS)[index]
        if self.noise > 0:
            inputs = inputs + self.noise * torch.randn(batch_size, 2, generator=generator)
        targets = torch.tensor(_LABELS)[index].view(batch_size, 1, 1)
        mask = torch.ones(batch_size, 1, dtype=torch.bool)
        return Batch(inputs.unsqueeze(1), targets, mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return (out[..., -1, 0] > 0.5) == (targets[..., -1, 0] > 0.5)
