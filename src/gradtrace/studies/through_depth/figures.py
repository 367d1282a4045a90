"""Figures of the through-depth study: the ratio first/last layer against depth, the profile layer by layer,
how far each layer's weights moved.

The helpers that name and style a network are shared with the depth-cures study's figures.
"""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _integer_ticks, _png, _runs, _size, plt, spread
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.through_depth.claims import SIGMOID_SHARE
from gradtrace.studies.through_depth.runs import (
    ACCURACY,
    DEPTHS,
    GRAD_NORMS,
    LEARNING_SPEED,
    RATIO,
    SWEEP_RATIO,
    WEIGHT_CHANGE,
    Network,
    optimizer_name,
    phase_key,
)
from gradtrace.studies.through_depth.study import ThroughDepth

__all__ = ["draw", "in_config_order", "network_color", "network_label", "network_linestyle", "positive",
           "relative_profile"]

_ACTIVATION_COLORS = {"sigmoid": PALETTE["red"], "tanh": PALETTE["green"], "relu": PALETTE["blue"]}
# torch's default init draws dotted, an init scaled to the activation solid.
_INIT_LINES = {"standard": ":", "xavier": "-", "he": "-"}

_T = Catalog({
    "act.sigmoid": {"en": "sigmoid", "pt": "sigmoide"},
    "act.tanh": {"en": "tanh", "pt": "tanh"},
    "act.relu": {"en": "ReLU", "pt": "ReLU"},
    "init.standard": {"en": "U[±1/√n]", "pt": "U[±1/√n]"},
    "init.xavier": {"en": "Xavier", "pt": "Xavier"},
    "init.he": {"en": "He", "pt": "He"},
    "cure.plain": {"en": "", "pt": ""},
    "cure.batch_norm": {"en": " + batch norm", "pt": " + normalização em lote"},
    "cure.residual": {"en": " + residual", "pt": " + residual"},
    "cure.scaled_residual": {"en": " + residual × 1/√M", "pt": " + residual × 1/√M"},
    "bound_layers": {"en": "0.25^(M−l): what σ′ ≤ 1/4 lets through", "pt": "0,25^(M−l): o que σ′ ≤ 1/4 deixa passar"},
    "bound_depth": {"en": "0.25^(M−1): what σ′ ≤ 1/4 lets through", "pt": "0,25^(M−1): o que σ′ ≤ 1/4 deixa passar"},
    "layer_axis": {"en": "hidden layer l (1 = next to the input)", "pt": "camada oculta l (1 = junto à entrada)"},
    "relative_axis": {"en": "‖∂L/∂h_l‖ / ‖∂L/∂h_M‖", "pt": "‖∂L/∂h_l‖ / ‖∂L/∂h_M‖"},
    "at_init": {"en": "at initialization", "pt": "na inicialização"},
    "trained": {"en": "after {steps} {optimizer} steps", "pt": "depois de {steps} passos de {optimizer}"},
    "profiles_title": {"en": "The gradient layer by layer", "pt": "O gradiente camada a camada"},
    "profiles_caption": {
        "en": "Norm of ∂L/∂h_l at each hidden layer of MLPs of {depth} layers of {width} units, relative to the last "
              "hidden layer, on a fixed batch of the blobs task (median over {seeds} seeds, band: min–max); left at "
              "initialization, right after training. Color: activation; dotted: torch's default init U[±1/√n], "
              "solid: the init scaled to the activation. Dashed black: 0.25^(M−l), the product of M − l factors "
              "σ′ ≤ 1/4.",
        "pt": "Norma de ∂L/∂h_l em cada camada oculta de MLPs de {depth} camadas de {width} unidades, relativa à "
              "última camada oculta, num lote fixo do problema das bolhas (mediana entre {seeds} sementes, faixa: "
              "mín–máx); à esquerda na inicialização, à direita depois do treino. Cor: ativação; pontilhado: "
              "inicialização padrão do torch U[±1/√n], contínuo: a inicialização ajustada à ativação. Preto "
              "tracejado: 0,25^(M−l), o produto de M − l fatores σ′ ≤ 1/4.",
    },
    "depth_axis": {"en": "depth M (hidden layers)", "pt": "profundidade M (camadas ocultas)"},
    "ratio_axis": {"en": "‖∂L/∂h_1‖ / ‖∂L/∂h_M‖ at initialization", "pt": "‖∂L/∂h_1‖ / ‖∂L/∂h_M‖ na inicialização"},
    "depth_title": {"en": "Ratio first/last layer against depth", "pt": "Razão primeira/última camada em função da "
                                                                         "profundidade"},
    "depth_caption": {
        "en": "How much of the gradient at the last hidden layer reaches the first, at initialization, in MLPs of "
              "width "
              "{width} and depth M (points: median over {seeds} seeds, band: min–max, log scale). Dashed black: "
              "0.25^(M−1), the share the sigmoid's derivative lets through the M − 1 layer Jacobians between them.",
        "pt": "Quanto do gradiente da última camada oculta chega à primeira, na inicialização, em MLPs de largura "
              "{width} e profundidade M (pontos: mediana entre {seeds} sementes, faixa: mín–máx, escala log). Preto "
              "tracejado: 0,25^(M−1), a parte que a derivada da sigmoide deixa passar pelas M − 1 jacobianas de "
              "camada entre elas.",
    },
    "weights_axis": {"en": "hidden layer l (weights W_l)", "pt": "camada oculta l (pesos W_l)"},
    "change_axis": {"en": "‖W_l(end) − W_l(0)‖ / ‖W_l(0)‖", "pt": "‖W_l(fim) − W_l(0)‖ / ‖W_l(0)‖"},
    "speed_title": {"en": "How far each layer's weights moved in training",
                    "pt": "Quanto os pesos de cada camada se moveram no treino"},
    "speed_caption": {
        "en": "Relative change of each hidden layer's weights over {steps} {optimizer} steps at learning rate {lr} "
              "(median over {seeds} seeds, band: min–max, log scale); color and line style as in the profiles.",
        "pt": "Mudança relativa dos pesos de cada camada oculta em {steps} passos de {optimizer} com taxa de "
              "aprendizado {lr} (mediana entre {seeds} sementes, faixa: mín–máx, escala log); cor e estilo de linha "
              "como nos perfis.",
    },
    "run_table": {"en": "Ratio first/last layer, learning speed and accuracy",
                  "pt": "Razão primeira/última camada, velocidade de aprendizado e acurácia"},
    "run_columns": {
        "en": "network|‖∂L/∂h_1‖/‖∂L/∂h_M‖ at init|same, after training|learning speed W_1 / W_M|held-out accuracy",
        "pt": "rede|‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização|idem, depois do treino|velocidade de aprendizado W_1 / W_M|"
              "acurácia em dados separados",
    },
    "run_caption": {
        "en": "MLPs of {depth} hidden layers of {width} units on the blobs task (three classes, chance 1/3), {steps} "
              "{optimizer} steps at learning rate {lr}, batch {batch}; median [min, max] over {seeds} seeds. Learning "
              "speed: the relative weight change of W_1 over that of W_M.",
        "pt": "MLPs de {depth} camadas ocultas de {width} unidades no problema das bolhas (três classes, acaso 1/3), "
              "{steps} passos de {optimizer} com taxa de aprendizado {lr}, lote {batch}; mediana [mín, máx] entre "
              "{seeds} sementes. Velocidade de aprendizado: a mudança relativa dos pesos de W_1 sobre a de W_M.",
    },
    "network": {"en": "network", "pt": "rede"},
    "sweep_row": {"en": "0.25^(M−1)", "pt": "0,25^(M−1)"},
    "sweep_table": {"en": "Ratio first/last layer against depth, at initialization",
                    "pt": "Razão primeira/última camada em função da profundidade, na inicialização"},
    "sweep_caption": {
        "en": "‖∂L/∂h_1‖/‖∂L/∂h_M‖ at initialization, width {width}, median [min, max] over {seeds} seeds; the last "
              "row is the sigmoid derivative's share 0.25^(M−1).",
        "pt": "‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização, largura {width}, mediana [mín, máx] entre {seeds} sementes; a "
              "última linha é a parte da derivada da sigmoide, 0,25^(M−1).",
    },
})


