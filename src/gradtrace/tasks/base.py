"""The task contract: a batch of sequences, the loss on it, and how a task scores outputs.

Shapes: inputs (B, T, input_size); targets (B, T, output_size) for regression or (B, T) class
indices for classification; mask (B, T) marks the steps whose output is scored. An ensemble of K
models produces outputs (K, B, T, output_size) (or (K, B, output_size) with a last-step readout);
every loss and metric here is returned per member, shape (K,).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from gradtrace.errors import check_choice, check_int, check_seed, check_shape, describe
from gradtrace.memory import check_fits

__all__ = ["LOSS_KINDS", "Batch", "Task", "member_loss", "make_generator"]

LossKind = Literal["mse", "half_mse", "cross_entropy"]
#: "mse" is mean (ŷ−y)²; "half_mse" is the seeds' cost ½(ŷ−y)²; "cross_entropy" takes logits.
LOSS_KINDS: tuple[str, ...] = ("mse", "half_mse", "cross_entropy")


@dataclass(frozen=True)
class Batch:
    """Sequences, their targets and which steps are scored.

    Attributes:
        inputs: (B, T, input_size) or (K, B, T, input_size) floats.
        targets: (B, T, output_size) floats, or (B, T) class indices; a leading K is allowed.
        mask: (B, T) bool, true where the output is scored; a leading K is allowed.
        loss: which loss the targets call for, one of ``LOSS_KINDS``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    loss: str = "mse"

    def __post_init__(self) -> None:
        for name in ("inputs", "targets", "mask"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"`{name}` must be a torch.Tensor, got {describe(value)}.")
        check_choice("loss", self.loss, LOSS_KINDS, what="loss kind")
        check_shape("inputs", self.inputs, "(B, T, input_size) or (K, B, T, input_size)",
                    self.inputs.dim() in (3, 4) and self.inputs.is_floating_point())
        lead = self.inputs.shape[:-1]
        check_shape("mask", self.mask, f"{tuple(lead)} of bool",
                    self.mask.dtype == torch.bool and tuple(self.mask.shape) == tuple(lead))
        if self.loss == "cross_entropy":
            ok = tuple(self.targets.shape) == tuple(lead) and not self.targets.is_floating_point()
            check_shape("targets", self.targets, f"{tuple(lead)} of class indices", ok)
        else:
            ok = (tuple(self.targets.shape[:-1]) == tuple(lead) and self.targets.dim() == len(lead) + 1
                  and self.targets.is_floating_point())
            check_shape("targets", self.targets, f"{tuple(lead)} + (output_size,) of floats", ok)
        if not bool(self.mask.any()):
            raise ValueError("`mask` marks no step to score: at least one entry must be true.")

    @property
    def length(self) -> int:
        """Number of time steps T."""
        return self.inputs.shape[-2]

    @property
    def batch_size(self) -> int:
        """Number of sequences B."""
        return self.inputs.shape[-3]

    @staticmethod
    def stack(batches: list[Batch]) -> Batch:
        """Stack K batches of equal shape into one with a leading member axis K."""
        first = batches[0]
        return Batch(
            inputs=torch.stack([b.inputs for b in batches]),
            targets=torch.stack([b.targets for b in batches]),
            mask=torch.stack([b.mask for b in batches]),
            loss=first.loss,
        )


