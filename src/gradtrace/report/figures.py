"""Figures of the built-in studies, drawn from the run store with matplotlib (no display needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from gradtrace.store import RunRecord, Store  # noqa: E402
from gradtrace.studies.stats import nan_quantiles  # noqa: E402

__all__ = ["Figure", "Table", "long_range_figures", "through_time_figures"]

_MODEL_COLORS = {"elman": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
_MODEL_LABELS = {"elman": "Elman RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
# Gradients beyond these are off any useful scale; clip so one exploded member does not flatten
# every other curve.
_FLOOR, _CEILING = 1e-30, 1e30


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its title, what to read in it, and the PNG bytes."""

    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    """A table for the report: column names and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _band(ax, x, values, color, label, axis=0, linestyle="-"):
    """Median line with a min–max band over ``axis`` (the ensemble members)."""
    low, mid, high = nan_quantiles(values, axis)
    ax.plot(x, mid, color=color, label=label, linestyle=linestyle, linewidth=1.6)
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)


def _runs(store: Store, study: str) -> list[RunRecord]:
    return [store.get(study, name) for name in store.names(study)]


def through_time_figures(store: Store) -> tuple[list[Figure], list[Table]]:
    """Draw the through-time study: gradient against lag, before and after training."""
    runs = _runs(store, "through-time")
    if not runs:
        return [], []
    finished = [r for r in runs if r.status == "finished"]
    colors = plt.cm.coolwarm(np.linspace(0.0, 1.0, max(len(runs), 2)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    measured_range = [np.inf, 0.0]
    for ax, phase, title in zip(axes, ("init", "trained"), ("At initialization", "After training")):
        for color, run in zip(colors, runs):
            key = f"{phase}/by_lag"
            if key not in run.arrays:
                continue
            by_lag = run.arrays[key]
            lags = np.arange(by_lag.shape[-1])
            # A gradient that underflowed to 0 (below float32's range) ends its line instead of
            # drawing a floor.
            relative = np.where(by_lag > 0, by_lag / by_lag[:, :1], np.nan)
            relative = np.where(np.isfinite(relative), np.clip(relative, _FLOOR, _CEILING), np.nan)
            if np.isfinite(relative).any():
                measured_range[0] = min(measured_range[0], np.nanmin(relative))
                measured_range[1] = max(measured_range[1], np.nanmax(relative))
            rho = run.config["rho"]
            _band(ax, lags, relative, color, f"ρ = {rho:g}")
            sigma = float(np.median(run.arrays[f"{phase}/top_singular_value"]))
            envelope = np.clip(sigma ** lags.astype(float), _FLOOR, _CEILING)
            ax.plot(lags, envelope, color=color, linestyle="--", linewidth=0.9, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("lag k (steps back from the last step)")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    if measured_range[1] > 0:
        # Frame the measured profiles; the envelopes may leave the frame.
        axes[0].set_ylim(measured_range[0] / 10, max(measured_range[1], 1.0) * 1e3)
    axes[0].set_ylabel(r"$\|\partial L/\partial h_{T-k}\|\ /\ \|\partial L/\partial h_T\|$")
    axes[1].legend(title="solid: measured, median and\nrange over seeds; dashed: $\\sigma_{max}^k$",
                   fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figures = [Figure(
        "Gradient against lag",
        "Each solid line is the median over seeds of the gradient norm k steps before the last step, "
        "relative to the last step; the band spans the seeds. The dashed line of the same color is the "
        "envelope (σ_max(W_rec) · max tanh′)^k = σ_max^k, which no profile can exceed. With ρ < 1 the "
        "profile falls geometrically: the early steps receive no signal (vanishing gradient); a line "
        "that stops has fallen below float32's smallest number. With ρ > 1 it grows along the lag "
        "instead (exploding gradient), the faster the larger ρ; tanh saturation (tanh′ < 1 where the "
        "units are driven hard) keeps it far below its envelope near ρ = 1.",
        _png(fig),
    )]
    rows = []
    for run in finished:
        a = run.arrays
        rows.append([
            f"{run.config['rho']:g}",
            f"{np.median(a['init/top_singular_value']):.2f}",
            _spread(a["init/decay_rate"]),
            _spread(a["trained/decay_rate"]),
            f"{np.median(a['init/horizon']):.0f} / {np.median(a['trained/horizon']):.0f}",
            f"{run.summary['task/loss']:.3f} (baseline {run.summary['baseline_loss']:.3f})",
            str(run.summary["diverged"]),
        ])
    table = Table(
        "Decay per step and horizon",
        ["ρ(W_rec)", "σ_max at init", "factor per step back, init", "factor per step back, trained",
         "horizon init / trained (steps)", "held-out loss", "diverged seeds"],
        rows,
        "Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t, median [min, max] over seeds; "
        "below 1 the gradient vanishes, above 1 it explodes. Horizon: steps back from the last before "
        "the gradient falls 10⁻⁶ below its peak (the sequence length means it reaches the start).",
    )
    return figures, [table]


def _spread(values: np.ndarray) -> str:
    low, mid, high = nan_quantiles(np.asarray(values)[None], 1)[:, 0]
    return f"{mid:.3g} [{low:.3g}, {high:.3g}]"


def long_range_figures(store: Store) -> tuple[list[Figure], list[Table]]:
    """Draw the long-range study: loss curves, success rates and gradient heatmaps."""
    runs = [r for r in _runs(store, "long-range") if "train/loss" in r.arrays]
    if not runs:
        return [], []
    models = list(dict.fromkeys(r.config["model"] for r in runs))
    lengths = sorted({r.config["length"] for r in runs})
    by_key = {(r.config["model"], r.config["length"]): r for r in runs}
    figures = [_loss_curves(by_key, models, lengths), _success_rates(by_key, models, lengths),
               _heatmaps(by_key, models, lengths[-1])]
    rows = []
    for length in lengths:
        for model in models:
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            rows.append([
                _MODEL_LABELS.get(model, model), str(length),
                f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%}",
                f"[{s['success_low']:.0%}, {s['success_high']:.0%}]",
                f"{s['task/loss']:.4f}", f"{s['baseline_loss']:.4f}", f"{s['task/accuracy']:.1%}",
                f"{s['final/horizon']:.0f}",
            ])
    table = Table(
        "Success rate per model and length",
        ["model", "length T", "solved", "95% interval (Wilson)", "held-out loss (median)", "baseline",
         "accuracy (median)", "horizon after training"],
        rows,
        "A seed solves the task when at least 99% of 256 held-out sequences have squared error < 0.04. "
        "The baseline is the loss of always answering 1, which ignores the markers.",
    )
    return figures, [table]


def _loss_curves(by_key, models, lengths) -> Figure:
    fig, axes = plt.subplots(1, len(lengths), figsize=(4 * len(lengths), 3.6), squeeze=False)
    for ax, length in zip(axes[0], lengths):
        baseline = None
        for model in models:
            run = by_key.get((model, length))
            if run is None:
                continue
            steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
            if len(steps):
                _band(ax, steps, loss, _MODEL_COLORS.get(model, "gray"), _MODEL_LABELS.get(model, model), axis=1)
            baseline = run.summary.get("baseline_loss", baseline)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label="baseline (answer 1)")
        ax.set_yscale("log")
        ax.set_title(f"T = {length}")
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("held-out MSE")
    axes[0][-1].legend(fontsize=8)
    return Figure(
        "Loss curves against the baseline",
        "Held-out loss during training, median over seeds with the min–max band. A curve that stays on "
        "the dotted baseline has learned nothing about the marked numbers.",
        _png(fig),
    )


def _success_rates(by_key, models, lengths) -> Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        xs, rates, errors = [], [], [[], []]
        for j, length in enumerate(lengths):
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            rates.append(s["success_rate"])
            errors[0].append(s["success_rate"] - s["success_low"])
            errors[1].append(s["success_high"] - s["success_rate"])
        ax.bar(xs, rates, width=width * 0.9, color=_MODEL_COLORS.get(model, "gray"),
               label=_MODEL_LABELS.get(model, model), alpha=0.85)
        ax.errorbar(xs, rates, yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
    ax.set_xticks(range(len(lengths)), [f"T = {t}" for t in lengths])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of seeds that solved it")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return Figure(
        "Success rate per length",
        "Fraction of seeds that solved the task, with the 95% Wilson interval: with few seeds the "
        "interval is wide, and it says how much the bar can be trusted.",
        _png(fig),
    )


def _heatmaps(by_key, models, length) -> Figure:
    present = [m for m in models if (m, length) in by_key and len(by_key[(m, length)].arrays["trace/steps"])]
    panels = max(len(present), 1)
    fig, axes = plt.subplots(1, panels, figsize=(3.9 * panels + 0.8, 3.6), squeeze=False,
                             constrained_layout=True)
    grids = {}
    for model in present:
        norms = np.median(by_key[(model, length)].arrays["trace/grad_norms"], axis=1)  # (snapshots, T)
        grids[model] = np.clip(np.nan_to_num(norms, nan=_FLOOR), _FLOOR, _CEILING)
    # One color scale for every model, so colors compare across panels.
    top = max((g.max() for g in grids.values()), default=1.0)
    bottom = max(min((g.min() for g in grids.values()), default=_FLOOR), top * 1e-12)
    scale = LogNorm(vmin=bottom, vmax=top)
    image = None
    for ax, model in zip(axes[0], present):
        steps = by_key[(model, length)].arrays["trace/steps"]
        image = ax.imshow(grids[model], aspect="auto", origin="lower", cmap="magma", norm=scale,
                          extent=(-0.5, grids[model].shape[1] - 0.5, steps[0], steps[-1] + 1),
                          interpolation="nearest")
        ax.set_title(_MODEL_LABELS.get(model, model))
        ax.set_xlabel("time step t")
    axes[0][0].set_ylabel("training step")
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label=r"$\|\partial L/\partial h_t\|$")
    return Figure(
        f"‖∂L/∂h_t‖ along training (T = {length})",
        "Each row is one training step, each column one time step of the sequence; color is the "
        "gradient reaching the hidden state at that time step (median over seeds, one log scale for "
        "all panels). The error enters at the last step (right). Dark on the left means the gradient "
        "never reaches the first marker, which lies in the first half of the sequence.",
        _png(fig),
    )
