"""Penalties added to the gradient: Pascanu's Ω, which keeps the gradient's norm through time, and L2.

Both act on the gradient rather than on the loss, so they compose with clipping in any order and
leave the training loop unchanged: the update adds weight · ∂Penalty/∂θ to the loss gradient.
"""

from __future__ import annotations

import torch

from gradtrace.activations import get_activation
from gradtrace.errors import check_choice, check_real, describe
from gradtrace.instruments import HORIZON_THRESHOLD
from gradtrace.models.base import RecurrentModel
from gradtrace.remedies.base import Context, GradientTransform, Grads

__all__ = ["OMEGA_REDUCTIONS", "pascanu_omega", "pascanu_penalty", "weight_penalty"]

#: "mean" averages Ω_k over sequences and kept steps, so the weight does not depend on T;
#: "sum" adds Ω_k over steps as the paper writes it (averaged over sequences).
OMEGA_REDUCTIONS = ("mean", "sum")


def _check_elman(model: RecurrentModel, what: str) -> None:
    from gradtrace.models.elman import ElmanRNN

    if type(model) is not ElmanRNN:
        raise TypeError(
            f"{what} applies to an ElmanRNN (h_t = φ(W_in x_t + W_rec h_(t−1) + b) with a trained W_rec), "
            f"got {type(model).__name__}; gated cells such as LSTM and GRU have no single W_rec Jacobian."
        )


