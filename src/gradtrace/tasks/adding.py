"""The adding problem: remember two marked numbers over a long sequence and output their sum."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_choice, check_int
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["ADDING_VARIANTS", "Adding"]

#: The published variants and the smallest length each one is defined for.
ADDING_VARIANTS: dict[str, int] = {"sum": 2, "hochreiter1997": 20, "pascanu2013": 10}


@dataclass(frozen=True)
class Adding(Task):
    """Each step carries a value and a marker; at the end, output a function of the two marked values.

    Inputs (B, T, 2): channel 0 the value, channel 1 the marker. The error comes only from the last
    step, so solving the task needs gradient that reaches back to the first marker.

    Variants:
        ``"sum"``: values U[0, 1], one marker in each half, target the sum, MSE; predicting 1 scores
            the baseline 1/6. A sequence counts correct when (ŷ−y)² < 0.04 (our choice: no criterion
            was published for this variant).
        ``"hochreiter1997"``: values U[−1, 1], lengths uniform in [T, T + T/10] (shorter sequences are
            left-padded with zero pairs so every sequence ends on the last step), X1 marked among the
            first 10 pairs, X2 among the first T/2 − 1 unmarked ones, markers −1 on the first and last
            pair; target 0.5 + (X1 + X2)/4, correct when |error| < 0.04. Baseline 1/24.
        ``"pascanu2013"``: values U[0, 1], one marker in the first tenth, one in [T/10, T/2); target
            (X1 + X2)/2, wrong when the squared error exceeds 0.04. Baseline 1/24.

    Args:
        length: the (minimal) sequence length T.
        variant: one of ``ADDING_VARIANTS``.

    Example:
        >>> batch = Adding(50).sample(4, seed=0)
        >>> tuple(batch.inputs.shape), tuple(batch.targets.shape)
        ((4, 50, 2), (4, 50, 1))

    References:
        Hochreiter & Schmidhuber 1997, "Long short-term memory", experiment 4.
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training RNNs", arXiv:1211.5063.
        Le, Jaitly & Hinton 2015, "A simple way to initialize RNNs of ReLUs", arXiv:1504.00941.
    """

    length: int
    variant: str = "sum"

    name: ClassVar[str] = "adding"
    loss_kind: ClassVar[str] = "mse"

    def __post_init__(self) -> None:
        check_choice("variant", self.variant, ADDING_VARIANTS, what="adding variant")
        check_int("length", self.length, minimum=ADDING_VARIANTS[self.variant], maximum=100_000)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        if self.variant == "hochreiter1997":
            return self.length + self.length // 10
        return self.length

    @property
    def baseline_loss(self) -> float:
        if self.variant == "hochreiter1997":
            # Var(U[-1, 1]) = 1/3 for each value that counts: X1 counts unless it was the first pair
            # (1 in 10); X2 unless it landed on the first pair.
            p_x1 = 0.9
            p_x2 = 1 - 0.9 / (self.length // 2 - 1)
            return (p_x1 + p_x2) / 3 / 16
        return 1 / 6 if self.variant == "sum" else 1 / 24

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        draw = {"sum": self._sample_sum, "hochreiter1997": self._sample_hochreiter,
                "pascanu2013": self._sample_pascanu}[self.variant]
        inputs, target = draw(batch_size, generator)
        steps = inputs.shape[1]
        targets = torch.zeros(batch_size, steps, 1)
        targets[:, -1, 0] = target
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, -1] = True
        return Batch(inputs, targets, mask, loss=self.loss_kind)

    def _two_markers(self, batch_size, values, first_range, second_range, generator):
        rows = torch.arange(batch_size)
        first = torch.randint(*first_range, (batch_size,), generator=generator)
        second = torch.randint(*second_range, (batch_size,), generator=generator)
        markers = torch.zeros_like(values)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        return torch.stack([values, markers], dim=-1), values[rows, first], values[rows, second]

    def _sample_sum(self, batch_size, generator):
        T = self.length
        values = torch.rand(batch_size, T, generator=generator)
        inputs, x1, x2 = self._two_markers(batch_size, values, (0, T // 2), (T // 2, T), generator)
        return inputs, x1 + x2

    def _sample_pascanu(self, batch_size, generator):
        T = self.length
        values = torch.rand(batch_size, T, generator=generator)
        tenth = T // 10
        inputs, x1, x2 = self._two_markers(batch_size, values, (0, tenth), (tenth, T // 2), generator)
        return inputs, (x1 + x2) / 2

    def _sample_hochreiter(self, batch_size, generator):
        T, T_max = self.length, self.max_length
        lengths = torch.randint(T, T_max + 1, (batch_size,), generator=generator)
        values = torch.rand(batch_size, T_max, generator=generator) * 2 - 1
        # Positions are counted from each sequence's own start; they are shifted right by the
        # left padding below.
        first = torch.randint(0, 10, (batch_size,), generator=generator)
        # X2 is one of the first T/2 - 1 pairs that are not already marked.
        second = torch.randint(0, T // 2 - 1, (batch_size,), generator=generator)
        second = second + (second >= first).long()
        inputs = torch.zeros(batch_size, T_max, 2)
        marked = torch.zeros(batch_size, 2)
        for b in range(batch_size):
            start = T_max - int(lengths[b])
            inputs[b, start:, 0] = values[b, : int(lengths[b])]
            inputs[b, start, 1] = -1.0
            inputs[b, -1, 1] = -1.0
            for slot, offset in enumerate((int(first[b]), int(second[b]))):
                # A mark on the first pair keeps its start marker and adds zero, as in the paper.
                if offset > 0:
                    inputs[b, start + offset, 1] = 1.0
                    marked[b, slot] = inputs[b, start + offset, 0]
        x1, x2 = marked.unbind(-1)
        return inputs, 0.5 + (x1 + x2) / 4

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        error = out[..., -1, 0] - targets[..., -1, 0]
        if self.variant == "hochreiter1997":
            return error.abs() < 0.04
        return error.square() < 0.04
