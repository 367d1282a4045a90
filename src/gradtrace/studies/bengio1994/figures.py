"""Figures of the bengio1994 study: how often a bit is latched, and how far the gradient reaches, against T."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.published import get_published
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_OURS = "#1f77b4"
_INIT = "#7f7f7f"
_FLOOR = 1e-30


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the bengio1994 study: success frequency, gradient decay and horizon, recurrent weights, losses."""
    runs = sorted((r for r in _runs(store, "bengio1994") if "train/loss" in r.arrays),
                  key=lambda r: r.config["length"])
    if not runs:
        return [], []
    finished = [r for r in runs if r.status == "finished"]
    config = runs[0].config
    figures = []
    if finished:
        figures += [_frequency(finished, config), _gradient(finished, config), _weights(finished)]
    figures.append(_losses(runs))
    return figures, [_comparison(finished, config), _diagnostics(finished)]


def _protocol(config) -> str:
    return (f"One tanh unit with a trained input weight, bias and linear read-out (hidden_size = "
            f"{config['hidden_size']}), weights from U(−1, 1); the first {config['latch_steps']} inputs are ±1 "
            f"(the bit), the rest Gaussian noise of variance {config['noise'] ** 2:.2g}; target ±{config['target']:g} "
            f"at the last step, cost ½(y_T − d)²; plain gradient descent, lr {config['lr']:g}, "
            f"{config['steps']:,} updates of {config['batch_size']} sequences; a seed succeeds when ≥ 99% of "
            f"{config['eval_batch_size']} held-out sequences give an output of the right sign.")


def _deviations(config) -> str:
    return ("Deviations from the paper, as far as we know it (its text was not available to us): the bit is "
            "given as input rather than learned as the first L inputs; the unit has a linear read-out; every "
            "sequence has exactly T steps (Bengio et al. also drew lengths down to T/2); L, the noise level, "
            "the initialization, the learning rate and the number of trials are ours.")


def _published_note() -> str:
    published = get_published("bengio1994")
    return ("Published: the paper reports the frequency of successful training against T in a figure whose "
            "values were not transcribed (published.py holds no series for bengio1994), so no published point "
            f"is drawn. Its claim: \"{published.claims[0]}\"")


def _frequency(runs, config) -> Figure:
    lengths = np.array([r.config["length"] for r in runs], dtype=float)
    rates = np.array([r.summary["success_rate"] for r in runs])
    low = np.array([r.summary["success_low"] for r in runs])
    high = np.array([r.summary["success_high"] for r in runs])
    seeds = np.array([r.summary["seeds"] for r in runs])
    bistable = np.array([r.summary["radius_above_one"] for r in runs]) / seeds
    fig, ax = plt.subplots(figsize=_size(6.4, 3.9))
    ax.fill_between(lengths, low, high, color=_OURS, alpha=0.18, linewidth=0, label="95% Wilson interval")
    ax.plot(lengths, rates, color=_OURS, marker="o", linewidth=1.8, label="ours: seeds that latch the bit")
    ax.plot(lengths, bistable, color="#ff7f0e", marker="s", linestyle="--", linewidth=1.2,
            label="ours: seeds with ρ(W_rec) > 1 after training")
    ax.set_xscale("log")
    ax.set_xticks(lengths, [f"{t:g}" for t in lengths])
    ax.minorticks_off()
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("sequence length T (steps)")
    ax.set_ylabel("fraction of seeds")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return Figure(
        "Success frequency against the sequence length",
        f"Fraction of the {int(seeds[0])} seeds per length that learned to latch the bit, with the 95% Wilson "
        "interval (band), and the fraction whose recurrent weight ended above 1 in magnitude — for one unit the "
        "condition for two stable states, without which no bit can be held. " + _published_note() + " "
        + _protocol(config) + " " + _deviations(config),
        _png(fig),
    )


