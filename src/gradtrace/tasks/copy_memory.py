"""The copy memory task: recall ten symbols after a long stretch of blanks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_int
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["CopyMemory"]

_BLANK, _DELIMITER = 0, 9
_SYMBOLS = 8  # data symbols are 1..8
_RECALL = 10  # symbols to remember


@dataclass(frozen=True)
class CopyMemory(Task):
    """See 10 symbols from an alphabet of 8, wait ``delay`` steps, then write them back.

    Inputs (B, delay + 20, 10) one-hot: 0 is blank, 1–8 the symbols, 9 the delimiter. The sequence is
    the 10 symbols, ``delay − 1`` blanks, the delimiter, then 10 blanks during which the network must
    output the symbols. Targets are class indices over 9 classes (blank and the 8 symbols), scored by
    cross-entropy at every step. A memoryless network that outputs blanks and then guesses uniformly
    scores the baseline 10·ln 8 / (delay + 20). A sequence is correct when all 10 symbols are recalled.

    Args:
        delay: the number of steps between the last symbol and the delimiter's end, ≥ 1.

    Example:
        >>> task = CopyMemory(delay=5)
        >>> task.sample(2, seed=0).inputs.shape
        torch.Size([2, 25, 10])
        >>> round(task.baseline_loss, 4)
        0.8318

    References:
        Hochreiter & Schmidhuber 1997, experiment 2; Arjovsky, Shah & Bengio 2016, "Unitary
        evolution recurrent neural networks", arXiv:1511.06464.
    """

    delay: int

    name: ClassVar[str] = "copy_memory"
    loss_kind: ClassVar[str] = "cross_entropy"

    def __post_init__(self) -> None:
        check_int("delay", self.delay, minimum=1, maximum=100_000)

    @property
    def input_size(self) -> int:
        return _SYMBOLS + 2

    @property
    def output_size(self) -> int:
        return _SYMBOLS + 1

    @property
    def max_length(self) -> int:
        return self.delay + 2 * _RECALL

    @property
    def baseline_loss(self) -> float:
        return _RECALL * math.log(_SYMBOLS) / self.max_length

    @property
    def needs_every_step(self) -> bool:
        return True

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        T = self.max_length
        symbols = torch.randint(1, _SYMBOLS + 1, (batch_size, _RECALL), generator=generator)
        codes = torch.full((batch_size, T), _BLANK, dtype=torch.long)
        codes[:, :_RECALL] = symbols
        codes[:, T - _RECALL - 1] = _DELIMITER
        targets = torch.full((batch_size, T), _BLANK, dtype=torch.long)
        targets[:, -_RECALL:] = symbols
        inputs = torch.nn.functional.one_hot(codes, _SYMBOLS + 2).float()
        mask = torch.ones(batch_size, T, dtype=torch.bool)
        return Batch(inputs, targets, mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        recalled = out[..., -_RECALL:, :].argmax(-1)
        return (recalled == targets[..., -_RECALL:]).all(-1)
