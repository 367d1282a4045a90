"""The dynamics instruments: trajectories of an autonomous RNN and its largest Lyapunov exponent."""

import math

import pytest
import torch

from gradtrace.activations import get_activation
from gradtrace.instruments.dynamics import autonomous_trajectory, largest_lyapunov_exponent

F64 = torch.float64


def _random(num_models, hidden_size, gain, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return gain * torch.randn(num_models, hidden_size, hidden_size, generator=generator, dtype=F64) / math.sqrt(
        hidden_size)


def test_a_linear_network_has_the_log_of_its_spectral_radius():
    scales = torch.tensor([0.2, 0.5, 1.0, 1.5], dtype=F64)
    W = torch.randn(4, 6, 6, generator=torch.Generator().manual_seed(1), dtype=F64) * scales[:, None, None]
    exponent = largest_lyapunov_exponent(W, steps=800, warmup=100, activation="linear")
    expected = torch.linalg.eigvals(W).abs().amax(-1).log()
    assert exponent.shape == (4,) and exponent.dtype == F64
    # A complex pair of top eigenvalues makes the norm wobble: the error falls as 1/steps.
    torch.testing.assert_close(exponent, expected, rtol=0, atol=2e-3)


def test_a_small_tanh_network_decays_to_zero_with_a_negative_exponent():
    W = _random(3, 8, 0.5)
    exponent = largest_lyapunov_exponent(W, steps=500, warmup=100)
    assert (exponent < 0).all()
    # At the fixed point 0, tanh′ = 1: the Jacobian is W itself, so λ = log ρ(W).
    torch.testing.assert_close(exponent, torch.linalg.eigvals(W).abs().amax(-1).log(), rtol=0, atol=1e-3)
    states = autonomous_trajectory(W, 200)
    assert states.shape == (3, 200, 8)
    assert states[:, -1].abs().max() < 1e-10
    norms = torch.linalg.vector_norm(states, dim=-1)
    assert (norms[:, 50] < norms[:, 0]).all()


def test_nearby_starts_separate_as_exp_lambda_t_in_a_chaotic_network():
    # This 16-unit network at g = 4 has one chaotic attractor: λ ≈ 0.23 from every start.
    K, H, T = 32, 16, 40
    W = _random(1, H, 4.0, seed=9).expand(K, H, H)
    exponent = largest_lyapunov_exponent(W, steps=2000, warmup=200)
    assert (exponent > 0.15).all()
    start = autonomous_trajectory(W, 1, warmup=200)[:, 0]  # on the attractor, K different points
    direction = torch.randn(K, H, generator=torch.Generator().manual_seed(5), dtype=F64)
    direction = direction / torch.linalg.vector_norm(direction, dim=-1, keepdim=True)
    first = autonomous_trajectory(W, T, initial_state=start)
    second = autonomous_trajectory(W, T, initial_state=start + 1e-9 * direction)
    separation = torch.linalg.vector_norm(first - second, dim=-1)  # (K, T)
    assert separation[:, -1].max() < 0.1  # still small: the growth is the linearized one
    # The mean over starts of log‖δh_t‖ grows by λ per step: the least-squares slope against t.
    log_separation = separation.log().mean(0)
    t = torch.arange(1, T + 1, dtype=F64)
    slope = ((t - t.mean()) * (log_separation - log_separation.mean())).sum() / (t - t.mean()).square().sum()
    assert float(slope) == pytest.approx(float(exponent.mean()), rel=0.15)


def test_member_k_equals_the_single_network_seeded_seed_plus_k():
    W = _random(3, 6, 2.0)
    bias = torch.randn(3, 6, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.1
    exponent = largest_lyapunov_exponent(W, steps=300, warmup=50, bias=bias, seed=10)
    states = autonomous_trajectory(W, 40, bias=bias, warmup=5, seed=10)
    for k in range(3):
        single = largest_lyapunov_exponent(W[k], steps=300, warmup=50, bias=bias[k], seed=10 + k)
        assert single.shape == ()
        torch.testing.assert_close(exponent[k], single, rtol=0, atol=1e-12)
        own = autonomous_trajectory(W[k], 40, bias=bias[k], warmup=5, seed=10 + k)
        assert own.shape == (40, 6)
        torch.testing.assert_close(states[k], own, rtol=0, atol=1e-12)


def test_the_exponent_belongs_to_the_trajectory_with_the_same_seed():
    W = _random(2, 5, 1.5)
    start = autonomous_trajectory(W, 1, seed=3)[:, 0]
    # h_0 is drawn as in autonomous_trajectory: pass h_0 explicitly and the trajectory is the same.
    h0 = torch.stack([torch.randn(5, generator=torch.Generator().manual_seed(3 + k), dtype=F64) for k in range(2)])
    torch.testing.assert_close(start, torch.tanh(h0[:, None] @ W.transpose(-1, -2))[:, 0])
    shared = autonomous_trajectory(W, 10, initial_state=h0[0])
    torch.testing.assert_close(shared[0], autonomous_trajectory(W[0], 10, initial_state=h0[0]))


def test_a_dead_tangent_gives_minus_infinity_not_nan():
    exponent = largest_lyapunov_exponent(_random(2, 4, 1.0), steps=20, warmup=0, activation="step")
    assert torch.isneginf(exponent).all()


def test_an_activation_object_is_accepted():
    W = _random(2, 4, 0.5)
    by_name = largest_lyapunov_exponent(W, steps=50, warmup=10, activation="sigmoid")
    by_object = largest_lyapunov_exponent(W, steps=50, warmup=10, activation=get_activation("sigmoid"))
    torch.testing.assert_close(by_name, by_object, rtol=0, atol=0)


def test_float32_is_kept():
    W = _random(2, 4, 0.5).float()
    assert autonomous_trajectory(W, 3).dtype == torch.float32
    assert largest_lyapunov_exponent(W, steps=5, warmup=1).dtype == F64


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"W_rec": torch.zeros(2, 3, 4)}, ValueError, r"`W_rec` must hold square matrices.*\(2, 3, 4\)"),
    ({"W_rec": torch.zeros(3)}, ValueError, "`W_rec` must hold square matrices"),
    ({"W_rec": torch.zeros(3, 3, dtype=torch.long)}, TypeError, "`W_rec` must be a floating-point tensor"),
    ({"W_rec": [[1.0]]}, TypeError, r"`W_rec` must be a floating-point tensor \(K, H, H\), got \[\[1.0\]\]"),
    ({"steps": 0}, ValueError, "`steps` must be at least 1, got 0"),
    ({"steps": 2.5}, TypeError, "`steps` must be an integer"),
    ({"warmup": -1}, ValueError, "`warmup` must be at least 0, got -1"),
    ({"seed": -1}, ValueError, "`seed` must be at least 0"),
    ({"activation": "swish"}, ValueError, "Unknown activation 'swish'.*Available: 'step', 'sigmoid'"),
    ({"bias": torch.zeros(4)}, ValueError, r"`bias` must have shape \(H,\) or \(2, 3\).*\(4,\)"),
    ({"bias": torch.zeros(3, 3)}, ValueError, r"`bias` must have shape \(H,\) or \(2, 3\)"),
    ({"bias": [0.0, 0.0, 0.0]}, TypeError, "`bias` must be a tensor"),
    ({"initial_state": torch.zeros(2, 2)}, ValueError, "`initial_state` must have shape"),
])
def test_wrong_arguments_are_refused_with_a_clear_message(kwargs, error, match):
    arguments = {"W_rec": torch.zeros(2, 3, 3), "steps": 5, "warmup": 1, **kwargs}
    with pytest.raises(error, match=match):
        largest_lyapunov_exponent(**arguments)
    steps = arguments.pop("steps")
    with pytest.raises(error, match=match):
        autonomous_trajectory(arguments.pop("W_rec"), steps, **arguments)
