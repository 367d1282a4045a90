"""``PascanuOmega`` against a slow oracle written here: Ω from ∂L/∂h_k taken one autograd call per step.

The oracle unrolls the nn.RNN by hand over the module's own parameters (float64), takes δ_k = ∂L/∂h_k and
a_k at every step, holds both constant, and differentiates Ω with respect to a fresh copy of W_hh:

    v_k = (δ_k ⊙ φ′(a_k)) W_hh,   Ω = mean over sequences and kept steps of (‖v_k‖² / ‖δ_k‖² − 1)²,

a step kept when 0 < ‖δ_k‖ and ‖δ_k‖ ≥ 1e-6 · max_k ‖δ_k‖ of its sequence (pascanu_omega's definition).
"""

import pytest
import torch
from torch import nn

from gradtrace.doctor import PascanuOmega

DT = torch.float64
THRESHOLD = 1e-6  # pascanu_omega's default, HORIZON_THRESHOLD, written out
TOL = {"rtol": 1e-9, "atol": 1e-12}


class Encoder(nn.Module):
    def __init__(self, rnn: nn.RNN):
        super().__init__()
        self.rnn = rnn


class Wrapped(nn.Module):
    """The RNN sits at ``encoder.rnn``; a head reads every output."""

    def __init__(self, rnn: nn.RNN):
        super().__init__()
        self.encoder = Encoder(rnn)
        out = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        self.head = nn.Linear(out, 1).double()

    def forward(self, x):
        output, _ = self.encoder.rnn(x)
        return self.head(output)


def _phi(a, nonlinearity):
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)


def _phi_prime(a, nonlinearity):
    return 1 - torch.tanh(a).square() if nonlinearity == "tanh" else (a > 0).to(a.dtype)


def _unrolled(rnn: nn.RNN, x: torch.Tensor):
    """Run ``rnn`` by hand on time-major x (T, B, I); return the output and, per (layer, direction), the
    states h_k (in the graph) and the pre-activations a_k."""
    steps, batch, _ = x.shape
    directions = 2 if rnn.bidirectional else 1
    states = {}
    layer_input = x
    for layer in range(rnn.num_layers):
        outs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh, b_ih, b_hh = (getattr(rnn, n + suffix) for n in ("weight_ih", "weight_hh", "bias_ih",
                                                                           "bias_hh"))
            h = x.new_zeros(batch, rnn.hidden_size)
            hs, pres = [None] * steps, [None] * steps
            for t in (range(steps) if direction == 0 else range(steps - 1, -1, -1)):
                a = layer_input[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
                h = _phi(a, rnn.nonlinearity)
                hs[t], pres[t] = h, a
            states[(layer, direction)] = (hs, pres)
            outs.append(torch.stack(hs))
        layer_input = torch.cat(outs, -1)
    return layer_input, states


def _oracle(rnn: nn.RNN, x: torch.Tensor, loss_of, derivative=None):
    """Return (loss gradient of every weight_hh, Ω per weight_hh, ∂Ω/∂W_hh per weight_hh, kept steps).

    ``derivative`` overrides φ′'s name (to show that the wrong one gives another Ω)."""
    output, states = _unrolled(rnn, x)
    loss = loss_of(output)
    omegas, omega_grads, plain, kept = {}, {}, {}, {}
    for (layer, direction), (hs, pres) in states.items():
        name = f"weight_hh_l{layer}" + ("_reverse" if direction else "")
        w_hh = getattr(rnn, name)
        (plain[name],) = torch.autograd.grad(loss, w_hh, retain_graph=True)
        deltas = [torch.autograd.grad(loss, h, retain_graph=True)[0] for h in hs]  # one call per step
        delta = torch.stack(deltas, 1).detach()  # (B, T, H)
        a = torch.stack(pres, 1).detach()
        w = w_hh.detach().clone().requires_grad_(True)
        v = (delta * _phi_prime(a, derivative or rnn.nonlinearity)) @ w
        g_norm = delta.norm(dim=-1)
        peak = g_norm.amax(1, keepdim=True)
        keep = (g_norm > 0) & (g_norm >= THRESHOLD * peak)
        ratio = v.square().sum(-1) / g_norm.clamp_min(1e-300).square()
        omega = ((ratio - 1).square() * keep).sum() / keep.sum()
        (omega_grads[name],) = torch.autograd.grad(omega, w)
        omegas[name] = float(omega.detach())
        kept[name] = int(keep.sum())
    return plain, omegas, omega_grads, kept


def _run_omega(model, x, loss_of, weight):
    omega = PascanuOmega(model, weight=weight)
    with omega.recording():
        loss = loss_of(model(x))
    loss.backward()
    return omega.add_to_grads()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, False), (1, True), (2, True)])
