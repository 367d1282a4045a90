"""TBPTT: k1 = k2 ≥ T is full BPTT exactly; shorter windows match an online oracle step for step."""

import copy

import pytest
import torch

from gradtrace.models import LSTM, ElmanRNN
from gradtrace.remedies import Truncation, as_truncation, clip_by_global_norm
from gradtrace.tasks import Adding, Batch, CopyMemory, member_loss
from gradtrace.train import fit

F64 = torch.float64
SMALL = {"batch_size": 3, "eval_batch_size": 3, "optimizer": "sgd", "lr": 0.1}


def test_windows_cover_the_sequence():
    assert [(w.chunk_start, w.grad_start, w.end) for w in Truncation(5, 5).windows(12)] == [
        (0, 0, 5), (5, 5, 10), (10, 7, 12)]
    assert [(w.chunk_start, w.grad_start, w.end) for w in Truncation(5, 2).windows(10)] == [
        (0, 3, 5), (5, 8, 10)]
    assert len(Truncation(20, 20).windows(12)) == 1 and Truncation(20, 30).is_full(12)


@pytest.mark.parametrize(("value", "error", "match"), [
    ((0, 5), ValueError, "k1"), ((5, 0), ValueError, "k2"), ((5,), TypeError, "pair"),
    ("5,5", TypeError, "pair"), ((2.5, 3), TypeError, "k1"),
])
def test_bad_truncation_is_refused(value, error, match):
    with pytest.raises(error, match=match):
        as_truncation(value)


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("cls", [ElmanRNN, LSTM])
@pytest.mark.parametrize("k", [22, 40])
def test_k1_equal_k2_at_least_t_is_full_bptt(cls, k):
    task = CopyMemory(delay=2)  # T = 22, scored at every step
    runs = []
    for truncation in (None, (k, k)):
        model = cls(10, 5, 9, num_models=2, seed=4, dtype=F64)
        run = fit(model, task, steps=3, truncation=truncation, remedies=clip_by_global_norm(0.5), **SMALL)
        runs.append((run, _params(model)))
    (full, full_params), (tbptt, tbptt_params) = runs
    for name in full_params:
        assert torch.equal(full_params[name], tbptt_params[name]), name
    for key in full.history:
        torch.testing.assert_close(torch.as_tensor(full.history[key]), torch.as_tensor(tbptt.history[key]),
                                   rtol=0, atol=0, equal_nan=True)


def _oracle(model, batch, k1, k2, lr):
    """TBPTT(k1, k2) written out chunk by chunk with plain SGD.

    For each chunk [c, e): start from the state kept at g = max(0, e − k2) (or, when k2 < k1, run the
    chunk's first steps without gradient from the state at c), run [g, e) with the current weights,
    score the chunk's steps, step the weights, and keep the states this run produced for the chunk's
    own steps as the ones later chunks start from.
    """
    model = copy.deepcopy(model)
    T = batch.length  # noqa: N806
    inputs = batch.inputs.to(F64)
    entering = {0: model.initial_state(batch.batch_size)}
    for c in range(0, T, k1):
        e = min(c + k1, T)
        g = max(0, e - k2)
        prefix_states = []
        if g > c:
            with torch.no_grad():
                state = entering[c]
                for t in range(c, g):
                    state = model(inputs[..., t : t + 1, :], state).final_state
                    prefix_states.append(state[0])
                    entering[t + 1] = state
        trajectory = model(inputs[..., g:e, :], entering[g])
        for t in range(max(c, g), e):
            entering[t + 1] = model.state_at(trajectory, t - g)
        outputs = trajectory.outputs[:, :, max(0, c - g):]
        if prefix_states:
            outputs = torch.cat([model.read_out(torch.stack(prefix_states, dim=2)), outputs], dim=2)
        part = Batch(inputs[..., c:e, :], batch.targets[..., c:e], batch.mask[..., c:e], loss=batch.loss)
        losses = member_loss(outputs, part)
        params = list(model.parameters())
        grads = torch.autograd.grad(losses.sum(), params)
        with torch.no_grad():
            for p, grad in zip(params, grads):
                p -= lr * grad
    return _params(model)


@pytest.mark.parametrize(("k1", "k2"), [(5, 5), (4, 9), (6, 3), (1, 1), (22, 7)])
@pytest.mark.parametrize("cls", [ElmanRNN, LSTM])
def test_truncated_updates_match_the_online_oracle(cls, k1, k2):
    task = CopyMemory(delay=2)
    model = cls(10, 4, 9, num_models=2, seed=7, dtype=F64)
    expected_batch = Batch.stack([task.sample(3, generator=torch.Generator().manual_seed(11 + k)) for k in range(2)])
    expected = _oracle(model, expected_batch, k1, k2, lr=0.1)
    fit(model, task, steps=1, seed=11, truncation=(k1, k2), **SMALL)
    for name, value in _params(model).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-10, atol=1e-12, msg=name)


def test_many_to_one_truncation_backpropagates_only_k2_steps():
    task = Adding(length=12)
    model = ElmanRNN(2, 4, 1, readout="last", seed=0, dtype=F64)
    run = fit(model, task, steps=1, truncation=(4, 3), trace_every=1, **SMALL)
    profile = run.trace_grad_norms[0, 0]
    assert (profile[:9] == 0).all() and (profile[9:] > 0).all()
    assert run.config["truncation"] == [4, 3]
