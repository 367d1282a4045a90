"""The instruments: how the gradient travels back along the gradient path, through time or depth.

Everything here computes and returns numbers under stable keys; nothing stores or draws.
"""

from gradtrace.trace.through_time import (
    HORIZON_THRESHOLD,
    Trace,
    decay_rate,
    horizon,
    parameter_grad_norms,
    profile_from_grads,
    trace,
)

__all__ = [
    "HORIZON_THRESHOLD",
    "Trace",
    "decay_rate",
    "horizon",
    "parameter_grad_norms",
    "profile_from_grads",
    "trace",
]
