"""Figures of the dynamics study: trajectories in the three regimes, λ_max against g, nearby starts parting."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store
from gradtrace.studies.dynamics import REGIMES, crossing_gain
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_REGIME_COLORS = {"steady": PALETTE["blue"], "oscillating": PALETTE["green"], "chaotic": PALETTE["red"]}
_THEORY = PALETTE["grey"]

_T = Catalog({
    "regime.steady": {"en": "steady", "pt": "estacionário"},
    "regime.oscillating": {"en": "oscillating", "pt": "oscilante"},
    "regime.chaotic": {"en": "chaotic", "pt": "caótico"},
    "rotation": {"en": "2-unit rotation, g = {gain:g}, θ = {angle:g} rad",
                 "pt": "rotação de 2 unidades, g = {gain:g}, θ = {angle:g} rad"},
    "random": {"en": "random W, H = {hidden}, g = {gain:g}", "pt": "W aleatória, H = {hidden}, g = {gain:g}"},
    "unit": {"en": "unit {unit}", "pt": "unidade {unit}"},
    "per_step": {"en": "λ_max = {value} per step", "pt": "λ_max = {value} por passo"},
    "time_step": {"en": "time step t", "pt": "passo de tempo t"},
    "state": {"en": "state $h_{{t,i}}$", "pt": "estado $h_{{t,i}}$"},
    "trajectories_title": {"en": "Three regimes of an autonomous RNN", "pt": "Três regimes de uma RNN autônoma"},
    "trajectories_caption": {
        "en": "A few units of h_{t+1} = tanh(g·W h_t) over time from a random start, with no input. Left: a small g "
              "lets every unit decay to a steady state. Middle: a rotation of two units scaled past g = 1 cannot "
              "decay and cannot grow beyond tanh's range, so it settles onto a limit cycle, an oscillation. Right: "
              "a large g in a random network gives irregular activity that never repeats: chaos. The title gives "
              "the largest Lyapunov exponent, the median over seeds: negative, about 0, positive.",
        "pt": "Algumas unidades de h_{t+1} = tanh(g·W h_t) ao longo do tempo a partir de um início aleatório, sem "
              "entrada. À esquerda: um g pequeno deixa toda unidade decair para um estado estacionário. No meio: "
              "uma rotação de duas unidades escalada além de g = 1 não pode decair nem crescer além do alcance da "
              "tanh, então se acomoda num ciclo limite, uma oscilação. À direita: um g grande numa rede aleatória "
              "dá uma atividade irregular que nunca se repete: caos. O título traz o maior expoente de Lyapunov, a "
              "mediana entre sementes: negativo, perto de 0, positivo.",
    },
    "exponent_axis": {"en": "largest Lyapunov exponent λ_max (nats per step)",
                      "pt": "maior expoente de Lyapunov λ_max (nats por passo)"},
    "all_gains": {"en": "all gains", "pt": "todos os ganhos"},
    "transition": {"en": "near the transition", "pt": "perto da transição"},
    "exponents_title": {"en": "Largest Lyapunov exponent against the gain",
                        "pt": "O maior expoente de Lyapunov em função do ganho"},
    "exponents_caption": {
        "en": "λ_max is the rate at which two nearby states part, and the rate at which the gradient through time "
              "grows (λ_max > 0: explodes) or shrinks (λ_max < 0: vanishes) per step back. Black: measured on the "
              "random networks, median over seeds with the min–max band; dashed: the mean-field prediction for "
              "infinitely many units, log g below g = 1 and ½·log(g²·E[tanh′²]) above it, where chaos sets in "
              "(Sompolinsky, Crisanti & Sommers 1988). The background gives the regime of most seeds: blue steady, "
              "green oscillating, red chaotic; the right panel enlarges the transition. Between the dotted lines "
              "λ_max is 0 to within the estimate's accuracy (±{threshold:g}): a finite network oscillates there "
              "before it turns chaotic, and its gradient neither vanishes nor explodes — the edge of chaos.",
        "pt": "λ_max é a taxa com que dois estados próximos se afastam, e a taxa com que o gradiente através do "
              "tempo cresce (λ_max > 0: explode) ou encolhe (λ_max < 0: desaparece) a cada passo para trás. "
              "Preto: medido nas redes aleatórias, mediana entre sementes com a faixa mín–máx; tracejado: a "
              "previsão de campo médio para infinitas unidades, log g abaixo de g = 1 e ½·log(g²·E[tanh′²]) "
              "acima, onde o caos começa (Sompolinsky, Crisanti & Sommers 1988). O fundo mostra o regime da "
              "maioria das sementes: azul estacionário, verde oscilante, vermelho caótico; o painel da direita "
              "amplia a transição. Entre as linhas pontilhadas λ_max é 0 dentro da precisão da estimativa "
              "(±{threshold:g}): ali uma rede finita oscila antes de ficar caótica, e seu gradiente nem desaparece "
              "nem explode — a borda do caos.",
    },
    "measured": {"en": "measured, H = {hidden}: median and range over seeds",
                 "pt": "medido, H = {hidden}: mediana e faixa entre sementes"},
    "theory": {"en": "mean-field theory, H → ∞", "pt": "teoria de campo médio, H → ∞"},
    "rotation_point": {"en": "2-unit rotation, g = {gain:g} (limit cycle)",
                       "pt": "rotação de 2 unidades, g = {gain:g} (ciclo limite)"},
    "reaches": {"en": "λ_max reaches 0\nat g ≈ {gain:.2f}", "pt": "λ_max chega a 0\nem g ≈ {gain:.2f}"},
    "exceeds": {"en": "λ_max > {threshold:g}\nfrom g ≈ {gain:.2f}",
                "pt": "λ_max > {threshold:g}\na partir de g ≈ {gain:.2f}"},
    "gain_axis": {"en": "gain g (W = g·W₀, W₀ with entries N(0, 1/H), ρ(W₀) ≈ 1)",
                  "pt": "ganho g (W = g·W₀, W₀ com entradas N(0, 1/H), ρ(W₀) ≈ 1)"},
    "mostly": {"en": "mostly {regime}", "pt": "maioria {regime}"},
    "after_starts": {"en": "time step t after the two starts", "pt": "passo de tempo t depois dos dois inícios"},
    "separation_legend": {"en": "solid: measured (median, range over seeds)\ndashed: $10^{{-9}} e^{{λ_{{max}} t}}$",
                          "pt": "contínua: medida (mediana, faixa entre sementes)\ntracejada: "
                                "$10^{{-9}} e^{{λ_{{max}} t}}$"},
    "separations_title": {"en": "Two starts 10⁻⁹ apart", "pt": "Dois inícios a 10⁻⁹ de distância"},
    "separations_caption": {
        "en": "The distance between two copies of the same network started {perturbation:g} apart, once it has "
              "reached its attractor. It shrinks as exp(λ_max t) in the steady regime (the network forgets the "
              "difference), stays about constant on the oscillator's cycle, and grows as exp(λ_max t) in the "
              "chaotic one until it is as large as the attractor itself (about √H): the dashed lines are "
              "10⁻⁹·exp(λ_max t) with the λ_max measured by the tangent method, whose slope the solid lines take "
              "once the difference has turned into the least stable direction.",
        "pt": "A distância entre duas cópias da mesma rede iniciadas a {perturbation:g} uma da outra, depois de "
              "chegarem ao atrator. Ela encolhe como exp(λ_max t) no regime estacionário (a rede esquece a "
              "diferença), fica quase constante no ciclo do oscilador e cresce como exp(λ_max t) no caótico até "
              "ficar do tamanho do próprio atrator (cerca de √H): as linhas tracejadas são 10⁻⁹·exp(λ_max t) com "
              "o λ_max medido pelo método tangente, cuja inclinação as linhas contínuas assumem quando a "
              "diferença se alinha com a direção menos estável.",
    },
    "of": {"en": "{count} of {seeds}", "pt": "{count} de {seeds}"},
    "crossings": {
        "en": "The median λ_max reaches 0 (−{threshold:g}) at g ≈ {reaches:.2f} and exceeds +{threshold:g} from "
              "g ≈ {chaotic:.2f}; mean-field theory puts the transition at g = 1. ",
        "pt": "A mediana de λ_max chega a 0 (−{threshold:g}) em g ≈ {reaches:.2f} e passa de +{threshold:g} a "
              "partir de g ≈ {chaotic:.2f}; a teoria de campo médio põe a transição em g = 1. ",
    },
    "table": {"en": "Regime and λ_max per gain", "pt": "Regime e λ_max por ganho"},
    "columns": {
        "en": "network|λ_max per step, median [min, max]|mean-field λ|ρ(W_rec) median|regime (seeds)",
        "pt": "rede|λ_max por passo, mediana [mín, máx]|λ de campo médio|ρ(W_rec) mediana|regime (sementes)",
    },
    "table_caption": {
        "en": "λ_max by the tangent method (Benettin et al. 1980) over {steps:,} steps after {warmup:,} steps of "
              "warm-up, float64. A seed is steady when no unit moves by {tolerance:g} over the last {window} "
              "steps, chaotic when λ_max > {threshold:g}, and oscillating otherwise. ",
        "pt": "λ_max pelo método tangente (Benettin et al. 1980) em {steps:,} passos depois de {warmup:,} passos de "
              "aquecimento, em float64. Uma semente é estacionária quando nenhuma unidade se move {tolerance:g} "
              "nos últimos {window} passos, caótica quando λ_max > {threshold:g}, e oscilante nos outros casos. ",
    },
})


def _regime(regime: str, lang: str) -> str:
    key = f"regime.{regime}"
    return _T(key, lang) if key in _T.messages else regime


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the dynamics study: trajectories, λ_max against g, separation of nearby starts, and the table.

    Args:
        store: a run store holding runs of the ``dynamics`` study.
        lang: the language of the figures' text ("en" or "pt").

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
        figures += [_trajectories(examples, lang), _separations(examples, config, lang)]
    if random:
        figures.insert(1 if examples else 0, _exponents(random, rotation, config, lang))
    return figures, [_table(random, rotation, config, lang)]


def _examples(random, rotation, config) -> list[tuple[str, object]]:
    """The runs drawn as examples of each regime, in the order steady, oscillating, chaotic."""
    by_gain = {r.config["gain"]: r for r in random}
    picked = [("steady", by_gain.get(config["steady_gain"])), ("oscillating", rotation),
              ("chaotic", by_gain.get(config["chaotic_gain"]))]
    return [(regime, run) for regime, run in picked if run is not None]


def _network(run, lang: str = "en") -> str:
    c = run.config
    if c["network"] == "rotation":
        return _T("rotation", lang, gain=c["gain"], angle=c["rotation_angle"])
    return _T("random", lang, hidden=c["hidden_size"], gain=c["gain"])


def _trajectories(examples, lang) -> Figure:
    fig, axes = plt.subplots(1, len(examples), figsize=_size(4.6 * len(examples), 3.6), squeeze=False, sharey=True)
    for ax, (regime, run) in zip(axes[0], examples):
        states = run.arrays["trajectory"]  # (steps, units), member 0
        steps = np.arange(1, states.shape[0] + 1)
        colors = plt.cm.viridis(np.linspace(0.0, 0.85, states.shape[1]))
        for unit in range(states.shape[1]):
            ax.plot(steps, states[:, unit], color=colors[unit], linewidth=1.2, label=_T("unit", lang, unit=unit + 1))
        ax.axhline(0.0, color="black", linewidth=0.6, alpha=0.5)
        ax.set_title(f"{_regime(regime, lang)}: {_network(run, lang)}\n"
                     + _T("per_step", lang, value=_signed(run.summary["lyapunov"])), fontsize=10,
                     color=_REGIME_COLORS[regime])
        ax.set_xlabel(_T("time_step", lang))
        ax.set_ylim(-1.05, 1.05)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("state", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("trajectories_title", lang), _T("trajectories_caption", lang), _png(fig))


def _exponents(random, rotation, config, lang) -> Figure:
    gains = np.array([r.config["gain"] for r in random])
    exponents = np.stack([r.arrays["lyapunov"] for r in random], axis=1)  # (K, gains)
    median = nan_quantiles(exponents, 0)[1]
    threshold = config["chaos_threshold"]
    crossings = crossing_gain(gains, median, -threshold), crossing_gain(gains, median, threshold)
    fig, axes = plt.subplots(1, 2, figsize=_size(12.5, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    for ax, zoom in zip(axes, (False, True)):
        _exponent_panel(ax, random, rotation, config, gains, exponents, median, crossings, zoom, lang)
    axes[0].set_ylabel(_T("exponent_axis", lang))
    axes[0].set_title(_T("all_gains", lang))
    axes[1].set_title(_T("transition", lang))
    # Below both panels: inside, it would cover the measured curve.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3)
    return Figure(_T("exponents_title", lang), _T("exponents_caption", lang, threshold=threshold), _png(fig))


def _exponent_panel(ax, random, rotation, config, gains, exponents, median, crossings, zoom: bool, lang) -> None:
    theory = np.array([r.summary.get("mean_field_lyapunov", np.nan) for r in random], dtype=float)
    threshold = config["chaos_threshold"]
    _shade_regimes(ax, gains, [r.summary["regime"] for r in random], lang)
    _band(ax, gains, exponents, "black", _T("measured", lang, hidden=config["hidden_size"]))
    ax.plot(gains, median, "o", color="black", markersize=3.5)
    ax.plot(gains, theory, linestyle="--", color=_THEORY, linewidth=1.3, label=_T("theory", lang))
    if rotation is not None:
        ax.plot([rotation.config["gain"]], [rotation.summary["lyapunov"]], marker="*", markersize=12,
                color=_REGIME_COLORS["oscillating"], linestyle="none",
                label=_T("rotation_point", lang, gain=rotation.config["gain"]))
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
        ax.annotate(_T("reaches", lang, gain=reaches), (reaches, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-5, -6), textcoords="offset points", ha="right", va="top")
    if chaotic == chaotic:
        ax.axvline(chaotic, color=_REGIME_COLORS["chaotic"], linestyle=":", linewidth=1)
        ax.annotate(_T("exceeds", lang, threshold=threshold, gain=chaotic), (chaotic, 0.0),
                    xycoords=("data", "axes fraction"), xytext=(5, 6), textcoords="offset points", ha="left",
                    va="bottom", color=_REGIME_COLORS["chaotic"])
    ax.set_xlabel(_T("gain_axis", lang))
    ax.grid(True, alpha=0.3)


def _shade_regimes(ax, gains, regimes, lang) -> None:
    """Color the background of each gain by the regime most of its seeds are in."""
    edges = np.concatenate([[gains[0]], (gains[1:] + gains[:-1]) / 2, [gains[-1]]])
    labeled = set()
    for left, right, regime in zip(edges[:-1], edges[1:], regimes):
        ax.axvspan(left, right, color=_REGIME_COLORS[regime], alpha=0.08, linewidth=0,
                   label=None if regime in labeled else _T("mostly", lang, regime=_regime(regime, lang)))
        labeled.add(regime)


def _separations(examples, config, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.6, 4.2))
    for regime, run in examples:
        separation = run.arrays["separation"]  # (K, steps)
        steps = np.arange(1, separation.shape[1] + 1)
        shown = np.where(separation > 0, separation, np.nan)
        color = _REGIME_COLORS[regime]
        _band(ax, steps, shown, color, f"{_regime(regime, lang)}: {_network(run, lang)}")
        exponent = run.summary["lyapunov"]
        ax.plot(steps, config["perturbation"] * np.exp(exponent * steps), color=color, linestyle="--",
                linewidth=0.9)
    ax.set_yscale("log")
    bottom = max(ax.get_ylim()[0], 1e-40)
    ax.set_ylim(bottom, 1e2)  # a chaotic pair ends about √H apart
    ax.set_xlabel(_T("after_starts", lang))
    ax.set_ylabel(r"$\|h_t - h'_t\|$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title=_T("separation_legend", lang), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("separations_title", lang),
                  _T("separations_caption", lang, perturbation=config["perturbation"]), _png(fig))


def _signed(value: float) -> str:
    text = f"{value:+.3f}"
    return "0.000" if float(text) == 0 else text


def _table(random, rotation, config, lang) -> Table:
    rows = []
    for run in random + ([rotation] if rotation is not None else []):
        s = run.summary
        theory = s.get("mean_field_lyapunov")
        others = ", ".join(f"{s[regime]} {_regime(regime, lang)}" for regime in REGIMES
                           if s[regime] and regime != s["regime"])
        rows.append([
            _network(run, lang),
            f"{_signed(s['lyapunov'])} [{_signed(s['lyapunov_min'])}, {_signed(s['lyapunov_max'])}]",
            "—" if theory is None else _signed(theory),
            f"{s['spectral_radius']:.2f}",
            f"{_regime(s['regime'], lang)} ({_T('of', lang, count=s[s['regime']], seeds=s['seeds'])}"
            f"{'; ' + others if others else ''})",
        ])
    gains = [r.config["gain"] for r in random]
    medians = [r.summary["lyapunov"] for r in random]
    threshold = config["chaos_threshold"]
    reaches, chaotic = crossing_gain(gains, medians, -threshold), crossing_gain(gains, medians, threshold)
    crossings = ""
    if random:
        crossings = _T("crossings", lang, threshold=threshold, reaches=reaches, chaotic=chaotic)
    return Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, steps=config["steps"], warmup=config["warmup"],
           tolerance=config["settle_tolerance"], window=config["motion_window"], threshold=threshold) + crossings,
    )
