"""The echo state network in float64 against slow oracles: a per-step numpy loop, least squares on
the same states, reservoirpy with copied weights, and the readout-only gradient path."""

import numpy as np
import pytest
import torch
from torch import nn

from gradtrace.instruments import trace
from gradtrace.models import ESN, MODELS, make_model
from gradtrace.models import esn as esn_module
from gradtrace.models.esn import SingularReadoutError
from gradtrace.tasks import Batch, MackeyGlass, mackey_glass, member_loss, nrmse
from gradtrace.train import fit

F64 = torch.float64


def _esn(*args, **options):
    options.setdefault("dtype", F64)
    options.setdefault("seed", 0)
    return ESN(*args, **options)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _naive_states(model, inputs, k):
    """h_t = (1 − a) h_{t−1} + a·tanh(W_in x_t + W_rec h_{t−1} + b), one step at a time in numpy."""
    W_in, W_rec, b = (w[k].numpy() for w in (model.W_in, model.W_rec, model.b))  # noqa: N806
    a = model.leak_rate
    x = inputs.numpy()
    states = np.zeros((*x.shape[:-1], model.reservoir_size))
    for s in range(x.shape[0]):
        h = np.zeros(model.reservoir_size)
        for t in range(x.shape[1]):
            h = (1 - a) * h + a * np.tanh(W_in @ x[s, t] + W_rec @ h + b)
            states[s, t] = h
    return torch.from_numpy(states)


# (members K, sequences B, units H): the batched loop, one member's dense loop, the sparse (CSR)
# loop of one long series, and members run one after another.
PATHS = [(2, 3, 12), (1, 1, 12), (1, 1, 64), (2, 1, 128)]


@pytest.mark.parametrize(("K", "B", "H"), PATHS)
@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
def test_states_equal_a_naive_per_step_loop(K, B, H, leak_rate):  # noqa: N803
    model = _esn(2, H, 3, leak_rate=leak_rate, bias_scaling=0.5, num_models=K, seed=3)
    inputs = _randn(B, 15, 2)
    states = model(inputs).states
    for k in range(K):
        torch.testing.assert_close(states[k], _naive_states(model, inputs, k), rtol=0, atol=1e-12)
    assert torch.equal(model.reservoir_states(inputs), states)


