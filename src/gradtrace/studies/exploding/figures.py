"""Figures of the exploding study: the gradient's norm before any cure, the training loss, clip activity, the table."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter

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
    spread,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.exploding.config import (
    BASELINE,
    BELOW_BASELINE,
    CLIP_FIRED,
    CLIP_NORM,
    CLIP_VALUE,
    CLIPPED,
    CURES,
    DIVERGED,
    DIVERGED_AT,
    FIRED_FRACTION,
    FIRST_DIVERGENCE,
    GRAD_NORM,
    L2,
    L2_CLIP,
    MAX_GRAD_NORM,
    OMEGA,
    OMEGA_CLIP,
    PLAIN,
    SEEDS,
    STEP,
    TBPTT_LONG,
    TBPTT_SHORT,
    TEST_LOSS,
    TRAIN_BASELINE,
    TRAIN_LOSS,
)

__all__ = ["draw"]

#: The panels of the norm and loss figures: each family of cures beside plain SGD.
_PANELS = (("clipping", (PLAIN, CLIP_NORM, CLIP_VALUE)), ("truncation", (PLAIN, TBPTT_SHORT, TBPTT_LONG)),
           ("omega", (PLAIN, OMEGA, OMEGA_CLIP)), ("l2", (PLAIN, L2, L2_CLIP)))
# Bins of steps the clip activity is averaged over, equally wide on the logarithmic step axis.
_BINS = 30
# One colour per cure; a penalty alone and the same penalty followed by clipping in neighbouring hues.
_COLORS = {PLAIN: PALETTE["red"], CLIP_NORM: PALETTE["blue"], CLIP_VALUE: PALETTE["sky"],
           OMEGA: PALETTE["pink"], OMEGA_CLIP: PALETTE["purple"], L2: PALETTE["olive"], L2_CLIP: PALETTE["green"]}

_T = Catalog({
    f"cure.{PLAIN}": {"en": "plain SGD", "pt": "SGD simples"},
    f"cure.{CLIP_NORM}": {"en": "clip by norm ({max_norm})", "pt": "poda pela norma ({max_norm})"},
    f"cure.{CLIP_VALUE}": {"en": "clip by value (±{max_value})", "pt": "poda por valor (±{max_value})"},
    f"cure.{TBPTT_SHORT}": {"en": "TBPTT, k = {k_short}", "pt": "BPTT truncada, k = {k_short}"},
    f"cure.{TBPTT_LONG}": {"en": "TBPTT, k = {k_long}", "pt": "BPTT truncada, k = {k_long}"},
    f"cure.{OMEGA}": {"en": "Ω alone (α = {alpha})", "pt": "só Ω (α = {alpha})"},
    f"cure.{OMEGA_CLIP}": {"en": "Ω, then clip by norm", "pt": "Ω e poda pela norma"},
    f"cure.{L2}": {"en": "L2 alone ({l2})", "pt": "só L2 ({l2})"},
    f"cure.{L2_CLIP}": {"en": "L2, then clip by norm", "pt": "L2 e poda pela norma"},
    "panel.clipping": {"en": "Clipping", "pt": "Poda do gradiente"},
    "panel.truncation": {"en": "Truncated BPTT", "pt": "BPTT truncada"},
    "panel.omega": {"en": "Pascanu's Ω", "pt": "Ω de Pascanu"},
    "panel.l2": {"en": "L2 penalty", "pt": "Penalidade L2"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "norm_axis": {"en": "‖∂L/∂θ‖ before any cure", "pt": "‖∂L/∂θ‖ antes de qualquer cura"},
    "norm_title": {"en": "Gradient norm before clipping", "pt": "Norma do gradiente antes da poda"},
    "norm_caption": {
        "en": "‖∂L/∂θ‖ of the loss at each training step, before a clip or a penalty acts (with truncated BPTT, the "
              "norm of the truncated gradient); median over the members, band from the smallest to the largest, log "
              "scale; the step axis is linear up to 10 and logarithmic beyond. Each panel shows one family of cures "
              "beside plain SGD, which every run starts from. A × on the top edge marks the step at which a member's "
              "loss or gradient turned NaN or infinite; that member is frozen there and drawn no further.",
        "pt": "‖∂L/∂θ‖ da perda em cada passo de treino, antes de uma poda ou penalidade agir (com BPTT truncada, a "
              "norma do gradiente truncado); mediana entre os membros, faixa do menor ao maior, escala logarítmica; "
              "o eixo dos passos é linear até 10 e logarítmico depois. Cada painel mostra uma família de curas ao "
              "lado do SGD simples, do qual toda execução parte. Um × na borda de cima marca o passo em que a perda "
              "ou o gradiente de um membro virou NaN ou infinito; esse membro fica congelado ali e não é mais "
              "desenhado.",
    },
    "loss_axis": {"en": "training loss (MSE)", "pt": "perda de treino (MSE)"},
    "loss_title": {"en": "Training loss", "pt": "Perda de treino"},
    "loss_caption": {
        "en": "Mean squared error of each training batch (standardized series), median over the members with the "
              "band from the smallest to the largest, log scale, in the panels of the previous figure. The dotted "
              "line is the persistence forecast (the next value equals the last one) on the training part of the "
              "series; × as in the previous figure.",
        "pt": "Erro quadrático médio de cada lote de treino (série padronizada), mediana entre os membros com a "
              "faixa do menor ao maior, escala logarítmica, nos painéis da figura anterior. A linha pontilhada é a "
              "previsão por persistência (o próximo valor igual ao último) na parte de treino da série; × como na "
              "figura anterior.",
    },
    "baseline": {"en": "persistence", "pt": "persistência"},
    "fired_axis": {"en": "fraction of members clipped", "pt": "fração de membros podados"},
    "fired_title": {"en": "How often each clip acted", "pt": "Com que frequência cada poda agiu"},
    "fired_caption": {
        "en": "Fraction of the members whose gradient the clip changed, for every run that clips (by norm, by "
              "value, or by norm after a penalty), averaged over about {bins} bins of steps that are equally wide on "
              "the step axis (linear up to 10, logarithmic beyond). A member that diverged no longer counts.",
        "pt": "Fração dos membros cujo gradiente a poda alterou, para cada execução que poda (pela norma, por valor, "
              "ou pela norma depois de uma penalidade), em média sobre cerca de {bins} faixas de passos de mesma "
              "largura no eixo dos passos (linear até 10, logarítmico depois). Um membro que divergiu deixa de contar.",
    },
    "table": {"en": "Divergence and held-out loss of each cure", "pt": "Divergência e perda em dados separados de "
                                                                      "cada cura"},
    "columns": {
        "en": "cure|members diverged|first divergence (step)|largest gradient norm|steps clipped|held-out loss, "
              "median [min, max] of the members that did not diverge|members below the baseline",
        "pt": "cura|membros divergentes|primeira divergência (passo)|maior norma do gradiente|passos podados|perda "
              "em dados separados, mediana [mín, máx] dos membros que não divergiram|membros abaixo da referência",
    },
    "table_caption": {
        "en": "Tanh Elman RNN with {hidden} units, W_rec rescaled to spectral radius {rho} at the start, predicting "
              "the next value of the standardized Mackey–Glass series from its last {length} values; plain SGD at "
              "learning rate {lr} for {steps} steps of {batch} windows; {seeds} members per row, every row from the "
              "same weights and the same batches. Held-out loss: MSE over every window of the test part (the last "
              "fifth of the series), whose persistence forecast scores {baseline}. A member diverged when its loss "
              "or gradient turned NaN or infinite. Clipping thresholds: norm {max_norm}, value ±{max_value}; "
              "penalties: Ω weight α = {alpha} (squared form, mean over steps), L2 coefficient {l2}.",
        "pt": "RNN de Elman tanh com {hidden} unidades, W_rec reescalada para raio espectral {rho} no início, prevendo "
              "o próximo valor da série de Mackey–Glass padronizada a partir dos seus últimos {length} valores; SGD "
              "simples com taxa de aprendizado {lr} por {steps} passos de {batch} janelas; {seeds} membros por "
              "linha, todas as linhas com os mesmos pesos iniciais e os mesmos lotes. Perda em dados separados: MSE "
              "sobre todas as janelas da parte de teste (o último quinto da série), onde a previsão por persistência "
              "marca {baseline}. Um membro diverge quando sua perda ou seu gradiente vira NaN ou infinito. Limiares "
              "da poda: norma {max_norm}, valor ±{max_value}; penalidades: peso do Ω α = {alpha} (forma quadrática, "
              "média entre os passos), coeficiente L2 {l2}.",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the exploding study: the gradient norm and the training loss per cure, clip activity, the divergence table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        (figures, tables); empty lists when the store holds no run of the study.
    """
    runs = {r.name: r for r in _runs(store, "exploding") if r.name in CURES and GRAD_NORM in r.arrays}
    if not runs:
        return [], []
    config = next(iter(runs.values())).config
    labels = _labels(config, lang)
    styles = _styles(config)
    panels = [(panel, [c for c in cures if c in runs]) for panel, cures in _PANELS]
    panels = [(panel, cures) for panel, cures in panels if any(c != PLAIN for c in cures)] or [("clipping", [PLAIN])]
    figures = [_curves(runs, panels, labels, styles, GRAD_NORM, "norm", lang),
               _curves(runs, panels, labels, styles, TRAIN_LOSS, "loss", lang)]
    clipped = [c for c in CLIPPED if c in runs and CLIP_FIRED in runs[c].arrays]
    if clipped:
        figures.append(_fired(runs, clipped, labels, styles, lang))
    return figures, [_table(runs, labels, config, lang)]


