"""The instruments: how the gradient travels back along the gradient path, through time or depth.

Everything here computes and returns numbers under stable keys; nothing stores or draws.
"""

from __future__ import annotations

from gradtrace.instruments.dynamics import autonomous_trajectory, largest_lyapunov_exponent
from gradtrace.instruments.through_depth import (
    DEAD_THRESHOLD,
    SATURATION_THRESHOLD,
    DepthTrace,
    activation_stats,
    dead_fraction,
    layer_profile,
    saturated_fraction,
    trace_depth,
)
from gradtrace.instruments.through_time import (
    HORIZON_THRESHOLD,
    Trace,
    decay_rate,
    horizon,
    parameter_grad_norms,
    profile_from_grads,
)
from gradtrace.instruments.through_time import trace as trace_time
from gradtrace.models.base import RecurrentModel
from gradtrace.models.mlp import MLP
from gradtrace.tasks.base import Batch

__all__ = [
    "DEAD_THRESHOLD",
    "HORIZON_THRESHOLD",
    "SATURATION_THRESHOLD",
    "DepthTrace",
    "Trace",
    "activation_stats",
    "autonomous_trajectory",
    "dead_fraction",
    "decay_rate",
    "horizon",
    "largest_lyapunov_exponent",
    "layer_profile",
    "parameter_grad_norms",
    "profile_from_grads",
    "saturated_fraction",
    "trace",
    "trace_depth",
    "trace_time",
]


def trace(model: RecurrentModel | MLP, batch: Batch, **options) -> Trace | DepthTrace:
    """Measure the gradient along the gradient path of ``model`` with one backward pass.

    Through time for a recurrent model (:func:`trace_time`, options ``loss``, ``jacobian_steps``),
    through depth for an MLP (:func:`trace_depth`, options ``loss``, ``jacobian_examples``).

    Raises:
        TypeError: for a model that is neither, naming how to get one.

    Example:
        >>> from gradtrace.models import MLP
        >>> from gradtrace.tasks import Adding
        >>> trace(MLP(2 * 5, [8, 8], 1, seed=0), Adding(5).sample(4, seed=0)).grad_norms.shape
        torch.Size([1, 2])
    """
    if isinstance(model, MLP):
        return trace_depth(model, batch, **options)
    if isinstance(model, RecurrentModel):
        return trace_time(model, batch, **options)
    raise TypeError(f"`model` must be a gradtrace RecurrentModel or MLP, got {type(model).__name__}; "
                    "convert a torch.nn RNN/LSTM/GRU with ElmanRNN/LSTM/GRU.from_torch.")
