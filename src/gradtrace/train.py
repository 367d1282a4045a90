"""One training loop for every model and task, with the gradient trace recorded as it trains."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gradtrace.errors import NonFiniteError, RunInterrupted, check_choice, check_int, check_real
from gradtrace.models.base import RecurrentModel
from gradtrace.tasks.base import LOSS_KINDS, Batch, Task, member_loss
from gradtrace.trace import profile_from_grads

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


@dataclass
class Run:
    """What :func:`fit` measured, per member of the ensemble (K members).

    Attributes:
        config: the arguments of the run (JSON-serializable).
        steps_done: optimizer steps completed.
        status: "finished" or "interrupted".
        history: arrays by metric key. ``step`` (n,) with ``train/loss`` and ``grad/norm`` (n, K);
            ``eval/step`` (m,) with ``task/loss``, ``task/accuracy``, ``task/success`` (m, K).
        trace_steps: (s,) the steps at which the gradient profile was kept.
        trace_grad_norms: (s, K, T) ‖∂L/∂h_t‖ of the training batch at those steps.
        diverged_at: (K,) the step at which each member went non-finite, −1 if never.
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
    model: RecurrentModel | None = field(default=None, repr=False)

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


def _per_member_grad_norms(params: list[torch.Tensor], K: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
    """Return (norm, finite) per member over all gradients, each (K,)."""
    squares = torch.zeros(K, dtype=torch.float64)
    for p in params:
        if p.grad is not None:
            squares += p.grad.detach().flatten(1).double().square().sum(1)
    return squares.sqrt(), torch.isfinite(squares)


def fit(
    model: RecurrentModel,
    task: Task,
    *,
    steps: int,
    optimizer: str = "adam",
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    loss: str | None = None,
    trace_every: int | None = None,
    eval_every: int | None = None,
    eval_batch_size: int = 256,
    on_nonfinite: str = "record",
    callback: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
) -> Run:
    """Train every member of ``model`` on ``task`` and record losses, gradients and traces.

    Order of one step: sample each member's batch → forward with probes → per-member loss →
    check losses are finite → backward → per-member gradient norms, check finite → apply the
    non-finite policy → optimizer step → put frozen (diverged) and skipped members back.

    Member k draws its data from seed + k, so it reproduces the single-model run with
    ``model.member(k)`` and ``seed=seed + k``.

    Args:
        model: a gradtrace recurrent model with K members.
        task: the task to train on.
        steps: number of optimizer steps (≥ 1).
        optimizer: "sgd", "adam" or "rmsprop".
        lr: learning rate.
        batch_size: sequences per member per step.
        seed: data seed of member 0.
        loss: loss kind (default: the task's; "half_mse" is the seeds' ½(ŷ−y)²).
        trace_every: keep the profile ‖∂L/∂h_t‖ every this many steps (default: about 50 snapshots).
        eval_every: evaluate on a fixed held-out batch every this many steps (default: about 20 times).
        eval_batch_size: sequences per member in the held-out batch.
        on_nonfinite: "record" (default), "skip" or "raise"; see ``NONFINITE_POLICIES``.
        callback: called after every step with (step, {"train/loss": (K,), "grad/norm": (K,)}).

    Returns:
        A :class:`Run`.

    Raises:
        NonFiniteError: with ``on_nonfinite="raise"`` when a loss or gradient is NaN or infinite.
        RunInterrupted: on Ctrl-C; its ``partial`` is the :class:`Run` so far.
    """
    if not isinstance(model, RecurrentModel):
        raise TypeError(f"`model` must be a gradtrace RecurrentModel, got {type(model).__name__}.")
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a gradtrace Task, got {type(task).__name__}.")
    if model.input_size != task.input_size or model.output_size != task.output_size:
        raise ValueError(
            f"`model` has input_size={model.input_size}, output_size={model.output_size} but task "
            f"{task.describe()} needs input_size={task.input_size}, output_size={task.output_size}."
        )
    if task.needs_every_step and model.readout != "all":
        raise ValueError(f"Task {task.describe()} scores every step; build the model with readout='all'.")
    steps = check_int("steps", steps, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS, what="optimizer")
    lr = check_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if loss is not None:
        check_choice("loss", loss, LOSS_KINDS, what="loss kind")
    trace_every = check_int("trace_every", trace_every or max(1, steps // 50), minimum=1)
    eval_every = check_int("eval_every", eval_every or max(1, steps // 20), minimum=1)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1)
    check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES, what="policy")

    K = model.num_models  # noqa: N806
    config = {
        "model": type(model).__name__, "model_repr": model.extra_repr(), "task": task.describe(),
        "steps": steps, "optimizer": optimizer, "lr": lr, "batch_size": batch_size, "seed": seed,
        "loss": loss or task.loss_kind, "num_models": K, "on_nonfinite": on_nonfinite,
    }
    params = [p for p in model.parameters() if p.requires_grad]
    opt = OPTIMIZERS[optimizer](params, lr=lr)
    generators = [torch.Generator().manual_seed(seed + k) for k in range(K)]
    eval_batch = _member_batches(
        task, eval_batch_size, [torch.Generator().manual_seed(seed + k + _EVAL_SEED_OFFSET) for k in range(K)]
    )
    active = torch.ones(K, dtype=torch.bool)
    diverged_at = np.full(K, -1, dtype=np.int64)
    frozen: list[torch.Tensor] | None = None
    record: dict[str, list] = {"step": [], "train/loss": [], "grad/norm": []}
    evals: dict[str, list] = {"eval/step": [], "task/loss": [], "task/accuracy": [], "task/success": []}
    trace_steps: list[int] = []
    trace_profiles: list[torch.Tensor] = []
    steps_done = 0

    def evaluate(step: int) -> None:
        with torch.no_grad():
            metrics = task.score(model(eval_batch.inputs).outputs, eval_batch)
        evals["eval/step"].append(step)
        for key in ("task/loss", "task/accuracy", "task/success"):
            value = metrics[key].double()
            evals[key].append(torch.where(active, value, torch.full_like(value, float("nan"))))

    def finish(status: str) -> Run:
        history = {key: np.asarray(values) if key == "step" else _stack(values, K)
                   for key, values in record.items()}
        history.update({key: np.asarray(values) if key == "eval/step" else _stack(values, K)
                        for key, values in evals.items()})
        final = {key: history[key][-1] for key in ("task/loss", "task/accuracy", "task/success")
                 if len(history[key])}
        profiles = (torch.stack(trace_profiles).numpy() if trace_profiles
                    else np.zeros((0, K, task.max_length)))
        return Run(config=config, steps_done=steps_done, status=status, history=history,
                   trace_steps=np.asarray(trace_steps, dtype=np.int64), trace_grad_norms=profiles,
                   diverged_at=diverged_at, final=final, model=model)

    try:
        model.train()
        for step in range(steps):
            batch = _member_batches(task, batch_size, generators)
            opt.zero_grad(set_to_none=True)
            trajectory = model(batch.inputs, probe=True)
            losses = member_loss(trajectory.outputs, batch, kind=loss)
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
                _zero_member_grads(params, bad)
                if on_nonfinite == "record":
                    diverged_at[members] = step
                    active &= ~bad
                    frozen = [p.detach().clone() for p in params]
                else:
                    # A zero gradient alone still moves the member by its momentum (Adam, RMSprop).
                    held = [p.detach().clone() for p in params]
            if trace_every and step % trace_every == 0:
                trace_steps.append(step)
                trace_profiles.append(profile_from_grads(trajectory.probes.grad[0]).detach().float())
            opt.step()
            if frozen is not None:
                _restore_members(params, frozen, ~active)
            if held is not None:
                _restore_members(params, held, bad)
            steps_done = step + 1
            shown = torch.where(active, losses.detach().double(), torch.full((K,), math.nan, dtype=torch.float64))
            record["step"].append(step)
            record["train/loss"].append(shown)
            record["grad/norm"].append(grad_norm)
            if callback is not None:
                callback(step, {"train/loss": shown, "grad/norm": grad_norm})
            if step % eval_every == 0 or step == steps - 1:
                evaluate(step)
            if not bool(active.any()):
                break
    except KeyboardInterrupt:
        run = finish("interrupted")
        raise RunInterrupted(
            f"Training interrupted after {steps_done} of {steps} steps; the partial run is kept.",
            partial=run,
        ) from None
    model.eval()
    if not evals["eval/step"] or evals["eval/step"][-1] != steps_done - 1:
        evaluate(steps_done - 1)
    return finish("finished")


def _stack(values: list[torch.Tensor], K: int) -> np.ndarray:  # noqa: N803
    if not values:
        return np.zeros((0, K))
    return torch.stack(values).numpy()


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
