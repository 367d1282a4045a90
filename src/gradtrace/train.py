"""One training loop for every model and task, with the gradient trace recorded as it trains."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from gradtrace.errors import (
    NonFiniteError,
    OutOfMemoryError,
    RunInterrupted,
    check_choice,
    check_int,
    check_real,
    describe,
)
from gradtrace.instruments import layer_profile, profile_from_grads
from gradtrace.models.base import RecurrentModel, Trajectory
from gradtrace.models.mlp import MLP
from gradtrace.remedies import Context, GradientTransform, Truncation, Window, as_transform, as_truncation
from gradtrace.tasks.base import LOSS_KINDS, Batch, Task, member_loss

__all__ = ["NONFINITE_POLICIES", "OPTIMIZERS", "Run", "fit"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
#: "raise" stops with NonFiniteError; "skip" drops that member's update for the step; "record"
#: marks the member diverged and freezes it while the rest of the ensemble trains on.
NONFINITE_POLICIES = ("raise", "skip", "record")

# Offset between a member's training-data seed and its evaluation-data seed, so the two never
# share a stream.
_EVAL_SEED_OFFSET = 1_000_003
# Evaluation runs a recurrent model forward without gradient in windows of this many steps, the
# state carried between them, so its memory does not grow with T beyond the outputs (K, B, T, O).
_EVAL_WINDOW = 1000
# The longest truncation window an out-of-memory message suggests: a window of k steps holds about
# k × batch_size × hidden_size × members numbers per state buffer.
_SUGGESTED_WINDOW = 1000


@dataclass
class Run:
    """What :func:`fit` measured, per member of the ensemble (K members).

    Attributes:
        config: the arguments of the run (JSON-serializable).
        steps_done: optimizer steps completed.
        status: "finished", "interrupted" (Ctrl-C) or "out_of_memory".
        history: arrays by metric key. ``step`` (n,) with ``train/loss`` and ``grad/norm`` (n, K);
            with a fixed dataset ``epoch`` (n,), the passes over it completed after each step;
            ``eval/step`` (m,) with ``task/loss``, ``task/accuracy``, ``task/success`` (m, K).
        trace_steps: (s,) the steps at which the gradient profile was kept.
        trace_grad_norms: (s, K, T) ‖∂L/∂h_t‖ of the training batch at those steps; for an MLP
            (s, K, M) ‖∂L/∂h_l‖ per hidden layer.
        diverged_at: (K,) the step at which each member went non-finite, −1 if never.
        elapsed: (n,) wall-clock seconds from the start of training to the end of each step (kept out
            of ``history``, which the same seed reproduces bit for bit).
        final: the last evaluation, metric key → (K,).
        model: the trained model.
    """

    config: dict[str, Any]
    steps_done: int
    status: str
    history: dict[str, np.ndarray]
    trace_steps: np.ndarray
    trace_grad_norms: np.ndarray
    diverged_at: np.ndarray
    final: dict[str, np.ndarray]
    elapsed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: RecurrentModel | MLP | None = field(default=None, repr=False)

    @property
    def num_models(self) -> int:
        """Ensemble size K."""
        return int(self.diverged_at.shape[0])

    @property
    def success_rate(self) -> float:
        """Fraction of members that solved the task at the last evaluation."""
        success = self.final.get("task/success")
        return float(np.mean(success)) if success is not None and success.size else float("nan")


def _member_batches(task: Task, batch_size: int, generators: list[torch.Generator]) -> Batch:
    return Batch.stack([task.sample(batch_size, generator=g) for g in generators])


def _to_device(batch: Batch, device: torch.device) -> Batch:
    """Return ``batch`` on ``device`` (tasks sample on the CPU); the same batch when it is there already."""
    if batch.inputs.device == device:
        return batch
    return Batch(inputs=batch.inputs.to(device), targets=batch.targets.to(device), mask=batch.mask.to(device),
                 loss=batch.loss)


def _per_member_grad_norms(params: list[torch.Tensor], K: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
    """Return (norm, finite) per member over all gradients, each (K,), on the parameters' device."""
    squares = torch.zeros(K, dtype=torch.float64, device=params[0].device)
    for p in params:
        if p.grad is not None:
            squares += p.grad.detach().flatten(1).double().square().sum(1)
    return squares.sqrt(), torch.isfinite(squares)


