"""The temporal order task: classify the order in which X and Y symbols appeared."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_choice, check_int
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["TemporalOrder"]

# Symbols: a, b, c, d are distractors; X and Y carry the information; E starts and B ends.
_DISTRACTORS, _X, _Y, _START, _END = 4, 4, 5, 6, 7
_ALPHABET = 8
# Where the relevant symbols may stand, as fractions of the length (inclusive bounds), after
# Hochreiter & Schmidhuber 1997, experiments 6a (2 symbols) and 6b (3 symbols).
_WINDOWS = {
    2: ((0.10, 0.20), (0.50, 0.60)),
    3: ((0.10, 0.20), (0.33, 0.43), (0.66, 0.76)),
}


@dataclass(frozen=True)
class TemporalOrder(Task):
    """Classify the order of 2 (or 3) X/Y symbols placed among random distractors.

    Inputs (B, T, 8) one-hot over {a, b, c, d, X, Y, E, B}: E starts and B ends the sequence, the
    rest are distractors except ``bits`` positions, each drawn in its window (10–20 % and 50–60 % of
    the length for 2 bits), that hold X or Y. The target at the last step is the class of the
    pattern (XX, XY, YX, YY → 0..3; 8 classes for 3 bits), scored by cross-entropy; guessing scores
    ln 4 (ln 8). A sequence is correct when the arg-max class is right.

    Args:
        length: sequence length T ≥ 10.
        bits: 2 or 3 relevant symbols.

    Example:
        >>> TemporalOrder(20).sample(3, seed=1).targets[:, -1].shape
        torch.Size([3])

    References:
        Hochreiter & Schmidhuber 1997, experiment 6; Pascanu et al. 2013, arXiv:1211.5063.
    """

    length: int
    bits: int = 2

    name: ClassVar[str] = "temporal_order"
    loss_kind: ClassVar[str] = "cross_entropy"

    def __post_init__(self) -> None:
        check_choice("bits", self.bits, _WINDOWS, what="number of bits")
        check_int("length", self.length, minimum=10, maximum=100_000)

    @property
    def input_size(self) -> int:
        return _ALPHABET

    @property
    def output_size(self) -> int:
        return 2**self.bits

    @property
    def max_length(self) -> int:
        return self.length

    @property
    def baseline_loss(self) -> float:
        return math.log(self.output_size)

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        T = self.length
        codes = torch.randint(0, _DISTRACTORS, (batch_size, T), generator=generator)
        codes[:, 0], codes[:, -1] = _START, _END
        label = torch.zeros(batch_size, dtype=torch.long)
        rows = torch.arange(batch_size)
        for low, high in _WINDOWS[self.bits]:
            first, last = math.floor(low * T), math.floor(high * T)
            position = torch.randint(first, last + 1, (batch_size,), generator=generator)
            is_y = torch.randint(0, 2, (batch_size,), generator=generator)
            codes[rows, position] = _X + is_y
            label = label * 2 + is_y
        inputs = torch.nn.functional.one_hot(codes, _ALPHABET).float()
        targets = torch.zeros(batch_size, T, dtype=torch.long)
        targets[:, -1] = label
        mask = torch.zeros(batch_size, T, dtype=torch.bool)
        mask[:, -1] = True
        return Batch(inputs, targets, mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return out[..., -1, :].argmax(-1) == targets[..., -1]
