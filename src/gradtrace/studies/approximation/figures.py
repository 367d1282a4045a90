"""Figures of the approximation study: decision boundaries, XOR seed by seed, fitted functions, a table."""

from __future__ import annotations

import math

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import RunRecord, Store

__all__ = ["draw"]

_CLASS_COLORS = ("#1f77b4", "#d62728")  # class 0 (or XOR output 0), class 1
_SOLVED, _STUCK = "#2ca02c", "#d62728"
# XOR members drawn one by one: enough to see the stuck ones among the solved, small enough to read.
_XOR_PANELS = 10
# A positive domain spanning at least this ratio is drawn on a log x axis (1/x on [1, 100]), where the
# steep part near the left end would otherwise be a few pixels wide.
_LOG_X_RATIO = 20.0


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the approximation study."""
    runs = [r for r in _runs(store, "approximation") if r.status == "finished" and r.summary]
    if not runs:
        return [], []
    plane = [r for r in runs if "grid/value" in r.arrays]
    curves = [r for r in runs if "curve/fit" in r.arrays]
    xor = [r for r in plane if r.name.startswith("xor")]
    figures = []
    if plane:
        figures.append(_boundaries(plane))
    if xor:
        figures.append(_xor_seeds(xor))
    if curves:
        figures.append(_functions(curves))
    figures.append(_learning_curves(runs))
    return figures, [_table(runs)]


def _title(run: RunRecord) -> str:
    s = run.summary
    return f"{run.config['label']}, {s['network']}"


def _surface(ax, run: RunRecord, member: int, *, points: bool = True, size: float = 8.0):
    """Draw member's output over the plane, its 1/2 level (the decision boundary) and the held-out points.

    Returns the filled contour, for a color bar.
    """
    a = run.arrays
    value = a["grid/value"][member]
    filled = ax.contourf(a["grid/x"], a["grid/y"], np.clip(value, 0.0, 1.0), levels=np.linspace(0, 1, 11),
                         cmap="RdBu_r", alpha=0.55)
    if value.min() < 0.5 < value.max():
        ax.contour(a["grid/x"], a["grid/y"], value, levels=[0.5], colors="black", linewidths=1.4)
    if points:
        inputs, labels = a["points/inputs"], a["points/label"]
        for label, color in enumerate(_CLASS_COLORS):
            chosen = labels == label
            ax.scatter(inputs[chosen, 0], inputs[chosen, 1], s=size, color=color, edgecolors="white",
                       linewidths=0.4 if size < 30 else 1.0, zorder=3)
    ax.set_aspect("equal")
    return filled


def _boundaries(runs: list[RunRecord]) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(3.6 * len(runs) + 0.8, 3.9), squeeze=False,
                             constrained_layout=True)
    filled = None
    for ax, run in zip(axes[0], runs):
        s = run.summary
        member = s["median_member"]
        xor = run.name.startswith("xor")
        filled = _surface(ax, run, member, size=90.0 if xor else 6.0)
        accuracy = run.arrays["test/accuracy"][member]
        ax.set_title(f"{_title(run)}\nseed {member}: {accuracy:.1%} right; "
                     f"{s['successes']}/{s['seeds']} seeds solved")
        ax.set_xlabel("$x_1$")
    axes[0][0].set_ylabel("$x_2$")
    fig.colorbar(filled, ax=axes[0].tolist(), label="output: ŷ (XOR) or P(class 1)", shrink=0.85)
    return Figure(
        "Decision boundaries",
        "Each panel is the member whose held-out loss is the median over seeds. Color is the network's "
        "output over the plane — ŷ for XOR (a regression on the labels 0 and 1), the probability of class 1 for "
        "circles and spirals — and the black line its level 1/2, the decision boundary; dots are the held-out "
        "points (XOR: the four points of the truth table), colored by their true class (blue 0, red 1). The "
        "title counts the seeds that solved the problem: every XOR point right, or ≥ 99% of held-out points "
        "right.",
        _png(fig),
    )


def _xor_seeds(runs: list[RunRecord]) -> Figure:
    panels = min(_XOR_PANELS, max(len(r.arrays["success"]) for r in runs))
    fig, axes = plt.subplots(len(runs), panels, figsize=_size(1.45 * panels, 1.7 * len(runs) + 0.3), squeeze=False)
    for row, run in zip(axes, runs):
        success = run.arrays["success"]
        for k, ax in enumerate(row):
            if k >= len(success):
                ax.axis("off")
                continue
            _surface(ax, run, k, size=28.0)
            color = _SOLVED if success[k] else _STUCK
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(2.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"seed {k}: {'solved' if success[k] else 'stuck'}", color=color)
        row[0].set_ylabel(f"{run.summary['network']}\n{int(success.sum())}/{len(success)} solved")
    stuck = []
    for run in runs:
        losses = run.arrays["test/loss"][~run.arrays["success"].astype(bool)]
        if losses.size:
            stuck.append(f"{run.summary['network']}: " + ", ".join(f"{loss:.3f}" for loss in np.sort(losses)))
    where = (" Final loss of the seeds that did not solve it (every seed, not only those drawn) — "
             + "; ".join(stuck) + ".") if stuck else ""
    return Figure(
        "XOR, seed by seed",
        f"The first {panels} seeds of each 2-2-1 network, framed green when all four points are right and red "
        "when not; color as in the decision boundaries. A red panel is a local minimum of the 2-2-1 network "
        "rather than a short budget: the seeds that solve it do so within a few hundred steps, and in a check "
        "with 50 seeds trained to 5000 steps none of the others left its plateau at a loss of 1/8 or 1/6 "
        f"(the best constant answer scores 1/4).{where}",
        _png(fig),
    )


def _functions(runs: list[RunRecord]) -> Figure:
    fig, axes = plt.subplots(2, len(runs), figsize=_size(4.8 * len(runs), 6.4), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1.2]}, sharex="col")
    for top, bottom, run in zip(axes[0], axes[1], runs):
        a, s = run.arrays, run.summary
        x, truth, fitted = a["curve/x"], a["curve/truth"], a["curve/fit"]
        colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(fitted)))
        for color, curve in zip(colors, fitted):
            top.plot(x, curve, color=color, linewidth=0.8, alpha=0.7)
            bottom.plot(x, curve - truth, color=color, linewidth=0.8, alpha=0.7)
        top.plot(x, truth, color="black", linestyle="--", linewidth=1.8, label="truth")
        top.plot([], [], color=colors[len(colors) // 2], linewidth=0.8, label=f"fits ({len(fitted)} seeds)")
        tolerance = s["tolerance"]
        bottom.axhspan(-tolerance, tolerance, color="gray", alpha=0.2, linewidth=0, label="±5% of the range")
        bottom.axhline(0.0, color="black", linewidth=0.8)
        if x[0] > 0 and x[-1] / x[0] >= _LOG_X_RATIO:
            bottom.set_xscale("log")
        top.set_title(f"{_title(run)}: {s['successes']}/{s['seeds']} seeds solved\n"
                      f"RMSE {s['rmse']:.3g}, max |error| {s['max_error']:.3g} (median over seeds)")
        top.legend()
        top.grid(True, alpha=0.3)
        bottom.grid(True, alpha=0.3)
        bottom.set_xlabel("x")
        bottom.legend(loc="lower right")
    axes[0][0].set_ylabel("f(x) and the network's fit")
    axes[1][0].set_ylabel("fit − truth")
    return Figure(
        "Fitted functions against the truth",
        "Top: every seed's fitted curve (thin, one color per seed) on an even grid of the domain, against the "
        "truth (dashed). Bottom: the error fit − truth; the gray band is the success tolerance, 5% of the "
        "function's range, which a seed must meet on ≥ 99% of the grid. The title gives the root-mean-square and "
        "the largest error over the grid, median over seeds. 1/x is drawn on a log axis: its steep part near x = 1 "
        "holds 1% of the domain and of the training points, and on the network's input, x scaled onto [−1, 1], "
        "the function falls with slope 50 there; a seed that has not built so steep a unit misses it, with its "
        "largest error at the left end.",
        _png(fig),
    )


def _learning_curves(runs: list[RunRecord]) -> Figure:
    columns = min(len(runs), 4)
    rows = math.ceil(len(runs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=_size(3.2 * columns, 2.9 * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for ax, run in zip(axes.flat, runs):
        steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
        shown = np.where(np.isfinite(loss) & (loss > 0), loss, np.nan)
        if len(steps) and np.isfinite(shown).any():
            _band(ax, steps, shown, "#1f77b4", "held-out loss", axis=1)
        ax.axhline(run.summary["baseline_loss"], color="black", linestyle=":", linewidth=1, label="baseline")
        ax.set_yscale("log")
        ax.set_title(f"{run.config['label']}\n{run.summary['network']}")
        ax.set_xlabel("training step")
        ax.tick_params(which="both", labelsize=10)
        ax.grid(True, alpha=0.3)
    for row in axes:
        row[0].set_ylabel("held-out loss")
    axes.flat[0].legend()
    return Figure(
        "Learning curves",
        "Loss on a held-out batch drawn from the training distribution during training: median over seeds with "
        "the min–max band (log scale). MSE for XOR and the functions, cross-entropy for circles and spirals; the "
        "dotted line is the best constant answer. A band whose top stays flat is a seed that stopped learning.",
        _png(fig),
    )


def _table(runs: list[RunRecord]) -> Table:
    rows = []
    for run in runs:
        s, c = run.summary, run.config
        solved = f"{s['successes']}/{s['seeds']} [{s['success_low']:.0%}, {s['success_high']:.0%}]"
        if "accuracy" in s:
            error = f"accuracy {s['accuracy']:.1%} (worst seed {s['accuracy_min']:.1%})"
        else:
            error = f"RMSE {s['rmse']:.3g} / max {s['max_error']:.3g} (worst seed max {s['worst_max_error']:.3g})"
        rows.append([c["label"], s["network"], solved, error, str(s["steps"]),
                     "—" if math.isnan(s["solved_at"]) else f"{s['solved_at']:.0f}"])
    config = runs[0].config
    return Table(
        "Universal approximation, problem by problem",
        ["problem", "network", "solved k/n [Wilson 95%]", "accuracy, or RMSE / max |error| (median over seeds)",
         "steps", "solved by step (median)"],
        rows,
        "Solved: all four XOR points right; ≥ 99% of held-out points right (circles, spirals, "
        f"{config['test_points']} held-out points); ≥ 99% of {config['curve_points']} grid points within 5% of the "
        "function's range (functions). Adam on a fixed training set per seed (XOR: full batch on "
        f"{config['xor_examples']} draws of the four points); errors of the functions on the even grid. Solved by "
        "step: first evaluation during training at which a seed met the criterion on a held-out batch, median over "
        "the seeds that did.",
    )