def network_label(config: dict, lang: str) -> str:
    """Name a run's network as a legend shows it: "sigmoid, U[±1/√n] + batch norm"."""
    return (f"{_T('act.' + config['activation'], lang)}, {_T('init.' + config['init'], lang)}"
            f"{_T('cure.' + config.get('cure', 'plain'), lang)}")


def network_color(config: dict) -> str:
    """The color of a run's activation."""
    return _ACTIVATION_COLORS.get(config["activation"], PALETTE["grey"])


def network_linestyle(config: dict) -> str:
    """Dotted for torch's default init, solid for an init scaled to the activation."""
    return _INIT_LINES.get(config["init"], "-")


def relative_profile(profile: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_l‖ / ‖∂L/∂h_M‖ along the last axis; NaN where either is zero or not finite."""
    profile = np.asarray(profile, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = profile / profile[..., -1:]
    return np.where(np.isfinite(relative) & (relative > 0), relative, np.nan)


def in_config_order(runs: list[RunRecord]) -> list[RunRecord]:
    """Return ``runs`` in the order of the config's ``networks`` (workers store them as they finish)."""
    order = {Network(*network).name: index for index, network in enumerate(runs[0].config["networks"])}
    return sorted(runs, key=lambda run: order.get(run.name, len(order)))


def positive(values: np.ndarray) -> np.ndarray:
    """``values`` with zeros and non-finite entries as NaN, for a log axis."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the through-depth study: ratio against depth, profiles at init and trained, weight change per layer.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, ThroughDepth.name) if phase_key("init", GRAD_NORMS) in r.arrays]
    if not runs:
        return [], []
    runs = in_config_order(runs)
    figures, tables = [], []
    swept = [r for r in runs if SWEEP_RATIO in r.arrays]
    if swept:
        figures.append(_against_depth(swept, lang))
    figures.append(_profiles(runs, lang))
    trained = [r for r in runs if WEIGHT_CHANGE in r.arrays]
    if trained:
        figures.append(_weight_change(trained, lang))
        tables.append(_run_table(trained, lang))
    if swept:
        tables.append(_sweep_table(swept, lang))
    return figures, tables


def _against_depth(runs: list[RunRecord], lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(9.0, 4.8), layout="constrained")
    seen: set[int] = set()
    for run in runs:
        depths = run.arrays[DEPTHS]
        seen.update(int(d) for d in depths)
        ratio = positive(run.arrays[SWEEP_RATIO])
        color = network_color(run.config)
        _band(ax, depths, ratio, color, network_label(run.config, lang), linestyle=network_linestyle(run.config))
        ax.plot(depths, np.nanmedian(ratio, 0), color=color, marker="o", markersize=3, linestyle="none")
    grid = np.array(sorted(seen), dtype=float)
    ax.plot(grid, SIGMOID_SHARE ** (grid - 1), color=PALETTE["black"], linestyle="--", linewidth=1,
            label=_T("bound_depth", lang))
    ax.axhline(1.0, color=PALETTE["grey"], linewidth=0.6)
    ax.set_yscale("log")
    ax.set_xlabel(_T("depth_axis", lang))
    ax.set_ylabel(_T("ratio_axis", lang))
    _integer_ticks(ax)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    config = runs[0].config
    return Figure(_T("depth_title", lang), _T("depth_caption", lang, width=config["width"], seeds=config["seeds"]),
                  _png(fig, lang))


def _profiles(runs: list[RunRecord], lang: str) -> Figure:
    config = runs[0].config
    depth = config["depth"]
    layers = np.arange(1, depth + 1)
    fig, axes = plt.subplots(1, 2, figsize=_size(11.0, 4.6), sharey=True, layout="constrained")
    titles = (_T("at_init", lang), _T("trained", lang, steps=config["steps"],
                                       optimizer=optimizer_name(config["optimizer"])))
    for ax, phase, title in zip(axes, ("init", "trained"), titles, strict=True):
        for run in runs:
            key = phase_key(phase, GRAD_NORMS)
            if key in run.arrays:
                _band(ax, layers, relative_profile(run.arrays[key]), network_color(run.config),
                      network_label(run.config, lang), linestyle=network_linestyle(run.config))
        ax.plot(layers, SIGMOID_SHARE ** (depth - layers.astype(float)), color=PALETTE["black"], linestyle="--",
                linewidth=1, label=_T("bound_layers", lang))
        ax.axhline(1.0, color=PALETTE["grey"], linewidth=0.6)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(_T("layer_axis", lang))
        _integer_ticks(ax)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(_T("relative_axis", lang))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3)
    return Figure(_T("profiles_title", lang),
                  _T("profiles_caption", lang, depth=depth, width=config["width"], seeds=config["seeds"]),
                  _png(fig, lang))


def _weight_change(runs: list[RunRecord], lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(9.0, 4.6), layout="constrained")
    for run in runs:
        change = positive(run.arrays[WEIGHT_CHANGE][:, :-1])   # W_1 … W_M, without W_out
        _band(ax, np.arange(1, change.shape[1] + 1), change, network_color(run.config),
              network_label(run.config, lang), linestyle=network_linestyle(run.config))
    ax.set_yscale("log")
    ax.set_xlabel(_T("weights_axis", lang))
    ax.set_ylabel(_T("change_axis", lang))
    _integer_ticks(ax)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    config = runs[0].config
    return Figure(_T("speed_title", lang),
                  _T("speed_caption", lang, steps=config["steps"], optimizer=optimizer_name(config["optimizer"]),
                     lr=number(config["lr"], "g", lang), seeds=config["seeds"]),
                  _png(fig, lang))


def _run_table(runs: list[RunRecord], lang: str) -> Table:
    rows = [[network_label(run.config, lang),
             spread(run.arrays[phase_key("init", RATIO)], lang),
             spread(run.arrays[phase_key("trained", RATIO)], lang),
             spread(run.arrays[LEARNING_SPEED], lang),
             spread(run.arrays[ACCURACY], lang)] for run in runs]
    config = runs[0].config
    return Table(_T("run_table", lang), _T("run_columns", lang).split("|"), rows,
                 _T("run_caption", lang, depth=config["depth"], width=config["width"], steps=config["steps"],
                    optimizer=optimizer_name(config["optimizer"]), lr=number(config["lr"], "g", lang),
                    batch=config["batch_size"], seeds=config["seeds"]))


def _sweep_table(runs: list[RunRecord], lang: str) -> Table:
    depths = sorted({int(d) for r in runs for d in r.arrays[DEPTHS]})
    rows = []
    for run in runs:
        by_depth = dict(zip((int(d) for d in run.arrays[DEPTHS]), run.arrays[SWEEP_RATIO].T, strict=True))
        rows.append([network_label(run.config, lang),
                     *(spread(by_depth[d], lang) if d in by_depth else "—" for d in depths)])
    rows.append([_T("sweep_row", lang), *(number(SIGMOID_SHARE ** (d - 1), ".3g", lang) for d in depths)])
    config = runs[0].config
    return Table(_T("sweep_table", lang), [_T("network", lang), *(f"M = {d}" for d in depths)], rows,
                 _T("sweep_caption", lang, width=config["width"], seeds=config["seeds"]))
