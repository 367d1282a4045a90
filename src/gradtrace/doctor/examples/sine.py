"""Sine-wave predictor stepping two LSTM cells (pytorch/examples time_sequence_prediction)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "SinePredictor",
    "sine_batches",
    "sine_loss",
    "sine_predictor",
]


class SinePredictor(nn.Module):
    """Two stacked ``nn.LSTMCell`` stepped by a Python loop, and a linear read-out of the next value.

    The PyTorch example runs in float64; this one is float32 like the other subjects.

    Args:
        hidden_size: Units of each cell (51 in the example).
    """

    def __init__(self, hidden_size: int = 51):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, hidden_size)
        self.lstm2 = nn.LSTMCell(hidden_size, hidden_size)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, input: torch.Tensor, future: int = 0) -> torch.Tensor:
        """Predict each next value, then optionally go on by feeding the predictions back.

        Args:
            input: (B, T) samples.
            future: Extra steps generated from the model's own output.

        Returns:
            (B, T + future): output[:, t] predicts input[:, t + 1].
        """
        batch, hidden = input.size(0), self.lstm1.hidden_size
        h1, c1, h2, c2 = (input.new_zeros(batch, hidden) for _ in range(4))
        outputs = []
        output = input.new_zeros(batch, 1)
        for input_t in input.split(1, dim=1):
            h1, c1 = self.lstm1(input_t, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            output = self.linear(h2)
            outputs.append(output)
        for _ in range(future):
            h1, c1 = self.lstm1(output, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            output = self.linear(h2)
            outputs.append(output)
        return torch.cat(outputs, dim=1)


def sine_predictor(seed: int = 0, hidden_size: int = 51) -> SinePredictor:
    """The two-cell sine predictor.

    Args:
        seed: Seed of the initialization.
        hidden_size: Units per cell.

    Returns:
        A :class:`SinePredictor`.
    """
    with _seeded(seed):
        return SinePredictor(hidden_size)


def sine_batches(count: int = 4, batch_size: int = 16, length: int = 60, seed: int = 0,
                 period: float = 25.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sine waves of one period with random phases; the target is the input shifted by one step.

    Args:
        count: Number of batches.
        batch_size: Waves per batch.
        length: Steps per wave.
        seed: Seed of the local generator.
        period: Steps per cycle.

    Returns:
        ``count`` pairs (input (B, length), target (B, length)).
    """
    g = _generator(seed)
    steps = torch.arange(length + 1, dtype=torch.float32)
    batches = []
    for _ in range(count):
        phase = 2 * math.pi * torch.rand(batch_size, 1, generator=g)
        wave = torch.sin(2 * math.pi * steps / period + phase)
        batches.append((wave[:, :-1], wave[:, 1:]))
    return batches


def sine_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean squared error of the next-value predictions.

    Args:
        model: A :class:`SinePredictor`.
        batch: (input, target), each (B, T).

    Returns:
        Scalar loss.
    """
    input, target = batch
    return F.mse_loss(model(input), target)
