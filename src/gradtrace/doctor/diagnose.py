"""``diagnose``: attach to a user's model, run its loss once per batch, and read the gradient path.

The order matters and is spelled out in :class:`Attachment`: remember everything about the model that
a forward pass can change (train/eval flags, buffers such as batch norm's running statistics, the
random number generators), swap each fused recurrent module's ``forward`` for its unrolled twin, hook
cells and leaf modules, run, and put every one of those things back, whatever happened in between.
The gradients come from ``torch.autograd.grad``, so no ``.grad`` of the user's parameters is touched.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from gradtrace.doctor.diagnosis import DepthReading, Diagnosis, ModuleReading, ParameterReading, RecurrentReading
from gradtrace.doctor.recorders import CellRecorder, DepthRecorder, SequenceRecord, TwinRecorder, cell_kind
from gradtrace.doctor.remedies import LSTMWithRNNInterface
from gradtrace.doctor.twins import GATES, layout, recurrence_matrices, twin_forward
from gradtrace.doctor.verdicts import MIN_DEPTH, Verdict, combine, judge_depth, judge_time
from gradtrace.errors import GradtraceError, check_choice, check_seed, describe
from gradtrace.init import spectral_radius, top_singular_value
from gradtrace.instruments.through_time import decay_rate, horizon

__all__ = ["LossFunctionError", "batch_list", "call_loss", "check_model", "diagnose", "seeded"]

_MODES = ("train", "eval", "as-is")
_STOCK_FORWARDS = (nn.RNN.forward, nn.LSTM.forward, nn.GRU.forward)
_ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.ELU, nn.SELU, nn.SiLU,
                nn.Softplus, nn.Hardtanh, nn.Mish, nn.CELU, nn.Hardswish)


class LossFunctionError(GradtraceError, ValueError):
    """``loss_fn(model, batch)`` raised, or returned something that is not a scalar loss with a gradient."""


def diagnose(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor], batch: Any = None, *,
             batches: Iterable[Any] | None = None, recurrent: Iterable[str] = (), mode: str = "train",
             seed: int = 0) -> Diagnosis:
    """Measure where the gradient of ``model`` dies or explodes, through time and through depth.

    Every ``nn.RNN``/``nn.LSTM``/``nn.GRU`` inside the model runs as an unrolled twin that computes with
    the module's own parameter tensors; every ``nn.RNNCell``/``LSTMCell``/``GRUCell`` (and every module
    named in ``recurrent``) is hooked on each call, one call being one step; every leaf module gets a
    forward hook and a tensor hook on its output. One ``torch.autograd.grad`` call per batch then gives
    ‖∂L/∂h_t‖ at every step of every recurrent layer, ‖∂L/∂output‖ of every module, and every parameter's
    gradient; a second, cheap pass per layer carries the last step's error back alone.

    The model is left as it came: parameters and their ``.grad`` untouched, buffers (batch norm's running
    statistics) restored, train/eval flags, ``forward`` methods and hooks as they were, the global random
    state as it was — also when ``loss_fn`` raises.

    Args:
        model: any ``nn.Module`` with parameters.
        loss_fn: ``loss_fn(model, batch)`` returns the scalar loss; it calls the model however it likes.
        batch: one batch, passed to ``loss_fn`` as it is.
        batches: several batches instead of ``batch``; verdicts say in how many of them each was found.
        recurrent: qualified names of step modules that the model's own loop calls once per time step
            (a custom cell), to trace them through time like ``nn.LSTMCell``.
        mode: ``"train"`` (the default: dropout and batch statistics as in training), ``"eval"``, or
            ``"as-is"`` to keep the modules' own flags.
        seed: seeds the random state during the diagnosis (dropout masks), so it is reproducible.

    Returns:
        A :class:`~gradtrace.doctor.diagnosis.Diagnosis`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``loss_fn`` is not callable, or a recurrent module
            has no twin (name its step module in ``recurrent``).
        ValueError: no parameters, parameters on the meta device, no batch, or an unknown name in
            ``recurrent``.
        LossFunctionError: ``loss_fn`` raised or did not return a scalar tensor with a gradient.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
        >>> diagnosis = diagnose(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), (x, y))
        >>> sorted(diagnosis.kinds)
        ['healthy']
    """
    started = time.perf_counter()
    check_model(model)
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable as loss_fn(model, batch) -> scalar tensor, got "
                        f"{describe(loss_fn)}.")
    mode = check_choice("mode", mode, _MODES)
    seed = check_seed(seed)
    items = batch_list(batch, batches)
    steps = _step_modules(model, recurrent)
    per_batch = []
    with Attachment(model, steps, mode, seed) as attached:
        for index, item in enumerate(items):
            attached.reset()
            loss = call_loss(loss_fn, model, item, index, len(items))
            per_batch.append(attached.measure(loss, index))
    return _assemble(model, attached, per_batch, time.perf_counter() - started)


def check_model(model: Any) -> None:
    """Raise unless ``model`` is an ``nn.Module`` with real, trainable parameters."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {describe(model)}.")
    parameters = list(model.parameters())
    if not parameters:
        raise ValueError(f"`model` ({type(model).__name__}) has no parameters: there is no gradient to diagnose. "
                         "Expected a module with at least one parameter.")
    if any(p.is_meta for p in parameters):
        raise ValueError(f"`model` ({type(model).__name__}) has parameters on the meta device, which hold no values. "
                         "Expected real tensors: build it on a real device or load its weights first "
                         "(module.to_empty(device='cpu') then load_state_dict).")
    if not any(p.requires_grad for p in parameters):
        raise ValueError(f"`model` ({type(model).__name__}): no parameter requires grad. Expected at least one "
                         "trainable parameter.")


