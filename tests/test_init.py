"""Initializations: spectral readings against torch.linalg, draws against their formulas and the seed contract."""

import math
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtrace.init import (
    GAINS,
    identity_,
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    orthogonal_,
    scale_to_spectral_radius_,
    sparse_,
    spectral_radius,
    top_singular_value,
    xavier_normal_,
    xavier_uniform_,
)
from gradtrace.models import GRU, LSTM, ElmanRNN
from gradtrace.models.initialization import INITIALIZATIONS, initialize, lstm_forget_bias_

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
    model = LSTM(2, 4, 1, num_models=3, seed=0)
    before = model.b.detach().clone()
    lstm_forget_bias_(model, 1.5)
    assert torch.equal(model.b[:, 4:8], torch.full((3, 4), 1.5))
    assert torch.equal(model.b[:, :4], before[:, :4])
    assert torch.equal(model.b[:, 8:], before[:, 8:])


def test_lstm_forget_bias_rejects_other_models():
    with pytest.raises(TypeError, match="must be a gradtrace LSTM"):
        lstm_forget_bias_(GRU(2, 4, 1, seed=0))


# ------------------------------------------------------------------------------------------------
# Tensor-level initializations
# ------------------------------------------------------------------------------------------------


def _blocks(weight, gates):
    """(K, G·R, C) → (K, G, R, C)."""
    K, rows, cols = weight.shape
    return weight.reshape(K, gates, rows // gates, cols)


RANDOM_FILLS = [
    (xavier_uniform_, {}),
    (xavier_normal_, {"gain": 2.0}),
    (kaiming_uniform_, {"nonlinearity": "tanh"}),
    (kaiming_normal_, {"mode": "fan_out"}),
    (orthogonal_, {"gates": 2}),
    (sparse_, {"nonzeros": 2, "gates": 2}),
    (normal_, {"std": 0.1}),
]


@pytest.mark.parametrize(("fill", "options"), RANDOM_FILLS)
def test_member_k_with_seed_s_equals_one_matrix_with_seed_s_plus_k(fill, options):
    stacked = fill(torch.empty(3, 6, 3, dtype=F64), seed=7, **options)
    for k in range(3):
        single = fill(torch.empty(1, 6, 3, dtype=F64), seed=7 + k, **options)
        assert torch.equal(stacked[k], single[0])
    from_list = fill(torch.empty(3, 6, 3, dtype=F64), generator=[torch.Generator().manual_seed(7 + k)
                                                                 for k in range(3)], **options)
    assert torch.equal(from_list, stacked)
    assert not torch.equal(stacked[0], stacked[1])


@pytest.mark.parametrize(("fill", "options"), RANDOM_FILLS)
def test_a_float32_weight_holds_the_float64_draw_rounded(fill, options):
    wide = fill(torch.empty(2, 6, 3, dtype=F64), seed=1, **options)
    narrow = fill(torch.empty(2, 6, 3, dtype=torch.float32), seed=1, **options)
    assert torch.equal(narrow, wide.float())


def test_a_shared_generator_draws_the_members_one_after_the_other():
    shared = xavier_normal_(torch.empty(2, 4, 4, dtype=F64), generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    first = xavier_normal_(torch.empty(4, 4, dtype=F64), generator=generator)
    second = xavier_normal_(torch.empty(4, 4, dtype=F64), generator=generator)
    assert torch.equal(shared, torch.stack([first, second]))


def test_without_generator_or_seed_the_global_generator_is_used():
    with torch.random.fork_rng():
        torch.manual_seed(5)
        first = kaiming_uniform_(torch.empty(2, 4, 3, dtype=F64))
        torch.manual_seed(5)
        second = kaiming_uniform_(torch.empty(2, 4, 3, dtype=F64))
    assert torch.equal(first, second)


# Large matrices so the empirical standard deviation is within ~1% of the formula (fixed seed).
@pytest.mark.parametrize(
    ("fill", "options", "expected_std", "bound"),
    [
        (xavier_uniform_, {}, math.sqrt(2 / (300 + 400)), math.sqrt(6 / (300 + 400))),
        (xavier_uniform_, {"gain": 0.5}, 0.5 * math.sqrt(2 / 700), 0.5 * math.sqrt(6 / 700)),
        (xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / 700), None),
        (xavier_normal_, {"gates": 4}, math.sqrt(2 / (75 + 400)), None),  # fan_out of one gate
        (kaiming_uniform_, {}, math.sqrt(2 / 400), math.sqrt(6 / 400)),
        (kaiming_uniform_, {"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(400), 5 / 3 * math.sqrt(3 / 400)),
        (kaiming_normal_, {}, math.sqrt(2 / 400), None),
        (kaiming_normal_, {"nonlinearity": "linear", "mode": "fan_out"}, 1 / math.sqrt(300), None),
        (kaiming_normal_, {"mode": "fan_out", "gates": 3}, math.sqrt(2 / 100), None),
        (normal_, {"std": 0.01}, 0.01, None),
    ],
)
def test_the_empirical_spread_matches_the_formula(fill, options, expected_std, bound):
    weight = fill(torch.empty(1, 300, 400, dtype=F64), seed=0, **options)
    assert abs(float(weight.mean())) < 0.05 * expected_std
    assert float(weight.std()) == pytest.approx(expected_std, rel=0.02)
    if bound is not None:
        assert float(weight.abs().max()) <= bound
        assert float(weight.abs().max()) > 0.99 * bound


def test_kaiming_gains_are_he_and_torch_values():
    assert GAINS["relu"] == math.sqrt(2.0)
    assert GAINS["tanh"] == 5 / 3
    assert GAINS["linear"] == GAINS["sigmoid"] == 1.0


@pytest.mark.parametrize("gain", [1.0, 0.9])
def test_orthogonal_gives_each_gate_block_of_a_gated_recurrent_weight_its_own_orthogonal_matrix(gain):
    weight = orthogonal_(torch.empty(3, 4 * 5, 5, dtype=F64), gain, gates=4, seed=0)
    blocks = _blocks(weight, 4)
    torch.testing.assert_close(blocks.transpose(-1, -2) @ blocks, gain**2 * torch.eye(5, dtype=F64).expand(3, 4, 5, 5))
    torch.testing.assert_close(blocks @ blocks.transpose(-1, -2), gain**2 * torch.eye(5, dtype=F64).expand(3, 4, 5, 5))
    assert not torch.allclose(blocks[:, 0], blocks[:, 1])


def test_orthogonal_without_gates_makes_a_tall_matrix_with_orthonormal_columns():
    weight = orthogonal_(torch.empty(2, 12, 3, dtype=F64), seed=0)
    torch.testing.assert_close(weight.transpose(-1, -2) @ weight, torch.eye(3, dtype=F64).expand(2, 3, 3))


@settings(max_examples=40, deadline=None)
@given(members=st.integers(1, 3), gates=st.integers(1, 4), rows=st.integers(1, 6), cols=st.integers(1, 6),
       seed=st.integers(0, 2**31 - 1))
def test_every_orthogonal_block_is_semi_orthogonal(members, gates, rows, cols, seed):
    weight = orthogonal_(torch.empty(members, gates * rows, cols, dtype=F64), gates=gates, seed=seed)
    blocks = _blocks(weight, gates)
    if rows >= cols:  # orthonormal columns
        gram, size = blocks.transpose(-1, -2) @ blocks, cols
    else:  # orthonormal rows
        gram, size = blocks @ blocks.transpose(-1, -2), rows
    torch.testing.assert_close(gram, torch.eye(size, dtype=F64).expand_as(gram), rtol=0, atol=1e-12)


def test_identity_is_exact_in_every_gate_block_and_member():
    weight = identity_(torch.full((2, 3 * 4, 4), 7.0, dtype=F64), 0.5, gates=3)
    assert torch.equal(_blocks(weight, 3), 0.5 * torch.eye(4, dtype=F64).expand(2, 3, 4, 4))
    assert torch.equal(identity_(torch.empty(3, 3), -1.0), -torch.eye(3))


@settings(max_examples=30, deadline=None)
@given(members=st.integers(1, 3), size=st.integers(1, 8), data=st.data())
def test_sparse_has_exactly_nonzeros_per_row_and_the_target_spectral_radius(members, size, data):
    nonzeros = data.draw(st.integers(1, size))
    radius = data.draw(st.floats(0.1, 3.0))
    seed = data.draw(st.integers(0, 2**31 - 1))
    weight = sparse_(torch.empty(members, size, size, dtype=F64), nonzeros, radius, seed=seed)
    assert torch.equal((weight != 0).sum(-1), torch.full((members, size), nonzeros))
    moduli = torch.linalg.eigvals(weight).abs().amax(-1)
    torch.testing.assert_close(moduli, torch.full((members,), radius, dtype=F64), rtol=1e-10, atol=0)


def test_sparse_scales_each_gate_block_and_leaves_non_square_blocks_unscaled():
    weight = sparse_(torch.empty(2, 4 * 6, 6, dtype=F64), 3, 1.2, gates=4, seed=0)
    blocks = _blocks(weight, 4)
    torch.testing.assert_close(torch.linalg.eigvals(blocks).abs().amax(-1),
                               torch.full((2, 4), 1.2, dtype=F64), rtol=1e-10, atol=0)
    assert torch.equal((weight != 0).sum(-1), torch.full((2, 24), 3))
    wide = sparse_(torch.empty(1, 200, 50, dtype=F64), 15, seed=0)  # N(0, 1) values, unscaled
    values = wide[wide != 0]
    assert values.numel() == 200 * 15
    assert float(values.std()) == pytest.approx(1.0, rel=0.05)
    unscaled = sparse_(torch.empty(1, 50, 50, dtype=F64), 15, None, seed=0)
    assert float(unscaled[unscaled != 0].std()) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sparse_(torch.empty(2, 4, 4), 5), ValueError, r"`nonzeros` must be between 1 and fan_in = 4.*got 5"),
        (lambda: sparse_(torch.empty(2, 4, 4), 0), ValueError, r"`nonzeros` must be between 1 and fan_in = 4"),
        (lambda: sparse_(torch.empty(2, 4, 4), 2.5), TypeError, r"`nonzeros` must be an integer"),
        (lambda: sparse_(torch.empty(4, 4), 2, 0.0), ValueError, r"`spectral_radius` must be greater than 0"),
        (lambda: sparse_(torch.empty(4, 4), 2, -1.0), ValueError, r"`spectral_radius` must be greater than 0"),
        (lambda: xavier_uniform_(torch.empty(6, 4), gates=4), ValueError, r"`gates` must split the 6 rows"),
        (lambda: xavier_uniform_(torch.empty(6, 4), gain=0.0), ValueError, r"`gain` must be greater than 0"),
        (lambda: xavier_uniform_(torch.empty(4)), ValueError, r"`weight` must be non-empty matrices"),
        (lambda: xavier_uniform_(torch.empty(0, 4, 4)), ValueError, r"`weight` must be non-empty matrices"),
        (lambda: xavier_uniform_(torch.zeros(3, 3, dtype=torch.long)), TypeError, r"`weight` must be a floating"),
        (lambda: xavier_uniform_([[0.0]]), TypeError, r"`weight` must be a floating-point tensor"),
        (lambda: kaiming_normal_(torch.empty(3, 3), "swish"), ValueError,
         r"Unknown nonlinearity 'swish' for `nonlinearity`. Available: 'linear', 'sigmoid', 'tanh', 'relu'"),
        (lambda: kaiming_normal_(torch.empty(3, 3), mode="both"), ValueError, r"Unknown mode 'both'"),
        (lambda: orthogonal_(torch.empty(2, 3, 3), generator=torch.Generator(), seed=0), TypeError,
         r"Pass `generator` or `seed`, not both"),
        (lambda: orthogonal_(torch.empty(2, 3, 3), generator=[torch.Generator()]), ValueError,
         r"one generator per member \(2\), got 1"),
        (lambda: orthogonal_(torch.empty(2, 3, 3), generator=[0, 1]), TypeError, r"`generator` must be a torch"),
        (lambda: orthogonal_(torch.empty(2, 3, 3), seed=-1), ValueError, r"`seed` must be at least 0"),
        (lambda: identity_(torch.empty(2, 8, 2)), ValueError, r"square block\(s\) for an identity.*pass `gates`"),
        (lambda: identity_(torch.empty(2, 2), float("nan")), ValueError, r"`scale` must be finite"),
        (lambda: normal_(torch.empty(2, 2), 0.0), ValueError, r"`std` must be greater than 0"),
    ],
)
def test_invalid_tensor_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_failed_draw_leaves_the_weight_untouched():
    weight = torch.ones(2, 3, 3, dtype=F64)
    with pytest.raises(ValueError, match="nonzeros"):
        sparse_(weight, 4)
    assert torch.equal(weight, torch.ones(2, 3, 3, dtype=F64))


