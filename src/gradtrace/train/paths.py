"""What the training loop needs of a model, by where its gradient path runs: through time or through depth.

A recurrent model's gradient path runs back through its T steps (:class:`ThroughTime`); an MLP's
through its M hidden layers (:class:`ThroughDepth`). Both satisfy :class:`GradientPath`, and
:func:`gradient_path` picks one for a model, so the loop never asks which kind of model it trains.
"""

from __future__ import annotations

from functools import partial, singledispatch
from typing import Any, Protocol

import torch

from gradtrace.instruments import layer_profile
from gradtrace.models.base import RecurrentModel
from gradtrace.models.mlp import MLP
from gradtrace.remedies import Context, Truncation
from gradtrace.tasks.base import Batch, Task, member_loss
from gradtrace.train.windows import BatchResult, Update, train_windows

__all__ = ["EVAL_WINDOW", "SUGGESTED_WINDOW", "GradientPath", "ThroughDepth", "ThroughTime", "gradient_path"]

#: Evaluation runs a recurrent model forward without gradient in windows of this many steps, the
#: state carried between them, so its memory does not grow with T beyond the outputs (K, B, T, O).
EVAL_WINDOW = 1000
#: The longest truncation window an out-of-memory message suggests: a window of k steps holds about
#: k × batch_size × hidden_size × members numbers per state buffer.
SUGGESTED_WINDOW = 1000


class GradientPath(Protocol):
    """What :func:`~gradtrace.train.fit` needs of a model: how it fits a task, trains and is evaluated."""

    model: Any

    def check_fits(self, task: Task, truncation: Any) -> None:
        """Raise ValueError unless the model's sizes and readout suit ``task`` (and ``truncation`` the model)."""

    def length(self, task: Task) -> int:
        """Return the number of points on the gradient path, the last axis of a trace profile."""

    def train_batch(self, batch: Batch, update: Update, *, step: int, loss: str | None,
                    truncation: Truncation | None, tracing: bool, probe_always: bool) -> BatchResult:
        """Make the updates of one batch (forward, loss, then ``update``); return what they measured."""

    def outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the model's outputs for ``inputs``, without gradient, as the task scores them."""

    def memory_wording(self, task: Task, *, phase: str, name: str, batch_size: int,
                       truncation: Truncation | None, smaller: str) -> tuple[str, str]:
        """Return (the sizes that ran, what to shrink) for an out-of-memory message."""


