"""Figures of the through-time study: the gradient against the lag, before and after training."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import (
    _CEILING,
    _FLOOR,
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
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store

__all__ = ["draw"]

_T = Catalog({
    "tt.at_init": {"en": "At initialization", "pt": "Na inicialização"},
    "tt.trained": {"en": "After training", "pt": "Depois do treino"},
    "tt.lag": {"en": "lag k (steps back from the last step)", "pt": "atraso k (passos antes do último)"},
    "tt.legend": {"en": "solid: measured, median and\nrange over seeds; dashed: $\\sigma_{{max}}^k$",
                  "pt": "contínua: medida, mediana e\nfaixa entre sementes; tracejada: $\\sigma_{{max}}^k$"},
    "tt.title": {"en": "Gradient against lag", "pt": "O gradiente em função do atraso"},
    "tt.caption": {
        "en": "Each solid line is the median over seeds of the gradient norm k steps before the last step, relative "
              "to the last step; the band spans the seeds. The dashed line of the same color is the envelope "
              "(σ_max(W_rec) · max tanh′)^k = σ_max^k, which no profile can exceed. Colors run from dark (small ρ) "
              "to light (large ρ). With ρ < 1 the profile falls geometrically: the early steps receive no signal "
              "(vanishing gradient); a line that stops has fallen below float32's smallest number. With ρ > 1 it "
              "grows along the lag instead (exploding gradient), the faster the larger ρ; tanh saturation (tanh′ < "
              "1 where the units are driven hard) keeps it far below its envelope near ρ = 1.",
        "pt": "Cada linha contínua é a mediana, entre as sementes, da norma do gradiente k passos antes do último, "
              "relativa ao último passo; a faixa cobre as sementes. A linha tracejada da mesma cor é o envelope "
              "(σ_max(W_rec) · max tanh′)^k = σ_max^k, que nenhum perfil pode ultrapassar. As cores vão do escuro "
              "(ρ pequeno) ao claro (ρ grande). Com ρ < 1 o perfil cai geometricamente: os primeiros passos não "
              "recebem sinal (o gradiente desaparece); uma linha que termina caiu abaixo do menor número do "
              "float32. Com ρ > 1 ele cresce com o atraso (o gradiente explode), tanto mais rápido quanto maior o "
              "ρ; a saturação da tanh (tanh′ < 1 onde as unidades são muito excitadas) o mantém bem abaixo do "
              "envelope perto de ρ = 1.",
    },
    "tt.table": {"en": "Decay per step and horizon", "pt": "Decaimento por passo e horizonte"},
    "tt.columns": {
        "en": "ρ(W_rec)|σ_max at init|factor per step back, init|factor per step back, trained|horizon init / "
              "trained (steps)|held-out loss|baseline|diverged seeds",
        "pt": "ρ(W_rec)|σ_max na inicialização|fator por passo para trás, inicialização|fator por passo para trás, "
              "treinada|horizonte inicialização / treinada (passos)|perda em dados separados|referência|sementes "
              "divergentes",
    },
    "tt.table_caption": {
        "en": "Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t, median [min, max] over seeds; below 1 "
              "the gradient vanishes, above 1 it explodes. Horizon: steps back from the last before the gradient "
              "falls 10⁻⁶ below its peak (the sequence length means it reaches the start).",
        "pt": "Fator por passo para trás: exp(−inclinação) de log‖∂L/∂h_t‖ em função de t, mediana [mín, máx] entre "
              "sementes; abaixo de 1 o gradiente desaparece, acima de 1 ele explode. Horizonte: quantos passos "
              "antes do último o gradiente leva para cair 10⁻⁶ abaixo do pico (o comprimento da sequência "
              "significa que ele chega ao início).",
    },
})



def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the through-time study: gradient against lag, before and after training.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    # In the order of ρ, whatever order the store lists them in: the colors encode ρ.
    runs = sorted(_runs(store, "through-time"), key=lambda r: r.config["rho"])
    if not runs:
        return [], []
    finished = [r for r in runs if r.status == "finished"]
    colors = ordered_colors(r.config["rho"] for r in runs)
    fig, axes = plt.subplots(1, 2, figsize=_size(11, 4.2), sharey=True)
    measured_range = [np.inf, 0.0]
    for ax, phase, title in zip(axes, ("init", "trained"), (_T("tt.at_init", lang), _T("tt.trained", lang))):
        for run in runs:
            key = f"{phase}/by_lag"
            if key not in run.arrays:
                continue
            rho = run.config["rho"]
            color = colors[rho]
            by_lag = run.arrays[key]
            lags = np.arange(by_lag.shape[-1])
            # A gradient that underflowed to 0 (below float32's range) ends its line instead of
            # drawing a floor.
            relative = np.where(by_lag > 0, by_lag / by_lag[:, :1], np.nan)
            relative = np.where(np.isfinite(relative), np.clip(relative, _FLOOR, _CEILING), np.nan)
            if np.isfinite(relative).any():
                measured_range[0] = min(measured_range[0], np.nanmin(relative))
                measured_range[1] = max(measured_range[1], np.nanmax(relative))
            _band(ax, lags, relative, color, f"ρ = {rho:g}")
            sigma = float(np.median(run.arrays[f"{phase}/top_singular_value"]))
            envelope = np.clip(sigma ** lags.astype(float), _FLOOR, _CEILING)
            ax.plot(lags, envelope, color=color, linestyle="--", linewidth=0.9, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(_T("tt.lag", lang))
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    _integer_ticks(*axes)
    if measured_range[1] > 0:
        # Frame the measured profiles; the envelopes may leave the frame.
        axes[0].set_ylim(measured_range[0] / 10, max(measured_range[1], 1.0) * 1e3)
    axes[0].set_ylabel(r"$\|\partial L/\partial h_{T-k}\|\ /\ \|\partial L/\partial h_T\|$")
    axes[1].legend(title=_T("tt.legend", lang), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figures = [Figure(_T("tt.title", lang), _T("tt.caption", lang), _png(fig))]
    rows = []
    for run in finished:
        a = run.arrays
        rows.append([
            f"{run.config['rho']:g}",
            f"{np.median(a['init/top_singular_value']):.2f}",
            spread(a["init/decay_rate"], lang),
            spread(a["trained/decay_rate"], lang),
            f"{np.median(a['init/horizon']):.0f} / {np.median(a['trained/horizon']):.0f}",
            f"{run.summary['task/loss']:.3f}",
            f"{run.summary['baseline_loss']:.3f}",
            f"{run.summary['diverged']}",
        ])
    table = Table(_T("tt.table", lang), _T("tt.columns", lang).split("|"), rows, _T("tt.table_caption", lang))
    return figures, [table]