# ------------------------------------------------------------------------------------------------
# Model-level schemes
# ------------------------------------------------------------------------------------------------
SCHEME_OPTIONS = {
    "uniform": {},
    "xavier_uniform": {"gain": 1.5},
    "xavier_normal": {},
    "kaiming_uniform": {},
    "kaiming_normal": {"nonlinearity": "relu", "mode": "fan_out"},
    "orthogonal": {"gain": 0.9},
    "identity": {"scale": 0.8},
    "spectral": {"radius": 1.5},
    "sparse": {"nonzeros": 3},
    "normal": {"std": 0.1},
    "lstm_forget_bias": {"value": 2.0},
}
MODEL_CLASSES = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}


def _model(kind, *, seed=0, num_models=1, hidden_size=5, dtype=F64, **options):
    return MODEL_CLASSES[kind](3, hidden_size, 2, num_models=num_models, seed=seed, dtype=dtype, **options)


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_the_registry_holds_every_scheme_of_the_table():
    assert set(SCHEME_OPTIONS) <= set(INITIALIZATIONS)


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [(kind, scheme) for scheme in SCHEME_OPTIONS for kind in MODEL_CLASSES
     if scheme != "lstm_forget_bias" or kind == "lstm"],
)
def test_ensemble_member_k_equals_the_single_model_with_seed_plus_k(kind, scheme):
    ensemble = initialize(_model(kind, seed=11, num_models=3), scheme, **SCHEME_OPTIONS[scheme])
    for k in range(3):
        single = initialize(_model(kind, seed=11 + k), scheme, **SCHEME_OPTIONS[scheme])
        for name, param in single.named_parameters():
            assert torch.equal(getattr(ensemble, name)[k], param[0]), (name, k)


