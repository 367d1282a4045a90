"""Our cells equal torch.nn.RNN/LSTM/GRU in float64: outputs, final states, gradients wrt weights
and inputs, through from_torch and to_torch."""

import pytest
import torch
from torch import nn

from gradtrace.models import GRU, LSTM, ElmanRNN

# Every test runs with the Python and the compiled time loops of the hand-written BPTT.
pytestmark = pytest.mark.usefixtures("bptt_loops")

B, T, IN, H, OUT = 3, 6, 4, 5, 2
F64 = torch.float64
KINDS = {
    "elman-tanh": (
        ElmanRNN,
        lambda **kw: nn.RNN(IN, H, nonlinearity="tanh", **kw),
        {"activation": "tanh"},
    ),
    "elman-relu": (
        ElmanRNN,
        lambda **kw: nn.RNN(IN, H, nonlinearity="relu", **kw),
        {"activation": "relu"},
    ),
    "lstm": (LSTM, lambda **kw: nn.LSTM(IN, H, **kw), {}),
    "gru": (GRU, lambda **kw: nn.GRU(IN, H, **kw), {}),
}


def _randomize_(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_((torch.rand(param.shape, generator=generator, dtype=F64) * 2 - 1) * 0.6)
    return module


def _inputs(seed=0):
    return torch.randn(
        B, T, IN, generator=torch.Generator().manual_seed(seed), dtype=F64, requires_grad=True
    )


def _torch_final(final):
    return final if isinstance(final, tuple) else (final,)


def _pairs(model, rnn, head, member):
    """(ours, theirs) parameter pairs whose gradients must agree."""
    pairs = [
        (model.W_in, rnn.weight_ih_l0),
        (model.W_rec, rnn.weight_hh_l0),
        (model.W_out, head.weight),
        (model.b_out, head.bias),
    ]
    if rnn.bias:
        pairs.append((model.b, rnn.bias_ih_l0))
        # Elman and LSTM add the two torch biases into b; GRU keeps the recurrent one apart.
        pairs.append((model.b_rec if isinstance(model, GRU) else model.b, rnn.bias_hh_l0))
    return [(ours, theirs, member) for ours, theirs in pairs]


def _assert_equal_runs(model, member, rnn, head):
    inputs = _inputs()
    trajectory = model(inputs)
    torch_states, torch_final = rnn(inputs)
    torch_outputs = head(torch_states)
    close = {"rtol": 0, "atol": 1e-10}
    torch.testing.assert_close(trajectory.outputs[member], torch_outputs, **close)
    torch.testing.assert_close(trajectory.states[member], torch_states, **close)
    for ours, theirs in zip(trajectory.final_state, _torch_final(torch_final), strict=True):
        torch.testing.assert_close(ours[member], theirs[0], **close)

    weights = torch.randn(B, T, OUT, generator=torch.Generator().manual_seed(1), dtype=F64)
    pairs = _pairs(model, rnn, head, member)
    ours_loss = (trajectory.outputs[member] * weights).sum()
    torch_loss = (torch_outputs * weights).sum()
    ours_grads = torch.autograd.grad(ours_loss, [inputs] + [p for p, _, _ in pairs])
    torch_grads = torch.autograd.grad(torch_loss, [inputs] + [q for _, q, _ in pairs])
    torch.testing.assert_close(ours_grads[0], torch_grads[0], **close)
    for ours_grad, theirs_grad in zip(ours_grads[1:], torch_grads[1:], strict=True):
        assert float(theirs_grad.abs().amax()) > 0
        torch.testing.assert_close(ours_grad[member], theirs_grad, **close)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_equals_torch_in_outputs_and_gradients(kind, bias):
    cls, make, _ = KINDS[kind]
    rnn = _randomize_(make(bias=bias, batch_first=True, dtype=F64), seed=2)
    head = _randomize_(nn.Linear(H, OUT, dtype=F64), seed=3)
    model = cls.from_torch(rnn, head)
    assert model.num_models == 1 and model.W_rec.dtype == F64
    _assert_equal_runs(model, 0, rnn, head)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_from_torch_without_a_head_outputs_the_hidden_states(kind):
    cls, make, _ = KINDS[kind]
    rnn = _randomize_(make(batch_first=True, dtype=F64), seed=4)
    inputs = _inputs()
    trajectory = cls.from_torch(rnn)(inputs)
    assert trajectory.outputs.shape == (1, B, T, H)
    torch.testing.assert_close(trajectory.outputs[0], rnn(inputs)[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_to_torch_equals_the_member_in_outputs_and_gradients(kind):
    cls, _, options = KINDS[kind]
    model = cls(IN, H, OUT, num_models=2, seed=5, dtype=F64, **options)
    rnn, head = model.to_torch(member=1)
    assert rnn.batch_first and rnn.weight_hh_l0.dtype == F64 and head.weight.dtype == F64
    _assert_equal_runs(model, 1, rnn, head)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_from_torch_of_to_torch_gives_back_the_member(kind):
    cls, _, options = KINDS[kind]
    model = cls(IN, H, OUT, num_models=3, seed=6, dtype=F64, **options)
    back = cls.from_torch(*model.to_torch(member=2))
    for (name, param), (_, original) in zip(
        back.named_parameters(), model.named_parameters(), strict=True
    ):
        assert torch.equal(param[0], original[2]), name
