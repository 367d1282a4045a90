"""Figures of the forecast study: test forecasts against the truth, each model's RMSE against persistence's, a table."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _integer_ticks, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.forecast.claims import MODEL_NAMES
from gradtrace.studies.forecast.config import MODELS, SERIES, Key

__all__ = ["draw"]

# One hue per model, from the report's palette; the truth is black and persistence grey throughout.
_MODEL_COLORS = {"mlp": PALETTE["orange"], "elman": PALETTE["red"], "lstm": PALETTE["blue"], "esn": PALETTE["green"]}
# Test steps drawn in the forecast figure: a few Mackey-Glass oscillations, few enough that the lines stay apart.
_STRETCH = 120

_T = Catalog({
    "series.mackey_glass": {"en": "Mackey-Glass (τ = 17)", "pt": "Mackey-Glass (τ = 17)"},
    "series.price": {"en": "synthetic price", "pt": "preço sintético"},
    "short.mlp": {"en": "MLP", "pt": "MLP"},
    "short.elman": {"en": "Elman RNN", "pt": "RNN de Elman"},
    "short.lstm": {"en": "LSTM", "pt": "LSTM"},
    "short.esn": {"en": "ESN", "pt": "ESN"},
    "truth": {"en": "truth", "pt": "valor real"},
    "persistence": {"en": "persistence (last value)", "pt": "persistência (último valor)"},
    "oracle": {"en": "knows the seasonal term", "pt": "conhece o termo sazonal"},
    "stretch_title": {"en": "{series}: first {steps} test steps", "pt": "{series}: primeiros {steps} passos de teste"},
    "value_axis": {"en": "value (standardized)", "pt": "valor (padronizado)"},
    "error_axis": {"en": "forecast − truth", "pt": "previsão − valor real"},
    "time_axis": {"en": "time step of the series", "pt": "passo de tempo da série"},
    "forecasts_title": {"en": "Test forecasts against the truth", "pt": "Previsões de teste contra o valor real"},
    "forecasts_caption": {
        "en": "Each model's forecast of the next value from the last {window}, over the first {steps} targets of the "
              "test part (never trained on), for the seed whose test RMSE is the median; below, its error. Black: "
              "the truth; grey dashed: persistence, which repeats the last value and so lags the truth by one step. "
              "Values are standardized by the mean and standard deviation of the train part.",
        "pt": "A previsão de cada modelo para o próximo valor a partir dos {window} últimos, nos primeiros {steps} "
              "alvos da parte de teste (nunca vista no treino), para a semente cujo RMSE de teste é a mediana; "
              "abaixo, o seu erro. Preto: o valor real; cinza tracejado: a persistência, que repete o último valor e "
              "por isso se atrasa um passo em relação a ele. Os valores são padronizados pela média e pelo desvio "
              "padrão da parte de treino.",
    },
    "ratio_axis": {"en": "test RMSE / persistence's", "pt": "RMSE de teste / o da persistência"},
    "ratio_title": {"en": "Test error of each model against persistence's",
                    "pt": "Erro de teste de cada modelo contra o da persistência"},
    "ratio_caption": {
        "en": "Each model's RMSE over every window of the test part divided by persistence's on the same targets: "
              "large marker at the median seed, whiskers to the best and worst seed, small dots the {seeds} seeds "
              "(ESN: echo state network). The dashed line at 1 is persistence; below it a model beats repeating the "
              "last value. Mackey-Glass on a log scale, the price on a linear one; on the price, the dotted line is a "
              "forecaster that knows how the price is made (its drift and seasonal term exactly) and cannot know the "
              "random increments.",
        "pt": "O RMSE de cada modelo em todas as janelas da parte de teste dividido pelo da persistência nos mesmos "
              "alvos: marcador grande na semente mediana, bigodes até a melhor e a pior semente, pontos pequenos as "
              "{seeds} sementes (ESN: rede de estado de eco). A linha tracejada em 1 é a persistência; abaixo dela um "
              "modelo supera repetir o último valor. Mackey-Glass em escala logarítmica, o preço em escala linear; no "
              "preço, a linha pontilhada é um previsor que sabe como o preço é gerado (a tendência e o termo sazonal "
              "exatos) e não pode conhecer os incrementos aleatórios.",
    },
    "table": {"en": "Test error per series and model", "pt": "Erro de teste por série e modelo"},
    "columns": {
        "en": "series|model|test RMSE median [min, max]|persistence RMSE|RMSE / persistence median [min, max]|"
              "seeds below persistence|train part: RMSE / persistence",
        "pt": "série|modelo|RMSE de teste mediana [mín, máx]|RMSE da persistência|RMSE / persistência mediana "
              "[mín, máx]|sementes abaixo da persistência|parte de treino: RMSE / persistência",
    },
    "table_caption": {
        "en": "Forecast of the next value from the last {window}; series of {length} points standardized by the "
              "first {train:.0f}%, on which the models are trained, scored on every window of the rest. Every model "
              "sees the window measured from its last value and predicts the change, which it adds to the last "
              "value. MLP {mlp}; Elman RNN and LSTM with {hidden} units, trained by Adam for {steps} steps; the echo "
              "state network ({reservoir} units) is driven over each window from the zero state and its readout is "
              "fitted by ridge regression. The last column compares with persistence on the train windows.",
        "pt": "Previsão do próximo valor a partir dos {window} últimos; séries de {length} pontos padronizadas pelos "
              "primeiros {train:.0f}%, nos quais os modelos são treinados, avaliadas em todas as janelas do resto. "
              "Cada modelo vê a janela medida a partir do seu último valor e prevê a variação, que soma ao último "
              "valor. MLP {mlp}; RNN de Elman e LSTM com {hidden} unidades, treinadas por Adam durante {steps} "
              "passos; a rede de estado de eco ({reservoir} unidades) é conduzida por cada janela a partir do estado "
              "zero e a sua leitura é ajustada por regressão ridge. A última coluna compara com a persistência nas "
              "janelas de treino.",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the forecast study: forecasts against the truth, RMSE against persistence's, and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The figures and tables; none when the store holds no finished forecast run.
    """
    runs = [r for r in _runs(store, "forecast") if r.status == "finished" and Key.RATIO in r.summary
            and r.summary.get(Key.MODEL) in MODELS and r.summary.get(Key.SERIES) in SERIES]
    if not runs:
        return [], []
    runs.sort(key=lambda r: (SERIES.index(r.summary[Key.SERIES]), MODELS.index(r.summary[Key.MODEL])))
    by_series = {series: [r for r in runs if r.summary[Key.SERIES] == series] for series in SERIES}
    by_series = {series: found for series, found in by_series.items() if found}
    return [_forecasts(by_series, lang), _ratios(by_series, lang)], [_table(runs, lang)]