def _labels(config: dict, lang: str) -> dict[str, str]:
    """Return each cure's legend label, its numbers written as ``lang`` writes them."""
    values = {"max_norm": number(config["max_norm"], "g", lang), "max_value": number(config["max_value"], "g", lang),
              "k_short": config["short_truncation"], "k_long": config["long_truncation"],
              "alpha": number(config["omega_weight"], "g", lang), "l2": number(config["l2"], "g", lang)}
    return {cure: _T(f"cure.{cure}", lang, **values) for cure in CURES}


def _styles(config: dict) -> dict[str, tuple]:
    """Return a colour per cure; the two truncation windows in the order of k."""
    shades = ordered_colors([config["short_truncation"], config["long_truncation"]])
    return {**_COLORS, TBPTT_SHORT: shades[config["short_truncation"]], TBPTT_LONG: shades[config["long_truncation"]]}


def _step_axis(ax, steps: int, lang: str) -> None:
    """Label ``ax``'s x axis with training steps up to ``steps``, linear up to 10 and logarithmic beyond.

    The divergences happen within the first few dozen steps and the cures train for hundreds: a logarithmic
    axis shows both. The ticks are 0, 10, 100 … and the number of steps, whole numbers formatted here (they
    need no decimal comma).
    """
    ax.set_xscale("symlog", linthresh=10, linscale=0.5)
    ax.set_xlim(0, steps)
    powers = [10**p for p in range(1, len(str(steps))) if 10**p < 0.6 * steps]  # not crowding the last tick
    ax.xaxis.set_major_locator(FixedLocator([0, *powers, steps]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))
    ax.set_xlabel(_T("training_step", lang))


