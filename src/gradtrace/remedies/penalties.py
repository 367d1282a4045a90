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

__all__ = ["OMEGA_FORMS", "OMEGA_REDUCTIONS", "pascanu_omega", "pascanu_penalty", "weight_penalty"]

#: "squared" compares squared norms, Ω_k = (‖g J‖² / ‖g‖² − 1)², as Eq. 10 of Pascanu et al. and their
#: released code do (the form their experiments and their α were run with); "norm" compares norms,
#: Ω_k = (‖g J‖ / ‖g‖ − 1)², as Eq. 9 writes it. Since r² − 1 = (r − 1)(r + 1), near a ratio r = 1
#: the squared form is about 4 times the norm form, and its gradient about 4 times as strong.
OMEGA_FORMS = ("squared", "norm")
#: "mean" averages Ω_k over sequences and kept steps, so the weight does not depend on T (the released
#: code's normalization, which the paper's α was used with); "sum" adds Ω_k over steps as Eq. 9 writes
#: it (averaged over sequences).
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
    form: str = "squared",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Pascanu's regularizer Ω per member and its gradient with respect to W_rec.

    With h_t = φ(a_t), a_t = W_rec h_(t−1) + W_in x_t + b, g_t = ∂E/∂h_t and
    v_t = g_t · ∂h_t/∂h_(t−1) = (g_t ⊙ φ′(a_t)) W_rec, the ratio r_t = ‖v_t‖ / ‖g_t‖ says how much one
    step back changes the gradient's norm, and

        form "squared" (Eq. 10, the authors' code):  Ω = Σ_t ( ‖v_t‖² / ‖g_t‖² − 1 )² = Σ_t (r_t² − 1)²,
        form "norm" (Eq. 9):                          Ω = Σ_t ( ‖v_t‖ / ‖g_t‖ − 1 )²   = Σ_t (r_t − 1)².

    Ω is zero when every step back keeps the gradient's norm. The two agree on where that is; near it
    (r_t² − 1)² = (r_t − 1)² (r_t + 1)² ≈ 4 (r_t − 1)², so the squared form pulls about 4 times as hard
    for the same weight, and it grows as r_t⁴ rather than r_t² when the gradient explodes.

    As in the paper, only the immediate derivative with respect to W_rec is taken: g_t and the step's
    state (here a_t, the paper's x_k) are held constant, so ∂Ω/∂W_rec is a sum of outer products
    u_tᵀ v_t with u_t = g_t ⊙ φ′(a_t). Steps whose ‖g_t‖ is below ``threshold`` times the largest
    ‖g_t‖ of that sequence (vanished gradients, whose ratio is noise) are left out.

    Args:
        W_rec: (K, H, H) recurrent weights.
        pre_activations: (K, B, T, H) a_t.
        state_grads: (K, B, T, H) g_t.
        activation: φ, one of the Elman activations.
        threshold: relative floor on ‖g_t‖ below which a step is masked out.
        reduction: "mean" over sequences and kept steps, or "sum" over steps (mean over sequences);
            see ``OMEGA_REDUCTIONS``.
        form: "squared" (default) or "norm"; see ``OMEGA_FORMS``.

    Returns:
        (omega (K,), grad (K, H, H)), in W_rec's dtype.

    Raises:
        ValueError: for an unknown ``reduction`` or ``form``.

    References:
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
        arXiv:1211.5063, section 3.3, Eq. 9 (the norm form) and Eq. 10 (its immediate derivative with
        respect to W_rec, written with squared norms); the authors' code, github.com/pascanur/trainingRNNs
        (RNN.py), takes the squared form averaged over sequences and non-vanished steps.
    """
    phi = get_activation(activation)
    check_choice("reduction", reduction, OMEGA_REDUCTIONS, what="reduction")
    check_choice("form", form, OMEGA_FORMS, what="form of Ω")
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
    if form == "squared":
        ratio = ratio.square()
    terms = torch.where(keep, (ratio - 1).square(), torch.zeros_like(ratio))
    if reduction == "mean":
        count = keep.sum((1, 2)).clamp_min(1).double()
    else:
        count = torch.full((g.shape[0],), float(g.shape[1]), dtype=torch.float64, device=g.device)
    omega = terms.sum((1, 2)) / count
    # Both forms' dΩ_t/dW are a coefficient times u_tᵀ v_t, since ∂‖v_t‖²/∂W = 2 u_tᵀ v_t:
    #   squared: 2 (r_t² − 1) · 2 u_tᵀ v_t / ‖g_t‖²;   norm: 2 (r_t − 1) · u_tᵀ v_t / (‖g_t‖ ‖v_t‖),
    # where the norm form's step with v_t = 0 (no direction for ‖v_t‖) contributes nothing.
    g_safe = g_norm.clamp_min(tiny)
    if form == "squared":
        coefficient = torch.where(keep, 4 * (ratio - 1) / g_safe / g_safe, torch.zeros_like(ratio))
    else:
        coefficient = torch.where(keep & (v_norm > 0), 2 * (ratio - 1) / (g_safe * v_norm.clamp_min(tiny)),
                                  torch.zeros_like(ratio))
    K, H = u.shape[0], u.shape[-1]  # noqa: N806
    weighted = (coefficient.unsqueeze(-1) * u).reshape(K, -1, H)
    grad = torch.bmm(weighted.transpose(1, 2), v.reshape(K, -1, H)) / count[:, None, None]
    return omega.to(W_rec.dtype), grad.to(W_rec.dtype)


def pascanu_penalty(weight: float, *, form: str = "squared", reduction: str = "mean",
                    threshold: float = HORIZON_THRESHOLD) -> GradientTransform:
    """Add weight · ∂Ω/∂W_rec, Pascanu's regularizer that keeps the gradient's norm through time.

    Clipping stops gradients from exploding; Ω pushes the other way, against vanishing: it rewards a
    W_rec whose Jacobians keep ‖∂E/∂h_t‖ constant as the error goes back in time. It needs ∂E/∂h_t,
    which every gradtrace model measures with its probes. See :func:`pascanu_omega`.

    The defaults are the authors' regularizer, the one their α was tuned with: squared norms
    (Eq. 10 and their code), averaged over sequences and non-vanished steps (their code). With them,
    ``weight`` means what the paper's α means (the released code's default α is 2).
    ``form="norm"`` is Eq. 9 as printed, about 4 times weaker near a ratio of 1 for the same weight;
    ``reduction="sum"`` adds Ω over steps as Eq. 9 writes it, about T times stronger.

    Args:
        weight: α, the penalty's weight, ≥ 0.
        form: "squared" (default, (‖g J‖²/‖g‖² − 1)²) or "norm" ((‖g J‖/‖g‖ − 1)²); see ``OMEGA_FORMS``.
        reduction: "mean" (default) or "sum"; see ``OMEGA_REDUCTIONS``.
        threshold: relative floor on ‖∂E/∂h_t‖ below which a step is masked out.

    Returns:
        A :class:`GradientTransform` named ``pascanu_penalty`` with metric ``omega`` per member.

    Raises:
        TypeError: at the start of training, for a model that is not an ElmanRNN.
        ValueError: for a negative weight, an unknown form or an unknown reduction.

    Example:
        >>> pascanu_penalty(2.0).describe()
        "pascanu_penalty(weight=2.0, form='squared', reduction='mean')"

    References:
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
        arXiv:1211.5063, section 3.3, Eq. 9 and 10; the authors' code, github.com/pascanur/trainingRNNs.
    """
    weight = check_real("weight", weight, minimum=0.0)
    check_choice("form", form, OMEGA_FORMS, what="form of Ω")
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
                                        threshold=threshold, reduction=reduction, form=form)
        updated = dict(grads)
        updated["W_rec"] = grads["W_rec"] + weight * grad
        return updated, state, {"pascanu_penalty/omega": omega.double()}

    return GradientTransform("pascanu_penalty", init, update, {"weight": weight, "form": form, "reduction": reduction})


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