def _model(run: RunRecord, lang: str) -> str:
    return MODEL_NAMES[run.summary[Key.MODEL]][lang]


def _forecasts(by_series: dict[str, list[RunRecord]], lang: str) -> Figure:
    fig, axes = plt.subplots(2, len(by_series), figsize=_size(6.2 * len(by_series), 6.4), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1.2]}, sharex="col")
    for top, bottom, (series, runs) in zip(axes[0], axes[1], by_series.items()):
        first = runs[0].arrays
        steps = first[Key.TEST_POSITION][:_STRETCH]
        truth = first[Key.TEST_TRUTH][:_STRETCH]
        persistence = first[Key.TEST_PERSISTENCE][:_STRETCH]
        top.plot(steps, truth, color=PALETTE["black"], linewidth=2.0, label=_T("truth", lang))
        top.plot(steps, persistence, color=PALETTE["grey"], linestyle="--", linewidth=1.0,
                 label=_T("persistence", lang))
        bottom.plot(steps, persistence - truth, color=PALETTE["grey"], linestyle="--", linewidth=1.0)
        for run in runs:
            color = _MODEL_COLORS[run.summary[Key.MODEL]]
            forecast = run.arrays[Key.TEST_PREDICTION][run.summary[Key.MEDIAN_MEMBER], :_STRETCH]
            top.plot(steps, forecast, color=color, linewidth=1.1, alpha=0.9, label=_model(run, lang))
            bottom.plot(steps, forecast - truth, color=color, linewidth=1.0, alpha=0.9)
        bottom.axhline(0.0, color=PALETTE["black"], linewidth=0.8)
        top.set_title(_T("stretch_title", lang, series=_T(f"series.{series}", lang), steps=len(steps)))
        top.set_ylabel(_T("value_axis", lang))
        bottom.set_ylabel(_T("error_axis", lang))
        bottom.set_xlabel(_T("time_axis", lang))
        _integer_ticks(bottom)
        top.grid(True, alpha=0.3)
        bottom.grid(True, alpha=0.3)
    # One legend for every panel, under the figure: inside, it would cover the curves.
    labels = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    fig.legend(list(labels.values()), list(labels), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4)
    config = next(iter(by_series.values()))[0].config
    return Figure(_T("forecasts_title", lang),
                  _T("forecasts_caption", lang, window=config["window"], steps=_STRETCH), _png(fig, lang))


