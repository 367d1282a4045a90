"""Figures of the through-depth study: the gradient layer by layer, against depth, and learning speed."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from gradtrace.activations import ACTIVATIONS
from gradtrace.report.figures import PALETTE, Figure, Table, _band, _integer_ticks, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import RunRecord, Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw", "through_depth_headline"]

_STUDY = "through-depth"
_ACTIVATION_COLORS = {
    "sigmoid": PALETTE["red"], "tanh": PALETTE["orange"], "relu": PALETTE["blue"], "leaky_relu": PALETTE["green"],
    "gelu": PALETTE["purple"], "prelu": PALETTE["brown"], "linear": PALETTE["grey"],
}
_ACTIVATION_NAMES = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
                     "gelu": "GELU", "prelu": "PReLU", "linear": "linear"}
_VARIANTS = ("plain", "standard_init", "batch_norm", "residual")
_INIT_LABELS = {"xavier_uniform": "Xavier", "kaiming_uniform": "He", "uniform": "U[±1/√n]"}

_T = Catalog({
    "act.sigmoid": {"en": "sigmoid", "pt": "sigmoide"},
    "act.linear": {"en": "linear", "pt": "linear"},
    "variant.plain": {"en": "plain (Xavier / He init)", "pt": "simples (inicialização Xavier / He)"},
    "variant.standard_init": {"en": "plain, standard init U[±1/√n]", "pt": "simples, inicialização padrão U[±1/√n]"},
    "variant.batch_norm": {"en": "+ batch norm", "pt": "+ batch norm"},
    "variant.residual": {"en": "+ residual connections", "pt": "+ conexões residuais"},
    "tick.plain": {"en": "plain\n(Xavier / He)", "pt": "simples\n(Xavier/He)"},
    "tick.standard_init": {"en": "standard init\nU[±1/√n]", "pt": "inic. padrão\nU[±1/√n]"},
    "tick.batch_norm": {"en": "+ batch norm", "pt": "+ batch norm"},
    "tick.residual": {"en": "+ residual", "pt": "+ residual"},
    "short.plain": {"en": "", "pt": ""},
    "short.standard_init": {"en": ", standard init", "pt": ", inic. padrão"},
    "short.batch_norm": {"en": " + BN", "pt": " + BN"},
    "short.residual": {"en": " + residual", "pt": " + residual"},
    "headline": {
        "en": "At depth {depth}, ‖∂L/∂h_1‖ / ‖∂L/∂h_{depth}‖ at initialization (median of {seeds} seeds): {parts}.",
        "pt": "Com profundidade {depth}, ‖∂L/∂h_1‖ / ‖∂L/∂h_{depth}‖ na inicialização (mediana de {seeds} "
              "sementes): {parts}.",
    },
    "at_init": {"en": "at initialization", "pt": "na inicialização"},
    "trained": {"en": "after training", "pt": "depois do treino"},
    "sigmoid_bound": {"en": "0.25^(M−l): σ′ ≤ 1/4", "pt": "0,25^(M−l): σ′ ≤ 1/4"},
    "layer_axis": {"en": "hidden layer l (1 = next to the input)", "pt": "camada oculta l (1 = junto da entrada)"},
    "profiles_title": {"en": "Gradient through depth, layer by layer",
                       "pt": "O gradiente através da profundidade, camada a camada"},
    "profiles_caption": {
        "en": "Norm of ∂L/∂h_l at each hidden layer of a {depth}-layer, {width}-unit MLP, relative to the last hidden "
              "layer (median over {seeds} seeds, band: min–max), on a fixed batch of the circles task; top at "
              "initialization, bottom after {steps} {optimizer} steps. A line falling to the left is a vanishing "
              "gradient: the first layers receive almost nothing. The dashed red line is 0.25^(M−l), what the "
              "sigmoid's derivative alone lets through (the weights multiply it by up to ‖W_l‖ per layer). "
              "Xavier/He init keeps the tanh and ReLU-family profiles within a few decades; the standard "
              "U[±1/√n] init makes every activation's gradient vanish. Batch norm and residual connections make "
              "the gradient grow towards the input instead (a line above 1 on the left).",
        "pt": "Norma de ∂L/∂h_l em cada camada oculta de uma MLP de {depth} camadas e {width} unidades, relativa à "
              "última camada oculta (mediana entre {seeds} sementes, faixa: mín–máx), num lote fixo do problema "
              "dos círculos; em cima na inicialização, embaixo depois de {steps} passos de {optimizer}. Uma linha "
              "que cai para a esquerda é um gradiente que desaparece: as primeiras camadas quase não recebem "
              "nada. A linha vermelha tracejada é 0,25^(M−l), o que a derivada da sigmoide sozinha deixa passar "
              "(os pesos a multiplicam por até ‖W_l‖ por camada). A inicialização Xavier/He mantém os perfis da "
              "tanh e da família ReLU a poucas décadas; a inicialização padrão U[±1/√n] faz o gradiente de toda "
              "ativação desaparecer. Batch norm e conexões residuais fazem o gradiente crescer em direção à "
              "entrada (uma linha acima de 1 à esquerda).",
    },
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "hidden_layer": {"en": "hidden layer l", "pt": "camada oculta l"},
    "heat_colorbar": {"en": "(median of seeds)", "pt": "(mediana das sementes)"},
    "heat_title": {"en": "Gradient through depth during training",
                   "pt": "O gradiente através da profundidade durante o treino"},
    "heat_caption": {
        "en": "Each cell: log₁₀ of ‖∂L/∂h_l‖ relative to the last hidden layer on the training batch of that step "
              "(median over seeds; the colors saturate at ±{decades:g} decades). Blue: the gradient has vanished on "
              "its way down to layer l; red: it has grown. Where a column keeps its color through training, "
              "training did not change how the gradient travels: a deep sigmoid network's lower layers stay beyond "
              "the color scale; the profile of a network that trains moves within a few decades.",
        "pt": "Cada célula: log₁₀ de ‖∂L/∂h_l‖ relativa à última camada oculta, no lote de treino daquele passo "
              "(mediana entre sementes; as cores saturam em ±{decades:g} décadas). Azul: o gradiente desapareceu "
              "no caminho até a camada l; vermelho: ele cresceu. Onde uma coluna mantém a cor durante o treino, o "
              "treino não mudou como o gradiente viaja: as camadas de baixo de uma rede sigmoide profunda ficam "
              "além da escala de cores; o perfil de uma rede que treina se move dentro de poucas décadas.",
    },
    "sigmoid_share": {"en": "0.25^(M−1): sigmoid's σ′ share", "pt": "0,25^(M−1): a parte do σ′ da sigmoide"},
    "depth_axis": {"en": "depth M (hidden layers)", "pt": "profundidade M (camadas ocultas)"},
    "at_init_axis": {"en": "at initialization", "pt": "na inicialização"},
    "depth_title": {"en": "First-to-last gradient ratio against depth",
                    "pt": "Razão do gradiente entre a primeira e a última camada em função da profundidade"},
    "depth_caption": {
        "en": "How much of the gradient at the last hidden layer reaches the first, at initialization, for MLPs of "
              "width {width} and depth M (median over {seeds} seeds, band: min–max). The dashed black line is "
              "0.25^(M−1), the sigmoid derivative's share over the M − 1 layer Jacobians between them: the "
              "measured sigmoid ratio falls with it, geometrically in M. ReLU with He init keeps the ratio near 1, "
              "drifting down with depth at this width; batch norm and residual connections make it grow "
              "geometrically instead — batch norm's gradient explosion at initialization (Yang et al. 2019) and "
              "the identity added to every residual Jacobian.",
        "pt": "Quanto do gradiente da última camada oculta chega à primeira, na inicialização, em MLPs de largura "
              "{width} e profundidade M (mediana entre {seeds} sementes, faixa: mín–máx). A linha preta tracejada "
              "é 0,25^(M−1), a parte da derivada da sigmoide nas M − 1 jacobianas de camada entre elas: a razão "
              "medida da sigmoide cai junto, geometricamente em M. A ReLU com inicialização He mantém a razão "
              "perto de 1, descendo um pouco com a profundidade nesta largura; batch norm e conexões residuais a "
              "fazem crescer geometricamente — a explosão do gradiente da batch norm na inicialização (Yang et al. "
              "2019) e a identidade somada a cada jacobiana residual.",
    },
    "weights_axis": {"en": "hidden layer l (weights W_l)", "pt": "camada oculta l (pesos W_l)"},
    "moved_title": {"en": "How far each layer's weights moved", "pt": "Quanto os pesos de cada camada se moveram"},
    "speed_axis": {"en": "learning speed, first / last hidden layer",
                   "pt": "velocidade de aprendizado, primeira / última camada"},
    "speed_panel": {"en": "Relative weight change of W_1 over W_M", "pt": "Mudança relativa de W_1 sobre a de W_M"},
    "speed_title": {"en": "First-layer against last-layer learning speed",
                    "pt": "Velocidade de aprendizado da primeira camada contra a da última"},
    "speed_caption": {
        "en": "Left: how far each hidden layer's weights moved during {steps} {optimizer} steps, relative to where "
              "they started (median over seeds, band: min–max). Right: the ratio of that change for the first "
              "hidden layer over the last (bar: median, whisker: min–max; 1 = equally fast). A deep sigmoid "
              "network's first layer barely moves: its gradient, many decades below the last layer's, falls under "
              "Adam's ε, which otherwise rescales small gradients up to full-sized steps — plain SGD would "
              "separate the layers further, in proportion to the gradient ratio.",
        "pt": "À esquerda: quanto os pesos de cada camada oculta se moveram durante {steps} passos de {optimizer}, "
              "relativo a onde começaram (mediana entre sementes, faixa: mín–máx). À direita: a razão dessa "
              "mudança entre a primeira camada oculta e a última (barra: mediana, bigode: mín–máx; 1 = igualmente "
              "rápidas). A primeira camada de uma rede sigmoide profunda quase não se move: seu gradiente, muitas "
              "décadas abaixo do da última camada, fica abaixo do ε do Adam, que de outro modo reescala gradientes "
              "pequenos até passos de tamanho cheio — o SGD simples separaria ainda mais as camadas, na proporção "
              "da razão dos gradientes.",
    },
    "run_table": {"en": "Gradient ratio first/last layer and learning speed",
                  "pt": "Razão do gradiente primeira/última camada e velocidade de aprendizado"},
    "run_columns": {
        "en": "activation|variant|init|‖∂L/∂h_1‖/‖∂L/∂h_M‖ at init|same, trained|factor per layer, init → trained|"
              "‖∂L/∂W_1‖/‖∂L/∂W_M‖ at init|learning speed first/last|held-out accuracy",
        "pt": "ativação|variante|inicialização|‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização|idem, treinada|fator por "
              "camada, inicialização → treinada|‖∂L/∂W_1‖/‖∂L/∂W_M‖ na inicialização|velocidade de aprendizado "
              "primeira/última|acurácia em dados separados",
    },
    "run_caption": {
        "en": "MLPs of {depth} hidden layers of {width} units on the circles task (chance: 50 %), {steps} {optimizer} "
              "steps at lr {lr:g}, batch {batch}; median [min, max] over {seeds} seeds. Factor per layer: exp of "
              "the slope of log‖∂L/∂h_l‖ against l, per layer back towards the input (below 1: vanishing). "
              "Learning speed: relative weight change ‖W_l(end) − W_l(0)‖/‖W_l(0)‖ of W_1 over that of W_M.",
        "pt": "MLPs de {depth} camadas ocultas de {width} unidades no problema dos círculos (acaso: 50 %), {steps} "
              "passos de {optimizer} com taxa de aprendizado {lr:g}, lote {batch}; mediana [mín, máx] entre {seeds} "
              "sementes. Fator por camada: exp da inclinação de log‖∂L/∂h_l‖ em função de l, por camada em "
              "direção à entrada (abaixo de 1: o gradiente desaparece). Velocidade de aprendizado: mudança "
              "relativa dos pesos ‖W_l(fim) − W_l(0)‖/‖W_l(0)‖ de W_1 sobre a de W_M.",
    },
    "network": {"en": "network", "pt": "rede"},
    "sweep_row": {"en": "0.25^(M−1) (sigmoid's σ′ share)", "pt": "0,25^(M−1) (a parte do σ′ da sigmoide)"},
    "sweep_table": {"en": "First-to-last gradient ratio against depth, at initialization",
                    "pt": "Razão do gradiente primeira/última camada em função da profundidade, na inicialização"},
    "sweep_caption": {
        "en": "‖∂L/∂h_1‖/‖∂L/∂h_M‖ at initialization, width {width}, median [min, max] over {seeds} seeds; Xavier "
              "init for sigmoid and tanh, He init for ReLU.",
        "pt": "‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização, largura {width}, mediana [mín, máx] entre {seeds} sementes; "
              "inicialização Xavier para sigmoide e tanh, He para ReLU.",
    },
})


def _activation(activation: str, lang: str) -> str:
    key = f"act.{activation}"
    return _T(key, lang) if key in _T.messages else _ACTIVATION_NAMES.get(activation, activation)


def _variant(variant: str, lang: str, kind: str = "variant") -> str:
    key = f"{kind}.{variant}"
    return _T(key, lang) if key in _T.messages else variant


# ReLU and leaky ReLU trace almost the same curves: the dashes keep both visible.
_ACTIVATION_LINES = {"leaky_relu": "--"}
# Heat-map colors saturate beyond this many decades, so a sigmoid's 10⁻¹² leaves contrast for the rest.
_HEATMAP_DECADES = 6.0
# The runs drawn one by one (heat maps, per-layer learning speed): the ones the story turns on.
_KEY_RUNS = ("sigmoid-plain", "tanh-standard_init", "tanh-plain", "relu-plain", "relu-batch_norm", "relu-residual")
_SIGMOID_SLOPE = ACTIVATIONS["sigmoid"].max_derivative


def _label(activation: str, variant: str, lang: str = "en") -> str:
    return _activation(activation, lang) + _variant(variant, lang, "short")


def _relative(profile: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_l‖ / ‖∂L/∂h_M‖ along the last axis; NaN where either is zero or not finite."""
    profile = np.asarray(profile, dtype=np.float64)
    last = profile[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = profile / last
    return np.where(np.isfinite(relative) & (relative > 0), relative, np.nan)


def _cell(values: np.ndarray) -> str:
    low, mid, high = nan_quantiles(np.asarray(values, dtype=np.float64)[None], 1)[:, 0]
    if np.isnan(mid):
        return "—"
    return f"{mid:.2g} [{low:.2g}, {high:.2g}]"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the through-depth study: profiles at init and trained, heat maps, ratio vs depth, learning speed.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = _runs(store, _STUDY)
    trained = [r for r in runs if "init/grad_norms" in r.arrays and not r.name.startswith("depth-")]
    sweeps = [r for r in runs if r.name.startswith("depth-") and "first_last_ratio" in r.arrays]
    figures, tables = [], []
    if trained:
        figures.append(_profiles(trained, lang))
        with_trace = [r for r in trained if r.arrays.get("trace/grad_norms") is not None
                      and r.arrays["trace/grad_norms"].size]
        if with_trace:
            figures.append(_heatmaps(with_trace, lang))
    if sweeps:
        figures.append(_against_depth(sweeps, lang))
    learned = [r for r in trained if "relative_weight_change" in r.arrays]
    if learned:
        figures.append(_learning_speed(learned, lang))
        tables.append(_run_table(store, learned, lang))
    if sweeps:
        tables.append(_sweep_table(sweeps, lang))
    return figures, tables


def through_depth_headline(store: Store, lang: str = "en") -> str | None:
    """Return one sentence with the first/last ratios at init of sigmoid, ReLU, ReLU + BN and residual ReLU.

    None when the store holds none of those runs.
    """
    parts = []
    depth = seeds = None
    for name, (activation, variant) in (("sigmoid-plain", ("sigmoid", "plain")), ("relu-plain", ("relu", "plain")),
                                        ("relu-batch_norm", ("relu", "batch_norm")),
                                        ("relu-residual", ("relu", "residual"))):
        if name not in store.names(_STUDY):
            continue
        run = store.get(_STUDY, name)
        if "init/first_last_ratio" not in run.summary:
            continue
        depth, seeds = run.summary["depth"], run.summary["seeds"]
        label = _activation(activation, lang) + ("" if variant == "plain" else " " + _variant(variant, lang))
        parts.append(f"{label} {run.summary['init/first_last_ratio']:.2g}")
        if name == "sigmoid-plain":
            parts[-1] += f" (0.25^{depth - 1} = {_SIGMOID_SLOPE ** (depth - 1):.2g})"
    if not parts:
        return None
    return _T("headline", lang, depth=depth, seeds=seeds, parts=", ".join(parts))


def _variants(runs: list[RunRecord]) -> list[str]:
    return [v for v in _VARIANTS if any(r.config["variant"] == v for r in runs)]


def _color(activation: str) -> str:
    return _ACTIVATION_COLORS.get(activation, PALETTE["grey"])


def _profiles(runs: list[RunRecord], lang: str) -> Figure:
    variants = _variants(runs)
    fig, axes = plt.subplots(2, len(variants), figsize=_size(3.3 * len(variants), 6.6), squeeze=False, sharey=True,
                             layout="constrained")
    depth = runs[0].config["depth"]
    layers = np.arange(1, depth + 1)
    legend: dict[str, object] = {}
    for row, (phase, when) in enumerate((("init", _T("at_init", lang)), ("trained", _T("trained", lang)))):
        for column, variant in enumerate(variants):
            ax = axes[row][column]
            for run in runs:
                key = f"{phase}/grad_norms"
                if run.config["variant"] != variant or key not in run.arrays:
                    continue
                activation = run.config["activation"]
                relative = _relative(run.arrays[key])
                if np.isfinite(relative).any():
                    _band(ax, layers, relative, _color(activation), _activation(activation, lang),
                          linestyle=_ACTIVATION_LINES.get(activation, "-"))
                if activation == "sigmoid" and variant in ("plain", "standard_init"):
                    ax.plot(layers, _SIGMOID_SLOPE ** (depth - layers.astype(float)), color=_color(activation),
                            linestyle="--", linewidth=1, label=_T("sigmoid_bound", lang))
            ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
            ax.set_yscale("log")
            ax.set_title(f"{_variant(variant, lang)}\n{when}")
            if row == 1:
                ax.set_xlabel(_T("layer_axis", lang))
            ax.grid(True, which="major", alpha=0.3)
            _integer_ticks(ax)
            handles, labels = ax.get_legend_handles_labels()
            legend.update({label: handle for handle, label in zip(handles, labels) if label not in legend})
        axes[row][0].set_ylabel(r"$\|\partial L/\partial h_l\|\ /\ \|\partial L/\partial h_M\|$")
    # One legend for all eight panels, below them: inside any panel it would cover a profile.
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=min(len(legend), 6))
    config = runs[0].config
    return Figure(
        _T("profiles_title", lang),
        _T("profiles_caption", lang, depth=depth, width=config["width"], seeds=config["seeds"], steps=config["steps"],
           optimizer=config["optimizer"]),
        _png(fig),
    )


