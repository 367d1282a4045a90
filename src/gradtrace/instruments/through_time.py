"""The instruments: how the gradient travels back along the gradient path of a recurrent network.

Everything here computes and returns numbers under stable keys; nothing stores or draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradtrace.errors import check_int, check_real
from gradtrace.init import spectral_radius, top_singular_value
from gradtrace.instruments.inputs import check_traceable
from gradtrace.models.base import RecurrentModel
from gradtrace.models.elman import ElmanRNN
from gradtrace.tasks.base import Batch, member_loss

__all__ = [
    "HORIZON_THRESHOLD",
    "Trace",
    "decay_rate",
    "horizon",
    "parameter_grad_norms",
    "profile_from_grads",
    "trace",
]

#: A gradient that falls this far below its peak no longer teaches anything (float32 epsilon ≈ 1e-7).
HORIZON_THRESHOLD = 1e-6


def profile_from_grads(grads: torch.Tensor) -> torch.Tensor:
    """Reduce ∂L/∂h_t of shape (K, B, T, H) to its norm over sequences and units: (K, T)."""
    return torch.linalg.vector_norm(grads, dim=(1, 3))


def decay_rate(profile: torch.Tensor) -> torch.Tensor:
    """Return the factor by which the gradient is multiplied per step back: (K, T) → (K,).

    It is exp(−slope) of the least-squares line through log‖∂L/∂h_t‖ against t, over the finite,
    positive points. Below 1 the gradient vanishes geometrically going back in time; above 1 it
    explodes. NaN where fewer than two points are usable.

    Example:
        >>> t = torch.arange(10.0)
        >>> round(float(decay_rate((0.5 ** (9 - t))[None])[0]), 6)
        0.5
    """
    profile = profile.double()
    steps = torch.arange(profile.shape[-1], dtype=torch.float64)
    valid = torch.isfinite(profile) & (profile > 0)
    weight = valid.double()
    logs = torch.where(valid, profile.clamp_min(1e-300).log(), torch.zeros_like(profile))
    count = weight.sum(-1)
    mean_t = (weight * steps).sum(-1) / count
    mean_y = (weight * logs).sum(-1) / count
    dt = (steps - mean_t[..., None]) * weight
    slope = (dt * (logs - mean_y[..., None])).sum(-1) / dt.square().sum(-1)
    rate = torch.exp(-slope)
    return torch.where(count >= 2, rate, torch.full_like(rate, float("nan")))


def horizon(profile: torch.Tensor, threshold: float = HORIZON_THRESHOLD) -> torch.Tensor:
    """Return how many steps back from the last the gradient travels before it falls below
    ``threshold`` × its running peak: (K, T) → (K,) integers in [1, T], or −1 where not measured.

    T means it reaches the first step. A short horizon on a task whose answer lies further back
    means the network cannot learn that dependency by gradient descent. A member whose profile holds
    no finite value (a model with NaN weights, whose every gradient is NaN) was not measured: −1,
    never a horizon it did not show.

    Example:
        >>> horizon(torch.tensor([[1e-9, 1e-7, 1e-3, 1.0]]))
        tensor([2])
    """
    threshold = check_real("threshold", threshold, minimum=0.0, exclusive_minimum=True)
    back = profile.flip(-1).double()
    finite = torch.nan_to_num(back, nan=0.0, posinf=float("inf"))
    peak = finite.cummax(-1).values
    below = finite < threshold * peak
    steps = back.shape[-1]
    first = torch.where(below, torch.arange(steps).expand_as(below), torch.full_like(below, steps, dtype=torch.long))
    measured = torch.isfinite(back).any(-1)
    return torch.where(measured, first.amin(-1), torch.full_like(first[..., 0], -1))


def finite_members(model: torch.nn.Module) -> torch.Tensor:
    """Return (K,) whether every parameter of each member of an ensemble ``model`` is finite."""
    ok = None
    for param in model.parameters():
        member_ok = torch.isfinite(param.detach()).flatten(1).all(1)
        ok = member_ok if ok is None else ok & member_ok
    return ok


def per_finite_member(reading, weight: torch.Tensor) -> torch.Tensor:
    """Apply a spectral ``reading`` to each member's ``weight`` (K, ...) → (K,), NaN for a non-finite member.

    The decompositions refuse (or crash on) a NaN anywhere in the stack; a diverged member's reading is
    NaN instead, and the others are measured.
    """
    ok = torch.isfinite(weight).flatten(1).all(1)
    values = reading(torch.where(ok.view(-1, *[1] * (weight.dim() - 1)), weight, torch.zeros_like(weight)))
    return torch.where(ok, values, torch.full_like(values, float("nan")))


def parameter_grad_norms(model: torch.nn.Module,
                         grads: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Return ‖∂L/∂θ‖ per member for each parameter (K,), from ``grads`` or the parameters' ``.grad``."""
    norms = {}
    for name, param in model.named_parameters():
        grad = grads.get(name) if grads is not None else param.grad
        if grad is not None:
            norms[name] = torch.linalg.vector_norm(grad.detach().flatten(1), dim=1)
    return norms


