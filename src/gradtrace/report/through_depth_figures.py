"""Figures of the through-depth study: the gradient layer by layer, against depth, and learning speed."""

from __future__ import annotations

import numpy as np

from gradtrace.activations import ACTIVATIONS
from gradtrace.report.figures import Figure, Table, _band, _png, _runs, plt
from gradtrace.store import RunRecord, Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["through_depth_figures", "through_depth_headline"]

_STUDY = "through-depth"
_ACTIVATION_STYLE = {
    "sigmoid": ("#d62728", "sigmoid"),
    "tanh": ("#ff7f0e", "tanh"),
    "relu": ("#1f77b4", "ReLU"),
    "leaky_relu": ("#2ca02c", "leaky ReLU"),
    "gelu": ("#9467bd", "GELU"),
    "prelu": ("#8c564b", "PReLU"),
    "linear": ("#7f7f7f", "linear"),
}
_VARIANT_LABELS = {
    "plain": "plain (Xavier / He init)",
    "standard_init": "plain, standard init U[±1/√n]",
    "batch_norm": "+ batch norm",
    "residual": "+ residual connections",
}
# ReLU and leaky ReLU trace almost the same curves: the dashes keep both visible.
_ACTIVATION_LINES = {"leaky_relu": "--"}
_VARIANT_TICKS = {"plain": "plain\n(Xavier / He)", "standard_init": "standard init\nU[±1/√n]",
                  "batch_norm": "+ batch norm", "residual": "+ residual"}
_VARIANT_SHORT = {"plain": "", "standard_init": ", standard init", "batch_norm": " + BN", "residual": " + residual"}
_INIT_LABELS = {"xavier_uniform": "Xavier", "kaiming_uniform": "He", "uniform": "U[±1/√n]"}
# Heat-map colors saturate beyond this many decades, so a sigmoid's 10⁻¹² leaves contrast for the rest.
_HEATMAP_DECADES = 6.0
# The runs drawn one by one (heat maps, per-layer learning speed): the ones the story turns on.
_KEY_RUNS = ("sigmoid-plain", "tanh-standard_init", "tanh-plain", "relu-plain", "relu-batch_norm", "relu-residual")
_SIGMOID_SLOPE = ACTIVATIONS["sigmoid"].max_derivative


def _label(activation: str, variant: str) -> str:
    return _ACTIVATION_STYLE.get(activation, ("gray", activation))[1] + _VARIANT_SHORT.get(variant, f" {variant}")