def _until_divergence(values: np.ndarray, diverged_at: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Return (n, K) ``values`` with each member blanked after the step it diverged at, and non-positive ones."""
    values = np.array(values, dtype=float)
    for k, at in enumerate(diverged_at):
        if at >= 0:
            values[steps > at, k] = np.nan
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _curves(runs: dict[str, RunRecord], panels, labels, styles, key: str, name: str, lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(panels), figsize=_size(3.4 * len(panels), 4.2), squeeze=False, sharey=True)
    for ax, (panel, cures) in zip(axes[0], panels):
        for cure in cures:
            run = runs[cure]
            color = styles[cure]
            steps = run.arrays[STEP]
            shown = _until_divergence(run.arrays[key], run.arrays[DIVERGED_AT], steps)
            if np.isfinite(shown).any():
                _band(ax, steps, shown, color, labels[cure], axis=1)
            else:  # every member diverged at its first step: keep the legend entry
                ax.plot([], [], color=color, label=labels[cure])
            for at in run.arrays[DIVERGED_AT]:
                if at >= 0:
                    ax.plot([at], [1.0], marker="x", color=color, markersize=8, linestyle="none", clip_on=False,
                            transform=ax.get_xaxis_transform())
        if key == TRAIN_LOSS:
            baseline = runs[cures[0]].summary[TRAIN_BASELINE]
            ax.axhline(baseline, color=PALETTE["black"], linestyle=":", linewidth=1, label=_T("baseline", lang))
        ax.set_yscale("log")
        ax.set_title(_T(f"panel.{panel}", lang))
        _step_axis(ax, int(steps[-1]) + 1, lang)
        ax.grid(True, alpha=0.3)
        # Off the data: under the panel.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    axes[0][0].set_ylabel(_T(f"{name}_axis", lang))
    return Figure(_T(f"{name}_title", lang), _T(f"{name}_caption", lang), _png(fig, lang))


def _fired(runs: dict[str, RunRecord], clipped: list[str], labels, styles, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(8.0, 3.6))
    for cure in clipped:
        run = runs[cure]
        steps = run.arrays[STEP]
        # Members that have not diverged by each step, and how many of them the clip changed.
        until = np.where(run.arrays[DIVERGED_AT] >= 0, run.arrays[DIVERGED_AT], steps[-1])
        active = steps[:, None] <= until[None]
        fired = np.where(active, np.nan_to_num(run.arrays[CLIP_FIRED]), 0.0).sum(1)
        counted = active.sum(1)
        # Bins as wide on the logarithmic step axis as each other: one step each at first, hundreds at the end.
        edges = np.unique(np.concatenate([[0], np.geomspace(1, len(steps), _BINS).astype(int)]))
        centers = [(steps[a] + steps[b - 1]) / 2 for a, b in zip(edges[:-1], edges[1:])]
        shares = [fired[a:b].sum() / max(counted[a:b].sum(), 1) for a, b in zip(edges[:-1], edges[1:])]
        ax.plot(centers, shares, color=styles[cure], label=labels[cure], marker=".")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value, ".1f", lang)))
    _step_axis(ax, int(steps[-1]) + 1, lang)
    ax.set_ylabel(_T("fired_axis", lang))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return Figure(_T("fired_title", lang), _T("fired_caption", lang, bins=_BINS), _png(fig, lang))


def _table(runs: dict[str, RunRecord], labels, config: dict, lang: str) -> Table:
    rows = []
    baseline = None
    for cure in CURES:
        run = runs.get(cure)
        if run is None or run.status != "finished":
            continue
        s = run.summary
        baseline = s[BASELINE]
        losses = run.arrays[TEST_LOSS]
        kept = losses[np.isfinite(losses)]
        rows.append([
            labels[cure],
            f"{s[DIVERGED]}/{s[SEEDS]}",
            str(s[FIRST_DIVERGENCE]) if s[FIRST_DIVERGENCE] >= 0 else "—",
            number(s[MAX_GRAD_NORM], ".1e", lang),
            number(s[FIRED_FRACTION], ".0%", lang) if cure in CLIPPED else "—",
            spread(kept, lang) if kept.size else "—",
            f"{s[BELOW_BASELINE]}/{s[SEEDS]}",
        ])
    caption = _T("table_caption", lang, hidden=config["hidden_size"], rho=number(config["spectral_radius"], "g", lang),
                 length=config["length"], lr=number(config["lr"], "g", lang), steps=config["steps"],
                 batch=config["batch_size"], seeds=config[SEEDS], baseline=number(baseline, ".4f", lang),
                 max_norm=number(config["max_norm"], "g", lang), max_value=number(config["max_value"], "g", lang),
                 alpha=number(config["omega_weight"], "g", lang), l2=number(config["l2"], "g", lang))
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, caption)
