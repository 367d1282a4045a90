"""Batch, mini-batch and stochastic gradient descent on the same data, for the same number of epochs.

With a fixed dataset of N examples, batch (full) gradient descent makes one update per pass over the
data along the exact gradient; stochastic gradient descent makes N updates, each along the gradient
of one example, an unbiased but noisy estimate; mini-batch descent sits between. Every variant
computes the same number of example-gradients per epoch; they differ in how many updates those buy
and how good each update is. The loss on the whole training set is measured after every update, so
the study can compare the variants per epoch, per update, and say how often an update went uphill.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from gradtrace.errors import RunInterrupted, check_seed
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.descent.claims import descent_claims
from gradtrace.studies.descent.config import QUICK, VARIANTS, DescentConfig, Key
from gradtrace.studies.stats import nan_quantiles
from gradtrace.tasks import Batch, FunctionFit, member_loss
from gradtrace.train import fit

__all__ = ["Descent", "dataset_of", "divergence"]


def dataset_of(task: FunctionFit, size: int, num_models: int, seed: int) -> Batch:
    """Return the fixed dataset :func:`~gradtrace.train.fit` trains on with ``dataset_size=size``.

    Member k draws its ``size`` examples first from a generator seeded with ``seed + k``, as fit does,
    so the full-dataset loss can be measured on exactly the data being trained on.

    Args:
        task: the function-fitting task.
        size: N, the examples per member.
        num_models: K, the members.
        seed: member 0's data seed.

    Returns:
        A batch with a leading member axis: inputs (K, N, 1, 1), targets (K, N, 1, 1).

    Raises:
        ValueError: if ``seed + K − 1`` is not a valid seed.
    """
    seed = check_seed(seed, members=num_models)
    return Batch.stack([task.sample(size, generator=torch.Generator().manual_seed(seed + k))
                        for k in range(num_models)])


class Descent(Study):
    """Batch, mini-batch and stochastic gradient descent fitting sin x with a small MLP, over seeds.

    Each variant trains the same ensemble (the same starting weights and, per member, the same N
    examples) for the same number of epochs with plain SGD at the same learning rate. After every
    update the loss on the whole training set is measured (outside the timed training), alongside
    the per-batch loss that fit records; the held-out loss is measured at the end.
    """

    name = "descent"
    config_class = DescentConfig
    quick_config = QUICK
    title = "Batch, mini-batch and stochastic gradient descent"
    description = ("One small MLP fitting sin x from the same fixed dataset by full-batch, mini-batch and "
                   "single-example gradient descent, at the same learning rate for the same number of epochs: the "
                   "loss on the whole training set against epochs and against updates, how often an update raised "
                   "it, and the held-out loss at the end.")
    text = {
        "title": {"en": title, "pt": "Descida do gradiente em lote, em minilote e estocástica"},
        "question": {
            "en": "With the same data and the same number of passes over it, what do we gain and lose by updating "
                  "after every example instead of after the whole dataset?",
            "pt": "Com os mesmos dados e o mesmo número de passagens por eles, o que se ganha e o que se perde ao "
                  "atualizar os pesos depois de cada exemplo em vez de depois do conjunto inteiro?",
        },
        "description": {
            "en": description,
            "pt": "Uma pequena MLP ajusta sen x a partir do mesmo conjunto fixo de dados por descida do gradiente em "
                  "lote completo, em minilote e exemplo a exemplo, com a mesma taxa de aprendizado e o mesmo número "
                  "de épocas: a perda em todo o conjunto de treino em função das épocas e das atualizações, com que "
                  "frequência uma atualização a fez subir, e a perda em dados separados no fim.",
        },
    }

    summary_columns = (("batch size", Key.BATCH_SIZE, "d"), ("updates/epoch", Key.UPDATES_PER_EPOCH, "d"),
                       ("train loss", Key.FINAL_LOSS, ".2e"), ("held-out loss", Key.FINAL_HELD_OUT, ".2e"),
                       ("loss at equal updates", Key.EQUAL_UPDATES_LOSS, ".2e"),
                       ("updates uphill", Key.RISE_FRACTION, ".0%"), ("diverged", Key.DIVERGENCE, ""))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(variant, config.epochs * config.updates_per_epoch(variant), _executor(config, variant, seeds))
                for variant in VARIANTS if variant in config.variants]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Per epoch, per update and per step of the curve: see :mod:`gradtrace.studies.descent.claims`."""
        return descent_claims(self.resolve(quick))


