"""Figures of the dying-ReLU study: dead and inactive units over training, per layer at the end."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from gradtrace.report.figures import PALETTE, Figure, Table, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_ACTIVATION_COLORS = {"relu": PALETTE["red"], "leaky_relu": PALETTE["blue"], "prelu": PALETTE["green"],
                      "gelu": PALETTE["purple"]}

_T = Catalog({
    "act.relu": {"en": "ReLU", "pt": "ReLU"},
    "act.leaky_relu": {"en": "Leaky ReLU (0.01)", "pt": "Leaky ReLU (0,01)"},
    "act.prelu": {"en": "PReLU (learned slope)", "pt": "PReLU (inclinação aprendida)"},
    "act.gelu": {"en": "GELU", "pt": "GELU"},
    "condition.normal": {"en": "moderate learning rate", "pt": "taxa de aprendizado moderada"},
    "condition.large_lr": {"en": "large learning rate", "pt": "taxa de aprendizado grande"},
    "condition.negative_bias": {"en": "negative bias at start", "pt": "viés negativo no início"},
    "detail": {"en": "SGD lr {lr:g}", "pt": "SGD, taxa {lr:g}"},
    "biases": {"en": ", biases {bias:g}", "pt": ", vieses {bias:g}"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "dead_axis": {"en": "fraction dead\n(φ′ = 0 on every probe)", "pt": "fração morta\n(φ′ = 0 em todo teste)"},
    "inactive_axis": {"en": "fraction inactive\n(pre-activation ≤ 0)", "pt": "fração inativa\n(pré-ativação ≤ 0)"},
    "training_title": {"en": "Dead and inactive units during training",
                       "pt": "Unidades mortas e inativas durante o treino"},
    "training_caption": {
        "en": "Top: fraction of hidden units that are dead — derivative zero on every one of the probe points, the "
              "trace's definition — averaged over the layers, median over seeds with the min–max band. Bottom: "
              "fraction inactive — pre-activation ≤ 0 on every probe point. For ReLU the two are the same; a Leaky "
              "ReLU, PReLU or GELU unit is inactive but never dead: it still passes back its small negative-side "
              "slope, so it may come back. A flat line above zero means units that stay off; a falling one, units "
              "coming back. Coinciding curves are drawn as nested stripes; a line that stops belongs to members "
              "whose training diverged.",
        "pt": "Em cima: fração de unidades ocultas mortas — derivada zero em cada um dos pontos de teste, a "
              "definição do traço —, média das camadas, mediana entre sementes com a faixa mín–máx. Embaixo: "
              "fração inativa — pré-ativação ≤ 0 em todo ponto de teste. Na ReLU as duas coincidem (é a ReLU "
              "agonizante); uma unidade Leaky ReLU, PReLU ou GELU fica inativa mas nunca morta: ela ainda "
              "devolve a pequena inclinação do lado negativo, então pode voltar. Uma linha plana acima de zero "
              "são unidades que continuam desligadas; uma que cai, unidades voltando. Curvas coincidentes são "
              "desenhadas como faixas aninhadas; uma linha que termina é de membros cujo treino divergiu.",
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
              "\"diverged\" marks a run none of whose seeds finished). Deaths pile up in the deeper layers: a "
              "layer whose units are all dead cuts the network in two, and nothing below it learns again.",
        "pt": "Para cada camada oculta, a fração de unidades mortas (barra cheia) e inativas (barra clara atrás "
              "dela) nos pontos de teste no fim do treino, mediana entre sementes (membros divergentes ficam de "
              "fora; \"divergiu\" marca uma execução em que nenhuma semente terminou). As mortes se acumulam "
              "nas camadas mais profundas: uma camada com todas as unidades mortas corta a rede em duas, e nada "
              "abaixo dela volta a aprender.",
    },
    "revived": {"en": "{revived} of {ever}", "pt": "{revived} de {ever}"},
    "table": {"en": "Dead units, revivals and accuracy", "pt": "Unidades mortas, recuperações e acurácia"},
    "columns": {
        "en": "condition|activation|SGD lr|dead: start → end|inactive: start → end|units revived (of ever "
              "inactive)|units died|held-out accuracy|solved|diverged",
        "pt": "condição|ativação|taxa do SGD|mortas: início → fim|inativas: início → fim|unidades recuperadas (das "
              "que ficaram inativas)|unidades que morreram|acurácia em dados separados|resolvidas|divergiram",
    },
    "table_caption": {
        "en": "MLP of {depth} hidden layers × {width} units ({init} init), two concentric circles, plain SGD for "
              "{steps} steps of {batch} points, {seeds} seeds. Dead and inactive: fraction of hidden units, mean "
              "over layers, median over seeds, measured on {probe} fixed probe points every {every} steps. A unit "
              "is revived when it was inactive at some measurement and is active at the end; died: active at the "
              "start and inactive at the end (both counted over the seeds that did not diverge). Accuracy: median "
              "over seeds on {held_out} held-out points; solved: at least 99 % right.",
        "pt": "MLP de {depth} camadas ocultas × {width} unidades (inicialização {init}), dois círculos "
              "concêntricos, SGD simples por {steps} passos de {batch} pontos, {seeds} sementes. Mortas e "
              "inativas: fração das unidades ocultas, média das camadas, mediana entre sementes, medida em {probe} "
              "pontos de teste fixos a cada {every} passos. Uma unidade é recuperada quando esteve inativa em "
              "alguma medição e está ativa no fim; morreu: ativa no início e inativa no fim (as duas contadas "
              "entre as sementes que não divergiram). Acurácia: mediana entre sementes em {held_out} pontos "
              "separados; resolvida: pelo menos 99 % de acertos.",
    },
})


def _style(activation: str, lang: str = "en") -> tuple[str, str]:
    key = f"act.{activation}"
    return (_ACTIVATION_COLORS.get(activation, PALETTE["grey"]),
            _T(key, lang) if key in _T.messages else activation)


def _condition(condition: str, lang: str) -> str:
    key = f"condition.{condition}"
    return _T(key, lang) if key in _T.messages else condition


def _condition_title(run, lang: str = "en") -> str:
    condition = run.config["condition"]
    detail = _T("detail", lang, lr=run.config["run_lr"])
    if condition == "negative_bias":
        detail += _T("biases", lang, bias=run.config["bias"])
    return f"{_condition(condition, lang)}\n({detail})"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the dying-relu study: dead and inactive units over training and per layer, and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "dying-relu") if "dead" in r.arrays and len(r.arrays["probe/step"])]
    if not runs:
        return [], []
    activations = list(dict.fromkeys(r.config["activation"] for r in runs))
    conditions = list(dict.fromkeys(r.config["condition"] for r in runs))
    by_key = {(r.config["activation"], r.config["condition"]): r for r in runs}
    figures = [_over_training(by_key, activations, conditions, lang),
               _per_layer(by_key, activations, conditions, lang)]
    return figures, [_table(by_key, activations, conditions, runs[0].config, lang)]


def _over_training(by_key, activations, conditions, lang) -> Figure:
    fig, axes = plt.subplots(2, len(conditions), figsize=_size(4.4 * len(conditions), 6.6), squeeze=False, sharex=True,
                             sharey=True)
    for column, condition in enumerate(conditions):
        title = None
        for order, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run, lang)
            color, label = _style(activation, lang)
            steps = run.arrays["probe/step"]
            for row, key in enumerate(("dead", "inactive")):
                # Mean over layers per member; the band spans the seeds. Curves often coincide (every
                # unit of a layer inactive under each activation), so earlier ones are drawn wider.
                low, mid, high = nan_quantiles(run.arrays[key].mean(-1), 1)
                ax = axes[row][column]
                ax.plot(steps, mid, color=color, linewidth=1.2 + 1.2 * (len(activations) - 1 - order), label=label,
                        solid_capstyle="butt")
                ax.fill_between(steps, low, high, color=color, alpha=0.12, linewidth=0)
        axes[0][column].set_title(title or condition, fontsize=10)
        axes[1][column].set_xlabel(_T("training_step", lang))
        for row in range(2):
            axes[row][column].set_ylim(-0.02, 1.02)
            axes[row][column].grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("dead_axis", lang))
    axes[1][0].set_ylabel(_T("inactive_axis", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("training_title", lang), _T("training_caption", lang), _png(fig))


def _per_layer(by_key, activations, conditions, lang) -> Figure:
    fig, axes = plt.subplots(1, len(conditions), figsize=_size(4.6 * len(conditions), 3.6), squeeze=False, sharey=True)
    width = 0.8 / max(len(activations), 1)
    depth = 1
    for ax, condition in zip(axes[0], conditions):
        title = None
        for i, activation in enumerate(activations):
            run = by_key.get((activation, condition))
            if run is None:
                continue
            title = _condition_title(run, lang)
            color, label = _style(activation, lang)
            inactive = nan_quantiles(run.arrays["inactive"][-1], 0, (0.5,))[0]   # (M,)
            dead = nan_quantiles(run.arrays["dead"][-1], 0, (0.5,))[0]
            depth = max(depth, len(inactive))
            layers = np.arange(1, len(inactive) + 1) + (i - (len(activations) - 1) / 2) * width
            ax.bar(layers, np.nan_to_num(inactive), width=width * 0.9, color=color, alpha=0.3,
                   edgecolor=color, linewidth=0.8)
            ax.bar(layers, np.nan_to_num(dead), width=width * 0.9, color=color, label=label)
            for x in layers[np.isnan(inactive)]:
                # No bar is not zero: every seed of this run diverged, so it has no end state.
                ax.text(x, 0.02, _T("diverged", lang), rotation=90, ha="center", va="bottom", color=color)
        ax.set_xticks(range(1, depth + 1))
        ax.set_title(title or condition, fontsize=10)
        ax.set_xlabel(_T("layer_axis", lang))
        ax.set_ylim(0, 1.02)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel(_T("fraction_axis", lang))
    handles, labels = axes[0][-1].get_legend_handles_labels()
    handles.append(Patch(facecolor="gray", alpha=0.3, edgecolor="gray"))
    labels.append(_T("light_bar", lang))
    axes[0][-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("layer_title", lang), _T("layer_caption", lang), _png(fig))


def _percent(value: float, lang: str = "en") -> str:
    """A fraction as a percentage; NaN (every seed diverged) as "diverged"."""
    return _T("diverged", lang) if value != value else f"{value:.0%}"


def _table(by_key, activations, conditions, config, lang) -> Table:
    rows = []
    for condition in conditions:
        for activation in activations:
            run = by_key.get((activation, condition))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            revived = _T("revived", lang, revived=s["revived"], ever=s["ever_inactive"]) if s["ever_inactive"] else "—"
            rows.append([
                _condition(condition, lang), _style(activation, lang)[1], f"{s['lr']:g}",
                f"{_percent(s['dead_init'], lang)} → {_percent(s['dead_end'], lang)}",
                f"{_percent(s['inactive_init'], lang)} → {_percent(s['inactive_end'], lang)}",
                revived, str(s["died"]),
                "—" if s["task/accuracy"] != s["task/accuracy"] else f"{s['task/accuracy']:.1%}",
                f"{s['successes']}/{s['seeds']}", f"{s['diverged']}/{s['seeds']}",
            ])
    return Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, depth=config["depth"], width=config["width"], init=config["init"],
           steps=config["steps"], batch=config["batch_size"], seeds=config["seeds"], probe=config["probe_batch_size"],
           every=config["measure_every"], held_out=config["eval_batch_size"]),
    )
