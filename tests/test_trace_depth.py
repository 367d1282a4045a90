"""The trace through depth against slow oracles: one autograd call per layer, autograd Jacobians."""

import pytest
import torch

from gradtrace.instruments import dead_fraction, saturated_fraction, trace, trace_depth
from gradtrace.models import MLP
from gradtrace.tasks import Batch, member_loss

F64 = torch.float64


def _batch(batch=16, features=4, outputs=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, features, dtype=F64, generator=g)
    y = torch.randn(batch, 1, outputs, dtype=F64, generator=g)
    return Batch(x, y, torch.ones(batch, 1, dtype=torch.bool))


VARIANTS = [
    {"activation": "sigmoid"},
    {"activation": "tanh", "residual": True},
    {"activation": "relu", "batch_norm": True},
    {"activation": "prelu"},
    {"activation": "gelu", "batch_norm": True, "residual": True},
]


@pytest.mark.parametrize("options", VARIANTS)
def test_per_layer_gradients_equal_one_autograd_call_per_layer(options):
    model = MLP(4, depth=5, width=6, output_size=1, num_models=3, seed=0, dtype=F64, **options)
    batch = _batch()
    traced = trace_depth(model, batch, jacobian_examples=0)
    for layer in range(5):
        trajectory = model(batch.inputs, update_running_stats=False)
        loss = member_loss(trajectory.outputs, batch).sum()
        (state_grad,) = torch.autograd.grad(loss, trajectory.states[layer], retain_graph=True)
        (pre_grad,) = torch.autograd.grad(loss, trajectory.preactivations[layer])
        torch.testing.assert_close(traced.grad_norms[:, layer], torch.linalg.vector_norm(state_grad, dim=(1, 2)),
                                   rtol=1e-12, atol=1e-300)
        torch.testing.assert_close(traced.preactivation_grad_norms[:, layer],
                                   torch.linalg.vector_norm(pre_grad, dim=(1, 2)), rtol=1e-12, atol=1e-300)


