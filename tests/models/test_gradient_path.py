"""The gradient path in float64: per-step ∂L/∂h_t (and ∂L/∂c_t) from the probes, and the step
Jacobian, against oracles built on the defining equations with one autograd call per quantity."""

import pytest
import torch

from gradtrace.instruments import trace
from gradtrace.models import GRU, LSTM, ElmanRNN
from gradtrace.tasks import Batch, member_loss

# Every test runs with the Python and the compiled time loops of the hand-written BPTT.
pytestmark = pytest.mark.usefixtures("bptt_loops")

B, T, IN, H, OUT, K = 3, 7, 2, 5, 2, 2
F64 = torch.float64
PHI = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}
PHI_PRIME = {
    "tanh": lambda a: 1 - torch.tanh(a).square(),
    "relu": lambda a: (a > 0).to(a.dtype),
    "sigmoid": lambda a: torch.sigmoid(a) * (1 - torch.sigmoid(a)),
}
MODELS = {
    "elman-tanh": lambda **kw: ElmanRNN(IN, H, OUT, activation="tanh", **kw),
    "elman-relu": lambda **kw: ElmanRNN(IN, H, OUT, activation="relu", **kw),
    "elman-sigmoid": lambda **kw: ElmanRNN(IN, H, OUT, activation="sigmoid", **kw),
    "lstm": lambda **kw: LSTM(IN, H, OUT, **kw),
    "gru": lambda **kw: GRU(IN, H, OUT, **kw),
}
# (model, index of the state: 0 is h, 1 the LSTM cell c)
STATES = [
    ("elman-tanh", 0),
    ("elman-relu", 0),
    ("elman-sigmoid", 0),
    ("lstm", 0),
    ("lstm", 1),
    ("gru", 0),
]


def _model(name, **options):
    model = MODELS[name](num_models=K, seed=7, dtype=F64, **options)
    with torch.no_grad():  # a larger W_rec than the default init, so gradients travel visibly
        model.W_rec.mul_(2.0)
    return model


def _batch(*, last_only=False):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(B, T, IN, generator=generator, dtype=F64)
    targets = torch.randn(B, T, OUT, generator=generator, dtype=F64)
    mask = torch.rand(B, T, generator=generator) < 0.4
    if last_only:
        mask[:] = False
    mask[:, -1] = True
    return Batch(inputs, targets, mask)


def _weights(model, k):
    return {
        name: p.detach()[k].clone().requires_grad_(True) for name, p in model.named_parameters()
    }


def _hand_step(model, w, x_t, state):
    """One step of member weights ``w`` from the defining equations: x_t (B, I), state of (B, H)."""
    if isinstance(model, ElmanRNN):
        (h,) = state
        return (PHI[model.activation](x_t @ w["W_in"].T + w["b"] + h @ w["W_rec"].T),)
    if isinstance(model, LSTM):
        h, c = state
        i, f, g, o = (x_t @ w["W_in"].T + w["b"] + h @ w["W_rec"].T).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    (h,) = state
    x_r, x_z, x_n = (x_t @ w["W_in"].T + w["b"]).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w["W_rec"].T + w["b_rec"]).chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * h,)


def _hand_forward(model, w, inputs):
    """Return the states after every step (a list of tuples) from the zero state."""
    state = tuple(torch.zeros(inputs.shape[0], H, dtype=F64) for _ in model.state_names)
    states = []
    for t in range(inputs.shape[1]):
        state = _hand_step(model, w, inputs[:, t], state)
        states.append(state)
    return states


def _hand_loss(w, states, batch, readout):
    """Mean over scored steps of the mean squared error over outputs."""
    outputs = torch.stack([s[0] @ w["W_out"].T + w["b_out"] for s in states], dim=1)  # (B, T, O)
    per_step = (outputs - batch.targets).square().mean(-1)
    mask = batch.mask.to(F64)
    if readout == "last":
        return per_step[:, -1].mean()
    return (per_step * mask).sum() / mask.sum()


