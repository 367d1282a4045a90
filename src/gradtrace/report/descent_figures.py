"""Figures of the descent study: batch, mini-batch and stochastic descent against epochs and seconds."""

from __future__ import annotations

import re

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.descent import divergence
from gradtrace.studies.stats import nan_quantiles

__all__ = ["descent_figures"]

_VARIANT_STYLE = {
    "batch": ("#1f77b4", "batch (full) GD"),
    "mini_batch": ("#2ca02c", "mini-batch SGD"),
    "stochastic": ("#d62728", "stochastic GD (1 example)"),
}
# Epochs of per-batch losses drawn in the noise figure: enough to see the spread, few enough to
# tell the updates apart.
_NOISE_EPOCHS = 5


def _style(run) -> tuple[str, str]:
    color, label = _VARIANT_STYLE.get(run.config["variant"], ("gray", run.config["variant"]))
    label = f"{label}, B = {run.config['batch_size']}, lr {run.config['lr']:g}"
    if run.summary.get("diverged"):
        label += f" ({_divergence(run)})"
    return color, label


def _divergence(run) -> str:
    """Which members diverged when, from the run's arrays (runs stored before they held it: a count)."""
    if "diverged_epoch" in run.arrays:
        return divergence(run.arrays["diverged_epoch"])
    return f"{run.summary.get('diverged', 0)} of {run.config['seeds']} diverged"


def _all_diverged(run) -> bool:
    return run.summary.get("diverged", 0) == run.config["seeds"]


def _positive(values: np.ndarray) -> np.ndarray:
    """Values a log axis can show: non-positive or non-finite ones become NaN (gaps)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def descent_figures(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the descent study."""
    runs = [r for r in _runs(store, "descent") if "epoch/train_loss" in r.arrays]
    if not runs:
        return [], []
    order = {"batch": 0, "mini_batch": 1, "stochastic": 2}
    runs.sort(key=lambda r: order.get(r.config["variant"], 3))
    finished = [r for r in runs if r.status == "finished" and "epoch/seconds" in r.arrays]
    figures = [_against_epochs(runs)]
    if finished:
        figures += [_against_seconds(finished), _noise(finished)]
    return figures, [_table(finished)] if finished else []


def _baseline(ax, runs) -> None:
    baseline = next((r.summary.get("baseline_loss") for r in runs if r.summary.get("baseline_loss")), None)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label="baseline (best constant)")


def _against_epochs(runs) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        color, label = _style(run)
        _band(ax, run.arrays["epoch"], _positive(run.arrays["epoch/train_loss"]), color, label, axis=1)
    _baseline(ax, runs)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (passes over the training set)")
    ax.set_ylabel("MSE on the whole training set")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    config = runs[0].config
    return Figure(
        "Training loss against epochs",
        f"Loss on all {config['dataset_size']} training points, measured after every epoch (median over "
        f"{config['seeds']} seeds, min–max band, log scale). In one epoch batch descent makes one update, "
        "mini-batch descent a few, stochastic descent one per example: per pass over the data, the more "
        "updates the further the loss falls, even though each stochastic update follows a noisy gradient.",
        _png(fig),
    )


def _against_seconds(runs) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        color, label = _style(run)
        # Epoch 0 sits at 0 s, off a log axis.
        seconds = run.arrays["epoch/seconds"][1:]
        _band(ax, seconds, _positive(run.arrays["epoch/train_loss"][1:]), color, label, axis=1)
    _baseline(ax, runs)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training wall-clock time (s, measurement excluded)")
    ax.set_ylabel("MSE on the whole training set")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return Figure(
        "Training loss against wall-clock time",
        "The same curves against the seconds spent training (the full-dataset evaluations are timed and "
        "subtracted; both axes logarithmic). Every curve ends at the same number of epochs. For a model "
        "this small an update costs about the same whatever the batch size — the fixed cost of a step "
        "dominates — so an epoch of stochastic descent takes about N times as long as one of batch "
        "descent. Compare the losses at equal time, not at the ends. Times come from a shared machine and "
        "vary from run to run; only their ratios mean much.",
        _png(fig),
    )