def _ratios(by_series: dict[str, list[RunRecord]], lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(by_series), figsize=_size(5.2 * len(by_series), 3.9), squeeze=False)
    for ax, (series, runs) in zip(axes[0], by_series.items()):
        for i, run in enumerate(runs):
            ratios = run.arrays[Key.TEST_RMSE] / run.summary[Key.PERSISTENCE_RMSE]
            middle = run.summary[Key.RATIO]
            # A marker, not a bar: on the price the axis does not start at 0, and a bar's length would mislead.
            ax.errorbar([i], [middle], yerr=[[middle - ratios.min()], [ratios.max() - middle]], fmt="o",
                        color=_MODEL_COLORS[run.summary[Key.MODEL]], markersize=11, capsize=6, linewidth=1.5,
                        zorder=2)
            ax.scatter(np.full(len(ratios), i + 0.18), ratios, s=12, color=PALETTE["black"], zorder=3)
        ax.axhline(1.0, color=PALETTE["grey"], linestyle="--", linewidth=1.2, label=_T("persistence", lang))
        oracle = runs[0].summary.get(Key.ORACLE_RATIO)
        if oracle is not None:
            ax.axhline(oracle, color=PALETTE["black"], linestyle=":", linewidth=1.2, label=_T("oracle", lang))
        ax.set_xticks(range(len(runs)), [_T(f"short.{r.summary[Key.MODEL]}", lang) for r in runs])
        ax.set_xlim(-0.5, len(runs) - 0.5)
        if series == "mackey_glass":
            ax.set_yscale("log")
        else:
            # Linear, zoomed to the band around persistence where the differences live.
            values = [r.arrays[Key.TEST_RMSE] / r.summary[Key.PERSISTENCE_RMSE] for r in runs]
            low = min(0.9, *(float(v.min()) for v in values), oracle or 1.0) - 0.02
            high = max(1.05, *(float(v.max()) for v in values)) + 0.02
            ax.set_ylim(low, high)
        ax.set_title(_T(f"series.{series}", lang))
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel(_T("ratio_axis", lang))
    labels = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    fig.legend(list(labels.values()), list(labels), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    seeds = next(iter(by_series.values()))[0].summary[Key.SEEDS]
    return Figure(_T("ratio_title", lang), _T("ratio_caption", lang, seeds=seeds), _png(fig, lang))


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = []
    for run in runs:
        s, rmse = run.summary, run.arrays[Key.TEST_RMSE]
        rows.append([
            _T(f"series.{s[Key.SERIES]}", lang), _model(run, lang),
            f"{number(s[Key.RMSE], '.3g', lang)} [{number(float(rmse.min()), '.3g', lang)}, "
            f"{number(float(rmse.max()), '.3g', lang)}]",
            number(s[Key.PERSISTENCE_RMSE], ".3g", lang),
            f"×{number(s[Key.RATIO], '.3f', lang)} [{number(s[Key.RATIO_MIN], '.3f', lang)}, "
            f"{number(s[Key.RATIO_MAX], '.3f', lang)}]",
            f"{s[Key.BEATS]}/{s[Key.SEEDS]}",
            f"×{number(s[Key.TRAIN_RATIO], '.3f', lang)}",
        ])
    config = runs[0].config
    mlp = "-".join(str(n) for n in (config["window"], *config["mlp_hidden"], 1))
    return Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, window=config["window"], length=config["length"],
           train=100 * config["train_fraction"], mlp=mlp, hidden=config["hidden_size"], steps=config["steps"],
           reservoir=config["reservoir_size"]),
    )
