"""The updates of one batch through a recurrent model: its truncation windows, one update each.

Without truncation one window covers the whole sequence (full BPTT, one update). With
``truncation=(k1, k2)`` each chunk of k1 steps that has scored steps makes one update, back-propagated
k2 steps, the hidden state carried forward detached between chunks (see
:class:`~gradtrace.remedies.Truncation`, whose ``last`` says how a last chunk shorter than k1 is
back-propagated; a window that starts before its chunk re-runs those steps with the current weights).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch

from gradtrace.instruments import profile_from_grads
from gradtrace.models.base import RecurrentModel, Trajectory
from gradtrace.remedies import Context, Truncation, Window
from gradtrace.tasks.base import Batch, member_loss

__all__ = ["BatchResult", "Update", "chunk", "train_windows"]

#: One update: ``update(step, losses (K,), context) -> measurements``, each (K,); ``context()`` builds
#: what the remedies see of the window, once its backward pass has run.
Update = Callable[[int, torch.Tensor, Callable[[], Context]], dict[str, torch.Tensor]]


class BatchResult(NamedTuple):
    """What one batch's updates measured."""

    #: (K,) float64, the batch's mean loss per member.
    loss: torch.Tensor
    #: The updates' measurements by key, each (K,), averaged over the batch's updates.
    measured: dict[str, torch.Tensor]
    #: ‖∂L/∂h_i‖ along the gradient path (K, T or M) when the step keeps a trace, else None.
    profile: torch.Tensor | None


def chunk(batch: Batch, start: int, end: int) -> Batch | None:
    """Return the steps [start, end) of ``batch``, or None when none of them is scored."""
    time_axis = batch.mask.dim() - 1
    mask = batch.mask.narrow(time_axis, start, end - start)
    if not bool(mask.any()):
        return None
    return Batch(inputs=batch.inputs[..., start:end, :], targets=batch.targets.narrow(time_axis, start, end - start),
                 mask=mask, loss=batch.loss)


def train_windows(model: RecurrentModel, batch: Batch, update: Update, *, step: int, loss: str | None,
                  truncation: Truncation | None, tracing: bool, probe_always: bool = False) -> BatchResult:
    """Run the updates of one batch, one per window; return the loss, the mean measurements and the trace.

    Each window runs forward from the detached state entering its first back-propagated step; the
    states entering later windows are kept (detached copies, (K, B, H) each) as the windows pass them.
    The windows' probes measure ∂L/∂h_t when tracing or when ``probe_always`` (remedies read it).
    Where the windows' reaches do not overlap (full BPTT, k2 ≤ k1) each window's profile is taken
    from its own probes; where they do, ∂L/∂h_t is summed over the windows into a (K, B, T, H) buffer
    first.

    Args:
        model: the recurrent model, K members.
        batch: inputs (K, B, T, input_size) or (B, T, input_size), targets and mask.
        update: makes one update from a window's losses (see :data:`Update`).
        step: the training step, passed to ``update``.
        loss: the loss kind (None: the batch's).
        truncation: the windows; None is one window over the whole sequence.
        tracing: whether to measure the profile ‖∂L/∂h_t‖ (K, T).
        probe_always: put probes on the states even when not tracing (the remedies read ∂L/∂h_t).

    Returns:
        The :class:`BatchResult`; its loss is the mean over the scored steps of every window.
    """
    K, T, B = model.num_models, batch.length, batch.batch_size  # noqa: N806
    windows, needed = _plan(truncation, T)
    inputs = batch.inputs if batch.inputs.dim() == 4 else batch.inputs.expand(K, *batch.inputs.shape)
    entering: dict[int, tuple[torch.Tensor, ...]] = {0: model.initial_state(B)}
    trace = _Trace(model, windows, B, T) if tracing else None
    totals = _Totals(K, model.W_rec.device)
    for window in windows:
        c, g, e = window.chunk_start, window.grad_start, window.end
        part = chunk(batch, c, e)
        start_state, prefix_states = _enter(model, inputs, window, entering)
        with torch.set_grad_enabled(part is not None):
            trajectory = model(inputs[..., g:e, :], start_state, probe=part is not None and (tracing or probe_always))
        _keep_entering(model, trajectory, entering, needed, g, e)
        if part is None:
            continue
        losses = member_loss(_window_outputs(model, trajectory, prefix_states, c, g), part, kind=loss)
        measured = update(step, losses, partial(_context, model, inputs[..., g:e, :], start_state, trajectory))
        if trace is not None:
            trace.add(trajectory, g, e)
        totals.add(losses, part, measured)
        del trajectory, losses  # free this window's buffers before the next one's forward
    return BatchResult(*totals.means(), trace.profile() if trace is not None else None)


def _plan(truncation: Truncation | None, length: int) -> tuple[list[Window], set[int]]:
    """Return the windows over ``length`` steps and the steps whose entering state a window starts from."""
    windows = truncation.windows(length) if truncation is not None else [Window(0, 0, length)]
    needed = {w.grad_start for w in windows} | {w.chunk_start for w in windows} | {length}
    return windows, needed


