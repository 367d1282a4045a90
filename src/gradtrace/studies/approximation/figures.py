"""Figures of the approximation study: decision boundaries, XOR seed by seed, fitted functions, learning curves."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.approximation import config as keys
from gradtrace.studies.approximation.config import (
    CIRCLES,
    CIRCLES_FEW,
    PROBLEMS,
    RECIPROCAL_LINEAR,
    RECIPROCAL_LOG,
    SIN,
    SPIRAL,
    SQUARE,
    XOR_PROBLEMS,
    XOR_SIGMOID,
    XOR_TANH,
)

__all__ = ["draw"]

# Class 0 (XOR output 0, outer circle, first arm) and class 1.
_CLASS_COLORS = (PALETTE["blue"], PALETTE["red"])
# A seed's outcome on XOR: fitted, stalled on a plateau, neither (still moving at the end).
_OUTCOME_COLORS = {"fitted": PALETTE["green"], "stalled": PALETTE["red"], "moving": PALETTE["orange"]}
# One color per problem in the learning curves, in the order of PROBLEMS.
_PROBLEM_COLORS = dict(zip(PROBLEMS, (PALETTE["grey"], PALETTE["black"], PALETTE["orange"], PALETTE["blue"],
                                      PALETTE["purple"], PALETTE["green"], PALETTE["sky"], PALETTE["red"],
                                      PALETTE["pink"])))
# XOR losses below this are drawn at it: a fitted seed's loss reaches 0 in float32, off a log axis.
_LOSS_FLOOR = 1e-8
# XOR seeds drawn one by one: enough to meet the stalled ones among the fitted, few enough to read.
_XOR_PANELS = 8
# A positive domain spanning at least this ratio is drawn on a log x axis (1/x on [1, 100]), where the
# steep part near the left end would otherwise be a few pixels wide.
_LOG_X_RATIO = 20.0

TEXT = Catalog({
    XOR_SIGMOID: {"en": "XOR", "pt": "XOR"},
    XOR_TANH: {"en": "XOR", "pt": "XOR"},
    CIRCLES_FEW: {"en": "circles", "pt": "círculos"},
    CIRCLES: {"en": "circles", "pt": "círculos"},
    SPIRAL: {"en": "two spirals", "pt": "duas espirais"},
    SQUARE: {"en": "x² on [−1, 1]", "pt": "x² em [−1, 1]"},
    SIN: {"en": "sin x on [1, 2π]", "pt": "sen x em [1, 2π]"},
    RECIPROCAL_LINEAR: {"en": "1/x on [1, 100], fed x", "pt": "1/x em [1, 100], recebendo x"},
    RECIPROCAL_LOG: {"en": "1/x on [1, 100], fed ln x", "pt": "1/x em [1, 100], recebendo ln x"},
    "seed": {"en": "seed {k}", "pt": "semente {k}"},
    "seeds": {"en": "{n} seeds", "pt": "{n} sementes"},
    "class": {"en": "class {c}", "pt": "classe {c}"},
    "boundary": {"en": "decision boundary (output 1/2)", "pt": "fronteira de decisão (saída 1/2)"},
    "boundaries_title": {"en": "Decision boundaries", "pt": "Fronteiras de decisão"},
    "boundaries_caption": {
        "en": "One seed per panel: the one whose held-out loss is the median over seeds. The shaded regions are "
              "where the network answers class 0 (blue) or class 1 (red) — ŷ below or above 1/2 for XOR, which is "
              "fitted as a regression on the labels 0 and 1, the probability of class 1 for circles and spirals — "
              "and the black line is the boundary between them. Dots are held-out points colored by their true "
              "class (XOR: the four points of the truth table). The circles are drawn twice: with too few hidden "
              "units and with the course notes' four.",
        "pt": "Uma semente por painel: aquela cuja perda de validação é a mediana entre as sementes. As regiões "
              "sombreadas são onde a rede responde classe 0 (azul) ou classe 1 (vermelho) — ŷ abaixo ou acima de 1/2 "
              "no XOR, ajustado como regressão sobre os rótulos 0 e 1, a probabilidade da classe 1 nos círculos e "
              "nas espirais — e a linha preta é a fronteira entre elas. Os pontos são pontos de validação coloridos "
              "pela classe verdadeira (XOR: os quatro pontos da tabela-verdade). Os círculos aparecem duas vezes: "
              "com poucas unidades ocultas e com as quatro das notas do curso."},
    "outcome_fitted": {"en": "fitted: every output within {margin} of its label",
                       "pt": "ajustou: cada saída a menos de {margin} do rótulo"},
    "outcome_stalled": {"en": "stalled on a plateau", "pt": "parada num platô"},
    "outcome_moving": {"en": "neither (loss still moving)", "pt": "nenhum dos dois (perda ainda mudando)"},
    "baseline": {"en": "best constant answer", "pt": "melhor resposta constante"},
    "step": {"en": "training step", "pt": "passo de treino"},
    "xor_loss": {"en": "held-out loss (MSE)", "pt": "perda de validação (EQM)"},
    "xor_curves_title": {"en": "XOR, seed by seed: the loss during training",
                         "pt": "XOR, semente a semente: a perda durante o treino"},
    "xor_curves_caption": {
        "en": "Every seed of each 2-2-1 network, one line each: its held-out loss (mean squared error on the four "
              "points, log scale) during training, colored by how it ends — fitted (every output within {margin} "
              "of its label), stalled (above {plateau} and moving less than {change} over the last {window} "
              "steps) or neither. The dotted line is the best constant answer, ŷ = 1/2 everywhere; a loss below "
              "10⁻⁸ is drawn at 10⁻⁸.",
        "pt": "Todas as sementes de cada rede 2-2-1, uma linha cada: sua perda de validação (erro quadrático médio "
              "nos quatro pontos, escala log) durante o treino, colorida pelo modo como termina — ajustou (cada "
              "saída a menos de {margin} do rótulo), parada (acima de {plateau} e mudando menos de {change} nos "
              "últimos {window} passos) ou nenhum dos dois. A linha pontilhada é a melhor resposta constante, "
              "ŷ = 1/2 em toda parte; uma perda abaixo de 10⁻⁸ aparece em 10⁻⁸."},
    "xor_seeds_title": {"en": "XOR, seed by seed: the decision surfaces",
                        "pt": "XOR, semente a semente: as superfícies de decisão"},
    "xor_seeds_caption": {
        "en": "The first {panels} seeds of each 2-2-1 network, shaded as in the decision boundaries, framed by "
              "their outcome with the colors of the learning curves above.",
        "pt": "As primeiras {panels} sementes de cada rede 2-2-1, sombreadas como nas fronteiras de decisão, com a "
              "moldura na cor do seu desfecho, como nas curvas de perda acima."},
    "truth": {"en": "f(x)", "pt": "f(x)"},
    "fits": {"en": "the network's fit, one line per seed", "pt": "o ajuste da rede, uma linha por semente"},
    "tolerance": {"en": "±5% of the function's range", "pt": "±5% da amplitude da função"},
    "fit_axis": {"en": "f(x) and the fits", "pt": "f(x) e os ajustes"},
    "error_axis": {"en": "fit − f(x)", "pt": "ajuste − f(x)"},
    "functions_title": {"en": "Fitted functions against the truth", "pt": "Funções ajustadas contra a verdadeira"},
    "functions_caption": {
        "en": "Top: every seed's fitted curve (thin) on an even grid of {points} points of the domain, against the "
              "function (dashed). Bottom: the error, fit − f(x), with the success tolerance shaded: 5% of the "
              "function's range, which a seed must meet at every grid point. Each column is one hidden layer of "
              "tanh units; 1/x is drawn twice, fed x mapped linearly onto [−1, 1] and trained on points even in x, "
              "and fed ln x mapped onto [−1, 1] and trained on points even in ln x, with the same units, steps and "
              "learning rate. Its x axis is logarithmic, so that the part near x = 1, where 1/x changes most, "
              "is wide enough to see.",
        "pt": "Em cima: a curva ajustada de cada semente (fina) numa grade uniforme de {points} pontos do domínio, "
              "contra a função (tracejada). Embaixo: o erro, ajuste − f(x), com a tolerância de sucesso sombreada: "
              "5% da amplitude da função, que uma semente precisa cumprir em todos os pontos da grade. Cada coluna é "
              "uma camada oculta de unidades tanh; 1/x aparece duas vezes, recebendo x levado linearmente a [−1, 1] "
              "e treinada em pontos uniformes em x, e recebendo ln x levado a [−1, 1] e treinada em pontos uniformes "
              "em ln x, com as mesmas unidades, passos e taxa de aprendizado. Seu eixo x é logarítmico, para que a "
              "parte perto de x = 1, onde 1/x mais muda, tenha largura visível."},
    "curves_title": {"en": "Learning curves", "pt": "Curvas de aprendizado"},
    "curves_caption": {
        "en": "Loss on a held-out batch drawn like the training data, divided by the loss of the best constant "
              "answer (ln 2 for the classifiers' cross-entropy, the variance of f for the functions' mean squared "
              "error), log scale: median over seeds with the min–max band. A line at 1 has learned nothing beyond "
              "a constant.",
        "pt": "Perda num lote de validação sorteado como os dados de treino, dividida pela perda da melhor "
              "resposta constante (ln 2 para a entropia cruzada dos classificadores, a variância de f para o erro "
              "quadrático médio das funções), escala log: mediana entre sementes com a faixa mín–máx. Uma linha em 1 "
              "não aprendeu nada além de uma constante."},
    "relative_loss": {"en": "held-out loss ÷ best constant's", "pt": "perda de validação ÷ a da constante"},
    "classifiers": {"en": "classifiers (cross-entropy)", "pt": "classificadores (entropia cruzada)"},
    "functions": {"en": "functions (mean squared error)", "pt": "funções (erro quadrático médio)"},
    "table_title": {"en": "Universal approximation, problem by problem",
                    "pt": "Aproximação universal, problema a problema"},
    # Columns of the table, separated by ";".
    "table_columns": {"en": "problem;network;solved k/n [Wilson 95%];held-out accuracy: median (worst seed);"
                            "largest |error|: median (worst seed) / tolerance;RMSE (median);steps",
                      "pt": "problema;rede;resolveu k/n [Wilson 95%];acurácia de validação: mediana (pior semente);"
                            "maior |erro|: mediana (pior semente) / tolerância;RMSE (mediana);passos"},
    "table_caption": {
        "en": "Solved: every XOR output within {margin} of its label; at least 99% of {test_points} held-out points "
              "right (circles, spirals); largest error on an even grid of {points} points within 5% of the "
              "function's range (functions). Adam on a fixed training set per seed (XOR: full batch on "
              "{xor_examples} draws of the four points).",
        "pt": "Resolveu: cada saída do XOR a menos de {margin} do rótulo; ao menos 99% de {test_points} pontos de "
              "validação certos (círculos, espirais); maior erro numa grade uniforme de {points} pontos dentro de 5% "
              "da amplitude da função (funções). Adam sobre um conjunto de treino fixo por semente (XOR: lote "
              "completo de {xor_examples} sorteios dos quatro pontos)."},
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the approximation study's figures and table from its finished runs in ``store``, in ``lang``."""
    runs = [r for r in _runs(store, "approximation") if r.status == "finished" and r.summary]
    if not runs:
        return [], []
    plane = [r for r in runs if keys.GRID_VALUE in r.arrays]
    curves = [r for r in runs if keys.CURVE_FIT in r.arrays]
    xor = [r for r in plane if r.name in XOR_PROBLEMS]
    figures = []
    if plane:
        figures.append(_boundaries(plane, lang))
    if xor:
        figures.append(_xor_curves(xor, lang))
        figures.append(_xor_seeds(xor, lang))
    if curves:
        figures.append(_functions(curves, lang))
    others = [r for r in runs if r.name not in XOR_PROBLEMS]
    if others:
        figures.append(_learning_curves(others, lang))
    return figures, [_table(runs, lang)]