def batch_list(batch: Any, batches: Iterable[Any] | None) -> list[Any]:
    """Return the batches to use: ``[batch]``, or ``batches`` as a non-empty list."""
    if batches is None:
        if batch is None:
            raise TypeError("diagnose() needs a batch: pass `batch` (one) or `batches=` (several).")
        return [batch]
    if batch is not None:
        raise TypeError("Pass either `batch` or `batches=`, not both.")
    if isinstance(batches, (torch.Tensor, str, bytes)):
        raise TypeError(f"`batches` must be an iterable of batches (a list), got {describe(batches)}.")
    if isinstance(batches, tuple) and batches and all(isinstance(b, torch.Tensor) for b in batches):
        raise TypeError(f"`batches` must be a list of batches; got a tuple of {len(batches)} tensors, which looks "
                        "like one batch (inputs, targets): pass [batch].")
    items = list(batches)
    if not items:
        raise ValueError("`batches` is empty: expected at least one batch.")
    return items


def _step_modules(model: nn.Module, recurrent: Iterable[str]) -> dict[str, nn.Module]:
    if isinstance(recurrent, str):
        recurrent = [recurrent]
    named = dict(model.named_modules())
    steps = {}
    for name in recurrent:
        if name not in named or name == "":
            available = ", ".join(repr(n) for n in named if n) or "none"
            raise ValueError(f"Unknown module {name!r} in `recurrent`. Available: {available}.")
        if isinstance(named[name], nn.RNNBase):
            raise ValueError(f"`recurrent` names {name!r}, a {type(named[name]).__name__}: torch's recurrent modules "
                             "are traced through time without being named. Expected the name of a step module that "
                             "the model's own loop calls once per time step.")
        steps[name] = named[name]
    return steps