def _enter(model: RecurrentModel, inputs: torch.Tensor, window: Window,
           entering: dict[int, tuple[torch.Tensor, ...]]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Return the state entering the window's back-propagated steps and, when k2 < k1, the states before them.

    The chunk's first steps (``chunk_start`` to ``grad_start``) are outside the gradient's reach: they
    run without gradient, and the state they end in is kept for the window.
    """
    c, g = window.chunk_start, window.grad_start
    start_state = entering[min(c, g)]
    if g <= c:
        return start_state, None
    with torch.no_grad():
        prefix = model(inputs[..., c:g, :], start_state)
    entering[g] = tuple(s.detach() for s in prefix.final_state)
    return entering[g], prefix.states


def _keep_entering(model: RecurrentModel, trajectory: Trajectory, entering: dict[int, tuple[torch.Tensor, ...]],
                   needed: set[int], start: int, end: int) -> None:
    """Keep the states a later window enters from, as the window from ``start`` to ``end`` passes them."""
    for t in needed:
        if start < t <= end and t not in entering:
            # A copy: a view would keep the window's whole state buffer alive until the batch ends.
            entering[t] = tuple(s.clone() for s in model.state_at(trajectory, t - 1 - start))


def _window_outputs(model: RecurrentModel, trajectory: Trajectory, prefix_states: torch.Tensor | None,
                    chunk_start: int, grad_start: int) -> torch.Tensor:
    """Return the outputs of the chunk's steps: those of the prefix and the window, cut to the chunk."""
    outputs = trajectory.outputs
    if model.readout != "all":
        return outputs
    if prefix_states is not None:
        return torch.cat([model.read_out(prefix_states), outputs], dim=2)
    if grad_start < chunk_start:
        return outputs[:, :, chunk_start - grad_start:]
    return outputs


def _context(model: RecurrentModel, inputs: torch.Tensor, start_state: tuple[torch.Tensor, ...],
             trajectory: Trajectory) -> Context:
    """What a remedy sees of one window, after its backward pass (when ∂E/∂h_t exists)."""
    probes = trajectory.probes
    return Context(model=model, params={n: p.detach() for n, p in model.named_parameters()}, inputs=inputs,
                   initial_state=tuple(s.detach() for s in start_state), states=trajectory.states.detach(),
                   state_grads=probes.grad[0] if probes is not None and probes.grad is not None else None)


class _Trace:
    """‖∂L/∂h_t‖ (K, T) of one batch, gathered from its windows' probes.

    Where the windows' reaches do not overlap each window's profile is its own; where they do, a state's
    gradient is the sum of the windows' that reach it, so ∂L/∂h_t (K, B, T, H) is summed first.
    """

    def __init__(self, model: RecurrentModel, windows: list[Window], batch_size: int, length: int):
        overlapping = any(later.grad_start < earlier.end for earlier, later in zip(windows, windows[1:]))
        weight = model.W_rec
        self.state_grads = (weight.new_zeros(model.num_models, batch_size, length, model.hidden_size)
                            if overlapping else None)
        self._profile = torch.zeros(model.num_models, length, dtype=weight.dtype, device=weight.device)

    def add(self, trajectory: Trajectory, start: int, end: int) -> None:
        """Take the probes' gradients of the window from ``start`` to ``end``, after its backward pass."""
        grads = trajectory.probes.grad if trajectory.probes is not None else None
        if grads is None:
            return
        if self.state_grads is not None:
            self.state_grads[:, :, start:end] += grads[0]
        else:
            self._profile[:, start:end] = profile_from_grads(grads[0])

    def profile(self) -> torch.Tensor:
        """Return ‖∂L/∂h_t‖ (K, T)."""
        return profile_from_grads(self.state_grads) if self.state_grads is not None else self._profile


class _Totals:
    """The batch's loss weighted by each window's scored steps, and the sum of the updates' measurements."""

    def __init__(self, num_models: int, device: torch.device):
        self.loss_sum = torch.zeros(num_models, dtype=torch.float64, device=device)
        self.weight_sum = torch.zeros(num_models, dtype=torch.float64, device=device)
        self.measured_sum: dict[str, torch.Tensor] = {}
        self.updates = 0

    def add(self, losses: torch.Tensor, part: Batch, measured: dict[str, torch.Tensor]) -> None:
        weight = part.mask.flatten(1).sum(1).double()
        self.loss_sum += losses.detach().double() * weight
        self.weight_sum += weight
        for key, value in measured.items():
            self.measured_sum[key] = self.measured_sum.get(key, 0) + value
        self.updates += 1

    def means(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        measured = {key: value / max(self.updates, 1) for key, value in self.measured_sum.items()}
        return self.loss_sum / self.weight_sum, measured
