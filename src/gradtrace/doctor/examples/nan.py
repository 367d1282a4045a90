"""A model that turns NaN in the middle: it standardizes positive features, then takes their log."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "NAN_MODULE",
    "LogFeatures",
    "ZScore",
    "nan_batches",
    "nan_loss",
    "nan_model",
]

#: Qualified name of the first module of :func:`nan_model` whose output is not finite.
NAN_MODULE = "features.log"


class ZScore(nn.Module):
    """Standardize each feature with the batch's own mean and standard deviation (needs B ≥ 2)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Return (input − mean) / std over the batch dimension.

        Args:
            input: (B, features).

        Returns:
            Same shape; about half of the values are negative.
        """
        return (input - input.mean(0)) / input.std(0)


class LogFeatures(nn.Module):
    """``torch.log`` of features meant to be positive (counts, prices), with no guard."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Return log(input): NaN where input < 0, −inf where it is 0.

        Args:
            input: Any shape.

        Returns:
            Same shape.
        """
        return torch.log(input)


def nan_model(seed: int = 0, num_features: int = 8, hidden_size: int = 16) -> nn.Sequential:
    """A classifier of positive count features that standardizes them *before* taking their log.

    The order is the bug: log-then-standardize is what was meant. ``features.scale`` is finite, but
    it makes about half the values negative, so ``features.log`` (:data:`NAN_MODULE`) is the first module
    whose output has NaN, and everything after it, the loss included, is NaN.

    Args:
        seed: Seed of the initialization.
        num_features: Input features.
        hidden_size: Units of the classifier's hidden layer.

    Returns:
        ``nn.Sequential`` with children ``features`` (``scale``, ``log``) and ``classifier``
        (``fc1``, ``relu``, ``fc2``), taking (B, num_features) to (B, 2) logits.
    """
    with _seeded(seed):
        return nn.Sequential(OrderedDict([
            ("features", nn.Sequential(OrderedDict([("scale", ZScore()), ("log", LogFeatures())]))),
            ("classifier", nn.Sequential(OrderedDict([
                ("fc1", nn.Linear(num_features, hidden_size)),
                ("relu", nn.ReLU()),
                ("fc2", nn.Linear(hidden_size, 2)),
            ]))),
        ]))


def nan_batches(count: int = 4, batch_size: int = 32, seed: int = 0,
                num_features: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Positive log-normal "counts" whose scale depends on the class.

    Args:
        count: Number of batches.
        batch_size: Examples per batch (at least 2).
        seed: Seed of the local generator.
        num_features: Features per example.

    Returns:
        ``count`` pairs (features (B, num_features) > 0, labels (B,) long in {0, 1}).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 2, (batch_size,), generator=g)
        features = torch.exp(0.5 * labels[:, None] + torch.randn(batch_size, num_features, generator=g))
        batches.append((features, labels))
    return batches


def nan_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the two classes; NaN with :func:`nan_model`.

    Args:
        model: From :func:`nan_model`.
        batch: (features, labels).

    Returns:
        Scalar loss.
    """
    features, labels = batch
    return F.cross_entropy(model(features), labels)