@pytest.mark.parametrize("scheme", ["xavier_uniform", "orthogonal", "identity", "sparse", "normal"])
def test_a_float32_model_holds_the_float64_initialization_rounded(scheme):
    wide = initialize(_model("gru", num_models=2), scheme, **SCHEME_OPTIONS[scheme])
    narrow = initialize(_model("gru", num_models=2, dtype=torch.float32), scheme, **SCHEME_OPTIONS[scheme])
    for name, param in narrow.named_parameters():
        torch.testing.assert_close(param.detach(), getattr(wide, name).detach().float(), rtol=1e-6, atol=1e-7)


def test_a_scheme_draws_apart_from_the_construction_draw_and_the_other_schemes():
    model = initialize(_model("elman", seed=4), "orthogonal")
    construction_stream = orthogonal_(torch.empty(1, 5, 5, dtype=F64), seed=4)
    assert not torch.allclose(model.W_rec.detach(), construction_stream)
    normal = initialize(_model("elman", seed=4), "normal", std=1.0)
    kaiming = initialize(_model("elman", seed=4), "kaiming_normal", nonlinearity="linear")
    assert not torch.allclose(normal.W_in.detach() / math.sqrt(3), kaiming.W_in.detach())


def test_initializing_twice_gives_the_same_values():
    first = _params(initialize(_model("lstm", num_models=2), "xavier_normal"))
    second = _params(initialize(_model("lstm", num_models=2), "xavier_normal"))
    assert all(torch.equal(first[name], second[name]) for name in first)


