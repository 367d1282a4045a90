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
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gradtrace.errors import RunInterrupted, check_choice, check_int, check_real
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.stats import nan_quantiles
from gradtrace.tasks import FIT_FUNCTIONS, Batch, FunctionFit, member_loss
from gradtrace.train import fit

__all__ = ["VARIANTS", "Descent", "DescentConfig", "dataset_of"]

#: The variants compared, by the name used in run names and figures.
VARIANTS = ("batch", "mini_batch", "stochastic")


@dataclass(frozen=True)
class DescentConfig:
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
    title = "Batch, mini-batch and stochastic gradient descent"
    description = ("One small MLP fitting sin x from the same fixed dataset by full-batch, mini-batch and "
                   "single-example gradient descent for the same number of epochs: the training loss on "
                   "the whole dataset against epochs and against wall-clock seconds, the noise of the "
                   "per-batch loss, and the held-out loss at the end.")

    summary_columns = (("batch size", "batch_size", "d"), ("updates/epoch", "updates_per_epoch", "d"),
                       ("lr", "lr", "g"), ("train loss", "train_loss", ".2e"),
                       ("held-out loss", "task/loss", ".2e"), ("s/epoch", "seconds_per_epoch", ".4f"))

    def __init__(self, config: DescentConfig | None = None):
        self.config = config

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.config or (QUICK if quick else DescentConfig())
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
                diverged = diverged | torch.isnan(metrics["train/loss"])
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
        run_config = {**asdict(config), "variant": variant, "batch_size": batch_size, "updates_per_epoch": per_epoch,
                      "lr": lr, "steps": steps, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=steps, optimizer="sgd", lr=lr, batch_size=batch_size,
                      dataset_size=config.dataset_size, seed=config.seed, eval_every=steps,
                      eval_batch_size=config.eval_batch_size, on_nonfinite="record", callback=on_step)
        except RunInterrupted as error:
            partial = {"epoch": np.arange(len(epoch_loss)), "epoch/train_loss": np.stack(epoch_loss)}
            raise RunInterrupted(str(error), partial=Outcome(partial, run_config, {}, "interrupted")) from None
        seconds = np.concatenate([[0.0], run.elapsed[boundaries] - np.asarray(measured_before)])
        arrays = {
            "epoch": np.arange(len(epoch_loss)),
            "epoch/train_loss": np.stack(epoch_loss),
            "epoch/seconds": seconds,
            "step": run.history["step"],
            "step/epoch": run.history["epoch"],
            "train/loss": run.history["train/loss"],
            "elapsed": run.elapsed,
            "task/loss": run.final["task/loss"],
            "diverged_at": run.diverged_at,
        }
        summary = {"variant": variant, "batch_size": batch_size, "updates_per_epoch": per_epoch, "lr": lr,
                   "epochs": config.epochs, "steps": steps, "seeds": seeds, "baseline_loss": task.baseline_loss,
                   **_summarize(arrays, config.target_fraction * task.baseline_loss)}
        return Outcome(arrays, run_config, summary)

    return execute


def _summarize(arrays: dict[str, np.ndarray], target: float) -> dict[str, float | int]:
    """Return the final losses (medians over seeds), the training time and when the target was reached."""
    median = nan_quantiles(arrays["epoch/train_loss"], 1, (0.5,))[0]      # (epochs + 1,)
    seconds = arrays["epoch/seconds"]
    reached = np.flatnonzero(median <= target)
    epochs = len(seconds) - 1
    return {
        "train_loss": float(median[-1]),
        "task/loss": float(nan_quantiles(arrays["task/loss"][None], 1, (0.5,))[0, 0]),
        "seconds": float(seconds[-1]),
        "seconds_per_epoch": float(seconds[-1] / max(epochs, 1)),
        "target_loss": target,
        # −1: the median never reached the target within the budget.
        "epochs_to_target": int(reached[0]) if reached.size else -1,
        "seconds_to_target": float(seconds[reached[0]]) if reached.size else -1.0,
        "diverged": int((arrays["diverged_at"] >= 0).sum()),
    }
