"""What an instrument accepts: a batch that fits the model, finite numbers, and sizes that fit in memory.

A NaN in the inputs would otherwise surface far from its cause (inside the singular value
decomposition of a step Jacobian), and a batch of the wrong width as a shape error of an einsum;
these checks name the argument and the place instead.
"""

from __future__ import annotations

import torch

from gradtrace.memory import check_fits
from gradtrace.models.base import RecurrentModel
from gradtrace.models.mlp import MLP, batch_of_one_message
from gradtrace.tasks.base import Batch

__all__ = ["check_traceable"]

# Tensors of (K, B, T, H) a trace through time holds at once: the states, their probes, the probes'
# gradients and the state gradients of the backward pass, per state (h, and c for an LSTM).
_TIME_BUFFERS_PER_STATE = 4
# Tensors of (K, B, n_l) a trace through depth holds per layer: z, its probe and gradient, u, h,
# its probe and gradient, and one more for the backward pass.
_DEPTH_BUFFERS = 8


def check_traceable(model: RecurrentModel | MLP, batch: Batch, *, jacobians: int = 0) -> None:
    """Raise ``ValueError`` unless ``batch`` fits ``model``, is finite, and the trace fits in memory.

    The model's parameters may hold NaN or infinity (a diverged member): its readings are then NaN,
    recorded like any other.

    Args:
        model: the recurrent model or MLP to trace.
        batch: the batch it is traced on.
        jacobians: how many step (layer) Jacobians per sequence (example) the trace takes; 0 for none.

    Raises:
        ValueError: naming ``batch.inputs``/``batch.targets`` and the expected and received shapes; a
            batch of one example for an MLP with batch norm in training mode (see
            :func:`~gradtrace.models.mlp.batch_of_one_message`); the
            first non-finite value of the batch with its index; or the bytes the trace would need
            when they exceed the device's memory.
    """
    try:
        flat = model.check_inputs(batch.inputs)
    except ValueError as error:
        raise ValueError(f"`batch.inputs` does not fit this {type(model).__name__}: {error}") from None
    # Batch norm would read a batch of one as a vanished gradient (its normalized output is 0).
    if isinstance(model, MLP) and model.batch_norm and model.training and flat.shape[1] == 1:
        raise ValueError(batch_of_one_message("`batch`", batch.inputs))
    _check_targets(model, batch)
    # Non-finite parameters are not refused: a diverged member's trace is data (NaN), recorded like
    # any other reading; a non-finite batch is a mistake in what was passed in.
    _check_finite("`batch.inputs`", batch.inputs)
    if batch.targets.is_floating_point():
        _check_finite("`batch.targets`", batch.targets)
    _check_memory(model, batch, jacobians)


def _check_targets(model: RecurrentModel | MLP, batch: Batch) -> None:
    outputs = model.output_size
    if batch.loss == "cross_entropy":
        low, high = int(batch.targets.min()), int(batch.targets.max())
        if low < 0 or high >= outputs:
            raise ValueError(f"`batch.targets` hold class indices from {low} to {high}, but the model's "
                             f"output_size={outputs} scores classes 0 to {outputs - 1}.")
    elif batch.targets.shape[-1] != outputs:
        raise ValueError(f"`batch.targets` have {batch.targets.shape[-1]} values per step (shape "
                         f"{tuple(batch.targets.shape)}), but the model has output_size={outputs}.")


def _check_finite(label: str, tensor: torch.Tensor) -> None:
    bad = ~torch.isfinite(tensor.detach())
    if not bool(bad.any()):
        return
    index = tuple(int(i) for i in bad.nonzero()[0])
    value = float(tensor.detach()[index])
    count = int(bad.sum())
    raise ValueError(f"{label} holds {value} at index {index}, the first of {count} non-finite "
                     f"value(s) among {tensor.numel()}; a trace needs finite numbers.")


def _check_memory(model: RecurrentModel | MLP, batch: Batch, jacobians: int) -> None:
    K = model.num_models  # noqa: N806
    B, T = batch.batch_size, batch.length  # noqa: N806
    parameter = next(model.parameters())
    itemsize = parameter.element_size()
    if isinstance(model, MLP):
        units = sum(model.hidden_sizes)
        needed = _DEPTH_BUFFERS * K * B * units
        # Each layer Jacobian (K, examples, n_l, n_(l-1)), in the model's dtype and in float64.
        widths = model.hidden_sizes
        needed += 3 * K * min(jacobians, B) * sum(a * b for a, b in zip(widths[1:], widths[:-1], strict=False))
        sizes = {"batch_size": B, "num_models": K, "hidden_sizes": f"{len(widths)} layers, {units} units"}
    else:
        H, S = model.hidden_size, len(model.state_names)  # noqa: N806
        needed = K * B * T * (model.num_gates * H + _TIME_BUFFERS_PER_STATE * S * H + model.output_size)
        # One step Jacobian at a time: (K, B, S·H, S·H), its batched backward as much again.
        needed += 2 * K * B * (S * H) ** 2 if jacobians else 0
        sizes = {"batch_size": B, "length": T, "num_models": K, "hidden_size": H}
    check_fits(needed * itemsize, f"Tracing {type(model).__name__} on this batch", sizes, device=parameter.device)
