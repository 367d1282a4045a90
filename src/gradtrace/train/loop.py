"""fit: the training loop, read top to bottom; its pieces live in the sibling modules."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from gradtrace.errors import OutOfMemoryError, RunInterrupted, describe
from gradtrace.memory import return_free_memory
from gradtrace.models.base import RecurrentModel
from gradtrace.models.mlp import MLP
from gradtrace.remedies import GradientTransform, Truncation
from gradtrace.tasks.base import Batch, Task
from gradtrace.train.history import History
from gradtrace.train.members import Members
from gradtrace.train.memory import failure_line, is_out_of_memory, out_of_memory_message
from gradtrace.train.paths import GradientPath, gradient_path
from gradtrace.train.run import Run
from gradtrace.train.sampling import held_out_batch, make_sampler, to_device
from gradtrace.train.settings import Settings
from gradtrace.train.updater import Updater

__all__ = ["fit"]


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
    truncation: Truncation | tuple[int, int] | tuple[int, int, str] | None = None,
    trace_every: int | None = None,
    eval_every: int | None = None,
    eval_batch_size: int = 256,
    on_nonfinite: str = "record",
    callback: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
) -> Run:
    """Train every member of ``model`` on ``task`` and record losses, gradients and traces.

    Order of one step: sample → forward with probes → per-member loss → backward → the non-finite
    policy (before the remedies, so they see the gradients of finite, active members only) → remedies
    (clip, penalties) → optimizer step (each member's step scaled by its learning rate with ``lr`` per
    member; frozen and skipped members put back) → record → evaluate.

    One step is one batch of sequences. Without truncation it makes one update; with
    ``truncation=(k1, k2)`` it makes one update per chunk of k1 steps (that has scored steps),
    each back-propagated k2 steps, the hidden state carried forward detached between chunks.
    When k1 does not divide T the last chunk is shorter: by default ("overlap") it is still
    back-propagated k2 steps, re-running the end of the previous chunk with the updated weights;
    ``truncation=(k, k, "shorter")`` is the usual chunked loop, each chunk back-propagated within itself.
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
        lr: the learning rate, in (0, 1e6] (see ``MAX_LR``); or a sequence of K of them, ``lr[k]`` for member k. Every
            optimizer here steps by lr times a direction that its state (Adam's moment estimates,
            RMSprop's mean square) and the gradient decide, and that state is built from the
            gradients alone; so the optimizer runs at lr = 1 and member k's change of its
            parameters is scaled by lr[k]: θ ← θ_old + lr[k] · (θ_step − θ_old), the step it would
            have taken alone at lr[k] (to rounding).
        batch_size: sequences per member per step (at most ``dataset_size``).
        dataset_size: train on this many fixed examples per member, in epochs; None draws fresh data.
        seed: data seed of member 0, ≥ 0; member k trains on seed + k and evaluates on seed + k + 1000003,
            which must stay below 2**63.
        loss: loss kind (default: the task's; "half_mse" is the seeds' ½(ŷ−y)²).
        remedies: a gradient transform from :mod:`gradtrace.remedies`, or a sequence of them
            (chained in order); applied to each member's gradient before the optimizer step.
        truncation: ``(k1, k2)`` for truncated BPTT, or ``(k1, k2, last)`` with ``last`` "overlap"
            (default) or "shorter" saying how a last chunk shorter than k1 is back-propagated (see
            :class:`~gradtrace.remedies.Truncation`); None is full BPTT.
        trace_every: keep the profile ‖∂L/∂h_t‖ every this many steps, ≥ 1 (None: about 50 snapshots).
        eval_every: evaluate on a fixed held-out batch every this many steps, ≥ 1 (None: about 20 times).
        eval_batch_size: sequences per member in the held-out batch.
        on_nonfinite: "record" (default), "skip" or "raise"; see ``NONFINITE_POLICIES``. Skipped updates
            are counted in ``Run.skipped_steps`` and flagged per step in ``history["nonfinite/skipped"]``.
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
        TypeError: ``model`` or ``task`` is not a gradtrace one, a ``callback`` that is not callable, an
            argument of the wrong type, or a remedy that cannot apply to ``model`` (e.g. Pascanu's Ω on
            an LSTM).
        ValueError: sizes that do not suit ``task``, or an argument out of its range; the message names
            the argument, the valid range and the value that came.
    """

    # Checked before training, not at the first step's call: a wrong callback must not cost a run.
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be a function of (step, metrics) or None, got {describe(callback)}.")
    path = gradient_path(model)
    settings = Settings.check(
        path, task, steps=steps, optimizer=optimizer, lr=lr, batch_size=batch_size, dataset_size=dataset_size,
        seed=seed, loss=loss, remedies=remedies, truncation=truncation, trace_every=trace_every,
        eval_every=eval_every, eval_batch_size=eval_batch_size, on_nonfinite=on_nonfinite,
    )
    K, device = model.num_models, next(model.parameters()).device  # noqa: N806
    members = Members(K, settings.on_nonfinite, device)
    update = Updater(model, settings, members)
    sample = make_sampler(task, settings, K)
    held_out = held_out_batch(task, settings, K, device)
    history = History(config=settings.config(model, task), members=members, model=model,
                      path_length=path.length(task), epochs=settings.dataset_size is not None,
                      skipped=settings.on_nonfinite == "skip")
    # Probes make ∂L/∂h_t, which the trace and the remedies' context read; they do not change the
    # parameters' gradients, and cost a (K, B, T, H) buffer and its gradient, so they go only there.
    probe_always = settings.transform is not None
    phase, out_of_memory = "training", None
    try:
        model.train()
        started = time.perf_counter()
        for step in range(settings.steps):
            phase = "training"
            batch = to_device(sample(), device)
            tracing = step % settings.trace_every == 0
            # forward → loss → backward → non-finite policy → remedies → optimizer step, once per window
            result = path.train_batch(batch, update, step=step, loss=settings.loss, truncation=settings.truncation,
                                      tracing=tracing, probe_always=probe_always)
            del batch
            metrics = {**result.measured, "train/loss": members.shown(result.loss)}
            history.record_step(step, metrics, result.profile, elapsed=time.perf_counter() - started,
                                epochs=sample.epochs)
            if callback is not None:
                callback(step, metrics)
            if settings.evaluates_at(step):
                phase = "evaluation"
                history.record_evaluation(step, evaluate(path, task, held_out))
                return_free_memory()  # resident memory stays flat over thousands of steps
            if not members.any_active():
                break
        phase = "evaluation"
        model.eval()
        if history.last_evaluated != history.steps_done - 1:
            history.record_evaluation(history.steps_done - 1, evaluate(path, task, held_out))
    except KeyboardInterrupt:
        raise RunInterrupted(f"Training interrupted after {history.steps_done} of {settings.steps} steps; the "
                             "partial run is kept.", partial=history.run("interrupted")) from None
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(error):
            raise
        # Only the message leaves this block: the traceback holds the frames, and with them the
        # buffers, of the step that failed; they are freed before the partial run is assembled.
        out_of_memory = failure_line(error)
    if out_of_memory is not None:
        update.release()
        raise _out_of_memory_error(path, task, settings, phase, out_of_memory, history)
    return history.run("finished")


def evaluate(path: GradientPath, task: Task, batch: Batch) -> dict[str, torch.Tensor]:
    """Score the model of ``path`` on the held-out ``batch``, without gradient; metrics by key, each (K,)."""
    with torch.no_grad():
        return task.score(path.outputs(batch.inputs), batch)


def _out_of_memory_error(path: GradientPath, task: Task, settings: Settings, phase: str, cause: str,
                         history: History) -> OutOfMemoryError:
    """Return the error for an allocation that failed in ``phase``, the partial run of ``history`` attached."""
    training = phase == "training"
    failed = history.steps_done if training else history.steps_done - 1  # an evaluation follows its step
    message = out_of_memory_message(path, task, phase=phase, step=failed, steps=settings.steps,
                                    batch_size=settings.batch_size if training else settings.eval_batch_size,
                                    truncation=settings.truncation, cause=cause)
    return OutOfMemoryError(message, step=failed, partial=history.run("out_of_memory"))
