"""Figures of the glorot2010 study: activations, back-propagated gradients and Jacobian singular values."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, interval, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.glorot2010.study import PUBLISHED
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_STUDY = "glorot2010"
_COLORS = {"standard": PALETTE["red"], "normalized": PALETTE["blue"]}
_QUARTER_CIRCLE_MEAN = 8.0 / (3.0 * np.pi)

_T = Catalog({
    "init.standard": {"en": "standard U[±1/√n]", "pt": "padrão U[±1/√n]"},
    "init.normalized": {"en": "normalized (Xavier)", "pt": "normalizada (Xavier)"},
    "layer": {"en": "layer {layer}", "pt": "camada {layer}"},
    "density": {"en": "density", "pt": "densidade"},
    "hidden_layer": {"en": "hidden layer l", "pt": "camada oculta l"},
    "activation_std_axis": {"en": "standard deviation of h_l = tanh(z_l)", "pt": "desvio padrão de h_l = tanh(z_l)"},
    "activation_spread_title": {"en": "Activation spread per layer", "pt": "Dispersão das ativações por camada"},
    "activation_legend": {"en": "solid: measured; dashed:\nlinear regime, (n·Var W)^(l−1)",
                          "pt": "cheia: medida; tracejada:\nregime linear, (n·Var W)^(l−1)"},
    "activation_value": {"en": "activation value h_l", "pt": "valor da ativação h_l"},
    "activations_title": {"en": "Activations layer by layer at initialization",
                          "pt": "Ativações camada a camada na inicialização"},
    "activations_caption": {
        "en": "Left: spread of each hidden layer's tanh outputs on {examples} random inputs (median over {seeds} "
              "seeds, band: min–max), against the linear-regime prediction of Glorot & Bengio's eq. 5, which "
              "multiplies the variance by n·Var[W] per layer (1/3 for the standard init, 1 for the normalized one). "
              "Right: histograms of the activation values per layer, pooled over seeds, to compare with the "
              "paper's Figure 6, where the paper reports that with the standard init the upper layers' histograms "
              "peak more and more at 0.",
        "pt": "À esquerda: dispersão das saídas tanh de cada camada oculta em {examples} entradas aleatórias "
              "(mediana entre {seeds} sementes, faixa: mín–máx), contra a previsão do regime linear da eq. 5 de "
              "Glorot & Bengio, que multiplica a variância por n·Var[W] a cada camada (1/3 na inicialização "
              "padrão, 1 na normalizada). À direita: histogramas dos valores das ativações por camada, juntando "
              "as sementes, para comparar com a Figura 6 do artigo, onde o artigo relata que, com a inicialização "
              "padrão, os histogramas das camadas de cima se concentram cada vez mais em 0.",
    },
    "backprop_axis": {"en": r"std of $\partial L/\partial z_l$ entries",
                      "pt": r"desvio padrão das entradas de $\partial L/\partial z_l$"},
    "backprop_title": {"en": "Back-propagated gradient per layer", "pt": "Gradiente retropropagado por camada"},
    "backprop_legend": {"en": "dashed: linear regime,\n(n·Var W)^(M−l)",
                        "pt": "tracejada: regime linear,\n(n·Var W)^(M−l)"},
    "weight_layer": {"en": "hidden layer l (weights W_l)", "pt": "camada oculta l (pesos W_l)"},
    "weight_axis": {"en": r"RMS of $\partial L/\partial W_l$ entries",
                    "pt": r"RMS das entradas de $\partial L/\partial W_l$"},
    "weight_title": {"en": "Weight gradient per layer", "pt": "Gradiente dos pesos por camada"},
    "gradient_value": {"en": r"$\partial L/\partial z_l$ / its std at the top layer",
                       "pt": r"$\partial L/\partial z_l$ / seu desvio padrão na última camada"},
    "gradients_title": {"en": "Back-propagated gradients layer by layer at initialization",
                        "pt": "Gradientes retropropagados camada a camada na inicialização"},
    "gradients_caption": {
        "en": "Top left: standard deviation of the back-propagated gradient ∂L/∂z_l (the gradient at each layer's "
              "pre-activation, over examples and units; median over seeds, band: min–max), beside the "
              "linear-regime prediction of the paper's eq. 13 (dashed): a factor √(n·Var[W]) per layer on its way "
              "down, 1/√3 for the standard init and 1 for the normalized one. Top right: the weight gradients per "
              "entry; the paper reports that even with the standard init they do not get smaller towards the input "
              "(its Figure 8 and eq. 14). Bottom: histograms of ∂L/∂z_l per layer in units of the top layer's "
              "spread, to compare with the paper's Figure 7, where the paper reports that with the standard init "
              "the back-propagated gradients' variance gets smaller as it goes down.",
        "pt": "Em cima, à esquerda: desvio padrão do gradiente retropropagado ∂L/∂z_l (o gradiente na "
              "pré-ativação de cada camada, sobre exemplos e unidades; mediana entre sementes, faixa: mín–máx), ao "
              "lado da previsão do regime linear da eq. 13 do artigo (tracejada): um fator √(n·Var[W]) por camada "
              "na descida, 1/√3 na inicialização padrão e 1 na normalizada. Em cima, à direita: os gradientes dos "
              "pesos por entrada; o artigo relata que, mesmo com a inicialização padrão, eles não diminuem em "
              "direção à entrada (sua Figura 8 e eq. 14). Embaixo: histogramas de ∂L/∂z_l por camada em unidades "
              "da dispersão da última camada, para comparar com a Figura 7 do artigo, onde o artigo relata que, "
              "com a inicialização padrão, a variância dos gradientes retropropagados diminui à medida que desce.",
    },
    "measured": {"en": "{init}: measured", "pt": "{init}: medido"},
    "published_line": {"en": "{init}: published ≈ {value}", "pt": "{init}: publicado ≈ {value}"},
    "quarter_mean": {"en": "{init}: quarter-circle mean, tanh′ = 1",
                     "pt": "{init}: média do quarto de círculo, tanh′ = 1"},
    "quarter_law": {"en": "{init}: quarter-circle law", "pt": "{init}: lei do quarto de círculo"},
    "jacobian_layer": {"en": r"layer l (Jacobian $\partial h_l/\partial h_{l-1}$)",
                       "pt": r"camada l (jacobiana $\partial h_l/\partial h_{l-1}$)"},
    "mean_singular_axis": {"en": "average singular value", "pt": "valor singular médio"},
    "mean_singular_title": {"en": "Average singular value of each layer Jacobian",
                            "pt": "Valor singular médio da jacobiana de cada camada"},
    "singular_axis": {"en": "singular value of a layer Jacobian", "pt": "valor singular de uma jacobiana de camada"},
    "pooled_title": {"en": "All singular values, pooled over layers and seeds",
                     "pt": "Todos os valores singulares, juntando camadas e sementes"},
    "singular_title": {"en": "Singular values of the layer Jacobians",
                       "pt": "Valores singulares das jacobianas das camadas"},
    "singular_caption": {
        "en": "Left: the mean of the singular values of ∂h_l/∂h_(l−1) = diag(tanh′(z_l)) W_l (averaged over "
              "{examples} examples per seed; median over {seeds} seeds, band: min–max), beside Glorot & Bengio's "
              "published ≈0.5 (standard) and ≈0.8 (normalized) (dashed) and the quarter-circle law's mean "
              "(8/3π)·σ√n that a matrix of i.i.d. weights of variance σ² has when tanh′ = 1 (dotted). As "
              "0 < tanh′ ≤ 1, each singular value of diag(tanh′(z_l)) W_l is at most the matching one of W_l. "
              "Right: the whole distribution against the quarter-circle law.",
        "pt": "À esquerda: a média dos valores singulares de ∂h_l/∂h_(l−1) = diag(tanh′(z_l)) W_l (média sobre "
              "{examples} exemplos por semente; mediana entre {seeds} sementes, faixa: mín–máx), ao lado dos "
              "≈0,5 (padrão) e ≈0,8 (normalizada) publicados por Glorot & Bengio (tracejadas) e da média "
              "(8/3π)·σ√n da lei do quarto de círculo, a de uma matriz de pesos i.i.d. de variância σ² quando "
              "tanh′ = 1 (pontilhadas). Como 0 < tanh′ ≤ 1, cada valor singular de diag(tanh′(z_l)) W_l é no "
              "máximo o valor correspondente de W_l. À direita: a distribuição inteira contra a lei do quarto de "
              "círculo.",
    },
    "table": {"en": "Published against measured, at initialization", "pt": "Publicado e medido, na inicialização"},
    "columns": {
        "en": "init|published mean singular value|measured mean singular value|per layer J_2 … J_M|quarter-circle "
              "mean, tanh′ = 1|activation std, layer 1 → M|∂L/∂z std, layer 1 / M|∂L/∂W RMS, layer 1 / M",
        "pt": "inicialização|valor singular médio publicado|valor singular médio medido|por camada J_2 … J_M|média "
              "do quarto de círculo, tanh′ = 1|desvio padrão das ativações, camada 1 → M|desvio padrão de ∂L/∂z, "
              "camada 1 / M|RMS de ∂L/∂W, camada 1 / M",
    },
    "inputs.uniform": {"en": "uniform", "pt": "uniformes"},
    "inputs.normal": {"en": "normal", "pt": "normais"},
    "table_caption": {
        "en": "{depth} tanh layers of {width} units at initialization, read on {examples} random inputs of "
              "{features} features ({inputs}), standing in for the paper's 32×32 Shapeset-3×2 images, with random "
              "labels among {classes} classes; median [min, max] over {seeds} seeds. The published values (≈0.8 "
              "normalized, ≈0.5 standard) are for the whole network: {source}.",
        "pt": "{depth} camadas tanh de {width} unidades na inicialização, lidas em {examples} entradas aleatórias "
              "{inputs} de {features} componentes, no lugar das imagens 32×32 do Shapeset-3×2 do artigo, com "
              "rótulos aleatórios entre {classes} classes; mediana [mín; máx] entre {seeds} sementes. Os valores "
              "publicados (≈0,8 normalizada, ≈0,5 padrão) valem para a rede inteira: {source}.",
    },
    "locator": {"en": "Section 4.2.2 (singular values, text); Figures 6-8 (histograms); Section 4.3",
                "pt": "Seção 4.2.2 (valores singulares, texto); Figuras 6–8 (histogramas); Seção 4.3"},
})


def _style(run: RunRecord, lang: str) -> tuple[str, str]:
    init = run.config["init"]
    key = f"init.{init}"
    return _COLORS.get(init, "gray"), (_T(key, lang) if key in _T.messages else init)


def _scale(run: RunRecord) -> float:
    """Median over members and layers of σ√n of the hidden-to-hidden weights (n·Var[W] = scale²)."""
    return float(np.median(run.arrays["weight_scale"]))


def _cell(values: np.ndarray, lang: str, spec: str = ".3f") -> str:
    low, mid, high = nan_quantiles(np.asarray(values, dtype=np.float64)[None], 1)[:, 0]
    return "—" if np.isnan(mid) else f"{number(mid, spec, lang)} {interval(low, high, spec, lang)}"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the glorot2010 study: activations, back-propagated gradients, Jacobian singular values, the table.

    Args:
        store: a run store holding runs of the ``glorot2010`` study.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, _STUDY) if "mean_singular_value" in r.arrays]
    if not runs:
        return [], []
    figures = [_activations(runs, lang), _gradients(runs, lang), _singular_values(runs, lang)]
    return figures, [_table(runs, lang)]


def _histogram_panel(ax, run: RunRecord, key: str, xlabel: str, lang: str) -> None:
    edges = run.arrays[f"{key}_edges"]
    centers = (edges[:-1] + edges[1:]) / 2
    histogram = run.arrays[f"{key}_histogram"]
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, histogram.shape[0]))
    for layer, (density, color) in enumerate(zip(histogram, colors), start=1):
        ax.plot(centers, density, color=color, linewidth=1.3, label=_T("layer", lang, layer=layer))
    ax.set_title(_style(run, lang)[1], fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_T("density", lang))
    ax.grid(True, alpha=0.3)
    ax.legend()


def _activations(runs: list[RunRecord], lang: str) -> Figure:
    fig, axes = plt.subplots(1, 1 + len(runs), figsize=_size(4.3 * (1 + len(runs)), 3.9))
    ax = axes[0]
    for run in runs:
        color, label = _style(run, lang)
        std = run.arrays["activation_std"]
        layers = np.arange(1, std.shape[1] + 1)
        _band(ax, layers, std, color, label)
        ax.plot(layers, np.median(std, 0), color=color, marker="o", markersize=4, linestyle="none")
        # Linear regime (the paper's eq. 5): each layer multiplies the variance by n·Var[W] = scale².
        first = float(np.median(std[:, 0]))
        ax.plot(layers, first * _scale(run) ** (layers - 1.0), color=color, linestyle="--", linewidth=0.9)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["activation_std"].shape[1] + 1))
    ax.set_xlabel(_T("hidden_layer", lang))
    ax.set_ylabel(_T("activation_std_axis", lang))
    ax.set_title(_T("activation_spread_title", lang), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title=_T("activation_legend", lang))
    for ax, run in zip(axes[1:], runs):
        _histogram_panel(ax, run, "activation", _T("activation_value", lang), lang)
    config = runs[0].config
    return Figure(_T("activations_title", lang),
                  _T("activations_caption", lang, examples=config["examples"], seeds=config["seeds"]),
                  _png(fig, lang))


def _gradients(runs: list[RunRecord], lang: str) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=_size(10.5, 7.6), layout="constrained")
    ax = axes[0][0]
    for run in runs:
        color, label = _style(run, lang)
        std = run.arrays["backprop_std"]
        depth = std.shape[1]
        layers = np.arange(1, depth + 1)
        _band(ax, layers, std, color, label)
        ax.plot(layers, np.median(std, 0), color=color, marker="o", markersize=4, linestyle="none")
        # Eq. 13: Var[∂C/∂s^l] = Var[∂C/∂s^M] · (n·Var W)^(M−l) in the linear regime.
        top = float(np.median(std[:, -1]))
        ax.plot(layers, top * _scale(run) ** (depth - layers.astype(float)), color=color, linestyle="--",
                linewidth=0.9)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["backprop_std"].shape[1] + 1))
    ax.set_xlabel(_T("hidden_layer", lang))
    ax.set_ylabel(_T("backprop_axis", lang))
    ax.set_title(_T("backprop_title", lang), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title=_T("backprop_legend", lang))
    ax = axes[0][1]
    for run in runs:
        color, label = _style(run, lang)
        rms = run.arrays["weight_grad_rms"][:, :-1]     # W_1 … W_M, without the softmax layer
        layers = np.arange(1, rms.shape[1] + 1)
        _band(ax, layers, rms, color, label)
        ax.plot(layers, np.median(rms, 0), color=color, marker="o", markersize=4, linestyle="none")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, runs[0].arrays["weight_grad_rms"].shape[1]))
    ax.set_xlabel(_T("weight_layer", lang))
    ax.set_ylabel(_T("weight_axis", lang))
    ax.set_title(_T("weight_title", lang), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    for ax, run in zip(axes[1], runs):
        _histogram_panel(ax, run, "gradient", _T("gradient_value", lang), lang)
    for ax in list(axes[1])[len(runs):]:
        ax.set_visible(False)
    return Figure(_T("gradients_title", lang), _T("gradients_caption", lang), _png(fig, lang))


def _singular_values(runs: list[RunRecord], lang: str) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=_size(11.5, 4.2))
    for run in runs:
        color, label = _style(run, lang)
        singular = run.arrays["mean_singular_value"]
        layers = np.arange(2, singular.shape[1] + 2)
        _band(left, layers, singular, color, _T("measured", lang, init=label))
        left.plot(layers, np.median(singular, 0), color=color, marker="o", markersize=4, linestyle="none")
        published = run.summary.get("published_singular_value")
        if published is not None:
            left.axhline(published, color=color, linestyle="--", linewidth=1.2,
                         label=_T("published_line", lang, init=label, value=number(published, "g", lang)))
        left.axhline(_QUARTER_CIRCLE_MEAN * _scale(run), color=color, linestyle=":", linewidth=1,
                     label=_T("quarter_mean", lang, init=label))
        values = run.arrays["singular_values"].ravel()
        values = values[np.isfinite(values)]
        right.hist(values, bins=60, density=True, color=color, alpha=0.35, label=_T("measured", lang, init=label))
        scale = _scale(run)
        grid = np.linspace(0.0, 2.0 * scale, 200)
        right.plot(grid, np.sqrt(np.clip(4 * scale**2 - grid**2, 0.0, None)) / (np.pi * scale**2), color=color,
                   linewidth=1.2, label=_T("quarter_law", lang, init=label))
    left.set_ylim(0.0, 1.05)
    left.set_xticks(np.arange(2, runs[0].arrays["mean_singular_value"].shape[1] + 2))
    left.set_xlabel(_T("jacobian_layer", lang))
    left.set_ylabel(_T("mean_singular_axis", lang))
    left.set_title(_T("mean_singular_title", lang), fontsize=10)
    left.grid(True, alpha=0.3)
    left.legend(loc="lower right")
    right.set_xlabel(_T("singular_axis", lang))
    right.set_ylabel(_T("density", lang))
    right.set_title(_T("pooled_title", lang), fontsize=10)
    right.grid(True, alpha=0.3)
    right.legend()
    config = runs[0].config
    return Figure(_T("singular_title", lang),
                  _T("singular_caption", lang, examples=config["jacobian_examples"], seeds=config["seeds"]),
                  _png(fig, lang))


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = []
    separator = ", " if lang == "en" else "; "  # Portuguese decimals already hold commas
    for run in runs:
        a, s = run.arrays, run.summary
        singular = a["mean_singular_value"]
        per_layer = separator.join(number(v, ".2f", lang) for v in np.median(singular, 0))
        published = s.get("published_singular_value")
        with np.errstate(divide="ignore", invalid="ignore"):
            backprop = a["backprop_std"][:, 0] / a["backprop_std"][:, -1]
            weights = a["weight_grad_rms"][:, 0] / a["weight_grad_rms"][:, -2]
        rows.append([
            _style(run, lang)[1],
            "—" if published is None else f"≈ {number(published, 'g', lang)}",
            _cell(singular.mean(-1), lang),
            per_layer,
            number(_QUARTER_CIRCLE_MEAN * _scale(run), ".3f", lang),
            f"{number(np.median(a['activation_std'][:, 0]), '.3f', lang)} → "
            f"{number(np.median(a['activation_std'][:, -1]), '.3f', lang)}",
            _cell(backprop, lang),
            _cell(weights, lang, ".2f"),
        ])
    config = runs[0].config
    inputs = f"inputs.{config['inputs']}"
    # English cites the locator as the study records it; the catalog's English copy only documents it.
    source = config["published"] if lang == "en" else PUBLISHED.citation.cite(_T("locator", lang))
    return Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, depth=config["depth"], width=number(config["width"], ",", lang),
           examples=config["examples"], features=number(config["input_size"], ",", lang),
           inputs=_T(inputs, lang) if inputs in _T.messages else config["inputs"], classes=config["classes"],
           seeds=config["seeds"], source=source),
    )
