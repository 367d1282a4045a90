"""What :func:`gradtrace.diagnose` returns: readings through time and depth, and the verdicts.

Plain containers of measured numbers; :meth:`Diagnosis.to_dict` is the JSON the CLI writes and
:meth:`Diagnosis.table` the text it prints.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

import torch

from gradtrace.doctor.verdicts import KINDS, Verdict

__all__ = ["DepthReading", "Diagnosis", "ModuleReading", "ParameterReading", "RecurrentReading"]


def _list(tensor: torch.Tensor | None):
    if tensor is None:
        return None
    return [_number(v) for v in tensor.tolist()] if tensor.dim() == 1 else [_list(t) for t in tensor]


def _number(value: float):
    return value if math.isfinite(value) else str(value)


@dataclass
class RecurrentReading:
    """The gradient through time of one recurrent module (an ``nn.RNN``/``LSTM``/``GRU`` or a step module).

    Shapes use L = num_layers, D = num_directions, T = steps (the longest sequence it ran over).

    Attributes:
        name: the module's qualified name in the model.
        kind: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``, their ``...Cell`` forms, or ``"step"``.
        grad_norms: (L, D, T) ‖∂L/∂h_t‖, the norm over batch and units of the total derivative of the loss
            with respect to the layer's hidden state at time t (``gt.trace``'s definition); NaN where a
            step did not run. The median over batches and calls.
        cell_grad_norms: (L, D, T) ‖∂L/∂c_t‖ for LSTMs, else None: the total derivative, through h_t of
            the same step and through c_(t+1). For a step module named in ``recurrent=`` that returns
            (h, c), only the part through the c it returns.
        lag_norms: (L, D, T) the error at the last step a direction processed, carried back k = 0…T−1
            steps through the recurrence alone: ‖∂⟨δ_end, h_end⟩/∂h_(end−k)‖. With a loss on every step
            (a language model) ∂L/∂h_t stays large everywhere even when nothing travels through time;
            this profile shows how far the gradient really travels.
        input_grad_norms: (L, T) ‖∂L/∂x_t‖ of each layer's input.
        decay_rate: (L, D) the factor per step back fitted to ``lag_norms`` (below 1: vanishing).
        horizon: (L, D) steps back before ``lag_norms`` falls 1e-6 below its running peak (T: never).
        spectral_radius: gate → (L, D) ρ of the square matrix through which h_(t−1) enters the gate.
        top_singular_value: gate → (L, D) its largest singular value.
        saturation: gate → (L, D) fraction of gate activations whose derivative is under 5 % of its
            maximum (``tanh_cell`` is an LSTM's tanh(c_t); ``hidden`` a ReLU RNN's inactive units).
    """

    name: str
    kind: str
    num_layers: int
    num_directions: int
    hidden_size: int
    steps: int
    grad_norms: torch.Tensor
    cell_grad_norms: torch.Tensor | None
    lag_norms: torch.Tensor
    input_grad_norms: torch.Tensor
    decay_rate: torch.Tensor
    horizon: torch.Tensor
    spectral_radius: dict[str, torch.Tensor] = field(default_factory=dict)
    top_singular_value: dict[str, torch.Tensor] = field(default_factory=dict)
    saturation: dict[str, torch.Tensor] = field(default_factory=dict)
    calls: int = 1

    def place(self, layer: int, direction: int) -> str:
        """The name of one layer and direction in verdicts: ``"encoder.rnn layer 1 reverse"``."""
        name = self.name or "(model)"  # the model itself is the recurrent module: its qualified name is ""
        where = name if self.num_layers == 1 and self.num_directions == 1 else f"{name} layer {layer}"
        return where + (" reverse" if direction else "") if self.num_directions == 2 else where

    def to_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "num_layers": self.num_layers,
            "num_directions": self.num_directions, "hidden_size": self.hidden_size, "steps": self.steps,
            "calls": self.calls, "grad_norms": _list(self.grad_norms), "cell_grad_norms": _list(self.cell_grad_norms),
            "lag_norms": _list(self.lag_norms), "input_grad_norms": _list(self.input_grad_norms),
            "decay_rate": _list(self.decay_rate), "horizon": self.horizon.tolist(),
            "spectral_radius": {k: _list(v) for k, v in self.spectral_radius.items()},
            "top_singular_value": {k: _list(v) for k, v in self.top_singular_value.items()},
            "saturation": {k: _list(v) for k, v in self.saturation.items()},
        }


@dataclass
class ModuleReading:
    """One module on the path through depth, in the order the modules first ran."""

    name: str
    type_name: str
    calls: int
    grad_norm: float  # ‖∂L/∂output‖ over all calls; NaN where no gradient reached its output
    weighted: bool  # a layer with its own weights on the path (Linear, Conv...; not norms or embeddings)
    activation: str | None
    dead_fraction: float | None  # ReLU: fraction of units at zero on every example
    saturated_fraction: float | None  # sigmoid/tanh: fraction of outputs with φ′ < 5 % of its maximum
    output_finite: bool

    def to_dict(self) -> dict:
        return {k: _number(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class ParameterReading:
    """One parameter: its gradient norm, its norm and their ratio (the size of one SGD step, relative)."""

    name: str
    shape: tuple[int, ...]
    grad_norm: float
    weight_norm: float

    @property
    def ratio(self) -> float:
        return self.grad_norm / self.weight_norm if self.weight_norm > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "grad_norm": _number(self.grad_norm),
                "weight_norm": _number(self.weight_norm), "ratio": _number(self.ratio)}


@dataclass
class DepthReading:
    """The path through depth: every leaf module that ran, and the weighted layers' first/last ratio."""

    modules: list[ModuleReading]
    first_last_ratio: float
    sigmoid_bound: float | None  # 0.25^(M−1) where every activation between the layers is a sigmoid

    @property
    def layers(self) -> list[ModuleReading]:
        """The weighted layers, in the order they ran."""
        return [m for m in self.modules if m.weighted]

    def to_dict(self) -> dict:
        return {"modules": [m.to_dict() for m in self.modules], "first_last_ratio": _number(self.first_last_ratio),
                "sigmoid_bound": self.sigmoid_bound, "layers": [m.name for m in self.layers]}