def _relative(profile: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_l‖ / ‖∂L/∂h_M‖ along the last axis; NaN where either is zero or not finite."""
    profile = np.asarray(profile, dtype=np.float64)
    last = profile[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = profile / last
    return np.where(np.isfinite(relative) & (relative > 0), relative, np.nan)


def _cell(values: np.ndarray) -> str:
    low, mid, high = nan_quantiles(np.asarray(values, dtype=np.float64)[None], 1)[:, 0]
    if np.isnan(mid):
        return "—"
    return f"{mid:.2g} [{low:.2g}, {high:.2g}]"


def through_depth_figures(store: Store) -> tuple[list[Figure], list[Table]]:
    """Draw the through-depth study: profiles at init and trained, heat maps, ratio vs depth, learning speed."""
    runs = _runs(store, _STUDY)
    trained = [r for r in runs if "init/grad_norms" in r.arrays and not r.name.startswith("depth-")]
    sweeps = [r for r in runs if r.name.startswith("depth-") and "first_last_ratio" in r.arrays]
    figures, tables = [], []
    if trained:
        figures.append(_profiles(trained))
        with_trace = [r for r in trained if r.arrays.get("trace/grad_norms") is not None
                      and r.arrays["trace/grad_norms"].size]
        if with_trace:
            figures.append(_heatmaps(with_trace))
    if sweeps:
        figures.append(_against_depth(sweeps))
    learned = [r for r in trained if "relative_weight_change" in r.arrays]
    if learned:
        figures.append(_learning_speed(learned))
        tables.append(_run_table(store, learned))
    if sweeps:
        tables.append(_sweep_table(sweeps))
    return figures, tables


def through_depth_headline(store: Store) -> str | None:
    """Return one sentence with the first/last ratios at init of sigmoid, ReLU, ReLU + BN and residual ReLU.

    None when the store holds none of those runs.
    """
    parts = []
    depth = seeds = None
    for name, label in (("sigmoid-plain", "sigmoid"), ("relu-plain", "ReLU"),
                        ("relu-batch_norm", "ReLU + batch norm"), ("relu-residual", "ReLU + residual")):
        if name not in store.names(_STUDY):
            continue
        run = store.get(_STUDY, name)
        if "init/first_last_ratio" not in run.summary:
            continue
        depth, seeds = run.summary["depth"], run.summary["seeds"]
        parts.append(f"{label} {run.summary['init/first_last_ratio']:.2g}")
        if name == "sigmoid-plain":
            parts[-1] += f" (0.25^{depth - 1} = {_SIGMOID_SLOPE ** (depth - 1):.2g})"
    if not parts:
        return None
    return (f"At depth {depth}, ‖∂L/∂h_1‖ / ‖∂L/∂h_{depth}‖ at initialization (median of {seeds} seeds): "
            + ", ".join(parts) + ".")


def _profiles(runs: list[RunRecord]) -> Figure:
    variants = [v for v in _VARIANT_LABELS if any(r.config["variant"] == v for r in runs)]
    fig, axes = plt.subplots(2, len(variants), figsize=(4.2 * len(variants), 7.2), squeeze=False, sharey=True,
                             layout="constrained")
    depth = runs[0].config["depth"]
    layers = np.arange(1, depth + 1)
    for row, (phase, when) in enumerate((("init", "at initialization"), ("trained", "after training"))):
        for column, variant in enumerate(variants):
            ax = axes[row][column]
            for run in runs:
                key = f"{phase}/grad_norms"
                if run.config["variant"] != variant or key not in run.arrays:
                    continue
                activation = run.config["activation"]
                color, label = _ACTIVATION_STYLE.get(activation, ("gray", activation))
                relative = _relative(run.arrays[key])
                if np.isfinite(relative).any():
                    _band(ax, layers, relative, color, label, linestyle=_ACTIVATION_LINES.get(activation, "-"))
                if activation == "sigmoid" and variant in ("plain", "standard_init"):
                    ax.plot(layers, _SIGMOID_SLOPE ** (depth - layers.astype(float)), color=color,
                            linestyle="--", linewidth=1, label="0.25^(M−l): σ′ ≤ 1/4")
            ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
            ax.set_yscale("log")
            ax.set_title(f"{_VARIANT_LABELS[variant]}\n{when}", fontsize=10)
            if row == 1:
                ax.set_xlabel("hidden layer l (1 = next to the input)")
            ax.grid(True, which="major", alpha=0.3)
            if row == 0 and column < 2:
                ax.legend(fontsize=7, loc="lower right")
        axes[row][0].set_ylabel(r"$\|\partial L/\partial h_l\|\ /\ \|\partial L/\partial h_M\|$")
    config = runs[0].config
    return Figure(
        "Gradient through depth, layer by layer",
        f"Norm of ∂L/∂h_l at each hidden layer of a {depth}-layer, {config['width']}-unit MLP, relative to the last "
        f"hidden layer (median over {config['seeds']} seeds, band: min–max), on a fixed batch of the circles task; "
        f"top at initialization, bottom after {config['steps']} {config['optimizer']} steps. A line falling to the "
        "left is a vanishing gradient: the first layers receive almost nothing. The dashed red line is 0.25^(M−l), "
        "what the sigmoid's derivative alone lets through (the weights multiply it by up to ‖W_l‖ per layer). "
        "Xavier/He init keeps the tanh and ReLU-family profiles within a few decades; the standard U[±1/√n] init "
        "makes every activation's gradient vanish. Batch norm and residual connections make the gradient grow "
        "towards the input instead (a line above 1 on the left).",
        _png(fig),
    )


def _heatmaps(runs: list[RunRecord]) -> Figure:
    by_name = {r.name: r for r in runs}
    chosen = [by_name[n] for n in _KEY_RUNS if n in by_name] or runs[:6]
    maps = []
    for run in chosen:
        relative = _relative(np.moveaxis(run.arrays["trace/grad_norms"], 1, 0))  # (K, s, M)
        with np.errstate(divide="ignore", invalid="ignore"):
            maps.append(nan_quantiles(np.log10(relative), 0)[1])                # (s, M)
    finite = [np.abs(m[np.isfinite(m)]) for m in maps if np.isfinite(m).any()]
    limit = min(_HEATMAP_DECADES, max(1.0, max((float(f.max()) for f in finite), default=1.0)))
    columns = 3 if len(chosen) > 4 else min(2, len(chosen))
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False, layout="constrained")
    image = None
    for ax, run, values in zip(axes.flat, chosen, maps):
        steps = run.arrays["trace/step"].astype(float)
        depth = values.shape[1]
        step_edges = np.append(steps, steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else 1.0))
        layer_edges = np.arange(0.5, depth + 1.0)
        image = ax.pcolormesh(step_edges, layer_edges, values.T, cmap="RdBu_r", vmin=-limit, vmax=limit,
                              shading="flat")
        ax.set_title(_label(run.config["activation"], run.config["variant"]), fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("hidden layer l")
        ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, extend="both",
                     label=r"$\log_{10}\ \|\partial L/\partial h_l\| / \|\partial L/\partial h_M\|$ (median of seeds)")
    return Figure(
        "Gradient through depth during training",
        "Each cell: log₁₀ of ‖∂L/∂h_l‖ relative to the last hidden layer on the training batch of that step (median "
        f"over seeds; the colors saturate at ±{_HEATMAP_DECADES:g} decades). Blue: the gradient has vanished on its "
        "way down to layer l; red: it has grown. Where a column "
        "keeps its color through training, training did not change how the gradient travels: a deep sigmoid network's "
        "lower layers stay beyond the color scale; the profile of a network that trains moves within a few decades.",
        _png(fig),
    )


def _against_depth(runs: list[RunRecord]) -> Figure:
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    depths_seen: set[int] = set()
    for run in runs:
        activation, variant = run.config["activation"], run.config["variant"]
        color = _ACTIVATION_STYLE.get(activation, ("gray", activation))[0]
        linestyle = {"plain": "-", "standard_init": ":", "batch_norm": "--", "residual": "-."}.get(variant, "-")
        depths = run.arrays["depths"]
        depths_seen.update(int(d) for d in depths)
        ratio = np.where(run.arrays["first_last_ratio"] > 0, run.arrays["first_last_ratio"], np.nan)
        _band(ax, depths, ratio, color, _label(activation, variant), linestyle=linestyle)
        ax.plot(depths, nan_quantiles(ratio, 0)[1], color=color, marker="o", markersize=3, linestyle="none")
    grid = np.array(sorted(depths_seen), dtype=float)
    ax.plot(grid, _SIGMOID_SLOPE ** (grid - 1), color="black", linestyle="--", linewidth=1,
            label="0.25^(M−1): sigmoid's σ′ share")
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("depth M (hidden layers)")
    ax.set_ylabel(r"$\|\partial L/\partial h_1\|\ /\ \|\partial L/\partial h_M\|$ at initialization")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    config = runs[0].config
    return Figure(
        "First-to-last gradient ratio against depth",
        f"How much of the gradient at the last hidden layer reaches the first, at initialization, for MLPs of width "
        f"{config['width']} and depth M (median over {config['seeds']} seeds, band: min–max). The dashed black line "
        "is 0.25^(M−1), the sigmoid derivative's share over the M − 1 layer Jacobians between them: the measured "
        "sigmoid ratio falls with it, geometrically in M. ReLU with He init keeps the ratio near 1, drifting down with "
        "depth at this width; batch norm and residual connections make it grow geometrically instead — batch norm's "
        "gradient explosion at initialization (Yang et al. 2019) and the identity added to every residual Jacobian.",
        _png(fig),
    )


def _learning_speed(runs: list[RunRecord]) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.4), layout="constrained")
    by_name = {r.name: r for r in runs}
    chosen = [by_name[n] for n in _KEY_RUNS if n in by_name] or runs[:6]
    linestyles = {"plain": "-", "standard_init": ":", "batch_norm": "--", "residual": "-."}
    for run in chosen:
        change = run.arrays["relative_weight_change"][:, :-1]   # W_1 … W_M, without W_out
        change = np.where(change > 0, change, np.nan)
        layers = np.arange(1, change.shape[1] + 1)
        activation, variant = run.config["activation"], run.config["variant"]
        _band(left, layers, change, _ACTIVATION_STYLE.get(activation, ("gray", activation))[0],
              _label(activation, variant), linestyle=linestyles.get(variant, "-"))
    left.set_yscale("log")
    left.set_xlabel("hidden layer l (weights W_l)")
    left.set_ylabel(r"$\|W_l(\mathrm{end}) - W_l(0)\|\ /\ \|W_l(0)\|$")
    left.set_title("How far each layer's weights moved", fontsize=10)
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=7)

    variants = [v for v in _VARIANT_LABELS if any(r.config["variant"] == v for r in runs)]
    activations = list(dict.fromkeys(r.config["activation"] for r in runs))
    width = 0.8 / max(len(activations), 1)
    by_key = {(r.config["activation"], r.config["variant"]): r for r in runs}
    labelled: set[str] = set()
    for i, activation in enumerate(activations):
        color, label = _ACTIVATION_STYLE.get(activation, ("gray", activation))
        for j, variant in enumerate(variants):
            run = by_key.get((activation, variant))
            if run is None:
                continue
            change = run.arrays["relative_weight_change"]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = change[:, 0] / change[:, -2]
            ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, np.nan)
            low, mid, high = nan_quantiles(ratio[None], 1)[:, 0]
            if np.isnan(mid):
                continue
            x = j - 0.4 + width * (i + 0.5)
            right.bar(x, mid, width=width * 0.9, color=color, label=None if activation in labelled else label)
            labelled.add(activation)
            right.errorbar(x, mid, yerr=[[mid - low], [high - mid]], color="black", linewidth=0.8, capsize=2)
    right.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    right.set_yscale("log")
    right.set_xticks(range(len(variants)), [_VARIANT_TICKS[v] for v in variants], fontsize=8)
    right.set_ylabel("learning speed, first / last hidden layer")
    right.set_title("Relative weight change of W_1 over W_M", fontsize=10)
    right.grid(True, axis="y", which="major", alpha=0.3)
    right.legend(fontsize=7)
    config = runs[0].config
    return Figure(
        "First-layer against last-layer learning speed",
        f"Left: how far each hidden layer's weights moved during {config['steps']} {config['optimizer']} steps, "
        "relative to where they started (median over seeds, band: min–max). Right: the ratio of that change for "
        "the first hidden layer over the last (bar: median, whisker: min–max; 1 = equally fast). A deep sigmoid "
        "network's first layer barely moves: its gradient, many decades below the last layer's, falls under Adam's ε, "
        "which otherwise rescales small gradients up to full-sized steps — plain SGD would separate the layers "
        "further, in proportion to the gradient ratio.",
        _png(fig),
    )


def _run_table(store: Store, runs: list[RunRecord]) -> Table:
    rows = []
    for run in runs:
        a, s, c = run.arrays, run.summary, run.config
        weights = a["init/weight_grad_norms"]
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = a["relative_weight_change"][:, 0] / a["relative_weight_change"][:, -2]
            weight_ratio = weights[:, 0] / weights[:, -2]
        accuracy = s.get("task/accuracy", float("nan"))
        rows.append([
            _ACTIVATION_STYLE.get(c["activation"], ("", c["activation"]))[1],
            _VARIANT_LABELS.get(c["variant"], c["variant"]),
            _INIT_LABELS.get(c["init"], c["init"]),
            _cell(a["init/first_last_ratio"]),
            _cell(a["trained/first_last_ratio"]) if "trained/first_last_ratio" in a else "—",
            f"{s.get('init/decay_rate', float('nan')):.3g} → {s.get('trained/decay_rate', float('nan')):.3g}",
            _cell(np.where(np.isfinite(weight_ratio), weight_ratio, np.nan)),
            _cell(np.where(np.isfinite(speed), speed, np.nan)),
            "—" if accuracy != accuracy else f"{accuracy:.0%}",
        ])
    config = runs[0].config
    headline = through_depth_headline(store)
    return Table(
        "Gradient ratio first/last layer and learning speed",
        ["activation", "variant", "init", "‖∂L/∂h_1‖/‖∂L/∂h_M‖ at init", "same, trained", "factor per layer, init → "
         "trained", "‖∂L/∂W_1‖/‖∂L/∂W_M‖ at init", "learning speed first/last", "held-out accuracy"],
        rows,
        (headline + " " if headline else "")
        + f"MLPs of {config['depth']} hidden layers of {config['width']} units on the circles task (chance: 50 %), "
        f"{config['steps']} {config['optimizer']} steps at lr {config['lr']:g}, batch {config['batch_size']}; "
        f"median [min, max] over {config['seeds']} seeds. Factor per layer: exp of the slope of log‖∂L/∂h_l‖ "
        "against l, per layer back towards the input (below 1: vanishing). Learning speed: relative weight change "
        "‖W_l(end) − W_l(0)‖/‖W_l(0)‖ of W_1 over that of W_M.",
    )


def _sweep_table(runs: list[RunRecord]) -> Table:
    depths = sorted({int(d) for r in runs for d in r.arrays["depths"]})
    rows = []
    for run in runs:
        by_depth = dict(zip((int(d) for d in run.arrays["depths"]), run.arrays["first_last_ratio"].T))
        rows.append([_label(run.config["activation"], run.config["variant"]),
                     *(_cell(by_depth[d]) if d in by_depth else "—" for d in depths)])
    rows.append(["0.25^(M−1) (sigmoid's σ′ share)", *(f"{_SIGMOID_SLOPE ** (d - 1):.2g}" for d in depths)])
    config = runs[0].config
    return Table(
        "First-to-last gradient ratio against depth, at initialization",
        ["network", *(f"M = {d}" for d in depths)],
        rows,
        f"‖∂L/∂h_1‖/‖∂L/∂h_M‖ at initialization, width {config['width']}, median [min, max] over {config['seeds']} "
        "seeds; Xavier init for sigmoid and tanh, He init for ReLU.",
    )
