"""Figures of the dynamics study: trajectories in the three regimes, λ_max against g, nearby starts parting."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.dynamics import REGIMES, crossing_gain
from gradtrace.studies.stats import nan_quantiles

__all__ = ["dynamics_figures"]

_REGIME_COLORS = {"steady": "#1f77b4", "oscillating": "#2ca02c", "chaotic": "#d62728"}
_THEORY = "#555555"


def dynamics_figures(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the dynamics study: trajectories, λ_max against g, separation of nearby starts, and the table.

    Args:
        store: a run store holding runs of the ``dynamics`` study.

    Returns:
        The figures and the table "Regime and λ_max per gain"; empty lists when the store holds no
        finished run of the study.
    """
    runs = [r for r in _runs(store, "dynamics") if r.status == "finished" and "lyapunov" in r.arrays]
    if not runs:
        return [], []
    random = sorted((r for r in runs if r.config["network"] == "random"), key=lambda r: r.config["gain"])
    rotation = next((r for r in runs if r.config["network"] == "rotation"), None)
    config = runs[0].config
    examples = _examples(random, rotation, config)
    figures = []
    if examples:
        figures += [_trajectories(examples), _separations(examples, config)]
    if random:
        figures.insert(1 if examples else 0, _exponents(random, rotation, config))
    return figures, [_table(random, rotation, config)]


def _examples(random, rotation, config) -> list[tuple[str, object]]:
    """The runs drawn as examples of each regime, in the order steady, oscillating, chaotic."""
    by_gain = {r.config["gain"]: r for r in random}
    picked = [("steady", by_gain.get(config["steady_gain"])), ("oscillating", rotation),
              ("chaotic", by_gain.get(config["chaotic_gain"]))]
    return [(regime, run) for regime, run in picked if run is not None]


def _network(run) -> str:
    c = run.config
    if c["network"] == "rotation":
        return f"2-unit rotation, g = {c['gain']:g}, θ = {c['rotation_angle']:g} rad"
    return f"random W, H = {c['hidden_size']}, g = {c['gain']:g}"


def _trajectories(examples) -> Figure:
    fig, axes = plt.subplots(1, len(examples), figsize=_size(4.6 * len(examples), 3.6), squeeze=False, sharey=True)
    for ax, (regime, run) in zip(axes[0], examples):
        states = run.arrays["trajectory"]  # (steps, units), member 0
        steps = np.arange(1, states.shape[0] + 1)
        colors = plt.cm.viridis(np.linspace(0.0, 0.85, states.shape[1]))
        for unit in range(states.shape[1]):
            ax.plot(steps, states[:, unit], color=colors[unit], linewidth=1.2, label=f"unit {unit + 1}")
        ax.axhline(0.0, color="black", linewidth=0.6, alpha=0.5)
        ax.set_title(f"{regime}: {_network(run)}\nλ_max = {_signed(run.summary['lyapunov'])} per step", fontsize=10,
                     color=_REGIME_COLORS[regime])
        ax.set_xlabel("time step t")
        ax.set_ylim(-1.05, 1.05)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("state $h_{t,i}$")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Three regimes of an autonomous RNN",
        "A few units of h_{t+1} = tanh(g·W h_t) over time from a random start, with no input. Left: a small g "
        "lets every unit decay to a steady state. Middle: a rotation of two units scaled past g = 1 cannot decay "
        "and cannot grow beyond tanh's range, so it settles onto a limit cycle, an oscillation. Right: a large g "
        "in a random network gives irregular activity that never repeats: chaos. The title gives the largest "
        "Lyapunov exponent, the median over seeds: negative, about 0, positive.",
        _png(fig),
    )


