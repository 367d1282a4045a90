"""Row-by-row LSTM on digit-like images (pytorch/examples mnist_rnn), with procedurally drawn digits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "MNISTRNN",
    "mnist_rnn",
    "mnist_rnn_batches",
    "mnist_rnn_loss",
]

# A seven-segment digit on a 1 × 2 box, y downwards: the segments' end points...
_SEGMENTS = torch.tensor([
    [[0.0, 0.0], [1.0, 0.0]],  # a: top
    [[1.0, 0.0], [1.0, 1.0]],  # b: upper right
    [[1.0, 1.0], [1.0, 2.0]],  # c: lower right
    [[0.0, 2.0], [1.0, 2.0]],  # d: bottom
    [[0.0, 1.0], [0.0, 2.0]],  # e: lower left
    [[0.0, 0.0], [0.0, 1.0]],  # f: upper left
    [[0.0, 1.0], [1.0, 1.0]],  # g: middle
])
# ... and which of a..g each digit lights.
_DIGIT_SEGMENTS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg")
_LIT = torch.tensor([[s in lit for s in "abcdefg"] for lit in _DIGIT_SEGMENTS])
# Normalization of the example's transform (MNIST's pixel mean and standard deviation).
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081


def _draw_digits(labels: torch.Tensor, g: torch.Generator, size: int = 28) -> torch.Tensor:
    n = labels.numel()
    # Hand-writing varies in size, slant, position and stroke width; each digit gets its own draw.
    scale = 8.0 * (1 + 0.1 * torch.randn(n, 1, 1, generator=g))
    slant = 0.25 * torch.randn(n, 1, generator=g)
    shift = 2.0 * torch.randn(n, 1, 2, generator=g)
    width = 1.2 + 0.6 * torch.rand(n, 1, 1, generator=g)
    points = _SEGMENTS.reshape(1, 14, 2) - torch.tensor([0.5, 1.0])
    points = points * scale
    points = torch.stack([points[..., 0] - slant * points[..., 1], points[..., 1]], dim=-1)
    points = (points + shift + (size - 1) / 2).reshape(n, 7, 2, 2)
    a, b = points[:, :, None, 0], points[:, :, None, 1]  # (n, 7, 1, 2)
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    pixels = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)  # (size², 2) as (x, y)
    ab = b - a
    along = (((pixels - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    distance = (pixels - a - along[..., None] * ab).norm(dim=-1)  # (n, 7, size²)
    distance = distance.masked_fill(~_LIT[labels][..., None], math.inf).amin(dim=1)
    ink = (width.reshape(n, 1) - distance).clamp(0, 1)
    ink = (ink + 0.05 * torch.randn(ink.shape, generator=g)).clamp(0, 1)
    return ink.reshape(n, 1, size, size)


class MNISTRNN(nn.Module):
    """An LSTM reads a 28 × 28 image one row per step; its last state goes through batch norm to 10 logits.

    Args:
        input_size: Pixels per row.
        hidden_size: LSTM units.
        num_classes: Output classes.
    """

    def __init__(self, input_size: int = 28, hidden_size: int = 64, num_classes: int = 10):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Classify images.

        Args:
            input: (B, 1, H, W) or (B, H, W); rows are the time steps. In training mode B must exceed 1
                (batch norm).

        Returns:
            (B, num_classes) logits.
        """
        output, _ = self.rnn(input.reshape(input.size(0), input.size(-2), input.size(-1)))
        return self.fc(self.batchnorm(output[:, -1]))


def mnist_rnn(seed: int = 0, hidden_size: int = 64) -> MNISTRNN:
    """The row-by-row digit classifier, in training mode.

    Args:
        seed: Seed of the initialization.
        hidden_size: LSTM units (the example uses 64).

    Returns:
        A :class:`MNISTRNN`.
    """
    with _seeded(seed):
        return MNISTRNN(hidden_size=hidden_size)


def mnist_rnn_batches(count: int = 4, batch_size: int = 32,
                      seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Seven-segment digits drawn with random size, slant, position, stroke width and noise.

    Args:
        count: Number of batches.
        batch_size: Images per batch.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (images (B, 1, 28, 28) normalized as MNIST, labels (B,) long in 0..9).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 10, (batch_size,), generator=g)
        images = (_draw_digits(labels, g) - _MNIST_MEAN) / _MNIST_STD
        batches.append((images, labels))
    return batches


def mnist_rnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the digit classes.

    Args:
        model: A :class:`MNISTRNN`.
        batch: (images, labels).

    Returns:
        Scalar loss.
    """
    images, labels = batch
    return F.cross_entropy(model(images), labels)
