"""The gradient path of an Elman RNN measured three ways: one backward pass, the course's equations, one
autograd call per step; and ∂L/∂W_rec as a sum over time, checked against finite differences.

The network is h_t = tanh(W_in x_t + W_rec h_{t−1} + b), ŷ_t = W_out h_t + b_out, with h_0 = 0 and the cost
L = mean over the scored steps of ½(ŷ_t − y_t)². Back-propagation through time reads

    δ_t = ∂L/∂h_t = W_outᵀ ∂L/∂ŷ_t  +  W_recᵀ (tanh′_{t+1} ⊙ δ_{t+1}),        δ_{T+1} = 0,
    ∂L/∂W_rec = Σ_t (tanh′_t ⊙ δ_t) h_{t−1}ᵀ,

the first term of δ_t being the error of step t itself (zero at every step but T when only the last step
is scored) and the second what comes back from step t + 1. Everything here computes; nothing stores or draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradtrace.errors import check_real
from gradtrace.models import ElmanRNN
from gradtrace.tasks import Batch, member_loss

__all__ = ["Backward", "by_autograd_per_step", "by_equations", "by_probes", "relative_difference",
           "w_rec_by_finite_differences"]


@dataclass(frozen=True)
class Backward:
    """One backward pass through time written out, step by step.

    Attributes:
        delta: (K, B, T, H) δ_t = ∂L/∂h_t, the total derivative.
        own: (K, B, T, H) W_outᵀ ∂L/∂ŷ_t, what step t's own error puts on h_t.
        carried: (K, B, T, H) W_recᵀ (tanh′_{t+1} ⊙ δ_{t+1}), what comes back from step t + 1.
        w_rec_terms: (K, T, H, H) step t's term (tanh′_t ⊙ δ_t) h_{t−1}ᵀ of ∂L/∂W_rec, summed over sequences.
    """

    delta: torch.Tensor
    own: torch.Tensor
    carried: torch.Tensor
    w_rec_terms: torch.Tensor


def _check(model: ElmanRNN, batch: Batch) -> None:
    if not isinstance(model, ElmanRNN) or model.activation != "tanh":
        shown = f"{type(model).__name__}(activation={getattr(model, 'activation', None)!r})"
        raise TypeError(f"`model` must be a tanh ElmanRNN (the course's network), got {shown}.")
    if not isinstance(batch, Batch) or batch.inputs.dim() != 3:
        shown = tuple(batch.inputs.shape) if isinstance(batch, Batch) else type(batch).__name__
        raise ValueError(f"`batch` must be a Batch of inputs (B, T, input_size) shared by every member, got {shown}.")


def _per_step_outputs(model: ElmanRNN, states: torch.Tensor) -> torch.Tensor:
    """Read ŷ_t out of every state (K, B, T, H) → (K, B, T, O), or of the last one with readout "last"."""
    if model.readout == "last":
        return torch.einsum("kbh,koh->kbo", states[:, :, -1], model.W_out) + model.b_out[:, None]
    return torch.einsum("kbth,koh->kbto", states, model.W_out) + model.b_out[:, None, None]


def by_probes(model: ElmanRNN, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Return δ_t for every step and ∂L/∂W_rec from gradtrace's one backward pass.

    A zero probe is added to every h_t; one ``autograd.grad`` call returns the probes' gradients, which are
    the total derivatives ∂L/∂h_t, and the gradient of W_rec with them.

    Args:
        model: a tanh :class:`~gradtrace.models.ElmanRNN` with K members.
        batch: inputs (B, T, input_size), targets and mask, with the loss kind of the cost.

    Returns:
        (δ (K, B, T, H), ∂L/∂W_rec (K, H, H)).

    Raises:
        TypeError: for a model that is not a tanh ElmanRNN.
        ValueError: for a batch whose inputs carry a member axis.
    """
    _check(model, batch)
    with torch.enable_grad():
        trajectory = model(batch.inputs, probe=True)
        loss = member_loss(trajectory.outputs, batch)
        probes, w_rec = torch.autograd.grad(loss.sum(), [trajectory.probes, model.W_rec])
    return probes[0], w_rec


