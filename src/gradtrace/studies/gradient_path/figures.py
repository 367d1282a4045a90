"""Figures of the gradient-path study: ‖∂L/∂h_t‖ along the sequence and W_rec's gradient step by step."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import (
    PALETTE,
    Figure,
    Table,
    _band,
    _integer_ticks,
    _png,
    _runs,
    _size,
    plt,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.gradient_path.config import (
    CARRIED,
    EQUATIONS_VS_AUTOGRAD,
    FINITE_DIFFERENCES_VS_AUTOGRAD,
    LOSS,
    MANY_TO_MANY,
    MANY_TO_ONE,
    OWN_ERROR,
    PROBES_VS_AUTOGRAD,
    PROFILE,
    READOUTS,
    SUM_VS_AUTOGRAD,
    TRACE_VS_AUTOGRAD,
    W_REC_TERMS,
)
from gradtrace.studies.gradient_path.study import GradientPath

__all__ = ["draw"]

_T = Catalog({
    MANY_TO_ONE: {"en": "many-to-one: cost at t = T only", "pt": "muitos-para-um: custo só em t = T"},
    MANY_TO_MANY: {"en": "many-to-many: cost at every step", "pt": "muitos-para-muitos: custo em todo passo"},
    "short." + MANY_TO_ONE: {"en": "many-to-one", "pt": "muitos-para-um"},
    "short." + MANY_TO_MANY: {"en": "many-to-many", "pt": "muitos-para-muitos"},
    "step": {"en": "time step t", "pt": "passo de tempo t"},
    "total": {"en": r"$\|\partial L/\partial h_t\|$ (median, range over seeds)",
              "pt": r"$\|\partial L/\partial h_t\|$ (mediana, faixa entre sementes)"},
    "own": {"en": r"own step's error $\|W_{out}^\top \partial L/\partial \hat y_t\|$",
            "pt": r"erro do próprio passo $\|W_{out}^\top \partial L/\partial \hat y_t\|$"},
    "carried": {"en": r"carried back from $t+1$: $\|W_{rec}^\top(\tanh'_{t+1} \odot \delta_{t+1})\|$",
                "pt": r"trazido de $t+1$: $\|W_{rec}^\top(\tanh'_{t+1} \odot \delta_{t+1})\|$"},
    "norm": {"en": "norm over sequences and units", "pt": "norma entre sequências e unidades"},
    "path_title": {"en": "The gradient along the sequence", "pt": "O gradiente ao longo da sequência"},
    "path_caption": {
        "en": "The gradient ∂L/∂h_t at each time step t of the same initialized networks, with the cost at the last "
              "step only (left) or at every step (right). Solid: the total ‖∂L/∂h_t‖ from one backward pass, "
              "median over seeds with the band from the smallest to the largest seed. It is the sum of two parts, "
              "drawn as medians: the error of step t itself, W_outᵀ ∂L/∂ŷ_t (dashed; a single marker at t = T "
              "where only the last step is scored), and what comes back from step t + 1 through W_rec and tanh′ "
              "(dotted; nothing at t = T). The cost is averaged over the scored steps. Logarithmic vertical axis, "
              "shared by both panels.",
        "pt": "O gradiente ∂L/∂h_t em cada passo de tempo t das mesmas redes inicializadas, com o custo só no último "
              "passo (à esquerda) ou em todos os passos (à direita). Contínua: o total ‖∂L/∂h_t‖ de uma única "
              "passagem para trás, mediana entre sementes com a faixa da menor à maior semente. Ele é a soma de "
              "duas partes, desenhadas pela mediana: o erro do próprio passo t, W_outᵀ ∂L/∂ŷ_t (tracejada; um só "
              "marcador em t = T quando só o último passo é avaliado), e o que volta do passo t + 1 através de "
              "W_rec e de tanh′ (pontilhada; nada em t = T). O custo é a média sobre os passos avaliados. Eixo "
              "vertical logarítmico, comum aos dois painéis.",
    },
    "terms_axis": {"en": r"$\|(\tanh'_t \odot \delta_t)\, h_{t-1}^\top\|$",
                   "pt": r"$\|(\tanh'_t \odot \delta_t)\, h_{t-1}^\top\|$"},
    "terms_title": {"en": "W_rec's gradient, step by step", "pt": "O gradiente de W_rec, passo a passo"},
    "terms_caption": {
        "en": "The norm of each time step's term (tanh′_t ⊙ δ_t) h_(t−1)ᵀ of ∂L/∂W_rec = Σ_t (tanh′_t ⊙ δ_t) "
              "h_(t−1)ᵀ, summed over the sequences, median over seeds with the band from the smallest to the largest "
              "seed, for both ways of scoring. Step 1 has no term: h_0 = 0. Logarithmic vertical axis.",
        "pt": "A norma do termo de cada passo de tempo (tanh′_t ⊙ δ_t) h_(t−1)ᵀ de ∂L/∂W_rec = Σ_t (tanh′_t ⊙ δ_t) "
              "h_(t−1)ᵀ, somado sobre as sequências, mediana entre sementes com a faixa da menor à maior semente, "
              "para as duas formas de avaliar. O passo 1 não tem termo: h_0 = 0. Eixo vertical logarítmico.",
    },
    "table": {"en": "One backward pass against its references", "pt": "Uma passagem para trás contra as referências"},
    "columns": {
        "en": "cost|loss L (median)|probes vs autograd per step|course's recursion vs autograd per step|trace's "
              "‖∂L/∂h_t‖ vs autograd|Σ_t terms vs ∂L/∂W_rec|finite differences vs ∂L/∂W_rec",
        "pt": "custo|perda L (mediana)|sondas vs autograd passo a passo|recursão do curso vs autograd passo a "
              "passo|‖∂L/∂h_t‖ do traço vs autograd|Σ_t dos termos vs ∂L/∂W_rec|diferenças finitas vs ∂L/∂W_rec",
    },
    "table_caption": {
        "en": "Largest relative difference over seeds and steps, ‖a − b‖ / ‖b‖ per step (norm over sequences and "
              "units) or over the whole matrix for ∂L/∂W_rec, in float64. The reference for ∂L/∂h_t is one autograd "
              "call per step with a zero perturbation added to h_t alone; for ∂L/∂W_rec, autograd's gradient of "
              "the unrolled network; finite differences are central, with the configured step, on every entry of "
              "W_rec.",
        "pt": "Maior diferença relativa entre sementes e passos, ‖a − b‖ / ‖b‖ por passo (norma entre sequências e "
              "unidades) ou sobre a matriz inteira para ∂L/∂W_rec, em float64. A referência para ∂L/∂h_t é uma "
              "chamada do autograd por passo, com uma perturbação nula somada só a h_t; para ∂L/∂W_rec, o "
              "gradiente do autograd na rede desenrolada; as diferenças finitas são centrais, com o passo "
              "configurado, em cada entrada de W_rec.",
    },
})

# One color per quantity, the same in both panels and figures.
_TOTAL, _OWN, _CARRIED = PALETTE["blue"], PALETTE["orange"], PALETTE["green"]
_SCORING = {MANY_TO_ONE: PALETTE["red"], MANY_TO_MANY: PALETTE["blue"]}
_DIFFERENCES = (PROBES_VS_AUTOGRAD, EQUATIONS_VS_AUTOGRAD, TRACE_VS_AUTOGRAD, SUM_VS_AUTOGRAD,
                FINITE_DIFFERENCES_VS_AUTOGRAD)


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the gradient-path study: the gradient along the sequence, W_rec's per-step terms, the checks.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        (figures, tables); both empty when the store holds none of the study's runs.
    """
    runs = {r.name: r for r in _runs(store, GradientPath.name) if r.name in READOUTS and PROFILE in r.arrays}
    if not runs:
        return [], []
    ordered = [runs[name] for name in READOUTS if name in runs]
    figures = [Figure(_T("path_title", lang), _T("path_caption", lang), _path_figure(ordered, lang)),
               Figure(_T("terms_title", lang), _T("terms_caption", lang), _terms_figure(ordered, lang))]
    return figures, [_table([r for r in ordered if r.status == "finished"], lang)]


