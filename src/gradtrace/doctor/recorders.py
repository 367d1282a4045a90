"""What the doctor records while the user's model runs: states through time and outputs through depth.

Three recorders, one per way of reaching a model's internals:

- :class:`TwinRecorder` is the observer of an unrolled twin (``nn.RNN``/``LSTM``/``GRU``): a zero probe
  on every state h_t (and c_t) and on every layer's input, so that one backward pass gives the total
  derivative ∂L/∂h_t at every step (the probes of :func:`gradtrace.trace`).
- :class:`CellRecorder` hooks a step module that the user's own loop calls once per step
  (``nn.RNNCell``/``LSTMCell``/``GRUCell``, or any module named in ``recurrent=``): the same probes,
  one call being one step.
- :class:`DepthRecorder` hooks every leaf module: the order the modules ran in, a tensor hook on each
  output for ‖∂L/∂output‖ (full backward hooks break on in-place ReLU, pytorch#61519), dead and
  saturated fractions, and the first module whose output stopped being finite.

Recorders compute and keep numbers; the verdicts and the report read them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from gradtrace.doctor.twins import TwinLayout, _step
from gradtrace.instruments.through_depth import SATURATION_THRESHOLD

__all__ = [
    "SATURATION_FRACTION",
    "CellRecorder",
    "DepthRecorder",
    "ModuleEntry",
    "SequenceRecord",
    "TwinRecorder",
    "activation_kind",
    "cell_kind",
    "saturated",
]

#: A unit passes back less than this fraction of its largest derivative: saturated (sigmoid, tanh) or,
#: for a ReLU, inactive; the threshold gradtrace's own depth instruments use.
SATURATION_FRACTION = SATURATION_THRESHOLD

_SIGMOID_GATES = {"input", "forget", "output", "reset", "update"}
_TANH_GATES = {"cell", "new", "tanh_cell"}


def saturated(values: torch.Tensor, activation: str) -> torch.Tensor:
    """Return a boolean mask of the entries of an activation's *output* where φ′ < 5 % of its maximum.

    ``activation`` is ``"sigmoid"`` (σ′ = y(1 − y) ≤ 0.25), ``"tanh"`` (1 − y² ≤ 1) or ``"relu"`` (zero
    derivative where the output is 0).
    """
    if activation == "sigmoid":
        return values * (1 - values) < SATURATION_FRACTION * 0.25
    if activation == "tanh":
        return 1 - values.square() < SATURATION_FRACTION
    return values <= 0


def _probe(tensor: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(tensor, requires_grad=True)


@dataclass
class SequenceRecord:
    """One run of a recurrent module over a sequence: the probed states of every layer and direction.

    ``h[(layer, direction)][t]`` is the pair (state with its probe added, probe) at time index t, with the
    rows still running at t (a ``PackedSequence`` drops finished sequences); ``x[layer]`` is the probe on
    the layer's whole packed input with its ``batch_sizes``; a step module has one input probe per call
    in ``x_steps`` instead.
    """

    num_layers: int
    num_directions: int
    steps: int = 0
    h: dict = field(default_factory=lambda: defaultdict(dict))
    c: dict = field(default_factory=lambda: defaultdict(dict))
    x: dict = field(default_factory=dict)
    x_steps: list = field(default_factory=list)  # a step module's input probe per call
    pre_activations: dict = field(default_factory=lambda: defaultdict(dict))  # an RNN's a_t, when kept
    c_is_total: bool = False  # the c probes read the total ∂L/∂c_t (a twin's), not only the carry
    batch_sizes: list[int] = field(default_factory=list)
    saturation: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # an LSTM's ∂h_t/∂c_t per step: the c probe sits on the state passed on, after h_t has read c_t
    through_h: dict = field(default_factory=lambda: defaultdict(dict))

    def probes(self) -> list[torch.Tensor]:
        """Every probe of this run, in a fixed order."""
        found = [p for states in (self.h, self.c) for key in sorted(states) for _, (_, p) in
                 sorted(states[key].items())]
        return found + [p for _, (p, _) in sorted(self.x.items())] + list(self.x_steps)

    def keep_cell_path(self, layer: int, direction: int, step: int, gates: dict[str, torch.Tensor],
                       w_hr: torch.Tensor | None = None) -> None:
        """Keep how an LSTM step's h_t = W_hr (o_t ⊙ tanh c_t) reads c_t (detached), so that ∂L/∂c_t can add
        the error reaching c_t through h_t to the one its probe gets from c_(t+1)."""
        if "tanh_cell" in gates:
            factor = gates["output"] * (1 - gates["tanh_cell"].square())
            self.through_h[(layer, direction)][step] = (factor, None if w_hr is None else w_hr.detach())

    def count_saturation(self, layer: int, direction: int, gates: dict[str, torch.Tensor], kind: str) -> None:
        for gate, values in gates.items():
            if gate == "pre_activation":
                continue
            if gate in _SIGMOID_GATES:
                activation = "sigmoid"
            elif gate in _TANH_GATES or kind == "RNN_TANH" or kind == "tanh":
                activation = "tanh"
            else:
                activation = "relu"
            counts = self.saturation[(layer, direction, gate)]
            # a tensor sum, read once when the record is: no host sync on every gate of every time step
            counts[0] = counts[0] + saturated(values, activation).sum()
            counts[1] += values.numel()


class TwinRecorder:
    """The observer of one ``nn.RNN``/``LSTM``/``GRU`` run as a twin: probes every state and input."""

    def __init__(self, name: str, module: nn.RNNBase, shape: TwinLayout, *, keep_pre_activations: bool = False):
        self.name = name
        self.module = module
        self.layout = shape
        self.keep_pre_activations = keep_pre_activations
        self.records: list[SequenceRecord] = []

    def reset(self) -> None:
        self.records = []

    def start(self) -> None:
        """Begin a new sequence: a module may run more than once per forward pass."""
        self.records.append(SequenceRecord(self.layout.num_layers, self.layout.num_directions))

    def on_input(self, layer: int, data: torch.Tensor, batch_sizes: list[int]) -> torch.Tensor:
        record = self.records[-1]
        record.batch_sizes = list(batch_sizes)
        record.steps = len(batch_sizes)
        probe = _probe(data)
        record.x[layer] = (probe, list(batch_sizes))
        return data + probe

    def on_cell(self, layer, direction, step, c):
        # before h_t is computed from c_t: the probe reads the total ∂L/∂c_t
        probe = _probe(c)
        c = c + probe
        record = self.records[-1]
        record.c[(layer, direction)][step] = (c, probe)
        record.c_is_total = True
        return c

    def on_state(self, layer, direction, step, h, c):
        probe = _probe(h)
        h = h + probe
        self.records[-1].h[(layer, direction)][step] = (h, probe)
        return h, c

    def on_gates(self, layer, direction, step, gates):
        record = self.records[-1]
        if self.keep_pre_activations and "pre_activation" in gates:
            record.pre_activations[(layer, direction)][step] = gates["pre_activation"]
        record.count_saturation(layer, direction, gates, self.layout.kind)
        # no keep_cell_path: the twin's c probe (on_cell) sits before h_t reads c_t, so it is the total


def cell_kind(module: nn.Module) -> str | None:
    """Return the twin kind of a torch cell (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``) or None."""
    if isinstance(module, nn.LSTMCell):
        return "LSTM"
    if isinstance(module, nn.GRUCell):
        return "GRU"
    if isinstance(module, nn.RNNCell):
        return "RNN_RELU" if module.nonlinearity == "relu" else "RNN_TANH"
    return None


class CellRecorder:
    """Hooks a step module that the user's loop calls once per step; one call is one step.

    Its output (a tensor h, or a tuple whose first tensors are h and c) gets zero probes; its first
    argument (x_t) gets one too. For torch's cells the gates are recomputed from the call's arguments,
    without a graph, to measure saturation.
    """

    def __init__(self, name: str, module: nn.Module):
        self.name = name
        self.module = module
        self.kind = cell_kind(module)
        self.active = True
        self.records: list[SequenceRecord] = []
        self._handles = []

    def reset(self) -> None:
        self.records = [SequenceRecord(1, 1)]

    def attach(self) -> None:
        self._handles = [
            self.module.register_forward_pre_hook(self._before, with_kwargs=True),
            self.module.register_forward_hook(self._after),
        ]

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, module, args, kwargs):
        if not self.active or not args or not isinstance(args[0], torch.Tensor) or not args[0].is_floating_point():
            return None
        record = self.records[-1]
        x = args[0]
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        if self.kind is not None and hx is None and record.steps:
            # a torch cell called without a state starts a new sequence: its steps are not the last ones'
            record = SequenceRecord(1, 1)
            self.records.append(record)
        if self.kind is not None:
            self._count_gates(record, x, args[1] if len(args) > 1 else kwargs.get("hx"))
        probe = _probe(x)
        record.x_steps.append(probe)
        return (x + probe, *args[1:]), kwargs

    def _count_gates(self, record: SequenceRecord, x: torch.Tensor, hx) -> None:
        cell = self.module
        with torch.no_grad():
            batched = x.dim() == 2
            xb = x if batched else x.unsqueeze(0)
            rows = xb.shape[0]
            if hx is None:
                h = xb.new_zeros(rows, cell.hidden_size)
                c = xb.new_zeros(rows, cell.hidden_size) if self.kind == "LSTM" else None
            elif self.kind == "LSTM":
                h, c = (s if batched else s.unsqueeze(0) for s in hx)
            else:
                h, c = (hx if batched else hx.unsqueeze(0)), None
            gates: dict[str, torch.Tensor] = {}
            gi = F.linear(xb, cell.weight_ih, cell.bias_ih)
            _step(self.kind, gi, h, c, cell.weight_hh, cell.bias_hh, None, gates)
        record.count_saturation(0, 0, gates, self.kind)
        record.keep_cell_path(0, 0, record.steps, gates)

    def _after(self, module, args, output):
        if not self.active:
            return None
        record = self.records[-1]
        step = record.steps
        record.steps += 1
        if isinstance(output, torch.Tensor):
            probe = _probe(output)
            probed = output + probe
            record.h[(0, 0)][step] = (probed, probe)
            return probed
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            parts = list(output)
            probe = _probe(parts[0])
            parts[0] = parts[0] + probe
            record.h[(0, 0)][step] = (parts[0], probe)
            if len(parts) > 1 and isinstance(parts[1], torch.Tensor) and parts[1].is_floating_point():
                probe_c = _probe(parts[1])
                parts[1] = parts[1] + probe_c
                record.c[(0, 0)][step] = (parts[1], probe_c)
            return type(output)(parts) if type(output) is tuple else output.__class__(*parts)
        raise TypeError(
            f"The step module `{self.name}` ({type(module).__name__}) returned {type(output).__name__}; "
            "a module named in `recurrent=` must return its new state: a tensor h, or a tuple (h, c, ...)."
        )


def activation_kind(module: nn.Module) -> str | None:
    """Return ``"relu"``, ``"sigmoid"`` or ``"tanh"`` for the activation modules whose units can die or
    saturate, else None (Leaky ReLU, PReLU, GELU, ELU and SiLU never have a flat tail at zero)."""
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return "relu"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    if isinstance(module, nn.Tanh):
        return "tanh"
    return None


@dataclass
class ModuleEntry:
    """One module on the path through depth, in the order it first ran."""

    name: str
    type_name: str
    order: int
    has_weights: bool
    activation: str | None
    calls: int = 0
    grad_square: float = 0.0
    grad_seen: bool = False
    grad_finite: bool = True
    output_finite: bool = True
    dead: list[float] = field(default_factory=list)
    saturated: list[float] = field(default_factory=list)

    @property
    def grad_norm(self) -> float:
        """‖∂L/∂output‖ over all its calls (root of the summed squares); NaN when no gradient reached it."""
        if not self.grad_seen:
            return float("nan")
        return float("nan") if not self.grad_finite else self.grad_square ** 0.5


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() or value.is_complex() else []
    if isinstance(value, PackedSequence):
        return _tensors(value.data)
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


_NOT_ON_DEPTH_PATH = (nn.Embedding, nn.EmbeddingBag, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                      nn.RNNBase, nn.RNNCellBase)


class DepthRecorder:
    """Forward hooks on every leaf module (and every recurrent one): the path through depth."""

    def __init__(self, modules: dict[str, nn.Module]):
        self.modules = modules
        self.active = True
        self.entries: dict[str, ModuleEntry] = {}
        self.first_nonfinite: tuple[str, int] | None = None
        self.first_nonfinite_grad: str | None = None
        self._handles = []

    def reset(self) -> None:
        self.entries = {}
        self.first_nonfinite = None
        self.first_nonfinite_grad = None
        self.active = True

    def attach(self) -> None:
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):
        def hook(module, args, output):
            if not self.active:
                return None
            entry = self.entries.get(name)
            if entry is None:
                weighted = bool(module._parameters) and not isinstance(module, _NOT_ON_DEPTH_PATH)
                entry = self.entries[name] = ModuleEntry(name, type(module).__name__, len(self.entries), weighted,
                                                         activation_kind(module))
            entry.calls += 1
            tensors = _tensors(output)
            with torch.no_grad():
                # a float64 sum of finite entries is finite; only a non-finite sum needs the full check
                finite = all(bool(torch.isfinite(t.sum(dtype=torch.float64))) or bool(torch.isfinite(t).all())
                             for t in tensors)
                if not finite:
                    entry.output_finite = False
                    if self.first_nonfinite is None:
                        self.first_nonfinite = (name, entry.calls)
                if entry.activation is not None and tensors:
                    y = tensors[0].detach()
                    flat = saturated(y, entry.activation)
                    if entry.activation == "relu":
                        units = flat.flatten(1) if flat.dim() > 1 else flat[None]
                        entry.dead.append(float(units.all(0).double().mean()))
                    else:
                        entry.saturated.append(float(flat.double().mean()))
            for t in tensors:
                if t.requires_grad:
                    t.register_hook(self._grad_hook(entry))
            return None

        return hook

    def _grad_hook(self, entry: ModuleEntry):
        def hook(grad):
            if not self.active:
                return None
            entry.grad_seen = True
            with torch.no_grad():
                square = float(torch.linalg.vector_norm(grad.detach(), dtype=torch.float64)) ** 2
            if square != square or square == float("inf"):
                entry.grad_finite = False
                if self.first_nonfinite_grad is None:
                    self.first_nonfinite_grad = entry.name
            else:
                entry.grad_square += square
            return None

        return hook
