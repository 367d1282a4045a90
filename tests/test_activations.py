"""Activations: each derivative is the function's derivative and its supremum is right."""

import math

import pytest
import torch

from gradtrace.activations import (
    ACTIVATIONS,
    LEAKY_RELU_SLOPE,
    PRELU_INITIAL_SLOPE,
    get_activation,
    prelu,
    prelu_derivative,
)

NAMES = sorted(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_equals_autograd(name):
    activation = get_activation(name)
    points = torch.linspace(-6, 6, 241, dtype=torch.float64)
    points = points[points != 0].requires_grad_(True)  # relu and step have no derivative at 0
    (expected,) = torch.autograd.grad(activation.fn(points).sum(), points)
    torch.testing.assert_close(
        activation.derivative(points.detach()), expected, rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("name", NAMES)
def test_max_derivative_is_the_supremum_of_the_derivative(name):
    activation = get_activation(name)
    grid = torch.cat([torch.linspace(-20, 20, 4001, dtype=torch.float64),
                      torch.tensor([math.sqrt(2.0)], dtype=torch.float64)])  # GELU peaks at √2
    values = activation.derivative(grid)
    assert float(values.max()) == pytest.approx(activation.max_derivative, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    ("name", "maximum"),
    [("tanh", 1.0), ("sigmoid", 0.25), ("relu", 1.0), ("linear", 1.0), ("step", 0.0), ("leaky_relu", 1.0),
     ("prelu", 1.0)],
)
def test_documented_suprema(name, maximum):
    assert get_activation(name).max_derivative == maximum
    assert get_activation(name).name == name


def test_gelu_supremum_is_phi_of_root_two_plus_root_two_pdf():
    root = math.sqrt(2.0)
    expected = 0.5 * (1 + math.erf(1.0)) + root * math.exp(-1.0) / math.sqrt(2 * math.pi)
    assert get_activation("gelu").max_derivative == pytest.approx(expected, rel=1e-14)


def test_step_derivative_is_zero_almost_everywhere_and_autograd_agrees():
    step = get_activation("step")
    points = torch.tensor([-3.0, -1e-9, 1e-9, 2.0], dtype=torch.float64, requires_grad=True)
    values = step.fn(points)
    assert values.tolist() == [0.0, 0.0, 1.0, 1.0]
    (grad,) = torch.autograd.grad(values.sum(), points)
    assert grad.tolist() == [0.0] * 4
    assert bool((step.derivative(points.detach()) == 0).all())


def test_leaky_sides_keep_their_slopes():
    a = torch.tensor([-2.0, 3.0], dtype=torch.float64)
    assert get_activation("leaky_relu").derivative(a).tolist() == [LEAKY_RELU_SLOPE, 1.0]
    assert get_activation("prelu").derivative(a).tolist() == [PRELU_INITIAL_SLOPE, 1.0]
    slopes = torch.tensor([0.1, 0.5], dtype=torch.float64)
    assert prelu(a, slopes).tolist() == [-0.2, 3.0]
    assert prelu_derivative(a, slopes).tolist() == [0.1, 1.0]


def test_prelu_slope_gradient_equals_autograd():
    a = torch.linspace(-3, 3, 13, dtype=torch.float64)
    slope = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(prelu(a, slope).sum(), slope)
    assert float(grad) == pytest.approx(float(a[a <= 0].sum()))


@pytest.mark.parametrize(("name", "saturating"), [("sigmoid", True), ("tanh", True), ("relu", False),
                                                  ("gelu", False), ("leaky_relu", False)])
def test_only_sigmoid_and_tanh_saturate(name, saturating):
    assert get_activation(name).saturating is saturating


def test_activations_are_vectorized_and_keep_shape_and_dtype():
    a = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for activation in ACTIVATIONS.values():
        assert activation.fn(a).shape == a.shape and activation.fn(a).dtype == torch.float64
        assert activation.derivative(a).shape == a.shape and activation.derivative(a).dtype == torch.float64


def test_unknown_activation_lists_the_available_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown activation 'swish' for `activation`\. "
        r"Available: 'step', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'prelu', 'gelu', 'linear'\.",
    ):
        get_activation("swish")
