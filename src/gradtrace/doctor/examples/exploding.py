"""Bidirectional ReLU RNN with a recurrent gain above one: its gradient explodes back through time."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "SequenceRegressor",
    "exploding_rnn",
    "exploding_rnn_batches",
    "exploding_rnn_loss",
    "set_spectral_radius",
]


def set_spectral_radius(rnn: nn.RNNBase, radius: float) -> None:
    """Scale every recurrent matrix ``weight_hh_*`` of ``rnn`` in place to the given spectral radius.

    Args:
        rnn: An ``nn.RNN`` (or any ``nn.RNNBase`` whose ``weight_hh`` are square, i.e. not LSTM/GRU).
        radius: Largest eigenvalue modulus wanted.
    """
    # Not gradtrace.init.scale_to_spectral_radius_: that one takes the eigenvalues in float64, which moves
    # these float32 weights by ~1e-6 and so the subjects' seeded numbers, and it refuses radius <= 0.
    with torch.no_grad():
        for name, weight in rnn.named_parameters():
            if name.startswith("weight_hh"):
                weight.mul_(radius / torch.linalg.eigvals(weight).abs().max())


class SequenceRegressor(nn.Module):
    """A bidirectional ReLU RNN whose two final states feed a linear regression head.

    The recurrent matrices start as the identity plus a little noise, the IRNN recipe (Le, Jaitly &
    Hinton 2015) that makes a ReLU unit an integrator, then are scaled to ``spectral_radius``. Above one,
    every active unit multiplies its gradient by up to that gain per step back in time (1.2^49 ≈ 7,600
    over 50 steps; ‖∂L/∂h_0‖ / ‖∂L/∂h_49‖ ≈ 700 at seed 0), and the forward state grows alike, so the loss
    starts near 10^5 and the first plain SGD step sends the weights to inf. A random matrix would not
    show it: ReLU silences about half the units each step, a random matrix's leading direction does not
    survive that, and a ReLU RNN with a random recurrent matrix of spectral radius 1.5 still loses its
    gradient; the identity's leading direction does survive.

    It is curable: with SGD at lr 0.03 for 100 steps on :func:`exploding_rnn_batches`, clipping the global
    gradient norm to 5 takes the loss from 1.4e5 to ~0.1, and a copy at ``spectral_radius=0.9`` (or an
    ``nn.GRU`` of the same size) reaches ~0.05 (~0.1).

    Args:
        input_size: Features per step.
        hidden_size: Units per direction.
        spectral_radius: Spectral radius of each direction's recurrent matrix.
    """

    def __init__(self, input_size: int = 2, hidden_size: int = 32, spectral_radius: float = 1.2):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="relu", batch_first=True, bidirectional=True)
        with torch.no_grad():
            for name, weight in self.rnn.named_parameters():
                if name.startswith("weight_hh"):
                    noise = torch.randn(hidden_size, hidden_size) * (0.1 / math.sqrt(hidden_size))
                    weight.copy_(torch.eye(hidden_size) + noise)
        set_spectral_radius(self.rnn, spectral_radius)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Regress one value per sequence.

        Args:
            input: (B, T, input_size).

        Returns:
            (B,) predictions.
        """
        _, h_n = self.rnn(input)
        # h_n is (2, B, H): the forward direction after the last step, the backward one after the first.
        return self.head(torch.cat([h_n[0], h_n[1]], dim=-1)).squeeze(-1)


def exploding_rnn(seed: int = 0, spectral_radius: float = 1.2, hidden_size: int = 32) -> SequenceRegressor:
    """The bidirectional ReLU RNN whose gradient explodes back through time.

    Args:
        seed: Seed of the initialization.
        spectral_radius: Recurrent gain; 0.9 gives a healthy copy of the same network.
        hidden_size: Units per direction.

    Returns:
        A :class:`SequenceRegressor`.
    """
    with _seeded(seed):
        return SequenceRegressor(hidden_size=hidden_size, spectral_radius=spectral_radius)


def exploding_rnn_batches(count: int = 4, batch_size: int = 32, length: int = 50,
                          seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Estimate a hidden level from a noisy signal: channel 0 is level + noise, channel 1 distracts.

    The noise has the level's own variance, so one step tells little; averaging over many does well.

    Args:
        count: Number of batches.
        batch_size: Sequences per batch.
        length: Steps per sequence.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (input (B, length, 2), target level (B,)).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        level = torch.randn(batch_size, generator=g)
        input = torch.randn(batch_size, length, 2, generator=g)
        input[:, :, 0] += level[:, None]
        batches.append((input, level))
    return batches


def exploding_rnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean squared error of the level.

    Args:
        model: A :class:`SequenceRegressor`.
        batch: (input, target).

    Returns:
        Scalar loss.
    """
    input, target = batch
    return F.mse_loss(model(input), target)
