"""Figures of the dynamics study: trajectories in the three regimes, λ_max against g, nearby starts parting."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from gradtrace.report.figures import (
    PALETTE,
    Figure,
    Table,
    _band,
    _png,
    _runs,
    _size,
    ordered_colors,
    plt,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.dynamics.claims import crossing_gain
from gradtrace.studies.dynamics.config import REGIMES, DynamicsConfig, Key, Network, stored_config
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

# The regimes in the order they appear as g grows, in the palette's order of warmth.
_REGIME_COLORS = {"steady": PALETTE["blue"], "oscillating": PALETTE["green"], "chaotic": PALETTE["red"]}
_THEORY = PALETTE["grey"]

_T = Catalog({
    "regime.steady": {"en": "steady", "pt": "estacionário"},
    "regime.oscillating": {"en": "oscillating", "pt": "oscilante"},
    "regime.chaotic": {"en": "chaotic", "pt": "caótico"},
    "rotation": {"en": "2-unit rotation, g = {gain}, θ = {angle}π",
                 "pt": "rotação de 2 unidades, g = {gain}, θ = {angle}π"},
    "random": {"en": "random W, H = {hidden}, g = {gain}", "pt": "W aleatória, H = {hidden}, g = {gain}"},
    "unit": {"en": "unit {unit}", "pt": "unidade {unit}"},
    "measured_title": {"en": "λ_max = {value} per step; {period}", "pt": "λ_max = {value} por passo; {period}"},
    "period": {"en": "period {period}", "pt": "período {period}"},
    "no_period": {"en": "no period ≤ {longest}", "pt": "sem período ≤ {longest}"},
    "time_step": {"en": "time step t", "pt": "passo de tempo t"},
    "state": {"en": "state $h_{{t,i}}$", "pt": "estado $h_{{t,i}}$"},
    "trajectories_title": {"en": "Three regimes of an autonomous RNN", "pt": "Três regimes de uma RNN autônoma"},
    "trajectories_caption": {
        "en": "The first {shown} units of h_{{t+1}} = tanh(g·W h_t) over the first {steps} steps from a random start, "
              "with no input: left, a random W at g = {steady}; middle, the 2-unit rotation; right, a random W at "
              "g = {chaotic}. Each panel is the first seed of its run, and its title gives the largest Lyapunov "
              "exponent measured along this same trajectory ({total} steps) and the shortest period p (up to "
              "{longest}) with which its last {window} steps repeat to within {tolerance:g}: p = 1 is a state that "
              "no longer moves. The panel's regime is the one those two numbers give: steady for p = 1, chaotic for "
              "no period and λ_max > {threshold}, oscillating otherwise.",
        "pt": "As primeiras {shown} unidades de h_{{t+1}} = tanh(g·W h_t) nos primeiros {steps} passos a partir de um "
              "início aleatório, sem entrada: à esquerda, uma W aleatória com g = {steady}; no meio, a rotação de 2 "
              "unidades; à direita, uma W aleatória com g = {chaotic}. Cada painel é a primeira semente da sua "
              "execução, e seu título traz o maior expoente de Lyapunov medido ao longo dessa mesma trajetória "
              "({total} passos) e o menor período p (até {longest}) com que seus últimos {window} passos se repetem "
              "a menos de {tolerance:g}: p = 1 é um estado que não se move mais. O regime do painel é o que esses "
              "dois números dão: estacionário para p = 1, caótico sem período e com λ_max > {threshold}, "
              "oscilante nos outros casos.",
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
              "random networks, median over {seeds} seeds with the min–max band; dashed grey: the mean-field "
              "prediction for infinitely many units, log g below g = 1 and ½·log(g²·E[tanh′²]) above it "
              "(Sompolinsky, Crisanti & Sommers 1988); star: the 2-unit rotation, median over its starts. The "
              "background gives the regime of most seeds at each gain: blue steady, green oscillating, red chaotic. "
              "The right panel enlarges the transition. Dotted lines: the gains where the median first reaches "
              "−{threshold} and +{threshold}, interpolated between grid points; ±{threshold} is the estimate's "
              "accuracy over {total} steps.",
        "pt": "λ_max é a taxa com que dois estados próximos se afastam, e a taxa com que o gradiente através do "
              "tempo cresce (λ_max > 0: explode) ou encolhe (λ_max < 0: desaparece) a cada passo para trás. "
              "Preto: medido nas redes aleatórias, mediana de {seeds} sementes com a faixa mín–máx; cinza "
              "tracejado: a previsão de campo médio para infinitas unidades, log g abaixo de g = 1 e "
              "½·log(g²·E[tanh′²]) acima (Sompolinsky, Crisanti & Sommers 1988); estrela: a rotação de 2 "
              "unidades, mediana dos seus inícios. O fundo mostra o regime da maioria das sementes em cada ganho: "
              "azul estacionário, verde oscilante, vermelho caótico. O painel da direita amplia a transição. "
              "Linhas pontilhadas: os ganhos em que a mediana chega primeiro a −{threshold} e a +{threshold}, "
              "interpolados entre os pontos da grade; ±{threshold} é a precisão da estimativa em {total} passos.",
    },
    "measured": {"en": "measured, H = {hidden}: median and range over seeds",
                 "pt": "medido, H = {hidden}: mediana e faixa entre sementes"},
    "theory": {"en": "mean-field theory, H → ∞", "pt": "teoria de campo médio, H → ∞"},
    "rotation_point": {"en": "2-unit rotation, g = {gain}", "pt": "rotação de 2 unidades, g = {gain}"},
    "reaches": {"en": "where the median first reaches −{threshold}", "pt": "onde a mediana chega a −{threshold}"},
    "exceeds": {"en": "where the median first exceeds +{threshold}",
                "pt": "onde a mediana passa de +{threshold}"},
    "gain_axis": {"en": "gain g (W = g·W₀, W₀ with entries N(0, 1/H), ρ(W₀) ≈ 1)",
                  "pt": "ganho g (W = g·W₀, W₀ com entradas N(0, 1/H), ρ(W₀) ≈ 1)"},
    "mostly": {"en": "mostly {regime}", "pt": "maioria {regime}"},
    "after_starts": {"en": "time step t after the two starts", "pt": "passo de tempo t depois dos dois inícios"},
    "separation_legend": {"en": "solid: measured (median, range over seeds)\ndashed: $10^{{-9}} e^{{λ_{{max}} t}}$",
                          "pt": "contínua: medida (mediana, faixa entre sementes)\ntracejada: "
                                "$10^{{-9}} e^{{λ_{{max}} t}}$"},
    "separations_title": {"en": "Two starts 10⁻⁹ apart", "pt": "Dois inícios a 10⁻⁹ de distância"},
    "separations_caption": {
        "en": "The distance ‖h_t − h′_t‖ between two copies of the same network started {perturbation:g} apart "
              "(in a random direction) after {warmup} steps of warm-up, for the three runs drawn above: solid, the "
              "median over seeds with the min–max band; dashed, {perturbation:g}·exp(λ_max t) with the median λ_max "
              "of the same run, measured by the tangent method. Log scale; a difference below 10⁻¹⁶ of the state "
              "is lost to float64's precision.",
        "pt": "A distância ‖h_t − h′_t‖ entre duas cópias da mesma rede iniciadas a {perturbation:g} uma da outra "
              "(numa direção aleatória) depois de {warmup} passos de aquecimento, nas três execuções desenhadas "
              "acima: contínua, a mediana entre sementes com a faixa mín–máx; tracejada, "
              "{perturbation:g}·exp(λ_max t) com a mediana de λ_max da mesma execução, medida pelo método "
              "tangente. Escala logarítmica; uma diferença abaixo de 10⁻¹⁶ do estado se perde na precisão do "
              "float64.",
    },
    "of": {"en": "{count} of {seeds}", "pt": "{count} de {seeds}"},
    "none": {"en": "none ≤ {longest}", "pt": "nenhum ≤ {longest}"},
    "table": {"en": "Regime, period and λ_max per gain", "pt": "Regime, período e λ_max por ganho"},
    "columns": {
        "en": "network|λ_max per step, median [min, max]|mean-field λ|ρ(W_rec) median|period (seeds)|regime (seeds)",
        "pt": "rede|λ_max por passo, mediana [mín, máx]|λ de campo médio|ρ(W_rec) mediana|período (sementes)|"
              "regime (sementes)",
    },
    "table_caption": {
        "en": "λ_max by the tangent method (Benettin et al. 1980) over {steps} steps after {warmup} steps of "
              "warm-up, float64, {seeds} seeds (one random W each; the rotation's seeds differ in their start). "
              "Period: the shortest p ≤ {longest} such that every unit of the last {window} states is within "
              "{tolerance:g} of its value p steps earlier (1: settled). A seed is steady when p = 1, chaotic when it "
              "has no period and λ_max > {threshold}, and oscillating otherwise (a cycle, or motion that is "
              "neither settled nor chaotic).",
        "pt": "λ_max pelo método tangente (Benettin et al. 1980) em {steps} passos depois de {warmup} passos de "
              "aquecimento, em float64, {seeds} sementes (uma W aleatória cada; as sementes da rotação diferem no "
              "início). Período: o menor p ≤ {longest} tal que toda unidade dos últimos {window} estados esteja a "
              "menos de {tolerance:g} do seu valor p passos antes (1: parado). Uma semente é estacionária quando "
              "p = 1, caótica quando não tem período e λ_max > {threshold}, e oscilante nos outros casos (um "
              "ciclo, ou um movimento nem parado nem caótico).",
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
        The figures and the table "Regime, period and λ_max per gain"; empty lists when the store holds no
        finished run of the study.
    """
    runs = [r for r in _runs(store, "dynamics") if r.status == "finished" and Key.PERIOD in r.arrays]
    if not runs:
        return [], []
    random = sorted((r for r in runs if r.summary[Key.NETWORK] == Network.RANDOM), key=lambda r: r.summary[Key.GAIN])
    rotation = next((r for r in runs if r.summary[Key.NETWORK] == Network.ROTATION), None)
    config = stored_config(runs[0].config)
    seeds = runs[0].summary[Key.SEEDS]
    examples = _examples(random, rotation, config)
    figures = []
    if examples:
        figures.append(_trajectories(examples, config, lang))
    if random:
        figures.append(_exponents(random, rotation, config, seeds, lang))
    if examples:
        figures.append(_separations(examples, config, lang))
    return figures, [_table(random, rotation, config, seeds, lang)]