@dataclass(frozen=True)
class Trace:
    """The gradient along the time axis of every member of an ensemble.

    Attributes:
        grad_norms: (K, T) ‖∂L/∂h_t‖, norm over the batch and the hidden units.
        cell_grad_norms: (K, T) ‖∂L/∂c_t‖ for an LSTM, else None.
        loss: (K,) the loss of each member on the batch.
        decay_rate: (K,) factor per step back (see :func:`decay_rate`).
        horizon: (K,) steps back before the gradient falls 1e-6 below its peak (see :func:`horizon`).
        spectral_radius: (K,) ρ(W_rec), None for gated models whose W_rec is not square.
        top_singular_value: (K,) largest singular value of W_rec.
        jacobian_steps: the steps t at which ∂s_t/∂s_{t−1} was taken.
        jacobian_singular_values: (K, len(jacobian_steps), S), singular values in decreasing order,
            averaged over the batch.
        param_grad_norms: ‖∂L/∂θ‖ per member, (K,) for each parameter name.
    """

    grad_norms: torch.Tensor
    cell_grad_norms: torch.Tensor | None
    loss: torch.Tensor
    decay_rate: torch.Tensor
    horizon: torch.Tensor
    spectral_radius: torch.Tensor | None
    top_singular_value: torch.Tensor
    jacobian_steps: tuple[int, ...]
    jacobian_singular_values: torch.Tensor
    param_grad_norms: dict[str, torch.Tensor]

    @property
    def num_models(self) -> int:
        """Ensemble size K."""
        return self.grad_norms.shape[0]

    @property
    def by_lag(self) -> torch.Tensor:
        """(K, T) ‖∂L/∂h_{T−1−k}‖ against the lag k (k = 0 is the last step)."""
        return self.grad_norms.flip(-1)

    def summary(self) -> dict[str, torch.Tensor]:
        """Return the scalar readings per member under their metric keys, each (K,)."""
        out = {
            "trace/loss": self.loss,
            "trace/decay_rate": self.decay_rate,
            "trace/horizon": self.horizon,
            "trace/top_singular_value": self.top_singular_value,
            "trace/first_step_grad": self.grad_norms[:, 0],
            "trace/last_step_grad": self.grad_norms[:, -1],
        }
        if self.spectral_radius is not None:
            out["trace/spectral_radius"] = self.spectral_radius
        for name, value in self.param_grad_norms.items():
            out[f"grad/{name}"] = value
        return out


def finite_svdvals(matrices: torch.Tensor) -> torch.Tensor:
    """Return the singular values of a stack of matrices (…, m, n), NaN for a matrix that is not finite.

    A diverged member's Jacobian holds NaN or infinity, where the decomposition would fail for the
    whole stack; its reading is NaN instead, like the rest of its trace.
    """
    finite = torch.isfinite(matrices).all(-1).all(-1)
    values = torch.linalg.svdvals(torch.where(finite[..., None, None], matrices, torch.zeros_like(matrices)))
    return torch.where(finite[..., None], values, torch.full_like(values, float("nan")))


