"""Figures of the jaeger2001 study: NRMSE84 beside Jaeger's, error against horizon, a free run."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_PUBLISHED_LABEL = "ESN, tau=17: NRMSE84"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the jaeger2001 study."""
    runs = sorted((r for r in _runs(store, "jaeger2001") if r.summary), key=lambda r: r.summary["train_length"])
    if not runs:
        return [], []
    published = get_published("jaeger2001")
    points = dict(published.series_named(_PUBLISHED_LABEL).points)
    config = runs[0].config
    figures = [_nrmse84(runs, points), _by_horizon(runs, points, config), _free_run(runs[-1], config)]
    rows = []
    for run in runs:
        s = run.summary
        length = s["train_length"]
        reference = points.get(length)
        rows.append([
            f"NRMSE84, τ = {config['tau']:g}, {length:,} training steps",
            f"{reference:.1e} (Jaeger 2001, mean of 20 runs)" if reference else "— (not published for this length)",
            f"{s['nrmse84']:.2e} median [{s['nrmse84_low']:.1e}, {s['nrmse84_high']:.1e}] over {s['seeds']} seeds",
            f"{config['reservoir_size']} units, {length:,} teacher-forced steps, one ridge solve "
            f"({s['fit_seconds']:.2f} s for all seeds)",
        ])
        rows.append([
            f"one-step NRMSE, {length:,} training steps", "— (not reported)",
            f"{s['nrmse1']:.2e} median over {s['seeds']} seeds", "teacher-forced on held-out data",
        ])
    table = Table(
        "Jaeger 2001: published vs ours",
        ["setting", "published", "ours", "budget"],
        rows,
        f"Ours: {config['reservoir_size']}-unit tanh reservoir (spectral radius {config['spectral_radius']:g}, "
        f"leak rate {config['leak_rate']:g}, connectivity {config['connectivity']:g}, bias weights "
        f"U(±{config['bias_scaling']:g})), the previous value as input in place of Jaeger's output feedback "
        f"(the same loop when teacher-forced), ridge {config['ridge']:g} in place of plain least squares, RK4 "
        f"integration in place of Euler steps of 1/10; first {config['washout']} states discarded; each "
        f"free run follows {config['teacher_forced']} teacher-forced steps; NRMSE84 is the RMS error at step "
        f"{config['horizon']} over {config['test_starts']} starting points per seed, in the original "
        f"coordinates, divided by the series' standard deviation. {published.source}.",
    )
    return figures, [table]


def _nrmse84(runs, points) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.2, 4.0))
    lengths = [r.summary["train_length"] for r in runs]
    for run in runs:
        values = np.asarray(run.arrays["nrmse84"], dtype=float)
        jitter = np.linspace(-0.04, 0.04, len(values))
        ax.scatter(run.summary["train_length"] * (1 + jitter), values, color="#1f77b4", alpha=0.5, s=14)
    ax.plot(lengths, [r.summary["nrmse84"] for r in runs], color="#1f77b4", marker="o",
            label="ours (median over seeds)")
    if points:
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], color="black", marker="s", linestyle="--",
                label="published (Jaeger 2001)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training sequence length (steps)")
    ax.set_ylabel("NRMSE 84 steps ahead")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return Figure(
        "NRMSE84 against the training length",
        "Error of the free-running prediction 84 steps ahead; each dot is one seed (one reservoir), the line "
        "their median; black squares are Jaeger's published values (mean of 20 runs).",
        _png(fig),
    )


def _by_horizon(runs, points, config) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.2, 4.0))
    colors = plt.cm.viridis(np.linspace(0.1, 0.8, len(runs)))
    for color, run in zip(colors, runs):
        curves = np.asarray(run.arrays["nrmse_by_horizon"], dtype=float)  # (K, horizon)
        steps = np.arange(1, curves.shape[1] + 1)
        _band(ax, steps, curves, color, f"ours, {run.summary['train_length']:,} training steps", axis=0)
        reference = points.get(run.summary["train_length"])
        if reference:
            ax.plot([config["horizon"]], [reference], marker="s", color=color, markeredgecolor="black",
                    linestyle="none", label=f"published, {run.summary['train_length']:,} steps")
    ax.set_yscale("log")
    ax.set_xlabel("free-running steps")
    ax.set_ylabel("NRMSE")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return Figure(
        "Error against the free-run horizon",
        "RMS error k steps into the free run (median over seeds, min–max band): the chaotic attractor "
        "amplifies the one-step error roughly exponentially, which is why NRMSE84 is a hard test.",
        _png(fig),
    )


def _free_run(run, config) -> Figure:
    fig, ax = plt.subplots(figsize=_size(9, 3.2))
    truth, free = run.arrays["free_run_truth"], run.arrays["free_run"]
    steps = np.arange(len(truth))
    ax.plot(steps, truth, color="black", linewidth=1.2, label="Mackey-Glass (τ = 17)")
    ax.plot(steps, free, color="#d62728", linewidth=1.0, linestyle="--", label="ESN running free")
    ax.axvline(config["horizon"], color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("free-running steps")
    ax.set_ylabel("x(t)")
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    return Figure(
        f"A free run ({run.summary['train_length']:,} training steps, seed 0)",
        "After teacher forcing, the network's own prediction is its next input. The dotted line marks step "
        "84. Nothing is back-propagated through the reservoir: it is never trained, so no gradient can vanish "
        "in it; the readout is one linear solve.",
        _png(fig),
    )
