"""trace refuses a batch that does not fit the model, non-finite inputs and traces too large for memory."""

import math

import pytest
import torch

import gradtrace as gt
from gradtrace import memory
from gradtrace.tasks import Batch

BATCH = gt.Adding(6).sample(3, seed=0)
MODELS = {
    "elman": lambda: gt.ElmanRNN(2, 4, 1, num_models=2, seed=0),
    "lstm": lambda: gt.LSTM(2, 4, 1, seed=0),
    "mlp": lambda: gt.MLP(12, [4, 4], 1, num_models=2, seed=0),
}


def _with(tensor: torch.Tensor, index: tuple, value: float) -> torch.Tensor:
    tensor = tensor.clone()
    tensor[index] = value
    return tensor


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_are_refused_naming_the_first_place(kind, value):
    batch = Batch(_with(_with(BATCH.inputs, (1, 4, 0), value), (2, 0, 1), value), BATCH.targets, BATCH.mask)
    with pytest.raises(ValueError, match=rf"^`batch\.inputs` holds {value} at index \(1, 4, 0\), the first of 2 "
                                         r"non-finite value\(s\) among 36; a trace needs finite numbers\.$"):
        gt.trace(MODELS[kind](), batch)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_non_finite_targets_are_refused(kind):
    batch = Batch(BATCH.inputs, _with(BATCH.targets, (0, 5, 0), math.nan), BATCH.mask)
    with pytest.raises(ValueError, match=r"^`batch\.targets` holds nan at index \(0, 5, 0\)"):
        gt.trace(MODELS[kind](), batch)


@pytest.mark.parametrize(
    ("kind", "inputs", "match"),
    [
        ("elman", torch.zeros(3, 6, 3), r"`batch\.inputs` does not fit this ElmanRNN: `inputs` must have shape "
                                        r"\(B, T, 2\) or \(2, B, T, 2\), got Tensor of shape \(3, 6, 3\)"),
        ("elman", torch.zeros(5, 3, 6, 2), r"got Tensor of shape \(5, 3, 6, 2\)"),
        ("mlp", torch.zeros(3, 5, 2), r"`batch\.inputs` does not fit this MLP: .*input_size = 12, got Tensor of "
                                      r"shape \(3, 5, 2\)"),
    ],
)
def test_inputs_of_the_wrong_shape_name_expected_and_received(kind, inputs, match):
    lead = inputs.shape[:-1]
    batch = Batch(inputs, torch.zeros(*lead, 1), torch.ones(*lead, dtype=torch.bool))
    with pytest.raises(ValueError, match=match):
        gt.trace(MODELS[kind](), batch)


def test_targets_of_another_width_than_the_outputs_are_refused():
    # They would broadcast against the (K, B, T, 1) outputs and give a wrong loss without an error.
    batch = Batch(BATCH.inputs, torch.zeros(3, 6, 2), BATCH.mask)
    with pytest.raises(ValueError, match=r"`batch\.targets` have 2 values per step \(shape \(3, 6, 2\)\), but "
                                         r"the model has output_size=1"):
        gt.trace(MODELS["elman"](), batch)


def test_class_indices_beyond_the_outputs_are_refused():
    batch = gt.TemporalOrder(20).sample(4, seed=0)
    with pytest.raises(ValueError, match=r"`batch\.targets` hold class indices from 0 to \d, but the model's "
                                         r"output_size=2 scores classes 0 to 1"):
        gt.trace(gt.ElmanRNN(batch.inputs.shape[-1], 4, 2, seed=0), batch)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_diverged_member_is_traced_as_nan_not_refused(kind):
    model = MODELS[kind]()
    with torch.no_grad():
        next(model.parameters())[-1].fill_(math.nan)
    traced = gt.trace(model, BATCH)
    assert bool(traced.grad_norms[-1].isnan().all())
    assert bool(traced.jacobian_singular_values[-1].isnan().all())
    if model.num_models > 1:
        assert bool(traced.grad_norms[0].isfinite().all())
        assert bool(traced.jacobian_singular_values[0].isfinite().all())


def test_a_trace_too_large_for_memory_is_refused_naming_its_sizes(monkeypatch):
    model = gt.ElmanRNN(2, 64, 1, num_models=2, seed=0)
    mlp = gt.MLP(200, [2048], seed=0)
    batch = gt.Adding(100).sample(64, seed=0)
    monkeypatch.setattr(memory, "memory_capacity", lambda device=None: (2**20, "this machine's memory"))
    with pytest.raises(ValueError, match=r"Tracing ElmanRNN on this batch \(`batch_size`=64, `length`=100, "
                                         r"`num_models`=2, `hidden_size`=64\) would need \d+\.\d MiB, more than "
                                         r"this machine's memory \(1\.0 MiB\)"):
        gt.trace(model, batch)
    with pytest.raises(ValueError, match=r"Tracing MLP on this batch \(`batch_size`=64, `num_models`=1"):
        gt.trace(mlp, batch)


def test_a_batch_too_large_for_memory_is_refused_before_sampling():
    with pytest.raises(ValueError, match=r"A batch of adding\(length=100, variant='sum'\) \(`batch_size`="
                                         r"1000000000000, `max_length`=100\) would need \d+\.\d PiB, more than "):
        gt.Adding(100).sample(10**12, seed=0)
