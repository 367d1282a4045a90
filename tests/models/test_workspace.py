"""The hand-written BPTT's reused buffers (models/workspace.py): reuse must never show through.

Nothing a step returns may alias a pooled buffer that a later step overwrites, and two graphs in
flight (or one retained and run twice) must not share one."""

import pytest
import torch

from gradtrace.models import GRU, LSTM, ElmanRNN, workspace

F64 = torch.float64
MODELS = {
    "elman-tanh": lambda: ElmanRNN(3, 5, 2, num_models=2, seed=0, dtype=F64),
    "elman-gelu": lambda: ElmanRNN(3, 5, 2, num_models=2, seed=0, dtype=F64, activation="gelu"),
    "lstm": lambda: LSTM(3, 5, 2, num_models=2, seed=0, dtype=F64),
    "gru": lambda: GRU(3, 5, 2, num_models=2, seed=0, dtype=F64),
}


def _step(model, inputs, *, probe, retain_graph=False):
    """One forward and backward: (states, outputs, probe gradients or None, input and parameter gradients)."""
    inputs = inputs.clone().requires_grad_()
    trajectory = model(inputs, probe=probe)
    loss = trajectory.outputs.square().sum() + trajectory.states.sin().sum()
    wrt = [inputs, *model.parameters(), *([trajectory.probes] if probe else [])]
    grads = torch.autograd.grad(loss, wrt, retain_graph=retain_graph)
    return (trajectory.states, trajectory.outputs, *grads), (loss, wrt)


@pytest.mark.parametrize("probe", [True, False], ids=["traced", "untraced"])
@pytest.mark.parametrize("name", MODELS)
def test_what_a_step_returns_survives_the_next_step(bptt_loops, name, probe):
    model = MODELS[name]()
    first, _ = _step(model, torch.randn(4, 6, 3, dtype=F64), probe=probe)
    kept = [tensor.detach().clone() for tensor in first]
    second, _ = _step(model, torch.randn(4, 6, 3, dtype=F64), probe=probe)
    assert workspace.pooled_bytes() > 0  # the second step did reuse the first step's buffers
    for before, now, later in zip(kept, first, second, strict=True):
        torch.testing.assert_close(now, before, rtol=0, atol=0)
        assert not torch.equal(later, before)  # so a shared buffer would have shown


@pytest.mark.parametrize("name", MODELS)
def test_graphs_in_flight_and_retained_graphs_keep_their_own_buffers(bptt_loops, name):
    model = MODELS[name]()
    inputs = [torch.randn(4, 6, 3, dtype=F64) for _ in range(2)]
    alone = [_step(model, x, probe=True)[0] for x in inputs]
    # Both forwards first, then both backwards, the second graph retained and run again after another step.
    pending = []
    for x in inputs:
        x = x.clone().requires_grad_()
        trajectory = model(x, probe=True)
        loss = trajectory.outputs.square().sum() + trajectory.states.sin().sum()
        pending.append((trajectory, loss, [x, *model.parameters(), trajectory.probes]))
    for (trajectory, loss, wrt), reference in zip(pending, alone, strict=True):
        grads = torch.autograd.grad(loss, wrt, retain_graph=True)
        for ours, expected in zip((trajectory.states, trajectory.outputs, *grads), reference, strict=True):
            torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    _step(model, torch.randn(4, 6, 3, dtype=F64), probe=False)
    trajectory, loss, wrt = pending[1]
    for ours, expected in zip(torch.autograd.grad(loss, wrt), alone[1][2:], strict=True):
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)


def test_the_pool_is_bounded_and_clears(bptt_loops, monkeypatch):
    model = LSTM(3, 5, 2, seed=0, dtype=F64)
    workspace.clear()
    _step(model, torch.randn(4, 6, 3, dtype=F64), probe=False)
    assert workspace.pooled_bytes() > 0
    workspace.clear()
    assert workspace.pooled_bytes() == 0
    monkeypatch.setattr(workspace, "MAX_BYTES", 0)
    _step(model, torch.randn(4, 6, 3, dtype=F64), probe=False)
    assert workspace.pooled_bytes() == 0


@pytest.mark.parametrize("cls", [ElmanRNN, LSTM, GRU])
def test_a_step_after_an_inference_mode_forward_trains(bptt_loops, cls):
    """Buffers made under inference_mode are inference tensors: pooled, they would break the next training step."""
    model = cls(2, 6, 1, num_models=2, seed=0)
    inputs = torch.randn(4, 9, 2)
    with torch.inference_mode():
        model(inputs, probe=False)
        model(inputs, probe=False)
    trajectory = model(inputs, probe=True)
    trajectory.outputs.sum().backward()
    assert model.W_rec.grad is not None and bool(torch.isfinite(model.W_rec.grad).all())