def fit(
    model: RecurrentModel | MLP,
    task: Task,
    *,
    steps: int,
    optimizer: str = "adam",
    lr: float | Sequence[float] = 1e-3,
    batch_size: int = 32,
    dataset_size: int | None = None,
    seed: int = 0,
    loss: str | None = None,
    remedies: GradientTransform | Sequence[GradientTransform] | None = None,
    truncation: Truncation | tuple[int, int] | None = None,
    trace_every: int | None = None,
    eval_every: int | None = None,
    eval_batch_size: int = 256,
    on_nonfinite: str = "record",
    callback: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
) -> Run:
    """Train every member of ``model`` on ``task`` and record losses, gradients and traces.

    Order of one update: forward with probes → per-member loss → check losses are finite →
    backward → per-member gradient norms, check finite → apply the non-finite policy → remedies
    (clip, penalties: they see the gradients of finite, active members only) → optimizer step →
    scale each member's step by its learning rate (with ``lr`` per member) → put frozen (diverged)
    and skipped members back.

    One step is one batch of sequences. Without truncation it makes one update; with
    ``truncation=(k1, k2)`` it makes one update per chunk of k1 steps (that has scored steps),
    each back-propagated k2 steps, the hidden state carried forward detached between chunks.
    Full BPTT holds a few (K, B, T, H) buffers, so memory grows with T; truncation holds them for
    at most k1 + k2 steps (plus the outputs and, on the steps that keep a trace, ∂L/∂h_t where the
    windows overlap). Evaluation runs forward in windows of a thousand steps.

    Data: by default every step draws a fresh batch from the task (an endless stream). With
    ``dataset_size=N`` each member draws N examples once and passes over them in epochs, reshuffled
    every epoch: ``batch_size=N`` is batch (full) gradient descent, ``batch_size=1`` stochastic
    gradient descent, anything between mini-batch — on the same data, so the three compare fairly.

    An :class:`~gradtrace.models.MLP` trains the same way; its trace is the gradient per hidden layer.

    Member k draws its data from seed + k, so it reproduces the single-model run with
    ``model.member(k)`` and ``seed=seed + k`` — and, with ``lr`` per member, with ``lr=lr[k]``: a
    sweep over the learning rate is one run.

    The model's device decides where training runs: ``fit(model.to("cuda"), ...)`` trains on the
    GPU. Tasks sample on the CPU; each batch moves to the model's device once per step, and the
    history comes back as NumPy arrays.

    Args:
        model: a gradtrace recurrent model or MLP with K members, on any device.
        task: the task to train on.
        steps: number of batches (≥ 1).
        optimizer: "sgd", "adam" or "rmsprop" (torch's, without momentum or weight decay).
        lr: the learning rate, > 0; or a sequence of K of them, ``lr[k]`` for member k. Every
            optimizer here steps by lr times a direction that its state (Adam's moment estimates,
            RMSprop's mean square) and the gradient decide, and that state is built from the
            gradients alone; so the optimizer runs at lr = 1 and member k's change of its
            parameters is scaled by lr[k]: θ ← θ_old + lr[k] · (θ_step − θ_old), the step it would
            have taken alone at lr[k] (to rounding).
        batch_size: sequences per member per step (at most ``dataset_size``).
        dataset_size: train on this many fixed examples per member, in epochs; None draws fresh data.
        seed: data seed of member 0.
        loss: loss kind (default: the task's; "half_mse" is the seeds' ½(ŷ−y)²).
        remedies: a gradient transform from :mod:`gradtrace.remedies`, or a sequence of them
            (chained in order); applied to each member's gradient before the optimizer step.
        truncation: ``(k1, k2)`` for truncated BPTT (see :class:`~gradtrace.remedies.Truncation`);
            None is full BPTT.
        trace_every: keep the profile ‖∂L/∂h_t‖ every this many steps (default: about 50 snapshots).
        eval_every: evaluate on a fixed held-out batch every this many steps (default: about 20 times).
        eval_batch_size: sequences per member in the held-out batch.
        on_nonfinite: "record" (default), "skip" or "raise"; see ``NONFINITE_POLICIES``.
        callback: called after every step with (step, metrics), metrics by key, each (K,) on the
            model's device: "train/loss", "grad/norm" and the remedies' measurements.

    Returns:
        A :class:`Run`. Its history holds, per step, the loss, the gradient norm before remedies and
        every remedy measurement (e.g. ``clip_by_global_norm/fired``), averaged over the step's updates.

    Raises:
        NonFiniteError: with ``on_nonfinite="raise"`` when a loss or gradient is NaN or infinite.
        RunInterrupted: on Ctrl-C; its ``partial`` is the :class:`Run` so far.
        OutOfMemoryError: when a step or an evaluation runs out of memory (on the GPU or the CPU);
            the message names T, the batch size and the hidden size and suggests a truncation and a
            smaller batch; its ``partial`` is the :class:`Run` of the steps completed (with
            truncation the failed step may have made some of its updates).
        TypeError: for a remedy that cannot apply to ``model`` (e.g. Pascanu's Ω on an LSTM).
    """
    if not isinstance(model, (RecurrentModel, MLP)):
        raise TypeError(f"`model` must be a gradtrace RecurrentModel or MLP, got {type(model).__name__}.")
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a gradtrace Task, got {type(task).__name__}.")
    _check_fits(model, task, truncation)
    steps = check_int("steps", steps, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS, what="optimizer")
    K = model.num_models  # noqa: N806
    lr = _check_lr(lr, K)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if dataset_size is not None:
        dataset_size = check_int("dataset_size", dataset_size, minimum=1)
        if batch_size > dataset_size:
            raise ValueError(f"`batch_size` must be at most `dataset_size` = {dataset_size} (full-batch descent), "
                             f"got {batch_size}.")
    seed = check_int("seed", seed, minimum=0)
    if loss is not None:
        check_choice("loss", loss, LOSS_KINDS, what="loss kind")
    trace_every = check_int("trace_every", trace_every or max(1, steps // 50), minimum=1)
    eval_every = check_int("eval_every", eval_every or max(1, steps // 20), minimum=1)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1)
    check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES, what="policy")
    transform = as_transform(remedies)
    truncation = as_truncation(truncation)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"`model` {type(model).__name__} has no trainable parameter for fit() to train.")
    remedy_state = transform.init(model) if transform is not None else None

    config = {
        "model": type(model).__name__, "model_repr": model.extra_repr(), "task": task.describe(),
        "steps": steps, "optimizer": optimizer, "lr": lr, "batch_size": batch_size,
        "dataset_size": dataset_size, "seed": seed,
        "loss": loss or task.loss_kind, "num_models": K, "on_nonfinite": on_nonfinite,
        "remedies": transform.describe() if transform is not None else None,
        "truncation": [truncation.k1, truncation.k2] if truncation is not None else None,
    }
    params = [p for _, p in named]
    device = params[0].device
    # One rate for all runs torch's optimizer at it; rates per member run it at 1 and scale each
    # member's step (see `lr` above), one (K, 1, ...) factor per parameter.
    scales = None
    if isinstance(lr, list) and len(set(lr)) > 1:
        rates = torch.tensor(lr, dtype=torch.float64, device=device)
        scales = [rates.to(p.dtype).view(-1, *([1] * (p.dim() - 1))) for p in params]
    # foreach: one fused update for all parameters; a deep MLP has two per layer, each a Python step otherwise.
    base_lr = 1.0 if scales is not None else (lr[0] if isinstance(lr, list) else lr)
    opt = OPTIMIZERS[optimizer](params, lr=base_lr, foreach=True)
    generators = [torch.Generator().manual_seed(seed + k) for k in range(K)]
    if dataset_size is None:
        draw = partial(_member_batches, task, batch_size, generators)
    else:
        draw = _EpochSampler(_member_batches(task, dataset_size, generators), batch_size, generators)
    eval_batch = _member_batches(
        task, eval_batch_size, [torch.Generator().manual_seed(seed + k + _EVAL_SEED_OFFSET) for k in range(K)]
    )
    eval_batch = _to_device(eval_batch, device)
    # Probes make ∂L/∂h_t, which the trace and the remedies' context read; they do not change the
    # parameters' gradients, and cost a (K, B, T, H) buffer and its gradient, so they go only there.
    probe_always = transform is not None
    active = torch.ones(K, dtype=torch.bool, device=device)
    diverged_at = np.full(K, -1, dtype=np.int64)
    frozen: list[torch.Tensor] | None = None
    record: dict[str, list] = {"step": [], "train/loss": [], "grad/norm": []}
    elapsed: list[float] = []
    if dataset_size is not None:
        record["epoch"] = []
    evals: dict[str, list] = {"eval/step": [], "task/loss": [], "task/accuracy": [], "task/success": []}
    trace_steps: list[int] = []
    trace_profiles: list[torch.Tensor] = []
    steps_done = 0

    def evaluate(step: int) -> None:
        with torch.no_grad():
            metrics = task.score(_evaluation_outputs(model, eval_batch.inputs), eval_batch)
        evals["eval/step"].append(step)
        for key in ("task/loss", "task/accuracy", "task/success"):
            value = metrics[key].double()
            evals[key].append(torch.where(active, value, torch.full_like(value, float("nan"))))

    def finish(status: str) -> Run:
        history = {key: np.asarray(values) if key in ("step", "epoch") else _stack(values, K)
                   for key, values in record.items()}
        history.update({key: np.asarray(values) if key == "eval/step" else _stack(values, K)
                        for key, values in evals.items()})
        final = {key: history[key][-1] for key in ("task/loss", "task/accuracy", "task/success")
                 if len(history[key])}
        path_length = model.depth if isinstance(model, MLP) else task.max_length
        profiles = (torch.stack(trace_profiles).numpy() if trace_profiles
                    else np.zeros((0, K, path_length)))
        return Run(config=config, steps_done=steps_done, status=status, history=history,
                   trace_steps=np.asarray(trace_steps, dtype=np.int64), trace_grad_norms=profiles,
                   diverged_at=diverged_at, final=final, elapsed=np.asarray(elapsed), model=model)

    def update(step: int, losses: torch.Tensor, context: Callable[[], Context]) -> dict[str, torch.Tensor]:
        """Back-propagate one window's losses and take one optimizer step; return its measurements."""
        nonlocal active, frozen, remedy_state
        opt.zero_grad(set_to_none=True)
        loss_ok = torch.isfinite(losses.detach())
        counted = active & loss_ok
        torch.where(counted, losses, torch.zeros_like(losses)).sum().backward()
        grad_norm, grad_ok = _per_member_grad_norms(params, K)
        bad = active & ~(loss_ok & grad_ok)
        held: list[torch.Tensor] | None = None
        if bool(bad.any()):
            members = bad.nonzero().flatten().tolist()
            if on_nonfinite == "raise":
                raise NonFiniteError(
                    f"Non-finite {'loss' if not bool(loss_ok[bad].all()) else 'gradient'} at step "
                    f"{step} for member(s) {members} (on_nonfinite='raise'); use 'record' to keep "
                    f"training the other members or 'skip' to drop the update.",
                    step=step, members=members,
                )
            if on_nonfinite == "record":
                diverged_at[members] = step
                active = active & ~bad
                frozen = [p.detach().clone() for p in params]
            else:
                # A zero gradient alone still moves the member by its momentum (Adam, RMSprop).
                held = [p.detach().clone() for p in params]
        # Members that are frozen or skipped get a zero gradient, so no remedy sees a NaN.
        _zero_member_grads(params, ~active | bad)
        measured = {"grad/norm": grad_norm}
        if transform is not None:
            grads = {name: p.grad if p.grad is not None else torch.zeros_like(p) for name, p in named}
            grads, remedy_state, metrics = transform.update(grads, remedy_state, context())
            for name, p in named:
                p.grad = grads[name].detach()
            measured.update({key: value.detach().double() for key, value in metrics.items()})
        before = [p.detach().clone() for p in params] if scales is not None else None
        opt.step()
        if before is not None:
            _scale_steps(params, before, scales)
        if frozen is not None:
            _restore_members(params, frozen, ~active)
        if held is not None:
            _restore_members(params, held, bad)
        return measured

    out_of_memory: str | None = None
    phase = "training"
    try:
        model.train()
        started = time.perf_counter()
        for step in range(steps):
            phase = "training"
            batch = _to_device(draw(), device)
            tracing = step % trace_every == 0
            if isinstance(model, MLP):
                losses, measured, profile = _train_layers(model, batch, loss, update, step, tracing)
            else:
                losses, measured, profile = _train_batch(model, batch, loss, truncation, update, step, tracing,
                                                         probe_always)
            del batch
            if tracing:
                trace_steps.append(step)
                trace_profiles.append(profile.detach().float().cpu())
            steps_done = step + 1
            shown = torch.where(active, losses.double(), torch.full_like(losses, math.nan, dtype=torch.float64))
            measured["train/loss"] = shown
            record["step"].append(step)
            elapsed.append(time.perf_counter() - started)
            if dataset_size is not None:
                record["epoch"].append(draw.epochs)
            for key, value in measured.items():
                record.setdefault(key, []).append(value)
            if callback is not None:
                callback(step, measured)
            if step % eval_every == 0 or step == steps - 1:
                phase = "evaluation"
                evaluate(step)
            if not bool(active.any()):
                break
        phase = "evaluation"
        model.eval()
        if not evals["eval/step"] or evals["eval/step"][-1] != steps_done - 1:
            evaluate(steps_done - 1)
    except KeyboardInterrupt:
        run = finish("interrupted")
        raise RunInterrupted(
            f"Training interrupted after {steps_done} of {steps} steps; the partial run is kept.",
            partial=run,
        ) from None
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not _is_out_of_memory(error):
            raise
        # Only the message leaves this block: the traceback holds the frames, and with them the
        # buffers, of the step that failed; they are freed before the partial run is assembled.
        out_of_memory = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if out_of_memory is not None:
        opt.zero_grad(set_to_none=True)
        training = phase == "training"
        failed = steps_done if training else steps_done - 1  # an evaluation follows its step
        message = _out_of_memory_message(model, task, phase=phase, step=failed, steps=steps,
                                         batch_size=batch_size if training else eval_batch_size,
                                         truncation=truncation, cause=out_of_memory)
        raise OutOfMemoryError(message, step=failed, partial=finish("out_of_memory"))
    return finish("finished")


def _check_lr(lr: Any, K: int) -> float | list[float]:  # noqa: N803
    """Validate ``lr``: one positive rate, or K of them (one per member) as a list of floats."""
    if isinstance(lr, (np.ndarray, torch.Tensor)):
        if lr.ndim != 1:
            raise ValueError(f"`lr` must be a number or a sequence of {K} numbers (one per member), "
                             f"got {describe(lr)}.")
        lr = lr.tolist()
    if isinstance(lr, Sequence) and not isinstance(lr, (str, bytes)):
        rates = [check_real(f"lr[{i}]", value, minimum=0.0, exclusive_minimum=True) for i, value in enumerate(lr)]
        if len(rates) != K:
            raise ValueError(f"`lr` must hold one learning rate per member, {K} (num_models), got {len(rates)}: "
                             f"{describe(list(lr))}.")
        return rates
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"`lr` must be a positive number or a sequence of {K} of them (one per member), "
                        f"got {describe(lr)}.")
    return check_real("lr", lr, minimum=0.0, exclusive_minimum=True)


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says an allocation failed (CUDA, MPS or the CPU allocator)."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return "out of memory" in text.lower() or "can't allocate memory" in text


def _out_of_memory_message(model: RecurrentModel | MLP, task: Task, *, phase: str, step: int, steps: int,
                           batch_size: int, truncation: Truncation | None, cause: str) -> str:
    """Word an out-of-memory failure: what ran, at which sizes, and what to shrink.

    ``batch_size`` is the training batch when ``phase`` is "training", the held-out one when it is
    "evaluation".
    """
    K, T = model.num_models, task.max_length  # noqa: N806
    name = "batch_size" if phase == "training" else "eval_batch_size"
    smaller = f"a smaller {name} (e.g. {max(1, batch_size // 2)})"
    if phase == "training":
        where = f"Out of memory at step {step} of {steps} ({cause})"
    else:
        where = f"Out of memory evaluating the held-out batch after step {step} ({cause})"
    if isinstance(model, MLP):
        sizes = f"MLP with hidden sizes {list(model.hidden_sizes)}, {K} member(s), {name}={batch_size}"
        advice = f"Try {smaller}, fewer members or narrower layers."
    else:
        sizes = (f"{type(model).__name__} with hidden_size={model.hidden_size}, {K} member(s), on sequences of "
                 f"T={T} steps, {name}={batch_size}")
        if phase == "evaluation":
            advice = (f"Evaluation holds the outputs of the whole sequence and the states of {_EVAL_WINDOW} steps; "
                      f"try {smaller}.")
        elif truncation is None or truncation.is_full(T):
            window = min(_SUGGESTED_WINDOW, max(1, T // 4))
            advice = (f"Full back-propagation through time keeps every step's state, so memory grows with "
                      f"T × batch_size × hidden_size × members: pass truncation=({window}, {window}) to "
                      f"back-propagate {window} steps at a time, or {smaller}.")
        else:
            k1, k2 = max(1, truncation.k1 // 2), max(1, truncation.k2 // 2)
            advice = (f"With truncation=({truncation.k1}, {truncation.k2}) an update holds the states of about "
                      f"k1 + k2 steps: pass a shorter one, e.g. truncation=({k1}, {k2}), or {smaller}.")
    return f"{where}: {sizes}. {advice} The partial run is kept in `.partial`."


def _chunk(batch: Batch, start: int, end: int) -> Batch | None:
    """Return the steps [start, end) of ``batch``, or None when none of them is scored."""
    time_axis = batch.mask.dim() - 1
    mask = batch.mask.narrow(time_axis, start, end - start)
    if not bool(mask.any()):
        return None
    return Batch(inputs=batch.inputs[..., start:end, :], targets=batch.targets.narrow(time_axis, start, end - start),
                 mask=mask, loss=batch.loss)


def _train_batch(model: RecurrentModel, batch: Batch, loss: str | None, truncation: Truncation | None,
                 update: Callable[[int, torch.Tensor, Callable[[], Context]], dict[str, torch.Tensor]], step: int,
                 tracing: bool, probe_always: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor],
                                                                  torch.Tensor | None]:
    """Run the updates of one batch; return the loss (K,), the mean measurements and, if tracing, the
    profile ‖∂L/∂h_t‖ (K, T).

    Each window runs forward from the detached state entering its first back-propagated step; the
    states entering later windows are kept (detached copies, (K, B, H) each) as the windows pass them.
    The windows' probes measure ∂L/∂h_t when tracing or when ``probe_always`` (remedies read it).
    Where the windows' reaches do not overlap (full BPTT, k2 ≤ k1) each window's profile is taken
    from its own probes; where they do, ∂L/∂h_t is summed over the windows into a (K, B, T, H) buffer
    first.
    """
    K, T, B, H = model.num_models, batch.length, batch.batch_size, model.hidden_size  # noqa: N806
    windows = truncation.windows(T) if truncation is not None else [Window(0, 0, T)]
    inputs = batch.inputs if batch.inputs.dim() == 4 else batch.inputs.expand(K, *batch.inputs.shape)
    entering: dict[int, tuple[torch.Tensor, ...]] = {0: model.initial_state(B)}
    needed = {w.grad_start for w in windows} | {w.chunk_start for w in windows} | {T}
    overlapping = any(later.grad_start < earlier.end for earlier, later in zip(windows, windows[1:]))
    device = model.W_rec.device
    profile = torch.zeros(K, T, dtype=model.W_rec.dtype, device=device) if tracing else None
    state_grads = model.W_rec.new_zeros(K, B, T, H) if tracing and overlapping else None
    loss_sum = torch.zeros(K, dtype=torch.float64, device=device)
    weight_sum = torch.zeros(K, dtype=torch.float64, device=device)
    measured_sum: dict[str, torch.Tensor] = {}
    updates = 0
    for window in windows:
        c, g, e = window.chunk_start, window.grad_start, window.end
        part = _chunk(batch, c, e)
        start_state = entering[min(c, g)]
        prefix_states = None
        if g > c:  # k2 < k1: the chunk's first steps are outside the gradient's reach
            with torch.no_grad():
                prefix = model(inputs[..., c:g, :], start_state)
            prefix_states, start_state = prefix.states, tuple(s.detach() for s in prefix.final_state)
            entering[g] = start_state
        if part is None:
            with torch.no_grad():
                trajectory = model(inputs[..., g:e, :], start_state)
        else:
            trajectory = model(inputs[..., g:e, :], start_state, probe=tracing or probe_always)
        for t in needed:
            if g < t <= e and t not in entering:
                # A copy: a view would keep the window's whole state buffer alive until the batch ends.
                entering[t] = tuple(s.clone() for s in model.state_at(trajectory, t - 1 - g))
        if part is None:
            continue
        outputs = trajectory.outputs
        if model.readout == "all":
            if prefix_states is not None:
                outputs = torch.cat([model.read_out(prefix_states), outputs], dim=2)
            elif g < c:
                outputs = outputs[:, :, c - g:]
        losses = member_loss(outputs, part, kind=loss)
        measured = update(step, losses, partial(_context, model, inputs[..., g:e, :], start_state, trajectory))
        grads = trajectory.probes.grad if trajectory.probes is not None else None
        if state_grads is not None and grads is not None:
            state_grads[:, :, g:e] += grads[0]
        elif profile is not None and grads is not None:
            profile[:, g:e] = profile_from_grads(grads[0])
        weight = part.mask.flatten(1).sum(1).double()
        loss_sum += losses.detach().double() * weight
        weight_sum += weight
        for key, value in measured.items():
            measured_sum[key] = measured_sum.get(key, 0) + value
        updates += 1
        del trajectory, grads, outputs, losses  # free this window's buffers before the next one's forward
    measured = {key: value / max(updates, 1) for key, value in measured_sum.items()}
    if state_grads is not None:
        profile = profile_from_grads(state_grads)
    return loss_sum / weight_sum, measured, profile


def _train_layers(model: MLP, batch: Batch, loss: str | None,
                  update: Callable[[int, torch.Tensor, Callable[[], Context]], dict[str, torch.Tensor]], step: int,
                  tracing: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    """Make the one update of a batch through an MLP; return the loss (K,), the measurements and, if
    tracing, the profile ‖∂L/∂h_l‖ per hidden layer (K, M)."""
    trajectory = model(batch.inputs, probe=tracing)
    losses = member_loss(trajectory.outputs, batch, kind=loss)
    context = partial(Context, model=model, params={n: p.detach() for n, p in model.named_parameters()},
                      inputs=batch.inputs)
    measured = update(step, losses, context)
    profile = None
    if tracing:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in trajectory.probes]
        profile = layer_profile(grads)
    return losses.detach().double(), measured, profile


def _check_fits(model: RecurrentModel | MLP, task: Task, truncation) -> None:
    """Raise ValueError unless ``model``'s sizes and readout suit ``task`` (and truncation suits the model)."""
    if isinstance(model, MLP):
        features = task.input_size * task.max_length
        if model.input_size != features or model.output_size != task.output_size:
            raise ValueError(
                f"`model` is an MLP with input_size={model.input_size}, output_size={model.output_size}, but task "
                f"{task.describe()} feeds {task.max_length} step(s) × {task.input_size} feature(s) = {features} "
                f"inputs and needs output_size={task.output_size}."
            )
        if task.needs_every_step:
            raise ValueError(f"Task {task.describe()} scores every step; an MLP answers once per example. Use a "
                             "recurrent model with readout='all'.")
        if truncation is not None:
            raise ValueError("`truncation` cuts back-propagation through time; an MLP has no time axis "
                             f"(got truncation={truncation!r}).")
        return
    if model.input_size != task.input_size or model.output_size != task.output_size:
        raise ValueError(
            f"`model` has input_size={model.input_size}, output_size={model.output_size} but task "
            f"{task.describe()} needs input_size={task.input_size}, output_size={task.output_size}."
        )
    if task.needs_every_step and model.readout != "all":
        raise ValueError(f"Task {task.describe()} scores every step; build the model with readout='all'.")


class _EpochSampler:
    """Batches from a fixed dataset per member, in epochs, each member reshuffled from its own generator.

    The last batch of an epoch holds what is left (fewer examples when the batch size does not divide
    the dataset), so every example is seen exactly once per epoch.
    """

    def __init__(self, data: Batch, batch_size: int, generators: list[torch.Generator]):
        self.data = data
        self.batch_size = batch_size
        self.generators = generators
        self.size = data.batch_size
        self.position = self.size  # start by shuffling
        self.seen = 0
        self.order: torch.Tensor | None = None

    @property
    def epochs(self) -> float:
        """Passes over the dataset completed so far (fractional)."""
        return self.seen / self.size

    def __call__(self) -> Batch:
        if self.position >= self.size:
            # On the CPU, where the generators and the dataset are; the batch moves to the model's device.
            self.order = torch.stack([torch.randperm(self.size, generator=g, device="cpu") for g in self.generators])
            self.position = 0
        picked = self.order[:, self.position : self.position + self.batch_size]
        self.position += picked.shape[1]
        self.seen += picked.shape[1]
        members = torch.arange(picked.shape[0], device=picked.device)[:, None]
        data = self.data
        return Batch(inputs=data.inputs[members, picked], targets=data.targets[members, picked],
                     mask=data.mask[members, picked], loss=data.loss)


def _context(model: RecurrentModel, inputs: torch.Tensor, start_state: tuple[torch.Tensor, ...],
             trajectory: Trajectory) -> Context:
    """What a remedy sees of one window, after its backward pass (when ∂E/∂h_t exists)."""
    probes = trajectory.probes
    return Context(model=model, params={n: p.detach() for n, p in model.named_parameters()}, inputs=inputs,
                   initial_state=tuple(s.detach() for s in start_state), states=trajectory.states.detach(),
                   state_grads=probes.grad[0] if probes is not None and probes.grad is not None else None)


def _stack(values: list[torch.Tensor], K: int) -> np.ndarray:  # noqa: N803
    if not values:
        return np.zeros((0, K))
    return torch.stack(values).cpu().numpy()


def _evaluation_outputs(model: RecurrentModel | MLP, inputs: torch.Tensor) -> torch.Tensor:
    """Run ``model`` forward without gradient; a recurrent one in windows of ``_EVAL_WINDOW`` steps.

    The state is carried from window to window, so the outputs are those of one pass over the whole
    sequence, while the states (K, B, T, H) of only one window are held at a time.
    """
    steps = inputs.shape[-2]
    if isinstance(model, MLP) or steps <= _EVAL_WINDOW:
        return model(inputs).outputs
    state, outputs = None, []
    for start in range(0, steps, _EVAL_WINDOW):
        trajectory = model(inputs[..., start:start + _EVAL_WINDOW, :], state)
        state = trajectory.final_state
        outputs.append(trajectory.outputs)
    return outputs[-1] if model.readout == "last" else torch.cat(outputs, dim=2)


def _scale_steps(params: list[torch.Tensor], before: list[torch.Tensor], scales: list[torch.Tensor]) -> None:
    """Scale each member's change of its parameters by its learning rate: θ ← θ_old + lr_k (θ − θ_old)."""
    with torch.no_grad():
        for p, old, scale in zip(params, before, scales):
            p.sub_(old).mul_(scale).add_(old)


def _zero_member_grads(params: list[torch.Tensor], members: torch.Tensor) -> None:
    for p in params:
        if p.grad is not None:
            keep = (~members).view(-1, *([1] * (p.dim() - 1)))
            p.grad.copy_(torch.where(keep, p.grad, torch.zeros_like(p.grad)))


def _restore_members(params: list[torch.Tensor], saved: list[torch.Tensor], members: torch.Tensor) -> None:
    with torch.no_grad():
        for p, s in zip(params, saved):
            select = members.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(select, s, p))