def _executor(config: DescentConfig, variant: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = FunctionFit(config.function)
        model = MLP(task.input_size, config.hidden_sizes, task.output_size, activation=config.activation,
                    num_models=seeds, seed=config.seed)
        batch_size = config.batch_size(variant)
        per_epoch = config.updates_per_epoch(variant)
        steps = config.epochs * per_epoch
        data = dataset_of(task, config.dataset_size, seeds, config.seed)

        def dataset_loss() -> np.ndarray:
            with torch.no_grad():
                return member_loss(model(data.inputs).outputs, data).double().numpy()

        losses = [dataset_loss()]
        # fit stamps a step's wall time before calling back: the time spent measuring in this callback is
        # subtracted, leaving the training time alone.
        measuring = 0.0

        def on_step(step: int, metrics: dict) -> None:
            nonlocal measuring
            began = time.perf_counter()
            losses.append(dataset_loss())
            if callback is not None:
                callback(step, metrics)
            measuring += time.perf_counter() - began

        # The first optimizer step and evaluation in a process pay one-time costs (lazy imports, first calls),
        # about as long as a hundred steps of this model: a throwaway copy pays them here, so they are not charged
        # to whichever variant happens to run first.
        fit(copy.deepcopy(model), task, steps=2, optimizer="sgd", lr=config.lr, batch_size=batch_size,
            dataset_size=config.dataset_size, seed=config.seed, eval_batch_size=config.eval_batch_size)
        run_config = {**config.model_dump(), Key.VARIANT: variant, Key.BATCH_SIZE: batch_size,
                      Key.UPDATES_PER_EPOCH: per_epoch, Key.UPDATES: steps, "steps": steps, Key.SEEDS: seeds}
        try:
            run = fit(model, task, steps=steps, optimizer="sgd", lr=config.lr, batch_size=batch_size,
                      dataset_size=config.dataset_size, seed=config.seed, eval_every=steps,
                      eval_batch_size=config.eval_batch_size, on_nonfinite="record", callback=on_step)
        except RunInterrupted as error:
            partial = {Key.UPDATE_LOSS: np.stack(losses)}
            raise RunInterrupted(str(error), partial=Outcome(partial, run_config, {}, "interrupted")) from None
        update_loss = _after_divergence_nan(np.stack(losses), run.diverged_at, steps)
        diverged_epoch = _diverged_epochs(update_loss, per_epoch)
        held_out = np.where(diverged_epoch >= 0, np.nan, run.final["task/loss"])
        arrays = {
            Key.EPOCH: np.arange(config.epochs + 1),
            Key.EPOCH_LOSS: update_loss[::per_epoch],
            Key.UPDATE_LOSS: update_loss,
            Key.BATCH_LOSS: _padded(run.history["train/loss"], steps),
            Key.STEP_EPOCH: np.arange(1, steps + 1) / per_epoch,
            Key.HELD_OUT: held_out,
            Key.DIVERGED_EPOCH: diverged_epoch,
        }
        # Milliseconds per epoch are context for the table, from the epochs fit completed: none before the first.
        ran = len(run.elapsed)
        seconds = float(run.elapsed[-1]) - measuring if ran >= per_epoch else math.nan
        summary = {Key.VARIANT: variant, Key.BATCH_SIZE: batch_size, Key.UPDATES_PER_EPOCH: per_epoch,
                   Key.UPDATES: steps, Key.LR: config.lr, "epochs": config.epochs, Key.SEEDS: seeds,
                   Key.BASELINE: task.baseline_loss,
                   Key.SECONDS_PER_EPOCH: seconds * per_epoch / ran if ran else math.nan,
                   **summarize(arrays, equal_updates=config.epochs)}
        return Outcome(arrays, run_config, summary)

    return execute


def _padded(values: np.ndarray, rows: int) -> np.ndarray:
    """``values`` with NaN rows appended up to ``rows`` (fit stops early once every member has diverged)."""
    missing = rows - len(values)
    return np.concatenate([values, np.full((missing, *values.shape[1:]), np.nan)]) if missing > 0 else values


def _after_divergence_nan(update_loss: np.ndarray, diverged_at: np.ndarray, steps: int) -> np.ndarray:
    """Return the (steps + 1, K) whole-set losses with NaN from each member's divergence on.

    A member diverged at the first update after which its whole-set loss is not finite, or at the update fit
    recorded a non-finite loss or gradient for (``diverged_at``, a step; fit then freezes the member at the
    weights it had, whose loss is not the loss of a trained model). Updates fit never ran (it stops once every
    member has diverged) are NaN too.
    """
    losses = _padded(update_loss, steps + 1).copy()
    for k in range(losses.shape[1]):
        bad = np.flatnonzero(~np.isfinite(losses[:, k]))
        first = [int(bad[0])] if bad.size else []
        if diverged_at[k] >= 0:
            first.append(int(diverged_at[k]) + 1)  # the loss after the update of step s is row s + 1
        if first:
            losses[min(first):, k] = np.nan
    return losses


def _diverged_epochs(update_loss: np.ndarray, per_epoch: int) -> np.ndarray:
    """Return the epoch (1 = the first) each member diverged in, −1 for a member that never did."""
    epochs = np.full(update_loss.shape[1], -1, dtype=np.int64)
    for k in range(update_loss.shape[1]):
        bad = np.flatnonzero(np.isnan(update_loss[:, k]))
        if bad.size:
            epochs[k] = (bad[0] - 1) // per_epoch + 1
    return epochs


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


def _rises(losses: np.ndarray) -> tuple[int, int]:
    """Return (how many consecutive pairs of rows went up, how many pairs were finite), over every member."""
    before, after = losses[:-1], losses[1:]
    finite = np.isfinite(before) & np.isfinite(after)
    return int((after[finite] > before[finite]).sum()), int(finite.sum())


def summarize(arrays: dict[str, np.ndarray], *, equal_updates: int) -> dict[str, float | int | str]:
    """Return a run's scalar summary from its arrays.

    Losses are medians over the members that did not diverge (NaN when none did). A rise is an update
    after which the loss on the whole training set is higher than before it.

    Args:
        arrays: the run's arrays (see :class:`~gradtrace.studies.descent.config.Key`).
        equal_updates: the update count at which every variant's loss is read (the full batch's budget).
    """
    update_loss, epoch_loss = arrays[Key.UPDATE_LOSS], arrays[Key.EPOCH_LOSS]
    per_update = nan_quantiles(update_loss, 1, (0.5,))[0]
    rises, pairs = _rises(update_loss)
    epoch_rises, _ = _rises(epoch_loss)
    diverged_epoch = arrays[Key.DIVERGED_EPOCH]
    final = epoch_loss[-1]
    return {
        Key.FINAL_LOSS: float(nan_quantiles(final[None], 1, (0.5,))[0, 0]),
        "train_loss_min": float(np.nanmin(final)) if np.isfinite(final).any() else math.nan,
        "train_loss_max": float(np.nanmax(final)) if np.isfinite(final).any() else math.nan,
        Key.FINAL_HELD_OUT: float(nan_quantiles(arrays[Key.HELD_OUT][None], 1, (0.5,))[0, 0]),
        Key.EQUAL_UPDATES: equal_updates,
        Key.EQUAL_UPDATES_LOSS: float(per_update[equal_updates]) if equal_updates < len(per_update) else math.nan,
        Key.RISES: rises,
        "update_pairs": pairs,
        Key.RISE_FRACTION: rises / pairs if pairs else math.nan,
        Key.EPOCH_RISES: epoch_rises,
        Key.DIVERGED: int((diverged_epoch >= 0).sum()),
        Key.DIVERGENCE: divergence(diverged_epoch),
    }