def pascanu_omega(
    W_rec: torch.Tensor,  # noqa: N803
    pre_activations: torch.Tensor,
    state_grads: torch.Tensor,
    *,
    activation: str = "tanh",
    threshold: float = HORIZON_THRESHOLD,
    reduction: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Pascanu's regularizer Ω per member and its gradient with respect to W_rec.

    With h_t = φ(a_t), a_t = W_rec h_(t−1) + W_in x_t + b and g_t = ∂E/∂h_t,

        Ω = Σ_t ( ‖g_t · ∂h_t/∂h_(t−1)‖ / ‖g_t‖ − 1 )²,   g_t · ∂h_t/∂h_(t−1) = (g_t ⊙ φ′(a_t)) W_rec.

    Ω is zero when every step back keeps the gradient's norm. As in the paper, only the immediate
    derivative with respect to W_rec is taken: g_t and the step's state (here a_t, the paper's x_k)
    are held constant, so ∂Ω/∂W_rec is a sum of outer products u_tᵀ v_t with u_t = g_t ⊙ φ′(a_t),
    v_t = u_t W_rec. Steps whose ‖g_t‖ is below ``threshold`` times the largest ‖g_t‖ of that
    sequence (vanished gradients, whose ratio is noise) are left out.

    Args:
        W_rec: (K, H, H) recurrent weights.
        pre_activations: (K, B, T, H) a_t.
        state_grads: (K, B, T, H) g_t.
        activation: φ, one of the Elman activations.
        threshold: relative floor on ‖g_t‖ below which a step is masked out.
        reduction: "mean" over sequences and kept steps, or "sum" over steps (mean over sequences).

    Returns:
        (omega (K,), grad (K, H, H)), in W_rec's dtype.

    References:
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
        arXiv:1211.5063, section 3.3, Eq. 9–10.
    """
    phi = get_activation(activation)
    check_choice("reduction", reduction, OMEGA_REDUCTIONS, what="reduction")
    g = state_grads.double()
    u = g * phi.derivative(pre_activations.double())
    W = W_rec.double()  # noqa: N806
    v = torch.einsum("kbti,kij->kbtj", u, W)
    g_norm = torch.linalg.vector_norm(g, dim=-1)
    v_norm = torch.linalg.vector_norm(v, dim=-1)
    peak = g_norm.amax(-1, keepdim=True)
    keep = (g_norm > 0) & (g_norm >= threshold * peak) & torch.isfinite(g_norm)
    tiny = torch.finfo(torch.float64).tiny
    ratio = v_norm / g_norm.clamp_min(tiny)
    terms = torch.where(keep, (ratio - 1).square(), torch.zeros_like(ratio))
    if reduction == "mean":
        count = keep.sum((1, 2)).clamp_min(1).double()
    else:
        count = torch.full((g.shape[0],), float(g.shape[1]), dtype=torch.float64, device=g.device)
    omega = terms.sum((1, 2)) / count
    # dΩ_t/dW = 2 (r_t − 1) / ‖g_t‖ · u_tᵀ v_t / ‖v_t‖ ; a step with v_t = 0 contributes nothing.
    coefficient = torch.where(keep & (v_norm > 0), 2 * (ratio - 1) / (g_norm.clamp_min(tiny) * v_norm.clamp_min(tiny)),
                              torch.zeros_like(ratio))
    K, H = u.shape[0], u.shape[-1]  # noqa: N806
    weighted = (coefficient.unsqueeze(-1) * u).reshape(K, -1, H)
    grad = torch.bmm(weighted.transpose(1, 2), v.reshape(K, -1, H)) / count[:, None, None]
    return omega.to(W_rec.dtype), grad.to(W_rec.dtype)


def pascanu_penalty(weight: float, *, reduction: str = "mean",
                    threshold: float = HORIZON_THRESHOLD) -> GradientTransform:
    """Add weight · ∂Ω/∂W_rec, Pascanu's regularizer that keeps the gradient's norm through time.

    Clipping stops gradients from exploding; Ω pushes the other way, against vanishing: it rewards a
    W_rec whose Jacobians keep ‖∂E/∂h_t‖ constant as the error goes back in time. It needs ∂E/∂h_t,
    which every gradtrace model measures with its probes. See :func:`pascanu_omega`.

    Args:
        weight: α, the penalty's weight, ≥ 0 (Pascanu et al. used 2 on the temporal order task with
            their reduction).
        reduction: "mean" (default) or "sum"; see ``OMEGA_REDUCTIONS``.
        threshold: relative floor on ‖∂E/∂h_t‖ below which a step is masked out.

    Returns:
        A :class:`GradientTransform` named ``pascanu_penalty`` with metric ``omega`` per member.

    Raises:
        TypeError: at the start of training, for a model that is not an ElmanRNN.
        ValueError: for a negative weight or an unknown reduction.

    References:
        Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, section 3.3.
    """
    weight = check_real("weight", weight, minimum=0.0)
    check_choice("reduction", reduction, OMEGA_REDUCTIONS, what="reduction")
    threshold = check_real("threshold", threshold, minimum=0.0)

    def init(model: RecurrentModel) -> None:
        _check_elman(model, "pascanu_penalty")

    def update(grads: Grads, state: None, context: Context):
        if context is None or context.state_grads is None or context.states is None:
            raise ValueError("pascanu_penalty needs ∂E/∂h_t: pass a Context with `states` and `state_grads`.")
        model = context.model
        _check_elman(model, "pascanu_penalty")
        W_rec = context.params["W_rec"]  # noqa: N806
        with torch.no_grad():
            previous = torch.cat([context.initial_state[0].unsqueeze(2), context.states[:, :, :-1]], dim=2)
            drive = model.project_inputs(model.check_inputs(context.inputs))
            pre = drive + torch.einsum("kbti,kji->kbtj", previous, W_rec)
            omega, grad = pascanu_omega(W_rec, pre, context.state_grads, activation=model.activation,
                                        threshold=threshold, reduction=reduction)
        updated = dict(grads)
        updated["W_rec"] = grads["W_rec"] + weight * grad
        return updated, state, {"pascanu_penalty/omega": omega.double()}

    return GradientTransform("pascanu_penalty", init, update, {"weight": weight, "reduction": reduction})


def weight_penalty(l2: float) -> GradientTransform:
    """Add the gradient of (l2 / 2) · Σ‖W‖² over the weight matrices W_in, W_rec and W_out (the seeds' "penalidades").

    Biases are not penalized. Weight decay keeps weights, and with them W_rec's spectral radius,
    from growing; it cannot by itself stop a gradient from vanishing.

    Args:
        l2: the penalty coefficient, ≥ 0.

    Returns:
        A :class:`GradientTransform` named ``weight_penalty`` with metric ``penalty`` per member.

    Raises:
        ValueError: for a negative coefficient.
    """
    l2 = check_real("l2", l2, minimum=0.0)

    def init(model: RecurrentModel) -> None:
        names = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("W_")]
        if not names:
            raise TypeError(f"weight_penalty found no trained weight matrix (W_*) in {describe(model)}.")

    def update(grads: Grads, state: None, context: Context):
        if context is None:
            raise ValueError("weight_penalty needs the parameters: pass a Context with `params`.")
        updated = dict(grads)
        penalty = None
        for name, g in grads.items():
            if name.startswith("W_"):
                w = context.params[name]
                updated[name] = g + l2 * w
                term = 0.5 * l2 * w.detach().flatten(1).double().square().sum(1)
                penalty = term if penalty is None else penalty + term
        if penalty is None:
            device = next(iter(grads.values())).device if grads else None
            penalty = torch.zeros(context.model.num_models, dtype=torch.float64, device=device)
        return updated, state, {"weight_penalty/penalty": penalty}

    return GradientTransform("weight_penalty", init, update, {"l2": l2})