def _exponents(random, rotation, config) -> Figure:
    gains = np.array([r.config["gain"] for r in random])
    exponents = np.stack([r.arrays["lyapunov"] for r in random], axis=1)  # (K, gains)
    median = nan_quantiles(exponents, 0)[1]
    threshold = config["chaos_threshold"]
    crossings = crossing_gain(gains, median, -threshold), crossing_gain(gains, median, threshold)
    fig, axes = plt.subplots(1, 2, figsize=_size(12.5, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    for ax, zoom in zip(axes, (False, True)):
        _exponent_panel(ax, random, rotation, config, gains, exponents, median, crossings, zoom)
    axes[0].set_ylabel("largest Lyapunov exponent λ_max (nats per step)")
    axes[0].set_title("all gains")
    axes[1].set_title("near the transition")
    axes[0].legend(loc="lower right")
    return Figure(
        "Largest Lyapunov exponent against the gain",
        "λ_max is the rate at which two nearby states part, and the rate at which the gradient through time "
        "grows (λ_max > 0: explodes) or shrinks (λ_max < 0: vanishes) per step back. Black: measured on the "
        "random networks, median over seeds with the min–max band; dashed: the mean-field prediction for "
        "infinitely many units, log g below g = 1 and ½·log(g²·E[tanh′²]) above it, where chaos sets in "
        "(Sompolinsky, Crisanti & Sommers 1988). The background gives the regime of most seeds: blue steady, "
        "green oscillating, red chaotic; the right panel enlarges the transition. Between the dotted lines "
        f"λ_max is 0 to within the estimate's accuracy (±{threshold:g}): a finite network oscillates there "
        "before it turns chaotic, and its gradient neither vanishes nor explodes — the edge of chaos.",
        _png(fig),
    )


def _exponent_panel(ax, random, rotation, config, gains, exponents, median, crossings, zoom: bool) -> None:
    theory = np.array([r.summary.get("mean_field_lyapunov", np.nan) for r in random], dtype=float)
    threshold = config["chaos_threshold"]
    _shade_regimes(ax, gains, [r.summary["regime"] for r in random])
    _band(ax, gains, exponents, "black", f"measured, H = {config['hidden_size']}: median and range over seeds")
    ax.plot(gains, median, "o", color="black", markersize=3.5)
    ax.plot(gains, theory, linestyle="--", color=_THEORY, linewidth=1.3, label="mean-field theory, H → ∞")
    if rotation is not None:
        ax.plot([rotation.config["gain"]], [rotation.summary["lyapunov"]], marker="*", markersize=12,
                color=_REGIME_COLORS["oscillating"], linestyle="none",
                label=f"2-unit rotation, g = {rotation.config['gain']:g} (limit cycle)")
    ax.axhline(0.0, color="black", linewidth=0.9)
    if zoom:
        # The frame follows the crossings, and the values inside it set its height.
        finite = [c for c in crossings if c == c] or [1.0]
        left, right = min(finite) - 0.35, max(finite) + 0.45
        inside = (gains >= left) & (gains <= right)
        values = np.concatenate([exponents[:, inside].ravel(), theory[inside]]) if inside.any() else np.zeros(1)
        values = values[np.isfinite(values)]
        span = max(float(np.max(np.abs(values))) if values.size else 0.1, 4 * threshold)
        ax.set_xlim(left, right)
        ax.set_ylim(-1.1 * span, 1.1 * span)
    reaches, chaotic = crossings
    if reaches == reaches:
        ax.axvline(reaches, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"λ_max reaches 0\nat g ≈ {reaches:.2f}", (reaches, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-5, -6), textcoords="offset points", ha="right", va="top")
    if chaotic == chaotic:
        ax.axvline(chaotic, color=_REGIME_COLORS["chaotic"], linestyle=":", linewidth=1)
        ax.annotate(f"λ_max > {threshold:g}\nfrom g ≈ {chaotic:.2f}", (chaotic, 0.0),
                    xycoords=("data", "axes fraction"), xytext=(5, 6), textcoords="offset points", ha="left",
                    va="bottom", color=_REGIME_COLORS["chaotic"])
    ax.set_xlabel("gain g (W = g·W₀, W₀ with entries N(0, 1/H), ρ(W₀) ≈ 1)")
    ax.grid(True, alpha=0.3)


def _shade_regimes(ax, gains, regimes) -> None:
    """Color the background of each gain by the regime most of its seeds are in."""
    edges = np.concatenate([[gains[0]], (gains[1:] + gains[:-1]) / 2, [gains[-1]]])
    labeled = set()
    for left, right, regime in zip(edges[:-1], edges[1:], regimes):
        ax.axvspan(left, right, color=_REGIME_COLORS[regime], alpha=0.08, linewidth=0,
                   label=None if regime in labeled else f"mostly {regime}")
        labeled.add(regime)


def _separations(examples, config) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.6, 4.2))
    for regime, run in examples:
        separation = run.arrays["separation"]  # (K, steps)
        steps = np.arange(1, separation.shape[1] + 1)
        shown = np.where(separation > 0, separation, np.nan)
        color = _REGIME_COLORS[regime]
        _band(ax, steps, shown, color, f"{regime}: {_network(run)}")
        exponent = run.summary["lyapunov"]
        ax.plot(steps, config["perturbation"] * np.exp(exponent * steps), color=color, linestyle="--",
                linewidth=0.9)
    ax.set_yscale("log")
    bottom = max(ax.get_ylim()[0], 1e-40)
    ax.set_ylim(bottom, 1e2)  # a chaotic pair ends about √H apart
    ax.set_xlabel("time step t after the two starts")
    ax.set_ylabel(r"$\|h_t - h'_t\|$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="solid: measured (median, range over seeds)\ndashed: $10^{-9} e^{λ_{max} t}$", loc="lower left")
    return Figure(
        "Two starts 10⁻⁹ apart",
        f"The distance between two copies of the same network started {config['perturbation']:g} apart, once "
        "it has reached its attractor. It shrinks as exp(λ_max t) in the steady regime (the network forgets "
        "the difference), stays about constant on the oscillator's cycle, and grows as exp(λ_max t) in the "
        "chaotic one until it is as large as the attractor itself (about √H): the dashed lines are "
        "10⁻⁹·exp(λ_max t) with the λ_max measured by the tangent method, whose slope the solid lines take "
        "once the difference has turned into the least stable direction.",
        _png(fig),
    )


def _signed(value: float) -> str:
    text = f"{value:+.3f}"
    return "0.000" if float(text) == 0 else text


def _table(random, rotation, config) -> Table:
    rows = []
    for run in random + ([rotation] if rotation is not None else []):
        s = run.summary
        theory = s.get("mean_field_lyapunov")
        others = ", ".join(f"{s[regime]} {regime}" for regime in REGIMES if s[regime] and regime != s["regime"])
        rows.append([
            _network(run),
            f"{_signed(s['lyapunov'])} [{_signed(s['lyapunov_min'])}, {_signed(s['lyapunov_max'])}]",
            "—" if theory is None else _signed(theory),
            f"{s['spectral_radius']:.2f}",
            f"{s['regime']} ({s[s['regime']]} of {s['seeds']}{'; ' + others if others else ''})",
        ])
    gains = [r.config["gain"] for r in random]
    medians = [r.summary["lyapunov"] for r in random]
    threshold = config["chaos_threshold"]
    reaches, chaotic = crossing_gain(gains, medians, -threshold), crossing_gain(gains, medians, threshold)
    crossings = ""
    if random:
        crossings = (f"The median λ_max reaches 0 (−{threshold:g}) at g ≈ {reaches:.2f} and exceeds "
                     f"+{threshold:g} from g ≈ {chaotic:.2f}; mean-field theory puts the transition at g = 1. ")
    return Table(
        "Regime and λ_max per gain",
        ["network", "λ_max per step, median [min, max]", "mean-field λ", "ρ(W_rec) median", "regime (seeds)"],
        rows,
        f"λ_max by the tangent method (Benettin et al. 1980) over {config['steps']:,} steps after "
        f"{config['warmup']:,} steps of warm-up, float64. A seed is steady when no unit moves by "
        f"{config['settle_tolerance']:g} over the last {config['motion_window']} steps, chaotic when "
        f"λ_max > {threshold:g}, and oscillating otherwise. " + crossings,
    )
