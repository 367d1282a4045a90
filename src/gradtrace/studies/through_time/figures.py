"""Figures of the through-time study: the gradient against the lag for each ρ, and what each ρ does per step."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import (
    _CEILING,
    _FLOOR,
    PALETTE,
    Figure,
    Table,
    _band,
    _integer_ticks,
    _png,
    _runs,
    _size,
    ordered_colors,
    plt,
    spread,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.stats import nan_quantiles
from gradtrace.studies.through_time.config import (
    BASELINE_LOSS,
    BY_LAG,
    DECAY_RATE,
    DIVERGED,
    HORIZON,
    INIT,
    PHASES,
    RHO,
    TANH_SLOPE,
    TASK_LOSS,
    TOP_SINGULAR_VALUE,
    TRAINED,
    key,
)
from gradtrace.studies.through_time.study import ThroughTime

__all__ = ["draw"]

_T = Catalog({
    "at_init": {"en": "At initialization", "pt": "Na inicialização"},
    "trained": {"en": "After {steps} training steps", "pt": "Depois de {steps} passos de treino"},
    "lag": {"en": "lag k (steps back from the last step)", "pt": "atraso k (passos antes do último)"},
    "relative": {"en": r"$\|\partial L/\partial h_{T-k}\|\ /\ \|\partial L/\partial h_T\|$",
                 "pt": r"$\|\partial L/\partial h_{T-k}\|\ /\ \|\partial L/\partial h_T\|$"},
    "legend": {"en": "solid: median and range\nover seeds; dashed: $\\sigma_{max}^k$",
               "pt": "contínua: mediana e faixa\nentre sementes; tracejada: $\\sigma_{max}^k$"},
    "title": {"en": "Gradient against lag", "pt": "O gradiente em função do atraso"},
    "caption": {
        "en": "Left: at initialization, with W_rec rescaled to spectral radius ρ; right: the same networks after "
              "{steps} Adam steps on the adding problem. Each solid line is the median over seeds of ‖∂L/∂h_(T−k)‖, "
              "the gradient k steps before the last one, divided by its value at the last step; the band spans the "
              "seeds. The dashed line of the same color is the envelope (σ_max(W_rec) · max tanh′)^k = σ_max^k, "
              "taken at the median σ_max. Colors go from dark (smallest ρ) to light (largest ρ), in the legend's "
              "order. The vertical axis is logarithmic; a line that stops has fallen below float32's smallest "
              "number.",
        "pt": "À esquerda: na inicialização, com W_rec reescalada para o raio espectral ρ; à direita: as mesmas "
              "redes depois de {steps} passos de Adam no problema da adição. Cada linha contínua é a mediana, entre "
              "as sementes, de ‖∂L/∂h_(T−k)‖, o gradiente k passos antes do último, dividido pelo seu valor no "
              "último passo; a faixa cobre as sementes. A linha tracejada da mesma cor é o envelope "
              "(σ_max(W_rec) · max tanh′)^k = σ_max^k, com o σ_max mediano. As cores vão do escuro (menor ρ) ao "
              "claro (maior ρ), na ordem da legenda. O eixo vertical é logarítmico; uma linha que termina caiu "
              "abaixo do menor número do float32.",
    },
    "rho": {"en": "spectral radius ρ of W_rec", "pt": "raio espectral ρ de W_rec"},
    "factor": {"en": "factor per step back", "pt": "fator por passo para trás"},
    "factor_measured": {"en": "measured (median, range over seeds)", "pt": "medido (mediana, faixa entre sementes)"},
    "factor_linear": {"en": "ρ", "pt": "ρ"},
    "factor_sigma": {"en": r"$\sigma_{max}(W_{rec})$ (envelope)", "pt": r"$\sigma_{max}(W_{rec})$ (envelope)"},
    "slope": {"en": "mean tanh′ (median, range over seeds)", "pt": "tanh′ médio (mediana, faixa entre sementes)"},
    "slope_axis": {"en": "mean tanh′ over steps and units", "pt": "tanh′ médio entre passos e unidades"},
    "inverse": {"en": "1/ρ", "pt": "1/ρ"},
    "per_step_title": {"en": "Factor per step and saturation at initialization",
                       "pt": "Fator por passo e saturação na inicialização"},
    "per_step_caption": {
        "en": "Left: the factor by which the gradient is multiplied per step back, exp(−slope) of the least-squares "
              "line through log‖∂L/∂h_t‖ against t, at initialization; one marker per ρ (median over seeds, bar "
              "from the smallest to the largest seed), beside the line ρ and the median σ_max(W_rec) of each ρ. "
              "The dotted line marks a factor of 1. Right: tanh′ averaged over the probe sequences' steps and "
              "units (1 where no unit is saturated, 0 where all are), beside the curve 1/ρ for ρ ≥ 1. Both "
              "horizontal axes are logarithmic.",
        "pt": "À esquerda: o fator pelo qual o gradiente é multiplicado a cada passo para trás, exp(−inclinação) da "
              "reta de mínimos quadrados de log‖∂L/∂h_t‖ em função de t, na inicialização; um marcador por ρ "
              "(mediana entre sementes, barra da menor à maior semente), ao lado da reta ρ e do σ_max(W_rec) "
              "mediano de cada ρ. A linha pontilhada marca o fator 1. À direita: tanh′ médio entre os passos e as "
              "unidades das sequências de sondagem (1 quando nenhuma unidade está saturada, 0 quando todas "
              "estão), ao lado da curva 1/ρ para ρ ≥ 1. Os dois eixos horizontais são logarítmicos.",
    },
    "table": {"en": "Decay per step and horizon", "pt": "Decaimento por passo e horizonte"},
    "columns": {
        "en": "ρ(W_rec)|σ_max at init|mean tanh′ at init|factor per step back, init|factor per step back, "
              "trained|horizon init / trained (steps)|held-out loss|baseline|diverged seeds",
        "pt": "ρ(W_rec)|σ_max na inicialização|tanh′ médio na inicialização|fator por passo para trás, "
              "inicialização|fator por passo para trás, treinada|horizonte inicialização / treinada (passos)|perda "
              "em dados separados|referência|sementes divergentes",
    },
    "table_caption": {
        "en": "Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t, median [min, max] over seeds; below 1 "
              "the gradient shrinks going back, above 1 it grows. Horizon: steps back from the last before the "
              "gradient falls 10⁻⁶ below its peak, median over seeds (T, the sequence length, when it never does). "
              "Held-out loss: mean squared error after training, median over seeds; the baseline always answers 1.",
        "pt": "Fator por passo para trás: exp(−inclinação) de log‖∂L/∂h_t‖ em função de t, mediana [mín, máx] "
              "entre sementes; abaixo de 1 o gradiente diminui ao voltar, acima de 1 ele cresce. Horizonte: "
              "quantos passos antes do último o gradiente leva para cair 10⁻⁶ abaixo do pico, mediana entre "
              "sementes (T, o comprimento da sequência, quando isso nunca acontece). Perda em dados separados: "
              "erro quadrático médio depois do treino, mediana entre sementes; a referência responde sempre 1.",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the through-time study: the gradient against the lag, the factor per step and saturation against ρ.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        (figures, tables); both empty when the store holds no run of the study.
    """
    # In the order of ρ, whatever order the store lists them in: the colors and the legend follow ρ.
    runs = sorted(_runs(store, ThroughTime.name), key=lambda r: r.config[RHO])
    if not runs:
        return [], []
    colors = ordered_colors(r.config[RHO] for r in runs)
    steps = runs[0].config.get("steps", "?")
    figures = [Figure(_T("title", lang), _T("caption", lang, steps=steps), _lag_figure(runs, colors, steps, lang))]
    measured = [r for r in runs if key(INIT, DECAY_RATE) in r.arrays and key(INIT, TANH_SLOPE) in r.arrays]
    if measured:
        figures.append(Figure(_T("per_step_title", lang), _T("per_step_caption", lang),
                              _per_step_figure(measured, colors, lang)))
    return figures, [_table([r for r in runs if r.status == "finished"], lang)]


