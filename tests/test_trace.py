"""The instruments: decay_rate, horizon, profile_from_grads and the readings trace() returns."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtrace.instruments import HORIZON_THRESHOLD, decay_rate, horizon, profile_from_grads, trace
from gradtrace.models import LSTM, ElmanRNN
from gradtrace.tasks import Adding, member_loss

F64 = torch.float64


def _geometric(rate, steps, scale=1.0):
    """A profile multiplied by ``rate`` per step back from the last: scale · rate^(T−1−t)."""
    t = torch.arange(steps, dtype=F64)
    return scale * rate ** (steps - 1 - t)


def test_decay_rate_recovers_exact_geometric_profiles_per_member():
    profiles = torch.stack(
        [_geometric(0.5, 20), _geometric(1.0, 20, 3.0), _geometric(1.5, 20, 1e-3)]
    )
    torch.testing.assert_close(
        decay_rate(profiles), torch.tensor([0.5, 1.0, 1.5], dtype=F64), rtol=1e-12, atol=0
    )


@settings(max_examples=25, deadline=None, database=None)
@given(rate=st.floats(0.05, 20.0), scale=st.floats(1e-6, 1e6), steps=st.integers(2, 50))
def test_decay_rate_of_any_geometric_profile_is_its_ratio(rate, scale, steps):
    recovered = float(decay_rate(_geometric(rate, steps, scale)[None])[0])
    assert recovered == pytest.approx(rate, rel=1e-9)


def test_decay_rate_skips_zero_and_non_finite_points():
    profile = _geometric(0.7, 12)
    profile[[0, 4, 7]] = torch.tensor([0.0, float("nan"), float("inf")], dtype=F64)
    assert float(decay_rate(profile[None])[0]) == pytest.approx(0.7, rel=1e-12)


def test_decay_rate_is_nan_with_fewer_than_two_usable_points():
    profile = torch.tensor([[0.0, 0.0, 2.0], [float("nan")] * 3, [1.0, 0.0, 0.0]])
    assert bool(decay_rate(profile).isnan().all())


def test_horizon_follows_its_docstring_example():
    assert horizon(torch.tensor([[1e-9, 1e-7, 1e-3, 1.0]])).tolist() == [2]


def test_horizon_counts_steps_back_until_the_gradient_falls_below_threshold_times_its_peak():
    # From the last step back: 1, 1e2, 1e-5. 1e-5 is above 1e-6 × the last value but below 1e-6 ×
    # the running peak 1e2, so the gradient stops two steps back.
    assert horizon(torch.tensor([[1e-5, 1e2, 1.0]])).tolist() == [2]
    # A profile that never falls below reaches the first step: T.
    assert horizon(_geometric(0.9, 30)[None]).tolist() == [30]
    # 0.5^k first drops below 1e-6 at k = 20.
    assert horizon(_geometric(0.5, 30)[None]).tolist() == [20]
    assert horizon(_geometric(0.5, 30)[None], threshold=1e-3).tolist() == [10]
    assert HORIZON_THRESHOLD == 1e-6


def test_horizon_treats_nan_as_a_vanished_gradient_and_is_per_member():
    # From the last step back: 1, NaN, ... — the gradient is lost one step back.
    profile = torch.tensor([[1.0, 1.0, float("nan"), 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert horizon(profile).tolist() == [1, 4]


@settings(max_examples=25, deadline=None, database=None)
@given(st.lists(st.floats(0.0, 1e6), min_size=1, max_size=40))
def test_horizon_is_between_one_and_the_length(values):
    steps = len(values)
    assert 1 <= int(horizon(torch.tensor([values], dtype=F64))[0]) <= steps


@pytest.mark.parametrize("threshold", [0.0, -1.0])
def test_horizon_refuses_a_threshold_that_is_not_positive(threshold):
    with pytest.raises(ValueError, match=r"`threshold` must be greater than 0"):
        horizon(torch.ones(1, 3), threshold=threshold)


def test_profile_from_grads_is_the_norm_over_sequences_and_units():
    grads = torch.randn(2, 3, 5, 4, dtype=F64)
    expected = grads.square().sum((1, 3)).sqrt()
    torch.testing.assert_close(profile_from_grads(grads), expected, rtol=1e-14, atol=0)


def _linear_elman(rates, steps=30):
    """A linear Elman ensemble whose member k has W_rec = rates[k] · (an orthogonal matrix)."""
    model = ElmanRNN(2, 8, 1, activation="linear", num_models=len(rates), seed=0, dtype=F64)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for k, rate in enumerate(rates):
            q, _ = torch.linalg.qr(torch.randn(8, 8, generator=generator, dtype=F64))
            model.W_rec[k] = rate * q
    return model, Adding(steps).sample(4, seed=0)


def test_trace_of_a_scaled_orthogonal_linear_rnn_decays_exactly_by_its_scale():
    # With only the last step scored, ∂L/∂h_t = W_recᵀ ∂L/∂h_{t+1}, and a scaled orthogonal matrix
    # multiplies every norm by its scale.
    model, batch = _linear_elman([0.5, 0.8, 1.2])
    traced = trace(model, batch)
    torch.testing.assert_close(
        traced.decay_rate, torch.tensor([0.5, 0.8, 1.2], dtype=F64), rtol=1e-10, atol=0
    )
    assert traced.horizon.tolist() == [20, 30, 30]
    torch.testing.assert_close(
        traced.spectral_radius, torch.tensor([0.5, 0.8, 1.2], dtype=F64), rtol=1e-10, atol=0
    )


def test_trace_readings_equal_their_definitions():
    model = ElmanRNN(2, 6, 1, num_models=2, seed=3, dtype=F64)
    batch = Adding(12).sample(5, seed=1)
    traced = trace(model, batch, jacobian_steps=3)
    assert traced.num_models == 2 and traced.grad_norms.shape == (2, 12)
    assert traced.cell_grad_norms is None
    assert all(p.grad is None for p in model.parameters()), "trace leaves .grad untouched"

    losses = member_loss(model(batch.inputs).outputs, batch)
    torch.testing.assert_close(traced.loss, losses.detach())
    torch.testing.assert_close(traced.decay_rate, decay_rate(traced.grad_norms))
    assert torch.equal(traced.horizon, horizon(traced.grad_norms))
    assert torch.equal(traced.by_lag, traced.grad_norms.flip(-1))

    W_rec = model.W_rec.detach()  # noqa: N806
    eigenvalues = torch.linalg.eigvals(W_rec).abs().amax(-1)
    torch.testing.assert_close(traced.spectral_radius, eigenvalues, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        traced.top_singular_value, torch.linalg.svdvals(W_rec)[:, 0], rtol=1e-12, atol=0
    )

    assert traced.jacobian_steps == (1, 6, 11)
    trajectory = model(batch.inputs)
    expected = torch.stack(
        [
            torch.linalg.svdvals(model.step_jacobian(batch.inputs, trajectory, t)).mean(1)
            for t in traced.jacobian_steps
        ],
        dim=1,
    )
    torch.testing.assert_close(traced.jacobian_singular_values, expected, rtol=1e-12, atol=1e-14)

    grads = torch.autograd.grad(losses.sum(), list(model.parameters()))
    for (name, _), grad in zip(model.named_parameters(), grads, strict=True):
        torch.testing.assert_close(traced.param_grad_norms[name], grad.flatten(1).norm(dim=1))

    summary = traced.summary()
    assert {
        "trace/loss",
        "trace/decay_rate",
        "trace/horizon",
        "trace/spectral_radius",
        "trace/top_singular_value",
        "trace/first_step_grad",
        "trace/last_step_grad",
        "grad/W_rec",
        "grad/W_in",
    } <= set(summary)
    assert all(value.shape == (2,) for value in summary.values())
    assert torch.equal(summary["trace/first_step_grad"], traced.grad_norms[:, 0])


def test_trace_of_an_lstm_has_cell_norms_and_no_spectral_radius():
    model = LSTM(2, 4, 1, num_models=2, seed=0, readout="last")
    traced = trace(model, Adding(10).sample(3, seed=0), jacobian_steps=2)
    assert traced.cell_grad_norms.shape == (2, 10)
    assert traced.spectral_radius is None and "trace/spectral_radius" not in traced.summary()
    assert traced.top_singular_value.shape == (2,)
    assert traced.jacobian_singular_values.shape == (2, 2, 8)


def test_trace_without_jacobian_steps_takes_none():
    traced = trace(ElmanRNN(2, 4, 1, seed=0), Adding(10).sample(2, seed=0), jacobian_steps=0)
    assert traced.jacobian_steps == () and traced.jacobian_singular_values.shape == (1, 0, 0)


def test_trace_refuses_what_is_not_a_model_or_a_batch():
    batch = Adding(10).sample(2, seed=0)
    with pytest.raises(TypeError, match=r"`model` must be a gradtrace RecurrentModel or MLP, got RNN"):
        trace(torch.nn.RNN(2, 4), batch)
    with pytest.raises(TypeError, match=r"`batch` must be a gradtrace Batch, got tuple"):
        trace(ElmanRNN(2, 4, 1, seed=0), (batch.inputs, batch.targets))
    with pytest.raises(ValueError, match=r"`jacobian_steps` must be at least 0"):
        trace(ElmanRNN(2, 4, 1, seed=0), batch, jacobian_steps=-1)


def test_nan_gradients_are_recorded_not_raised():
    model = ElmanRNN(2, 4, 1, seed=0)
    with torch.no_grad():
        model.W_out.fill_(math.nan)
    traced = trace(model, Adding(10).sample(2, seed=0), jacobian_steps=0)
    assert bool(traced.grad_norms.isnan().all())