def _median(values: np.ndarray) -> np.ndarray:
    """Median over seeds (axis 0), NaN where every seed's value is 0 (nothing to draw on a log axis)."""
    positive = np.where(values > 0, values, np.nan)
    shown = np.full(positive.shape[1], np.nan)
    drawn = np.isfinite(positive).any(axis=0)
    shown[drawn] = np.nanmedian(positive[:, drawn], axis=0)
    return shown


def _path_figure(runs: list[RunRecord], lang: str) -> bytes:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(11, 4.2), sharey=True, squeeze=False)
    for ax, run in zip(axes[0], runs):
        profile = run.arrays[PROFILE]
        steps = np.arange(1, profile.shape[1] + 1)
        _band(ax, steps, profile, _TOTAL, _T("total", lang))
        own = _median(run.arrays[OWN_ERROR])
        single = np.isfinite(own).sum() == 1  # scored at one step: a marker, not a line
        ax.plot(steps, own, color=_OWN, linestyle="--", linewidth=1.4, marker="o" if single else None,
                markersize=7, label=_T("own", lang))
        ax.plot(steps, _median(run.arrays[CARRIED]), color=_CARRIED, linestyle=":", linewidth=2.0,
                label=_T("carried", lang))
        ax.set_yscale("log")
        ax.set_title(_T(run.name, lang))
        ax.set_xlabel(_T("step", lang))
        ax.grid(True, which="major", alpha=0.3)
    _integer_ticks(*axes[0])
    axes[0][0].set_ylabel(_T("norm", lang))
    # Below the panels, off the data.
    axes[0][0].legend(loc="upper left", bbox_to_anchor=(0.0, -0.18), ncol=2)
    return _png(fig, lang)


def _terms_figure(runs: list[RunRecord], lang: str) -> bytes:
    fig, ax = plt.subplots(figsize=_size(7.5, 4.0))
    for run in runs:
        terms = run.arrays[W_REC_TERMS][:, 1:]  # step 1 multiplies h_0 = 0: no term
        steps = np.arange(2, terms.shape[1] + 2)
        _band(ax, steps, terms, _SCORING[run.name], _T("short." + run.name, lang))
    ax.set_yscale("log")
    ax.set_xlabel(_T("step", lang))
    ax.set_ylabel(_T("terms_axis", lang))
    ax.grid(True, which="major", alpha=0.3)
    _integer_ticks(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _png(fig, lang)


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = [[_T("short." + run.name, lang), number(run.summary[LOSS], ".4f", lang),
             *(number(run.summary[key], ".1e", lang) for key in _DIFFERENCES)] for run in runs]
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, _T("table_caption", lang))