def _heatmaps(runs: list[RunRecord], lang: str) -> Figure:
    by_name = {r.name: r for r in runs}
    chosen = [by_name[n] for n in _KEY_RUNS if n in by_name] or runs[:6]
    maps = []
    for run in chosen:
        relative = _relative(np.moveaxis(run.arrays["trace/grad_norms"], 1, 0))  # (K, s, M)
        with np.errstate(divide="ignore", invalid="ignore"):
            maps.append(nan_quantiles(np.log10(relative), 0)[1])                # (s, M)
    finite = [np.abs(m[np.isfinite(m)]) for m in maps if np.isfinite(m).any()]
    limit = min(_HEATMAP_DECADES, max(1.0, max((float(f.max()) for f in finite), default=1.0)))
    columns = 3 if len(chosen) > 4 else min(2, len(chosen))
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=_size(4.0 * columns, 3.2 * rows), squeeze=False,
                             layout="constrained")
    image = None
    for ax, run, values in zip(axes.flat, chosen, maps):
        steps = run.arrays["trace/step"].astype(float)
        depth = values.shape[1]
        step_edges = np.append(steps, steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else 1.0))
        layer_edges = np.arange(0.5, depth + 1.0)
        image = ax.pcolormesh(step_edges, layer_edges, values.T, cmap="RdBu_r", vmin=-limit, vmax=limit,
                              shading="flat")
        ax.set_title(_label(run.config["activation"], run.config["variant"], lang))
        ax.set_xlabel(_T("training_step", lang))
        ax.set_ylabel(_T("hidden_layer", lang))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, extend="both",
                     label=r"$\log_{10}\ \|\partial L/\partial h_l\| / \|\partial L/\partial h_M\|$ "
                     + _T("heat_colorbar", lang))
    return Figure(_T("heat_title", lang), _T("heat_caption", lang, decades=_HEATMAP_DECADES), _png(fig))