def _examples(random, rotation, config: DynamicsConfig) -> list[object]:
    """The runs drawn as examples, in the order steady, oscillating, chaotic."""
    by_gain = {r.summary[Key.GAIN]: r for r in random}
    picked = [by_gain.get(config.steady_gain), rotation, by_gain.get(config.chaotic_gain)]
    return [run for run in picked if run is not None]


def _network(run, lang: str = "en") -> str:
    s = run.summary
    if s[Key.NETWORK] == Network.ROTATION:
        return _T("rotation", lang, gain=number(s[Key.GAIN], "g", lang),
                  angle=number(s[Key.ANGLE] / np.pi, ".2g", lang))
    return _T("random", lang, hidden=s[Key.HIDDEN_SIZE], gain=number(s[Key.GAIN], "g", lang))


def _shown_regime(run) -> str:
    """The regime of member 0, the trajectory drawn."""
    return REGIMES[int(run.arrays[Key.REGIME][0])]


def _period(period: int, config: DynamicsConfig, lang: str) -> str:
    return _T("period", lang, period=period) if period else _T("no_period", lang, longest=config.max_period)


def _trajectories(examples, config: DynamicsConfig, lang) -> Figure:
    fig, axes = plt.subplots(1, len(examples), figsize=_size(4.6 * len(examples), 3.8), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], examples):
        states = run.arrays[Key.TRAJECTORY]  # (steps, units), member 0
        steps = np.arange(1, states.shape[0] + 1)
        colors = ordered_colors(range(states.shape[1]))
        for unit in range(states.shape[1]):
            ax.plot(steps, states[:, unit], color=colors[unit], linewidth=1.2, label=_T("unit", lang, unit=unit + 1))
        ax.axhline(0.0, color=PALETTE["black"], linewidth=0.6, alpha=0.5)
        regime = _shown_regime(run)
        measured = _T("measured_title", lang, value=number(run.summary[Key.SHOWN_LYAPUNOV], "+.3f", lang),
                      period=_period(run.summary[Key.SHOWN_PERIOD], config, lang))
        ax.set_title(f"{_regime(regime, lang)}\n{_network(run, lang)}\n{measured}", color=_REGIME_COLORS[regime])
        ax.set_xlabel(_T("time_step", lang))
        ax.set_ylim(-1.05, 1.05)
        ax.grid(True, alpha=0.3)
        _step_ticks(ax)
    axes[0][0].set_ylabel(_T("state", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    caption = _T("trajectories_caption", lang, shown=config.shown_units, steps=config.shown_steps,
                 steady=number(config.steady_gain, "g", lang), chaotic=number(config.chaotic_gain, "g", lang),
                 total=config.warmup + config.steps, longest=config.max_period, window=config.motion_window,
                 tolerance=config.settle_tolerance, threshold=number(config.chaos_threshold, "g", lang))
    return Figure(_T("trajectories_title", lang), caption, _png(fig, lang))


def _exponents(random, rotation, config: DynamicsConfig, seeds: int, lang) -> Figure:
    gains = np.array([r.summary[Key.GAIN] for r in random])
    exponents = np.stack([r.arrays[Key.LYAPUNOV] for r in random], axis=1)  # (K, gains)
    median = nan_quantiles(exponents, 0)[1]
    threshold = config.chaos_threshold
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
    caption = _T("exponents_caption", lang, seeds=seeds, threshold=number(threshold, "g", lang),
                 total=config.steps)
    return Figure(_T("exponents_title", lang), caption, _png(fig, lang))


def _exponent_panel(ax, random, rotation, config: DynamicsConfig, gains, exponents, median, crossings, zoom: bool,
                    lang) -> None:
    theory = np.array([r.summary.get(Key.MEAN_FIELD, np.nan) for r in random], dtype=float)
    threshold = config.chaos_threshold
    _shade_regimes(ax, gains, [r.summary[Key.REGIME] for r in random], lang)
    _band(ax, gains, exponents, PALETTE["black"], _T("measured", lang, hidden=config.hidden_size))
    ax.plot(gains, median, "o", color=PALETTE["black"], markersize=3.5)
    ax.plot(gains, theory, linestyle="--", color=_THEORY, linewidth=1.3, label=_T("theory", lang))
    if rotation is not None:
        ax.plot([rotation.summary[Key.GAIN]], [rotation.summary[Key.LYAPUNOV]], marker="*", markersize=12,
                color=_REGIME_COLORS["oscillating"], linestyle="none",
                label=_T("rotation_point", lang, gain=number(rotation.summary[Key.GAIN], "g", lang)))
    ax.axhline(0.0, color=PALETTE["black"], linewidth=0.9)
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
    # Marked by lines the legend names: their values are the claims' to state, and text here would cover the curve.
    shown_threshold = number(threshold, "g", lang)
    if reaches == reaches:
        ax.axvline(reaches, color=PALETTE["black"], linestyle=":", linewidth=1.2,
                   label=_T("reaches", lang, threshold=shown_threshold))
    if chaotic == chaotic:
        ax.axvline(chaotic, color=_REGIME_COLORS["chaotic"], linestyle=":", linewidth=1.2,
                   label=_T("exceeds", lang, threshold=shown_threshold))
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


def _separations(examples, config: DynamicsConfig, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.6, 4.2))
    for run in examples:
        separation = run.arrays[Key.SEPARATION]  # (K, steps)
        steps = np.arange(1, separation.shape[1] + 1)
        shown = np.where(separation > 0, separation, np.nan)
        regime = _shown_regime(run)
        color = _REGIME_COLORS[regime]
        _band(ax, steps, shown, color, f"{_regime(regime, lang)}: {_network(run, lang)}")
        exponent = run.summary[Key.LYAPUNOV]
        ax.plot(steps, config.perturbation * np.exp(exponent * steps), color=color, linestyle="--", linewidth=0.9)
    ax.set_yscale("log")
    bottom = max(ax.get_ylim()[0], 1e-40)
    ax.set_ylim(bottom, 1e2)  # a chaotic pair ends about √H apart
    ax.set_xlabel(_T("after_starts", lang))
    ax.set_ylabel(r"$\|h_t - h'_t\|$")
    ax.grid(True, which="major", alpha=0.3)
    _step_ticks(ax)
    ax.legend(title=_T("separation_legend", lang), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    caption = _T("separations_caption", lang, perturbation=config.perturbation, warmup=config.warmup)
    return Figure(_T("separations_title", lang), caption, _png(fig, lang))


def _periods(run, config: DynamicsConfig, lang: str) -> str:
    """The distinct periods of a run's seeds with their counts, e.g. "1 (8 of 8)"."""
    periods = run.arrays[Key.PERIOD]
    seeds = len(periods)
    cells = []
    for period in sorted(set(periods.tolist()), key=lambda p: (p == 0, p)):
        shown = str(period) if period else _T("none", lang, longest=config.max_period)
        cells.append(f"{shown} ({_T('of', lang, count=int((periods == period).sum()), seeds=seeds)})")
    return "; ".join(cells)


def _table(random, rotation, config: DynamicsConfig, seeds: int, lang) -> Table:
    rows = []
    for run in random + ([rotation] if rotation is not None else []):
        s = run.summary
        theory = s.get(Key.MEAN_FIELD)
        regime = s[Key.REGIME]
        others = ", ".join(f"{s[other]} {_regime(other, lang)}" for other in REGIMES if s[other] and other != regime)
        rows.append([
            _network(run, lang),
            f"{_signed(s[Key.LYAPUNOV], lang)} [{_signed(s[Key.LYAPUNOV_MIN], lang)}, "
            f"{_signed(s[Key.LYAPUNOV_MAX], lang)}]",
            "—" if theory is None else _signed(theory, lang),
            number(s[Key.SPECTRAL_RADIUS], ".2f", lang),
            _periods(run, config, lang),
            f"{_regime(regime, lang)} ({_T('of', lang, count=s[regime], seeds=s[Key.SEEDS])}"
            f"{'; ' + others if others else ''})",
        ])
    caption = _T("table_caption", lang, steps=config.steps, warmup=config.warmup, seeds=seeds,
                 longest=config.max_period, window=config.motion_window, tolerance=config.settle_tolerance,
                 threshold=number(config.chaos_threshold, "g", lang))
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, caption)


def _signed(value: float, lang: str) -> str:
    """A signed exponent with three decimals; a value that rounds to zero is shown unsigned."""
    text = f"{value:+.3f}"
    return number(0.0, ".3f", lang) if float(text) == 0 else number(value, "+.3f", lang)


def _step_ticks(ax) -> None:
    """Whole steps on the x axis, at round intervals (1, 2, 5 or 10 times a power of ten)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
