"""Gradient clipping, per ensemble member: by global norm, by value, and unit-wise adaptive.

Clipping is the cure for *exploding* gradients: a step along a gradient that has blown up leaves the
region where the loss was measured. It does nothing for vanishing ones. Every clip records the
norm it saw before clipping (``<name>/pre_norm``) and whether it acted (``<name>/fired``, 0 or 1),
and counts its firings in its state.
"""

from __future__ import annotations

import math

import torch

from gradtrace.errors import check_real
from gradtrace.remedies.base import Context, GradientTransform, Grads, member_norms

__all__ = ["adaptive_clip", "clip_by_global_norm", "clip_by_value"]


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape (K,) so it broadcasts over a (K, ...) tensor."""
    return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def _count_init(model) -> torch.Tensor:
    # On the parameters' device: the firings (K,) it counts are computed there.
    device = next(model.parameters()).device
    return torch.zeros(model.num_models, dtype=torch.int64, device=device)


def clip_by_global_norm(max_norm: float) -> GradientTransform:
    """Rescale each member's whole gradient to norm ``max_norm`` when it is larger.

    g ← g · max_norm / ‖g‖ if ‖g‖ > max_norm, with ‖g‖ the L2 norm over every parameter of that
    member. The direction is kept; only the step length is bounded.

    Args:
        max_norm: the threshold, > 0.

    Returns:
        A :class:`GradientTransform` named ``clip_by_global_norm`` with metrics ``pre_norm`` and ``fired``.

    Raises:
        ValueError: if ``max_norm`` is not a positive finite number.

    Example:
        >>> import torch
        >>> from gradtrace.remedies.base import Context
        >>> clip = clip_by_global_norm(1.0)
        >>> grads, _, metrics = clip.update({"W": torch.tensor([[3.0, 4.0]])}, torch.zeros(1), None)
        >>> grads["W"].tolist(), metrics["clip_by_global_norm/pre_norm"].tolist()
        ([[0.6000000238418579, 0.800000011920929]], [5.0])

    References:
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
        arXiv:1211.5063, Algorithm 1.
    """
    max_norm = check_real("max_norm", max_norm, minimum=0.0, exclusive_minimum=True)
    if not math.isfinite(max_norm):
        raise ValueError(f"`max_norm` must be finite, got {max_norm!r}.")

    def update(grads: Grads, state: torch.Tensor, context: Context | None):
        norm = member_norms(grads)
        fired = norm > max_norm
        scale = torch.where(fired, max_norm / norm, torch.ones_like(norm))
        clipped = {name: g * _per_member(scale, g) for name, g in grads.items()}
        return clipped, state + fired.to(state.dtype), {
            "clip_by_global_norm/pre_norm": norm, "clip_by_global_norm/fired": fired.double()}

    return GradientTransform("clip_by_global_norm", _count_init, update, {"max_norm": max_norm})


def clip_by_value(min_value: float, max_value: float) -> GradientTransform:
    """Clamp every gradient component into [min_value, max_value] (the seeds' "valores mínimos e máximos").

    Unlike clipping by norm this changes the gradient's direction; it is the simpler cure the
    course notes describe first.

    Args:
        min_value: lower bound, ≤ 0.
        max_value: upper bound, ≥ 0 and > ``min_value``.

    Returns:
        A :class:`GradientTransform` named ``clip_by_value``; ``fired`` is 1 for a member when any
        component was outside the interval; ``pre_norm`` is the member's norm before clamping.

    Raises:
        ValueError: if the interval is empty or does not contain 0 (it would then push every zero
            gradient away from zero).

    Example:
        >>> import torch
        >>> clip = clip_by_value(-1.0, 1.0)
        >>> clip.update({"W": torch.tensor([[-3.0, 0.5]])}, torch.zeros(1), None)[0]["W"].tolist()
        [[-1.0, 0.5]]
    """
    min_value = check_real("min_value", min_value)
    max_value = check_real("max_value", max_value)
    if not min_value < max_value:
        raise ValueError(
            f"clip_by_value needs min_value < max_value, got min_value={min_value!r}, max_value={max_value!r}."
        )
    if min_value > 0 or max_value < 0:
        raise ValueError(
            f"clip_by_value's interval must contain 0 (min_value ≤ 0 ≤ max_value), got "
            f"[{min_value!r}, {max_value!r}]."
        )

    def update(grads: Grads, state: torch.Tensor, context: Context | None):
        norm = member_norms(grads)
        fired = torch.zeros_like(norm, dtype=torch.bool)
        clipped = {}
        for name, g in grads.items():
            outside = ((g < min_value) | (g > max_value)).flatten(1).any(1)
            fired |= outside.to(fired.device)
            clipped[name] = g.clamp(min_value, max_value)
        return clipped, state + fired.to(state.dtype), {
            "clip_by_value/pre_norm": norm, "clip_by_value/fired": fired.double()}

    return GradientTransform("clip_by_value", _count_init, update,
                             {"min_value": min_value, "max_value": max_value})


def _unit_norms(x: torch.Tensor) -> torch.Tensor:
    """Norm of each unit's incoming weights: a (K, out, in) matrix → (K, out, 1); a (K, n) bias → |x|."""
    if x.dim() <= 2:
        return x.abs()
    return torch.linalg.vector_norm(x, dim=tuple(range(2, x.dim())), keepdim=True)


def adaptive_clip(ratio: float, eps: float = 1e-3) -> GradientTransform:
    """Clip each unit's gradient relative to the size of its weights (unit-wise AGC).

    For every unit i (a row of a weight matrix, an entry of a bias): if
    ‖G_i‖ / max(‖W_i‖, eps) > ratio then G_i ← G_i · ratio · max(‖W_i‖, eps) / ‖G_i‖.
    A gradient that would change a unit's weights by more than ``ratio`` of their size in one
    step is shortened, whatever the other units do.

    Args:
        ratio: the largest allowed ‖G_i‖ / ‖W_i‖, > 0.
        eps: floor on ‖W_i‖, so units with zero weights can still move, > 0.

    Returns:
        A :class:`GradientTransform` named ``adaptive_clip``; ``fired`` is 1 for a member when any
        unit was clipped; ``pre_norm`` is the member's global norm before clipping.

    Raises:
        ValueError: for a ratio or eps that is not positive.

    References:
        Brock, De, Smith & Simonyan 2021, "High-performance large-scale image recognition without
        normalization", arXiv:2102.06171, section 4.1.
    """
    ratio = check_real("ratio", ratio, minimum=0.0, exclusive_minimum=True)
    eps = check_real("eps", eps, minimum=0.0, exclusive_minimum=True)

    def update(grads: Grads, state: torch.Tensor, context: Context):
        if context is None:
            raise ValueError("adaptive_clip needs the parameters: pass a Context with `params`.")
        norm = member_norms(grads)
        fired = torch.zeros_like(norm, dtype=torch.bool)
        clipped = {}
        for name, g in grads.items():
            weight = context.params[name]
            limit = _unit_norms(weight).clamp_min(eps) * ratio
            g_norm = _unit_norms(g)
            over = g_norm > limit
            fired |= over.flatten(1).any(1).to(fired.device)
            scale = torch.where(over, limit / g_norm.clamp_min(torch.finfo(g.dtype).tiny), torch.ones_like(g_norm))
            clipped[name] = g * scale
        return clipped, state + fired.to(state.dtype), {
            "adaptive_clip/pre_norm": norm, "adaptive_clip/fired": fired.double()}

    return GradientTransform("adaptive_clip", _count_init, update, {"ratio": ratio, "eps": eps})
