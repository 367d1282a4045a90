"""TBPTT: k1 = k2 ≥ T is full BPTT exactly; shorter windows match an online oracle step for step.

When k does not divide T, ``last="shorter"`` is the usual chunked loop and ``last="overlap"`` re-runs the end
of the previous chunk; each is held to a hand-written loop of its own.
"""

import copy

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from gradtrace.models import LSTM, ElmanRNN
from gradtrace.remedies import LAST_CHUNK, Truncation, as_truncation, clip_by_global_norm
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


def _spans(truncation, length):
    return [(w.chunk_start, w.grad_start, w.end) for w in truncation.windows(length)]


def test_the_last_chunk_is_back_propagated_as_asked():
    # k = 5 does not divide 12: the last chunk [10, 12) re-runs steps 7–9 ("overlap") or stands alone.
    assert _spans(Truncation(5, 5), 12) == [(0, 0, 5), (5, 5, 10), (10, 7, 12)]
    assert _spans(Truncation(5, 5, last="shorter"), 12) == [(0, 0, 5), (5, 5, 10), (10, 10, 12)]
    # k2 < k1: a short last chunk back-propagates its own steps only, at most k2 of them.
    assert _spans(Truncation(5, 2, last="shorter"), 11) == [(0, 3, 5), (5, 8, 10), (10, 10, 11)]
    assert _spans(Truncation(5, 2), 11) == [(0, 3, 5), (5, 8, 10), (10, 9, 11)]
    # k2 > k1: every window reaches k2 − k1 = 5 steps before its chunk; "shorter" keeps that for the last one.
    assert _spans(Truncation(4, 9, last="shorter"), 10) == [(0, 0, 4), (4, 0, 8), (8, 3, 10)]
    assert _spans(Truncation(4, 9), 10) == [(0, 0, 4), (4, 0, 8), (8, 1, 10)]
    assert Truncation(5, 5).last == "overlap" and LAST_CHUNK == ("overlap", "shorter")
    assert Truncation(5, 5, last="shorter").describe() == "TBPTT(k1=5, k2=5, last='shorter')"
    assert Truncation(5, 5).describe() == "TBPTT(k1=5, k2=5)"


@pytest.mark.parametrize(("k1", "k2", "length"), [(5, 5, 10), (4, 4, 12), (3, 5, 12), (6, 2, 12), (7, 7, 7),
                                                  (9, 9, 5), (1, 1, 4)])
def test_both_treatments_agree_when_no_chunk_is_short(k1, k2, length):
    assert _spans(Truncation(k1, k2), length) == _spans(Truncation(k1, k2, last="shorter"), length)


@pytest.mark.parametrize(("value", "error", "match"), [
    ((0, 5), ValueError, "k1"), ((5, 0), ValueError, "k2"), ((5,), TypeError, "pair"),
    ("5,5", TypeError, "pair"), ((2.5, 3), TypeError, "k1"), ((5, 5, "shorter", 1), TypeError, "triple"),
    ((5, 5, "short"), ValueError,
     r"Unknown treatment of the last chunk 'short' for `truncation last`\. Available: 'overlap', 'shorter'\."),
    ((5, 5, None), ValueError, "None for `truncation last`"),
])
def test_bad_truncation_is_refused(value, error, match):
    with pytest.raises(error, match=match):
        as_truncation(value)


