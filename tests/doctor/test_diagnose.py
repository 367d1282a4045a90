"""``gradtrace.doctor.diagnose`` against oracles written here, independently of the twins and recorders.

Every reading is compared with ``torch.autograd.grad`` on a hand-unrolled reference loop (float64) that
keeps each state h_t (and c_t); the model must come back exactly as it went in, also when loss_fn raises.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gradtrace.doctor import Diagnosis, LossFunctionError, diagnose
from gradtrace.doctor.verdicts import DEAD_UNITS_FRACTION, VANISHING_FLOOR

DT = torch.float64
TOL = {"rtol": 1e-9, "atol": 1e-12}


def _close(actual, expected, **tol) -> None:
    torch.testing.assert_close(torch.as_tensor(actual, dtype=DT), torch.as_tensor(expected, dtype=DT),
                               **(tol or TOL))


def _norms(loss, tensors) -> list[float]:
    """One independent autograd.grad(loss, tensor) per tensor: its norm (0 where unused)."""
    out = []
    for tensor in tensors:
        (grad,) = torch.autograd.grad(loss, tensor, retain_graph=True, allow_unused=True)
        out.append(0.0 if grad is None else float(grad.norm()))
    return out


# ---------------------------------------------------------------------------------------------------------
# Reference cells: PyTorch's documented equations, written out again, over a module's own weights.


def _lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, -1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, -1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def _rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def _weights(module, layer, direction):
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


class Wrapped(nn.Module):
    """A model holding one recurrent module under the name ``rnn``; loss_fn calls ``model.rnn``."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn


# ---------------------------------------------------------------------------------------------------------
# 1. Exactness


def _lstm_oracle(lstm, x, h0, c0):
    """A 2-layer bidirectional batch_first LSTM, one step at a time: (output, h_n, c_n, hs, cs, layer inputs)."""
    B, T, _ = x.shape
    hs, cs, inputs = {}, {}, []
    layer_input = x
    h_n, c_n = [], []
    for layer in range(lstm.num_layers):
        inputs.append(layer_input)
        outs = []
        for d in range(2):
            weights = _weights(lstm, layer, d)
            h, c = h0[2 * layer + d], c0[2 * layer + d]
            out = [None] * T
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                h, c = _lstm_cell(layer_input[:, t], h, c, *weights)
                hs[layer, d, t], cs[layer, d, t] = h, c
                out[t] = h
            outs.append(torch.stack(out, 1))
            h_n.append(h)
            c_n.append(c)
        layer_input = torch.cat(outs, -1)
    return layer_input, torch.stack(h_n), torch.stack(c_n), hs, cs, inputs


def test_lstm_bidirectional_two_layers_matches_the_oracle_at_every_step():
    torch.manual_seed(0)
    B, T, E, H = 3, 7, 4, 5
    lstm = nn.LSTM(E, H, num_layers=2, bidirectional=True, batch_first=True).to(DT)
    model = Wrapped(lstm)
    x = torch.randn(B, T, E, dtype=DT)
    h0, c0 = torch.randn(4, B, H, dtype=DT), torch.randn(4, B, H, dtype=DT)
    w_out, w_h, w_c = torch.randn(B, T, 2 * H, dtype=DT), torch.randn(4, B, H, dtype=DT), torch.randn(4, B, H, dtype=DT)

    def loss_of(out, h_n, c_n):  # every output, h_n and c_n: a direct error on the cell state too
        return (out * w_out).sum() + (h_n * w_h).sum() + (c_n.tanh() * w_c).sum()

    def loss_fn(m, batch):
        out, (h_n, c_n) = m.rnn(batch, (h0, c0))
        return loss_of(out, h_n, c_n)

    diagnosis = diagnose(model, loss_fn, x)

    x_ref = x.clone().requires_grad_()
    out, h_n, c_n, hs, cs, inputs = _lstm_oracle(lstm, x_ref, h0, c0)
    with torch.no_grad():
        fused = lstm(x, (h0, c0))
    _close(out, fused[0])  # the oracle is the module's own function
    loss = loss_of(out, h_n, c_n)
    reading = diagnosis.recurrent["rnn"]
    assert (reading.kind, reading.num_layers, reading.num_directions, reading.steps) == ("LSTM", 2, 2, T)
    keys = sorted(hs)
    expected_h = torch.tensor(_norms(loss, [hs[k] for k in keys]), dtype=DT).view(2, 2, T)
    expected_c = torch.tensor(_norms(loss, [cs[k] for k in keys]), dtype=DT).view(2, 2, T)
    _close(reading.grad_norms, expected_h)
    _close(reading.cell_grad_norms, expected_c)
    # layer 0's input is x: ‖∂L/∂x_t‖ over the batch; layer 1's is layer 0's output sequence
    (grad_x,) = torch.autograd.grad(loss, x_ref, retain_graph=True)
    _close(reading.input_grad_norms[0], grad_x.norm(dim=(0, 2)))
    (grad_mid,) = torch.autograd.grad(loss, inputs[1], retain_graph=True)
    _close(reading.input_grad_norms[1], grad_mid.norm(dim=(0, 2)))
    _close(diagnosis.losses[0], float(loss.detach()))
    # parameter gradients: autograd through the module's own (fused) forward
    names = [n for n, _ in model.named_parameters()]
    fused_loss = loss_fn(model, x)
    grads = torch.autograd.grad(fused_loss, list(model.parameters()))
    assert [p.name for p in diagnosis.parameters] == names
    _close([p.grad_norm for p in diagnosis.parameters], [float(g.norm()) for g in grads])
    _close([p.weight_norm for p in diagnosis.parameters], [float(p.detach().norm()) for p in model.parameters()])
    _close(diagnosis.grad_norms[0], float(torch.cat([g.flatten() for g in grads]).norm()))