@pytest.mark.parametrize("kind", list(MODEL_CLASSES))
def test_uniform_is_the_construction_draw_again(kind):
    model = _model(kind, num_models=2)
    built = _params(model)
    initialize(model, "sparse", nonzeros=2)
    initialize(model, "uniform")
    assert all(torch.equal(p.detach(), built[name]) for name, p in model.named_parameters())


@pytest.mark.parametrize("kind", list(MODEL_CLASSES))
def test_orthogonal_and_spectral_touch_w_rec_only(kind):
    for scheme in ("orthogonal", "spectral"):
        model = _model(kind, num_models=2)
        before = _params(model)
        initialize(model, scheme, **SCHEME_OPTIONS[scheme])
        for name, param in model.named_parameters():
            assert torch.equal(param.detach(), before[name]) == (name != "W_rec"), (scheme, name)


@pytest.mark.parametrize("kind", list(MODEL_CLASSES))
def test_orthogonal_model_has_an_orthogonal_block_per_gate_and_keeps_gradients_on(kind):
    model = initialize(_model(kind, num_models=2), "orthogonal", gain=0.9)
    G = model.num_gates  # noqa: N806
    blocks = _blocks(model.W_rec.detach(), G)
    torch.testing.assert_close(blocks.transpose(-1, -2) @ blocks, 0.81 * torch.eye(5, dtype=F64).expand(2, G, 5, 5))
    assert model.W_rec.requires_grad and model.W_rec.is_leaf


