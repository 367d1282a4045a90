"""Figures of the jaeger2001 study: NRMSE84 beside Jaeger's, error against horizon, a free run."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, interval, number
from gradtrace.store import Store
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_PUBLISHED_LABEL = "ESN, tau=17: NRMSE84"

_T = Catalog({
    "row.nrmse84": {"en": "NRMSE84, τ = {tau}, {length} training steps",
                    "pt": "NRMSE84, τ = {tau}, {length} passos de treino"},
    "row.published": {"en": "{value} (Jaeger 2001, mean of 20 runs)",
                      "pt": "{value} (Jaeger 2001, média de 20 execuções)"},
    "row.unpublished": {"en": "— (not published for this length)", "pt": "— (não publicado para este comprimento)"},
    "row.ours84": {"en": "{median} median {range} over {seeds} seeds",
                   "pt": "{median} mediana {range} entre {seeds} sementes"},
    "row.budget": {
        "en": "{units} units, {length} teacher-forced steps, one ridge solve ({seconds} s for all seeds)",
        "pt": "{units} unidades, {length} passos guiados pelo professor, uma solução ridge ({seconds} s para todas "
              "as sementes)",
    },
    "row.one_step": {"en": "one-step NRMSE, {length} training steps",
                     "pt": "NRMSE de um passo, {length} passos de treino"},
    "row.not_reported": {"en": "— (not reported)", "pt": "— (não relatado)"},
    "row.ours1": {"en": "{median} median over {seeds} seeds", "pt": "{median} mediana entre {seeds} sementes"},
    "row.one_step_budget": {"en": "teacher-forced on held-out data",
                            "pt": "guiado pelo professor em dados separados"},
    "table": {"en": "Jaeger 2001: published vs ours", "pt": "Jaeger 2001: publicado e nosso"},
    "columns": {"en": "setting|published|ours|budget", "pt": "configuração|publicado|nosso|orçamento"},
    "table_caption": {
        "en": "Ours: {units}-unit tanh reservoir (spectral radius {radius}, leak rate {leak}, connectivity "
              "{connectivity}, bias weights U(±{bias})), the previous value as input in place of Jaeger's output "
              "feedback (the same loop when teacher-forced), ridge {ridge} in place of plain least squares, RK4 "
              "integration in place of Euler steps of 1/10; first {washout} states discarded; each free run "
              "follows {forced} teacher-forced steps; NRMSE84 is the RMS error at step {horizon} over {starts} "
              "starting points per seed, in the original coordinates, divided by the series' standard deviation. "
              "{source}.",
        "pt": "Nosso: reservatório tanh de {units} unidades (raio espectral {radius}, taxa de vazamento {leak}, "
              "conectividade {connectivity}, pesos de viés U(±{bias})), o valor anterior como entrada no lugar da "
              "realimentação da saída de Jaeger (o mesmo laço quando guiado pelo professor, o teacher forcing), "
              "ridge {ridge} no lugar de mínimos quadrados simples, integração RK4 no lugar de passos de Euler de "
              "1/10; os primeiros {washout} estados descartados; cada execução livre vem depois de {forced} passos "
              "guiados pelo professor; NRMSE84 é o erro RMS no passo {horizon} sobre {starts} pontos de partida por "
              "semente, nas coordenadas originais, dividido pelo desvio padrão da série. {source}.",
    },
    "locator": {"en": "Section 6 (6.1 task, 6.2 network, 6.3-6.4 results)",
                "pt": "Seção 6: a tarefa na Seção 6.1, a rede na Seção 6.2, os resultados nas Seções 6.3 e 6.4"},
    "ours_median": {"en": "ours (median over seeds)", "pt": "nosso (mediana entre sementes)"},
    "published": {"en": "published (Jaeger 2001)", "pt": "publicado (Jaeger 2001)"},
    "length_axis": {"en": "training sequence length (steps)", "pt": "comprimento da sequência de treino (passos)"},
    "nrmse84_axis": {"en": "NRMSE {horizon} steps ahead", "pt": "NRMSE {horizon} passos à frente"},
    "nrmse84_title": {"en": "NRMSE84 against the training length", "pt": "NRMSE84 em função do comprimento de treino"},
    "nrmse84_caption": {
        "en": "Error of the free-running prediction {horizon} steps ahead; each dot is one seed (one reservoir), the "
              "line their median; black squares are Jaeger's published values (mean of 20 runs).",
        "pt": "Erro da previsão em execução livre {horizon} passos à frente; cada ponto é uma semente (um "
              "reservatório), a linha é a mediana delas; os quadrados pretos são os valores publicados por Jaeger "
              "(média de 20 execuções).",
    },
    "ours_length": {"en": "ours, {length} training steps", "pt": "nosso, {length} passos de treino"},
    "published_length": {"en": "published, {length} steps", "pt": "publicado, {length} passos"},
    "free_axis": {"en": "free-running steps", "pt": "passos em execução livre"},
    "horizon_title": {"en": "Error against the free-run horizon",
                      "pt": "Erro em função do horizonte da execução livre"},
    "horizon_caption": {
        "en": "RMS error k steps into the free run (median over seeds, min–max band), with Jaeger's published "
              "NRMSE84 as a square at step {horizon} where there is one. On a chaotic attractor a small error "
              "grows, on average, exponentially with the horizon (its largest Lyapunov exponent is positive): "
              "that is what makes a prediction {horizon} steps ahead demanding.",
        "pt": "Erro RMS k passos depois do início da execução livre (mediana entre sementes, faixa mín–máx), com o "
              "NRMSE84 publicado por Jaeger como um quadrado no passo {horizon}, onde existe. Num atrator caótico "
              "um erro pequeno cresce, em média, exponencialmente com o horizonte (seu maior expoente de Lyapunov "
              "é positivo): é isso que torna exigente uma previsão {horizon} passos à frente.",
    },
    "truth": {"en": "Mackey-Glass (τ = {tau})", "pt": "Mackey-Glass (τ = {tau})"},
    "free": {"en": "ESN running free", "pt": "ESN em execução livre"},
    "free_title": {"en": "A free run ({length} training steps, seed 0)",
                   "pt": "Uma execução livre ({length} passos de treino, semente 0)"},
    "free_caption": {
        "en": "After teacher forcing, the network's own prediction is its next input. The dotted line marks step "
              "{horizon}. Nothing is back-propagated through the reservoir: it is never trained, so no gradient can "
              "vanish in it; the readout is one linear solve.",
        "pt": "Depois dos passos guiados pelo professor, a própria previsão da rede é a sua próxima entrada. A linha "
              "pontilhada marca o passo {horizon}. Nada é retropropagado através do reservatório: ele nunca é "
              "treinado, então nenhum gradiente pode desaparecer nele; a leitura é uma única solução linear.",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the jaeger2001 study: NRMSE84 against the training length, error against horizon, a free run.

    Args:
        store: a run store holding runs of the ``jaeger2001`` study.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = sorted((r for r in _runs(store, "jaeger2001") if r.summary), key=lambda r: r.summary["train_length"])
    if not runs:
        return [], []
    published = get_published("jaeger2001")
    points = dict(published.series_named(_PUBLISHED_LABEL).points)
    config = runs[0].config
    figures = [_nrmse84(runs, points, config, lang), _by_horizon(runs, points, config, lang),
               _free_run(runs[-1], config, lang)]
    rows = []
    for run in runs:
        s = run.summary
        length = number(s["train_length"], ",", lang)
        reference = points.get(s["train_length"])
        rows.append([
            _T("row.nrmse84", lang, tau=number(config["tau"], "g", lang), length=length),
            _T("row.published", lang, value=number(reference, ".1e", lang)) if reference
            else _T("row.unpublished", lang),
            _T("row.ours84", lang, median=number(s["nrmse84"], ".2e", lang),
               range=interval(s["nrmse84_low"], s["nrmse84_high"], ".1e", lang), seeds=s["seeds"]),
            _T("row.budget", lang, units=config["reservoir_size"], length=length,
               seconds=number(s["fit_seconds"], ".2f", lang)),
        ])
        rows.append([
            _T("row.one_step", lang, length=length), _T("row.not_reported", lang),
            _T("row.ours1", lang, median=number(s["nrmse1"], ".2e", lang), seeds=s["seeds"]),
            _T("row.one_step_budget", lang),
        ])
    # English cites the locator as published.py holds it; the catalog's English copy only documents it.
    source = published.source if lang == "en" else published.citation.cite(_T("locator", lang))
    table = Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, units=config["reservoir_size"], radius=number(config["spectral_radius"], "g", lang),
           leak=number(config["leak_rate"], "g", lang), connectivity=number(config["connectivity"], "g", lang),
           bias=number(config["bias_scaling"], "g", lang), ridge=number(config["ridge"], "g", lang),
           washout=config["washout"], forced=config["teacher_forced"], horizon=config["horizon"],
           starts=config["test_starts"], source=source),
    )
    return figures, [table]


def _nrmse84(runs, points, config, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.2, 4.0))
    lengths = [r.summary["train_length"] for r in runs]
    for run in runs:
        values = np.asarray(run.arrays["nrmse84"], dtype=float)
        jitter = np.linspace(-0.04, 0.04, len(values))
        ax.scatter(run.summary["train_length"] * (1 + jitter), values, color=PALETTE["blue"], alpha=0.5, s=14)
    ax.plot(lengths, [r.summary["nrmse84"] for r in runs], color=PALETTE["blue"], marker="o",
            label=_T("ours_median", lang))
    if points:
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], color="black", marker="s", linestyle="--", label=_T("published", lang))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_T("length_axis", lang))
    ax.set_ylabel(_T("nrmse84_axis", lang, horizon=config["horizon"]))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return Figure(_T("nrmse84_title", lang), _T("nrmse84_caption", lang, horizon=config["horizon"]),
                  _png(fig, lang))


def _by_horizon(runs, points, config, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.2, 4.0))
    colors = plt.cm.viridis(np.linspace(0.1, 0.8, len(runs)))
    for color, run in zip(colors, runs):
        curves = np.asarray(run.arrays["nrmse_by_horizon"], dtype=float)  # (K, horizon)
        steps = np.arange(1, curves.shape[1] + 1)
        length = number(run.summary["train_length"], ",", lang)
        _band(ax, steps, curves, color, _T("ours_length", lang, length=length), axis=0)
        reference = points.get(run.summary["train_length"])
        if reference:
            ax.plot([config["horizon"]], [reference], marker="s", color=color, markeredgecolor="black",
                    linestyle="none", label=_T("published_length", lang, length=length))
    ax.set_yscale("log")
    ax.set_xlabel(_T("free_axis", lang))
    ax.set_ylabel("NRMSE")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return Figure(_T("horizon_title", lang), _T("horizon_caption", lang, horizon=config["horizon"]),
                  _png(fig, lang))


def _free_run(run, config, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(9, 3.2))
    truth, free = run.arrays["free_run_truth"], run.arrays["free_run"]
    steps = np.arange(len(truth))
    ax.plot(steps, truth, color="black", linewidth=1.2, label=_T("truth", lang, tau=number(config["tau"], "g", lang)))
    ax.plot(steps, free, color=PALETTE["red"], linewidth=1.0, linestyle="--", label=_T("free", lang))
    ax.axvline(config["horizon"], color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel(_T("free_axis", lang))
    ax.set_ylabel("x(t)")
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    return Figure(_T("free_title", lang, length=number(run.summary["train_length"], ",", lang)),
                  _T("free_caption", lang, horizon=config["horizon"]), _png(fig, lang))