def _lag_figure(runs: list[RunRecord], colors: dict, steps, lang: str) -> bytes:
    fig, axes = plt.subplots(1, 2, figsize=_size(11, 4.2), sharey=True)
    low, high = np.inf, 0.0
    titles = (_T("at_init", lang), _T("trained", lang, steps=steps))
    for ax, phase, title in zip(axes, PHASES, titles):
        for run in runs:
            if key(phase, BY_LAG) not in run.arrays:
                continue
            rho = run.config[RHO]
            by_lag = run.arrays[key(phase, BY_LAG)]
            lags = np.arange(by_lag.shape[-1])
            # A gradient that underflowed to 0 (below float32's range) ends its line instead of drawing a floor.
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = np.where(by_lag > 0, by_lag / by_lag[:, :1], np.nan)
            relative = np.where(np.isfinite(relative), np.clip(relative, _FLOOR, _CEILING), np.nan)
            if np.isfinite(relative).any():
                low, high = min(low, np.nanmin(relative)), max(high, np.nanmax(relative))
            _band(ax, lags, relative, colors[rho], f"ρ = {number(rho, 'g', lang)}")
            sigma = float(np.nanmedian(run.arrays[key(phase, TOP_SINGULAR_VALUE)]))
            with np.errstate(over="ignore"):
                envelope = np.clip(sigma ** lags.astype(float), _FLOOR, _CEILING)
            ax.plot(lags, envelope, color=colors[rho], linestyle="--", linewidth=0.9, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(_T("lag", lang))
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    _integer_ticks(*axes)
    if high > 0:
        # Frame the measured profiles; the envelopes may leave the frame.
        axes[0].set_ylim(low / 10, max(high, 1.0) * 1e3)
    axes[0].set_ylabel(_T("relative", lang))
    # Beside the panels, off the data; the handles come in the order of ρ.
    axes[1].legend(title=_T("legend", lang), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _png(fig, lang)


def _per_step_figure(runs: list[RunRecord], colors: dict, lang: str) -> bytes:
    fig, (left, right) = plt.subplots(1, 2, figsize=_size(11, 4.0))
    radii = np.array([r.config[RHO] for r in runs], dtype=np.float64)
    for ax, name in ((left, DECAY_RATE), (right, TANH_SLOPE)):
        for run, rho in zip(runs, radii):
            low, mid, high = nan_quantiles(np.asarray(run.arrays[key(INIT, name)], dtype=np.float64)[None], 1)[:, 0]
            ax.errorbar([rho], [mid], yerr=[[mid - low], [high - mid]], fmt="o", color=colors[rho], markersize=6,
                        capsize=3, linewidth=1.2)
    sigma = [float(np.nanmedian(r.arrays[key(INIT, TOP_SINGULAR_VALUE)])) for r in runs]
    grid = np.geomspace(radii.min(), radii.max(), 100)
    left.plot(grid, grid, color=PALETTE["grey"], linestyle="--", linewidth=1.2, label=_T("factor_linear", lang))
    left.plot(radii, sigma, color=PALETTE["black"], linestyle="-.", linewidth=1.0, label=_T("factor_sigma", lang))
    left.axhline(1.0, color=PALETTE["grey"], linestyle=":", linewidth=1.0)
    left.set_ylim(0.0, None)
    left.set_ylabel(_T("factor", lang))
    above = grid[grid >= 1.0]
    right.plot(above, 1.0 / above, color=PALETTE["grey"], linestyle="--", linewidth=1.2, label=_T("inverse", lang))
    right.set_ylim(0.0, 1.05)
    right.set_ylabel(_T("slope_axis", lang))
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(radii, [number(rho, "g", lang) for rho in radii])
        ax.minorticks_off()
        ax.set_xlabel(_T("rho", lang))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=2)
    return _png(fig, lang)


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = []
    for run in runs:
        a, s = run.arrays, run.summary
        rows.append([
            number(run.config[RHO], "g", lang),
            number(float(np.nanmedian(a[key(INIT, TOP_SINGULAR_VALUE)])), ".2f", lang),
            number(float(np.nanmedian(a[key(INIT, TANH_SLOPE)])), ".2f", lang) if key(INIT, TANH_SLOPE) in a else "–",
            spread(a[key(INIT, DECAY_RATE)], lang),
            spread(a[key(TRAINED, DECAY_RATE)], lang),
            f"{number(s[key(INIT, HORIZON)], '.0f', lang)} / {number(s[key(TRAINED, HORIZON)], '.0f', lang)}",
            number(s[TASK_LOSS], ".3f", lang),
            number(s[BASELINE_LOSS], ".3f", lang),
            str(s[DIVERGED]),
        ])
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, _T("table_caption", lang))
