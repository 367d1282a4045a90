"""The MLP's scaled residual branches, h_l = h_(l−1) + α φ(W_l h_(l−1) + b_l), against float64 oracles."""

import pytest
import torch

from gradtrace.models import MLP

F64 = torch.float64
ALPHA = 0.3


def _inputs(batch=6, features=3, seed=0):
    return torch.randn(batch, features, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _reference(model: MLP, x: torch.Tensor, k: int, alpha: float) -> list[torch.Tensor]:
    """The hidden states of member k written out by hand: the forward pass the docstring's equation gives."""
    phi = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[model.activation]
    h, states = x, []
    for index in range(1, model.depth + 1):
        z = h @ getattr(model, f"W_{index}")[k].T + getattr(model, f"b_{index}")[k]
        h = h + alpha * phi(z) if index > 1 else phi(z)
        states.append(h)
    return states


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_each_state_is_the_previous_plus_the_scaled_branch(activation):
    model = MLP(3, depth=4, width=5, output_size=2, activation=activation, init="kaiming_uniform", residual=True,
                residual_scale=ALPHA, num_models=2, seed=3, dtype=F64)
    x = _inputs()
    trajectory = model(x)
    for k in range(2):
        for ours, expected in zip(trajectory.states, _reference(model, x, k, ALPHA), strict=True):
            torch.testing.assert_close(ours[k], expected, rtol=1e-13, atol=1e-13)


def test_a_scale_of_one_is_the_plain_skip_bit_for_bit():
    plain = MLP(3, depth=4, width=5, activation="relu", residual=True, seed=1, dtype=F64)
    scaled = MLP(3, depth=4, width=5, activation="relu", residual=True, residual_scale=1.0, seed=1, dtype=F64)
    x = _inputs()
    assert torch.equal(plain(x).outputs, scaled(x).outputs)


def test_parameter_gradients_match_finite_differences():
    # gradcheck compares the model's autograd gradient with central finite differences, in float64.
    model = MLP(3, depth=3, width=4, output_size=1, activation="tanh", init="xavier_uniform", residual=True,
                residual_scale=ALPHA, seed=2, dtype=F64)
    x = _inputs()

    def loss(weight, bias):
        outputs = torch.func.functional_call(model, {"W_2": weight, "b_2": bias}, (x,)).outputs
        return outputs.square().sum()

    weight = model.W_2.detach().clone().requires_grad_(True)
    bias = model.b_2.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (weight, bias))


def test_probes_give_the_gradient_finite_differences_give():
    # ∂L/∂h_2 read from the probe equals the central difference of L when h_2 is nudged along a direction.
    model = MLP(3, depth=4, width=5, output_size=1, activation="relu", init="kaiming_uniform", residual=True,
                residual_scale=ALPHA, seed=4, dtype=F64)
    x = _inputs()
    trajectory = model(x, probe=True)
    trajectory.outputs.square().sum().backward()
    probe_grad = trajectory.probes[1].grad[0]                      # ∂L/∂h_2, (B, 5)

    def loss_after_nudge(delta):
        h = torch.relu(x @ model.W_1[0].T + model.b_1[0])
        h = h + ALPHA * torch.relu(h @ model.W_2[0].T + model.b_2[0]) + delta
        for index in (3, 4):
            h = h + ALPHA * torch.relu(h @ getattr(model, f"W_{index}")[0].T + getattr(model, f"b_{index}")[0])
        return (h @ model.W_out[0].T + model.b_out[0]).square().sum()

    direction = torch.randn(probe_grad.shape, dtype=F64, generator=torch.Generator().manual_seed(9))
    eps = 1e-6
    with torch.no_grad():
        numeric = (loss_after_nudge(eps * direction) - loss_after_nudge(-eps * direction)) / (2 * eps)
    torch.testing.assert_close((probe_grad * direction).sum(), numeric, rtol=1e-7, atol=1e-9)


def test_layer_jacobians_equal_autograd_jacobians():
    model = MLP(3, depth=3, width=4, output_size=1, activation="tanh", init="xavier_uniform", residual=True,
                residual_scale=ALPHA, num_models=2, seed=5, dtype=F64)
    x = _inputs(batch=2)
    trajectory = model(x)
    jacobians = model.layer_jacobians(trajectory, examples=2)
    for k in range(2):
        for layer, jacobian in zip((2, 3), jacobians, strict=True):
            weight, bias = getattr(model, f"W_{layer}")[k].detach(), getattr(model, f"b_{layer}")[k].detach()
            for example in range(2):
                previous = trajectory.states[layer - 2][k, example].detach()
                expected = torch.autograd.functional.jacobian(
                    lambda h, weight=weight, bias=bias: h + ALPHA * torch.tanh(weight @ h + bias), previous)
                torch.testing.assert_close(jacobian[k, example], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"residual": True, "residual_scale": 0.0}, ValueError, "`residual_scale` must be"),
    ({"residual": True, "residual_scale": float("nan")}, ValueError, "residual_scale"),
    ({"residual": True, "residual_scale": "small"}, TypeError, "`residual_scale` must be a real number"),
    ({"residual": False, "residual_scale": 0.5}, ValueError, "needs residual=True"),
])
def test_bad_scales_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        MLP(2, depth=3, width=4, **options)


def test_the_scale_shows_in_the_repr_and_survives_a_member_copy():
    model = MLP(2, depth=3, width=4, residual=True, residual_scale=0.25, num_models=2, seed=0)
    assert "residual_scale=0.25" in repr(model)
    assert model.member(1).residual_scale == 0.25