def test_step_and_step_jacobian_follow_the_defining_equation():
    model = _esn(2, 6, 1, leak_rate=0.4, bias_scaling=0.3, num_models=2, seed=1)
    drive, h = _randn(2, 3, 6, seed=1), _randn(2, 3, 6, seed=2).tanh()
    (new,), gates = model.step(drive, (h,), model.W_rec.transpose(1, 2))
    pre = drive + torch.einsum("kij,kbj->kbi", model.W_rec, h)
    torch.testing.assert_close(new, 0.6 * h + 0.4 * pre.tanh(), rtol=0, atol=1e-14)
    assert gates == {}
    inputs = _randn(3, 5, 2, seed=3)
    trajectory = model(inputs)
    jacobian = model.step_jacobian(inputs, trajectory, 2)
    previous = trajectory.states[:, :, 1]
    pre = model.project_inputs(inputs)[:, :, 2] + torch.einsum("kij,kbj->kbi", model.W_rec, previous)
    expected = 0.6 * torch.eye(6, dtype=F64) + 0.4 * (1 - pre.tanh().square())[..., None] * model.W_rec[:, None]
    torch.testing.assert_close(jacobian, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("radius", [0.5, 0.9, 1.3])
def test_reservoir_has_the_spectral_radius_and_connectivity_asked_for(radius):
    model = _esn(1, 40, 1, spectral_radius=radius, connectivity=0.2, num_models=3)
    measured = torch.linalg.eigvals(model.W_rec).abs().amax(-1)
    torch.testing.assert_close(measured, torch.full((3,), radius, dtype=F64), rtol=1e-10, atol=0)
    assert torch.count_nonzero(model.W_rec, dim=(1, 2)).tolist() == [320] * 3
    assert model.W_in.abs().max() <= 1.0 and torch.count_nonzero(model.W_in) == 3 * 40


def test_a_tiny_reservoir_is_never_nilpotent():
    for seed in range(20):
        model = _esn(1, 3, 1, connectivity=0.1, seed=seed)  # a single non-zero weight: must be diagonal
        assert torch.count_nonzero(model.W_rec) == 1
        torch.testing.assert_close(torch.linalg.eigvals(model.W_rec).abs().amax(), torch.tensor(0.9, dtype=F64))


def test_fixed_weights_are_buffers_and_only_the_readout_is_a_parameter():
    model = _esn(2, 8, 1)
    assert [name for name, _ in model.named_parameters()] == ["W_out", "b_out"]
    assert {name for name, _ in model.named_buffers()} == {"W_in", "W_rec", "b"}
    float32 = ESN(2, 8, 1, seed=0)
    assert float32.W_rec.dtype == torch.float32 and float32.W_out.dtype == torch.float32
    assert "esn" in MODELS and isinstance(make_model("esn", 2, 8, 1, seed=0), ESN)


def _features(model, inputs, washout):
    """Teacher-forced states after the washout with a column of ones: (K, N, H + 1)."""
    states = torch.stack([_naive_states(model, inputs, k) for k in range(model.num_models)])
    states = states[:, :, washout:].flatten(1, 2)
    return torch.cat([states, torch.ones_like(states[..., :1])], dim=-1)


@pytest.mark.parametrize("chunk_steps", [None, 7])
def test_readout_equals_least_squares_on_the_same_states(chunk_steps, monkeypatch):
    if chunk_steps:  # K·B·H = 60 values a step; the washout of 10 steps ends inside the second chunk
        monkeypatch.setattr(esn_module, "FIT_CHUNK_ELEMENTS", chunk_steps * 60)
    model = _esn(2, 10, 2, input_scaling=0.5, bias_scaling=0.2, num_models=2, seed=4)
    inputs, targets = _randn(3, 60, 2, seed=5), _randn(3, 60, 2, seed=6)
    model.fit_readout(inputs, targets, washout=10, ridge=0.0)
    for k, X in enumerate(_features(model, inputs, 10).numpy()):  # noqa: N806
        solution, *_ = np.linalg.lstsq(X, targets[:, 10:].flatten(0, 1).numpy(), rcond=None)
        torch.testing.assert_close(model.W_out[k], torch.from_numpy(solution[:-1].T), rtol=1e-8, atol=1e-9)
        torch.testing.assert_close(model.b_out[k], torch.from_numpy(solution[-1]), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("chunk_steps", [None, 2, 7])
def test_readout_equals_the_normal_equations_with_an_unpenalized_bias(chunk_steps, monkeypatch):
    if chunk_steps:  # one series of 10 units: chunk_steps · 10 values a chunk
        monkeypatch.setattr(esn_module, "FIT_CHUNK_ELEMENTS", chunk_steps * 10)
    model = _esn(2, 10, 1, bias_scaling=0.2, seed=7, ridge=1e-2, washout=5)
    inputs, targets = _randn(60, 2, seed=8), _randn(60, 1, seed=9)  # one long series (T, ·)
    model.fit_readout(inputs, targets)
    X = _features(model, inputs[None], 5)[0].numpy()  # noqa: N806
    penalty = 1e-2 * np.diag([1.0] * 10 + [0.0])
    solution = np.linalg.solve(X.T @ X + penalty, X.T @ targets[5:].numpy())
    torch.testing.assert_close(model.W_out[0], torch.from_numpy(solution[:-1].T), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(model.b_out[0], torch.from_numpy(solution[-1]), rtol=1e-9, atol=1e-10)
    prediction = model.predict(inputs)
    assert prediction.shape == (1, 60, 1)
    torch.testing.assert_close(prediction[0, 5:], torch.from_numpy(X @ solution), rtol=0, atol=1e-10)


def test_member_k_equals_the_single_esn_seeded_seed_plus_k():
    ensemble = _esn(2, 8, 1, bias_scaling=0.1, num_models=3, seed=10)
    inputs, targets = _randn(2, 40, 2, seed=1), _randn(2, 40, 1, seed=2)
    ensemble.fit_readout(inputs, targets, washout=5)
    for k in range(3):
        single = _esn(2, 8, 1, bias_scaling=0.1, seed=10 + k).fit_readout(inputs, targets, washout=5)
        copy = ensemble.member(k)
        assert (copy.num_models, copy.seed) == (1, 10 + k)
        for name, value in ensemble.state_dict().items():
            torch.testing.assert_close(single.state_dict()[name][0], value[k], rtol=0, atol=1e-12)
            assert torch.equal(copy.state_dict()[name][0], value[k]), name
        torch.testing.assert_close(ensemble.predict(inputs)[k], single.predict(inputs)[0], rtol=0, atol=1e-12)


def _batch(B=3, T=12, out=2):  # noqa: N803
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(B, T, 2, generator=generator, dtype=F64)
    targets = torch.randn(B, T, out, generator=generator, dtype=F64)
    mask = torch.rand(B, T, generator=generator) < 0.5
    mask[:, -1] = True
    return Batch(inputs, targets, mask)


def test_the_gradient_reaching_each_state_is_only_the_direct_readout_term():
    model = _esn(2, 6, 2, leak_rate=0.5, spectral_radius=1.2, num_models=2, seed=2)
    batch = _batch()
    trajectory = model(batch.inputs, probe=True)
    losses = member_loss(trajectory.outputs, batch)  # mean over scored steps and outputs
    (grads,) = torch.autograd.grad(losses.sum(), trajectory.probes)
    error = trajectory.outputs.detach() - batch.targets  # (K, B, T, O)
    outputs = model.output_size
    weight = batch.mask.to(F64) * 2 / (outputs * batch.mask.sum())  # ∂ mean(e²)/∂ŷ = 2e / (O · scored steps)
    expected = weight[..., None] * torch.einsum("kbto,koh->kbth", error, model.W_out.detach())
    torch.testing.assert_close(grads[0], expected, rtol=0, atol=1e-14)
    assert torch.all(grads[0][:, ~batch.mask] == 0)  # nothing flows back to steps that are not scored
    measured = trace(model, batch, jacobian_steps=2)
    torch.testing.assert_close(measured.grad_norms, torch.linalg.vector_norm(expected, dim=(1, 3)), rtol=1e-12,
                               atol=0)
    assert set(measured.param_grad_norms) == {"W_out", "b_out"}


def test_gradient_training_moves_only_the_readout():
    model = _esn(1, 8, 1, num_models=2, seed=0)
    reservoir = {name: value.clone() for name, value in model.named_buffers()}
    readout = model.W_out.detach().clone()
    run = fit(model, MackeyGlass(10, series_length=200), steps=3, lr=1e-2, batch_size=2, eval_batch_size=2)
    assert run.steps_done == 3
    assert all(torch.equal(value, reservoir[name]) for name, value in model.named_buffers())
    assert not torch.equal(model.W_out.detach(), readout)


def test_one_step_prediction_of_mackey_glass_is_accurate_and_generation_stays_close():
    series = mackey_glass(2401, dtype=F64)[:, None]
    model = _esn(1, 200, 1, leak_rate=0.5, washout=100)
    model.fit_readout(series[:2000], series[1:2001])
    prediction = model.predict(series[:-1])[:, 2000:]  # the held-out continuation, teacher-forced
    assert float(nrmse(prediction, series[2001:])) < 5e-3  # measured 1.3e-3; persistence scores 0.15
    generated = model.generate(30, warmup=series[:2000])  # predicts series[2000:2030]
    assert generated.shape == (1, 30, 1)
    assert float((generated[0] - series[2000:2030]).abs().max()) < 0.05  # measured 0.01; series std 0.23
    batched = model.generate(3, warmup=series[:2000].expand(2, 2000, 1))
    torch.testing.assert_close(batched, generated[:, None, :3].expand(1, 2, 3, 1), rtol=0, atol=1e-12)


def test_states_and_predictions_equal_reservoirpy_with_copied_weights():
    pytest.importorskip("reservoirpy", minversion="0.4")
    from reservoirpy import nodes
    model = _esn(2, 30, 2, leak_rate=0.4, bias_scaling=0.2, spectral_radius=1.1, seed=5)
    inputs, targets = _randn(300, 2, seed=1), _randn(300, 2, seed=2)
    # reservoirpy: x ← (1 − lr) x + lr·tanh(W x + Win u + bias); Win is (units, features).
    reservoir = nodes.Reservoir(W=model.W_rec[0].numpy().copy(), Win=model.W_in[0].numpy().copy(),
                                bias=model.b[0].numpy().copy(), lr=0.4)
    states = reservoir.run(inputs.numpy())
    torch.testing.assert_close(model.reservoir_states(inputs)[0], torch.from_numpy(states), rtol=0, atol=1e-13)
    readout = nodes.Ridge(ridge=1e-6).fit(states, targets.numpy(), warmup=50)
    model.fit_readout(inputs, targets, washout=50, ridge=1e-6)
    torch.testing.assert_close(model.predict(inputs)[0], torch.from_numpy(readout.run(states)), rtol=0, atol=1e-8)
    torch.testing.assert_close(model.W_out[0], torch.from_numpy(readout.Wout.T), rtol=0, atol=1e-8)


def test_with_no_leak_it_converts_to_torch_rnn():
    model = _esn(2, 6, 1, bias_scaling=0.3, seed=1)
    rnn, head = model.to_torch()
    inputs = _randn(2, 7, 2)
    outputs, _ = rnn(inputs)
    torch.testing.assert_close(model(inputs).outputs[0], head(outputs), rtol=0, atol=1e-12)
    back = ESN.from_torch(rnn, head)
    torch.testing.assert_close(back(inputs).outputs, model(inputs).outputs, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"spectral_radius": 0.0}, ValueError, r"`spectral_radius` must be greater than 0"),
        ({"spectral_radius": -1.0}, ValueError, r"`spectral_radius` must be greater than 0"),
        ({"leak_rate": 0.0}, ValueError, r"`leak_rate` must be greater than 0"),
        ({"leak_rate": 1.5}, ValueError, r"`leak_rate` must be at most 1\.0, got 1\.5"),
        ({"connectivity": 0.0}, ValueError, r"`connectivity` must be greater than 0"),
        ({"connectivity": 1.2}, ValueError, r"`connectivity` must be at most 1\.0"),
        ({"input_scaling": -0.1}, ValueError, r"`input_scaling` must be at least 0"),
        ({"bias_scaling": -1.0}, ValueError, r"`bias_scaling` must be at least 0"),
        ({"ridge": -1e-3}, ValueError, r"`ridge` must be at least 0"),
        ({"washout": -1}, ValueError, r"`washout` must be at least 0"),
        ({"washout": 2.0}, TypeError, r"`washout` must be an integer"),
        ({"leak_rate": "0.5"}, TypeError, r"`leak_rate` must be a real number"),
    ],
)
def test_invalid_constructor_arguments_raise_naming_them(options, error, match):
    with pytest.raises(error, match=match):
        ESN(1, 8, 1, **options)