def _spread(ax, x, values, color, label, marker="o", linestyle="-"):
    """Median over seeds with min–max error bars; values (len(x), K)."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=float), 1)
    ax.errorbar(x, mid, yerr=[mid - low, high - mid], color=color, marker=marker, linestyle=linestyle,
                capsize=3, linewidth=1.4, label=label)


def _gradient(runs, config) -> Figure:
    lengths = np.array([r.config["length"] for r in runs], dtype=float)
    latch = config["latch_steps"]
    fig, axes = plt.subplots(1, 3, figsize=_size(14.5, 3.9), constrained_layout=True)
    for phase, color, marker, linestyle in (("init", _INIT, "s", "--"), ("final", _OURS, "o", "-")):
        label = "at initialization" if phase == "init" else "after training"
        _spread(axes[0], lengths, [r.arrays[f"{phase}/decay_rate"] for r in runs], color, label, marker, linestyle)
        _spread(axes[1], lengths, [r.arrays[f"{phase}/horizon"] for r in runs], color, label, marker, linestyle)
        # Gradient at the bit's last step relative to the read-out step, per seed.
        reach = []
        for r in runs:
            norms = np.asarray(r.arrays[f"{phase}/grad_norms"], dtype=float)
            ratio = norms[:, latch - 1] / np.where(norms[:, -1] > 0, norms[:, -1], np.nan)
            reach.append(np.where(np.isfinite(ratio) & (ratio > 0), np.maximum(ratio, _FLOOR), np.nan))
        _spread(axes[2], lengths, reach, color, label, marker, linestyle)
    axes[0].axhline(1.0, color="black", linestyle=":", linewidth=1)
    axes[0].set_ylabel("factor per step back")
    axes[0].set_title("Decay of ‖∂L/∂h_t‖ per step")
    axes[1].plot(lengths, lengths, color="black", linestyle=":", linewidth=1, label="T (reaches the start)")
    axes[1].set_ylabel("steps back")
    axes[1].set_title("Gradient horizon (10⁻⁶ of its peak)")
    axes[2].set_yscale("log")
    axes[2].set_ylabel(r"$\|\partial L/\partial h_L\| \ /\ \|\partial L/\partial h_T\|$")
    axes[2].set_title("Gradient reaching the bit")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(lengths, [f"{t:g}" for t in lengths])
        ax.minorticks_off()
        ax.set_xlabel("sequence length T (steps)")
        ax.grid(True, alpha=0.3)
    axes[1].legend()
    return Figure(
        "How far back the gradient reaches",
        "Measured with one backward pass on held-out sequences, at initialization and after training; median "
        "over seeds with the min–max range. Left: exp(−slope) of log‖∂L/∂h_t‖ against t, the factor the "
        "gradient is multiplied by per step back (below 1: it vanishes geometrically). Middle: steps back "
        "from the last before the gradient falls 10⁻⁶ below its peak; once it stops growing with T, the "
        "first steps receive nothing. Right: the gradient at the last step carrying the bit relative to the "
        f"read-out step, T − {latch} steps later: the signal that must teach the unit to latch. Bengio et al.'s "
        "argument: a latched unit is saturated (tanh′ small), so the better it holds the bit, the less "
        "gradient crosses the noise — falling to nothing as T grows.",
        _png(fig),
    )


def _weights(runs) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.4, 3.9))
    generator = np.random.default_rng(0)  # horizontal jitter only
    for i, r in enumerate(runs):
        success = np.nan_to_num(np.asarray(r.arrays["task/success"], dtype=float)[-1], nan=0.0) == 1
        start = np.asarray(r.arrays["init/spectral_radius"], dtype=float)
        end = np.asarray(r.arrays["final/spectral_radius"], dtype=float)
        x = i + generator.uniform(-0.18, 0.18, size=end.shape)
        ax.scatter(x - 0.25, start, s=10, color=_INIT, alpha=0.6, label="at initialization" if i == 0 else None)
        ax.scatter(x[~success], end[~success], s=16, color="#d62728", marker="x",
                   label="after training, failed" if i == 0 else None)
        ax.scatter(x[success], end[success], s=16, color="#2ca02c", marker="o",
                   label="after training, latched" if i == 0 else None)
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(runs)), [f"T = {r.config['length']}" for r in runs])
    ax.set_ylabel("ρ(W_rec)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return Figure(
        "Recurrent weight of every seed",
        "Spectral radius of W_rec (for one unit, |w|) of each seed before (grey, left) and after training, "
        "green where the seed latched the bit and red where it did not. Above the dotted line at 1 the unit "
        "has two stable states. No seed starts there: gradient descent must carry w across 1, and it can "
        "only do so while the gradient still reaches the bit.",
        _png(fig),
    )


def _losses(runs) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=_size(11.5, 3.9), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(runs), 2)))
    baseline = None
    for color, r in zip(colors, runs):
        steps = r.arrays["eval/step"]
        if not len(steps):
            continue
        label = f"T = {r.config['length']}"
        latched = np.nan_to_num(np.asarray(r.arrays["task/success"], dtype=float), nan=0.0).mean(1)
        axes[0].plot(steps, latched, color=color, label=label, linewidth=1.6)
        loss = np.where(r.arrays["task/loss"] > 0, r.arrays["task/loss"], np.nan)
        axes[1].plot(steps, nan_quantiles(loss, 1)[1], color=color, label=label, linewidth=1.6)
        baseline = r.summary.get("baseline_loss", baseline)
    if baseline is not None:
        axes[1].axhline(baseline, color="black", linestyle=":", linewidth=1, label="baseline (answer 0)")
    axes[0].set_ylim(-0.03, 1.03)
    axes[0].set_ylabel("fraction of seeds that latch")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("held-out MSE (median over seeds)")
    for ax in axes:
        ax.set_xlabel("update")
        ax.grid(True, alpha=0.3)
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Learning curves",
        "Left: fraction of seeds that have latched the bit (≥ 99% of held-out sequences of the right sign) "
        "along training. Right: held-out mean squared error at the last step, median over seeds; the dotted "
        "line is the loss of answering 0, which ignores the bit. Where the fraction still rises when training "
        "ends, a longer budget would latch a few more seeds; where it stays at 0, no seed has left the "
        "baseline.",
        _png(fig),
    )


def _comparison(runs, config) -> Table:
    rows = []
    for r in runs:
        s = r.summary
        c = r.config
        rows.append([
            f"T = {c['length']} (L = {c['latch_steps']}, noise variance {c['noise'] ** 2:.2g}, "
            f"{c['hidden_size']} tanh unit{'s' if c['hidden_size'] > 1 else ''})",
            "not transcribed (claim: success frequency falls as T grows)",
            f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%} "
            f"[{s['success_low']:.0%}, {s['success_high']:.0%}]",
            f"{c['steps']:,} updates × {c['batch_size']} sequences, gradient descent lr {c['lr']:g} "
            "(Bengio et al.: not known to us)",
        ])
    return Table(
        "Bengio, Simard & Frasconi 1994: published vs ours",
        ["setting", "published", "ours", "budget"],
        rows,
        "Ours: seeds that latched the bit (≥ 99% of held-out sequences of the right sign), with the 95% Wilson "
        "interval. " + _published_note() + " " + _deviations(config),
    )


def _diagnostics(runs) -> Table:
    rows = []
    for r in runs:
        s = r.summary
        rows.append([
            str(r.config["length"]),
            f"{s['init/decay_rate']:.3g} / {s['final/decay_rate']:.3g}",
            f"{s['init/horizon']:.0f} / {s['final/horizon']:.0f}",
            f"{s['radius_above_one']}/{s['seeds']}",
            f"{s['task/loss']:.3f} (baseline {s['baseline_loss']:.2f})",
            str(s["diverged"]),
        ])
    return Table(
        "Gradient decay and horizon per length",
        ["length T", "factor per step back, init / trained", "horizon init / trained (steps)",
         "seeds with ρ(W_rec) > 1", "held-out loss (median)", "diverged seeds"],
        rows,
        "Medians over seeds. Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t; horizon: steps back "
        "before the gradient falls 10⁻⁶ below its peak (T means it reaches the first step).",
    )