_VARIANT_LINES = {"plain": "-", "standard_init": ":", "batch_norm": "--", "residual": "-."}


def _against_depth(runs: list[RunRecord], lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.2, 4.6))
    depths_seen: set[int] = set()
    for run in runs:
        activation, variant = run.config["activation"], run.config["variant"]
        depths = run.arrays["depths"]
        depths_seen.update(int(d) for d in depths)
        ratio = np.where(run.arrays["first_last_ratio"] > 0, run.arrays["first_last_ratio"], np.nan)
        _band(ax, depths, ratio, _color(activation), _label(activation, variant, lang),
              linestyle=_VARIANT_LINES.get(variant, "-"))
        ax.plot(depths, nan_quantiles(ratio, 0)[1], color=_color(activation), marker="o", markersize=3,
                linestyle="none")
    grid = np.array(sorted(depths_seen), dtype=float)
    ax.plot(grid, _SIGMOID_SLOPE ** (grid - 1), color="black", linestyle="--", linewidth=1,
            label=_T("sigmoid_share", lang))
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel(_T("depth_axis", lang))
    _integer_ticks(ax)
    ax.set_ylabel(r"$\|\partial L/\partial h_1\|\ /\ \|\partial L/\partial h_M\|$ " + _T("at_init_axis", lang))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    config = runs[0].config
    return Figure(_T("depth_title", lang), _T("depth_caption", lang, width=config["width"], seeds=config["seeds"]),
                  _png(fig))