def test_reservoir_size_is_checked_under_its_own_name():
    with pytest.raises(ValueError, match=r"`reservoir_size` must be at least 1, got 0"):
        ESN(1, 0, 1)


def test_a_washout_as_long_as_the_series_raises():
    model = _esn(1, 8, 1, washout=20)
    with pytest.raises(ValueError, match=r"`washout` must be less than the number of steps T=20, got 20"):
        model.fit_readout(torch.zeros(20, 1), torch.zeros(20, 1))


@pytest.mark.parametrize(
    ("inputs", "targets"),
    [
        (torch.zeros(40, 1), torch.zeros(40, 1)),  # constant inputs: every state is zero
        (_randn(8, 1), _randn(8, 1)),  # fewer steps than units
    ],
)
def test_singular_normal_equations_raise_naming_ridge_instead_of_returning_nans(inputs, targets):
    model = _esn(1, 16, 1, washout=0)
    with pytest.raises(SingularReadoutError, match=r"singular for member\(s\) \[0\] with ridge=0\.0.*`ridge`"):
        model.fit_readout(inputs, targets, ridge=0.0)
    model.fit_readout(inputs, targets, ridge=1e-6)  # a positive ridge makes it solvable
    assert torch.isfinite(model.W_out).all() and torch.isfinite(model.b_out).all()


