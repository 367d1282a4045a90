"""Remedies for vanishing and exploding gradients: gradient transforms, penalties and truncation.

A remedy is a pure ``(init, update)`` pair acting on each ensemble member's gradients; compose them
with :func:`chain` and pass them to ``fit(..., remedies=...)``. Truncated BPTT is a property of
the training loop: ``fit(..., truncation=(k1, k2))``.
"""

from gradtrace.errors import check_choice
from gradtrace.remedies.base import Context, GradientTransform, Grads, as_transform, chain, member_norms
from gradtrace.remedies.clipping import adaptive_clip, clip_by_global_norm, clip_by_value
from gradtrace.remedies.penalties import OMEGA_FORMS, OMEGA_REDUCTIONS, pascanu_omega, pascanu_penalty, weight_penalty
from gradtrace.remedies.truncation import LAST_CHUNK, Truncation, Window, as_truncation

__all__ = [
    "LAST_CHUNK",
    "OMEGA_FORMS",
    "OMEGA_REDUCTIONS",
    "REMEDIES",
    "Context",
    "GradientTransform",
    "Grads",
    "Truncation",
    "Window",
    "adaptive_clip",
    "as_transform",
    "as_truncation",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "make_remedy",
    "member_norms",
    "pascanu_omega",
    "pascanu_penalty",
    "weight_penalty",
]

#: Remedy factories by name, for configs.
REMEDIES = {
    "clip_by_global_norm": clip_by_global_norm,
    "clip_by_value": clip_by_value,
    "adaptive_clip": adaptive_clip,
    "pascanu_penalty": pascanu_penalty,
    "weight_penalty": weight_penalty,
}


def make_remedy(name: str, **options) -> GradientTransform:
    """Build a remedy by name: ``make_remedy("clip_by_global_norm", max_norm=1.0)``.

    Raises:
        ValueError: for an unknown name, listing the available ones.
    """
    return REMEDIES[check_choice("remedy", name, REMEDIES, what="remedy")](**options)