def _oracle(model, batch, k, s):
    """∂L_k/∂state_t for every t, (B, T, H): a fresh forward and one autograd call per step t."""
    grads = []
    for t in range(batch.length):
        w = _weights(model, k)
        states = _hand_forward(model, w, batch.inputs)
        loss = _hand_loss(w, states, batch, model.readout)
        (grad,) = torch.autograd.grad(loss, states[t][s])
        grads.append(grad)
    return torch.stack(grads, dim=1)


@pytest.mark.parametrize(("name", "s"), STATES, ids=[f"{n}-{'hc'[s]}" for n, s in STATES])
def test_probe_gradients_equal_autograd_per_step(name, s):
    model = _model(name)
    batch = _batch()
    trajectory = model(batch.inputs, probe=True)
    (probe_grads,) = torch.autograd.grad(
        member_loss(trajectory.outputs, batch).sum(), trajectory.probes
    )
    traced = trace(model, batch, jacobian_steps=0)
    traced_norms = traced.grad_norms if s == 0 else traced.cell_grad_norms
    for k in range(K):
        expected = _oracle(model, batch, k, s)
        assert float(expected.abs().amax()) > 1e-3, "the oracle must not be trivially zero"
        torch.testing.assert_close(probe_grads[s, k], expected, rtol=0, atol=1e-10)
        torch.testing.assert_close(
            traced_norms[k], torch.linalg.vector_norm(expected, dim=(0, 2)), rtol=0, atol=1e-10
        )


def test_probe_gradients_with_a_last_step_readout_equal_autograd_per_step():
    model = _model("elman-tanh", readout="last")
    batch = _batch(last_only=True)
    traced = trace(model, batch, jacobian_steps=0)
    for k in range(K):
        expected = torch.linalg.vector_norm(_oracle(model, batch, k, 0), dim=(0, 2))
        torch.testing.assert_close(traced.grad_norms[k], expected, rtol=0, atol=1e-10)


def test_trace_with_half_mse_halves_every_gradient():
    model, batch = _model("gru"), _batch()
    full = trace(model, batch, jacobian_steps=0)
    half = trace(model, batch, loss="half_mse", jacobian_steps=0)
    torch.testing.assert_close(half.grad_norms, full.grad_norms / 2, rtol=1e-14, atol=0)
    torch.testing.assert_close(half.loss, full.loss / 2, rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("t", [0, 4])
def test_step_jacobian_equals_autograd_jacobian_of_a_hand_step(name, t):
    model = _model(name)
    inputs = torch.randn(1, T, IN, generator=torch.Generator().manual_seed(3), dtype=F64)
    jacobians = model.step_jacobian(inputs, model(inputs), t)
    S = H * len(model.state_names)
    assert jacobians.shape == (K, 1, S, S)
    for k in range(K):
        w = {key: value.detach() for key, value in _weights(model, k).items()}
        previous = (
            _hand_forward(model, w, inputs[:, :t])[-1]
            if t > 0
            else tuple(torch.zeros(1, H, dtype=F64) for _ in model.state_names)
        )

        def step(flat, w=w):
            state = tuple(flat.view(1, S).split(H, dim=-1))
            return torch.cat(_hand_step(model, w, inputs[:, t], state), dim=-1).view(S)

        expected = torch.autograd.functional.jacobian(step, torch.cat(previous, dim=-1).view(S))
        torch.testing.assert_close(jacobians[k, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", sorted(PHI))
def test_elman_step_jacobian_is_diag_phi_prime_times_w_rec(activation):
    model = _model(f"elman-{activation}")
    inputs = torch.randn(2, T, IN, generator=torch.Generator().manual_seed(4), dtype=F64)
    trajectory = model(inputs)
    t = 3
    jacobians = model.step_jacobian(inputs, trajectory, t)
    with torch.no_grad():
        for k in range(K):
            h_prev = trajectory.states[k, :, t - 1]
            a_t = inputs[:, t] @ model.W_in[k].T + model.b[k] + h_prev @ model.W_rec[k].T  # (B, H)
            expected = PHI_PRIME[activation](a_t)[:, :, None] * model.W_rec[k]
            torch.testing.assert_close(jacobians[k], expected, rtol=0, atol=1e-12)
