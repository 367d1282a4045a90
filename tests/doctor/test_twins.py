"""The unrolled twins of nn.RNN/LSTM/GRU: the fused module's results, its own parameters, and per-step probes."""

import itertools
import re
from collections import Counter
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from gradtrace.doctor.twins import layout, recurrence_matrices, twin_forward

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 0.0}
KINDS = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")
# The gate names the StepObserver protocol documents, written out rather than read from GATES.
GATE_KEYS = {
    "RNN_TANH": {"hidden", "pre_activation"},
    "RNN_RELU": {"hidden", "pre_activation"},
    "GRU": {"reset", "update", "new"},
    "LSTM": {"input", "forget", "cell", "output", "tanh_cell"},
}
GATE_ROWS = {"RNN_TANH": ("hidden",), "RNN_RELU": ("hidden",), "GRU": ("reset", "update", "new"),
             "LSTM": ("input", "forget", "cell", "output")}


def make(kind: str, input_size: int, hidden: int, **options) -> nn.RNNBase:
    if kind.startswith("RNN"):
        module = nn.RNN(input_size, hidden, nonlinearity="tanh" if kind == "RNN_TANH" else "relu", **options)
    else:
        module = (nn.GRU if kind == "GRU" else nn.LSTM)(input_size, hidden, **options)
    return module.double()


def loss_of(output: torch.Tensor, states) -> torch.Tensor:
    """A loss that reaches every output and every final state, with a non-constant gradient."""
    states = states if isinstance(states, tuple) else (states,)
    return output.sin().sum() + sum(s.square().sum() for s in states)


# --- The twin returns what the fused module returns, gradients included --------------------------------


@dataclass(frozen=True)
class Case:
    kind: str
    input_size: int
    hidden: int
    proj: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    dropout: float
    training: bool
    form: str  # "batched", "unbatched", "packed_sorted" or "packed_unsorted"
    steps: int
    batch: int
    lengths: tuple[int, ...]
    initial_state: bool
    seed: int