@pytest.mark.parametrize(
    ("inputs", "targets", "match"),
    [
        (torch.zeros(10, 2), torch.zeros(10, 1), r"`inputs` must have shape \(T, 1\), \(B, T, 1\) or \(1, B, T, 1\)"),
        (torch.zeros(10, 1), torch.zeros(10, 3), r"`targets` must have shape \(T, 1\)"),
        (torch.zeros(10, 1), torch.zeros(9, 1), r"`targets` \(9, 1\) do not match `inputs` \(10, 1\)"),
        (torch.zeros(10, 1), torch.zeros(10, 1, dtype=torch.long), r"`targets` must be floats"),
    ],
)
def test_misshapen_fit_arguments_raise(inputs, targets, match):
    with pytest.raises(ValueError, match=match):
        _esn(1, 4, 1, washout=0).fit_readout(inputs, targets)


def test_generate_needs_as_many_inputs_as_outputs_and_a_positive_length():
    with pytest.raises(ValueError, match=r"needs input_size == output_size; .*input_size=2, output_size=1"):
        _esn(2, 4, 1).generate(5, warmup=torch.zeros(10, 2))
    with pytest.raises(ValueError, match=r"`steps` must be at least 1, got 0"):
        _esn(1, 4, 1).generate(0, warmup=torch.zeros(10, 1))


def test_conversion_refuses_a_leak_or_another_nonlinearity():
    with pytest.raises(ValueError, match=r"only an ESN with leak_rate=1\.0 converts.*leak_rate=0\.5"):
        _esn(1, 4, 1, leak_rate=0.5).to_torch()
    with pytest.raises(ValueError, match=r"An ESN reservoir is tanh; `module` has nonlinearity 'relu'"):
        ESN.from_torch(nn.RNN(1, 4, nonlinearity="relu"))
