"""Figures of the exploding study: the gradient norm before clipping, divergences, clip activity."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, plt
from gradtrace.store import Store

__all__ = ["exploding_figures"]

_CLIP_STYLE = {
    "none": ("#d62728", "no clipping"),
    "global_norm": ("#1f77b4", "clip by global norm"),
    "value": ("#2ca02c", "clip by value"),
    "adaptive": ("#9467bd", "adaptive (unit-wise) clip"),
}


def _after_divergence_hidden(values: np.ndarray, diverged_at: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Blank each member's values after its divergence step (a frozen member measures nothing)."""
    values = np.array(values, dtype=float)
    for k, at in enumerate(diverged_at):
        if at >= 0:
            values[steps > at, k] = np.nan
    return values


def exploding_figures(store: Store) -> tuple[list[Figure], list[Table]]:
    """Draw the exploding study."""
    runs = [r for r in _runs(store, "exploding") if "grad/norm" in r.arrays]
    if not runs:
        return [], []
    radii = sorted({r.config["radius"] for r in runs})
    clips = list(dict.fromkeys(r.config["clip"] for r in runs))
    by_key = {(r.config["radius"], r.config["clip"]): r for r in runs}
    figures = [
        _curves(by_key, radii, clips, "grad/norm", "gradient norm before clipping",
                "Gradient norm before clipping",
                "‖∂L/∂θ‖ of each training step, before any clip acts (median over seeds, min–max band, log "
                "scale). A red × on the top edge marks the step at which a member's loss or gradient turned "
                "NaN or infinite: that member is frozen there and the others train on. Clipping does not "
                "lower this curve — it bounds the step taken along it."),
        _curves(by_key, radii, clips, "train/loss", "training loss (MSE)", "Training loss",
                "Loss of each training batch (median over seeds, min–max band). Without clipping one step "
                "along an exploded gradient throws the weights out of range; with it, the same start "
                "trains. The dotted line is the baseline of always answering 1."),
        _fired(by_key, radii, clips),
    ]
    rows = []
    for radius in radii:
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            first = f" (first at step {s['first_divergence']})" if s["diverged"] else ""
            # Stores written before skipped steps were counted have no such key.
            if s.get("skipped_steps", 0):
                first += f"; {s['skipped_steps']} step(s) skipped"
            loss = s["task/loss"]
            rows.append([
                f"{radius:g}", _CLIP_STYLE.get(clip, (None, clip))[1], f"{s['diverged']}/{s['seeds']}{first}",
                f"{s['max_grad_norm']:.2e}", f"{s['fired_fraction']:.0%}" if clip != "none" else "—",
                "all diverged" if loss != loss else f"{loss:.4f}", f"{s['baseline_loss']:.4f}",
            ])
    config = runs[0].config
    table = Table(
        "Divergence with and without clipping",
        ["ρ(W_rec) at start", "clipping", "members diverged", "largest gradient norm", "steps clipped",
         "held-out loss (median)", "baseline"],
        rows,
        f"Elman RNN (tanh, {config['hidden_size']} units), adding problem T = {config['length']}, plain SGD at "
        f"lr {config['lr']:g} for {config['steps']} steps, {config['seeds']} seeds per row. Thresholds: global "
        f"norm {config['max_norm']:g}, value ±{config['max_value']:g}, adaptive ratio {config['agc_ratio']:g}.",
    )
    return figures, [table]


def _curves(by_key, radii, clips, key, ylabel, title, caption) -> Figure:
    fig, axes = plt.subplots(1, len(radii), figsize=(5.2 * len(radii), 3.8), squeeze=False, sharey=True)
    for ax, radius in zip(axes[0], radii):
        baseline = None
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None:
                continue
            color, label = _CLIP_STYLE.get(clip, ("gray", clip))
            steps = run.arrays["step"]
            values = _after_divergence_hidden(run.arrays[key], run.arrays["diverged_at"], steps)
            shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            if np.isfinite(shown).any():
                _band(ax, steps, shown, color, label, axis=1)
            for at in run.arrays["diverged_at"]:
                if at >= 0:
                    ax.plot([at], [1.0], marker="x", color=color, markersize=8, transform=ax.get_xaxis_transform(),
                            clip_on=False, linestyle="none")
            baseline = run.summary.get("baseline_loss", baseline)
        if key == "train/loss" and baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label="baseline")
        ax.set_yscale("log")
        ax.set_title(f"ρ(W_rec) = {radius:g} at start")
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8)
    return Figure(title, caption, _png(fig))


def _fired(by_key, radii, clips) -> Figure:
    fig, axes = plt.subplots(1, len(radii), figsize=(5.2 * len(radii), 3.4), squeeze=False, sharey=True)
    for ax, radius in zip(axes[0], radii):
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None or "clip/fired" not in run.arrays:
                continue
            color, label = _CLIP_STYLE.get(clip, ("gray", clip))
            fired = np.nanmean(run.arrays["clip/fired"], axis=1)
            window = max(1, len(fired) // 30)
            smooth = np.convolve(fired, np.ones(window) / window, mode="same")
            ax.plot(run.arrays["step"], smooth, color=color, label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"ρ(W_rec) = {radius:g} at start")
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("fraction of seeds clipped")
    axes[0][-1].legend(fontsize=8)
    return Figure(
        "How often each clip acted",
        "Fraction of seeds whose gradient the clip changed at each step (moving average). Clipping acts "
        "most at the start, when ρ(W_rec) > 1 lets the gradient grow along time, and less as training "
        "shrinks W_rec.",
        _png(fig),
    )