@pytest.mark.parametrize("kind", list(MODEL_CLASSES))
def test_spectral_rescales_every_gate_block_keeping_its_direction(kind):
    model = _model(kind, num_models=2)
    before = model.W_rec.detach().clone()
    initialize(model, "spectral", radius=1.5)
    G = model.num_gates  # noqa: N806
    blocks, original = _blocks(model.W_rec.detach(), G), _blocks(before, G)
    torch.testing.assert_close(torch.linalg.eigvals(blocks).abs().amax(-1),
                               torch.full((2, G), 1.5, dtype=F64), rtol=1e-10, atol=0)
    factors = (blocks / original).flatten(2)
    torch.testing.assert_close(factors, factors[..., :1].expand_as(factors))


def test_identity_is_le_et_al_irnn_on_a_relu_elman_network():
    model = initialize(ElmanRNN(40, 16, 30, num_models=2, seed=0, activation="relu", dtype=F64), "identity")
    assert torch.equal(model.W_rec.detach(), torch.eye(16, dtype=F64).expand(2, 16, 16))
    assert not model.b.detach().any() and not model.b_out.detach().any()
    for weight in (model.W_in, model.W_out):
        assert float(weight.detach().std()) == pytest.approx(0.001, rel=0.1)
        assert float(weight.detach().mean()) == pytest.approx(0.0, abs=2e-4)


