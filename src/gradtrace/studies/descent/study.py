"""Batch, mini-batch and stochastic gradient descent on the same data, for the same number of epochs.

With a fixed dataset of N examples, batch (full) gradient descent makes one update per pass over the
data along the exact gradient; stochastic gradient descent makes N updates, each along the gradient
of one example, an unbiased but noisy estimate; mini-batch descent sits between. Per epoch the
stochastic variant moves much further; per second the comparison depends on how much one update
costs, which for small models is mostly the fixed overhead of a step rather than the batch size.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from gradtrace.errors import RunInterrupted, check_choice, check_int, check_real, check_seed
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.stats import nan_quantiles
from gradtrace.tasks import FIT_FUNCTIONS, Batch, FunctionFit, member_loss
from gradtrace.train import fit

__all__ = ["VARIANTS", "Descent", "DescentConfig", "dataset_of", "divergence"]

#: The variants compared, by the name used in run names and figures.
VARIANTS = ("batch", "mini_batch", "stochastic")


class DescentConfig(StudyConfig):
    """Sizes of the descent study (the defaults take about half a minute of CPU time).

    The learning rates were chosen once, on seeds 100–104 (not the study's): for each variant the
    grid 0.0125 · 2^k (k = 0 … 4), the rate with the lowest median training loss after the epoch
    budget among those at which no seed diverged. One rate for all three would not be fair either:
    the largest stable step is set by the loss's curvature, and the noise of small batches calls
    for a smaller one. Batch and mini-batch descent both improved with every doubling up to 0.1 and
    diverged on one seed of five at 0.2; stochastic descent diverged on every seed at 0.2 and ended
    within a factor 1.3 anywhere from 0.0125 to 0.1.
    """

    variants: tuple[str, ...] = VARIANTS
    function: str = "sin"          # sin x on [1, 2π]: smooth, one bend, a loss that falls over decades
    dataset_size: int = 64         # N: the stochastic variant makes N updates per epoch
    mini_batch_size: int = 16      # four updates per epoch
    epochs: int = 100              # the same for every variant, so stochastic descent makes N× the updates
    hidden_sizes: tuple[int, ...] = (32,)
    activation: str = "tanh"
    # Plain gradient descent, as in the course notes: momentum or Adam would blur the comparison.
    batch_lr: float = 0.1
    mini_batch_lr: float = 0.1
    stochastic_lr: float = 0.025
    # Held-out points, fresh from the same distribution, scored once at the end.
    eval_batch_size: int = 1024
    # A variant "reaches" the target when its median training loss falls below this fraction of
    # the baseline (the variance of f: the loss of the best constant).
    target_fraction: float = 0.1
    seed: int = 0


QUICK = DescentConfig(dataset_size=16, mini_batch_size=4, epochs=6, hidden_sizes=(8,), eval_batch_size=64)


def dataset_of(task: FunctionFit, size: int, num_models: int, seed: int) -> Batch:
    """Return the fixed dataset :func:`~gradtrace.train.fit` trains on with ``dataset_size=size``.

    Member k draws its ``size`` examples first from a generator seeded with ``seed + k``, as fit does,
    so the full-dataset loss can be measured on exactly the data being trained on.

    Returns:
        A batch with a leading member axis: inputs (K, N, 1, 1), targets (K, N, 1, 1).
    """
    seed = check_seed(seed, members=num_models)
    return Batch.stack([task.sample(size, generator=torch.Generator().manual_seed(seed + k))
                        for k in range(num_models)])


class Descent(Study):
    """Batch, mini-batch and stochastic gradient descent fitting sin x with a small MLP, over seeds.

    Each variant trains the same ensemble (the same starting weights and, per member, the same N
    examples) for the same number of epochs with plain SGD. At every epoch boundary the loss on the
    whole training set is measured (outside the timed training), alongside the per-batch loss
    that fit records; the held-out loss is measured at the end.
    """

    name = "descent"
    config_class = DescentConfig
    quick_config = QUICK
    title = "Batch, mini-batch and stochastic gradient descent"
    description = ("One small MLP fitting sin x from the same fixed dataset by full-batch, mini-batch and "
                   "single-example gradient descent for the same number of epochs: the training loss on "
                   "the whole dataset against epochs and against wall-clock seconds, the noise of the "
                   "per-batch loss, and the held-out loss at the end.")

    summary_columns = (("batch size", "batch_size", "d"), ("updates/epoch", "updates_per_epoch", "d"),
                       ("lr", "lr", "g"), ("train loss", "train_loss", ".2e"),
                       ("held-out loss", "task/loss", ".2e"), ("s/epoch", "seconds_per_epoch", ".4f"),
                       ("diverged", "divergence", ""))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        _validate(config)
        return [RunSpec(variant, config.epochs * _updates_per_epoch(config, variant),
                        _executor(config, variant, seeds)) for variant in config.variants]


def _validate(config: DescentConfig) -> None:
    unknown = sorted(set(config.variants) - set(VARIANTS))
    if unknown or not config.variants:
        raise ValueError(f"Unknown or no variants {unknown or list(config.variants)} in the descent study. "
                         f"Available: {', '.join(VARIANTS)}.")
    check_choice("function", config.function, FIT_FUNCTIONS, what="function")
    size = check_int("dataset_size", config.dataset_size, minimum=2)
    check_int("mini_batch_size", config.mini_batch_size, minimum=1, maximum=size)
    for field in ("epochs", "eval_batch_size"):
        check_int(field, getattr(config, field), minimum=1)
    for field in ("batch_lr", "mini_batch_lr", "stochastic_lr"):
        check_real(field, getattr(config, field), minimum=0.0, exclusive_minimum=True)
    check_real("target_fraction", config.target_fraction, minimum=0.0, exclusive_minimum=True)


def _batch_size(config: DescentConfig, variant: str) -> int:
    return {"batch": config.dataset_size, "mini_batch": config.mini_batch_size, "stochastic": 1}[variant]


def _updates_per_epoch(config: DescentConfig, variant: str) -> int:
    return math.ceil(config.dataset_size / _batch_size(config, variant))


def _executor(config: DescentConfig, variant: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = FunctionFit(config.function)
        model = MLP(task.input_size, config.hidden_sizes, task.output_size, activation=config.activation,
                    num_models=seeds, seed=config.seed)
        batch_size = _batch_size(config, variant)
        per_epoch = _updates_per_epoch(config, variant)
        steps = config.epochs * per_epoch
        lr = getattr(config, f"{variant}_lr")
        data = dataset_of(task, config.dataset_size, seeds, config.seed)
        diverged = torch.zeros(seeds, dtype=torch.bool)

        def dataset_loss() -> np.ndarray:
            with torch.no_grad():
                losses = member_loss(model(data.inputs).outputs, data).double()
            return torch.where(diverged, torch.full_like(losses, math.nan), losses).numpy()

        epoch_loss = [dataset_loss()]
        boundaries: list[int] = []
        # fit stamps a step's wall time before calling back, so the time spent in this callback up to
        # step s is inside the stamp of step s; subtracting it leaves the training time alone.
        measuring = 0.0
        measured_before: list[float] = []

        def on_step(step: int, metrics: dict) -> None:
            nonlocal diverged, measuring
            began = time.perf_counter()
            if (step + 1) % per_epoch == 0:
                diverged = diverged | ~torch.isfinite(metrics["train/loss"])
                epoch_loss.append(dataset_loss())
                boundaries.append(step)
                measured_before.append(measuring)
            if callback is not None:
                callback(step, metrics)
            measuring += time.perf_counter() - began

        # The first optimizer step and evaluation in a process pay one-time costs (lazy imports, first
        # calls), about as long as a hundred steps of this model: a throwaway copy pays them here, so
        # they are not charged to whichever variant happens to run first.
        fit(copy.deepcopy(model), task, steps=2, optimizer="sgd", lr=lr, batch_size=batch_size,
            dataset_size=config.dataset_size, seed=config.seed, eval_batch_size=config.eval_batch_size)
        run_config = {**config.model_dump(), "variant": variant, "batch_size": batch_size,
                      "updates_per_epoch": per_epoch, "lr": lr, "steps": steps, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=steps, optimizer="sgd", lr=lr, batch_size=batch_size,
                      dataset_size=config.dataset_size, seed=config.seed, eval_every=steps,
                      eval_batch_size=config.eval_batch_size, on_nonfinite="record", callback=on_step)
        except RunInterrupted as error:
            partial = {"epoch": np.arange(len(epoch_loss)), "epoch/train_loss": np.stack(epoch_loss)}
            raise RunInterrupted(str(error), partial=Outcome(partial, run_config, {}, "interrupted")) from None
        seconds = np.concatenate([[0.0], run.elapsed[boundaries] - np.asarray(measured_before)])
        losses = np.stack(epoch_loss)
        diverged_epoch = _diverged_epochs(run.diverged_at, losses, per_epoch)
        # From the epoch a member diverged in, it has no loss to show: NaN, not the loss of the
        # weights it was frozen at (its starting weights, when it diverged in the first epoch).
        for k in np.flatnonzero(diverged_epoch >= 0):
            losses[diverged_epoch[k]:, k] = np.nan
        held_out = np.where(diverged_epoch >= 0, np.nan, run.final["task/loss"])
        # fit stops once every member has diverged: the epochs it never ran are NaN, so every run's
        # arrays have one row per epoch of the budget.
        missing = config.epochs + 1 - len(losses)
        arrays = {
            "epoch": np.arange(config.epochs + 1),
            "epoch/train_loss": np.concatenate([losses, np.full((missing, seeds), np.nan)]),
            "epoch/seconds": np.concatenate([seconds, np.full(missing, np.nan)]),
            "step": run.history["step"],
            "step/epoch": run.history["epoch"],
            "train/loss": run.history["train/loss"],
            "elapsed": run.elapsed,
            "task/loss": held_out,
            "diverged_at": run.diverged_at,
            "diverged_epoch": diverged_epoch,
        }
        summary = {"variant": variant, "batch_size": batch_size, "updates_per_epoch": per_epoch, "lr": lr,
                   "epochs": config.epochs, "steps": steps, "seeds": seeds, "baseline_loss": task.baseline_loss,
                   **_summarize(arrays, config.target_fraction * task.baseline_loss)}
        return Outcome(arrays, run_config, summary)

    return execute


def _diverged_epochs(diverged_at: np.ndarray, losses: np.ndarray, per_epoch: int) -> np.ndarray:
    """Return the epoch (1 = the first) each member diverged in, −1 for a member that never did.

    A member diverged when fit recorded a non-finite loss or gradient for it (``diverged_at``, a
    step), or when its loss on the whole training set is no longer finite at an epoch boundary (an
    update can overflow the weights without the loss of that batch being non-finite yet).
    """
    epochs = np.where(diverged_at >= 0, diverged_at // per_epoch + 1, -1)
    for k in range(losses.shape[1]):
        bad = np.flatnonzero(~np.isfinite(losses[1:, k]))
        if bad.size and (epochs[k] < 0 or bad[0] + 1 < epochs[k]):
            epochs[k] = bad[0] + 1
    return epochs.astype(np.int64)


def divergence(diverged_epoch: np.ndarray) -> str:
    """Say how many members diverged and in which epoch(s), e.g. "all 5 diverged at epoch 1".

    Example:
        >>> divergence(np.array([1, 1])), divergence(np.array([-1, 3, 5])), divergence(np.array([-1]))
        ('all 2 diverged at epoch 1', '2 of 3 diverged at epochs 3–5', 'none of 1')
    """
    epochs = np.asarray(diverged_epoch)
    hit = epochs[epochs >= 0]
    if not hit.size:
        return f"none of {epochs.size}"
    low, high = int(hit.min()), int(hit.max())
    when = f"at epoch {low}" if low == high else f"at epochs {low}–{high}"
    who = f"all {epochs.size}" if hit.size == epochs.size else f"{hit.size} of {epochs.size}"
    return f"{who} diverged {when}"


def _summarize(arrays: dict[str, np.ndarray], target: float) -> dict[str, float | int | str]:
    """Return the final losses (medians over the seeds that did not diverge; NaN when none finished),
    the training time, when the target was reached, and which members diverged when."""
    losses = arrays["epoch/train_loss"]
    median = nan_quantiles(losses, 1, (0.5,))[0]      # (epochs + 1,)
    seconds = arrays["epoch/seconds"]
    ran = np.flatnonzero(np.isfinite(seconds))[-1]     # the last epoch fit ran
    reached = np.flatnonzero(median <= target)
    diverged_epoch = arrays["diverged_epoch"]
    hit = diverged_epoch[diverged_epoch >= 0]
    return {
        "train_loss": float(median[-1]),
        "task/loss": float(nan_quantiles(arrays["task/loss"][None], 1, (0.5,))[0, 0]),
        "seconds": float(seconds[ran]),
        "seconds_per_epoch": float(seconds[ran] / max(ran, 1)),
        "epochs_run": int(ran),
        "target_loss": target,
        # −1: the median never reached the target within the budget.
        "epochs_to_target": int(reached[0]) if reached.size else -1,
        "seconds_to_target": float(seconds[reached[0]]) if reached.size else -1.0,
        "diverged": int(hit.size),
        # −1 when no member diverged.
        "first_diverged_epoch": int(hit.min()) if hit.size else -1,
        "last_diverged_epoch": int(hit.max()) if hit.size else -1,
        "divergence": divergence(diverged_epoch),
    }