def call_loss(loss_fn, model, item, index: int, count: int, *, during: str | None = None) -> torch.Tensor:
    """Call ``loss_fn(model, item)``; raise :class:`LossFunctionError` unless it gives a scalar loss with a graph.

    ``during`` says what was going on (``"training the untreated copy, seed 0, step 3"``) when the model is
    a copy being trained rather than the user's model being diagnosed.
    """
    where = f"batch {index}" if count > 1 else "the batch"
    if during is not None:
        where += f" while {during}"
    try:
        loss = loss_fn(model, item)
    except GradtraceError:
        raise
    except Exception as error:  # any failure of the user's code, reported with what diagnose expected
        after = " The model was restored as it was." if during is None else " Your model itself was not trained."
        raise LossFunctionError(
            f"loss_fn(model, batch) raised {type(error).__name__} on {where}: {error}.{after}"
        ) from error
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise LossFunctionError(f"loss_fn(model, batch) must return a scalar floating-point tensor (the loss); on "
                                f"{where} it returned {describe(loss)}.")
    if not loss.requires_grad:
        raise LossFunctionError(f"The loss on {where} does not require grad: loss_fn computed it without the "
                                "model's parameters in its graph (under torch.no_grad(), or detached).")
    return loss.reshape(())


class Attachment:
    """Everything diagnose attaches to a model, and the means to take it all back off."""

    def __init__(self, model: nn.Module, steps: dict[str, nn.Module], mode: str, seed: int):
        self.model = model
        self.steps = steps
        self.mode = mode
        self.seed = seed
        self.twins: dict[str, TwinRecorder] = {}
        self.cells: dict[str, CellRecorder] = {}
        self.depth: DepthRecorder | None = None
        self.skipped: list[str] = []
        self.flags: dict[nn.Module, bool] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Attachment:
        try:
            self._attach()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _attach(self) -> None:
        model = self.model
        flags = self.flags = {m: m.training for m in model.modules()}

        def restore_flags():
            for module, flag in flags.items():
                module.training = flag  # per module: `train(flag)` would also reset its children

        self._stack.callback(restore_flags)
        # the buffer objects and their values: a forward may write into one or assign a new one
        buffers = [(m, name, b, b.detach().clone()) for m in model.modules() for name, b in m._buffers.items()
                   if b is not None]
        self._stack.callback(_restore_buffers, buffers)
        self._stack.enter_context(seeded(self.seed, model))
        self._stack.enter_context(torch.enable_grad())  # also when called under torch.no_grad()
        if self.mode == "train":
            model.train()
        elif self.mode == "eval":
            model.eval()
        for name, module in model.named_modules():
            if name in self.steps:
                self._hook_cell(name, module)
            elif isinstance(module, nn.RNNBase):
                self._install_twin(name, module)
            elif isinstance(module, nn.RNNCellBase):
                self._hook_cell(name, module)
        leaves = {name: module for name, module in model.named_modules()
                  if not any(True for _ in module.children()) or name in self.twins or name in self.cells}
        self.depth = DepthRecorder(leaves)
        self.depth.attach()
        self._stack.callback(self.depth.detach)

    def _install_twin(self, name: str, module: nn.RNNBase) -> None:
        recorder = TwinRecorder(name, module, layout(module))  # TypeError for a kind with no twin
        adapted = isinstance(module, LSTMWithRNNInterface)
        if type(module).forward not in _STOCK_FORWARDS and not adapted:
            # the twin replaces forward: a subclass's own forward would be skipped, its results changed
            self.skipped.append(f"`{name}` ({type(module).__name__}) overrides forward, which a twin would bypass: "
                                "it is not traced through time; name its step module in `recurrent=` to trace it.")
            return

        def forward(input, hx=None):
            recorder.start()
            if adapted:  # h alone in and out, as the nn.RNN it replaced
                if hx is not None:
                    hx = (hx, hx.new_zeros(*hx.shape[:-1], module.hidden_size))
                output, (h_n, _) = twin_forward(module, input, hx, observer=recorder)
                return output, h_n
            return twin_forward(module, input, hx, observer=recorder)

        had = "forward" in module.__dict__
        previous = module.__dict__.get("forward")
        module.forward = forward
        self.twins[name] = recorder

        def restore():
            if had:
                module.forward = previous
            else:
                del module.forward

        self._stack.callback(restore)

    def _hook_cell(self, name: str, module: nn.Module) -> None:
        recorder = CellRecorder(name, module)
        recorder.attach()
        self.cells[name] = recorder
        self._stack.callback(recorder.detach)

    def reset(self) -> None:
        for recorder in (*self.twins.values(), *self.cells.values()):
            recorder.reset()
        self.depth.reset()

    def measure(self, loss: torch.Tensor, index: int) -> dict:
        """Differentiate ``loss`` once and read every recorder; return this batch's measurements."""
        value = float(loss.detach())
        measured: dict[str, Any] = {"loss": value, "index": index}
        measured["first_nonfinite"] = self.depth.first_nonfinite
        if not math.isfinite(value):
            self.depth.active = False
            measured["nonfinite_loss"] = True
            return measured
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        records = {name: rec.records for name, rec in (*self.twins.items(), *self.cells.items())}
        probes = [p for recs in records.values() for record in recs for p in record.probes()]
        grads = torch.autograd.grad(loss, [p for _, p in named] + probes, retain_graph=True, allow_unused=True)
        self.depth.active = False  # the passes below must not add to ‖∂L/∂output‖
        for cell in self.cells.values():
            cell.active = False
        by_probe = {id(p): g for p, g in zip(probes, grads[len(named):])}
        parameter_grads = grads[: len(named)]
        measured["parameters"] = [(n, tuple(p.shape), _norm(g), _norm(p))
                                  for (n, p), g in zip(named, parameter_grads)]
        squares = [_norm(g) ** 2 for g in parameter_grads]
        measured["grad_norm"] = math.sqrt(sum(squares)) if all(map(math.isfinite, squares)) else float("nan")
        generator = torch.Generator().manual_seed(self.seed)
        measured["recurrent"] = {
            name: [_read_record(record, by_probe, generator) for record in recs if record.steps]
            for name, recs in records.items()
        }
        measured["depth"] = {name: entry for name, entry in self.depth.entries.items()}
        measured["first_nonfinite_grad"] = self.depth.first_nonfinite_grad
        for cell in self.cells.values():
            cell.active = True
        return measured