@pytest.mark.parametrize("kind", ["lstm", "gru", "elman"])
def test_identity_sets_each_gate_block_to_a_scaled_identity_on_any_model(kind):
    model = initialize(_model(kind, num_models=2), "identity", scale=0.5)
    G = model.num_gates  # noqa: N806
    assert torch.equal(_blocks(model.W_rec.detach(), G), 0.5 * torch.eye(5, dtype=F64).expand(2, G, 5, 5))
    biases = [p for name, p in model.named_parameters() if not name.startswith("W_")]
    assert len(biases) == (3 if kind == "gru" else 2)
    assert not any(bias.detach().any() for bias in biases)


@pytest.mark.parametrize("kind", list(MODEL_CLASSES))
def test_sparse_is_smart_tanh_per_gate(kind):
    model = initialize(_model(kind, num_models=2, hidden_size=6), "sparse", nonzeros=4, spectral_radius=0.9)
    G = model.num_gates  # noqa: N806
    assert torch.equal((model.W_rec.detach() != 0).sum(-1), torch.full((2, G * 6), 4))
    torch.testing.assert_close(torch.linalg.eigvals(_blocks(model.W_rec.detach(), G)).abs().amax(-1),
                               torch.full((2, G), 0.9, dtype=F64), rtol=1e-10, atol=0)
    assert float(model.W_in.detach().abs().max()) < 0.01 * 6  # N(0, 0.01²)
    assert not any(p.detach().any() for name, p in model.named_parameters() if not name.startswith("W_"))


def test_sparse_defaults_are_pascanus_fifteen_connections_and_radius_095():
    model = initialize(_model("elman", hidden_size=16), "sparse")
    assert torch.equal((model.W_rec.detach() != 0).sum(-1), torch.full((1, 16), 15))
    torch.testing.assert_close(torch.linalg.eigvals(model.W_rec.detach()).abs().amax(-1),
                               torch.tensor([0.95], dtype=F64), rtol=1e-10, atol=0)


def test_xavier_uses_the_fans_of_one_gate_and_a_unit_gain_read_out():
    model = initialize(LSTM(64, 64, 64, num_models=2, seed=0, dtype=F64), "xavier_normal", gain=2.0)
    # per gate: fan_in = fan_out = 64, not fan_out = 4·64
    assert float(model.W_rec.detach().std()) == pytest.approx(2 * math.sqrt(2 / 128), rel=0.03)
    assert float(model.W_in.detach().std()) == pytest.approx(2 * math.sqrt(2 / 128), rel=0.03)
    assert float(model.W_out.detach().std()) == pytest.approx(math.sqrt(2 / 128), rel=0.03)
    assert not model.b.detach().any() and not model.b_out.detach().any()


def test_kaiming_takes_the_elman_activation_by_default_and_scales_by_the_gain():
    relu = _model("elman", activation="relu")
    default = initialize(relu, "kaiming_normal")
    explicit = initialize(_model("elman", activation="relu"), "kaiming_normal", nonlinearity="relu")
    tanh = initialize(_model("elman", activation="relu"), "kaiming_normal", nonlinearity="tanh")
    assert all(torch.equal(p, getattr(explicit, n)) for n, p in default.named_parameters())
    for name in ("W_in", "W_rec"):
        ratio = (getattr(tanh, name) / getattr(default, name)).detach()
        torch.testing.assert_close(ratio, torch.full_like(ratio, GAINS["tanh"] / GAINS["relu"]))
    assert torch.equal(tanh.W_out, default.W_out)  # the read-out is linear whatever the units


def test_normal_sets_the_three_weights_and_zeroes_every_bias():
    model = initialize(GRU(40, 40, 40, num_models=2, seed=0, dtype=F64), "normal", std=0.1)
    for weight in (model.W_in, model.W_rec, model.W_out):
        assert float(weight.detach().std()) == pytest.approx(0.1, rel=0.05)
    assert not model.b.detach().any() and not model.b_rec.detach().any() and not model.b_out.detach().any()


def test_lstm_forget_bias_scheme_equals_the_function():
    by_name = initialize(_model("lstm", num_models=2), "lstm_forget_bias", value=1.5)
    direct = lstm_forget_bias_(_model("lstm", num_models=2), 1.5)
    assert torch.equal(by_name.b, direct.b)
    with pytest.raises(TypeError, match="must be a gradtrace LSTM"):
        initialize(_model("gru"), "lstm_forget_bias")


