"""Model sizes: refused before allocation when they cannot fit, with the arguments and bytes named."""

import time

import pytest
import torch

from gradtrace import memory
from gradtrace.models import ESN, GRU, LSTM, MLP, ElmanRNN
from gradtrace.models.sizes import MAX_DEPTH, MAX_MODELS, mlp_values, recurrent_values

PIB = r"\d+\.\d PiB|\d+\.\d EiB|\d+\.\d TiB"


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda: ElmanRNN(2, 10**7, 1, num_models=10), "`num_models`=10, `input_size`=2, `hidden_size`=10000000"),
        (lambda: LSTM(10**12, 8, 1), "`input_size`=1000000000000, `hidden_size`=8"),
        (lambda: GRU(2, 8, 10**12), "`output_size`=1000000000000"),
        (lambda: MLP(2, depth=100, width=10**7), "`depth`=100, `width`=10000000"),
        (lambda: MLP(2, [10**7, 10**7], 1), r"`hidden_sizes`=\[10000000, 10000000\]"),
        (lambda: ESN(2, 10**7, 1), "`reservoir_size`=10000000"),
    ],
)
def test_a_model_too_large_for_memory_is_refused_before_allocation(build, names):
    began = time.perf_counter()
    with pytest.raises(ValueError, match=rf"The (parameters|reservoir) of \w+ \(.*{names}.*\) would need "
                                         rf"({PIB}), more than this machine's memory \(\d+\.\d GiB\)"):
        build()
    assert time.perf_counter() - began < 1.0


def test_the_estimate_counts_every_parameter():
    for cls in (ElmanRNN, LSTM, GRU):
        model = cls(3, 5, 2, num_models=1, seed=0)
        counted = recurrent_values(3, 5, 2, model.num_gates)
        actual = sum(p.numel() for p in model.parameters())
        # At most one bias vector of G·H is counted that the model does not have (all but the GRU).
        assert actual <= counted <= actual + model.num_gates * 5
    model = MLP(3, [4, 6], 2, batch_norm=True, activation="prelu", seed=0)
    held = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    assert mlp_values(3, (4, 6), 2, batch_norm=True, prelu=True) == held


def test_the_check_uses_the_dtype_and_the_members(monkeypatch):
    # 8 values per member of ElmanRNN(1, 1, 1): W_in, W_rec, two biases, W_out, b_out... in float64.
    per_member = recurrent_values(1, 1, 1, 1) * 8
    monkeypatch.setattr(memory, "memory_capacity", lambda device=None: (3 * per_member, "a small machine"))
    ElmanRNN(1, 1, 1, num_models=3, dtype=torch.float64, seed=0)
    with pytest.raises(ValueError, match=r"`num_models`=4.* more than a small machine"):
        ElmanRNN(1, 1, 1, num_models=4, dtype=torch.float64, seed=0)
    ElmanRNN(1, 1, 1, num_models=6, dtype=torch.float32, seed=0)


@pytest.mark.parametrize("cls", [ElmanRNN, LSTM, GRU, ESN])
def test_num_models_has_an_upper_bound(cls):
    with pytest.raises(ValueError, match=rf"`num_models` must be at most {MAX_MODELS}, got 10000000"):
        cls(2, 8, 1, num_models=10**7)
    with pytest.raises(ValueError, match=r"`num_models` must be at least 1, got 0"):
        cls(2, 8, 1, num_models=0)


def test_mlp_depth_and_members_have_upper_bounds():
    with pytest.raises(ValueError, match=rf"`depth` must be at most {MAX_DEPTH}, got 1000000000"):
        MLP(2, depth=10**9, width=2)
    with pytest.raises(ValueError, match=rf"`hidden_sizes` names {MAX_DEPTH + 1} hidden layers"):
        MLP(2, [1] * (MAX_DEPTH + 1))
    with pytest.raises(ValueError, match=rf"`num_models` must be at most {MAX_MODELS}"):
        MLP(2, [2], num_models=MAX_MODELS + 1)


@pytest.mark.parametrize("dtype", [torch.int32, torch.complex64, "float32", torch.bool, float])
@pytest.mark.parametrize("build", [lambda d: ElmanRNN(2, 3, 1, dtype=d), lambda d: MLP(2, [3], dtype=d),
                                   lambda d: ESN(2, 3, 1, dtype=d, connectivity=1.0)])
def test_a_dtype_that_is_not_floating_is_refused_naming_dtype(build, dtype):
    with pytest.raises(TypeError, match=r"`dtype` must be None \(torch's default\) or a floating torch\.dtype"):
        build(dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_floating_dtypes_are_accepted(dtype):
    assert ElmanRNN(2, 3, 1, dtype=dtype, seed=0).W_rec.dtype == dtype
    assert MLP(2, [3], dtype=dtype, seed=0).W_out.dtype == dtype