@dataclass
class Diagnosis:
    """Where the gradient of a user's model dies or explodes, measured on one or more batches.

    Attributes:
        recurrent: qualified module name → :class:`RecurrentReading`.
        depth: the path through depth (first batch whose loss was finite).
        parameters: per-parameter gradient and weight norms (median over batches).
        verdicts: vanishing / exploding / healthy / dead units / non-finite, per recurrent layer and
            direction and for the depth path, each with its evidence.
        losses: the loss on each batch.
        grad_norms: the global gradient norm on each batch (what clipping by norm compares).
        first_nonfinite: the first module whose output became non-finite, where one did.
        batches: how many batches were diagnosed.
        seconds: wall time of the diagnosis.
    """

    recurrent: dict[str, RecurrentReading]
    depth: DepthReading
    parameters: list[ParameterReading]
    verdicts: list[Verdict]
    losses: list[float]
    grad_norms: list[float]
    first_nonfinite: str | None
    batches: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def found(self, kind: str) -> list[Verdict]:
        """The verdicts of one kind (``"exploding"``, ``"vanishing"``...)."""
        if kind not in KINDS:
            raise ValueError(f"Unknown verdict kind {kind!r}. Available: {', '.join(map(repr, KINDS))}.")
        return [v for v in self.verdicts if v.kind == kind]

    @property
    def kinds(self) -> set[str]:
        """Every verdict kind found."""
        return {v.kind for v in self.verdicts}

    @property
    def healthy(self) -> bool:
        """True when every verdict is healthy."""
        return self.kinds <= {"healthy"}

    def to_dict(self) -> dict:
        return {
            "verdicts": [v.to_dict() for v in self.verdicts],
            "recurrent": {k: v.to_dict() for k, v in self.recurrent.items()},
            "depth": self.depth.to_dict(),
            "parameters": [p.to_dict() for p in self.parameters],
            "losses": [_number(v) for v in self.losses], "grad_norms": [_number(v) for v in self.grad_norms],
            "first_nonfinite": self.first_nonfinite, "batches": self.batches, "seconds": self.seconds,
            "notes": list(self.notes),
        }

    def table(self) -> str:
        """The verdicts as plain text lines that read at 80 columns and piped."""
        lines = [f"gradtrace doctor: {self.batches} batch(es), loss {_loss_text(self.losses)}, "
                 f"{self.seconds:.1f} s"[:80]]
        for verdict in self.verdicts:
            found = verdict.found_in
            count = f" [{found[0]}/{found[1]} batches]" if found[1] > 1 else ""
            lines.extend(_wrap(f"{verdict.kind.upper():<10} {verdict.evidence}{count}", 13))
        for note in self.notes:
            lines.extend(_wrap(f"note: {note}", 8))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _wrap(text: str, indent: int, width: int = 80) -> list[str]:
    """Wrap one table row at ``width`` columns, continuation lines indented under its text."""
    return textwrap.wrap(text, width, initial_indent="  ", subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


def _loss_text(losses: list[float]) -> str:
    if not losses:
        return "none"
    finite = [v for v in losses if math.isfinite(v)]
    if len(finite) < len(losses):
        return f"non-finite in {len(losses) - len(finite)} of {len(losses)}"
    ordered = sorted(finite)
    return f"{ordered[len(ordered) // 2]:.4g}" + (" (median)" if len(losses) > 1 else "")
