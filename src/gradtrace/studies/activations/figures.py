"""Figures of the activations study: each function and its derivative, and the bound (max φ′)^M."""

from __future__ import annotations

import math

import numpy as np

from gradtrace.report.figures import Figure, Table, _png, _runs, _size, plt
from gradtrace.store import Store

__all__ = ["draw"]

_VALUE_COLOR, _DERIVATIVE_COLOR, _SUPREMUM_COLOR = "#1f77b4", "#d62728", "#555555"
_COLORS = {"step": "#7f7f7f", "sigmoid": "#d62728", "tanh": "#ff7f0e", "relu": "#1f77b4", "leaky_relu": "#17becf",
           "prelu": "#9467bd", "gelu": "#2ca02c", "linear": "#000000"}


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the activations study: function and derivative per activation, the chain-rule bound, the table.

    Args:
        store: a run store holding runs of the ``activations`` study.

    Returns:
        The figures and the table "Derivative bounds per activation"; empty lists when the store holds no
        finished run of the study.
    """
    runs = [r for r in _runs(store, "activations") if r.status == "finished" and "derivative" in r.arrays]
    if not runs:
        return [], []
    return [_functions(runs), _bounds(runs)], [_table(runs)]


def _supremum_label(value: float) -> str:
    return f"max {value:.4g}" if value else "max 0 (φ′ = 0 almost everywhere)"


def _functions(runs) -> Figure:
    columns = min(4, len(runs))
    rows = math.ceil(len(runs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=_size(3.3 * columns, 2.9 * rows), squeeze=False, sharex=True)
    for ax, run in zip(axes.flat, runs):
        a, s = run.arrays, run.summary
        ax.plot(a["x"], a["value"], color=_VALUE_COLOR, linewidth=1.6, label="φ(x)")
        ax.plot(a["x"], a["derivative"], color=_DERIVATIVE_COLOR, linewidth=1.6, linestyle="--", label="φ′(x)")
        supremum = s["max_derivative"]
        ax.axhline(supremum, color=_SUPREMUM_COLOR, linestyle=":", linewidth=1.2,
                   label="sup φ′: the most one layer multiplies the gradient by")
        ax.annotate(_supremum_label(supremum), (a["x"][0], supremum), xytext=(2, 3), textcoords="offset points",
                    color=_SUPREMUM_COLOR, va="bottom")
        ax.axhline(0.0, color="black", linewidth=0.5, alpha=0.5)
        ax.axvline(0.0, color="black", linewidth=0.5, alpha=0.5)
        # Unbounded functions (ReLU, linear) would squash the derivative: frame what matters, φ′ and φ near 0.
        ax.set_ylim(min(-1.2, float(np.min(a["derivative"])) - 0.1), max(1.35, supremum + 0.35))
        title = run.name + (" (saturating)" if s["saturating"] else "")
        title += " (learnable slope)" if s["learnable"] else ""
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("pre-activation x")
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    return Figure(
        "Activation functions and their derivatives",
        "Solid: the function; dashed: its derivative; dotted: the derivative's supremum, the most one layer "
        "can multiply the gradient by. The sigmoid's derivative never exceeds 0.25 and tanh's never exceeds "
        "1, and both fall to almost 0 for large |x| (saturation): a saturated unit passes almost no gradient. "
        "ReLU's derivative is exactly 1 for x > 0 and exactly 0 below (a unit that stays below 0 passes no "
        "gradient, ever); Leaky ReLU and PReLU keep a small slope there. GELU's derivative overshoots 1 "
        "slightly (1.129 at x = √2) and dips below 0. The step function's derivative is 0 almost everywhere: "
        "nothing to learn from. PReLU is drawn at its starting slope 0.25.",
        _png(fig),
    )


def _bounds(runs) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=_size(12, 4.3), sharey=True)
    groups: dict[float, list] = {}
    for run in runs:
        if run.summary["max_derivative"] > 0:
            groups.setdefault(run.summary["max_derivative"], []).append(run)
    for value, members in sorted(groups.items()):
        first = members[0]
        names = ", ".join(r.name for r in members)
        axes[0].plot(first.arrays["layers"], first.arrays["bound"], marker="o", markersize=3,
                     color=_COLORS.get(first.name, "gray") if len(members) == 1 else "black",
                     label=f"{names}: {value:.4g}^M")
    axes[0].set_title("Best case: (max φ′)^M")
    for run in runs:
        if run.summary["rms_derivative"] > 0:
            axes[1].plot(run.arrays["layers"], run.arrays["typical"], color=_COLORS.get(run.name, "gray"),
                         label=f"{run.name}: {run.summary['rms_derivative']:.3f}^M")
    axes[1].set_title("Typical: (rms φ′ for x ~ N(0, 1))^M")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("layers M")
        ax.grid(True, which="major", alpha=0.3)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.legend(loc="lower left")
    axes[0].set_ylabel("factor the activations allow over M layers")
    return Figure(
        "What the activations let through M layers",
        "The chain rule multiplies the gradient by φ′ once per layer, so over M layers the activations alone "
        "scale it by at most (max φ′)^M (left): 0.25^M for the sigmoid, below 10⁻⁶ after 10 layers and "
        "10⁻¹² after 20, whatever the pre-activations; 1 for tanh and the ReLU family, which therefore leave the "
        "weights to decide. GELU's bound grows, as its derivative exceeds 1 near x = √2. Right: the root mean "
        "square of φ′ when pre-activations are standard normal, a typical rather than a best case; tanh too "
        "falls geometrically there, because it is rarely at its peak. The step function (φ′ = 0) is not drawn.",
        _png(fig),
    )


def _table(runs) -> Table:
    layers = sorted(int(key.split("_")[1]) for key in runs[0].summary if key.startswith("bound_"))
    rows = []
    for run in runs:
        s = run.summary
        rows.append([
            run.name + (" (saturating)" if s["saturating"] else ""),
            f"{s['max_derivative']:.4g}",
            f"{s['derivative_at_0']:.4g}",
            *[f"{s[f'bound_{m}']:.3g}" for m in layers],
            f"{s['rms_derivative']:.3f}",
            f"{s['autograd_difference']:.1e}",
        ])
    config = runs[0].config
    return Table(
        "Derivative bounds per activation",
        ["activation", "max φ′", "φ′(0)", *[f"bound after {m} layers" for m in layers], "rms φ′, x ~ N(0, 1)",
         "|φ′ − autograd| max"],
        rows,
        f"Bound after M layers: (max φ′)^M. φ′(0) for ReLU is 0 by convention (torch's too). rms φ′: the root "
        f"mean square of φ′ for a standard normal pre-activation. Last column: the largest difference between "
        f"the hand-written derivative and autograd's on {config['points']:,} points in "
        f"[−{config['x_max']:g}, {config['x_max']:g}].",
    )
