"""Figures of the dying-ReLU study: dead and inactive units over training, per layer at the end, and the table."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from gradtrace.instruments import DEAD_THRESHOLD
from gradtrace.report.figures import PALETTE, Figure, Table, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.dying_relu.config import OPTIMIZERS, Condition, DyingReluConfig, Key, stored_config
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

# One hue per activation, from the report's palette; the activations are categories, not an ordered parameter.
_ACTIVATION_COLORS = {"relu": PALETTE["red"], "leaky_relu": PALETTE["blue"], "prelu": PALETTE["green"],
                      "gelu": PALETTE["purple"]}

_T = Catalog({
    "act.relu": {"en": "ReLU", "pt": "ReLU"},
    "act.leaky_relu": {"en": "Leaky ReLU (0.01)", "pt": "Leaky ReLU (0,01)"},
    "act.prelu": {"en": "PReLU (learned slope)", "pt": "PReLU (inclinação aprendida)"},
    "act.gelu": {"en": "GELU", "pt": "GELU"},
    "condition.normal": {"en": "moderate learning rate", "pt": "taxa de aprendizado moderada"},
    "condition.large_lr": {"en": "large learning rate", "pt": "taxa de aprendizado grande"},
    "condition.negative_bias": {"en": "negative biases at the start", "pt": "vieses negativos no início"},
    "detail": {"en": "{optimizer}, lr {lr}", "pt": "{optimizer}, taxa {lr}"},
    "biases": {"en": ", biases {bias}", "pt": ", vieses {bias}"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "dead_axis": {"en": "fraction dead\n(φ′ = 0 on every probe)", "pt": "fração morta\n(φ′ = 0 em todo teste)"},
    "inactive_axis": {"en": "fraction inactive\n(pre-activation ≤ 0)", "pt": "fração inativa\n(pré-ativação ≤ 0)"},
    "training_title": {"en": "Dead and inactive units during training",
                       "pt": "Unidades mortas e inativas durante o treino"},
    "training_caption": {
        "en": "Top: fraction of hidden units that are dead, their derivative below {threshold:g} on every one of "
              "the {probe} probe points (the trace's definition), averaged over the layers; median over seeds with "
              "the min–max band. Bottom: fraction inactive, the pre-activation ≤ 0 on every probe point. For ReLU "
              "the two are the same unit: switched off, it has derivative 0 and gets no gradient (the dying ReLU). "
              "Leaky ReLU and PReLU keep their slope on the negative side, so their units can be inactive but never "
              "dead; GELU's derivative vanishes only far out on the negative side. Measured every {every} steps; "
              "coinciding curves are drawn as nested stripes, and a line that stops belongs to members whose "
              "training diverged.",
        "pt": "Em cima: fração de unidades ocultas mortas, com derivada abaixo de {threshold:g} em cada um dos "
              "{probe} pontos de teste (a definição do traço), média das camadas; mediana entre sementes com a "
              "faixa mín–máx. Embaixo: fração inativa, com pré-ativação ≤ 0 em todo ponto de teste. Na ReLU as "
              "duas são a mesma unidade: desligada, ela tem derivada 0 e não recebe gradiente (a ReLU agonizante). "
              "A Leaky ReLU e a PReLU mantêm sua inclinação do lado negativo, então suas unidades podem ficar "
              "inativas mas nunca mortas; a derivada da GELU só se anula longe no lado negativo. Medido a cada "
              "{every} passos; curvas coincidentes são desenhadas como faixas aninhadas, e uma linha que termina "
              "é de membros cujo treino divergiu.",
    },
    "diverged": {"en": "diverged", "pt": "divergiu"},
    "layer_axis": {"en": "hidden layer (1 = next to the input)", "pt": "camada oculta (1 = junto da entrada)"},
    "fraction_axis": {"en": "fraction of the layer's units at the end",
                      "pt": "fração das unidades da camada no fim"},
    "light_bar": {"en": "light bar: inactive", "pt": "barra clara: inativas"},
    "layer_title": {"en": "Dead and inactive units per layer after training",
                    "pt": "Unidades mortas e inativas por camada depois do treino"},
    "layer_caption": {
        "en": "For each hidden layer, the fraction of units dead (solid bar) and inactive (light bar behind it) on "
              "the probe points at the end of training, median over seeds (diverged members left out; "
              "\"diverged\" marks a run none of whose seeds finished). A layer whose units are all switched off "
              "passes nothing forward with ReLU, and no gradient back to the layers below it.",
        "pt": "Para cada camada oculta, a fração de unidades mortas (barra cheia) e inativas (barra clara atrás "
              "dela) nos pontos de teste no fim do treino, mediana entre sementes (membros divergentes ficam de "
              "fora; \"divergiu\" marca uma execução em que nenhuma semente terminou). Uma camada com todas as "
              "unidades desligadas não passa nada adiante com a ReLU, nem gradiente de volta às camadas abaixo "
              "dela.",
    },
    "of": {"en": "{count} of {total} ({share})", "pt": "{count} de {total} ({share})"},
    "table": {"en": "Dead units, units back on, and accuracy", "pt": "Unidades mortas, unidades que voltam e acurácia"},
    "columns": {
        "en": "condition|activation|learning rate|dead: start → end|inactive: start → end|back on at the end (of "
              "ever inactive)|units that died|held-out accuracy|solved|diverged",
        "pt": "condição|ativação|taxa de aprendizado|mortas: início → fim|inativas: início → fim|ligadas de novo no "
              "fim (das que ficaram inativas)|unidades que morreram|acurácia em dados separados|resolvidas|"
              "divergiram",
    },
    "table_caption": {
        "en": "MLP of {depth} hidden layers × {width} units ({init} init), two concentric circles, {optimizer} for "
              "{steps} steps of {batch} points, {seeds} seeds. Dead and inactive: fraction of hidden units, mean "
              "over layers, median over seeds, measured on {probe} fixed probe points every {every} steps. Back on: "
              "units inactive at one measurement at least and active at the end; died: active at the start and "
              "inactive at the end (both counted over the seeds that did not diverge). Accuracy: median over seeds "
              "on {held_out} held-out points; solved: at least 99 % right.",
        "pt": "MLP de {depth} camadas ocultas × {width} unidades (inicialização {init}), dois círculos "
              "concêntricos, {optimizer} por {steps} passos de {batch} pontos, {seeds} sementes. Mortas e inativas: "
              "fração das unidades ocultas, média das camadas, mediana entre sementes, medida em {probe} pontos de "
              "teste fixos a cada {every} passos. Ligadas de novo: unidades inativas em pelo menos uma medição e "
              "ativas no fim; morreram: ativas no início e inativas no fim (as duas contadas entre as sementes que "
              "não divergiram). Acurácia: mediana entre sementes em {held_out} pontos separados; resolvida: pelo "
              "menos 99 % de acertos.",
    },
})

def _style(activation: str, lang: str = "en") -> tuple[str, str]:
    key = f"act.{activation}"
    return (_ACTIVATION_COLORS.get(activation, PALETTE["grey"]),
            _T(key, lang) if key in _T.messages else activation)


def _condition(condition: str, lang: str) -> str:
    key = f"condition.{condition}"
    return _T(key, lang) if key in _T.messages else condition


def _condition_title(run, config: DyingReluConfig, lang: str = "en") -> str:
    s = run.summary
    detail = _T("detail", lang, optimizer=_optimizer(config), lr=number(s[Key.LR], "g", lang))
    if s[Key.BIAS] is not None:
        detail += _T("biases", lang, bias=number(s[Key.BIAS], "g", lang))
    return f"{_condition(s[Key.CONDITION], lang)}\n({detail})"


def _optimizer(config: DyingReluConfig) -> str:
    return OPTIMIZERS[config.optimizer]


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the dying-relu study: dead and inactive units over training and per layer, and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The two figures and the table; empty lists when the store holds no measured run of the study.
    """
    runs = [r for r in _runs(store, "dying-relu") if Key.DEAD in r.arrays and len(r.arrays[Key.PROBE_STEP])
            and Key.CONDITION in r.summary]
    if not runs:
        return [], []
    config = stored_config(runs[0].config)
    activations = list(dict.fromkeys(r.summary[Key.ACTIVATION] for r in runs))
    conditions = [c for c in (Condition.NORMAL, Condition.LARGE_LR, Condition.NEGATIVE_BIAS)
                  if any(r.summary[Key.CONDITION] == c for r in runs)]
    by_key = {(r.summary[Key.ACTIVATION], r.summary[Key.CONDITION]): r for r in runs}
    figures = [_over_training(by_key, activations, conditions, config, lang),
               _per_layer(by_key, activations, conditions, config, lang)]
    return figures, [_table(by_key, activations, conditions, config, runs[0].summary[Key.SEEDS], lang)]


