"""Activations: each derivative is the function's derivative and its supremum is right."""

import pytest
import torch

from gradtrace.activations import ACTIVATIONS, get_activation

NAMES = sorted(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_equals_autograd(name):
    activation = get_activation(name)
    points = torch.linspace(-6, 6, 241, dtype=torch.float64)
    points = points[points != 0].requires_grad_(True)  # relu has no derivative at 0
    (expected,) = torch.autograd.grad(activation.fn(points).sum(), points)
    torch.testing.assert_close(
        activation.derivative(points.detach()), expected, rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("name", NAMES)
def test_max_derivative_is_the_supremum_of_the_derivative(name):
    activation = get_activation(name)
    values = activation.derivative(torch.linspace(-20, 20, 4001, dtype=torch.float64))
    assert float(values.max()) == pytest.approx(activation.max_derivative, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "maximum"), [("tanh", 1.0), ("sigmoid", 0.25), ("relu", 1.0), ("linear", 1.0)]
)
def test_documented_suprema(name, maximum):
    assert get_activation(name).max_derivative == maximum
    assert get_activation(name).name == name


def test_unknown_activation_lists_the_available_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown activation 'gelu' for `activation`\. "
        r"Available: 'tanh', 'sigmoid', 'relu', 'linear'\.",
    ):
        get_activation("gelu")