def _surface(ax, run: RunRecord, member: int, *, size: float) -> None:
    """Shade where ``member`` answers each class, draw its boundary (output 1/2) and the held-out points."""
    a = run.arrays
    value = a[keys.GRID_VALUE][member]
    low, high = min(float(value.min()), 0.0) - 1.0, max(float(value.max()), 1.0) + 1.0
    ax.contourf(a[keys.GRID_X], a[keys.GRID_Y], value, levels=[low, 0.5, high], colors=_CLASS_COLORS, alpha=0.25)
    if value.min() < 0.5 < value.max():
        ax.contour(a[keys.GRID_X], a[keys.GRID_Y], value, levels=[0.5], colors=PALETTE["black"], linewidths=1.4)
    inputs, labels = a[keys.POINTS_INPUTS], a[keys.POINTS_LABEL]
    for label, color in enumerate(_CLASS_COLORS):
        chosen = labels == label
        ax.scatter(inputs[chosen, 0], inputs[chosen, 1], s=size, color=color, edgecolors="white",
                   linewidths=0.4 if size < 30 else 1.0, zorder=3)
    ax.set_aspect("equal")


def _class_legend(fig, lang: str) -> None:
    """Put the classes and the boundary in one legend under the figure, off the data."""
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=color, markersize=8) for color in _CLASS_COLORS]
    handles.append(plt.Line2D([], [], color=PALETTE["black"], linewidth=1.4))
    labels = [TEXT("class", lang, c=c) for c in (0, 1)] + [TEXT("boundary", lang)]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False)