def _gru_packed_oracle(gru, x, lengths):
    """Each sequence on its own, over its own length: (outputs per sequence, h_n (L*D, B, H), states)."""
    states = {}
    outputs, finals = [], []
    for b, length in enumerate(lengths):
        layer_input = x[b, :length]
        finals_b = []
        for layer in range(gru.num_layers):
            outs = []
            for d in range(2):
                weights = _weights(gru, layer, d)
                h = x.new_zeros(gru.hidden_size)
                out = [None] * length
                for t in range(length) if d == 0 else range(length - 1, -1, -1):
                    h = _gru_cell(layer_input[t], h, *weights)
                    states[layer, d, t, b] = h
                    out[t] = h
                outs.append(torch.stack(out))
                finals_b.append(h)
            layer_input = torch.cat(outs, -1)
        outputs.append(layer_input)
        finals.append(torch.stack(finals_b))
    return outputs, torch.stack(finals, 1), states


def test_gru_on_a_packed_sequence_of_unequal_lengths_matches_the_oracle():
    torch.manual_seed(1)
    lengths = [4, 6, 2]  # unsorted: the packed rows run in another order than the batch
    B, T, E, H = len(lengths), max(lengths), 3, 4
    gru = nn.GRU(E, H, num_layers=2, bidirectional=True, batch_first=True).to(DT)
    x = torch.randn(B, T, E, dtype=DT)
    w_out, w_h = torch.randn(B, T, 2 * H, dtype=DT), torch.randn(4, B, H, dtype=DT)

    def loss_fn(m, batch):
        packed = pack_padded_sequence(batch, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = m.rnn(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        return (padded * w_out).sum() + (h_n * w_h).sum()

    diagnosis = diagnose(Wrapped(gru), loss_fn, x)

    x_ref = x.clone().requires_grad_()
    outputs, h_n, states = _gru_packed_oracle(gru, x_ref, lengths)
    loss = sum((out * w_out[b, : len(out)]).sum() for b, out in enumerate(outputs)) + (h_n * w_h).sum()
    _close(diagnosis.losses[0], float(loss.detach()))  # the oracle computes the model's own loss
    keys = sorted(states)
    norms = dict(zip(keys, _norms(loss, [states[k] for k in keys])))
    expected = torch.zeros(2, 2, T, dtype=DT)
    for (layer, d, t, _), norm in norms.items():  # the rows still running at step t
        expected[layer, d, t] += norm**2
    reading = diagnosis.recurrent["rnn"]
    assert reading.steps == T and reading.cell_grad_norms is None
    _close(reading.grad_norms, expected.sqrt())
    (grad_x,) = torch.autograd.grad(loss, x_ref, retain_graph=True)
    _close(reading.input_grad_norms[0], grad_x.norm(dim=(0, 2)))
    grads = torch.autograd.grad(loss, list(gru.parameters()))
    _close([p.grad_norm for p in diagnosis.parameters], [float(g.norm()) for g in grads])


class CellLoop(nn.Module):
    """A user's own loop stepping an nn.LSTMCell, with a head on every step."""

    def __init__(self, inputs=3, hidden=5):
        super().__init__()
        self.cell = nn.LSTMCell(inputs, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = c = x.new_zeros(x.shape[0], self.cell.hidden_size)
        outs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outs.append(self.head(h))
        return torch.cat(outs, 1), c


def test_lstm_cell_loop_matches_the_oracle_at_every_step():
    torch.manual_seed(2)
    B, T = 3, 6
    model = CellLoop().to(DT)
    x = torch.randn(B, T, 3, dtype=DT)
    target = torch.randn(B, T, dtype=DT)

    def loss_of(out, c):
        return ((out - target) ** 2).mean() + c.sum()

    def loss_fn(m, batch):
        return loss_of(*m(batch))

    diagnosis = diagnose(model, loss_fn, x)

    # the oracle: the same loop, the cell written out, keeping every h_t and c_t
    cell = model.cell
    x_ref = x.clone().requires_grad_()
    h = c = x.new_zeros(B, cell.hidden_size)
    hs, cs, outs = [], [], []
    for t in range(T):
        h, c = _lstm_cell(x_ref[:, t], h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        hs.append(h)
        cs.append(c)
        outs.append(model.head(h))
    loss = loss_of(torch.cat(outs, 1), c)
    reading = diagnosis.recurrent["cell"]
    assert (reading.kind, reading.grad_norms.shape) == ("LSTMCell", (1, 1, T))
    _close(reading.grad_norms[0, 0], _norms(loss, hs))
    _close(reading.cell_grad_norms[0, 0], _norms(loss, cs))
    (grad_x,) = torch.autograd.grad(loss, x_ref, retain_graph=True)
    _close(reading.input_grad_norms[0], grad_x.norm(dim=(0, 2)))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    _close([p.grad_norm for p in diagnosis.parameters], [float(g.norm()) for g in grads])


def _last_output_oracle(module, x):
    """One layer, one direction, the loss on the last output only: L and every h_t."""
    weights = _weights(module, 0, 0) if isinstance(module, nn.RNNBase) else [
        module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh]
    h = x.new_zeros(x.shape[0], module.hidden_size)
    c = h
    hs = []
    for t in range(x.shape[1]):
        if isinstance(module, (nn.LSTM, nn.LSTMCell)):
            h, c = _lstm_cell(x[:, t], h, c, *weights)
        elif isinstance(module, nn.GRU):
            h = _gru_cell(x[:, t], h, *weights)
        else:
            h = _rnn_cell(x[:, t], h, *weights, module.nonlinearity)
        hs.append(h)
    return hs[-1].sin().sum(), hs


@pytest.mark.parametrize("kind", [nn.RNN, nn.GRU, nn.LSTM, nn.LSTMCell])
def test_lag_norms_equal_the_gradient_of_a_loss_on_the_last_output(kind):
    torch.manual_seed(3)
    B, T, E, H = 2, 9, 3, 4
    module = kind(E, H) if kind is nn.LSTMCell else kind(E, H, batch_first=True)
    module = module.to(DT)
    x = torch.randn(B, T, E, dtype=DT)

    def run(m, batch):
        if kind is not nn.LSTMCell:
            return m.rnn(batch)[0][:, -1].sin().sum()
        h = c = batch.new_zeros(B, H)
        for t in range(T):
            h, c = m.rnn(batch[:, t], (h, c))
        return h.sin().sum()

    diagnosis = diagnose(Wrapped(module), run, x)
    loss, hs = _last_output_oracle(module, x)
    expected = _norms(loss, hs)
    reading = diagnosis.recurrent["rnn"]
    _close(reading.grad_norms[0, 0], expected)
    _close(reading.lag_norms[0, 0], expected[::-1])  # lag k is step T-1-k


class Grid(nn.Module):
    """A step module whose state has two dimensions per sequence: (batch, 2, hidden)."""

    def __init__(self, inputs=3, hidden=4):
        super().__init__()
        self.lin = nn.Linear(inputs + hidden, hidden)

    def forward(self, x, h):
        return torch.tanh(self.lin(torch.cat([x[:, None].expand(-1, h.shape[1], -1), h], -1)))


@pytest.mark.parametrize("case", ["unbatched LSTMCell", "3-D step state"])
def test_lag_norms_of_steps_whose_state_is_not_batch_by_hidden(case):
    # regression: the lag profile took a state's first dimension for its rows, so an unbatched cell's
    # (hidden,) state raised a shape mismatch and a (batch, 2, hidden) state broadcast the row mask wrongly
    torch.manual_seed(18)
    T, H = 6, 4
    if case == "unbatched LSTMCell":
        module, x = nn.LSTMCell(3, H).to(DT), torch.randn(T, 3, dtype=DT)
        h0 = (x.new_zeros(H), x.new_zeros(H))
    else:
        module, x = Grid(3, H).to(DT), torch.randn(T, 2, 3, dtype=DT)
        h0 = x.new_zeros(2, 2, H)

    def loss_fn(m, b, keep=None):
        state = h0
        for t in range(T):
            state = m.rnn(b[t], state)
            h = state[0] if isinstance(state, tuple) else state
            if keep is not None:
                keep.append(state)
        return h.sin().sum()

    diagnosis = diagnose(Wrapped(module), loss_fn, x, recurrent=["rnn"] if case == "3-D step state" else ())
    states = []
    loss = loss_fn(Wrapped(module), x, states)
    hs = [s[0] if isinstance(s, tuple) else s for s in states]
    reading = diagnosis.recurrent["rnn"]
    expected = _norms(loss, hs)
    _close(reading.grad_norms[0, 0], expected)
    _close(reading.lag_norms[0, 0], expected[::-1])


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 8), nn.ReLU(inplace=True),
                                 nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)


def test_depth_grad_norms_equal_the_oracle_with_in_place_relu():
    torch.manual_seed(4)
    model = MLP().to(DT)
    x, y = torch.randn(16, 4, dtype=DT), torch.randn(16, 2, dtype=DT)

    def loss_fn(m, batch):
        return F.mse_loss(m(batch[0]), batch[1])

    diagnosis = diagnose(model, loss_fn, (x, y))

    # the oracle: the same function written out, out of place, every output kept
    outputs = []
    h = x
    for module in model.net:
        h = torch.relu(h) if isinstance(module, nn.ReLU) else module(h)
        h.retain_grad()
        outputs.append(h)
    loss = F.mse_loss(h, y)
    loss.backward()
    readings = diagnosis.depth.modules
    assert [m.name for m in readings] == [f"net.{i}" for i in range(7)]
    _close([m.grad_norm for m in readings], [float(o.grad.norm()) for o in outputs])
    assert [m.weighted for m in readings] == [True, False, True, False, True, False, True]
    _close(diagnosis.depth.first_last_ratio, outputs[0].grad.norm() / outputs[-1].grad.norm())
    # dead fraction: units at zero on every example
    dead = [float((o <= 0).all(0).double().mean()) for o in (outputs[1], outputs[3])]
    _close([readings[1].dead_fraction, readings[3].dead_fraction], dead)
    for p, param in zip(diagnosis.parameters, model.parameters()):
        _close(p.grad_norm, float(param.grad.norm()))


def test_projected_lstm_cell_grad_norms_include_the_path_through_the_projection():
    torch.manual_seed(5)
    B, T, E, H, P = 2, 5, 3, 6, 4
    lstm = nn.LSTM(E, H, proj_size=P, batch_first=True).to(DT)
    x = torch.randn(B, T, E, dtype=DT)
    w = torch.randn(B, T, P, dtype=DT)
    diagnosis = diagnose(Wrapped(lstm), lambda m, b: (m.rnn(b)[0] * w).sum(), x)

    w_ih, w_hh, b_ih, b_hh = _weights(lstm, 0, 0)
    h, c = x.new_zeros(B, P), x.new_zeros(B, H)
    hs, cs = [], []
    for t in range(T):
        h, c = _lstm_cell(x[:, t], h, c, w_ih, w_hh, b_ih, b_hh)
        h = h @ lstm.weight_hr_l0.T
        hs.append(h)
        cs.append(c)
    loss = (torch.stack(hs, 1) * w).sum()
    reading = diagnosis.recurrent["rnn"]
    _close(reading.grad_norms[0, 0], _norms(loss, hs))
    _close(reading.cell_grad_norms[0, 0], _norms(loss, cs))


# ---------------------------------------------------------------------------------------------------------
# 2. The model is left as it came


class Sink(nn.Module):
    """Batch norm, a two-layer LSTM with dropout, dropout, a GRUCell loop and a head: everything that a
    forward pass can change."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(3)
        self.rnn = nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.cell = nn.GRUCell(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x, fail_inside=False):
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        out, _ = self.rnn(x)
        if fail_inside:
            raise RuntimeError("the user's forward failed after the LSTM ran")
        out = self.drop(out)
        h = out[:, 0]
        for t in range(out.shape[1]):
            h = self.cell(out[:, t], h)
        return self.head(h)


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
               "_forward_hooks_always_called", "_backward_hooks", "_backward_pre_hooks")


def _snapshot(model: nn.Module) -> dict:
    return {
        "parameters": {n: (p, p.detach().clone()) for n, p in model.named_parameters()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "buffers": {n: b.clone() for n, b in model.named_buffers()},
        "training": {n: m.training for n, m in model.named_modules()},
        "forward": {n: m.__dict__.get("forward") for n, m in model.named_modules()},
        "hooks": {n: {d: dict(getattr(m, d)) for d in _HOOK_DICTS} for n, m in model.named_modules()},
        "rng": torch.get_rng_state(),
    }


def _assert_untouched(model: nn.Module, before: dict) -> None:
    after = dict(model.named_parameters())
    assert after.keys() == before["parameters"].keys()
    for name, (param, value) in before["parameters"].items():
        assert after[name] is param and torch.equal(param, value), name
        grad = before["grads"][name]
        assert (param.grad is None) if grad is None else torch.equal(param.grad, grad), name
    buffers = dict(model.named_buffers())
    assert buffers.keys() == before["buffers"].keys()
    for name, value in before["buffers"].items():
        assert torch.equal(buffers[name], value), name
    assert {n: m.training for n, m in model.named_modules()} == before["training"]
    assert {n: m.__dict__.get("forward") for n, m in model.named_modules()} == before["forward"]
    assert {n: {d: dict(getattr(m, d)) for d in _HOOK_DICTS} for n, m in model.named_modules()} == before["hooks"]
    assert torch.equal(torch.get_rng_state(), before["rng"])


def _sink_with_user_state():
    torch.manual_seed(6)
    model = Sink()
    model.train()
    model.rnn.eval()  # mixed flags: diagnose(mode="train") turns them all on, and must turn these back off
    model.cell.eval()
    model.head.weight.grad = torch.full_like(model.head.weight, 0.5)  # an existing .grad; the others stay None
    calls = {"pre": 0, "post": 0}

    def pre(module, args):
        calls["pre"] += 1

    def post(module, args, output):
        calls["post"] += 1

    model.rnn.register_forward_pre_hook(pre)
    model.head.register_forward_hook(post)
    return model, calls


def _loss(model, batch):
    return model(batch).square().mean()


def test_the_model_is_left_as_it_came():
    model, calls = _sink_with_user_state()
    x = torch.randn(5, 4, 3)
    torch.manual_seed(123)
    before = _snapshot(model)
    diagnosis = diagnose(model, _loss, batches=[x, x + 1])
    _assert_untouched(model, before)
    assert calls == {"pre": 2, "post": 2}  # the user's hooks ran once per forward, during the diagnosis
    assert "forward" not in model.rnn.__dict__
    assert set(diagnosis.recurrent) == {"rnn", "cell"}
    # the fused module still runs, with its own parameters, and the user's hooks fire once per call
    model(x)
    assert calls == {"pre": 3, "post": 3}
    # the same seed, the same diagnosis: dropout masks drawn from the diagnosis's own random state
    again = diagnose(model, _loss, batches=[x, x + 1])
    assert again.losses == diagnosis.losses and again.grad_norms == diagnosis.grad_norms


class Interrupted(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("failure", ["after the model", "inside the model", "interrupt"])
def test_the_model_is_left_as_it_came_when_loss_fn_raises(failure):
    model, calls = _sink_with_user_state()
    x = torch.randn(5, 4, 3)
    before = _snapshot(model)

    def loss_fn(m, batch):
        if failure == "inside the model":
            m(batch, fail_inside=True)
        _loss(m, batch)
        if failure == "interrupt":
            raise Interrupted
        raise KeyError("no such column")

    if failure == "interrupt":  # not an Exception: it is not wrapped, and the model is still restored
        with pytest.raises(Interrupted):
            diagnose(model, loss_fn, x)
    else:
        with pytest.raises(LossFunctionError, match=r"loss_fn\(model, batch\) raised (KeyError|RuntimeError)") as info:
            diagnose(model, loss_fn, x)
        assert isinstance(info.value.__cause__, KeyError if failure == "after the model" else RuntimeError)
        assert "restored" in str(info.value)
    _assert_untouched(model, before)
    assert calls["pre"] == 1


def test_a_forward_of_the_users_own_on_a_recurrent_module_is_put_back():
    torch.manual_seed(7)
    rnn = nn.GRU(2, 3)
    own = rnn.forward  # a bound method stored on the instance, as a monkey-patching user would
    rnn.forward = own
    model = Wrapped(rnn)
    x = torch.randn(4, 2, 2)
    before = _snapshot(model)
    diagnose(model, lambda m, b: m.rnn(b)[0].sum(), x)
    _assert_untouched(model, before)
    assert model.rnn.__dict__["forward"] is own


@pytest.mark.parametrize("mode, expected", [("train", True), ("eval", False), ("as-is", None)])
def test_mode_sets_the_flags_during_the_diagnosis_only(mode, expected):
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 1))
    model[1].eval()
    flags = {n: m.training for n, m in model.named_modules()}
    seen = []

    def loss_fn(m, batch):
        seen.append([x.training for x in m.modules()])
        return m(batch).sum()

    diagnose(model, loss_fn, torch.randn(4, 2), mode=mode)
    assert seen[0] == ([expected] * 4 if expected is not None else list(flags.values()))
    assert {n: m.training for n, m in model.named_modules()} == flags


# ---------------------------------------------------------------------------------------------------------
# 3. Verdicts, and their evidence against the readings


def _rnn_diagnosis(nonlinearity: str, w_hh: torch.Tensor, x: torch.Tensor) -> Diagnosis:
    rnn = nn.RNN(x.shape[-1], w_hh.shape[0], nonlinearity=nonlinearity, batch_first=True).to(DT)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(w_hh)
        if nonlinearity == "relu":  # every unit active: the error grows by ρ per step back
            rnn.weight_ih_l0.abs_()
            rnn.bias_ih_l0.zero_()
            rnn.bias_hh_l0.zero_()
    return diagnose(Wrapped(rnn), lambda m, b: m.rnn(b)[0][:, -1].sum(), x)


def _orthogonal(size: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(size, size, dtype=DT))
    return q * r.diagonal().sign()


def test_a_contracting_tanh_rnn_vanishes_and_the_evidence_quotes_its_horizon():
    torch.manual_seed(8)
    T = 60
    diagnosis = _rnn_diagnosis("tanh", 0.5 * _orthogonal(16), torch.randn(4, T, 4, dtype=DT))
    reading = diagnosis.recurrent["rnn"]
    _close(reading.spectral_radius["hidden"], [[0.5]])
    _close(reading.top_singular_value["hidden"], [[0.5]])
    horizon = int(reading.horizon[0, 0])
    assert 0 < horizon < T
    # the horizon is where the lag profile first falls 1e-6 below its running peak
    lags = reading.lag_norms[0, 0]
    assert lags[horizon] < VANISHING_FLOOR * lags[:horizon].max() and (
        lags[:horizon] >= VANISHING_FLOOR * lags[0]).all()
    (verdict,) = [v for v in diagnosis.verdicts if v.where == "rnn"]
    assert verdict.kind == "vanishing"
    assert f"after {horizon} of {T} steps back" in verdict.evidence
    assert f"×{float(reading.decay_rate[0, 0]):.3g} per step" in verdict.evidence
    assert verdict.measured["horizon"] == horizon and verdict.measured["steps"] == T
    assert diagnosis.found("vanishing") == [verdict] and not diagnosis.healthy


def test_an_expanding_relu_rnn_explodes():
    torch.manual_seed(9)
    T = 40
    diagnosis = _rnn_diagnosis("relu", 1.5 * torch.eye(16, dtype=DT), torch.rand(4, T, 4, dtype=DT))
    reading = diagnosis.recurrent["rnn"]
    _close(reading.spectral_radius["hidden"], [[1.5]])
    (verdict,) = [v for v in diagnosis.verdicts if v.where == "rnn"]
    assert verdict.kind == "exploding"
    lags = reading.lag_norms[0, 0]
    growth = float(lags.max() / lags[0])
    _close(verdict.measured["growth"], growth)
    _close(growth, 1.5 ** (T - 1))  # every unit active: exactly ρ per step
    assert f"grows {growth:.2g}× going back {T - 1} steps" in verdict.evidence
    _close(reading.decay_rate[0, 0], 1.5)


def test_an_orthogonal_tanh_rnn_is_healthy():
    torch.manual_seed(10)
    T = 20
    diagnosis = _rnn_diagnosis("tanh", _orthogonal(16), 0.1 * torch.randn(4, T, 4, dtype=DT))
    reading = diagnosis.recurrent["rnn"]
    _close(reading.spectral_radius["hidden"], [[1.0]])
    assert int(reading.horizon[0, 0]) == T
    assert diagnosis.kinds == {"healthy"} and diagnosis.healthy
    (verdict,) = [v for v in diagnosis.verdicts if v.where == "rnn"]
    assert f"reaches all {T} steps back" in verdict.evidence


def test_a_deep_sigmoid_mlp_vanishes_beside_the_sigmoid_bound():
    torch.manual_seed(11)
    layers = []
    for _ in range(19):
        layers += [nn.Linear(8, 8), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(8, 1))
    diagnosis = diagnose(model, lambda m, b: m(b).square().mean(), torch.randn(8, 8))
    depth = diagnosis.depth
    assert depth.sigmoid_bound == 0.25**19
    assert [m.name for m in depth.layers] == [str(i) for i in range(0, 39, 2)]
    ratio = depth.layers[0].grad_norm / depth.layers[-1].grad_norm
    _close(depth.first_last_ratio, ratio)
    (verdict,) = diagnosis.verdicts
    assert (verdict.kind, verdict.where) == ("vanishing", "depth")
    assert verdict.measured["first_last_ratio"] == depth.first_last_ratio
    assert f"is {ratio:.2g}× the last's `38` over 20 layers" in verdict.evidence
    assert f"0.25^19 = {0.25**19:.2g}" in verdict.evidence
    assert all(m.saturated_fraction is not None for m in depth.modules if m.activation == "sigmoid")


def _dead_mlp():
    torch.manual_seed(12)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    with torch.no_grad():
        model[2].bias.fill_(-10.0)
    return model


def test_a_relu_layer_with_a_large_negative_bias_has_dead_units():
    model = _dead_mlp()
    diagnosis = diagnose(model, lambda m, b: m(b).square().mean(), torch.randn(32, 4))
    readings = {m.name: m for m in diagnosis.depth.modules}
    assert readings["3"].dead_fraction == 1.0 and readings["1"].dead_fraction < DEAD_UNITS_FRACTION
    (dead,) = diagnosis.found("dead units")
    assert dead.measured["dead"] == {"3": 1.0}
    assert "`3` 100%" in dead.evidence
    # nothing reaches the first layers through the dead layer: their parameters get no gradient at all
    grads = {p.name: p.grad_norm for p in diagnosis.parameters}
    assert grads["0.weight"] == grads["2.weight"] == 0.0 and grads["4.bias"] > 0


class Log(nn.Module):
    def forward(self, x):
        return torch.log(-x.abs() - 1)  # the log of a negative quantity: NaN


def test_the_log_of_a_negative_quantity_is_non_finite_and_named():
    torch.manual_seed(13)
    model = nn.Sequential()
    model.add_module("stem", nn.Linear(3, 4))
    model.add_module("body", nn.Sequential(nn.Linear(4, 4), nn.Tanh(), Log(), nn.Linear(4, 2)))
    diagnosis = diagnose(model, lambda m, b: m(b).sum(), torch.randn(5, 3))
    assert diagnosis.first_nonfinite == "body.2"
    (verdict,) = diagnosis.verdicts
    assert (verdict.kind, verdict.where) == ("non-finite", "loss")
    assert "`body.2` (Log, call 1)" in verdict.evidence
    assert verdict.measured["first_nonfinite"] == "body.2" and math.isnan(verdict.measured["loss"])
    assert math.isnan(diagnosis.losses[0]) and math.isnan(diagnosis.grad_norms[0])
    assert json.loads(json.dumps(diagnosis.to_dict(), allow_nan=False))["losses"] == ["nan"]


class RootOfZero(nn.Module):
    def forward(self, x):
        return torch.sqrt(x - x) + x  # finite output, but ∂/∂x = inf − inf: NaN


def test_a_finite_loss_with_a_non_finite_gradient():
    torch.manual_seed(19)
    model = nn.Sequential(nn.Linear(2, 4), RootOfZero(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    diagnosis = diagnose(model, lambda m, b: m(b).sum(), torch.randn(3, 2))
    assert math.isfinite(diagnosis.losses[0]) and math.isnan(diagnosis.grad_norms[0])
    assert diagnosis.first_nonfinite is None  # every output was finite
    (verdict,) = diagnosis.verdicts
    assert (verdict.kind, verdict.where) == ("non-finite", "depth")
    # going back, the first output whose gradient is not finite: the input of the root
    assert "`0`" in verdict.evidence
    data = json.loads(json.dumps(diagnosis.to_dict(), allow_nan=False))
    assert data["grad_norms"] == ["nan"]


def test_found_in_counts_the_batches_where_a_verdict_was_found():
    model = _dead_mlp()
    with torch.no_grad():  # the first layer's units are all on for positive inputs and all off for negative ones
        model[0].weight.copy_(torch.ones(16, 4))
        model[0].bias.zero_()
        model[2].bias.zero_()
        model[2].weight.abs_()
    on, off = torch.rand(8, 4) + 0.1, -torch.rand(8, 4) - 0.1

    def loss_fn(m, b):
        return m(b).square().mean()

    diagnosis = diagnose(model, loss_fn, batches=[off, on, off])
    # every unit off: no gradient reaches the first layer (a first/last ratio of 0) on those two batches
    assert {v.kind: v.found_in for v in diagnosis.verdicts} == {"dead units": (2, 3), "vanishing": (2, 3)}
    # the sentence quotes the combined reading: all dead in 2 of 3 batches, 2/3 dead on average
    assert diagnosis.found("dead units")[0].measured["dead"] == pytest.approx({"1": 2 / 3, "3": 2 / 3})
    assert {m.name: m.dead_fraction for m in diagnosis.depth.modules if m.dead_fraction is not None} == \
        pytest.approx({"1": 2 / 3, "3": 2 / 3})
    assert diagnosis.table().count("[2/3 batches]") == 2
    # found in fewer than half of the batches: not kept; healthy where it was measured healthy
    diagnosis = diagnose(model, loss_fn, batches=[on, off, on])
    (verdict,) = diagnosis.verdicts
    assert (verdict.kind, verdict.found_in) == ("healthy", (2, 3))
    assert diagnosis.batches == 3 and len(diagnosis.losses) == len(diagnosis.grad_norms) == 3


def test_non_finite_in_two_of_three_batches():
    torch.manual_seed(14)
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))

    def loss_fn(m, b):
        return m(b).sum()

    good = torch.randn(4, 2)
    bad = torch.full((4, 2), float("inf"))
    diagnosis = diagnose(model, loss_fn, batches=[bad, good, bad])
    assert diagnosis.first_nonfinite == "0"
    kinds = {(v.kind, v.where): v.found_in for v in diagnosis.verdicts}
    assert kinds[("non-finite", "loss")] == (2, 3)
    assert math.isfinite(diagnosis.losses[1]) and not math.isfinite(diagnosis.losses[0])
    # the readings come from the finite batch alone
    grads = torch.autograd.grad(loss_fn(model, good), list(model.parameters()))
    _close([p.grad_norm for p in diagnosis.parameters], [float(g.norm()) for g in grads], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------------------
# 4. Errors


class Custom(nn.RNNBase):
    """A recurrent module of torch's base class that is none of RNN, LSTM and GRU: no twin for it."""

    def __init__(self):
        super().__init__("RNN_TANH", 2, 3)


def _linear_loss(m, b):
    return m(b).sum()


@pytest.mark.parametrize("model, loss_fn, kwargs, error, match", [
    (nn.Sequential(nn.ReLU(), nn.Tanh()), _linear_loss, {}, ValueError,
     r"has no parameters.*Expected a module with at least one parameter"),
    (nn.Linear(2, 1).requires_grad_(False), _linear_loss, {}, ValueError, r"no parameter requires grad"),
    ("not a model", _linear_loss, {}, TypeError, r"`model` must be a torch.nn.Module"),
    (nn.Linear(2, 1), "not callable", {}, TypeError, r"`loss_fn` must be callable"),
    (nn.Linear(2, 1), lambda m, b: m(b), {}, LossFunctionError, r"must return a scalar floating-point tensor.*"
     r"Tensor of shape \(4, 1\)"),
    (nn.Linear(2, 1), lambda m, b: m(b).sum().long(), {}, LossFunctionError, r"scalar floating-point"),
    (nn.Linear(2, 1), lambda m, b: 1.5, {}, LossFunctionError, r"returned 1.5"),
    (nn.Linear(2, 1), lambda m, b: m(b).sum().detach(), {}, LossFunctionError, r"does not require grad"),
    (nn.Linear(2, 1), _linear_loss, {"recurrent": ["nope"]}, ValueError,
     r"Unknown module 'nope' in `recurrent`\. Available: none"),
    (nn.Sequential(nn.Linear(2, 1)), _linear_loss, {"recurrent": "1"}, ValueError,
     r"Unknown module '1' in `recurrent`\. Available: '0'\."),
    (nn.Linear(2, 1), _linear_loss, {"mode": "bogus"}, ValueError, r"Unknown mode 'bogus'.*'train', 'eval', 'as-is'"),
    (nn.Linear(2, 1), _linear_loss, {"batches": [torch.ones(4, 2)]}, TypeError, r"either `batch` or `batches=`"),
    (nn.Linear(2, 1), _linear_loss, {"seed": -1}, ValueError, r"seed"),
])
def test_arguments_are_checked(model, loss_fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        diagnose(model, loss_fn, torch.ones(4, 2), **kwargs)


def test_batches_are_checked():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"`batches` is empty: expected at least one batch"):
        diagnose(model, _linear_loss, batches=[])
    with pytest.raises(TypeError, match=r"needs a batch"):
        diagnose(model, _linear_loss)
    with pytest.raises(TypeError, match=r"`batches` must be an iterable of batches"):
        diagnose(model, _linear_loss, batches=torch.ones(3, 2))


def test_a_model_on_the_meta_device_is_refused():
    with torch.device("meta"):
        model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"meta device.*Expected real tensors"):
        diagnose(model, _linear_loss, torch.ones(4, 2))


def test_a_loss_function_error_is_a_value_error_and_chains_the_original():
    model = nn.Linear(2, 1)
    original = ZeroDivisionError("division by zero")
    before = _snapshot(model)

    def loss_fn(m, b):
        m(b)
        raise original

    with pytest.raises(ValueError, match=r"raised ZeroDivisionError on the batch: division by zero") as info:
        diagnose(model, loss_fn, torch.ones(4, 2))
    assert isinstance(info.value, LossFunctionError) and info.value.__cause__ is original
    _assert_untouched(model, before)
    with pytest.raises(LossFunctionError, match=r"on batch 1 it returned Tensor"):
        diagnose(model, lambda m, b: m(b).sum() if b.sum() > 0 else m(b), batches=[torch.ones(4, 2), -torch.ones(4, 2)])


def test_a_recurrent_module_without_a_twin_names_recurrent_and_leaves_the_model_as_it_came():
    torch.manual_seed(15)
    model = nn.Sequential(nn.Linear(2, 2), Custom())
    model.eval()
    before = _snapshot(model)
    with pytest.raises(TypeError, match=r"no unrolled twin for Custom.*`recurrent=`"):
        diagnose(model, _linear_loss, torch.ones(4, 2))
    _assert_untouched(model, before)


def test_an_unknown_verdict_kind_is_refused():
    diagnosis = diagnose(nn.Linear(2, 1), _linear_loss, torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"Unknown verdict kind 'fine'. Available: 'non-finite'"):
        diagnosis.found("fine")


# ---------------------------------------------------------------------------------------------------------
# 5. recurrent=: a step module of the user's own


class Step(nn.Module):
    def __init__(self, inputs, hidden):
        super().__init__()
        self.lin = nn.Linear(inputs + hidden, hidden)

    def forward(self, x, h):
        return torch.tanh(self.lin(torch.cat([x, h], -1)))


class StepLoop(nn.Module):
    def __init__(self, inputs=3, hidden=4):
        super().__init__()
        self.hidden = hidden
        self.step = Step(inputs, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, keep=None):
        h = x.new_zeros(x.shape[0], self.hidden)
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
            if keep is not None:
                keep.append(h)
        return self.head(h)


def test_a_step_module_named_in_recurrent_is_traced_through_time():
    torch.manual_seed(16)
    B, T = 3, 8
    model = StepLoop().to(DT)
    x = torch.randn(B, T, 3, dtype=DT)

    def loss_fn(m, b):
        return m(b).square().sum()  # the last step's output only: lag k is step T-1-k

    diagnosis = diagnose(model, loss_fn, x, recurrent="step")
    x_ref = x.clone().requires_grad_()
    hs = []
    loss = loss_fn(lambda b: model(b, keep=hs), x_ref)
    expected = _norms(loss, hs)
    reading = diagnosis.recurrent["step"]
    assert (reading.kind, reading.grad_norms.shape, reading.cell_grad_norms) == ("step", (1, 1, T), None)
    _close(reading.grad_norms[0, 0], expected)
    _close(reading.lag_norms[0, 0], expected[::-1])
    (grad_x,) = torch.autograd.grad(loss, x_ref)
    _close(reading.input_grad_norms[0], grad_x.norm(dim=(0, 2)))
    assert [v.where for v in diagnosis.verdicts][0] == "step" and not diagnosis.notes

    # without it: no reading through time, and a note pointing at recurrent=
    plain = diagnose(model, loss_fn, x)
    assert plain.recurrent == {}
    (note,) = plain.notes
    assert f"`step.lin` (Linear) ran {T} times" in note and "`recurrent=`" in note
    assert " ".join(f"note: {note}".split()) in " ".join(plain.table().split())  # wrapped at 80 columns


# ---------------------------------------------------------------------------------------------------------
# 6. to_dict and table


def test_to_dict_is_strict_json_and_the_table_lists_every_verdict():
    torch.manual_seed(17)
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True)

    def loss_fn(m, b):
        out, _ = m.rnn(pack_padded_sequence(b, [len(b), 2]))
        return pad_packed_sequence(out)[0].square().sum()

    # two batches of different lengths: the shorter one's steps are NaN, written as strings
    diagnosis = diagnose(Wrapped(gru), loss_fn, batches=[torch.randn(5, 2, 2), torch.randn(3, 2, 2)])
    data = json.loads(json.dumps(diagnosis.to_dict(), allow_nan=False))
    assert data["depth"]["first_last_ratio"] == "nan"  # no weighted layer on the depth path
    assert set(data) >= {"verdicts", "recurrent", "depth", "parameters", "losses", "grad_norms", "notes"}
    assert len(data["recurrent"]["rnn"]["grad_norms"][0][0]) == 5
    assert [p["name"] for p in data["parameters"]] == [p.name for p in diagnosis.parameters]
    # 2 layers × 2 directions; a depth path without weighted layers adds nothing beside them
    assert len(data["verdicts"]) == len(diagnosis.verdicts) == 4
    assert {v["where"] for v in data["verdicts"]} == {"rnn layer 0", "rnn layer 0 reverse", "rnn layer 1",
                                                       "rnn layer 1 reverse"}
    table = diagnosis.table()
    lines = table.splitlines()
    assert lines[0].startswith("gradtrace doctor: 2 batch(es), loss ")
    assert all(len(line) <= 80 for line in lines)
    flat = " ".join(table.split())  # rows wrap at 80 columns
    for verdict in diagnosis.verdicts:
        assert f"{verdict.kind.upper()} {' '.join(verdict.evidence.split())}" in flat
    assert str(diagnosis) == table
