"""Figures of the glorot2010 study: activations, back-propagated gradients and Jacobian singular values."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import RunRecord, Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_STUDY = "glorot2010"
_STYLE = {"standard": ("#d62728", "standard U[±1/√n]"), "normalized": ("#1f77b4", "normalized (Xavier)")}
_QUARTER_CIRCLE_MEAN = 8.0 / (3.0 * np.pi)


def _style(run: RunRecord) -> tuple[str, str]:
    return _STYLE.get(run.config["init"], ("gray", run.config["init"]))


def _scale(run: RunRecord) -> float:
    """Median over members and layers of σ√n of the hidden-to-hidden weights (n·Var[W] = scale²)."""
    return float(np.median(run.arrays["weight_scale"]))


def _cell(values: np.ndarray, spec: str = ".3f") -> str:
    low, mid, high = nan_quantiles(np.asarray(values, dtype=np.float64)[None], 1)[:, 0]
    return "—" if np.isnan(mid) else f"{mid:{spec}} [{low:{spec}}, {high:{spec}}]"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the glorot2010 study."""
    runs = [r for r in _runs(store, _STUDY) if "mean_singular_value" in r.arrays]
    if not runs:
        return [], []
    figures = [_activations(runs), _gradients(runs), _singular_values(runs)]
    return figures, [_table(runs)]


def _histogram_panel(ax, run: RunRecord, key: str, xlabel: str) -> None:
    edges = run.arrays[f"{key}_edges"]
    centers = (edges[:-1] + edges[1:]) / 2
    histogram = run.arrays[f"{key}_histogram"]
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, histogram.shape[0]))
    for layer, (density, color) in enumerate(zip(histogram, colors), start=1):
        ax.plot(centers, density, color=color, linewidth=1.3, label=f"layer {layer}")
    ax.set_title(_style(run)[1], fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.grid(True, alpha=0.3)
    ax.legend()


def _activations(runs: list[RunRecord]) -> Figure:
    fig, axes = plt.subplots(1, 1 + len(runs), figsize=_size(4.3 * (1 + len(runs)), 3.9))
    ax = axes[0]
    for run in runs:
        color, label = _style(run)
        std = run.arrays["activation_std"]
        layers = np.arange(1, std.shape[1] + 1)
        _band(ax, layers, std, color, label)
        ax.plot(layers, np.median(std, 0), color=color, marker="o", markersize=4, linestyle="none")
        # Linear regime (the paper's eq. 5): each layer multiplies the variance by n·Var[W] = scale².
        first = float(np.median(std[:, 0]))
        ax.plot(layers, first * _scale(run) ** (layers - 1.0), color=color, linestyle="--", linewidth=0.9)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["activation_std"].shape[1] + 1))
    ax.set_xlabel("hidden layer l")
    ax.set_ylabel("standard deviation of h_l = tanh(z_l)")
    ax.set_title("Activation spread per layer", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="solid: measured; dashed:\nlinear regime, (n·Var W)^(l−1)")
    for ax, run in zip(axes[1:], runs):
        _histogram_panel(ax, run, "activation", "activation value h_l")
    config = runs[0].config
    return Figure(
        "Activations layer by layer at initialization",
        f"Left: spread of each hidden layer's tanh outputs on {config['examples']} random inputs (median over "
        f"{config['seeds']} seeds, band: min–max), against the linear-regime prediction of Glorot & Bengio's eq. 5, "
        "which shrinks the variance by n·Var[W] per layer (1/3 for the standard init, 1 for the normalized one). "
        "Right: histograms of the activation values per layer, pooled over seeds (compare the paper's Figure 6): "
        "with the standard init the upper layers pile up at 0, with the normalized init they keep their spread.",
        _png(fig),
    )