def test_omega_adds_alpha_times_the_oracle_gradient_to_every_layer_and_direction(nonlinearity, num_layers,
                                                                                 bidirectional):
    torch.manual_seed(0)
    rnn = nn.RNN(3, 5, num_layers=num_layers, bidirectional=bidirectional, nonlinearity=nonlinearity).double()
    x = torch.randn(7, 4, 3, dtype=DT)
    weights = torch.randn(7, 4, 5 * (2 if bidirectional else 1), dtype=DT)

    def loss_of(output):
        return (output * weights).sum() + output[-1].square().sum()

    plain, omegas, omega_grads, _ = _oracle(rnn, x, loss_of)
    alpha = 2.0
    value = _run_omega(rnn, x, lambda out: loss_of(out[0]), alpha)
    assert len(plain) == num_layers * (2 if bidirectional else 1)  # one term per layer and direction
    assert value == pytest.approx(sum(omegas.values()), rel=1e-9)
    assert min(omegas.values()) > 0
    for name, grad in plain.items():
        torch.testing.assert_close(getattr(rnn, name).grad, grad + alpha * omega_grads[name], **TOL)
    # the regularizer touches W_hh only
    torch.manual_seed(0)
    reference = nn.RNN(3, 5, num_layers=num_layers, bidirectional=bidirectional,
                       nonlinearity=nonlinearity).double()
    loss_of(reference(x)[0]).backward()
    for name, p in rnn.named_parameters():
        if not name.startswith("weight_hh"):
            torch.testing.assert_close(p.grad, dict(reference.named_parameters())[name].grad, **TOL)


def test_relu_uses_relu_derivative_not_tanh():
    """A ReLU RNN with many negative pre-activations: relu′ and tanh′ give different Ω, and Ω matches relu′."""
    torch.manual_seed(1)
    rnn = nn.RNN(2, 4, nonlinearity="relu").double()
    x = torch.randn(6, 3, 2, dtype=DT)
    plain, omegas, grads, _ = _oracle(rnn, x, lambda out: out.sum())
    _, wrong, _, _ = _oracle(rnn, x, lambda out: out.sum(), derivative="tanh")
    assert abs(wrong["weight_hh_l0"] - omegas["weight_hh_l0"]) > 1e-3 * omegas["weight_hh_l0"]
    value = _run_omega(rnn, x, lambda out: out[0].sum(), 1.0)
    assert value == pytest.approx(omegas["weight_hh_l0"], rel=1e-9)
    torch.testing.assert_close(rnn.weight_hh_l0.grad, plain["weight_hh_l0"] + grads["weight_hh_l0"], **TOL)


def test_nested_module_batch_first_and_threshold_masking():
    """The nn.RNN sits at model.encoder.rnn, batch_first; a small W_hh and a loss on the last step only make
    the early δ_k vanish below the threshold, so they are left out of the mean."""
    torch.manual_seed(2)
    rnn = nn.RNN(2, 4, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.02)
        rnn.weight_ih_l0.mul_(0.02)
    model = Wrapped(rnn)
    x = torch.randn(3, 9, 2, dtype=DT)  # (B, T, I)

    def oracle_loss(output):  # output (T, B, H) from the time-major oracle
        return model.head(output[-1]).square().sum()

    _, omegas, omega_grads, kept = _oracle(rnn, x.transpose(0, 1), oracle_loss)
    assert 3 <= kept["weight_hh_l0"] < 3 * 9  # some steps were masked, some kept
    plain = torch.autograd.grad(oracle_loss(_unrolled(rnn, x.transpose(0, 1))[0]), rnn.weight_hh_l0)[0]
    value = _run_omega(model, x, lambda out: out[:, -1].square().sum(), 0.5)
    assert value == pytest.approx(omegas["weight_hh_l0"], rel=1e-9)
    torch.testing.assert_close(rnn.weight_hh_l0.grad, plain + 0.5 * omega_grads["weight_hh_l0"], **TOL)


def test_weight_zero_leaves_the_gradient_alone_and_float32_works():
    torch.manual_seed(3)
    rnn = nn.RNN(2, 3)
    x = torch.randn(5, 2, 2)
    reference = nn.RNN(2, 3)
    reference.load_state_dict(rnn.state_dict())
    reference(x)[0].sum().backward()
    value = _run_omega(rnn, x, lambda out: out[0].sum(), 0.0)
    assert value > 0
    assert rnn.weight_hh_l0.grad.dtype == torch.float32
    torch.testing.assert_close(rnn.weight_hh_l0.grad, reference.weight_hh_l0.grad)


@pytest.mark.parametrize("model", [nn.LSTM(2, 3), nn.GRU(2, 3), nn.Sequential(nn.Linear(2, 2), nn.Tanh())],
                         ids=["lstm", "gru", "mlp"])
def test_a_model_without_nn_rnn_raises_type_error(model):
    with pytest.raises(TypeError, match="torch.nn.RNN"):
        PascanuOmega(model)


def test_negative_weight_is_rejected():
    with pytest.raises(ValueError, match="`weight`"):
        PascanuOmega(nn.RNN(2, 3), weight=-1.0)


def test_recording_leaves_no_instance_forward_also_when_the_loss_raises():
    model = Wrapped(nn.RNN(2, 3, batch_first=True).double())
    rnn = model.encoder.rnn
    omega = PascanuOmega(model)
    x = torch.randn(2, 4, 2, dtype=DT)
    expected = model(x)
    with omega.recording():
        assert "forward" in rnn.__dict__
        model(x)
    assert "forward" not in rnn.__dict__
    records = len(omega.recorders["encoder.rnn"].records)
    torch.testing.assert_close(model(x), expected)  # the fused forward again, and nothing recorded
    assert len(omega.recorders["encoder.rnn"].records) == records == 1
    with pytest.raises(RuntimeError, match="boom"), omega.recording():
        model(x)
        raise RuntimeError("boom")
    assert "forward" not in rnn.__dict__
    with pytest.raises(RuntimeError), omega.recording():  # the model itself fails (wrong input size)
        model(torch.randn(2, 4, 5, dtype=DT))
    assert "forward" not in rnn.__dict__
    torch.testing.assert_close(model(x), expected)
