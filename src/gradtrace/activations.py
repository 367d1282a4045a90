"""Activation functions with the facts about their derivatives that bound the gradient.

The gradient through one step or layer is multiplied by the activation's derivative, so its
maximum sets the envelope of the chain-rule product: σ′ ≤ 1/4 makes a sigmoid network's gradient
shrink at least by 4 per layer unless the weights make up for it, so over M layers by 0.25^M.
ReLU's derivative is exactly 1 where the unit is active, which keeps the product from shrinking,
and exactly 0 where it is not, which can kill a unit for good; Leaky ReLU, PReLU and GELU keep a
little gradient on the negative side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gradtrace.errors import check_choice

__all__ = [
    "ACTIVATIONS",
    "LEAKY_RELU_SLOPE",
    "PRELU_INITIAL_SLOPE",
    "Activation",
    "gelu",
    "gelu_derivative",
    "get_activation",
    "prelu",
    "prelu_derivative",
]

#: The negative-side slope of Leaky ReLU (Maas, Hannun & Ng 2013 use 0.01).
LEAKY_RELU_SLOPE = 0.01
#: The starting slope of PReLU's learnable negative side (He et al. 2015, arXiv:1502.01852, use 0.25).
PRELU_INITIAL_SLOPE = 0.25

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    """A named activation: its function, derivative and the derivative's supremum.

    Attributes:
        name: registry name.
        fn: elementwise function of the pre-activation.
        derivative: elementwise derivative, as a function of the pre-activation.
        max_derivative: sup of the derivative over the reals (0 for the step, whose derivative is 0
            almost everywhere).
        saturating: whether the derivative tends to 0 for large |a| on both sides (sigmoid, tanh):
            such units can *saturate* and pass almost no gradient.
        learnable: whether the function has a parameter a model learns (PReLU's slope); ``fn`` and
            ``derivative`` then use its starting value.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    max_derivative: float
    saturating: bool = False
    learnable: bool = False


def _step(a: torch.Tensor) -> torch.Tensor:
    # + 0·a keeps the result on the autograd graph with the true derivative, 0: a network of steps
    # back-propagates zeros rather than failing, which is the point the seeds make about it.
    return (a > 0).to(a.dtype) + 0 * a


def _sigmoid_derivative(a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return s * (1 - s)


def _leaky_relu(a: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.leaky_relu(a, LEAKY_RELU_SLOPE)


def prelu(a: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    """Return PReLU: a where a > 0, slope·a elsewhere; ``slope`` broadcasts against ``a``.

    Example:
        >>> prelu(torch.tensor([-2.0, 3.0]), 0.25)
        tensor([-0.5000,  3.0000])
    """
    return torch.where(a > 0, a, a * slope)


def prelu_derivative(a: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    """Return ∂prelu/∂a: 1 where a > 0, ``slope`` elsewhere."""
    slope = torch.as_tensor(slope, dtype=a.dtype, device=a.device)
    return torch.where(a > 0, torch.ones_like(a), slope * torch.ones_like(a))


def gelu(a: torch.Tensor) -> torch.Tensor:
    """Return GELU, a·Φ(a) with Φ the standard normal CDF (the exact form, not the tanh one).

    References:
        Hendrycks & Gimpel 2016, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415.
    """
    return torch.nn.functional.gelu(a)


def gelu_derivative(a: torch.Tensor) -> torch.Tensor:
    """Return ∂gelu/∂a = Φ(a) + a·φ(a). It dips below 0 for a < about −0.75 (down to about −0.13)."""
    cdf = 0.5 * (1 + torch.erf(a * _INV_SQRT2))
    pdf = torch.exp(-0.5 * a.square()) * _INV_SQRT_2PI
    return cdf + a * pdf


def _gelu_max_derivative() -> float:
    # Φ′ + (aφ)′ = φ(2 − a²) vanishes at a = √2, where the derivative peaks.
    peak = torch.tensor(math.sqrt(2.0), dtype=torch.float64)
    return float(gelu_derivative(peak))


ACTIVATIONS: dict[str, Activation] = {
    "step": Activation("step", _step, torch.zeros_like, 0.0),
    "sigmoid": Activation("sigmoid", torch.sigmoid, _sigmoid_derivative, 0.25, saturating=True),
    "tanh": Activation("tanh", torch.tanh, lambda a: 1 - torch.tanh(a).square(), 1.0, saturating=True),
    "relu": Activation("relu", torch.relu, lambda a: (a > 0).to(a.dtype), 1.0),
    "leaky_relu": Activation("leaky_relu", _leaky_relu,
                             lambda a: prelu_derivative(a, LEAKY_RELU_SLOPE), 1.0),
    "prelu": Activation("prelu", lambda a: prelu(a, PRELU_INITIAL_SLOPE),
                        lambda a: prelu_derivative(a, PRELU_INITIAL_SLOPE), 1.0, learnable=True),
    "gelu": Activation("gelu", gelu, gelu_derivative, _gelu_max_derivative()),
    "linear": Activation("linear", lambda a: a, torch.ones_like, 1.0),
}


def get_activation(name: str) -> Activation:
    """Return the activation called ``name``.

    Raises:
        ValueError: for an unknown name, listing the available ones.

    Example:
        >>> get_activation("sigmoid").max_derivative
        0.25
        >>> round(get_activation("gelu").max_derivative, 4)
        1.1289
    """
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS, what="activation")]
