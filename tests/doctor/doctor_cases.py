"""Tiny subjects for the doctor's CLI and report tests, importable as ``path/to/doctor_cases.py:attr``.

Each factory builds its model from a fixed seed, so a subject is the same in every test and every process.
"""

from __future__ import annotations

import torch
from torch import nn

STEPS = 30
INPUTS = 3
HIDDEN = 12


class Regressor(nn.Module):
    """A recurrent layer read out at its last step."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def exploding_rnn() -> nn.Module:
    """A ReLU RNN whose W_hh has spectral radius 3: the last step's error grows ~3× per step back."""
    torch.manual_seed(0)
    rnn = nn.RNN(INPUTS, HIDDEN, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        radius = torch.linalg.eigvals(rnn.weight_hh_l0).abs().max()
        rnn.weight_hh_l0.mul_(3.0 / radius)
    return Regressor(rnn)


def healthy_mlp() -> nn.Module:
    """Two tanh layers: nothing to find."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(INPUTS, 16), nn.Tanh(), nn.Linear(16, 1))


def deep_sigmoid() -> nn.Module:
    """Eight sigmoid layers: the gradient through depth vanishes below the 0.25^(M−1) bound."""
    torch.manual_seed(0)
    layers = [m for _ in range(8) for m in (nn.Linear(INPUTS if _ == 0 else 8, 8), nn.Sigmoid())]
    return nn.Sequential(*layers, nn.Linear(8, 1))


def sequence_loss(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def vector_loss(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return ((model(x[:, -1] if x.dim() == 3 else x) - y) ** 2).mean()


def sequences() -> list:
    """Two batches of 8 sequences of STEPS steps."""
    generator = torch.Generator().manual_seed(1)
    return [(torch.rand(8, STEPS, INPUTS, generator=generator), torch.randn(8, 1, generator=generator))
            for _ in range(2)]


def vectors() -> list:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(16, INPUTS, generator=generator), torch.randn(16, 1, generator=generator)) for _ in range(2)]


VECTORS = vectors()  # the list itself, not a factory


def broken_factory() -> nn.Module:
    raise RuntimeError("weights file not found")


def not_a_model() -> str:
    return "a string"


def raising_loss(model: nn.Module, batch) -> torch.Tensor:
    raise KeyError("target")


NOT_CALLABLE = 3
