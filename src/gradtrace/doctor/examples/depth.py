"""Networks whose gradient vanishes through depth: a deep sigmoid MLP, and a small sigmoid CNN without and
with batch norm."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "deep_sigmoid_batches",
    "deep_sigmoid_loss",
    "deep_sigmoid_mlp",
    "small_cnn",
    "small_cnn_batches",
    "small_cnn_bn",
    "small_cnn_loss",
]


# ---------------------------------------------------------------------------------------------------
# Deep sigmoid MLP
# ---------------------------------------------------------------------------------------------------

def deep_sigmoid_mlp(seed: int = 0, depth: int = 20, width: int = 32,
                     activation: Callable[[], nn.Module] = nn.Sigmoid) -> nn.Sequential:
    """``depth`` Linear layers with an activation between them, in PyTorch's default initialization.

    With sigmoids the gradient shrinks at every layer going back (σ′ ≤ 1/4, and default weights shrink it
    further), so the first layer's weight gradient is ~1e-19 of the last's and the network cannot learn.

    Args:
        seed: Seed of the initialization.
        depth: Number of Linear layers.
        width: Units of each hidden layer.
        activation: Module class put after every Linear but the last.

    Returns:
        ``nn.Sequential`` of Linear(2, width), activation, ..., Linear(width, 2).
    """
    with _seeded(seed):
        layers: list[nn.Module] = []
        features = 2
        for _ in range(depth - 1):
            layers += [nn.Linear(features, width), activation()]
            features = width
        layers.append(nn.Linear(features, 2))
        return nn.Sequential(*layers)


def deep_sigmoid_batches(count: int = 4, batch_size: int = 128,
                         seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two noisy concentric circles in the plane (radii 0.5 and 1), one class each.

    Args:
        count: Number of batches.
        batch_size: Points per batch.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (points (B, 2), labels (B,) long in {0, 1}).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 2, (batch_size,), generator=g)
        radius = 0.5 + 0.5 * labels + 0.1 * torch.randn(batch_size, generator=g)
        angle = 2 * math.pi * torch.rand(batch_size, generator=g)
        batches.append((torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1), labels))
    return batches


def deep_sigmoid_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the two classes.

    Args:
        model: From :func:`deep_sigmoid_mlp`.
        batch: (points, labels).

    Returns:
        Scalar loss.
    """
    points, labels = batch
    return F.cross_entropy(model(points), labels)


# ---------------------------------------------------------------------------------------------------
# Small CNN with and without batch norm
# ---------------------------------------------------------------------------------------------------

def small_cnn(batch_norm: bool = False, seed: int = 0, depth: int = 6, channels: int = 8,
              num_classes: int = 4) -> nn.Sequential:
    """3 × 3 convolutions with sigmoids, global average pooling and a linear classifier.

    Without batch norm the gradient at the first convolution's output is ~1e-5 of the last's; with
    ``nn.BatchNorm2d`` after each convolution the two stay within a factor of a few. The modules are
    named ``conv1``, ``bn1``, ``act1``, ..., ``pool``, ``flatten``, ``fc``.

    Args:
        batch_norm: Put ``nn.BatchNorm2d`` between each convolution and its sigmoid (the convolutions then
            have no bias, which batch norm would cancel).
        seed: Seed of the initialization.
        depth: Number of convolutions.
        channels: Channels of each convolution.
        num_classes: Output classes.

    Returns:
        ``nn.Sequential`` taking (B, 1, H, W) images to (B, num_classes) logits.
    """
    with _seeded(seed):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 1
        for k in range(1, depth + 1):
            layers[f"conv{k}"] = nn.Conv2d(in_channels, channels, 3, padding=1, bias=not batch_norm)
            if batch_norm:
                layers[f"bn{k}"] = nn.BatchNorm2d(channels)
            layers[f"act{k}"] = nn.Sigmoid()
            in_channels = channels
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(channels, num_classes)
        return nn.Sequential(layers)


def small_cnn_bn(seed: int = 0) -> nn.Sequential:
    """:func:`small_cnn` with batch norm after every convolution.

    Args:
        seed: Seed of the initialization.

    Returns:
        ``nn.Sequential`` in training mode.
    """
    return small_cnn(batch_norm=True, seed=seed)


def small_cnn_batches(count: int = 4, batch_size: int = 64, seed: int = 0, size: int = 16,
                      num_classes: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Noisy images of a short bar whose orientation (0°, 45°, 90°, ...) is the class.

    Args:
        count: Number of batches.
        batch_size: Images per batch.
        seed: Seed of the local generator.
        size: Image height and width.
        num_classes: Orientations, evenly spaced over 180°.

    Returns:
        ``count`` pairs (images (B, 1, size, size), labels (B,) long).
    """
    g = _generator(seed)
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    batches = []
    for _ in range(count):
        labels = torch.randint(0, num_classes, (batch_size,), generator=g)
        angle = (labels * math.pi / num_classes + 0.1 * torch.randn(batch_size, generator=g))[:, None, None]
        centre = (size - 1) / 2 + 3 * (2 * torch.rand(batch_size, 2, 1, 1, generator=g) - 1)
        dx, dy = cols - centre[:, 0], rows - centre[:, 1]
        across = (dy * torch.cos(angle) - dx * torch.sin(angle)).abs()
        along = (dx * torch.cos(angle) + dy * torch.sin(angle)).abs()
        images = (1 - across).clamp_min(0) * (along < 5) + 0.1 * torch.randn(batch_size, size, size, generator=g)
        batches.append((images[:, None], labels))
    return batches


def small_cnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the orientation classes.

    Args:
        model: From :func:`small_cnn`.
        batch: (images, labels).

    Returns:
        Scalar loss.
    """
    images, labels = batch
    return F.cross_entropy(model(images), labels)