def _learning_speed(runs: list[RunRecord], lang: str) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=_size(12.5, 4.6), layout="constrained")
    by_name = {r.name: r for r in runs}
    chosen = [by_name[n] for n in _KEY_RUNS if n in by_name] or runs[:6]
    for run in chosen:
        change = run.arrays["relative_weight_change"][:, :-1]   # W_1 … W_M, without W_out
        change = np.where(change > 0, change, np.nan)
        layers = np.arange(1, change.shape[1] + 1)
        activation, variant = run.config["activation"], run.config["variant"]
        _band(left, layers, change, _color(activation), _label(activation, variant, lang),
              linestyle=_VARIANT_LINES.get(variant, "-"))
    left.set_yscale("log")
    left.set_xlabel(_T("weights_axis", lang))
    _integer_ticks(left)
    left.set_ylabel(r"$\|W_l(\mathrm{end}) - W_l(0)\|\ /\ \|W_l(0)\|$")
    left.set_title(_T("moved_title", lang))
    left.grid(True, which="major", alpha=0.3)
    left.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))

    variants = _variants(runs)
    activations = list(dict.fromkeys(r.config["activation"] for r in runs))
    width = 0.8 / max(len(activations), 1)
    by_key = {(r.config["activation"], r.config["variant"]): r for r in runs}
    labelled: set[str] = set()
    for i, activation in enumerate(activations):
        for j, variant in enumerate(variants):
            run = by_key.get((activation, variant))
            if run is None:
                continue
            change = run.arrays["relative_weight_change"]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = change[:, 0] / change[:, -2]
            ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, np.nan)
            low, mid, high = nan_quantiles(ratio[None], 1)[:, 0]
            if np.isnan(mid):
                continue
            x = j - 0.4 + width * (i + 0.5)
            right.bar(x, mid, width=width * 0.9, color=_color(activation),
                      label=None if activation in labelled else _activation(activation, lang))
            labelled.add(activation)
            right.errorbar(x, mid, yerr=[[mid - low], [high - mid]], color="black", linewidth=0.8, capsize=2)
    right.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    right.set_yscale("log")
    right.set_xticks(range(len(variants)), [_variant(v, lang, "tick") for v in variants])
    right.set_ylabel(_T("speed_axis", lang))
    right.set_title(_T("speed_panel", lang))
    right.grid(True, axis="y", which="major", alpha=0.3)
    right.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    config = runs[0].config
    return Figure(_T("speed_title", lang), _T("speed_caption", lang, steps=config["steps"],
                                                optimizer=config["optimizer"]), _png(fig))