def _restore_buffers(buffers) -> None:
    with torch.no_grad():
        for module, name, buffer, saved in buffers:
            buffer.copy_(saved)
            module._buffers[name] = buffer


@contextlib.contextmanager
def seeded(seed: int, model: nn.Module):
    """Seed the random state for the block, then give the caller back exactly the state they had.

    ``torch.manual_seed`` would also reseed every CUDA device's generator, which ``fork_rng`` restores only
    for the devices it is given: seed the CPU generator and the model's CUDA devices, and fork those.
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


def _norm(grad: torch.Tensor | None) -> float:
    # accumulated in float64 without a float64 copy of the tensor (an embedding can be millions of entries)
    return 0.0 if grad is None else float(torch.linalg.vector_norm(grad.detach(), dtype=torch.float64))


def _grad(by_probe: dict, probe: torch.Tensor) -> torch.Tensor:
    grad = by_probe.get(id(probe))
    return torch.zeros_like(probe) if grad is None else grad


def _lengths(record: SequenceRecord, rows: int) -> list[int]:
    if not record.batch_sizes:
        return [record.steps] * rows
    return [sum(1 for size in record.batch_sizes if size > b) for b in range(rows)]


def _read_record(record: SequenceRecord, by_probe: dict, generator: torch.Generator) -> dict:
    """Norms per layer, direction and step of one run of a recurrent module, and its lag profiles."""
    L, D, T = record.num_layers, record.num_directions, record.steps
    nan = float("nan")
    grad_norms = torch.full((L, D, T), nan, dtype=torch.float64)
    cell_norms = torch.full((L, D, T), nan, dtype=torch.float64) if record.c else None
    lag_norms = torch.full((L, D, T), nan, dtype=torch.float64)
    input_norms = torch.full((L, T), nan, dtype=torch.float64)
    for (layer, direction), states in record.h.items():
        for t, (_, probe) in states.items():
            grad_norms[layer, direction, t] = _norm(_grad(by_probe, probe))
        if record.c:
            through_h = record.through_h.get((layer, direction), {})
            for t, (_, probe) in record.c[(layer, direction)].items():
                grad = _grad(by_probe, probe)
                if t in through_h:  # a cell's c probe comes after h_t read c_t: add the path through h_t
                    factor, w_hr = through_h[t]
                    grad_h = _grad(by_probe, states[t][1]).double()
                    grad_h = grad_h if w_hr is None else grad_h @ w_hr.double()
                    grad = grad.double() + (grad_h * factor.double()).reshape(grad.shape)
                cell_norms[layer, direction, t] = _norm(grad)
        lag_norms[layer, direction] = _lag_profile(record, layer, direction, by_probe, generator)
    for layer, (probe, sizes) in record.x.items():
        for t, rows in enumerate(_grad(by_probe, probe).split(sizes)):
            input_norms[layer, t] = _norm(rows)
    for t, probe in enumerate(record.x_steps):
        input_norms[0, t] = _norm(_grad(by_probe, probe))
    return {"grad_norms": grad_norms, "cell_grad_norms": cell_norms, "lag_norms": lag_norms,
            "input_grad_norms": input_norms, "saturation": dict(record.saturation)}


def _rows(state: torch.Tensor) -> int:
    """The sequences a state holds: its first dimension, or one for an unbatched step's (hidden,) state."""
    return state.shape[0] if state.dim() > 1 else 1


