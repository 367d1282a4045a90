"""Activation functions with the facts about their derivatives that bound the gradient.

The gradient through one step or layer is multiplied by the activation's derivative, so its
maximum sets the envelope of the chain-rule product: σ′ ≤ 1/4 makes a sigmoid network's gradient
shrink at least by 4 per layer unless the weights make up for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from gradtrace.errors import check_choice

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """A named activation: its function, derivative and the derivative's supremum.

    Attributes:
        name: registry name.
        fn: elementwise function.
        derivative: elementwise derivative, as a function of the pre-activation.
        max_derivative: sup of the derivative over the reals.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    max_derivative: float


def _sigmoid_derivative(a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return s * (1 - s)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, lambda a: 1 - torch.tanh(a).square(), 1.0),
    "sigmoid": Activation("sigmoid", torch.sigmoid, _sigmoid_derivative, 0.25),
    "relu": Activation("relu", torch.relu, lambda a: (a > 0).to(a.dtype), 1.0),
    "linear": Activation("linear", lambda a: a, torch.ones_like, 1.0),
}


def get_activation(name: str) -> Activation:
    """Return the activation called ``name``.

    Example:
        >>> get_activation("sigmoid").max_derivative
        0.25
    """
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS, what="activation")]