@st.composite
def cases(draw) -> Case:
    kind = draw(st.sampled_from(KINDS))
    hidden = draw(st.integers(1, 5))
    num_layers = draw(st.integers(1, 3))
    form = draw(st.sampled_from(["batched", "unbatched", "packed_sorted", "packed_unsorted"]))
    steps = draw(st.integers(1, 8))
    batch = 1 if form == "unbatched" else draw(st.integers(1, 4))
    lengths: tuple[int, ...] = ()
    if form.startswith("packed"):
        spread = draw(st.sampled_from(["equal", "distinct", "any"]))
        if spread == "equal":
            lengths = (draw(st.integers(1, steps)),) * batch
        else:  # distinct lengths make sequences end (and, in reverse, start) at different steps
            unique = spread == "distinct" and batch <= steps
            lengths = tuple(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch, unique=unique)))
        if form == "packed_sorted":
            lengths = tuple(sorted(lengths, reverse=True))
    return Case(
        kind=kind,
        input_size=draw(st.integers(1, 4)),
        hidden=hidden,
        proj=draw(st.integers(0, hidden - 1)) if kind == "LSTM" else 0,
        num_layers=num_layers,
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        # nn.RNNBase warns about dropout with one layer (it acts only between layers), and warnings are errors.
        dropout=draw(st.sampled_from([0.0, 0.5])) if num_layers > 1 else 0.0,
        training=draw(st.booleans()),
        form=form,
        steps=steps,
        batch=batch,
        lengths=lengths,
        initial_state=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def _setup(case: Case):
    """The module, its input and its initial state (or None), all from the case's seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case.seed)
        options = {"proj_size": case.proj} if case.kind == "LSTM" else {}
        module = make(case.kind, case.input_size, case.hidden, num_layers=case.num_layers,
                      bidirectional=case.bidirectional, batch_first=case.batch_first, bias=case.bias,
                      dropout=case.dropout, **options)
        module.train(case.training)
        first, second = (case.batch, case.steps) if case.batch_first else (case.steps, case.batch)
        x = torch.randn(first, second, case.input_size, dtype=F64)
        if case.form == "unbatched":
            x = x[0] if case.batch_first else x[:, 0]
        state_shape = [case.num_layers * (2 if case.bidirectional else 1), case.batch]
        if case.form == "unbatched":
            state_shape.pop()
        hx = None
        if case.initial_state:
            h0 = torch.randn(*state_shape, case.proj or case.hidden, dtype=F64)
            hx = (h0, torch.randn(*state_shape, case.hidden, dtype=F64)) if case.kind == "LSTM" else h0
    return module, x, hx


def _run(forward, module: nn.RNNBase, case: Case, x: torch.Tensor, hx):
    """Run ``forward`` and differentiate a loss: outputs, final states and the gradients of every leaf."""
    x = x.detach().requires_grad_()
    hx_leaves = [] if hx is None else [s.detach().requires_grad_() for s in (hx if isinstance(hx, tuple) else (hx,))]
    if hx is not None:
        hx = tuple(hx_leaves) if case.kind == "LSTM" else hx_leaves[0]
    inp = x
    if case.form.startswith("packed"):
        inp = pack_padded_sequence(x, torch.tensor(case.lengths), batch_first=case.batch_first,
                                   enforce_sorted=case.form == "packed_sorted")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case.seed + 1)  # the same dropout masks for the fused call and the twin
        output, states = forward(inp, hx)
    result = {}
    if case.form.startswith("packed"):
        assert isinstance(output, PackedSequence)
        result["batch_sizes"] = output.batch_sizes
        result["sorted_indices"] = output.sorted_indices
        result["unsorted_indices"] = output.unsorted_indices
        output = output.data
    loss = loss_of(output, states)
    names = [name for name, _ in module.named_parameters()]
    grads = torch.autograd.grad(loss, [*module.parameters(), x, *hx_leaves])
    result["output"] = output.detach()
    for i, s in enumerate(states if isinstance(states, tuple) else (states,)):
        result[f"state {i}"] = s.detach()
    result.update({f"grad {name}": g for name, g in zip(names, grads)})
    result["grad input"] = grads[len(names)]
    result.update({f"grad initial state {i}": g for i, g in enumerate(grads[len(names) + 1:])})
    return result


# Where the packed bookkeeping can go wrong, always: states of sequences that end early (forward) or start late
# (reverse) with a non-zero initial state, sorted and unsorted, and dropout masks on packed rows.
_TRICKY = {"steps": 6, "batch": 4, "initial_state": True, "bidirectional": True, "bias": True, "input_size": 3}


@settings(max_examples=60, deadline=None)
@given(cases())
@example(Case(kind="LSTM", hidden=4, proj=2, num_layers=2, batch_first=False, dropout=0.5, training=True,
              form="packed_unsorted", lengths=(3, 6, 1, 4), seed=1, **_TRICKY))
@example(Case(kind="GRU", hidden=3, proj=0, num_layers=2, batch_first=True, dropout=0.0, training=False,
              form="packed_sorted", lengths=(6, 4, 4, 1), seed=2, **_TRICKY))
@example(Case(kind="RNN_RELU", hidden=5, proj=0, num_layers=3, batch_first=True, dropout=0.5, training=False,
              form="packed_unsorted", lengths=(2, 5, 5, 3), seed=3, **_TRICKY))
@example(Case(kind="RNN_TANH", hidden=2, proj=0, num_layers=2, batch_first=True, dropout=0.5, training=True,
              form="unbatched", lengths=(), seed=4, **{**_TRICKY, "batch": 1}))
def test_twin_matches_the_fused_module(case):
    module, x, hx = _setup(case)
    fused = _run(module, module, case, x, hx)
    twin = _run(lambda i, h: twin_forward(module, i, h), module, case, x, hx)
    # Dropout in train mode draws its masks from the global generator, as the fused kernel does, so with the
    # same seed the masks coincide and train mode is compared as strictly as eval mode.
    assert fused.keys() == twin.keys()
    for key in fused:
        if fused[key] is None or twin[key] is None:  # sorted/unsorted indices of an enforce_sorted pack
            assert fused[key] is None and twin[key] is None, key
        elif key in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            assert torch.equal(fused[key], twin[key]), key
        else:
            torch.testing.assert_close(twin[key], fused[key], **TOL, msg=lambda m, key=key: f"{key}: {m}")


# --- The twin computes with the module's own tensors ----------------------------------------------------


@pytest.mark.parametrize("kind, proj", [("GRU", 0), ("LSTM", 2), ("RNN_TANH", 0)])
def test_gradients_land_on_the_module_and_edits_are_seen(kind, proj):
    torch.manual_seed(1)
    options = {"proj_size": proj} if proj else {}
    module = make(kind, 3, 4, num_layers=2, bidirectional=True, **options)
    x = torch.randn(6, 2, 3, dtype=F64)
    params = dict(module.named_parameters())

    loss_of(*module(x)).backward()
    fused_grads = {name: p.grad.clone() for name, p in params.items()}
    module.zero_grad(set_to_none=True)
    loss_of(*twin_forward(module, x)).backward()
    for name, p in params.items():
        assert p.grad is not None, f"no gradient reached {name}"
        torch.testing.assert_close(p.grad, fused_grads[name], **TOL)

    for name, p in params.items():
        before = twin_forward(module, x)[0].detach()
        with torch.no_grad():
            p.add_(0.25)
        after = twin_forward(module, x)[0].detach()
        assert not torch.allclose(after, before), f"editing {name} in place did not change the twin's output"
        torch.testing.assert_close(after, module(x)[0].detach(), **TOL)


# --- Zero probes added in on_state read dL/dh_t -----------------------------------------------------------


class ZeroProbes:
    """Adds a zero tensor that requires grad to every state (h, and c for an LSTM)."""

    def __init__(self):
        self.h: dict[tuple[int, int, int], torch.Tensor] = {}
        self.c: dict[tuple[int, int, int], torch.Tensor] = {}

    def on_input(self, layer, data, batch_sizes):
        return data

    def on_state(self, layer, direction, step, h, c):
        self.h[layer, direction, step] = probe = torch.zeros_like(h, requires_grad=True)
        h = h + probe
        if c is not None:
            self.c[layer, direction, step] = probe = torch.zeros_like(c, requires_grad=True)
            c = c + probe
        return h, c

    def on_gates(self, layer, direction, step, gates):
        pass


def reference_layer(module: nn.RNNBase, kind: str, x: torch.Tensor, direction: int):
    """PyTorch's documented equations, step by step, for one direction of layer 0: the states by time index.

    Returns (hs, cs, carried, os): h_t; for an LSTM also c_t, a copy of c_t that only the next step (and c_n)
    reads while h_t is computed from c_t itself, so that the gradient w.r.t. the copy is ∂L/∂c_t with h_t held
    fixed, and the output gate o_t.
    """
    suffix = "_l0_reverse" if direction else "_l0"
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    w_ih, w_hh, b_ih, b_hh = (getattr(module, name + suffix) for name in names)
    steps, batch = x.shape[:2]
    size = module.hidden_size

    def gate(v, k):
        return v[:, k * size:(k + 1) * size]

    h = c = x.new_zeros(batch, size)
    hs, cs, carried, os = ([None] * steps for _ in range(4))
    for t in reversed(range(steps)) if direction else range(steps):
        a = x[t] @ w_ih.T + b_ih
        b = h @ w_hh.T + b_hh
        if kind == "RNN_TANH":
            h = torch.tanh(a + b)
        elif kind == "GRU":
            r = torch.sigmoid(gate(a, 0) + gate(b, 0))
            z = torch.sigmoid(gate(a, 1) + gate(b, 1))
            n = torch.tanh(gate(a, 2) + r * gate(b, 2))
            h = (1 - z) * n + z * h
        else:
            i, f, g, o = (gate(a, k) + gate(b, k) for k in range(4))
            cs[t] = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            os[t] = torch.sigmoid(o)
            h = os[t] * torch.tanh(cs[t])
            c = carried[t] = cs[t].clone()
        hs[t] = h
    return hs, cs, carried, os


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["RNN_TANH", "GRU", "LSTM"])
def test_zero_probes_read_the_derivative_of_each_state(kind, bidirectional):
    torch.manual_seed(2)
    module = make(kind, 3, 4, bidirectional=bidirectional)
    x = torch.randn(6, 2, 3, dtype=F64)
    directions = range(2 if bidirectional else 1)
    steps = len(x)

    # The oracle: a hand-written loop that keeps every state; one autograd call per state.
    ref = [reference_layer(module, kind, x, d) for d in directions]
    hs, carried = [r[0] for r in ref], [r[2] for r in ref]
    ref_output = torch.stack([torch.cat([hs[d][t] for d in directions], 1) for t in range(steps)])
    final = [-1, 0][: len(directions)]  # the reverse direction ends at time index 0
    ref_states = torch.stack([hs[d][final[d]] for d in directions])
    if kind == "LSTM":
        ref_states = (ref_states, torch.stack([carried[d][final[d]] for d in directions]))
    torch.testing.assert_close(ref_output, module(x)[0], **TOL)  # the oracle computes what the module does
    ref_loss = loss_of(ref_output, ref_states)

    probes = ZeroProbes()
    output, states = twin_forward(module, x, observer=probes)
    assert torch.equal(output, module(x)[0]), "zero probes changed the output"
    keys = [(0, d, t) for d in directions for t in range(steps)]
    assert sorted(probes.h) == keys
    loss = loss_of(output, states)
    grads = torch.autograd.grad(loss, [probes.h[k] for k in keys] + [probes.c[k] for k in keys if kind == "LSTM"])
    h_grads, c_grads = grads[: len(keys)], grads[len(keys):]
    for (_, d, t), grad in zip(keys, h_grads):
        expected = torch.autograd.grad(ref_loss, hs[d][t], retain_graph=True)[0]  # the total dL/dh_t
        torch.testing.assert_close(grad, expected, **TOL, msg=lambda m, d=d, t=t: f"dL/dh, direction {d}, t {t}: {m}")
    if kind != "LSTM":
        assert not probes.c
        return
    # The twin hands over c_t after h_t = o_t ⊙ tanh(c_t) is computed from it, so a c probe reads ∂L/∂c_t with
    # h_t held fixed: the gradient that flows on through the cell, as w.r.t. c_0 for the rest of the sequence.
    # With the h probe it gives the total: dL/dc_t = ∂L/∂c_t|h + dL/dh_t ⊙ o_t ⊙ (1 − tanh² c_t).
    assert sorted(probes.c) == keys
    for (_, d, t), h_grad, c_grad in zip(keys, h_grads, c_grads):
        expected = torch.autograd.grad(ref_loss, carried[d][t], retain_graph=True)[0]
        torch.testing.assert_close(c_grad, expected, **TOL, msg=lambda m, d=d, t=t: f"∂L/∂c, direction {d}, t {t}: {m}")
        total = torch.autograd.grad(ref_loss, ref[d][1][t], retain_graph=True)[0]
        tanh_c, output_gate = torch.tanh(ref[d][1][t]).detach(), ref[d][3][t].detach()
        torch.testing.assert_close(c_grad + h_grad * output_gate * (1 - tanh_c**2), total, **TOL)


# --- on_gates: once per (layer, direction, step), the documented keys, detached, the step's rows -------------


class Recorder:
    def __init__(self):
        self.inputs: list[tuple[int, tuple[int, ...], list[int]]] = []
        self.gates: dict[tuple[int, int, int], dict[str, torch.Tensor]] = {}
        self.gate_calls: Counter = Counter()
        self.states: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor | None]] = {}

    def on_input(self, layer, data, batch_sizes):
        self.inputs.append((layer, tuple(data.shape), list(batch_sizes)))
        return data

    def on_state(self, layer, direction, step, h, c):
        self.states[layer, direction, step] = (h.detach(), None if c is None else c.detach())
        return h, c

    def on_gates(self, layer, direction, step, gates):
        self.gate_calls[layer, direction, step] += 1
        self.gates[layer, direction, step] = dict(gates)


def _previous(states, layer, direction, step, which, rows, size):
    """The state a step starts from, cut or padded with the zero initial state to the step's rows."""
    prev = states.get((layer, direction, step + (1 if direction else -1)))
    if prev is None:
        return torch.zeros(rows, size, dtype=F64)
    prev = prev[which]
    return prev[:rows] if len(prev) >= rows else torch.cat([prev, prev.new_zeros(rows - len(prev), size)])


@pytest.mark.parametrize("kind, proj", [("RNN_TANH", 0), ("RNN_RELU", 0), ("GRU", 0), ("LSTM", 0), ("LSTM", 2)])
def test_on_gates_reports_every_step_once_with_the_documented_keys(kind, proj):
    torch.manual_seed(3)
    hidden = 4
    options = {"proj_size": proj} if proj else {}
    module = make(kind, 3, hidden, num_layers=2, bidirectional=True, **options)
    x = torch.randn(5, 4, 3, dtype=F64, requires_grad=True)
    packed = pack_padded_sequence(x, torch.tensor([3, 5, 1, 3]), enforce_sorted=False)
    batch_sizes = packed.batch_sizes.tolist()  # [4, 3, 3, 1, 1]
    recorder = Recorder()
    twin_forward(module, packed, observer=recorder)

    state_size = proj or hidden
    assert recorder.inputs == [(0, (sum(batch_sizes), 3), batch_sizes),
                               (1, (sum(batch_sizes), 2 * state_size), batch_sizes)]
    expected_calls = set(itertools.product(range(2), range(2), range(len(batch_sizes))))
    assert set(recorder.gate_calls) == expected_calls
    assert set(recorder.gate_calls.values()) == {1}
    for (layer, direction, step), gates in recorder.gates.items():
        rows = batch_sizes[step]
        assert set(gates) == GATE_KEYS[kind]
        for name, value in gates.items():
            assert not value.requires_grad and value.grad_fn is None, name
            assert value.shape == (rows, hidden), name
        # The gates belong to this step: they rebuild its state from the previous one.
        h, c = recorder.states[layer, direction, step]
        if kind.startswith("RNN"):
            assert torch.equal(gates["hidden"], h)
            activation = torch.tanh if kind == "RNN_TANH" else torch.relu
            assert torch.equal(activation(gates["pre_activation"]), h)
        elif kind == "GRU":
            h_prev = _previous(recorder.states, layer, direction, step, 0, rows, hidden)
            z, n = gates["update"], gates["new"]
            torch.testing.assert_close((1 - z) * n + z * h_prev, h, **TOL)
            assert bool(((gates["reset"] > 0) & (gates["reset"] < 1)).all())
        else:
            c_prev = _previous(recorder.states, layer, direction, step, 1, rows, hidden)
            torch.testing.assert_close(gates["forget"] * c_prev + gates["input"] * gates["cell"], c, **TOL)
            assert torch.equal(gates["tanh_cell"], torch.tanh(c))
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            h_full = gates["output"] * gates["tanh_cell"]
            expected_h = F.linear(h_full, getattr(module, "weight_hr" + suffix).detach()) if proj else h_full
            torch.testing.assert_close(expected_h, h, **TOL)


# --- recurrence_matrices -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, proj", [("RNN_TANH", 0), ("RNN_RELU", 0), ("GRU", 0), ("LSTM", 0), ("LSTM", 2)])
def test_recurrence_matrices_are_the_gate_blocks_of_w_hh(kind, proj):
    torch.manual_seed(4)
    hidden = 5
    options = {"proj_size": proj} if proj else {}
    module = make(kind, 3, hidden, num_layers=2, bidirectional=True, **options)
    for layer, direction in itertools.product(range(2), range(2)):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        w_hh = getattr(module, "weight_hh" + suffix).detach()
        matrices = recurrence_matrices(module, layer, direction)
        assert list(matrices) == list(GATE_ROWS[kind])
        for k, name in enumerate(GATE_ROWS[kind]):
            expected = w_hh[k * hidden:(k + 1) * hidden]
            if proj:
                expected = getattr(module, "weight_hr" + suffix).detach() @ expected
            size = proj or hidden
            assert matrices[name].shape == (size, size)
            assert not matrices[name].requires_grad
            torch.testing.assert_close(matrices[name], expected, **TOL)


# --- Errors ------------------------------------------------------------------------------------------------


class HomemadeRNN(nn.RNNBase):
    """A recurrent module that is none of RNN, LSTM and GRU."""


@pytest.mark.parametrize("module", [nn.Linear(3, 4), HomemadeRNN("RNN_TANH", 3, 4)], ids=["Linear", "RNNBase"])
def test_a_module_with_no_twin_is_a_type_error_naming_it(module):
    name = type(module).__name__
    with pytest.raises(TypeError, match=name):
        twin_forward(module, torch.randn(5, 2, 3))
    with pytest.raises(TypeError, match=name):
        layout(module)
    with pytest.raises(TypeError, match=name):
        recurrence_matrices(module, 0, 0)


def _zeros(kind, *shape, c_shape=None):
    h = torch.zeros(*shape, dtype=F64)
    return (h, torch.zeros(*(c_shape or shape), dtype=F64)) if kind == "LSTM" else h


BAD_STATES = {  # (input form, state shape); the module: 2 layers, hidden 4, batch 2, input 3
    "wrong batch": ("batched", (2, 3, 4)),
    "wrong layer count": ("batched", (1, 2, 4)),
    "wrong hidden size": ("batched", (2, 2, 5)),
    "2-D state for batched input": ("batched", (2, 4)),
    "3-D state for unbatched input": ("unbatched", (2, 2, 4)),
    "wrong unbatched hidden size": ("unbatched", (2, 5)),
}


@pytest.mark.parametrize("case", list(BAD_STATES))
@pytest.mark.parametrize("kind", ["RNN_TANH", "GRU", "LSTM"])
def test_a_wrong_state_shape_fails_as_the_fused_module_does(kind, case):
    module = make(kind, 3, 4, num_layers=2)
    form, shape = BAD_STATES[case]
    x = torch.randn(5, 2, 3, dtype=F64)
    if form == "unbatched":
        x = x[:, 0]
    hx = _zeros(kind, *shape)
    with pytest.raises(RuntimeError) as fused:
        module(x, hx)
    with pytest.raises(type(fused.value), match=f"^{re.escape(str(fused.value))}$") as twin:
        twin_forward(module, x, hx)
    assert type(twin.value) is type(fused.value)


@pytest.mark.parametrize("bad", [{"c_shape": (2, 2, 5)}, {"c_shape": (2, 4)}], ids=["c size", "c rank"])
def test_a_wrong_lstm_cell_state_fails_as_the_fused_module_does(bad):
    module = make("LSTM", 3, 4, num_layers=2)
    x = torch.randn(5, 2, 3, dtype=F64)
    hx = _zeros("LSTM", 2, 2, 4, **bad)
    with pytest.raises(RuntimeError) as fused:
        module(x, hx)
    with pytest.raises(RuntimeError, match=f"^{re.escape(str(fused.value))}$"):
        twin_forward(module, x, hx)


@pytest.mark.parametrize("kind", ["RNN_TANH", "GRU"])
def test_a_wrong_state_for_a_packed_input_fails_as_the_fused_module_does(kind):
    # (An LSTM's forward does not check a packed input's state; its kernel fails later, differently.)
    module = make(kind, 3, 4, num_layers=2)
    packed = pack_padded_sequence(torch.randn(5, 2, 3, dtype=F64), torch.tensor([5, 3]), enforce_sorted=False)
    hx = torch.zeros(2, 2, 5, dtype=F64)
    with pytest.raises(RuntimeError) as fused:
        module(packed, hx)
    with pytest.raises(RuntimeError, match=f"^{re.escape(str(fused.value))}$"):
        twin_forward(module, packed, hx)


@pytest.mark.parametrize("kind", KINDS)
def test_a_4d_input_is_a_value_error(kind):
    module = make(kind, 3, 4)
    x = torch.randn(5, 2, 3, 1, dtype=F64)
    with pytest.raises(ValueError):
        module(x)
    with pytest.raises(ValueError, match="4-D"):
        twin_forward(module, x)
