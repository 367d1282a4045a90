"""Ensembles: member k is the single model seeded seed + k, and members never touch each other."""

import pytest
import torch

from gradtrace.models import GRU, LSTM, ElmanRNN

# Every test runs with the Python and the compiled time loops of the hand-written BPTT.
pytestmark = pytest.mark.usefixtures("bptt_loops")

B, T, IN, H, OUT, K = 3, 6, 2, 4, 2, 3
F64 = torch.float64
CLASSES = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}


def _inputs(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_member_k_equals_the_single_model_seeded_seed_plus_k(name):
    cls = CLASSES[name]
    ensemble = cls(IN, H, OUT, num_models=K, seed=10, dtype=F64)
    inputs = _inputs(B, T, IN)
    outputs = ensemble(inputs).outputs
    for k in range(K):
        single = cls(IN, H, OUT, seed=10 + k, dtype=F64)
        for (key, param), (_, own) in zip(
            ensemble.named_parameters(), single.named_parameters(), strict=True
        ):
            assert torch.equal(param[k], own[0]), key
        torch.testing.assert_close(outputs[k], single(inputs).outputs[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_member_returns_a_working_single_model(name):
    cls = CLASSES[name]
    ensemble = cls(IN, H, OUT, num_models=K, seed=10, dtype=F64)
    inputs = _inputs(B, T, IN)
    for k in range(K):
        single = ensemble.member(k)
        assert (single.num_models, single.seed) == (1, 10 + k)
        for (key, param), (_, own) in zip(
            ensemble.named_parameters(), single.named_parameters(), strict=True
        ):
            assert torch.equal(param[k], own[0]), key
        torch.testing.assert_close(
            single(inputs).outputs[0], ensemble(inputs).outputs[k], rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_different_seeds_give_different_members(name):
    outputs = CLASSES[name](IN, H, OUT, num_models=2, seed=0)(_inputs(B, T, IN).float()).outputs
    assert not torch.allclose(outputs[0], outputs[1])


def _grads(model, inputs):
    losses = model(inputs).outputs.square().mean((1, 2, 3))  # (K,)
    return torch.autograd.grad(losses.sum(), list(model.parameters()))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_perturbing_one_members_inputs_leaves_the_other_members_gradients_unchanged(name):
    model = CLASSES[name](IN, H, OUT, num_models=2, seed=1, dtype=F64)
    inputs = _inputs(2, B, T, IN)
    perturbed = inputs.clone()
    perturbed[1] += 0.5
    before, after = _grads(model, inputs), _grads(model, perturbed)
    for (key, _), grad, grad_after in zip(model.named_parameters(), before, after, strict=True):
        assert torch.equal(grad[0], grad_after[0]), key
        assert not torch.equal(grad[1], grad_after[1]), key


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_loss_on_one_member_gives_zero_gradient_to_the_others(name):
    model = CLASSES[name](IN, H, OUT, num_models=K, seed=2, dtype=F64)
    loss = model(_inputs(B, T, IN)).outputs[1].square().sum()
    for (key, _), grad in zip(
        model.named_parameters(), torch.autograd.grad(loss, list(model.parameters())), strict=True
    ):
        assert bool(grad[1].abs().amax() > 0), key
        assert not grad[0].any() and not grad[2].any(), key


def test_shared_and_per_member_inputs_agree():
    model = LSTM(IN, H, OUT, num_models=2, seed=3, dtype=F64)
    inputs = _inputs(B, T, IN)
    shared = model(inputs)
    stacked = model(inputs.expand(2, B, T, IN))
    torch.testing.assert_close(shared.outputs, stacked.outputs, rtol=0, atol=1e-14)


def test_a_carried_final_state_continues_the_sequence():
    model = GRU(IN, H, OUT, num_models=2, seed=4, dtype=F64)
    inputs = _inputs(B, T, IN)
    whole = model(inputs)
    first = model(inputs[:, :2])
    rest = model(inputs[:, 2:], first.final_state)
    torch.testing.assert_close(
        torch.cat([first.states, rest.states], dim=2), whole.states, rtol=0, atol=1e-14
    )


def test_lstm_trajectory_keeps_cells_and_gates():
    trajectory = LSTM(IN, H, OUT, num_models=2, seed=0)(_inputs(B, T, IN).float(), keep_gates=True)
    assert trajectory.cells.shape == (2, B, T, H)
    assert set(trajectory.gates) == {"input", "forget", "output"}
    assert all(g.shape == (2, B, T, H) for g in trajectory.gates.values())
    assert trajectory.probes is None
