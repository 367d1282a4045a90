"""Figures of the dying-ReLU study: dead and inactive units over training, per layer at the end."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from gradtrace.report.figures import Figure, Table, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["dying_relu_figures"]

_ACTIVATION_STYLE = {
    "relu": ("#d62728", "ReLU"),
    "leaky_relu": ("#1f77b4", "Leaky ReLU (0.01)"),
    "prelu": ("#2ca02c", "PReLU (learned slope)"),
    "gelu": ("#9467bd", "GELU"),
}
_CONDITION_LABELS = {"normal": "moderate learning rate", "large_lr": "large learning rate",
                     "negative_bias": "negative bias at start"}


def _style(activation: str) -> tuple[str, str]:
    return _ACTIVATION_STYLE.get(activation, ("gray", activation))


def _condition_title(run) -> str:
    condition = run.config["condition"]
    label = _CONDITION_LABELS.get(condition, condition)
    detail = f"SGD lr {run.config['run_lr']:g}"
    if condition == "negative_bias":
        detail += f", biases {run.config['bias']:g}"
    return f"{label}\n({detail})"


def dying_relu_figures(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the dying-relu study."""
    runs = [r for r in _runs(store, "dying-relu") if "dead" in r.arrays and len(r.arrays["probe/step"])]
    if not runs:
        return [], []
    activations = list(dict.fromkeys(r.config["activation"] for r in runs))
    conditions = list(dict.fromkeys(r.config["condition"] for r in runs))
    by_key = {(r.config["activation"], r.config["condition"]): r for r in runs}
    figures = [_over_training(by_key, activations, conditions), _per_layer(by_key, activations, conditions)]
    return figures, [_table(by_key, activations, conditions, runs[0].config)]


def _over_training(by_key, activations, conditions) -> Figure:
    fig, axes = plt.subplots(2, len(conditions), figsize=_size(4.4 * len(conditions), 6.6), squeeze=False, sharex=True,
                             sharey=True)
    for column, condition in enumerate(conditions):
        title = None
        for order, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run)
            color, label = _style(activation)
            steps = run.arrays["probe/step"]
            for row, key in enumerate(("dead", "inactive")):
                # Mean over layers per member; the band spans the seeds. Curves often coincide (every
                # unit of a layer inactive under each activation), so earlier ones are drawn wider.
                low, mid, high = nan_quantiles(run.arrays[key].mean(-1), 1)
                ax = axes[row][column]
                ax.plot(steps, mid, color=color, linewidth=1.2 + 1.2 * (len(activations) - 1 - order), label=label,
                        solid_capstyle="butt")
                ax.fill_between(steps, low, high, color=color, alpha=0.12, linewidth=0)
        axes[0][column].set_title(title or condition, fontsize=10)
        axes[1][column].set_xlabel("training step")
        for row in range(2):
            axes[row][column].set_ylim(-0.02, 1.02)
            axes[row][column].grid(True, alpha=0.3)
    axes[0][0].set_ylabel("dead: φ′ = 0 on every probe point\n(fraction of units, mean over layers)")
    axes[1][0].set_ylabel("inactive: pre-activation ≤ 0 on\nevery probe point (fraction of units)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Dead and inactive units during training",
        "Top: fraction of hidden units that are dead — derivative zero on every one of the probe points, the "
        "trace's definition — averaged over the layers, median over seeds with the min–max band. Bottom: "
        "fraction inactive — pre-activation ≤ 0 on every probe point. For ReLU the two are the same; a Leaky "
        "ReLU, PReLU or GELU unit is inactive but never dead: it still passes back its small negative-side "
        "slope, so it may come back. A flat line above zero means units that stay off; a falling one, units "
        "coming back. Coinciding curves are drawn as nested stripes; a line that stops belongs to members "
        "whose training diverged.",
        _png(fig),
    )