def test_fit_takes_the_last_chunk_option_and_refuses_a_bad_one():
    model = ElmanRNN(10, 4, 9, seed=0, dtype=F64)
    run = fit(model, CopyMemory(delay=2), steps=1, truncation=(5, 5, "shorter"), **SMALL)
    assert run.config["truncation"] == [5, 5, "shorter"]
    run = fit(model, CopyMemory(delay=2), steps=1, truncation=Truncation(5, 5, last="overlap"), **SMALL)
    assert run.config["truncation"] == [5, 5]
    with pytest.raises(ValueError, match=r"'longer' for `truncation last`\. Available: 'overlap', 'shorter'"):
        fit(model, CopyMemory(delay=2), steps=1, truncation=(5, 5, "longer"), **SMALL)


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("last", LAST_CHUNK)
@pytest.mark.parametrize("cls", [ElmanRNN, LSTM])
@pytest.mark.parametrize("k", [22, 40])
def test_k1_equal_k2_at_least_t_is_full_bptt(cls, k, last):
    task = CopyMemory(delay=2)  # T = 22, scored at every step
    runs = []
    for truncation in (None, (k, k, last)):
        model = cls(10, 5, 9, num_models=2, seed=4, dtype=F64)
        run = fit(model, task, steps=3, truncation=truncation, remedies=clip_by_global_norm(0.5), **SMALL)
        runs.append((run, _params(model)))
    (full, full_params), (tbptt, tbptt_params) = runs
    for name in full_params:
        assert torch.equal(full_params[name], tbptt_params[name]), name
    for key in full.history:
        torch.testing.assert_close(torch.as_tensor(full.history[key]), torch.as_tensor(tbptt.history[key]),
                                   rtol=0, atol=0, equal_nan=True)


def _oracle(model, batch, k1, k2, lr, last="overlap"):
    """TBPTT(k1, k2) written out chunk by chunk with plain SGD.

    For each chunk [c, e): start from the state kept at g = max(0, e − k2) (or, when k2 < k1, run the
    chunk's first steps without gradient from the state at c), run [g, e) with the current weights,
    score the chunk's steps, step the weights, and keep the states this run produced for the chunk's
    own steps as the ones later chunks start from. With ``last="shorter"`` a short last chunk reaches no
    further before c than a full chunk does: g ≥ c − max(0, k2 − k1).
    """
    model = copy.deepcopy(model)
    T = batch.length  # noqa: N806
    inputs = batch.inputs.to(F64)
    entering = {0: model.initial_state(batch.batch_size)}
    for c in range(0, T, k1):
        e = min(c + k1, T)
        g = max(0, e - k2)
        if last == "shorter":
            g = max(g, c - max(0, k2 - k1))
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


@pytest.mark.parametrize("last", LAST_CHUNK)
@pytest.mark.parametrize(("k1", "k2"), [(5, 5), (4, 9), (6, 3), (1, 1), (22, 7), (8, 3)])
@pytest.mark.parametrize("cls", [ElmanRNN, LSTM])
def test_truncated_updates_match_the_online_oracle(cls, k1, k2, last):
    task = CopyMemory(delay=2)
    model = cls(10, 4, 9, num_models=2, seed=7, dtype=F64)
    expected_batch = _batch(task)
    expected = _oracle(model, expected_batch, k1, k2, lr=0.1, last=last)
    fit(model, task, steps=1, seed=11, truncation=(k1, k2, last), **SMALL)
    for name, value in _params(model).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-10, atol=1e-12, msg=name)


def _batch(task):
    """The batch fit draws at its first step with seed 11 for 2 members."""
    return Batch.stack([task.sample(3, generator=torch.Generator().manual_seed(11 + k)) for k in range(2)])


def _usual_chunks(length, k):
    """The usual chunked loop: consecutive chunks of k steps, the last one shorter, each back-propagated alone.

    Returns (first back-propagated step, first scored step, end) per update.
    """
    return [(c, c, min(c + k, length)) for c in range(0, length, k)]


def _overlapping_chunks(length, k):
    """Like the usual loop, but every update back-propagates k steps from its chunk's end, so the short
    last chunk starts k steps before the sequence's end, inside the previous chunk."""
    return [(max(0, min(c + k, length) - k), c, min(c + k, length)) for c in range(0, length, k)]


