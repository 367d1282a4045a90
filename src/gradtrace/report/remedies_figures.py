"""Figures of the remedies study: success rates, loss curves and gradient profiles per setup."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, plt
from gradtrace.store import Store
from gradtrace.studies.remedies import REMEDY_SETUPS
from gradtrace.studies.stats import nan_quantiles

__all__ = ["remedies_figures"]

_TASK_LABELS = {"adding": "adding problem", "temporal_order": "temporal order"}
_COLORS = dict(zip(REMEDY_SETUPS, plt.cm.tab10(np.arange(len(REMEDY_SETUPS)))))


def remedies_figures(store: Store) -> tuple[list[Figure], list[Table]]:
    """Draw the remedies study."""
    runs = [r for r in _runs(store, "remedies") if r.summary]
    if not runs:
        return [], []
    tasks = list(dict.fromkeys(r.config["task_name"] for r in runs))
    setups = [s for s in REMEDY_SETUPS if any(r.config["setup"] == s for r in runs)]
    by_key = {(r.config["task_name"], r.config["setup"]): r for r in runs}
    lengths = {task: next(r.summary["length"] for r in runs if r.config["task_name"] == task) for task in tasks}
    figures = [_success(by_key, tasks, setups, lengths), _losses(by_key, tasks, setups, lengths),
               _profiles(by_key, tasks, setups, lengths)]
    rows = []
    for task in tasks:
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            rows.append([
                f"{_TASK_LABELS.get(task, task)}, T = {s['length']}", REMEDY_SETUPS[setup],
                f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%}",
                f"[{s['success_low']:.0%}, {s['success_high']:.0%}]", f"{s['task/loss']:.4f}",
                f"{s['baseline_loss']:.4f}", f"{s['task/accuracy']:.1%}", f"{s['final/horizon']:.0f}",
            ])
    config = runs[0].config
    table = Table(
        "Success rate per remedy",
        ["task", "setup", "solved", "95% interval (Wilson)", "held-out loss (median)", "baseline",
         "accuracy (median)", "horizon after training"],
        rows,
        f"{config['hidden_size']} hidden units, Adam at lr {config['lr']:g} for {config['steps']} steps of "
        f"{config['batch_size']} sequences; clipping at global norm {config['max_norm']:g}; Ω weight "
        f"{config['omega_weight']:g} (mean over kept steps), applied before clipping; truncated BPTT with "
        f"k1 = k2 = {config['truncation_fraction']:g}·T; IRNN = ReLU units, W_rec = I, small input weights; "
        f"ESN: {config['reservoir_size']} leaky units (leak {config['esn_leak_rate']:g}, ρ "
        f"{config['esn_spectral_radius']:g}), ridge readout fitted in closed form on "
        f"{config['esn_train_sequences']} sequences; LSTM forget bias {config['lstm_forget_bias']:g}. A seed "
        "solves the task when ≥ 99% of held-out sequences are right. The horizon is how many steps back the "
        "gradient stays above 10⁻⁶ of its peak after training.",
    )
    return figures, [table]


def _success(by_key, tasks, setups, lengths) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.8 * len(tasks), 4.2), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for i, setup in enumerate(setups):
            run = by_key.get((task, setup))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            ax.bar(i, s["success_rate"], color=_COLORS[setup], alpha=0.85)
            ax.errorbar([i], [s["success_rate"]], yerr=[[s["success_rate"] - s["success_low"]],
                                                        [s["success_high"] - s["success_rate"]]],
                        fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.set_xticks(range(len(setups)), [REMEDY_SETUPS[s] for s in setups], rotation=40, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{_TASK_LABELS.get(task, task)}, T = {lengths[task]}")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("fraction of seeds that solved it")
    return Figure(
        "Which remedies solve the long-range tasks",
        "Fraction of seeds that solved each task, with the 95% Wilson interval. Clipping only tames "
        "exploding gradients; truncation shortens the gradient's path on purpose, so it cannot learn a "
        "dependency longer than its window; gating (LSTM, GRU) and an untrained reservoir (ESN) change what "
        "the gradient has to travel through.",
        _png(fig),
    )


def _losses(by_key, tasks, setups, lengths) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.8 * len(tasks), 4.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        baseline = None
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None:
                continue
            steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
            if setup == "esn" and len(loss):
                level = float(nan_quantiles(loss[-1][None], 1)[1][0])
                ax.axhline(level, color=_COLORS[setup], linestyle="--", linewidth=1.4,
                           label=REMEDY_SETUPS[setup] + " (closed form)")
            elif len(steps):
                _band(ax, steps, loss, _COLORS[setup], REMEDY_SETUPS[setup], axis=1)
            baseline = run.summary.get("baseline_loss", baseline)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label="baseline")
        ax.set_yscale("log")
        ax.set_title(f"{_TASK_LABELS.get(task, task)}, T = {lengths[task]}")
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("held-out loss")
    axes[0][-1].legend(fontsize=7, ncol=2)
    return Figure(
        "Loss curves",
        "Held-out loss during training (median over seeds, min–max band); the echo state network's readout "
        "is solved in one step, so it is a dashed level. Dotted: the loss of ignoring the inputs.",
        _png(fig),
    )


def _profiles(by_key, tasks, setups, lengths) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.8 * len(tasks), 4.0), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None or "final/grad_norms" not in run.arrays:
                continue
            norms = np.asarray(run.arrays["final/grad_norms"], dtype=float)  # (K, T)
            peak = np.nanmax(np.where(np.isfinite(norms), norms, np.nan), axis=1, keepdims=True)
            relative = norms / np.where(peak > 0, peak, np.nan)
            by_lag = relative[:, ::-1]
            shown = np.where(by_lag > 0, by_lag, np.nan)
            lags = np.arange(shown.shape[1])
            median = nan_quantiles(shown, 0)[1] if np.isfinite(shown).any() else None
            if median is not None:
                ax.plot(lags, median, color=_COLORS[setup], label=REMEDY_SETUPS[setup], linewidth=1.5)
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 2)
        ax.set_title(f"{_TASK_LABELS.get(task, task)}, T = {lengths[task]}")
        ax.set_xlabel("steps back from the last step (lag)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("‖∂L/∂h_t‖ / its peak")
    axes[0][-1].legend(fontsize=7, ncol=2)
    return Figure(
        "How far back the gradient reaches after training",
        "‖∂L/∂h_t‖ against the number of steps back from the scored last step, relative to its peak, "
        "median over seeds, measured after training on fresh sequences. A steep fall means the early steps "
        "receive no error signal. The echo state network has only the last step: nothing flows back through "
        "its reservoir, which is never trained, so it needs no gradient there. Truncated BPTT stops at its "
        "window by design.",
        _png(fig),
    )
