"""Figures of the depth-cures study: the gradient layer by layer and the accuracy during training, for each
initialization and each cure, and every network's ratio first/last layer beside its accuracy."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _integer_ticks, _png, _runs, _size, plt, spread
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.depth_cures.claims import NEAR_CHANCE, TRAINED
from gradtrace.studies.depth_cures.study import DepthCures
from gradtrace.studies.through_depth.claims import FLOWING
from gradtrace.studies.through_depth.figures import (
    in_config_order,
    network_color,
    network_label,
    network_linestyle,
    positive,
    relative_profile,
)
from gradtrace.studies.through_depth.runs import (
    ACCURACY,
    GRAD_NORMS,
    HISTORY_ACCURACY,
    HISTORY_STEP,
    RATIO,
    Network,
    optimizer_name,
    phase_key,
)

__all__ = ["draw"]

# In the cures' figure the color says which cure; the activation is the panel's.
_CURE_COLORS = {"plain": PALETTE["grey"], "batch_norm": PALETTE["purple"], "residual": PALETTE["orange"],
                "scaled_residual": PALETTE["sky"]}
# The panels of the two profile figures: (title key, networks), in the order drawn.
_INIT_PANELS = (("panel.standard", (Network("sigmoid", "standard"), Network("tanh", "standard"),
                                    Network("relu", "standard"))),
                ("panel.scaled", (Network("sigmoid", "xavier"), Network("tanh", "xavier"), Network("relu", "he"))))
_CURE_PANELS = (("panel.sigmoid", (Network("sigmoid", "standard"), Network("sigmoid", "standard", "batch_norm"),
                                   Network("sigmoid", "standard", "residual"))),
                ("panel.relu", (Network("relu", "he"), Network("relu", "he", "residual"),
                                Network("relu", "he", "scaled_residual"))))

_T = Catalog({
    "panel.standard": {"en": "torch's default init U[±1/√n]", "pt": "inicialização padrão do torch U[±1/√n]"},
    "panel.scaled": {"en": "init scaled to the activation (Xavier, He)",
                     "pt": "inicialização ajustada à ativação (Xavier, He)"},
    "panel.sigmoid": {"en": "sigmoid, U[±1/√n]", "pt": "sigmoide, U[±1/√n]"},
    "panel.relu": {"en": "ReLU, He init", "pt": "ReLU, inicialização de He"},
    "cure.plain": {"en": "plain", "pt": "simples"},
    "cure.batch_norm": {"en": "+ batch norm", "pt": "+ normalização em lote"},
    "cure.residual": {"en": "+ residual connections", "pt": "+ conexões residuais"},
    "cure.scaled_residual": {"en": "+ residual, branches × 1/√M", "pt": "+ residual, ramos × 1/√M"},
    "layer_axis": {"en": "hidden layer l (1 = next to the input)", "pt": "camada oculta l (1 = junto à entrada)"},
    "relative_axis": {"en": "‖∂L/∂h_l‖ / ‖∂L/∂h_M‖ at init", "pt": "‖∂L/∂h_l‖ / ‖∂L/∂h_M‖ na inicialização"},
    "step_axis": {"en": "training step", "pt": "passo de treino"},
    "accuracy_axis": {"en": "held-out accuracy", "pt": "acurácia em dados separados"},
    "chance": {"en": "chance", "pt": "acaso"},
    "init_title": {"en": "Initialization: the gradient at init and the accuracy during training",
                   "pt": "Inicialização: o gradiente na inicialização e a acurácia durante o treino"},
    "cure_title": {"en": "Batch norm and residual connections: the gradient at init and the accuracy during training",
                   "pt": "Normalização em lote e conexões residuais: o gradiente na inicialização e a acurácia durante "
                         "o treino"},
    "profiles_caption": {
        "en": "Top: norm of ∂L/∂h_l at each hidden layer of MLPs of {depth} layers of {width} units at initialization, "
              "relative to the last hidden layer, on a fixed batch of the blobs task (log scale). Bottom: held-out "
              "accuracy during {steps} {optimizer} steps at learning rate {lr}; dotted grey: chance (1/3). Lines: "
              "median over {seeds} seeds; bands: min–max. {panels}",
        "pt": "Em cima: norma de ∂L/∂h_l em cada camada oculta de MLPs de {depth} camadas de {width} unidades na "
              "inicialização, relativa à última camada oculta, num lote fixo do problema das bolhas (escala log). "
              "Embaixo: acurácia em dados separados durante {steps} passos de {optimizer} com taxa de aprendizado "
              "{lr}; cinza pontilhado: acaso (1/3). Linhas: mediana entre {seeds} sementes; faixas: mín–máx. {panels}",
    },
    "init_panels": {
        "en": "Left: torch's default init U[±1/√n]; right: Xavier's init for sigmoid and tanh, He's for ReLU. Color: "
              "activation.",
        "pt": "À esquerda: inicialização padrão do torch U[±1/√n]; à direita: a de Xavier para sigmoide e tanh, a de "
              "He para ReLU. Cor: ativação.",
    },
    "cure_panels": {
        "en": "Left: the sigmoid network with torch's default init, plain, with batch norm and with residual "
              "connections; right: the ReLU network with He's init, plain and with residual connections whose "
              "branches are added as they are or multiplied by 1/√M. Color: cure.",
        "pt": "À esquerda: a rede sigmoide com a inicialização padrão do torch, simples, com normalização em lote e "
              "com conexões residuais; à direita: a rede ReLU com a inicialização de He, simples e com conexões "
              "residuais cujos ramos são somados como estão ou multiplicados por 1/√M. Cor: cura.",
    },
    "ratio_axis": {"en": "‖∂L/∂h_1‖ / ‖∂L/∂h_M‖ at init", "pt": "‖∂L/∂h_1‖ / ‖∂L/∂h_M‖ na inicialização"},
    "summary_title": {"en": "Every network: ratio first/last layer and accuracy",
                      "pt": "Todas as redes: razão primeira/última camada e acurácia"},
    "summary_caption": {
        "en": "Each dot is one of {seeds} members (bar: median). Left: the ratio of the first hidden layer's gradient "
              "to the last's at initialization (log scale); shaded: from {low} to {high}, within an order of magnitude "
              "of 1. Right: held-out accuracy after {steps} {optimizer} steps; dotted grey: chance (1/3); dashed: "
              "{trained}, and chance + {near} points. Color: activation.",
        "pt": "Cada ponto é um de {seeds} membros (barra: mediana). À esquerda: a razão entre o gradiente da primeira "
              "camada oculta e o da última na inicialização (escala log); sombreado: de {low} a {high}, a menos de uma "
              "ordem de grandeza de 1. À direita: acurácia em dados separados depois de {steps} passos de "
              "{optimizer}; cinza pontilhado: acaso (1/3); tracejado: {trained}, e acaso + {near} pontos. Cor: "
              "ativação.",
    },
    "table": {"en": "Ratio first/last layer and accuracy of every network",
              "pt": "Razão primeira/última camada e acurácia de cada rede"},
    "columns": {
        "en": "network|‖∂L/∂h_1‖/‖∂L/∂h_M‖ at init|same, after training|held-out accuracy",
        "pt": "rede|‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização|idem, depois do treino|acurácia em dados separados",
    },
    "table_caption": {
        "en": "MLPs of {depth} hidden layers of {width} units on the blobs task (three classes, chance 1/3), {steps} "
              "{optimizer} steps at learning rate {lr}, batch {batch}; median [min, max] over {seeds} seeds. "
              "Residual × 1/√M: every residual branch multiplied by {scale}.",
        "pt": "MLPs de {depth} camadas ocultas de {width} unidades no problema das bolhas (três classes, acaso 1/3), "
              "{steps} passos de {optimizer} com taxa de aprendizado {lr}, lote {batch}; mediana [mín, máx] entre "
              "{seeds} sementes. Residual × 1/√M: cada ramo residual multiplicado por {scale}.",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the depth-cures study: the initialization figure, the cures' figure, every network side by side.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = {r.name: r for r in _runs(store, DepthCures.name) if phase_key("init", GRAD_NORMS) in r.arrays
            and HISTORY_ACCURACY in r.arrays}
    if not runs:
        return [], []
    figures = []
    for title, panels, legend, colored in (("init_title", _INIT_PANELS, "init_panels", _by_activation),
                                           ("cure_title", _CURE_PANELS, "cure_panels", _by_cure)):
        drawn = [(key, [runs[n.name] for n in networks if n.name in runs]) for key, networks in panels]
        drawn = [(key, chosen) for key, chosen in drawn if chosen]
        if drawn:
            figures.append(_profiles(drawn, _T(title, lang), _T(legend, lang), colored, lang))
    ordered = in_config_order(list(runs.values()))
    figures.append(_summary(ordered, lang))
    return figures, [_table(ordered, lang)]


def _by_activation(run: RunRecord, lang: str) -> tuple[str, str, str]:
    return network_color(run.config), network_linestyle(run.config), network_label(run.config, lang)


def _by_cure(run: RunRecord, lang: str) -> tuple[str, str, str]:
    cure = run.config["cure"]
    return _CURE_COLORS[cure], "-", _T(f"cure.{cure}", lang)


def _config_words(config: dict, lang: str) -> dict:
    return {"depth": config["depth"], "width": config["width"], "steps": config["steps"],
            "optimizer": optimizer_name(config["optimizer"]), "lr": number(config["lr"], "g", lang),
            "seeds": config["seeds"], "batch": config["batch_size"]}


def _profiles(panels: list[tuple[str, list[RunRecord]]], title: str, panels_words: str, colored, lang: str) -> Figure:
    config = panels[0][1][0].config
    depth = config["depth"]
    layers = np.arange(1, depth + 1)
    fig, axes = plt.subplots(2, len(panels), figsize=_size(5.4 * len(panels) + 0.6, 7.6), squeeze=False,
                             layout="constrained")
    for column, (key, chosen) in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        for run in chosen:
            color, linestyle, label = colored(run, lang)
            _band(top, layers, relative_profile(run.arrays[phase_key("init", GRAD_NORMS)]), color, label,
                  linestyle=linestyle)
            steps = run.arrays[HISTORY_STEP].astype(float)
            _band(bottom, steps, run.arrays[HISTORY_ACCURACY], color, label, axis=1, linestyle=linestyle)
        top.axhline(1.0, color=PALETTE["grey"], linewidth=0.6)
        top.set_yscale("log")
        top.set_title(_T(key, lang))
        top.set_xlabel(_T("layer_axis", lang))
        _integer_ticks(top, bottom)
        top.grid(True, which="major", alpha=0.3)
        bottom.axhline(chosen[0].config["chance"], color=PALETTE["grey"], linestyle=":", linewidth=1)
        bottom.set_ylim(0.0, 1.02)
        bottom.set_xlabel(_T("step_axis", lang))
        bottom.grid(True, alpha=0.3)
        # Each column has its own networks: its legend sits under its panels, off the data.
        handles, labels = bottom.get_legend_handles_labels()
        bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    axes[0][0].set_ylabel(_T("relative_axis", lang))
    axes[1][0].set_ylabel(_T("accuracy_axis", lang))
    caption = _T("profiles_caption", lang, panels=panels_words, **_config_words(config, lang))
    return Figure(title, caption, _png(fig, lang))


def _summary(runs: list[RunRecord], lang: str) -> Figure:
    rows = np.arange(len(runs))[::-1]          # the first network on top
    fig, (left, right) = plt.subplots(1, 2, figsize=_size(11.5, 0.45 * len(runs) + 1.6), sharey=True,
                                      layout="constrained")
    left.axvspan(FLOWING, 1.0 / FLOWING, color=PALETTE["grey"], alpha=0.15, linewidth=0)
    for row, run in zip(rows, runs, strict=True):
        color = network_color(run.config)
        ratios = positive(run.arrays[phase_key("init", RATIO)])
        accuracy = np.asarray(run.arrays[ACCURACY], dtype=np.float64)
        left.plot(ratios, np.full(ratios.shape, row), "o", color=color, markersize=4, alpha=0.8)
        left.plot([np.nanmedian(ratios)] * 2, [row - 0.3, row + 0.3], color=color, linewidth=2)
        right.plot(accuracy, np.full(accuracy.shape, row), "o", color=color, markersize=4, alpha=0.8)
        right.plot([np.nanmedian(accuracy)] * 2, [row - 0.3, row + 0.3], color=color, linewidth=2)
    chance = runs[0].config["chance"]
    left.axvline(1.0, color=PALETTE["grey"], linewidth=0.6)
    left.set_xscale("log")
    left.set_xlabel(_T("ratio_axis", lang))
    left.set_yticks(rows, [network_label(run.config, lang) for run in runs])
    left.grid(True, axis="x", which="major", alpha=0.3)
    right.axvline(chance, color=PALETTE["grey"], linestyle=":", linewidth=1)
    right.axvline(chance + NEAR_CHANCE, color=PALETTE["grey"], linestyle="--", linewidth=0.8)
    right.axvline(TRAINED, color=PALETTE["black"], linestyle="--", linewidth=0.8)
    right.set_xlim(0.0, 1.02)
    right.set_xlabel(_T("accuracy_axis", lang))
    right.grid(True, axis="x", alpha=0.3)
    config = runs[0].config
    caption = _T("summary_caption", lang, low=number(FLOWING, "g", lang), high=number(1.0 / FLOWING, "g", lang),
                 trained=f"{number(100 * TRAINED, 'g', lang)} %", near=number(100 * NEAR_CHANCE, "g", lang),
                 **_config_words(config, lang))
    return Figure(_T("summary_title", lang), caption, _png(fig, lang))


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = [[network_label(run.config, lang), spread(run.arrays[phase_key("init", RATIO)], lang),
             spread(run.arrays[phase_key("trained", RATIO)], lang), spread(run.arrays[ACCURACY], lang)]
            for run in runs]
    config = runs[0].config
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows,
                 _T("table_caption", lang, scale=number(config["depth"] ** -0.5, ".3f", lang),
                    **_config_words(config, lang)))