def _per_layer(by_key, activations, conditions) -> Figure:
    fig, axes = plt.subplots(1, len(conditions), figsize=_size(4.6 * len(conditions), 3.6), squeeze=False, sharey=True)
    width = 0.8 / max(len(activations), 1)
    depth = 1
    for ax, condition in zip(axes[0], conditions):
        title = None
        for i, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run)
            color, label = _style(activation)
            inactive = nan_quantiles(run.arrays["inactive"][-1], 0, (0.5,))[0]   # (M,)
            dead = nan_quantiles(run.arrays["dead"][-1], 0, (0.5,))[0]
            depth = max(depth, len(inactive))
            layers = np.arange(1, len(inactive) + 1) + (i - (len(activations) - 1) / 2) * width
            ax.bar(layers, np.nan_to_num(inactive), width=width * 0.9, color=color, alpha=0.3,
                   edgecolor=color, linewidth=0.8)
            ax.bar(layers, np.nan_to_num(dead), width=width * 0.9, color=color, label=label)
            for x in layers[np.isnan(inactive)]:
                # No bar is not zero: every seed of this run diverged, so it has no end state.
                ax.text(x, 0.02, "diverged", rotation=90, ha="center", va="bottom", color=color)
        ax.set_xticks(range(1, depth + 1))
        ax.set_title(title or condition, fontsize=10)
        ax.set_xlabel("hidden layer (1 = next to the input)")
        ax.set_ylim(0, 1.02)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("fraction of the layer's units at the end")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    handles.append(Patch(facecolor="gray", alpha=0.3, edgecolor="gray"))
    labels.append("light bar: inactive")
    axes[0][-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Dead and inactive units per layer after training",
        "For each hidden layer, the fraction of units dead (solid bar) and inactive (light bar behind it) "
        "on the probe points at the end of training, median over seeds (diverged members left out; "
        "\"diverged\" marks a run none of whose seeds finished). "
        "Deaths pile up in the deeper layers: a layer whose units are all dead cuts the network in two, "
        "and nothing below it learns again.",
        _png(fig),
    )


def _percent(value: float) -> str:
    """A fraction as a percentage; NaN (every seed diverged) as "diverged"."""
    return "diverged" if value != value else f"{value:.0%}"


def _table(by_key, activations, conditions, config) -> Table:
    rows = []
    for condition in conditions:
        for activation in activations:
            run = by_key.get((activation, condition))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            revived = f"{s['revived']} of {s['ever_inactive']}" if s["ever_inactive"] else "—"
            rows.append([
                _CONDITION_LABELS.get(condition, condition), _style(activation)[1], f"{s['lr']:g}",
                f"{_percent(s['dead_init'])} → {_percent(s['dead_end'])}",
                f"{_percent(s['inactive_init'])} → {_percent(s['inactive_end'])}",
                revived, str(s["died"]),
                "—" if s["task/accuracy"] != s["task/accuracy"] else f"{s['task/accuracy']:.1%}",
                f"{s['successes']}/{s['seeds']}", f"{s['diverged']}/{s['seeds']}",
            ])
    return Table(
        "Dead units, revivals and accuracy",
        ["condition", "activation", "SGD lr", "dead: start → end", "inactive: start → end",
         "units revived (of ever inactive)", "units died", "held-out accuracy", "solved", "diverged"],
        rows,
        f"MLP of {config['depth']} hidden layers × {config['width']} units ({config['init']} init), two "
        f"concentric circles, plain SGD for {config['steps']} steps of {config['batch_size']} points, "
        f"{config['seeds']} seeds. Dead and inactive: fraction of hidden units, mean over layers, median over "
        f"seeds, measured on {config['probe_batch_size']} fixed probe points every {config['measure_every']} "
        "steps. A unit is revived when it was inactive at some measurement and is active at the end; died: "
        "active at the start and inactive at the end (both counted over the seeds that did not diverge). "
        f"Accuracy: median over seeds on {config['eval_batch_size']} held-out points; solved: at least 99 % right.",
    )
