"""fit's arguments, checked once at the boundary into a frozen :class:`Settings`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gradtrace.errors import check_choice, check_int, describe
from gradtrace.memory import check_fits
from gradtrace.remedies import GradientTransform, Truncation, as_transform, as_truncation
from gradtrace.tasks.base import LOSS_KINDS, Task
from gradtrace.train.paths import GradientPath

__all__ = ["EVAL_SEED_OFFSET", "MAX_LR", "NONFINITE_POLICIES", "OPTIMIZERS", "Settings"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
#: "raise" stops with NonFiniteError; "skip" drops that member's update for the step (and counts it in
#: ``Run.skipped_steps``); "record" marks the member diverged and freezes it while the rest of the
#: ensemble trains on.
NONFINITE_POLICIES = ("raise", "skip", "record")

#: Offset between a member's training-data seed and its evaluation-data seed, so the two never
#: share a stream.
EVAL_SEED_OFFSET = 1_000_003
#: The largest learning rate accepted. Adam and RMSprop move every weight by about lr per step, so a
#: rate past a million wrecks any model in one step; and torch casts the rate to the parameters' dtype,
#: where a float32 model overflows at 3.4e38 with a message that does not name ``lr``.
MAX_LR = 1e6
# torch's generators take a signed 64-bit seed.
_SEED_LIMIT = 2**63
# The default schedules: about this many trace snapshots and evaluations over a run.
_TRACE_SNAPSHOTS = 50
_EVALUATIONS = 20


@dataclass(frozen=True)
class Settings:
    """How :func:`~gradtrace.train.fit` trains, every value checked (see :meth:`check`).

    Each default is fit's and says why; the schedules default to every step here, as fit's None is
    resolved by :meth:`check`.
    """

    steps: int
    #: Adam tolerates the badly scaled gradients of recurrent networks without tuning.
    optimizer: str = "adam"
    #: Adam's own default (Kingma & Ba 2015); a tuple holds one rate per member.
    lr: float | tuple[float, ...] = 1e-3
    #: Enough sequences that one step's gradient is not one sequence's noise, few enough to be fast.
    batch_size: int = 32
    #: None draws a fresh batch every step: an endless stream, the seeds' setting.
    dataset_size: int | None = None
    #: Member k draws from seed + k, so a member reproduces the single run with seed + k.
    seed: int = 0
    #: None trains on the task's own loss kind.
    loss: str | None = None
    #: No remedy: the plain gradient, whose vanishing or exploding the trace shows.
    transform: GradientTransform | None = None
    #: None is full back-propagation through time.
    truncation: Truncation | None = None
    #: Every step; fit passes None for about 50 snapshots, enough to watch the profile change over
    #: training without the cost of tracing every step.
    trace_every: int = 1
    #: Every step; fit passes None for about 20 evaluations, enough for a learning curve.
    eval_every: int = 1
    #: Enough held-out sequences that a success rate is not decided by a handful of them.
    eval_batch_size: int = 256
    #: One member going non-finite must not stop the others: record it and train on.
    on_nonfinite: str = "record"

    @classmethod
    def check(cls, path: GradientPath, task: Task, *, steps: Any, optimizer: Any, lr: Any, batch_size: Any,
              dataset_size: Any, seed: Any, loss: Any, remedies: Any, truncation: Any, trace_every: Any,
              eval_every: Any, eval_batch_size: Any, on_nonfinite: Any) -> Settings:
        """Check fit's arguments for ``path``'s model and ``task``; return them as settings.

        Args:
            path: the model's gradient path (see :func:`~gradtrace.train.paths.gradient_path`).
            task: the task to train on.
            steps, optimizer, lr, batch_size, dataset_size, seed, loss, remedies, truncation, trace_every,
                eval_every, eval_batch_size, on_nonfinite: as in :func:`~gradtrace.train.fit`.

        Returns:
            The settings, with ``remedies`` as one transform, ``truncation`` as a
            :class:`~gradtrace.remedies.Truncation` and the schedules' defaults filled in.

        Raises:
            TypeError: ``task`` is not a gradtrace Task, or an argument of the wrong type.
            ValueError: a size that does not suit the model (a batch of one example for batch norm), or an
                argument out of its range (the message names the argument, the valid range and the value
                that came).
        """
        if not isinstance(task, Task):
            raise TypeError(f"`task` must be a gradtrace Task, got {type(task).__name__}.")
        path.check_fits(task, truncation)
        steps = check_int("steps", steps, minimum=1)
        check_choice("optimizer", optimizer, OPTIMIZERS, what="optimizer")
        num_models = path.model.num_models
        lr = _check_lr(lr, num_models)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1)
        batch_norm = bool(getattr(path.model, "batch_norm", False))
        # The periodic evaluations run in training mode too, on the held-out batch.
        for name, size in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if batch_norm and size == 1:
                raise ValueError(f"`{name}` must be at least 2 for a model with batch norm, got 1: batch norm "
                                 "normalizes each unit by the batch's mean and variance, and those of one example "
                                 "are the example itself, so every normalized output would be 0 and its gradient "
                                 "vanish.")
        dataset_size = _check_dataset_size(dataset_size, batch_size)
        if batch_norm and dataset_size is not None and dataset_size % batch_size == 1:
            raise ValueError(f"`dataset_size` = {dataset_size} leaves a last batch of 1 example in every epoch with "
                             f"`batch_size` = {batch_size}, which batch norm cannot normalize (one example's mean is "
                             "itself); choose sizes whose remainder is not 1.")
        seed = _check_seed(seed, num_models)
        if loss is not None:
            check_choice("loss", loss, LOSS_KINDS, what="loss kind")
        settings = cls(
            steps=steps, optimizer=optimizer, lr=lr, batch_size=batch_size, dataset_size=dataset_size, seed=seed,
            loss=loss,
            trace_every=_check_every("trace_every", trace_every, steps, _TRACE_SNAPSHOTS, "trace snapshots"),
            eval_every=_check_every("eval_every", eval_every, steps, _EVALUATIONS, "evaluations"),
            eval_batch_size=eval_batch_size,
            on_nonfinite=check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES, what="policy"),
            transform=as_transform(remedies), truncation=as_truncation(truncation),
        )
        if not any(p.requires_grad for p in path.model.parameters()):
            raise ValueError(f"`model` {type(path.model).__name__} has no trainable parameter for fit() to train.")
        _check_batches_fit(task, settings, num_models)
        return settings

    @property
    def member_rates(self) -> tuple[float, ...] | None:
        """One learning rate per member when they differ; None when one rate serves every member."""
        if isinstance(self.lr, tuple) and len(set(self.lr)) > 1:
            return self.lr
        return None

    @property
    def base_lr(self) -> float:
        """The rate torch's optimizer runs at: 1 with rates per member (each member's step is scaled), else lr."""
        if self.member_rates is not None:
            return 1.0
        return self.lr[0] if isinstance(self.lr, tuple) else self.lr

    def evaluates_at(self, step: int) -> bool:
        """Whether the held-out batch is scored after ``step``: every ``eval_every`` steps and after the last."""
        return step % self.eval_every == 0 or step == self.steps - 1

    def config(self, model: Any, task: Task) -> dict[str, Any]:
        """Return the run's arguments as :attr:`Run.config <gradtrace.train.Run.config>` keeps them (JSON)."""
        return {
            "model": type(model).__name__, "model_repr": model.extra_repr(), "task": task.describe(),
            "steps": self.steps, "optimizer": self.optimizer,
            "lr": list(self.lr) if isinstance(self.lr, tuple) else self.lr, "batch_size": self.batch_size,
            "dataset_size": self.dataset_size, "seed": self.seed,
            "loss": self.loss or task.loss_kind, "num_models": model.num_models, "on_nonfinite": self.on_nonfinite,
            "remedies": self.transform.describe() if self.transform is not None else None,
            "truncation": _truncation_config(self.truncation),
        }