def _run_table(store: Store, runs: list[RunRecord], lang: str) -> Table:
    rows = []
    for run in runs:
        a, s, c = run.arrays, run.summary, run.config
        weights = a["init/weight_grad_norms"]
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = a["relative_weight_change"][:, 0] / a["relative_weight_change"][:, -2]
            weight_ratio = weights[:, 0] / weights[:, -2]
        accuracy = s.get("task/accuracy", float("nan"))
        rows.append([
            _activation(c["activation"], lang),
            _variant(c["variant"], lang),
            _INIT_LABELS.get(c["init"], c["init"]),
            _cell(a["init/first_last_ratio"]),
            _cell(a["trained/first_last_ratio"]) if "trained/first_last_ratio" in a else "—",
            f"{s.get('init/decay_rate', float('nan')):.3g} → {s.get('trained/decay_rate', float('nan')):.3g}",
            _cell(np.where(np.isfinite(weight_ratio), weight_ratio, np.nan)),
            _cell(np.where(np.isfinite(speed), speed, np.nan)),
            "—" if accuracy != accuracy else f"{accuracy:.0%}",
        ])
    config = runs[0].config
    headline = through_depth_headline(store, lang)
    return Table(
        _T("run_table", lang), _T("run_columns", lang).split("|"), rows,
        (headline + " " if headline else "")
        + _T("run_caption", lang, depth=config["depth"], width=config["width"], steps=config["steps"],
             optimizer=config["optimizer"], lr=config["lr"], batch=config["batch_size"], seeds=config["seeds"]),
    )


def _sweep_table(runs: list[RunRecord], lang: str) -> Table:
    depths = sorted({int(d) for r in runs for d in r.arrays["depths"]})
    rows = []
    for run in runs:
        by_depth = dict(zip((int(d) for d in run.arrays["depths"]), run.arrays["first_last_ratio"].T))
        rows.append([_label(run.config["activation"], run.config["variant"], lang),
                     *(_cell(by_depth[d]) if d in by_depth else "—" for d in depths)])
    rows.append([_T("sweep_row", lang), *(f"{_SIGMOID_SLOPE ** (d - 1):.2g}" for d in depths)])
    config = runs[0].config
    return Table(
        _T("sweep_table", lang),
        [_T("network", lang), *(f"M = {d}" for d in depths)],
        rows,
        _T("sweep_caption", lang, width=config["width"], seeds=config["seeds"]),
    )
