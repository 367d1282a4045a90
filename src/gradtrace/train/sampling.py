"""The members' batches: an endless stream, or a fixed dataset in epochs, and the held-out batch."""

from __future__ import annotations

import torch

from gradtrace.tasks.base import Batch, Task
from gradtrace.train.settings import EVAL_SEED_OFFSET, Settings

__all__ = ["EpochSampler", "StreamSampler", "held_out_batch", "make_sampler", "member_batches", "to_device"]


def member_batches(task: Task, batch_size: int, generators: list[torch.Generator]) -> Batch:
    """Draw ``batch_size`` examples for each member, member k from ``generators[k]``; stack them (K, B, ...)."""
    return Batch.stack([task.sample(batch_size, generator=g) for g in generators])


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Return ``batch`` on ``device`` (tasks sample on the CPU); the same batch when it is there already."""
    if batch.inputs.device == device:
        return batch
    return Batch(inputs=batch.inputs.to(device), targets=batch.targets.to(device), mask=batch.mask.to(device),
                 loss=batch.loss)


class StreamSampler:
    """A fresh batch from the task every step, member k drawing from its own generator."""

    #: A stream has no epochs.
    epochs = None

    def __init__(self, task: Task, batch_size: int, generators: list[torch.Generator]):
        self.task = task
        self.batch_size = batch_size
        self.generators = generators

    def __call__(self) -> Batch:
        return member_batches(self.task, self.batch_size, self.generators)


class EpochSampler:
    """Batches from a fixed dataset per member, in epochs, each member reshuffled from its own generator.

    The last batch of an epoch holds what is left (fewer examples when the batch size does not divide
    the dataset), so every example is seen exactly once per epoch.
    """

    def __init__(self, data: Batch, batch_size: int, generators: list[torch.Generator]):
        self.data = data
        self.batch_size = batch_size
        self.generators = generators
        self.size = data.batch_size
        self.position = self.size  # start by shuffling
        self.seen = 0
        self.order: torch.Tensor | None = None

    @property
    def epochs(self) -> float:
        """Passes over the dataset completed so far (fractional)."""
        return self.seen / self.size

    def __call__(self) -> Batch:
        if self.position >= self.size:
            # On the CPU, where the generators and the dataset are; the batch moves to the model's device.
            self.order = torch.stack([torch.randperm(self.size, generator=g, device="cpu") for g in self.generators])
            self.position = 0
        picked = self.order[:, self.position : self.position + self.batch_size]
        self.position += picked.shape[1]
        self.seen += picked.shape[1]
        members = torch.arange(picked.shape[0], device=picked.device)[:, None]
        data = self.data
        return Batch(inputs=data.inputs[members, picked], targets=data.targets[members, picked],
                     mask=data.mask[members, picked], loss=data.loss)


def make_sampler(task: Task, settings: Settings, num_models: int) -> StreamSampler | EpochSampler:
    """Return the training batches' source: member k draws from seed + k (a fixed dataset first, if any)."""
    generators = [torch.Generator().manual_seed(settings.seed + k) for k in range(num_models)]
    if settings.dataset_size is None:
        return StreamSampler(task, settings.batch_size, generators)
    return EpochSampler(member_batches(task, settings.dataset_size, generators), settings.batch_size, generators)


def held_out_batch(task: Task, settings: Settings, num_models: int, device: torch.device) -> Batch:
    """Return the fixed evaluation batch, on ``device``: member k's from seed + k + EVAL_SEED_OFFSET."""
    generators = [torch.Generator().manual_seed(settings.seed + k + EVAL_SEED_OFFSET) for k in range(num_models)]
    return to_device(member_batches(task, settings.eval_batch_size, generators), device)