def _gradients(runs: list[RunRecord]) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=_size(10.5, 7.6), layout="constrained")
    ax = axes[0][0]
    for run in runs:
        color, label = _style(run)
        std = run.arrays["backprop_std"]
        depth = std.shape[1]
        layers = np.arange(1, depth + 1)
        _band(ax, layers, std, color, label)
        ax.plot(layers, np.median(std, 0), color=color, marker="o", markersize=4, linestyle="none")
        # Eq. 13: Var[∂C/∂s^l] = Var[∂C/∂s^M] · (n·Var W)^(M−l) in the linear regime.
        top = float(np.median(std[:, -1]))
        ax.plot(layers, top * _scale(run) ** (depth - layers.astype(float)), color=color, linestyle="--",
                linewidth=0.9)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["backprop_std"].shape[1] + 1))
    ax.set_xlabel("hidden layer l")
    ax.set_ylabel(r"std of $\partial L/\partial z_l$ entries")
    ax.set_title("Back-propagated gradient per layer", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="dashed: linear regime,\n(n·Var W)^(M−l)")
    ax = axes[0][1]
    for run in runs:
        color, label = _style(run)
        rms = run.arrays["weight_grad_rms"][:, :-1]     # W_1 … W_M, without the softmax layer
        layers = np.arange(1, rms.shape[1] + 1)
        _band(ax, layers, rms, color, label)
        ax.plot(layers, np.median(rms, 0), color=color, marker="o", markersize=4, linestyle="none")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["weight_grad_rms"].shape[1]))
    ax.set_xlabel("hidden layer l (weights W_l)")
    ax.set_ylabel(r"RMS of $\partial L/\partial W_l$ entries")
    ax.set_title("Weight gradient per layer", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    for ax, run in zip(axes[1], runs):
        _histogram_panel(ax, run, "gradient", r"$\partial L/\partial z_l$ / its std at the top layer")
    for ax in list(axes[1])[len(runs):]:
        ax.set_visible(False)
    return Figure(
        "Back-propagated gradients layer by layer at initialization",
        "Top left: standard deviation of the back-propagated gradient ∂L/∂z_l (the gradient at each layer's "
        "pre-activation, over examples and units; median over seeds, band: min–max), beside the linear-regime "
        "prediction of the paper's eq. 13 (dashed). With the standard init it shrinks by about √3 per layer on "
        "its way down, with the normalized init much less. Top right: the weight gradients per entry, which stay "
        "of one size across layers even with the standard init (the paper's Figure 8 and eq. 14). Bottom: "
        "histograms of ∂L/∂z_l per layer in units of the top layer's spread (the paper's Figure 7): with the "
        "standard init the lower layers' histograms are the narrow, high ones.",
        _png(fig),
    )


def _singular_values(runs: list[RunRecord]) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=_size(11.5, 4.2))
    for run in runs:
        color, label = _style(run)
        singular = run.arrays["mean_singular_value"]
        layers = np.arange(2, singular.shape[1] + 2)
        _band(left, layers, singular, color, f"{label}: measured")
        left.plot(layers, np.median(singular, 0), color=color, marker="o", markersize=4, linestyle="none")
        published = run.summary.get("published_singular_value")
        if published is not None:
            left.axhline(published, color=color, linestyle="--", linewidth=1.2,
                         label=f"{label}: published ≈ {published:g}")
        left.axhline(_QUARTER_CIRCLE_MEAN * _scale(run), color=color, linestyle=":", linewidth=1,
                     label=f"{label}: quarter-circle mean, tanh′ = 1")
        values = run.arrays["singular_values"].ravel()
        values = values[np.isfinite(values)]
        right.hist(values, bins=60, density=True, color=color, alpha=0.35, label=f"{label}: measured")
        scale = _scale(run)
        grid = np.linspace(0.0, 2.0 * scale, 200)
        right.plot(grid, np.sqrt(np.clip(4 * scale**2 - grid**2, 0.0, None)) / (np.pi * scale**2), color=color,
                   linewidth=1.2, label=f"{label}: quarter-circle law")
    left.set_ylim(0.0, 1.05)
    left.set_xticks(np.arange(2, runs[0].arrays["mean_singular_value"].shape[1] + 2))
    left.set_xlabel(r"layer l (Jacobian $\partial h_l/\partial h_{l-1}$)")
    left.set_ylabel("average singular value")
    left.set_title("Average singular value of each layer Jacobian", fontsize=10)
    left.grid(True, alpha=0.3)
    left.legend(loc="lower right")
    right.set_xlabel("singular value of a layer Jacobian")
    right.set_ylabel("density")
    right.set_title("All singular values, pooled over layers and seeds", fontsize=10)
    right.grid(True, alpha=0.3)
    right.legend()
    config = runs[0].config
    return Figure(
        "Singular values of the layer Jacobians",
        f"Left: the mean of the singular values of ∂h_l/∂h_(l−1) = diag(tanh′(z_l)) W_l (averaged over "
        f"{config['jacobian_examples']} examples per seed; median over {config['seeds']} seeds, band: min–max), "
        "beside Glorot & Bengio's published ≈0.5 (standard) and ≈0.8 (normalized) (dashed) and the quarter-circle "
        "law's mean (8/3π)·σ√n that a matrix of i.i.d. weights of variance σ² has when tanh′ = 1 (dotted). tanh′ < 1 "
        "pulls the measured values below it, more where the activations spread wider. Right: the whole distribution "
        "against the quarter-circle law.",
        _png(fig),
    )


def _table(runs: list[RunRecord]) -> Table:
    rows = []
    for run in runs:
        a, s = run.arrays, run.summary
        singular = a["mean_singular_value"]
        per_layer = ", ".join(f"{v:.2f}" for v in np.median(singular, 0))
        published = s.get("published_singular_value")
        with np.errstate(divide="ignore", invalid="ignore"):
            backprop = a["backprop_std"][:, 0] / a["backprop_std"][:, -1]
            weights = a["weight_grad_rms"][:, 0] / a["weight_grad_rms"][:, -2]
        rows.append([
            _style(run)[1],
            "—" if published is None else f"≈ {published:g}",
            _cell(singular.mean(-1)),
            per_layer,
            f"{_QUARTER_CIRCLE_MEAN * _scale(run):.3f}",
            f"{np.median(a['activation_std'][:, 0]):.3f} → {np.median(a['activation_std'][:, -1]):.3f}",
            _cell(backprop),
            _cell(weights, ".2f"),
        ])
    config = runs[0].config
    return Table(
        "Published against measured, at initialization",
        ["init", "published mean singular value", "measured mean singular value", "per layer J_2 … J_M",
         "quarter-circle mean, tanh′ = 1", "activation std, layer 1 → M", "∂L/∂z std, layer 1 / M",
         "∂L/∂W RMS, layer 1 / M"],
        rows,
        f"{config['depth']} tanh layers of {config['width']} units at initialization, read on {config['examples']} "
        f"random inputs of {config['input_size']} features ({config['inputs']}), standing in for the paper's 32×32 "
        f"Shapeset-3×2 images, with random labels among {config['classes']} classes; median [min, max] over "
        f"{config['seeds']} seeds. The published values (≈0.8 normalized, ≈0.5 standard) are for the whole "
        f"network: {config['published']}.",
    )