def _truncation_config(truncation: Truncation | None) -> list[int | str] | None:
    """Return ``[k1, k2]``, with ``last`` appended when it is not the default, or None for full BPTT.

    The default is left out so that a run recorded before ``last`` existed has the same config.
    """
    if truncation is None:
        return None
    if truncation.last == Truncation.last:
        return [truncation.k1, truncation.k2]
    return [truncation.k1, truncation.k2, truncation.last]


def _check_rate(name: str, value: Any) -> float:
    """Return one learning rate in (0, MAX_LR] as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}.")
    rate = float(value)
    valid = f"a learning rate is in (0, {MAX_LR:g}]"
    if not math.isfinite(rate):
        raise ValueError(f"`{name}` must be finite, got {rate} ({valid}).")
    if rate <= 0:
        raise ValueError(f"`{name}` must be greater than 0.0, got {rate} ({valid}).")
    if rate > MAX_LR:
        raise ValueError(f"`{name}` must be at most {MAX_LR:g}, got {rate:g} ({valid}).")
    return rate


def _check_lr(lr: Any, num_models: int) -> float | tuple[float, ...]:
    """Validate ``lr``: one rate, or one per member (a tuple of ``num_models`` floats)."""
    if isinstance(lr, (np.ndarray, torch.Tensor)):
        if lr.ndim != 1:
            raise ValueError(f"`lr` must be a number or a sequence of {num_models} numbers (one per member), "
                             f"got {describe(lr)}.")
        lr = lr.tolist()
    if isinstance(lr, Sequence) and not isinstance(lr, (str, bytes)):
        rates = tuple(_check_rate(f"lr[{i}]", value) for i, value in enumerate(lr))
        if len(rates) != num_models:
            raise ValueError(f"`lr` must hold one learning rate per member, {num_models} (num_models), got "
                             f"{len(rates)}: {describe(list(lr))}.")
        return rates
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"`lr` must be a positive number or a sequence of {num_models} of them (one per member), "
                        f"got {describe(lr)}.")
    return _check_rate("lr", lr)


_DATA_WORDS = {"batch_size": "training batches", "dataset_size": "datasets", "eval_batch_size": "held-out batches"}


def _check_batches_fit(task: Task, settings: Settings, num_models: int) -> None:
    """Refuse, before drawing anything, data that the K members' batches cannot hold in memory.

    ``task.sample`` checks one member's batch under the name ``batch_size``; fit holds K of them at
    once (the training batch or the fixed dataset, and the held-out batch), under its own names.
    """
    # Per value as in Task.sample: the inputs, targets and mask of every step, 8 bytes each, twice.
    per_example = 2 * 8 * task.max_length * (task.input_size + task.output_size + 1)
    training = ("dataset_size", settings.dataset_size) if settings.dataset_size is not None else (
        "batch_size", settings.batch_size)
    for name, size in (training, ("eval_batch_size", settings.eval_batch_size)):
        check_fits(num_models * size * per_example, f"The {_DATA_WORDS[name]} of fit's {num_models} member(s)",
                   {name: size, "num_models": num_models, "max_length": task.max_length}, device="cpu")


def _check_dataset_size(dataset_size: Any, batch_size: int) -> int | None:
    if dataset_size is None:
        return None
    dataset_size = check_int("dataset_size", dataset_size, minimum=1)
    if batch_size > dataset_size:
        raise ValueError(f"`batch_size` must be at most `dataset_size` = {dataset_size} (full-batch descent), "
                         f"got {batch_size}.")
    return dataset_size


def _check_seed(seed: Any, num_models: int) -> int:
    """Return ``seed`` if every member's training and evaluation seeds fit torch's 64-bit generators."""
    seed = check_int("seed", seed)
    # Member k trains from seed + k and evaluates from seed + k + EVAL_SEED_OFFSET.
    largest = _SEED_LIMIT - 1 - (num_models - 1) - EVAL_SEED_OFFSET
    valid = (f"valid seeds are [0, {largest}]: member k evaluates on seed + k + {EVAL_SEED_OFFSET}, which must "
             f"stay below 2**63 with {num_models} member(s)")
    if seed < 0:
        raise ValueError(f"`seed` must be at least 0, got {seed} ({valid}).")
    if seed > largest:
        raise ValueError(f"`seed` must be at most {largest}, got {seed} ({valid}).")
    return seed


def _check_every(name: str, every: Any, steps: int, count: int, what: str) -> int:
    """Return the schedule ``every`` (≥ 1); None takes about ``count`` of them over ``steps`` steps."""
    if every is None:
        return max(1, steps // count)
    every = check_int(name, every)
    if every < 1:
        raise ValueError(f"`{name}` must be at least 1, got {every} (every how many steps; None takes the "
                         f"default of about {count} {what}).")
    return every