def _lag_profile(record: SequenceRecord, layer: int, direction: int, by_probe: dict,
                 generator: torch.Generator) -> torch.Tensor:
    """Carry the error at each sequence's last processed step back through this layer's recurrence alone."""
    states = record.h[(layer, direction)]
    # The error an end state passes back is (δh, δc through the carry). A twin's c probe reads the total
    # ∂L/∂c_t, which includes the path through h_t: injecting it too would count that path twice.
    cells = record.c.get((layer, direction), {}) if record.c and not record.c_is_total else {}
    T = record.steps
    lengths = _lengths(record, _rows(states[min(states)][0]))  # every row runs at the first step
    # where each row's sequence ends in processing order: its last step forward, step 0 backward
    ends: dict[int, list[int]] = {}
    for b, length in enumerate(lengths):
        ends.setdefault(length - 1 if direction == 0 else 0, []).append(b)
    outputs, cotangents, masks = [], [], []
    for t, members in ends.items():
        for table in (states, cells):
            if t not in table:
                continue
            state, probe = table[t]
            # one mask entry per row, broadcast over the rest (an unbatched step's state is one row)
            mask = torch.zeros(_rows(state), *[1] * (state.dim() - 1), dtype=state.dtype, device=state.device)
            mask[members] = 1
            outputs.append(state)
            masks.append(mask)
            cotangents.append(_grad(by_probe, probe).detach() * mask)
    if all(float(c.abs().sum()) == 0 for c in cotangents):
        # no error reaches the end states (the loss reads earlier steps only): send a random one instead
        cotangents = [torch.randn(c.shape, generator=generator, dtype=torch.float64).to(c) * mask
                      for c, mask in zip(cotangents, masks)]
    ordered = sorted(states)
    inputs = [states[t][1] for t in ordered]
    grads = torch.autograd.grad(outputs, inputs, cotangents, retain_graph=True, allow_unused=True)
    squares = torch.zeros(T, dtype=torch.float64)
    counts = torch.zeros(T, dtype=torch.float64)
    for t, grad in zip(ordered, grads):
        if grad is None:
            continue
        per_row = grad.detach().double().reshape(_rows(grad), -1).square().sum(1).cpu()
        lags = torch.tensor([(lengths[b] - 1 - t) if direction == 0 else t for b in range(per_row.shape[0])])
        squares.index_add_(0, lags.clamp(0, T - 1), per_row)
        counts.index_add_(0, lags.clamp(0, T - 1), torch.ones_like(per_row))
    # Sequences of unequal length reach back unequally far: at lag k only those longer than k are there.
    # The norm over the rows present, scaled to the whole batch, keeps a profile from dropping where a
    # short sequence ends (equal lengths: the plain norm over the batch).
    scaled = (squares * len(lengths) / counts.clamp_min(1)).sqrt()
    return torch.where(counts > 0, scaled, torch.full_like(squares, float("nan")))