def _elman_by_hand(model, batch, updates, lr):
    """Plain SGD on a tanh Elman RNN, written out step by step for each member, one update per chunk.

    Each update starts from the detached state kept where its back-propagation starts, runs the steps
    with the current weights, scores its own chunk's steps (mean cross-entropy over the scored steps),
    takes the gradient of that loss alone by autograd and steps the weights. The states it computes
    for its chunk's steps, detached, are the ones later updates start from.
    """
    result = {name: [] for name, _ in model.named_parameters()}
    inputs = batch.inputs.to(F64)
    for k in range(model.num_models):
        params = [getattr(model, n)[k].detach().clone() for n in ("W_in", "W_rec", "b", "W_out", "b_out")]
        kept = {0: torch.zeros(batch.batch_size, model.hidden_size, dtype=F64)}
        for grad_start, chunk_start, end in updates:
            W_in, W_rec, b, W_out, b_out = params = [p.requires_grad_(True) for p in params]  # noqa: N806
            h = kept[grad_start].detach()
            total, scored = 0.0, batch.mask[k, :, chunk_start:end].sum()
            for t in range(grad_start, end):
                h = torch.tanh(inputs[k, :, t] @ W_in.T + h @ W_rec.T + b)
                if t >= chunk_start:
                    kept[t + 1] = h.detach()
                    logits = h @ W_out.T + b_out
                    total = total + (F.cross_entropy(logits, batch.targets[k, :, t], reduction="none")
                                     * batch.mask[k, :, t]).sum()
            grads = torch.autograd.grad(total / scored, params)
            with torch.no_grad():
                params = [p - lr * grad for p, grad in zip(params, grads)]
        for name, p in zip(("W_in", "W_rec", "b", "W_out", "b_out"), params):
            result[name].append(p.detach())
    return {name: torch.stack(values) for name, values in result.items()}


@pytest.mark.parametrize(("last", "updates"), [("shorter", _usual_chunks), ("overlap", _overlapping_chunks)])
@pytest.mark.parametrize("k", [4, 5, 7])
def test_each_last_chunk_treatment_matches_its_hand_written_loop(k, last, updates):
    task = CopyMemory(delay=2)  # T = 22: k = 4, 5 and 7 leave a last chunk of 2, 2 and 1 steps
    model = ElmanRNN(10, 4, 9, num_models=2, seed=7, dtype=F64)
    batch = _batch(task)
    assert batch.length % k != 0
    expected = _elman_by_hand(model, batch, updates(batch.length, k), lr=0.1)
    fit(model, task, steps=1, seed=11, truncation=(k, k, last), **SMALL)
    for name, value in _params(model).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("k", [2, 11, 22, 30])
def test_both_treatments_train_alike_when_k_divides_t_or_covers_it(k):
    task = CopyMemory(delay=2)  # T = 22
    results = []
    for last in LAST_CHUNK:
        model = ElmanRNN(10, 4, 9, num_models=2, seed=7, dtype=F64)
        run = fit(model, task, steps=2, seed=11, truncation=(k, k, last), **SMALL)
        results.append((run, _params(model)))
    (overlap, overlap_params), (shorter, shorter_params) = results
    for name in overlap_params:
        assert torch.equal(overlap_params[name], shorter_params[name]), name
    for key in overlap.history:
        torch.testing.assert_close(torch.as_tensor(overlap.history[key]), torch.as_tensor(shorter.history[key]),
                                   rtol=0, atol=0, equal_nan=True)
    if k < 22:
        # The hand-written usual loop agrees with both (one step: the data of fit's first batch).
        model = ElmanRNN(10, 4, 9, num_models=2, seed=7, dtype=F64)
        expected = _elman_by_hand(model, _batch(task), _usual_chunks(22, k), lr=0.1)
        fit(model, task, steps=1, seed=11, truncation=(k, k, "shorter"), **SMALL)
        for name, value in _params(model).items():
            torch.testing.assert_close(value, expected[name], rtol=1e-10, atol=1e-12, msg=name)


def test_many_to_one_truncation_backpropagates_only_k2_steps():
    task = Adding(length=12)
    model = ElmanRNN(2, 4, 1, readout="last", seed=0, dtype=F64)
    run = fit(model, task, steps=1, truncation=(4, 3), trace_every=1, **SMALL)
    profile = run.trace_grad_norms[0, 0]
    assert (profile[:9] == 0).all() and (profile[9:] > 0).all()
    assert run.config["truncation"] == [4, 3]
