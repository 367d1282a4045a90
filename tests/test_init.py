"""Spectral readings and rescaling against torch.linalg."""

import pytest
import torch

from gradtrace.init import scale_to_spectral_radius_, spectral_radius, top_singular_value
from gradtrace.models import ElmanRNN

F64 = torch.float64


def _matrices(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_spectral_radius_is_the_largest_eigenvalue_modulus(dtype):
    weight = _matrices(3, 6, 6, dtype=dtype)
    radius = spectral_radius(weight)
    assert radius.shape == (3,) and radius.dtype == dtype
    expected = torch.linalg.eigvals(weight.double()).abs().amax(-1).to(dtype)
    torch.testing.assert_close(radius, expected)


def test_top_singular_value_is_the_largest_singular_value_of_any_matrix():
    weight = _matrices(2, 12, 4)  # a gated W_rec is (K, G·H, H)
    torch.testing.assert_close(
        top_singular_value(weight), torch.linalg.svdvals(weight)[:, 0], rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("radius", [0.5, 1.0, 3.0])
def test_scaling_sets_the_spectral_radius_in_place_keeping_the_direction(radius):
    weight = _matrices(4, 8, 8)
    original = weight.clone()
    returned = scale_to_spectral_radius_(weight, radius)
    assert returned is weight
    moduli = torch.linalg.eigvals(weight).abs().amax(-1)
    torch.testing.assert_close(moduli, torch.full((4,), radius, dtype=F64), rtol=1e-10, atol=0)
    factors = weight.flatten(1) / original.flatten(1)
    torch.testing.assert_close(factors, factors[:, :1].expand_as(factors), rtol=1e-12, atol=0)
    assert bool((factors > 0).all())


def test_scaling_a_models_recurrent_parameter_works_and_keeps_its_gradient_flag():
    model = ElmanRNN(2, 8, 1, num_models=2, seed=0, dtype=F64)
    scale_to_spectral_radius_(model.W_rec, 1.1)
    assert model.W_rec.requires_grad
    torch.testing.assert_close(
        torch.linalg.eigvals(model.W_rec.detach()).abs().amax(-1),
        torch.full((2,), 1.1, dtype=F64),
        rtol=1e-10,
        atol=0,
    )


@pytest.mark.parametrize(
    ("weight", "radius", "error", "match"),
    [
        (torch.ones(3, 4), 1.0, ValueError, r"`weight` must be square matrices \(\.\.\., H, H\)"),
        (torch.ones(4), 1.0, ValueError, r"`weight` must be square"),
        (torch.eye(3), 0.0, ValueError, r"`radius` must be greater than 0"),
        (torch.eye(3), -1.0, ValueError, r"`radius` must be greater than 0"),
        (torch.eye(3), float("inf"), ValueError, r"`radius` must be finite"),
        (torch.eye(3), "1", TypeError, r"`radius` must be a real number"),
        (
            torch.triu(torch.ones(3, 3), diagonal=1),
            1.0,
            ValueError,
            r"spectral radius 0 \(nilpotent\)",
        ),
    ],
)
def test_invalid_scaling_raises(weight, radius, error, match):
    with pytest.raises(error, match=match):
        scale_to_spectral_radius_(weight, radius)


def test_spectral_radius_refuses_non_square_matrices():
    with pytest.raises(ValueError, match=r"`weight` must be square"):
        spectral_radius(torch.ones(2, 3))


def test_lstm_forget_bias_sets_only_the_forget_slice_of_every_member():
    from gradtrace.init import lstm_forget_bias_
    from gradtrace.models import LSTM

    model = LSTM(2, 4, 1, num_models=3, seed=0)
    before = model.b.detach().clone()
    lstm_forget_bias_(model, 1.5)
    assert torch.equal(model.b[:, 4:8], torch.full((3, 4), 1.5))
    assert torch.equal(model.b[:, :4], before[:, :4])
    assert torch.equal(model.b[:, 8:], before[:, 8:])


def test_lstm_forget_bias_rejects_other_models():
    from gradtrace.init import lstm_forget_bias_
    from gradtrace.models import GRU

    with pytest.raises(TypeError, match="must be a gradtrace LSTM"):
        lstm_forget_bias_(GRU(2, 4, 1, seed=0))