def _jacobian_steps(length: int, count: int) -> tuple[int, ...]:
    if length < 2 or count == 0:
        return ()
    picks = torch.linspace(1, length - 1, min(count, length - 1)).round().long().tolist()
    return tuple(sorted(set(picks)))


def trace(model: RecurrentModel, batch: Batch, *, loss: str | None = None,
          jacobian_steps: int = 3) -> Trace:
    """Measure the gradient at every step of the gradient path with one backward pass.

    A zero probe is added to every hidden (and cell) state; the gradient of the summed member
    losses with respect to the probes is ∂L_k/∂h_t for every member k and step t. The model's
    ``.grad`` fields are left untouched.

    Args:
        model: a gradtrace recurrent model (an ensemble of K).
        batch: inputs (B, T, input_size) or (K, B, T, input_size) with targets and mask.
        loss: the loss kind, default ``batch.loss`` ("half_mse" is the seeds' ½(ŷ−y)²).
        jacobian_steps: how many steps to take the step Jacobian ∂s_t/∂s_{t−1} at (0 for none).

    Returns:
        A :class:`Trace`.

    Raises:
        TypeError: for a model or batch of the wrong type.
        ValueError: for a batch that does not fit the model, a non-finite input or target (naming it
            and where), or a trace that cannot fit in memory (see
            :func:`~gradtrace.instruments.inputs.check_traceable`).

    A member whose weights hold NaN or infinity (one frozen after diverging, or set by hand) is not an
    error: like a non-finite gradient it is data to record. Its readings are NaN (its ``horizon`` −1,
    "not measured") while the other members are measured as usual.

    Example:
        >>> from gradtrace.models import ElmanRNN
        >>> from gradtrace.tasks import Adding
        >>> tr = trace(ElmanRNN(2, 16, 1, seed=0), Adding(30).sample(8, seed=0))
        >>> tr.grad_norms.shape
        torch.Size([1, 30])

    References:
        Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, section 2 (the gradient as a sum over
        lags of products of Jacobians).
    """
    if not isinstance(model, RecurrentModel):
        raise TypeError(f"`model` must be a gradtrace RecurrentModel, got {type(model).__name__}; "
                        "convert a torch.nn module with ElmanRNN/LSTM/GRU.from_torch.")
    if not isinstance(batch, Batch):
        raise TypeError(f"`batch` must be a gradtrace Batch, got {type(batch).__name__}.")
    jacobian_steps = check_int("jacobian_steps", jacobian_steps, minimum=0)
    check_traceable(model, batch, jacobians=jacobian_steps)
    names = [name for name, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    with torch.enable_grad():
        trajectory = model(batch.inputs, probe=True)
        losses = member_loss(trajectory.outputs, batch, kind=loss)
        grads = torch.autograd.grad(losses.sum(), [trajectory.probes, *params], allow_unused=True)
    probe_grads, param_grads = grads[0], grads[1:]
    profiles = [profile_from_grads(g) for g in probe_grads]
    steps = _jacobian_steps(batch.length, jacobian_steps)
    singular = [finite_svdvals(model.step_jacobian(batch.inputs, trajectory, t)).mean(1) for t in steps]
    W_rec = model.W_rec.detach()  # noqa: N806
    singular_values = (torch.stack(singular, 1) if singular
                       else W_rec.new_zeros(model.num_models, 0, 0))
    return Trace(
        grad_norms=profiles[0],
        cell_grad_norms=profiles[1] if len(profiles) > 1 else None,
        loss=losses.detach(),
        decay_rate=decay_rate(profiles[0]),
        horizon=horizon(profiles[0]),
        spectral_radius=per_finite_member(spectral_radius, W_rec) if isinstance(model, ElmanRNN) else None,
        top_singular_value=per_finite_member(top_singular_value, W_rec),
        jacobian_steps=steps,
        jacobian_singular_values=singular_values,
        param_grad_norms=parameter_grad_norms(
            model, {n: g for n, g in zip(names, param_grads) if g is not None}),
    )