def _boundaries(runs: list[RunRecord], lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(2.8 * len(runs) + 0.4, 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, run in zip(axes[0], runs):
        member = run.summary[keys.MEDIAN_MEMBER]
        _surface(ax, run, member, size=90.0 if run.name in XOR_PROBLEMS else 5.0)
        ax.set_title(f"{TEXT(run.name, lang)}, {run.summary[keys.NETWORK]}\n{TEXT('seed', lang, k=member)}")
        ax.set_xlabel("$x_1$")
    axes[0][0].set_ylabel("$x_2$")
    _class_legend(fig, lang)
    return Figure(TEXT("boundaries_title", lang), TEXT("boundaries_caption", lang), _png(fig, lang))


def _outcome(run: RunRecord) -> np.ndarray:
    """Each seed's outcome on XOR: "fitted", "stalled" or "moving"."""
    fitted = run.arrays[keys.SUCCESS].astype(bool)
    stalled = run.arrays[keys.XOR_STALLED].astype(bool)
    return np.where(fitted, "fitted", np.where(stalled, "stalled", "moving"))


def _xor_curves(runs: list[RunRecord], lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(5.0 * len(runs), 3.4), squeeze=False, sharey=True,
                             constrained_layout=True)
    config = runs[0].config
    for ax, run in zip(axes[0], runs):
        steps, losses = run.arrays[keys.EVAL_STEP], run.arrays[keys.EVAL_LOSS]
        outcome = _outcome(run)
        # Stalled and moving seeds on top: they are the few.
        for kind in ("fitted", "moving", "stalled"):
            for member in np.flatnonzero(outcome == kind):
                ax.plot(steps, np.clip(losses[:, member], _LOSS_FLOOR, None), color=_OUTCOME_COLORS[kind],
                        linewidth=0.7, alpha=0.5)
        ax.axhline(run.summary[keys.BASELINE_LOSS], color=PALETTE["black"], linestyle=":", linewidth=1.2)
        ax.set_yscale("log")
        ax.set_title(f"{run.summary[keys.NETWORK]}, {TEXT('seeds', lang, n=run.summary[keys.SEEDS])}")
        ax.set_xlabel(TEXT("step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(TEXT("xor_loss", lang))
    margin = number(config["xor_margin"], "g", lang)
    handles = [plt.Line2D([], [], color=_OUTCOME_COLORS[kind], linewidth=2) for kind in _OUTCOME_COLORS]
    handles.append(plt.Line2D([], [], color=PALETTE["black"], linestyle=":", linewidth=1.2))
    labels = [TEXT(f"outcome_{kind}", lang, margin=margin) for kind in _OUTCOME_COLORS] + [TEXT("baseline", lang)]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    caption = TEXT("xor_curves_caption", lang, margin=margin, plateau=number(config["plateau_loss"], "g", lang),
                   change=number(config["stall_change"], "g", lang), window=config["stall_steps"])
    return Figure(TEXT("xor_curves_title", lang), caption, _png(fig, lang))


def _xor_seeds(runs: list[RunRecord], lang: str) -> Figure:
    panels = min(_XOR_PANELS, max(len(r.arrays[keys.SUCCESS]) for r in runs))
    fig, axes = plt.subplots(len(runs), panels, figsize=_size(1.55 * panels + 0.6, 1.75 * len(runs) + 0.3),
                             squeeze=False)
    for row, run in zip(axes, runs):
        outcome = _outcome(run)
        for k, ax in enumerate(row):
            if k >= len(outcome):
                ax.axis("off")
                continue
            _surface(ax, run, k, size=28.0)
            for spine in ax.spines.values():
                spine.set_edgecolor(_OUTCOME_COLORS[outcome[k]])
                spine.set_linewidth(3.0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(TEXT("seed", lang, k=k))
        row[0].set_ylabel(run.summary[keys.NETWORK])
    return Figure(TEXT("xor_seeds_title", lang), TEXT("xor_seeds_caption", lang, panels=panels), _png(fig, lang))


def _functions(runs: list[RunRecord], lang: str) -> Figure:
    fig, axes = plt.subplots(2, len(runs), figsize=_size(3.4 * len(runs), 5.4), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1.2]}, sharex="col", constrained_layout=True)
    for top, bottom, run in zip(axes[0], axes[1], runs):
        a, s = run.arrays, run.summary
        x, truth, fitted = a[keys.CURVE_X], a[keys.CURVE_TRUTH], a[keys.CURVE_FIT]
        for curve in fitted:
            top.plot(x, curve, color=PALETTE["blue"], linewidth=0.7, alpha=0.45)
            bottom.plot(x, curve - truth, color=PALETTE["blue"], linewidth=0.7, alpha=0.45)
        top.plot(x, truth, color=PALETTE["black"], linestyle="--", linewidth=1.6)
        tolerance = s[keys.TOLERANCE]
        bottom.axhspan(-tolerance, tolerance, color=PALETTE["grey"], alpha=0.25, linewidth=0)
        bottom.axhline(0.0, color=PALETTE["black"], linewidth=0.8)
        if x[0] > 0 and x[-1] / x[0] >= _LOG_X_RATIO:
            bottom.set_xscale("log")
        top.set_title(f"{TEXT(run.name, lang)}\n{s[keys.NETWORK]}")
        top.grid(True, alpha=0.3)
        bottom.grid(True, alpha=0.3)
        bottom.set_xlabel("x")
    axes[0][0].set_ylabel(TEXT("fit_axis", lang))
    axes[1][0].set_ylabel(TEXT("error_axis", lang))
    handles = [plt.Line2D([], [], color=PALETTE["black"], linestyle="--", linewidth=1.6),
               plt.Line2D([], [], color=PALETTE["blue"], linewidth=1.2),
               plt.Rectangle((0, 0), 1, 1, color=PALETTE["grey"], alpha=0.25, linewidth=0)]
    labels = [TEXT("truth", lang), TEXT("fits", lang), TEXT("tolerance", lang)]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False)
    caption = TEXT("functions_caption", lang, points=len(runs[0].arrays[keys.CURVE_X]))
    return Figure(TEXT("functions_title", lang), caption, _png(fig, lang))


def _learning_curves(runs: list[RunRecord], lang: str) -> Figure:
    groups = [("classifiers", [r for r in runs if keys.GRID_VALUE in r.arrays]),
              ("functions", [r for r in runs if keys.CURVE_FIT in r.arrays])]
    groups = [(name, members) for name, members in groups if members]
    fig, axes = plt.subplots(1, len(groups), figsize=_size(5.2 * len(groups) + 2.0, 3.6), squeeze=False,
                             sharey=True, constrained_layout=True)
    for ax, (group, members) in zip(axes[0], groups):
        for run in members:
            steps, loss = run.arrays[keys.EVAL_STEP], run.arrays[keys.EVAL_LOSS]
            relative = loss / run.summary[keys.BASELINE_LOSS]
            shown = np.where(np.isfinite(relative) & (relative > 0), relative, np.nan)
            if len(steps) and np.isfinite(shown).any():
                label = f"{TEXT(run.name, lang)}, {run.summary[keys.NETWORK]}"
                _band(ax, steps, shown, _PROBLEM_COLORS[run.name], label, axis=1)
        ax.axhline(1.0, color=PALETTE["black"], linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(TEXT(group, lang))
        ax.set_xlabel(TEXT("step", lang))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    axes[0][0].set_ylabel(TEXT("relative_loss", lang))
    return Figure(TEXT("curves_title", lang), TEXT("curves_caption", lang), _png(fig, lang))


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = []
    for run in runs:
        s = run.summary
        solved = (f"{s[keys.SUCCESSES]}/{s[keys.SEEDS]} [{number(s[keys.SUCCESS_LOW], '.0%', lang)}, "
                  f"{number(s[keys.SUCCESS_HIGH], '.0%', lang)}]")
        accuracy = error = rmse = "—"
        if keys.ACCURACY in s:
            accuracy = f"{number(s[keys.ACCURACY], '.1%', lang)} ({number(s[keys.ACCURACY_MIN], '.1%', lang)})"
        if keys.MAX_ERROR in s:
            error = (f"{number(s[keys.MAX_ERROR], '.3g', lang)} ({number(s[keys.WORST_MAX_ERROR], '.3g', lang)}) / "
                     f"{number(s[keys.TOLERANCE], '.3g', lang)}")
            rmse = number(s[keys.RMSE], ".3g", lang)
        rows.append([TEXT(run.name, lang), s[keys.NETWORK], solved, accuracy, error, rmse, str(s[keys.STEPS])])
    config = runs[0].config
    caption = TEXT("table_caption", lang, margin=number(config["xor_margin"], "g", lang),
                   test_points=config["test_points"], points=config["curve_points"],
                   xor_examples=config["xor_examples"])
    return Table(TEXT("table_title", lang), TEXT("table_columns", lang).split(";"), rows, caption)