def _noise(runs) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(4.3 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        color, label = _style(run)
        a = run.arrays
        # The epoch count after each step; a batch's loss was measured before its update, so it
        # belongs at the count before it.
        before = np.concatenate([[0.0], a["step/epoch"][:-1]])
        shown = before < _NOISE_EPOCHS
        ax.plot(before[shown], _positive(a["train/loss"][shown, 0]), color=color, linewidth=0.8, zorder=2,
                marker="." if shown.sum() <= 2 * _NOISE_EPOCHS else None, markersize=4, label="loss of each batch")
        epochs = a["epoch"] <= _NOISE_EPOCHS
        # Dotted and underneath: for batch descent the two coincide, and the batches' line must show.
        ax.plot(a["epoch"][epochs], _positive(a["epoch/train_loss"][epochs, 0]), color="black", marker="o",
                markersize=4, linewidth=1.0, linestyle=":", zorder=1, label="loss on the whole set")
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("MSE (seed 0)")
    axes[0][0].legend()
    return Figure(
        "Per-batch loss: the noise of small batches",
        f"The loss of every batch as training saw it (before its update) over the first {_NOISE_EPOCHS} "
        "epochs, for the first seed, with the loss on the whole training set at each epoch boundary (black). "
        "Batch descent's per-batch loss is the full loss; a mini-batch's scatters around it; a single "
        "example's spans orders of magnitude, because some points are already fitted and others are not. "
        "That scatter is the noise in the stochastic gradient — and why the recorded per-batch loss "
        "(train/loss) is a poor readout of progress for SGD.",
        _png(fig),
    )


def _spread(values: np.ndarray, spec: str, missing: str) -> str:
    """Median [min, max] of the finite values; ``missing`` when there is none."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=float)[None], 1)[:, 0]
    if mid != mid:
        return missing
    return f"{mid:{spec}} [{low:{spec}}, {high:{spec}}]"


def _function(task: str) -> str:
    """Name the fitted function in words, not as the task's repr (``function_fit(function='sin', ...)``)."""
    match = re.search(r"function='([^']+)'", task)
    return f"{match.group(1)} x" if match else task.split("(")[0].replace("_", " ")


def _table(runs) -> Table:
    rows = []
    for run in runs:
        s, a = run.summary, run.arrays
        reached = (f"{s['epochs_to_target']} / {s['seconds_to_target']:.2f} s" if s["epochs_to_target"] >= 0
                   else "not reached")
        # A run whose members all diverged has no final loss: say when they diverged instead.
        missing = _divergence(run) if _all_diverged(run) else "no finite loss"
        per_epoch = f"{s['seconds_per_epoch'] * 1e3:.2f}" if s.get("epochs_run", 1) > 0 else "—"
        rows.append([
            _VARIANT_STYLE.get(s["variant"], (None, s["variant"]))[1], str(s["batch_size"]),
            str(s["updates_per_epoch"]), f"{s['lr']:g}", _spread(a["epoch/train_loss"][-1], ".2e", missing),
            _spread(a["task/loss"], ".2e", "—" if _all_diverged(run) else "no finite loss"), per_epoch, reached,
            _divergence(run) if s["diverged"] else f"0/{s['seeds']}",
        ])
    config = runs[0].config
    return Table(
        "Batch, mini-batch and stochastic descent after the same number of epochs",
        ["variant", "batch size", "updates per epoch", "lr", "final training loss", "final held-out loss",
         "ms per epoch", "epochs / seconds to target", "diverged"],
        rows,
        f"Fitting {_function(config['task'])} with an MLP of hidden layers "
        f"{'-'.join(str(n) for n in config['hidden_sizes'])} ({config['activation']}) from "
        f"{config['dataset_size']} fixed points per seed, {config['epochs']} epochs of plain SGD, "
        f"{config['seeds']} seeds. Losses: median [min, max] over the seeds that did not diverge; held-out on "
        f"{config['eval_batch_size']} fresh points. Target: training loss below "
        f"{config['target_fraction']:g} × the baseline {runs[0].summary['baseline_loss']:.3f} (the variance "
        "of the function), first reached by the median. Learning rates: per variant, the best of the grid "
        "0.0125 · 2^k on other seeds (see DescentConfig). Time per epoch excludes the full-dataset "
        "evaluations and comes from a shared machine.",
    )
