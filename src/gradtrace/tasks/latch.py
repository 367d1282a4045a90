"""The latching task: hold one bit, given by the first steps, across a stretch of pure noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_int, check_real
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["Latch"]

#: Standard deviation of the distractor noise: variance 0.2, as Hochreiter & Schmidhuber (1997,
#: Task 3a) describe Bengio et al.'s 2-sequence problem.
_NOISE_STD = math.sqrt(0.2)


@dataclass(frozen=True)
class Latch(Task):
    """Classify a sequence by its first ``latch_steps`` values, read out after ``length`` steps.

    Inputs (B, T, 1) on one line: the first ``latch_steps`` values are +1 for class 1 and −1 for
    class 0 (equally likely), every later value is Gaussian noise of standard deviation ``noise``
    that carries no information. Only the last step is scored: its target is ±``target`` and the
    loss is the mean squared error. The input-blind optimum predicts 0 and scores ``target²``. A
    sequence is correct when the output has the sign of its target, i.e. the bit was latched.

    This is the "minimal task" of Bengio, Simard & Frasconi (1994) with the class information
    given as input rather than learned: there the first L inputs h_1..h_L are free parameters and
    the cost is ½(x_T − d)² with d = ±0.8 (``target`` defaults to 0.8; the ½ is a constant factor
    available as ``fit(..., loss="half_mse")``). Deviations, by choice: every sequence of a batch
    has exactly ``length`` steps (Bengio et al. also drew lengths down to T/2), and correctness is
    judged by sign (Hochreiter & Schmidhuber's 2-sequence criterion was |error| < 0.2 on 0/1
    targets).

    Args:
        length: sequence length T, at least ``latch_steps + 1`` (one noise step to latch across).
        latch_steps: how many leading steps carry the class, L ≥ 1.
        noise: standard deviation of the distractor noise, ≥ 0 (default √0.2: variance 0.2).
        target: magnitude of the ±target output, > 0.

    Example:
        >>> batch = Latch(20).sample(4, seed=0)
        >>> tuple(batch.inputs.shape), tuple(batch.targets.shape)
        ((4, 20, 1), (4, 20, 1))
        >>> round(Latch(20).baseline_loss, 6)
        0.64

    References:
        Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with gradient descent is
        difficult", IEEE Trans. Neural Networks 5(2):157–166.
        Hochreiter & Schmidhuber 1997, "Long short-term memory", experiment 3 (Task 3a).
    """

    length: int
    latch_steps: int = 3
    noise: float = _NOISE_STD
    target: float = 0.8

    name: ClassVar[str] = "latch"
    loss_kind: ClassVar[str] = "mse"

    def __post_init__(self) -> None:
        check_int("latch_steps", self.latch_steps, minimum=1, maximum=100_000)
        check_int("length", self.length, minimum=2, maximum=100_000)
        if self.length <= self.latch_steps:
            raise ValueError(
                f"`length` must exceed `latch_steps` ({self.latch_steps}) so that at least one noise "
                f"step follows the bit, got length={self.length}."
            )
        check_real("noise", self.noise, minimum=0.0)
        check_real("target", self.target, minimum=0.0, exclusive_minimum=True)

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
    def baseline_loss(self) -> float:
        # Balanced ±target classes: predicting their mean, 0, leaves the squared target.
        return float(self.target) ** 2

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        T, L = self.length, self.latch_steps
        label = torch.randint(0, 2, (batch_size,), generator=generator)
        sign = (2 * label - 1).float()
        distractors = torch.randn(batch_size, T - L, generator=generator) * self.noise
        inputs = torch.cat([sign[:, None].expand(batch_size, L), distractors], dim=1).unsqueeze(-1)
        targets = torch.zeros(batch_size, T, 1)
        targets[:, -1, 0] = sign * self.target
        mask = torch.zeros(batch_size, T, dtype=torch.bool)
        mask[:, -1] = True
        return Batch(inputs, targets, mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return out[..., -1, 0] * targets[..., -1, 0] > 0
