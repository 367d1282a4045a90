"""What every subject module shares: seeded construction, local generators and the :class:`Subject` record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "Subject",
]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global CPU generator for the block, then give the caller back their own state."""
    # Modules initialize from the global generator; forking it keeps a factory call from shifting the
    # random numbers of whatever the caller draws next. devices=[]: the models are built on the CPU.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class Subject:
    """One subject: how to build the model, score it on a batch, and make its batches.

    Attributes:
        make_model: Builds a fresh model, no arguments needed.
        loss_fn: ``loss_fn(model, batch)`` -> scalar tensor.
        batches: Returns a list of batches, no arguments needed.
        description: One line on what the model is and what is wrong with it, if anything.
    """

    make_model: Callable[[], nn.Module]
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    batches: Callable[[], list]
    description: str