@pytest.mark.parametrize(
    ("scheme", "options", "error", "match"),
    [
        ("glorot", {}, ValueError, r"Unknown initialization 'glorot' for `scheme`. Available: 'uniform', 'xavier_"),
        ("orthogonal", {"radius": 1.0}, TypeError,
         r"Initialization 'orthogonal' takes no option 'radius'. Valid options: gain\."),
        ("uniform", {"gain": 1.0}, TypeError, r"takes no option 'gain'. Valid options: none\."),
        ("sparse", {"nonzero": 3}, TypeError, r"Valid options: nonzeros, spectral_radius, std\."),
        ("spectral", {}, TypeError, r"Initialization 'spectral' needs the option\(s\) 'radius'"),
        ("normal", {}, TypeError, r"needs the option\(s\) 'std'"),
        ("spectral", {"radius": 0.0}, ValueError, r"`radius` must be greater than 0"),
        ("spectral", {"radius": -2.0}, ValueError, r"`radius` must be greater than 0"),
        ("sparse", {}, ValueError, r"`nonzeros` must be between 1 and fan_in = 5 .*got 15"),
        ("sparse", {"nonzeros": 0}, ValueError, r"`nonzeros` must be between 1 and fan_in = 5"),
        ("sparse", {"nonzeros": 2, "spectral_radius": 0.0}, ValueError, r"`spectral_radius` must be greater"),
        ("identity", {"std": -1.0}, ValueError, r"`std` must be greater than 0"),
        ("kaiming_uniform", {"nonlinearity": "softplus"}, ValueError, r"Unknown nonlinearity 'softplus'"),
        ("xavier_normal", {"gain": "2"}, TypeError, r"`gain` must be a real number"),
    ],
)
def test_invalid_initialize_arguments_raise_and_leave_the_model_untouched(scheme, options, error, match):
    model = _model("lstm", num_models=2)
    before = _params(model)
    with pytest.raises(error, match=match):
        initialize(model, scheme, **options)
    assert all(torch.equal(p.detach(), before[name]) for name, p in model.named_parameters())


def test_initialize_refuses_other_modules():
    with pytest.raises(TypeError, match=r"`model` must be a gradtrace RecurrentModel, got RNN"):
        initialize(torch.nn.RNN(2, 3), "orthogonal")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 8), members=st.integers(1, 3),
       scheme=st.sampled_from(["xavier_uniform", "kaiming_uniform", "orthogonal", "identity", "normal"]))
def test_the_ensemble_contract_holds_for_any_seed(seed, members, scheme):
    options = SCHEME_OPTIONS[scheme]
    ensemble = initialize(_model("gru", seed=seed, num_models=members, hidden_size=3), scheme, **options)
    k = members - 1
    single = initialize(_model("gru", seed=seed + k, hidden_size=3), scheme, **options)
    assert all(torch.equal(getattr(ensemble, n)[k], p[0]) for n, p in single.named_parameters())


def test_the_tensor_fills_import_no_model():
    """Imports flow one way: gradtrace.init sits below the models, the named schemes above them."""
    code = "import sys, gradtrace.init; print(sorted(m for m in sys.modules if m.startswith('gradtrace.models')))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_the_moved_schemes_still_answer_at_their_old_address():
    from gradtrace.init import INITIALIZATIONS, initialize, lstm_forget_bias_
    from gradtrace.models import initialization

    assert (initialize, INITIALIZATIONS, lstm_forget_bias_) == (
        initialization.initialize, initialization.INITIALIZATIONS, initialization.lstm_forget_bias_)
    with pytest.raises(ImportError, match="'not_a_scheme'"):
        from gradtrace.init import not_a_scheme  # noqa: F401
