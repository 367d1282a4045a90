"""The MLP: equal to torch.nn modules with copied weights, ensembles of independent members, clear errors."""

import math

import pytest
import torch

from gradtrace.models import MLP, MLP_INITIALIZATIONS, make_model

F64 = torch.float64
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "gelu", "linear"]


def _inputs(batch=7, features=3, seed=0):
    return torch.randn(batch, features, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_every_member_equals_torch_sequential_with_copied_weights(activation, batch_norm):
    model = MLP(3, [5, 4, 6], 2, activation=activation, batch_norm=batch_norm, init="xavier_normal",
                num_models=3, seed=1, dtype=F64)
    x = _inputs()
    for k in range(3):
        reference = model.to_torch(k)
        ours = model(x, update_running_stats=False).outputs[k]
        torch.testing.assert_close(ours, reference(x), rtol=1e-12, atol=1e-12)
    model.eval()
    for k in range(3):
        reference = model.to_torch(k)
        assert not reference.training
        torch.testing.assert_close(model(x).outputs[k], reference(x), rtol=1e-12, atol=1e-12)


def test_batch_norm_running_statistics_follow_torch():
    model = MLP(3, [4, 4], 1, activation="relu", batch_norm=True, num_models=2, seed=0, dtype=F64)
    references = [model.to_torch(k) for k in range(2)]
    for step in range(3):
        x = _inputs(seed=step)
        model(x)
        for reference in references:
            reference(x)
    for k, reference in enumerate(references):
        norms = [m for m in reference if isinstance(m, torch.nn.BatchNorm1d)]
        for index, norm in enumerate(norms, start=1):
            torch.testing.assert_close(getattr(model, f"running_mean_{index}")[k], norm.running_mean)
            torch.testing.assert_close(getattr(model, f"running_var_{index}")[k], norm.running_var)


def test_gradients_equal_torch_sequential_including_prelu_slopes_and_batch_norm():
    model = MLP(3, [4, 4], 2, activation="prelu", batch_norm=True, num_models=2, seed=3, dtype=F64)
    x = _inputs()
    model(x, update_running_stats=False).outputs.square().sum().backward()
    for k in range(2):
        reference = model.to_torch(k)
        reference(x).square().sum().backward()
        linear = [m for m in reference if isinstance(m, torch.nn.Linear)]
        prelus = [m for m in reference if isinstance(m, torch.nn.PReLU)]
        norms = [m for m in reference if isinstance(m, torch.nn.BatchNorm1d)]
        torch.testing.assert_close(model.W_1.grad[k], linear[0].weight.grad)
        torch.testing.assert_close(model.W_out.grad[k], linear[-1].weight.grad)
        torch.testing.assert_close(model.slope_1.grad[k], prelus[0].weight.grad)
        torch.testing.assert_close(model.gamma_2.grad[k], norms[1].weight.grad)


def test_residual_layers_add_the_previous_state():
    model = MLP(3, [4, 4, 4], 1, activation="tanh", residual=True, seed=0, dtype=F64)
    trajectory = model(_inputs())
    h1, h2 = trajectory.states[0], trajectory.states[1]
    expected = h1 + torch.tanh(trajectory.preactivations[1])
    torch.testing.assert_close(h2, expected)
    assert torch.allclose(h1, torch.tanh(trajectory.preactivations[0]))  # the first layer has no skip


def test_member_k_equals_the_single_model_built_with_seed_plus_k():
    ensemble = MLP(3, depth=3, width=5, output_size=2, init="kaiming_uniform", activation="relu",
                   num_models=4, seed=10, dtype=F64)
    for k in range(4):
        single = MLP(3, depth=3, width=5, output_size=2, init="kaiming_uniform", activation="relu",
                     seed=10 + k, dtype=F64)
        for (name, p), (_, q) in zip(ensemble.named_parameters(), single.named_parameters()):
            assert torch.equal(p[k], q[0]), name
        assert torch.equal(ensemble.member(k)(_inputs()).outputs[0], single(_inputs()).outputs[0])


def test_members_are_independent_in_one_backward():
    model = MLP(3, [4], 1, num_models=3, seed=0, dtype=F64)
    x = torch.randn(3, 5, 1, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    losses = model(x).outputs.square().sum((1, 2))
    losses[1].backward()
    assert bool((model.W_1.grad[[0, 2]] == 0).all()) and bool((model.W_1.grad[1] != 0).any())


@pytest.mark.parametrize("init", MLP_INITIALIZATIONS)
def test_initializations_have_their_documented_scale(init):
    model = MLP(400, [400], 1, activation="relu", init=init, seed=0, dtype=F64)
    std = float(model.W_1.detach().std())
    expected = {
        "uniform": 1 / math.sqrt(3 * 400),             # U[±1/√n] has variance 1/(3n)
        "xavier_uniform": math.sqrt(2 / 800),
        "xavier_normal": math.sqrt(2 / 800),
        "kaiming_uniform": math.sqrt(2 / 400),
        "kaiming_normal": math.sqrt(2 / 400),
        "orthogonal": math.sqrt(2) / math.sqrt(400),   # gain √2 for relu, unit-norm rows
    }[init]
    assert std == pytest.approx(expected, rel=0.02)
    biases_zero = bool((model.b_1 == 0).all())
    assert biases_zero is (init != "uniform")


def test_inputs_in_every_documented_shape_give_the_same_outputs():
    model = MLP(6, [4], 1, num_models=2, seed=0, dtype=F64)
    x = torch.randn(5, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    flat = model(x.flatten(1)).outputs
    torch.testing.assert_close(model(x).outputs, flat)
    torch.testing.assert_close(model(x.expand(2, 5, 3, 2)).outputs, flat)
    assert make_model("mlp", 6, [4], 1, seed=0).depth == 1


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: MLP(2, [], 1), ValueError, r"`hidden_sizes` must name at least one hidden layer \(depth ≥ 1\)"),
        (lambda: MLP(2, depth=0, width=4), ValueError, r"`depth` must be at least 1, got 0"),
        (lambda: MLP(2), ValueError, r"pass `hidden_sizes` .* or both `depth` and `width`"),
        (lambda: MLP(2, [3], 1, depth=2, width=3), ValueError, r"either `hidden_sizes` or `depth` and `width`"),
        (lambda: MLP(2, [3, 0], 1), ValueError, r"`hidden_sizes\[1\]` must be at least 1, got 0"),
        (lambda: MLP(2, "32", 1), TypeError, r"`hidden_sizes` must be a sequence of layer widths"),
        (lambda: MLP(2, [4, 8], 1, residual=True), ValueError,
         r"every hidden layer needs the same width; got hidden_sizes=\[4, 8\]"),
        (lambda: MLP(2, [4], 1, activation="swish"), ValueError, r"Unknown activation 'swish'.*Available: 'step'"),
        (lambda: MLP(2, [4], 1, init="he"), ValueError, r"Unknown MLP initialization 'he'.*'kaiming_normal'"),
        (lambda: MLP(2, [4], 1, batch_norm=1), TypeError, r"`batch_norm` must be True or False"),
    ],
)
def test_bad_constructions_are_refused_with_the_valid_choices(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_inputs_of_the_wrong_width_are_refused_naming_the_expected_shape():
    model = MLP(5, [4], 1, num_models=2, seed=0)
    with pytest.raises(ValueError, match=r"T·features = input_size = 5, got Tensor of shape \(8, 1, 2\)"):
        model(torch.zeros(8, 1, 2))
    with pytest.raises(ValueError, match=r"\(2, B, T, features\)"):
        model(torch.zeros(3, 8, 5, 1))


def test_to_torch_refuses_what_torch_cannot_express():
    with pytest.raises(ValueError, match=r"residual=True"):
        MLP(2, [3, 3], 1, residual=True, seed=0).to_torch()
    with pytest.raises(ValueError, match=r"no module for activation 'step'"):
        MLP(2, [3], 1, activation="step", seed=0).to_torch()
