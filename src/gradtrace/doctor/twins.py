"""Unrolled twins of ``torch.nn.RNN``, ``LSTM`` and ``GRU`` that compute with the module's own tensors.

PyTorch's fused recurrent kernels run the whole sequence in one call, so the hidden state at step t
never exists as a tensor autograd can be asked about (pytorch/pytorch#1407). A twin runs the same
equations one step at a time in Python, reading ``weight_ih_l0``, ``weight_hh_l0``... straight from the
module (not copies: a gradient it produces lands on the user's parameters), and hands every step's state
to a :class:`StepObserver`, which may return it with a zero probe added. With no observer the twin is a
drop-in replacement for ``module.forward``: same outputs, same final states, same gradients, for every
option — ``num_layers``, ``bidirectional``, ``batch_first``, ``proj_size``, ``bias``, dropout between
layers, an initial state, unbatched inputs and ``PackedSequence`` inputs.

The equations (PyTorch's documentation; gates stacked in the rows of the weights in this order):

- RNN: h_t = φ(W_ih x_t + b_ih + W_hh h_(t−1) + b_hh), φ = tanh or ReLU.
- GRU (r, z, n): n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_(t−1) + b_hn)), h_t = n_t + z_t ⊙ (h_(t−1) − n_t).
- LSTM (i, f, g, o): c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t, h_t = o_t ⊙ tanh(c_t), then h_t ← W_hr h_t with a
  projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

__all__ = ["GATES", "StepObserver", "TwinLayout", "layout", "recurrence_matrices", "twin_forward"]

#: The gates stacked in the rows of each kind's weights, in PyTorch's order.
GATES: dict[str, tuple[str, ...]] = {
    "RNN_TANH": ("hidden",),
    "RNN_RELU": ("hidden",),
    "GRU": ("reset", "update", "new"),
    "LSTM": ("input", "forget", "cell", "output"),
}


class StepObserver(Protocol):
    """What a twin tells about each step; every method may return its tensors with probes added."""

    def on_input(self, layer: int, data: torch.Tensor, batch_sizes: list[int]) -> torch.Tensor:
        """See a layer's whole input, time-major and packed: (N, input) rows, N = sum(batch_sizes)."""

    def on_state(self, layer: int, direction: int, step: int, h: torch.Tensor,
                 c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """See the state after ``step`` (the time index, also for the reverse direction): (rows, H)."""

    # Optional: ``on_cell(layer, direction, step, c) -> c`` sees an LSTM's c_t before h_t = o_t ⊙ tanh(c_t)
    # is computed from it, so a probe added there reads the total ∂L/∂c_t (through h_t and the carry).
    # A probe on the c that ``on_state`` sees reads only the carry to the next step, h_t held fixed.

    def on_gates(self, layer: int, direction: int, step: int, gates: dict[str, torch.Tensor]) -> None:
        """See the step's gate activations (detached), keyed by the names in :data:`GATES`, plus
        ``"tanh_cell"`` for an LSTM's tanh(c_t) and ``"pre_activation"`` (a_t) for an RNN."""


@dataclass(frozen=True)
class TwinLayout:
    """The sizes of a recurrent module, read once from it."""

    kind: str  # a key of GATES
    num_layers: int
    num_directions: int
    hidden_size: int
    state_size: int  # the size of h: proj_size for a projected LSTM, else hidden_size
    batch_first: bool


def layout(module: nn.RNNBase) -> TwinLayout:
    """Read the sizes of ``module``; raise ``TypeError`` for a kind with no twin."""
    if isinstance(module, nn.LSTM):
        kind = "LSTM"
    elif isinstance(module, nn.GRU):
        kind = "GRU"
    elif isinstance(module, nn.RNN):
        kind = "RNN_RELU" if module.nonlinearity == "relu" else "RNN_TANH"
    else:
        raise TypeError(
            f"gradtrace has no unrolled twin for {type(module).__name__}: expected torch.nn.RNN, LSTM or GRU "
            "(or a subclass). Name its step module in `recurrent=` to trace it through time."
        )
    proj = getattr(module, "proj_size", 0)
    return TwinLayout(kind, module.num_layers, 2 if module.bidirectional else 1, module.hidden_size,
                      proj if proj > 0 else module.hidden_size, module.batch_first)


def _weights(module: nn.RNNBase, layer: int, direction: int):
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    bias = module.bias
    return (
        getattr(module, "weight_ih" + suffix),
        getattr(module, "weight_hh" + suffix),
        getattr(module, "bias_ih" + suffix) if bias else None,
        getattr(module, "bias_hh" + suffix) if bias else None,
        getattr(module, "weight_hr" + suffix, None),
    )


def recurrence_matrices(module: nn.RNNBase, layer: int, direction: int) -> dict[str, torch.Tensor]:
    """Return, per gate, the square matrix through which h_(t−1) enters that gate: (S, S) each.

    Without a projection it is the gate's block of W_hh. A projected LSTM feeds h = W_hr (o ⊙ tanh c)
    back, so the map from h_(t−1) to the next h goes through W_hr W_hh,gate (proj_size × proj_size).
    """
    kind = layout(module).kind
    _, w_hh, _, _, w_hr = _weights(module, layer, direction)
    blocks = w_hh.detach().chunk(len(GATES[kind]), 0)
    if w_hr is not None:
        blocks = tuple(w_hr.detach() @ block for block in blocks)
    return dict(zip(GATES[kind], blocks))


def _step(kind: str, gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh, b_hh, w_hr,
          gates_out: dict | None, cell_hook=None):
    gh = F.linear(h, w_hh, b_hh)
    if kind == "RNN_TANH" or kind == "RNN_RELU":
        pre = gi + gh
        h = torch.tanh(pre) if kind == "RNN_TANH" else torch.relu(pre)
        if gates_out is not None:
            gates_out.update(hidden=h.detach(), pre_activation=pre.detach())
        return h, None
    if kind == "GRU":
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        if gates_out is not None:
            gates_out.update(reset=r.detach(), update=z.detach(), new=n.detach())
        return n + z * (h - n), None
    i, f, g, o = (gi + gh).chunk(4, 1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    if cell_hook is not None:
        c = cell_hook(c)
    tanh_c = torch.tanh(c)
    h = o * tanh_c
    if gates_out is not None:
        gates_out.update(input=i.detach(), forget=f.detach(), cell=g.detach(), output=o.detach(),
                         tanh_cell=tanh_c.detach())
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _direction(module, kind, layer, direction, x, batch_sizes, offsets, h0, c0, observer):
    """Run one direction of one layer over packed time-major rows; return (outputs (N, S), h_n, c_n)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = _weights(module, layer, direction)
    gi_all = F.linear(x, w_ih, b_ih)  # every step's input term in one product
    steps = len(batch_sizes)
    outputs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
    gates: dict | None = {} if observer is not None else None
    on_cell = getattr(observer, "on_cell", None)
    if direction == 0:
        h, c = h0[: batch_sizes[0]], None if c0 is None else c0[: batch_sizes[0]]
        finished_h, finished_c = [], []  # shortest sequences end first and sit in the last rows
        order = range(steps)
    else:
        last = batch_sizes[-1]
        h, c = h0[:last], None if c0 is None else c0[:last]
        order = range(steps - 1, -1, -1)
    for t in order:
        rows = batch_sizes[t]
        if direction == 0 and h.shape[0] > rows:
            finished_h.append(h[rows:])
            h = h[:rows]
            if c is not None:
                finished_c.append(c[rows:])
                c = c[:rows]
        elif direction == 1 and h.shape[0] < rows:
            h = torch.cat([h, h0[h.shape[0]:rows]])
            if c is not None:
                c = torch.cat([c, c0[c.shape[0]:rows]])
        hook = None if on_cell is None or c is None else (lambda cell, t=t: on_cell(layer, direction, t, cell))
        h, c = _step(kind, gi_all[offsets[t]: offsets[t] + rows], h, c, w_hh, b_hh, w_hr, gates, hook)
        if observer is not None:
            observer.on_gates(layer, direction, t, gates)
            gates = {}
            h, c = observer.on_state(layer, direction, t, h, c)
        outputs[t] = h
    if direction == 0:
        h = torch.cat([h, *reversed(finished_h)])
        if c is not None:
            c = torch.cat([c, *reversed(finished_c)])
    return torch.cat(outputs), h, c


def _check_state_rank(is_lstm: bool, batched: bool, hx) -> None:
    """Raise the fused forward's own error for an initial state whose rank does not match the input's.

    ``check_forward_args`` only compares whole shapes, so without this a 2-D state for a batched input (or a
    3-D one for an unbatched input) would fail there with a different message than ``module(input, hx)``.
    """
    rank = 3 if batched else 2
    what = "batched 3-D" if batched else "unbatched 2-D"
    if is_lstm:
        if hx[0].dim() != rank or hx[1].dim() != rank:
            raise RuntimeError(f"For {what} input, hx and cx should also be {rank}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
    elif hx.dim() != rank:
        raise RuntimeError(f"For {what} input, hx should also be {rank}-D but got {hx.dim()}-D tensor")


def twin_forward(module: nn.RNNBase, input, hx=None, *, observer: StepObserver | None = None):
    """Run ``module`` on ``input`` one step at a time, returning exactly what ``module(input, hx)`` returns.

    Args:
        module: an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``; its parameters are used as they are.
        input: (T, B, input_size), (B, T, input_size) with ``batch_first``, (T, input_size) unbatched, or
            a ``PackedSequence``.
        hx: the initial state as the module takes it (for an LSTM a pair (h_0, c_0)), or None for zeros.
        observer: told about every step; may add probes to the states (see :class:`StepObserver`).

    Returns:
        (output, h_n) or, for an LSTM, (output, (h_n, c_n)), shaped like the module's own.

    Example:
        >>> rnn = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
        >>> x = torch.randn(7, 2, 3, dtype=torch.float64)
        >>> out, h = twin_forward(rnn, x)
        >>> bool(torch.allclose(out, rnn(x)[0], atol=1e-12))
        True
    """
    shape = layout(module)
    kind = shape.kind
    is_lstm = kind == "LSTM"
    packed = isinstance(input, PackedSequence)
    if packed:
        data, batch_sizes_tensor, sorted_indices, unsorted_indices = input
        batch_sizes = [int(b) for b in batch_sizes_tensor]
        batch = batch_sizes[0]
        batched = True
    else:
        batched = input.dim() == 3
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(module).__name__}: expected `input` to be 2-D or 3-D, got {input.dim()}-D "
                             f"of shape {tuple(input.shape)}.")
        if hx is not None:
            _check_state_rank(is_lstm, batched, hx)
        sequence = input if batched else input.unsqueeze(1)
        if batched and shape.batch_first:
            sequence = sequence.transpose(0, 1)
        steps, batch = sequence.shape[:2]
        batch_sizes = [batch] * steps
        data = sequence.reshape(steps * batch, sequence.shape[2])
        sorted_indices = unsorted_indices = None
    layers_directions = shape.num_layers * shape.num_directions
    if hx is None:
        h0 = data.new_zeros(layers_directions, batch, shape.state_size)
        c0 = data.new_zeros(layers_directions, batch, shape.hidden_size) if is_lstm else None
    else:
        if not batched:
            hx = tuple(s.unsqueeze(1) for s in hx) if is_lstm else hx.unsqueeze(1)
        if packed and sorted_indices is not None:
            hx = module.permute_hidden(hx, sorted_indices)
        h0, c0 = hx if is_lstm else (hx, None)
    # The module's own checks, on the input as its forward would hand them over: the same errors.
    if packed:
        module.check_forward_args(data, (h0, c0) if is_lstm else h0, batch_sizes_tensor)
    else:
        as_batched = input if batched else input.unsqueeze(0 if shape.batch_first else 1)
        module.check_forward_args(as_batched, (h0, c0) if is_lstm else h0, None)
    offsets = [0]
    for size in batch_sizes[:-1]:
        offsets.append(offsets[-1] + size)

    layer_input = data
    h_n, c_n = [], []
    for layer in range(shape.num_layers):
        x = layer_input if observer is None else observer.on_input(layer, layer_input, batch_sizes)
        outs = []
        for direction in range(shape.num_directions):
            index = layer * shape.num_directions + direction
            out, h, c = _direction(module, kind, layer, direction, x, batch_sizes, offsets,
                                   h0[index], None if c0 is None else c0[index], observer)
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_output = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
        if module.dropout and module.training and layer < shape.num_layers - 1:
            layer_output = F.dropout(layer_output, module.dropout, training=True)
        layer_input = layer_output

    h_n = torch.stack(h_n)
    c_n = torch.stack(c_n) if is_lstm else None
    if packed:
        output = PackedSequence(layer_input, batch_sizes_tensor, sorted_indices, unsorted_indices)
        hidden = module.permute_hidden((h_n, c_n) if is_lstm else h_n, unsorted_indices)
        return output, hidden
    output = layer_input.view(len(batch_sizes), batch, -1)
    if batched and shape.batch_first:
        output = output.transpose(0, 1)
    if not batched:
        output = output.squeeze(1)
        h_n = h_n.squeeze(1)
        c_n = c_n.squeeze(1) if is_lstm else None
    return output, ((h_n, c_n) if is_lstm else h_n)