def _last_step_view(outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align a last-step readout (K, B, O) with the batch; only the last step may be scored."""
    if bool(batch.mask[..., :-1].any()):
        raise ValueError(
            "The model reads out only the last step (readout='last'), but this batch scores "
            "earlier steps too; build the model with readout='all'."
        )
    if batch.loss == "cross_entropy":
        targets = batch.targets[..., -1:]
    else:
        targets = batch.targets[..., -1:, :]
    return outputs.unsqueeze(-2), targets, batch.mask[..., -1:]


def aligned(outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (outputs (K, B, T', O), targets, mask) with outputs per step, whatever the readout.

    Targets and mask come on the outputs' device (tasks sample on the CPU; a model may run elsewhere).
    """
    per_step = outputs.dim() == 4
    if not per_step and outputs.dim() != 3:
        raise ValueError(f"`outputs` must have shape (K, B, T, O) or (K, B, O), got {tuple(outputs.shape)}.")
    if per_step:
        if outputs.shape[-2] != batch.length:
            raise ValueError(f"`outputs` has {outputs.shape[-2]} steps but the batch has {batch.length}.")
        targets, mask = batch.targets, batch.mask
    else:
        outputs, targets, mask = _last_step_view(outputs, batch)
    return outputs, targets.to(outputs.device), mask.to(outputs.device)


def member_loss(outputs: torch.Tensor, batch: Batch, *, kind: str | None = None) -> torch.Tensor:
    """Return the loss of each ensemble member, the mean over scored steps, shape (K,).

    Args:
        outputs: (K, B, T, O) per-step outputs or (K, B, O) last-step outputs.
        batch: the batch the outputs answer; its targets broadcast over K.
        kind: a loss from ``LOSS_KINDS``; defaults to ``batch.loss``.

    Returns:
        (K,) tensor. "mse" averages over output units too; "half_mse" is half of it.
    """
    kind = check_choice("kind", kind or batch.loss, LOSS_KINDS, what="loss kind")
    out, targets, mask = aligned(outputs, batch)
    mask = mask.to(out.dtype)
    if kind == "cross_entropy":
        if batch.loss != "cross_entropy":
            raise ValueError("The loss 'cross_entropy' (`loss`) needs class-index targets; this batch has real "
                             "targets: use 'mse' or 'half_mse'.")
        targets = targets.expand(out.shape[:-1])
        per_step = F.cross_entropy(out.flatten(0, -2), targets.flatten(), reduction="none")
        per_step = per_step.view(out.shape[:-1])
    else:
        if batch.loss == "cross_entropy":
            raise ValueError(f"The loss {kind!r} (`loss`) needs real targets; this batch has class indices: "
                             "use 'cross_entropy'.")
        per_step = (out - targets.to(out.dtype)).square().mean(-1)
        if kind == "half_mse":
            per_step = 0.5 * per_step
    mask = mask.expand(per_step.shape)
    return (per_step * mask).sum((-2, -1)) / mask.sum((-2, -1))


def make_generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator | None:
    """Return the generator to draw from: ``generator``, or a new one seeded with ``seed``."""
    if generator is not None and seed is not None:
        raise ValueError("Pass either `generator` or `seed`, not both.")
    if seed is not None:
        return torch.Generator().manual_seed(check_seed(seed))
    return generator


class Task(ABC):
    """A supervised sequence task: samples batches, knows its trivial baseline and success criterion.

    Subclasses are frozen dataclasses. ``correct`` says, per member and sequence, whether the output
    meets the task's published per-sequence criterion; ``accuracy`` is the fraction correct and a
    member has *solved* the task when accuracy ≥ ``success_accuracy`` (Pascanu et al. 2013 count a
    run successful below 1 % error).
    """

    name: ClassVar[str]
    loss_kind: ClassVar[str]
    success_accuracy: ClassVar[float] = 0.99

    @property
    @abstractmethod
    def input_size(self) -> int:
        """Width of one input step."""

    @property
    @abstractmethod
    def output_size(self) -> int:
        """Number of outputs (regression) or classes (classification)."""

    @property
    @abstractmethod
    def max_length(self) -> int:
        """Number of time steps T of a sampled batch."""

    @property
    @abstractmethod
    def baseline_loss(self) -> float:
        """Loss of the best predictor that ignores the inputs' long-range content."""

    @abstractmethod
    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        """Draw a batch of ``batch_size`` sequences (validated arguments)."""

    @abstractmethod
    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Return (K, B) bool: which sequences each member answered correctly."""

    @property
    def needs_every_step(self) -> bool:
        """Whether the task scores steps other than the last (needs readout='all')."""
        return False

    def sample(self, batch_size: int, *, generator: torch.Generator | None = None,
               seed: int | None = None) -> Batch:
        """Draw a batch of sequences.

        Args:
            batch_size: number of sequences B (≥ 1).
            generator: a ``torch.Generator`` to draw from; or
            seed: a seed for a fresh generator (the same seed gives the same batch).

        Returns:
            A :class:`Batch` with inputs (B, T, input_size).

        Raises:
            ValueError: for a batch that cannot fit in memory, before drawing it, or a negative seed.
        """
        check_int("batch_size", batch_size, minimum=1)
        steps = self.max_length
        # At most 8 bytes a value (float64 draws, int64 class indices) for the inputs, targets and
        # mask of every step, twice over for the intermediates of a draw.
        needed = 2 * 8 * batch_size * steps * (self.input_size + self.output_size + 1)
        check_fits(needed, f"A batch of {self.describe()}", {"batch_size": batch_size, "max_length": steps},
                   device="cpu")
        return self._sample(batch_size, make_generator(generator, seed))

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        """Return metrics per member: ``task/loss``, ``task/accuracy`` and ``task/success``."""
        with torch.no_grad():
            loss = member_loss(outputs, batch, kind=self.loss_kind)
            accuracy = self.correct(outputs, batch).float().mean(-1)
        return {
            "task/loss": loss,
            "task/accuracy": accuracy,
            "task/success": accuracy >= self.success_accuracy,
        }

    def describe(self) -> str:
        """Return a one-line description, e.g. ``adding(length=100, variant='sum')``."""
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.name}({fields})"

