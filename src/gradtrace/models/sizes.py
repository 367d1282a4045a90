"""What a model's constructor arguments cost, checked before any parameter is allocated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from gradtrace.errors import describe
from gradtrace.memory import check_fits

__all__ = ["DTYPES", "MAX_DEPTH", "MAX_MODELS", "check_dtype", "check_parameter_memory", "mlp_values",
           "recurrent_values"]

#: The most members one ensemble holds. Members are initialized one after another (about 0.1 ms
#: each for a small network, more for a reservoir), so 10**5 members already take seconds: an
#: ensemble is a set of seeds, tens to thousands, not a batch axis.
MAX_MODELS = 100_000
#: The most hidden layers of an MLP: each is a step of the forward pass in Python and two
#: registered parameters, so a deeper one spends its time in the interpreter, not in arithmetic.
MAX_DEPTH = 10_000
#: Parameter dtypes: the floating types torch's matrix products support on every device.
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_dtype(dtype: object) -> torch.dtype | None:
    """Raise ``TypeError`` unless ``dtype`` is None or one of :data:`DTYPES`; return it."""
    if dtype is None or (isinstance(dtype, torch.dtype) and dtype in DTYPES):
        return dtype
    listed = ", ".join(str(d) for d in DTYPES)
    raise TypeError(f"`dtype` must be None (torch's default) or a floating torch.dtype ({listed}), "
                    f"got {describe(dtype)}.")


def recurrent_values(input_size: int, hidden_size: int, output_size: int, gates: int) -> int:
    """Return how many values one member of a recurrent model holds.

    W_in (G·H, I), W_rec (G·H, H), W_out (O, H), b_out (O), and at most two bias vectors of G·H
    (the GRU keeps its recurrent bias apart).
    """
    width = gates * hidden_size
    return width * (input_size + hidden_size + 2) + output_size * (hidden_size + 1)


def mlp_values(input_size: int, hidden_sizes: Sequence[int], output_size: int, *, batch_norm: bool,
               prelu: bool) -> int:
    """Return how many values one member of an MLP holds, buffers included.

    Each hidden layer: W_l (n_l, n_{l−1}) and b_l; with batch norm gamma, beta and the two running
    statistics; with PReLU a slope per unit. Then W_out (O, n_M) and b_out.
    """
    per_unit = 1 + (4 if batch_norm else 0) + (1 if prelu else 0)
    values, fan_in = 0, input_size
    for n in hidden_sizes:
        values += n * (fan_in + per_unit)
        fan_in = n
    return values + output_size * (fan_in + 1)


def check_parameter_memory(model: str, values_per_member: int, num_models: int, dtype: torch.dtype | None,
                           sizes: Mapping[str, object]) -> None:
    """Raise ``ValueError`` when the K members' parameters cannot fit in memory, before allocating them.

    Args:
        model: the class name, for the message.
        values_per_member: from :func:`recurrent_values` or :func:`mlp_values`.
        num_models: K.
        dtype: the parameters' dtype; None is torch's default dtype.
        sizes: the constructor arguments that set the size, by name, quoted in the message.
    """
    itemsize = (dtype or torch.get_default_dtype()).itemsize
    check_fits(values_per_member * num_models * itemsize, f"The parameters of {model}", sizes)