def by_equations(model: ElmanRNN, batch: Batch) -> Backward:
    """Run back-propagation through time as the course writes it, one step at a time, without autograd.

    Args:
        model: a tanh :class:`~gradtrace.models.ElmanRNN` (readout "last" or "all").
        batch: as for :func:`by_probes`; its loss must be "half_mse" (the course's ½(ŷ − y)²).

    Returns:
        A :class:`Backward`.

    Raises:
        TypeError: for a model that is not a tanh ElmanRNN.
        ValueError: for a batch whose loss is not "half_mse", or whose inputs carry a member axis.
    """
    _check(model, batch)
    if batch.loss != "half_mse":
        raise ValueError(f"`batch.loss` must be 'half_mse' (the cost ½(ŷ−y)²), got {batch.loss!r}.")
    with torch.no_grad():
        trajectory = model(batch.inputs)
        h = trajectory.states  # (K, B, T, H)
        outputs = trajectory.outputs
        if model.readout == "last":  # only ŷ_T exists; the other steps carry no error
            last = outputs
            outputs = h.new_zeros(*h.shape[:-1], model.output_size)
            outputs[:, :, -1] = last
        mask = batch.mask.to(h.dtype)
        scored = mask.sum() * model.output_size  # L averages ½(ŷ − y)² over scored steps and outputs
        error = (outputs - batch.targets.to(h.dtype)) * mask[..., None] / scored  # ∂L/∂ŷ_t
        own = torch.einsum("kbto,koh->kbth", error, model.W_out)
        slope = 1 - h.square()  # tanh′ read off h_t = tanh(a_t)
        delta, carried = torch.zeros_like(h), torch.zeros_like(h)
        steps = h.shape[2]
        delta[:, :, -1] = own[:, :, -1]
        for t in range(steps - 2, -1, -1):
            carried[:, :, t] = torch.einsum("kbi,kij->kbj", slope[:, :, t + 1] * delta[:, :, t + 1], model.W_rec)
            delta[:, :, t] = own[:, :, t] + carried[:, :, t]
        previous = torch.cat([torch.zeros_like(h[:, :, :1]), h[:, :, :-1]], dim=2)  # h_{t−1}, h_0 = 0
        terms = torch.einsum("kbti,kbtj->ktij", slope * delta, previous)
    return Backward(delta, own, carried, terms)


def by_autograd_per_step(model: ElmanRNN, batch: Batch) -> torch.Tensor:
    """Return ∂L/∂h_t with one autograd call per step: the reference the one-pass methods must equal.

    For each t the network is unrolled again from the parameters with a zero ε added to h_t alone, and
    ∂L/∂ε is taken: the total derivative of L with respect to h_t, by definition. T calls of a T-step graph,
    so O(T²): a check, not a method.

    Args:
        model: a tanh :class:`~gradtrace.models.ElmanRNN`.
        batch: as for :func:`by_probes`.

    Returns:
        (K, B, T, H).

    Raises:
        TypeError, ValueError: as :func:`by_probes`.
    """
    _check(model, batch)
    steps, members = batch.length, model.num_models
    inputs = batch.inputs.to(model.W_rec.dtype)
    columns = []
    with torch.enable_grad():
        drives = torch.einsum("bti,kgi->kbtg", inputs, model.W_in) + model.b[:, None, None, :]
        for marked in range(steps):
            epsilon = model.W_rec.new_zeros(members, batch.batch_size, model.hidden_size, requires_grad=True)
            h = model.W_rec.new_zeros(members, batch.batch_size, model.hidden_size)
            states = []
            for t in range(steps):
                h = torch.tanh(drives[:, :, t] + torch.einsum("kbj,kij->kbi", h, model.W_rec))
                if t == marked:
                    h = h + epsilon
                states.append(h)
            loss = member_loss(_per_step_outputs(model, torch.stack(states, 2)), batch)
            columns.append(torch.autograd.grad(loss.sum(), epsilon, retain_graph=True)[0])
    return torch.stack(columns, 2)


def w_rec_by_finite_differences(model: ElmanRNN, batch: Batch, step: float) -> torch.Tensor:
    """Return ∂L/∂W_rec by central differences, (L(W + s e_ij) − L(W − s e_ij)) / 2s for every entry.

    Every member's entry (i, j) moves at once: each member's loss depends on its own weights only. Each entry
    is put back as it was before the next moves.

    Args:
        model: a tanh :class:`~gradtrace.models.ElmanRNN`.
        batch: as for :func:`by_probes`.
        step: the step s > 0.

    Returns:
        (K, H, H).

    Raises:
        TypeError, ValueError: as :func:`by_probes`; ValueError also for a step that is not positive.
    """
    _check(model, batch)
    step = check_real("step", step, minimum=0.0, exclusive_minimum=True)
    weights = model.W_rec
    estimate = torch.zeros_like(weights)
    with torch.no_grad():
        for i in range(weights.shape[1]):
            for j in range(weights.shape[2]):
                kept = weights[:, i, j].clone()
                weights[:, i, j] = kept + step
                above = member_loss(model(batch.inputs).outputs, batch)
                weights[:, i, j] = kept - step
                below = member_loss(model(batch.inputs).outputs, batch)
                weights[:, i, j] = kept
                estimate[:, i, j] = (above - below) / (2 * step)
    return estimate


def relative_difference(measured: torch.Tensor, reference: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Return ‖measured − reference‖ / ‖reference‖ with the norm over ``dims`` (the rest kept)."""
    return (torch.linalg.vector_norm(measured - reference, dim=dims)
            / torch.linalg.vector_norm(reference, dim=dims))