def test_weight_gradient_norms_equal_autograd_and_leave_grad_fields_alone():
    model = MLP(4, depth=3, width=5, output_size=1, activation="tanh", num_models=2, seed=0, dtype=F64)
    batch = _batch()
    traced = trace(model, batch)
    assert all(p.grad is None for p in model.parameters())
    member_loss(model(batch.inputs).outputs, batch).sum().backward()
    for column, weight in enumerate(model.weights()):
        expected = torch.linalg.vector_norm(weight.grad.flatten(1), dim=1)
        torch.testing.assert_close(traced.weight_grad_norms[:, column], expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(traced.param_grad_norms["b_2"], torch.linalg.vector_norm(model.b_2.grad, dim=1))


def test_trace_leaves_batch_norm_running_statistics_untouched():
    model = MLP(4, [5, 5], 1, activation="relu", batch_norm=True, seed=0, dtype=F64)
    before = {name: b.clone() for name, b in model.named_buffers()}
    trace(model, _batch())
    assert all(torch.equal(before[name], b) for name, b in model.named_buffers())


@pytest.mark.parametrize("options", [{"activation": "tanh"}, {"activation": "relu", "residual": True},
                                     {"activation": "prelu", "batch_norm": True}])
def test_layer_jacobians_equal_autograd_jacobians(options):
    model = MLP(4, depth=4, width=5, output_size=1, num_models=2, seed=0, dtype=F64, **options)
    model.eval()  # batch norm with running statistics: each example on its own, so the Jacobian is exact
    batch = _batch(batch=3)
    trajectory = model(batch.inputs)
    jacobians = model.layer_jacobians(trajectory, 3)
    for layer in range(2, 5):
        for k in range(2):
            single = model.member(k)
            for example in range(3):
                h = trajectory.states[layer - 2][k, example].detach()

                def step(previous, layer=layer, single=single):
                    index = layer
                    z = previous @ getattr(single, f"W_{index}")[0].T + getattr(single, f"b_{index}")[0]
                    u = single._normalize(index, z[None, None], False)[0, 0] if single.batch_norm else z
                    if single.activation == "prelu":
                        out = torch.where(u > 0, u, u * getattr(single, f"slope_{index}")[0])
                    else:
                        out = single._phi(u)
                    return previous + out if single.residual else out

                expected = torch.autograd.functional.jacobian(step, h)
                torch.testing.assert_close(jacobians[layer - 2][k, example], expected, rtol=1e-12, atol=1e-12)


def test_depth_trace_reads_the_vanishing_gradient_of_a_deep_sigmoid_network():
    batch = _batch(batch=64, features=8)
    sigmoid = trace(MLP(8, depth=20, width=32, activation="sigmoid", num_models=3, seed=0), batch)
    relu = trace(MLP(8, depth=20, width=32, activation="relu", init="kaiming_normal", num_models=3, seed=0), batch)
    # Each sigmoid layer passes back at most 0.25·σ_max(W_l); with U[±1/√32] weights that is well below 1.
    assert bool((sigmoid.first_last_ratio < 1e-8).all())
    assert bool((relu.first_last_ratio > 1e-3).all())
    assert bool((sigmoid.decay_rate < 0.5).all())
    assert bool((sigmoid.mean_jacobian_singular_value < 0.25).all())
    assert sigmoid.jacobian_singular_values.shape == (3, 19, 32)
    assert sigmoid.summary()["trace/first_last_ratio"].shape == (3,)


def test_dead_fraction_counts_units_inactive_on_every_example():
    model = MLP(2, [4], 1, activation="relu", seed=0, dtype=F64)
    with torch.no_grad():
        model.W_1.zero_()
        model.b_1.copy_(torch.tensor([[-1.0, -1.0, 1.0, 1.0]]))
    trajectory = model(torch.randn(8, 2, dtype=F64))
    assert dead_fraction(model, trajectory).tolist() == [[0.5]]
    leaky = MLP(2, [4], 1, activation="leaky_relu", seed=0, dtype=F64)
    with torch.no_grad():
        leaky.W_1.zero_()
        leaky.b_1.fill_(-1.0)
    assert dead_fraction(leaky, leaky(torch.randn(8, 2, dtype=F64))).tolist() == [[0.0]]


def test_saturated_fraction_counts_flat_tails_of_sigmoid_and_tanh_only():
    for activation in ("sigmoid", "tanh"):
        model = MLP(2, [4], 1, activation=activation, seed=0, dtype=F64)
        with torch.no_grad():
            model.W_1.zero_()
            model.b_1.copy_(torch.tensor([[-20.0, 20.0, 0.0, 0.1]]))
        assert saturated_fraction(model, model(torch.randn(8, 2, dtype=F64))).tolist() == [[0.5]]
    relu = MLP(2, [4], 1, activation="relu", seed=0, dtype=F64)
    assert saturated_fraction(relu, relu(torch.randn(8, 2, dtype=F64))).tolist() == [[0.0]]


def test_unequal_widths_pad_singular_values_with_nan():
    traced = trace(MLP(4, [6, 3, 5], 1, seed=0, dtype=F64), _batch())
    assert traced.jacobian_singular_values.shape == (1, 2, 3)
    assert bool(traced.jacobian_singular_values[0, 1].isfinite().all())
    assert bool(torch.isfinite(traced.mean_jacobian_singular_value).all())


def test_trace_depth_refuses_a_bad_batch_or_option():
    model = MLP(4, [3], 1, seed=0)
    with pytest.raises(TypeError, match=r"`batch` must be a gradtrace Batch, got tuple"):
        trace(model, (torch.zeros(2, 4), torch.zeros(2, 1)))
    with pytest.raises(ValueError, match=r"`jacobian_examples` must be at least 0"):
        trace(model, _batch(), jacobian_examples=-1)