class ThroughTime:
    """The gradient path of a recurrent model: its states h_1 … h_T."""

    def __init__(self, model: RecurrentModel):
        self.model = model

    def check_fits(self, task: Task, truncation: Any) -> None:
        """Raise ValueError unless the model's input, output and readout suit ``task``."""
        model = self.model
        if model.input_size != task.input_size or model.output_size != task.output_size:
            raise ValueError(
                f"`model` has input_size={model.input_size}, output_size={model.output_size} but task "
                f"{task.describe()} needs input_size={task.input_size}, output_size={task.output_size}."
            )
        if task.needs_every_step and model.readout != "all":
            raise ValueError(f"Task {task.describe()} scores every step; build the model with readout='all'.")

    def length(self, task: Task) -> int:
        """Return T, the task's sequence length."""
        return task.max_length

    def train_batch(self, batch: Batch, update: Update, *, step: int, loss: str | None,
                    truncation: Truncation | None, tracing: bool, probe_always: bool) -> BatchResult:
        """Make one update per truncation window (see :func:`~gradtrace.train.windows.train_windows`)."""
        return train_windows(self.model, batch, update, step=step, loss=loss, truncation=truncation,
                             tracing=tracing, probe_always=probe_always)

    def outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Run forward without gradient in windows of ``EVAL_WINDOW`` steps, the state carried between them.

        The outputs are those of one pass over the whole sequence, while the states (K, B, T, H) of only
        one window are held at a time.
        """
        model, steps = self.model, inputs.shape[-2]
        if steps <= EVAL_WINDOW:
            return model(inputs).outputs
        state, outputs = None, []
        for start in range(0, steps, EVAL_WINDOW):
            trajectory = model(inputs[..., start:start + EVAL_WINDOW, :], state)
            state = trajectory.final_state
            outputs.append(trajectory.outputs)
        return outputs[-1] if model.readout == "last" else torch.cat(outputs, dim=2)

    def memory_wording(self, task: Task, *, phase: str, name: str, batch_size: int,
                       truncation: Truncation | None, smaller: str) -> tuple[str, str]:
        """Name T, the hidden size and the members; suggest a truncation (or a shorter one) or a smaller batch."""
        model, T = self.model, task.max_length  # noqa: N806
        sizes = (f"{type(model).__name__} with hidden_size={model.hidden_size}, {model.num_models} member(s), "
                 f"on sequences of T={T} steps, {name}={batch_size}")
        if phase == "evaluation":
            return sizes, (f"Evaluation holds the outputs of the whole sequence and the states of {EVAL_WINDOW} "
                           f"steps; try {smaller}.")
        if truncation is None or truncation.is_full(T):
            window = min(SUGGESTED_WINDOW, max(1, T // 4))
            return sizes, (f"Full back-propagation through time keeps every step's state, so memory grows with "
                           f"T × batch_size × hidden_size × members: pass truncation=({window}, {window}) to "
                           f"back-propagate {window} steps at a time, or {smaller}.")
        k1, k2 = max(1, truncation.k1 // 2), max(1, truncation.k2 // 2)
        return sizes, (f"With truncation=({truncation.k1}, {truncation.k2}) an update holds the states of about "
                       f"k1 + k2 steps: pass a shorter one, e.g. truncation=({k1}, {k2}), or {smaller}.")


class ThroughDepth:
    """The gradient path of an MLP: its hidden layers h_1 … h_M; one update per batch."""

    def __init__(self, model: MLP):
        self.model = model

    def check_fits(self, task: Task, truncation: Any) -> None:
        """Raise ValueError unless the MLP's sizes suit ``task``'s flattened inputs, one answer per example."""
        model = self.model
        features = task.input_size * task.max_length
        if model.input_size != features or model.output_size != task.output_size:
            raise ValueError(
                f"`model` is an MLP with input_size={model.input_size}, output_size={model.output_size}, but task "
                f"{task.describe()} feeds {task.max_length} step(s) × {task.input_size} feature(s) = {features} "
                f"inputs and needs output_size={task.output_size}."
            )
        if task.needs_every_step:
            raise ValueError(f"Task {task.describe()} scores every step; an MLP answers once per example. Use a "
                             "recurrent model with readout='all'.")
        if truncation is not None:
            raise ValueError("`truncation` cuts back-propagation through time; an MLP has no time axis "
                             f"(got truncation={truncation!r}).")

    def length(self, task: Task) -> int:
        """Return M, the number of hidden layers."""
        return self.model.depth

    def train_batch(self, batch: Batch, update: Update, *, step: int, loss: str | None,
                    truncation: Truncation | None, tracing: bool, probe_always: bool) -> BatchResult:
        """Make the one update of a batch; when tracing, the profile is ‖∂L/∂h_l‖ per hidden layer (K, M)."""
        model = self.model
        trajectory = model(batch.inputs, probe=tracing)
        losses = member_loss(trajectory.outputs, batch, kind=loss)
        context = partial(Context, model=model, params={n: p.detach() for n, p in model.named_parameters()},
                          inputs=batch.inputs)
        measured = update(step, losses, context)
        profile = None
        if tracing:
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in trajectory.probes]
            profile = layer_profile(grads)
        return BatchResult(losses.detach().double(), measured, profile)

    def outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Run the MLP forward (its memory does not grow with a time axis)."""
        return self.model(inputs).outputs

    def memory_wording(self, task: Task, *, phase: str, name: str, batch_size: int,
                       truncation: Truncation | None, smaller: str) -> tuple[str, str]:
        """Name the hidden sizes and the members; suggest a smaller batch, fewer members or narrower layers."""
        model = self.model
        sizes = (f"MLP with hidden sizes {list(model.hidden_sizes)}, {model.num_models} member(s), "
                 f"{name}={batch_size}")
        return sizes, f"Try {smaller}, fewer members or narrower layers."


@singledispatch
def gradient_path(model: Any) -> GradientPath:
    """Return the gradient path of ``model``: :class:`ThroughTime` or :class:`ThroughDepth`.

    Raises:
        TypeError: ``model`` is neither a gradtrace recurrent model nor an MLP.
    """
    raise TypeError(f"`model` must be a gradtrace RecurrentModel or MLP, got {type(model).__name__}.")


gradient_path.register(RecurrentModel, ThroughTime)
gradient_path.register(MLP, ThroughDepth)