def _median(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The NaN-ignoring median over a list of (…, T_i) tensors padded with NaN to the longest T."""
    steps = max(t.shape[-1] for t in tensors)
    padded = [torch.nn.functional.pad(t, (0, steps - t.shape[-1]), value=float("nan")) for t in tensors]
    stacked = torch.stack(padded)
    # the middle value, or the mean of the two middle ones (nanmedian would take the lower of two)
    return stacked.nanquantile(0.5, dim=0) if len(tensors) > 1 else stacked[0]


def _weights_reading(module: nn.Module, kind: str, L: int, D: int):
    radius, top = {}, {}
    if isinstance(module, nn.RNNBase):
        per = [[recurrence_matrices(module, layer, d) for d in range(D)] for layer in range(L)]
    elif cell_kind(module) is not None:
        blocks = module.weight_hh.detach().chunk(len(GATES[kind]), 0)
        per = [[dict(zip(GATES[kind], blocks))]]
    else:
        return radius, top
    for gate in per[0][0]:
        # in the weights' own precision: a float32 eigendecomposition of a 200 × 200 block costs 2/3 of a
        # float64 one, and ρ needs no more digits than the weights hold
        matrices = [[per[layer][d][gate] for d in range(D)] for layer in range(L)]
        radius[gate] = torch.tensor([[_finite_or_nan(spectral_radius, m) for m in row] for row in matrices])
        top[gate] = torch.tensor([[_finite_or_nan(top_singular_value, m) for m in row] for row in matrices])
    return radius, top


def _finite_or_nan(reading, matrix: torch.Tensor) -> float:
    """A reading of a weight matrix, NaN for weights that are not finite (a model that has diverged)."""
    return float(reading(matrix)) if bool(torch.isfinite(matrix).all()) else float("nan")


def _recurrent_reading(name: str, module: nn.Module, readings: list[dict], weights: dict) -> RecurrentReading:
    first = readings[0]
    L, D = first["grad_norms"].shape[:2]
    if isinstance(module, nn.RNNBase):
        shape = layout(module)
        kind, hidden = shape.kind, shape.hidden_size
    else:
        base = cell_kind(module)
        kind = f"{base}Cell" if base else "step"
        hidden = getattr(module, "hidden_size", 0)
    grad_norms = _median([r["grad_norms"] for r in readings])
    cells = [r["cell_grad_norms"] for r in readings if r["cell_grad_norms"] is not None]
    lag_norms = _median([r["lag_norms"] for r in readings])
    input_norms = _median([r["input_grad_norms"] for r in readings])
    rates = decay_rate(lag_norms.flip(-1).reshape(L * D, -1)).reshape(L, D)
    horizons = horizon(lag_norms.flip(-1).reshape(L * D, -1)).reshape(L, D)
    counts: dict = {}
    for reading in readings:
        for (layer, d, gate), (hit, total) in reading["saturation"].items():
            pair = counts.setdefault(gate, torch.zeros(L, D, 2, dtype=torch.float64))
            pair[layer, d, 0] += float(hit)
            pair[layer, d, 1] += total
    saturation = {gate: pair[..., 0] / pair[..., 1].clamp_min(1) for gate, pair in counts.items()}
    base_kind = kind.removesuffix("Cell")
    if name not in weights:  # the weights do not change during a diagnosis: one eigendecomposition each
        weights[name] = _weights_reading(module, base_kind, L, D) if base_kind in GATES else ({}, {})
    radius, top = weights[name]
    return RecurrentReading(name, kind, L, D, hidden, grad_norms.shape[-1], grad_norms,
                            _median(cells) if cells else None, lag_norms, input_norms, rates, horizons,
                            radius, top, saturation, calls=len(readings))


def _depth_verdicts(measured: dict, model_modules: dict[str, nn.Module]) -> tuple[list[Verdict], list]:
    entries = sorted(measured["depth"].values(), key=lambda e: e.order)
    layers = [(e.name, e.grad_norm) for e in entries if e.has_weights]
    dead = {e.name: sum(e.dead) / len(e.dead) for e in entries if e.dead}
    # An output may hold inf where the gradient does not care (a −inf attention mask before a softmax):
    # with a finite loss, only a gradient that is not finite is a finding; the outputs then name the culprit.
    finite = all(e.grad_finite for e in entries)
    bound = _sigmoid_bound(entries, model_modules, len(layers))
    first = measured.get("first_nonfinite")
    culprit = first[0] if first else measured.get("first_nonfinite_grad")
    return judge_depth(layers, dead, bound, finite, culprit), entries


def _sigmoid_bound(entries, model_modules, count: int) -> float | None:
    weighted = [e.order for e in entries if e.has_weights]
    if count < 2:
        return None
    between = [e for e in entries if weighted[0] < e.order < weighted[-1]
               and isinstance(model_modules.get(e.name), _ACTIVATIONS)]
    if between and all(e.activation == "sigmoid" for e in between):
        return 0.25 ** (count - 1)
    return None


def _assemble(model: nn.Module, attached: Attachment, per_batch: list[dict], seconds: float) -> Diagnosis:
    modules = dict(model.named_modules())
    verdicts_per_batch: list[list[Verdict]] = []
    recurrent_readings: dict[str, list[dict]] = {}
    depth_tables = []
    weights: dict = {}
    notes = list(attached.skipped)
    first_nonfinite = None
    for measured in per_batch:
        found: list[Verdict] = []
        if measured.get("nonfinite_loss"):
            culprit = measured["first_nonfinite"]
            first_nonfinite = first_nonfinite or (culprit[0] if culprit else None)
            where = (f"the first module whose output was not finite is `{culprit[0]}` "
                     f"({type(modules[culprit[0]]).__name__}, call {culprit[1]})" if culprit else
                     "every module's output was finite, so loss_fn itself made it")
            found.append(Verdict("non-finite", "loss", f"loss: {measured['loss']} on batch {measured['index']}; "
                                 f"{where}.", {"loss": measured["loss"], "first_nonfinite":
                                                culprit[0] if culprit else None}))
            verdicts_per_batch.append(found)
            continue
        for name, runs in measured["recurrent"].items():
            if not runs:
                continue
            recurrent_readings.setdefault(name, []).extend(runs)
            reading = _recurrent_reading(name, modules[name], runs, weights)
            found.extend(_time_verdicts(reading, math.isfinite(measured["grad_norm"])))
        depth_found, entries = _depth_verdicts(measured, modules)
        found.extend(_beside(found, depth_found))
        depth_tables.append(entries)
        if measured.get("first_nonfinite") and not all(e.grad_finite for e in entries):
            first_nonfinite = first_nonfinite or measured["first_nonfinite"][0]
        verdicts_per_batch.append(found)
    recurrent = {name: _recurrent_reading(name, modules[name], runs, weights)
                 for name, runs in recurrent_readings.items()}
    depth = _depth_reading(depth_tables, modules)
    for module in depth.modules if not recurrent else ():
        if module.calls > 1 and module.weighted:
            notes.append(f"`{module.name}` ({module.type_name}) ran {module.calls} times in one forward pass: "
                         "if it is a recurrent step, name it in `recurrent=` to trace it through time.")
    if attached.mode == "train" and not any(attached.flags.values()):
        notes.append("The model came in eval mode; it was diagnosed in training mode (dropout on, batch "
                     "statistics) as it trains. Pass mode='as-is' to keep its own flags.")
    if len(depth.layers) >= MIN_DEPTH and not any(isinstance(modules.get(m.name), _ACTIVATIONS)
                                                  for m in depth.modules):
        notes.append("No activation module ran: activations called as functions (torch.sigmoid, F.relu) are "
                     "invisible here, so dead and saturated units are not measured and no activation swap is "
                     "offered; nn.Sigmoid, nn.ReLU... modules make them visible.")
    finite_batches = [m for m in per_batch if not m.get("nonfinite_loss")]
    parameters = _parameter_readings(finite_batches)
    # the sentences quote the combined readings, the numbers the diagnosis holds
    all_finite = all(math.isfinite(m.get("grad_norm", float("nan"))) for m in finite_batches)
    overall = [v for reading in recurrent.values() for v in _time_verdicts(reading, all_finite)]
    if depth.modules and all_finite:
        layers = [(m.name, m.grad_norm) for m in depth.layers]
        dead = {m.name: m.dead_fraction for m in depth.modules if m.dead_fraction is not None}
        overall += _beside(overall, judge_depth(layers, dead, depth.sigmoid_bound, True, None))
    verdicts = combine(verdicts_per_batch, overall)
    return Diagnosis(recurrent, depth, parameters, verdicts, [m["loss"] for m in per_batch],
                     [m.get("grad_norm", float("nan")) for m in per_batch], first_nonfinite, len(per_batch), seconds,
                     notes)


def _time_verdicts(reading: RecurrentReading, finite: bool) -> list[Verdict]:
    found = []
    for layer in range(reading.num_layers):
        for d in range(reading.num_directions):
            lags = reading.lag_norms[layer, d]
            # NaN pads calls shorter than the longest; a real NaN gradient shows in the global norm
            ok = finite and not bool(lags.isinf().any())
            found.append(judge_time(reading.place(layer, d), lags[~lags.isnan()].tolist(),
                                    float(reading.decay_rate[layer, d]), int(reading.horizon[layer, d]), ok))
    return found


def _beside(time_verdicts: list[Verdict], depth_verdicts: list[Verdict]) -> list[Verdict]:
    """The depth verdicts worth printing: a shallow path says nothing beside the recurrent layers'."""
    if not time_verdicts:
        return depth_verdicts
    return [v for v in depth_verdicts if v.kind != "healthy" or v.measured.get("layers", MIN_DEPTH) >= MIN_DEPTH]


def _depth_reading(tables: list[list], modules: dict[str, nn.Module]) -> DepthReading:
    if not tables:
        return DepthReading([], float("nan"), None)
    readings = []
    for entry in tables[0]:
        same = [e for table in tables for e in table if e.name == entry.name]
        norms = sorted(e.grad_norm for e in same)
        finite_norms = [n for n in norms if n == n]
        dead = [sum(e.dead) / len(e.dead) for e in same if e.dead]
        saturated = [sum(e.saturated) / len(e.saturated) for e in same if e.saturated]
        readings.append(ModuleReading(
            entry.name, entry.type_name, entry.calls,
            statistics.median(finite_norms) if finite_norms else float("nan"), entry.has_weights,
            entry.activation, sum(dead) / len(dead) if dead else None,
            sum(saturated) / len(saturated) if saturated else None, all(e.output_finite for e in same)))
    layers = [m for m in readings if m.weighted]
    measurable = len(layers) >= 2 and layers[-1].grad_norm > 0
    ratio = layers[0].grad_norm / layers[-1].grad_norm if measurable else float("nan")
    bound = _sigmoid_bound(tables[0], modules, len(layers))
    return DepthReading(readings, ratio, bound)


def _parameter_readings(batches: list[dict]) -> list[ParameterReading]:
    if not batches:
        return []
    out = []
    for index, (name, shape, _, weight) in enumerate(batches[0]["parameters"]):
        norms = sorted(b["parameters"][index][2] for b in batches)
        out.append(ParameterReading(name, shape, statistics.median(norms), weight))
    return out
