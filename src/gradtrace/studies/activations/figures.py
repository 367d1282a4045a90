"""Figures of the activations study: each function and its derivative, and the bound (max φ′)^M."""

from __future__ import annotations

import math

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store

__all__ = ["draw"]

_VALUE_COLOR, _DERIVATIVE_COLOR, _SUPREMUM_COLOR = PALETTE["blue"], PALETTE["red"], PALETTE["grey"]
# The same colour for an activation as in the depth studies' figures.
_COLORS = {"step": PALETTE["grey"], "sigmoid": PALETTE["red"], "tanh": PALETTE["green"], "relu": PALETTE["blue"],
           "leaky_relu": PALETTE["sky"], "prelu": PALETTE["pink"], "gelu": PALETTE["purple"],
           "linear": PALETTE["black"]}

_T = Catalog({
    # English keeps the activations' own names (the runs'); Portuguese names them as the course does.
    "name.step": {"en": "step", "pt": "degrau"},
    "name.sigmoid": {"en": "sigmoid", "pt": "sigmoide"},
    "name.tanh": {"en": "tanh", "pt": "tanh"},
    "name.relu": {"en": "relu", "pt": "ReLU"},
    "name.leaky_relu": {"en": "leaky_relu", "pt": "Leaky ReLU"},
    "name.prelu": {"en": "prelu", "pt": "PReLU"},
    "name.gelu": {"en": "gelu", "pt": "GELU"},
    "name.linear": {"en": "linear", "pt": "linear"},
    "saturating": {"en": " (saturating)", "pt": " (satura)"},
    "learnable": {"en": " (learnable slope)", "pt": " (inclinação treinável)"},
    "supremum": {"en": "max {value}", "pt": "máx {value}"},
    "supremum_zero": {"en": "max 0 (φ′ = 0 almost everywhere)", "pt": "máx 0 (φ′ = 0 em quase todo ponto)"},
    "supremum_line": {"en": "sup φ′: the most one layer multiplies the gradient by",
                      "pt": "sup φ′: o máximo pelo qual uma camada multiplica o gradiente"},
    "pre_activation": {"en": "pre-activation x", "pt": "pré-ativação x"},
    "functions_title": {"en": "Activation functions and their derivatives",
                        "pt": "Funções de ativação e suas derivadas"},
    "functions_caption": {
        "en": "Solid: the function; dashed: its derivative; dotted: the derivative's supremum, the most one layer "
              "can multiply the gradient by. The sigmoid's derivative never exceeds 0.25 and tanh's never exceeds "
              "1, and both fall to almost 0 for large |x| (saturation): a saturated unit passes almost no gradient. "
              "ReLU's derivative is exactly 1 for x > 0 and exactly 0 below (a unit that stays below 0 passes no "
              "gradient, ever); Leaky ReLU and PReLU keep a small slope there. GELU's derivative overshoots 1 "
              "slightly (1.129 at x = √2) and dips below 0. The step function's derivative is 0 almost everywhere: "
              "nothing to learn from. PReLU is drawn at its starting slope 0.25.",
        "pt": "Linha cheia: a função; tracejada: sua derivada; pontilhada: o supremo da derivada, o máximo pelo "
              "qual uma camada pode multiplicar o gradiente. A derivada da sigmoide nunca passa de 0,25 e a da tanh "
              "nunca passa de 1, e as duas caem quase a 0 quando |x| é grande (saturação): uma unidade saturada "
              "quase não deixa o gradiente passar. A derivada da ReLU vale exatamente 1 para x > 0 e exatamente 0 "
              "abaixo disso (uma unidade que fica abaixo de 0 nunca mais passa gradiente algum); Leaky ReLU e PReLU "
              "mantêm ali uma inclinação pequena. A derivada da GELU passa um pouco de 1 (1,129 em x = √2) e fica "
              "negativa em parte do eixo. A derivada da função degrau é 0 em quase todo ponto: não há o que "
              "aprender com ela. A PReLU aparece com sua inclinação inicial, 0,25.",
    },
    "best_title": {"en": "Best case: (max φ′)^M", "pt": "Melhor caso: (máx φ′)^M"},
    "typical_title": {"en": "Typical: (rms φ′ for x ~ N(0, 1))^M", "pt": "Típico: (φ′ rms com x ~ N(0, 1))^M"},
    "layers_axis": {"en": "layers M", "pt": "camadas M"},
    "factor_axis": {"en": "factor the activations allow over M layers",
                    "pt": "fator que as ativações permitem em M camadas"},
    "bounds_title": {"en": "What the activations let through M layers",
                     "pt": "O que as ativações deixam passar por M camadas"},
    "bounds_caption": {
        "en": "The chain rule multiplies the gradient by φ′ once per layer, so over M layers the activations alone "
              "scale it by at most (max φ′)^M (left): 0.25^M for the sigmoid, below 10⁻⁶ after 10 layers and "
              "10⁻¹² after 20, whatever the pre-activations; 1 for tanh and the ReLU family, which therefore leave "
              "the weights to decide. GELU's bound grows, as its derivative exceeds 1 near x = √2. Right: the root "
              "mean square of φ′ when pre-activations are standard normal, a typical rather than a best case; tanh "
              "too falls geometrically there, because it is rarely at its peak. The step function (φ′ = 0) is not "
              "drawn.",
        "pt": "A regra da cadeia multiplica o gradiente por φ′ uma vez por camada, então em M camadas as ativações, "
              "sozinhas, o escalam no máximo por (máx φ′)^M (à esquerda): 0,25^M para a sigmoide, abaixo de 10⁻⁶ "
              "depois de 10 camadas e de 10⁻¹² depois de 20, sejam quais forem as pré-ativações; 1 para a tanh e a "
              "família ReLU, que assim deixam a decisão para os pesos. O limite da GELU cresce, porque sua derivada "
              "passa de 1 perto de x = √2. À direita: a raiz da média quadrática de φ′ quando as pré-ativações são "
              "normais padrão, um caso típico em vez do melhor caso; ali também a tanh cai geometricamente, porque "
              "raramente está no seu pico. A função degrau (φ′ = 0) não é desenhada.",
    },
    "table": {"en": "Derivative bounds per activation", "pt": "Limites da derivada por ativação"},
    "column.activation": {"en": "activation", "pt": "ativação"},
    "column.bound": {"en": "bound after {layers} layers", "pt": "limite depois de {layers} camadas"},
    "column.max": {"en": "max φ′", "pt": "máx φ′"},
    "column.autograd": {"en": "|φ′ − autograd| max", "pt": "|φ′ − autograd| máx"},
    "column.rms": {"en": "rms φ′, x ~ N(0, 1)", "pt": "φ′ rms, x ~ N(0, 1)"},
    "table_caption": {
        "en": "Bound after M layers: (max φ′)^M. φ′(0) for ReLU is 0 by convention (torch's too). rms φ′: the root "
              "mean square of φ′ for a standard normal pre-activation. Last column: the largest difference between "
              "the hand-written derivative and autograd's on {points} points in [−{x_max}, {x_max}].",
        "pt": "Limite depois de M camadas: (máx φ′)^M. φ′(0) da ReLU é 0 por convenção (a do torch também). φ′ "
              "rms: a raiz da média quadrática de φ′ para uma pré-ativação normal padrão. Última coluna: a maior "
              "diferença entre a derivada escrita à mão e a do autograd em {points} pontos de [−{x_max}, "
              "{x_max}].",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the activations study: function and derivative per activation, the chain-rule bound, the table.

    Args:
        store: a run store holding runs of the ``activations`` study.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The figures and the table "Derivative bounds per activation"; empty lists when the store holds no
        finished run of the study.
    """
    runs = [r for r in _runs(store, "activations") if r.status == "finished" and "derivative" in r.arrays]
    if not runs:
        return [], []
    return [_functions(runs, lang), _bounds(runs, lang)], [_table(runs, lang)]


def _name(name: str, lang: str) -> str:
    key = f"name.{name}"
    return _T(key, lang) if key in _T.messages else name


def _supremum_label(value: float, lang: str) -> str:
    return _T("supremum", lang, value=number(value, ".4g", lang)) if value else _T("supremum_zero", lang)


def _functions(runs, lang: str) -> Figure:
    columns = min(4, len(runs))
    rows = math.ceil(len(runs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=_size(3.3 * columns, 2.9 * rows), squeeze=False, sharex=True)
    for ax, run in zip(axes.flat, runs):
        a, s = run.arrays, run.summary
        ax.plot(a["x"], a["value"], color=_VALUE_COLOR, linewidth=1.6, label="φ(x)")
        ax.plot(a["x"], a["derivative"], color=_DERIVATIVE_COLOR, linewidth=1.6, linestyle="--", label="φ′(x)")
        supremum = s["max_derivative"]
        ax.axhline(supremum, color=_SUPREMUM_COLOR, linestyle=":", linewidth=1.2, label=_T("supremum_line", lang))
        ax.annotate(_supremum_label(supremum, lang), (a["x"][0], supremum), xytext=(2, 3),
                    textcoords="offset points", color=_SUPREMUM_COLOR, va="bottom")
        ax.axhline(0.0, color="black", linewidth=0.5, alpha=0.5)
        ax.axvline(0.0, color="black", linewidth=0.5, alpha=0.5)
        # Unbounded functions (ReLU, linear) would squash the derivative: frame what matters, φ′ and φ near 0.
        ax.set_ylim(min(-1.2, float(np.min(a["derivative"])) - 0.1), max(1.35, supremum + 0.35))
        title = _name(run.name, lang) + (_T("saturating", lang) if s["saturating"] else "")
        title += _T("learnable", lang) if s["learnable"] else ""
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel(_T("pre_activation", lang))
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    return Figure(_T("functions_title", lang), _T("functions_caption", lang), _png(fig, lang))


def _bounds(runs, lang: str) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=_size(12, 4.3), sharey=True)
    groups: dict[float, list] = {}
    for run in runs:
        if run.summary["max_derivative"] > 0:
            groups.setdefault(run.summary["max_derivative"], []).append(run)
    for value, members in sorted(groups.items()):
        first = members[0]
        names = ", ".join(_name(r.name, lang) for r in members)
        axes[0].plot(first.arrays["layers"], first.arrays["bound"], marker="o", markersize=3,
                     color=_COLORS.get(first.name, "gray") if len(members) == 1 else "black",
                     label=f"{names}: {number(value, '.4g', lang)}^M")
    axes[0].set_title(_T("best_title", lang))
    for run in runs:
        if run.summary["rms_derivative"] > 0:
            axes[1].plot(run.arrays["layers"], run.arrays["typical"], color=_COLORS.get(run.name, "gray"),
                         label=f"{_name(run.name, lang)}: {number(run.summary['rms_derivative'], '.3f', lang)}^M")
    axes[1].set_title(_T("typical_title", lang))
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel(_T("layers_axis", lang))
        ax.grid(True, which="major", alpha=0.3)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.legend(loc="lower left")
    axes[0].set_ylabel(_T("factor_axis", lang))
    return Figure(_T("bounds_title", lang), _T("bounds_caption", lang), _png(fig, lang))


def _table(runs, lang: str) -> Table:
    layers = sorted(int(key.split("_")[1]) for key in runs[0].summary if key.startswith("bound_"))
    rows = []
    for run in runs:
        s = run.summary
        rows.append([
            _name(run.name, lang) + (_T("saturating", lang) if s["saturating"] else ""),
            number(s["max_derivative"], ".4g", lang),
            number(s["derivative_at_0"], ".4g", lang),
            *[number(s[f"bound_{m}"], ".3g", lang) for m in layers],
            number(s["rms_derivative"], ".3f", lang),
            number(s["autograd_difference"], ".1e", lang),
        ])
    config = runs[0].config
    return Table(
        _T("table", lang),
        [_T("column.activation", lang), _T("column.max", lang), "φ′(0)",
         *[_T("column.bound", lang, layers=m) for m in layers], _T("column.rms", lang), _T("column.autograd", lang)],
        rows,
        _T("table_caption", lang, points=number(config["points"], ",", lang),
           x_max=number(config["x_max"], "g", lang)),
    )