def _over_training(by_key, activations, conditions, config: DyingReluConfig, lang) -> Figure:
    fig, axes = plt.subplots(2, len(conditions), figsize=_size(4.4 * len(conditions), 6.6), squeeze=False, sharex=True,
                             sharey=True)
    for column, condition in enumerate(conditions):
        title = None
        for order, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run, config, lang)
            color, label = _style(activation, lang)
            steps = run.arrays[Key.PROBE_STEP]
            for row, key in enumerate((Key.DEAD, Key.INACTIVE)):
                # Mean over layers per member; the band spans the seeds. Curves often coincide (every
                # unit of a layer inactive under each activation), so earlier ones are drawn wider.
                low, mid, high = nan_quantiles(run.arrays[key].mean(-1), 1)
                ax = axes[row][column]
                ax.plot(steps, mid, color=color, linewidth=1.2 + 1.2 * (len(activations) - 1 - order), label=label,
                        solid_capstyle="butt")
                ax.fill_between(steps, low, high, color=color, alpha=0.12, linewidth=0)
        axes[0][column].set_title(title or _condition(condition, lang))
        axes[1][column].set_xlabel(_T("training_step", lang))
        for row in range(2):
            axes[row][column].set_ylim(-0.02, 1.02)
            axes[row][column].grid(True, alpha=0.3)
            _step_ticks(axes[row][column])
    axes[0][0].set_ylabel(_T("dead_axis", lang))
    axes[1][0].set_ylabel(_T("inactive_axis", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    caption = _T("training_caption", lang, threshold=DEAD_THRESHOLD, probe=config.probe_batch_size,
                 every=config.measure_every)
    return Figure(_T("training_title", lang), caption, _png(fig, lang))


def _per_layer(by_key, activations, conditions, config: DyingReluConfig, lang) -> Figure:
    fig, axes = plt.subplots(1, len(conditions), figsize=_size(4.6 * len(conditions), 3.8), squeeze=False,
                             sharey=True)
    width = 0.8 / max(len(activations), 1)
    for ax, condition in zip(axes[0], conditions):
        title = None
        for i, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run, config, lang)
            color, label = _style(activation, lang)
            inactive = nan_quantiles(run.arrays[Key.INACTIVE][-1], 0, (0.5,))[0]   # (M,)
            dead = nan_quantiles(run.arrays[Key.DEAD][-1], 0, (0.5,))[0]
            layers = np.arange(1, len(inactive) + 1) + (i - (len(activations) - 1) / 2) * width
            ax.bar(layers, np.nan_to_num(inactive), width=width * 0.9, color=color, alpha=0.3,
                   edgecolor=color, linewidth=0.8)
            ax.bar(layers, np.nan_to_num(dead), width=width * 0.9, color=color, label=label)
            for x in layers[np.isnan(inactive)]:
                # No bar is not zero: every seed of this run diverged, so it has no end state.
                ax.text(x, 0.02, _T("diverged", lang), rotation=90, ha="center", va="bottom", color=color)
        ax.set_xticks(range(1, config.depth + 1))
        ax.set_title(title or _condition(condition, lang))
        ax.set_xlabel(_T("layer_axis", lang))
        ax.set_ylim(0, 1.02)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel(_T("fraction_axis", lang))
    handles, labels = axes[0][-1].get_legend_handles_labels()
    handles.append(Patch(facecolor=PALETTE["grey"], alpha=0.3, edgecolor=PALETTE["grey"]))
    labels.append(_T("light_bar", lang))
    axes[0][-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("layer_title", lang), _T("layer_caption", lang), _png(fig, lang))


def _percent(value: float, lang: str = "en") -> str:
    """A fraction as a percentage; NaN (every seed diverged) as "diverged"."""
    return _T("diverged", lang) if value != value else number(value, ".0%", lang)


def _table(by_key, activations, conditions, config: DyingReluConfig, seeds: int, lang) -> Table:
    rows = []
    for condition in conditions:
        for activation in activations:
            run = by_key.get((activation, condition))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            back = (_T("of", lang, count=s[Key.REVIVED], total=s[Key.EVER_INACTIVE],
                       share=_percent(s[Key.REVIVED_FRACTION], lang)) if s[Key.EVER_INACTIVE] else "—")
            rows.append([
                _condition(condition, lang), _style(activation, lang)[1], number(s[Key.LR], "g", lang),
                f"{_percent(s[Key.DEAD_INIT], lang)} → {_percent(s[Key.DEAD_END], lang)}",
                f"{_percent(s[Key.INACTIVE_INIT], lang)} → {_percent(s[Key.INACTIVE_END], lang)}",
                back, str(s[Key.DIED]),
                "—" if s[Key.ACCURACY] != s[Key.ACCURACY] else number(s[Key.ACCURACY], ".1%", lang),
                f"{s[Key.SUCCESSES]}/{s[Key.SEEDS]}", f"{s[Key.DIVERGED]}/{s[Key.SEEDS]}",
            ])
    caption = _T("table_caption", lang, depth=config.depth, width=config.width, init=config.init,
                 optimizer=_optimizer(config), steps=config.steps, batch=config.batch_size, seeds=seeds,
                 probe=config.probe_batch_size, every=config.measure_every, held_out=config.eval_batch_size)
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, caption)


def _step_ticks(ax) -> None:
    """Whole steps on the x axis, at round intervals (1, 2, 5 or 10 times a power of ten)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
