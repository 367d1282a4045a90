"""Figures of the long-range study: loss against the baseline, success rates, the gradient along training."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm

from gradtrace.report.figures import (
    _CEILING,
    _FLOOR,
    PALETTE,
    Figure,
    Table,
    _band,
    _integer_ticks,
    _png,
    _runs,
    _size,
    plt,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.long_range.study import LongRangeConfig

__all__ = ["draw"]

_MODEL_COLORS = {"elman": PALETTE["red"], "lstm": PALETTE["blue"], "gru": PALETTE["green"]}

_T = Catalog({
    "model.elman": {"en": "Elman RNN (tanh)", "pt": "RNN de Elman (tanh)"},
    "model.lstm": {"en": "LSTM", "pt": "LSTM"},
    "model.gru": {"en": "GRU", "pt": "GRU"},
    "lr.baseline": {"en": "baseline (answer 1)", "pt": "referência (responder 1)"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "lr.mse": {"en": "held-out MSE", "pt": "MSE em dados separados"},
    "lr.loss_title": {"en": "Loss curves against the baseline", "pt": "Curvas de perda contra a referência"},
    "lr.loss_caption": {
        "en": "Held-out loss during training, median over seeds with the min–max band. A curve that stays on the "
              "dotted baseline has learned nothing about the marked numbers.",
        "pt": "Perda em dados separados durante o treino, mediana entre sementes com a faixa mín–máx. Uma curva "
              "que fica na referência pontilhada não aprendeu nada sobre os números marcados.",
    },
    "lr.solved_axis": {"en": "fraction of seeds that solved it", "pt": "fração de sementes que resolveram"},
    "lr.success_title": {"en": "Success rate per length", "pt": "Taxa de sucesso por comprimento"},
    "lr.success_caption": {
        "en": "Fraction of seeds that solved the task, with the 95% Wilson interval: with few seeds the interval is "
              "wide, and it says how much the bar can be trusted.",
        "pt": "Fração de sementes que resolveram a tarefa, com o intervalo de Wilson de 95%: com poucas sementes o "
              "intervalo é largo, e ele diz o quanto se pode confiar na barra.",
    },
    "lr.time_step": {"en": "time step t", "pt": "passo de tempo t"},
    "lr.heat_title": {"en": "‖∂L/∂h_t‖ along training (T = {length})",
                      "pt": "‖∂L/∂h_t‖ ao longo do treino (T = {length})"},
    "lr.heat_caption": {
        "en": "Each row is one training step, each column one time step of the sequence; color is the gradient "
              "reaching the hidden state at that time step (median over seeds, one log scale for all panels). The "
              "error enters at the last step (right). Dark on the left means the gradient never reaches the first "
              "marker, which lies in the first half of the sequence.",
        "pt": "Cada linha é um passo de treino, cada coluna um passo de tempo da sequência; a cor é o gradiente que "
              "chega ao estado oculto naquele passo (mediana entre sementes, uma só escala logarítmica para todos "
              "os painéis). O erro entra no último passo (à direita). Escuro à esquerda significa que o gradiente "
              "nunca chega ao primeiro marcador, que fica na primeira metade da sequência.",
    },
    "lr.table": {"en": "Success rate per model and length", "pt": "Taxa de sucesso por modelo e comprimento"},
    "lr.columns": {
        "en": "model|length T|solved|95% interval (Wilson)|held-out loss (median)|baseline|accuracy (median)|"
              "horizon after training",
        "pt": "modelo|comprimento T|resolvidas|intervalo de 95% (Wilson)|perda em dados separados (mediana)|"
              "referência|acurácia (mediana)|horizonte depois do treino",
    },
    "lr.table_caption": {
        "en": "A seed solves the task when at least 99% of {sequences} held-out sequences have squared error < "
              "0.04. The baseline is the loss of always answering 1, which ignores the markers. Horizon: steps back "
              "from the last before ‖∂L/∂h_t‖ falls 10⁻⁶ below its peak (median seed).",
        "pt": "Uma semente resolve a tarefa quando pelo menos 99% de {sequences} sequências separadas têm erro "
              "quadrático < 0,04. A referência é a perda de sempre responder 1, que ignora os marcadores. "
              "Horizonte: quantos passos para trás, a partir do último, até ‖∂L/∂h_t‖ cair 10⁻⁶ abaixo do seu pico "
              "(semente mediana).",
    },
})


def _model_label(model: str, lang: str) -> str:
    key = f"model.{model}"
    return _T(key, lang) if key in _T.messages else model


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the long-range study: loss curves, success rates and gradient heatmaps.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "long-range") if "train/loss" in r.arrays]
    if not runs:
        return [], []
    models = list(dict.fromkeys(r.config["model"] for r in runs))
    lengths = sorted({r.config["length"] for r in runs})
    by_key = {(r.config["model"], r.config["length"]): r for r in runs}
    figures = [_loss_curves(by_key, models, lengths, lang), _success_rates(by_key, models, lengths, lang),
               _heatmaps(by_key, models, lengths[-1], lang)]
    rows = []
    for length in lengths:
        for model in models:
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            rows.append([
                _model_label(model, lang), str(length),
                f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%}",
                f"[{s['success_low']:.0%}, {s['success_high']:.0%}]",
                number(s["task/loss"], ".4f", lang), number(s["baseline_loss"], ".4f", lang),
                number(s["task/accuracy"], ".1%", lang), number(s["final/horizon"], ".0f", lang),
            ])
    # A record without the size (written by hand, or by an older version) was run at the default one.
    sequences = runs[0].config.get("eval_batch_size", LongRangeConfig().eval_batch_size)
    table = Table(_T("lr.table", lang), _T("lr.columns", lang).split("|"), rows,
                  _T("lr.table_caption", lang, sequences=sequences))
    return figures, [table]


def _loss_curves(by_key, models, lengths, lang) -> Figure:
    fig, axes = plt.subplots(1, len(lengths), figsize=_size(4 * len(lengths), 3.6), squeeze=False)
    for ax, length in zip(axes[0], lengths):
        baseline = None
        for model in models:
            run = by_key.get((model, length))
            if run is None:
                continue
            steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
            if len(steps):
                _band(ax, steps, loss, _MODEL_COLORS.get(model, PALETTE["grey"]), _model_label(model, lang), axis=1)
            baseline = run.summary.get("baseline_loss", baseline)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("lr.baseline", lang))
        ax.set_yscale("log")
        ax.set_title(f"T = {length}")
        ax.set_xlabel(_T("training_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("lr.mse", lang))
    # Off the data: beside the last panel.
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("lr.loss_title", lang), _T("lr.loss_caption", lang), _png(fig, lang))


def _success_rates(by_key, models, lengths, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.5, 3.8))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        xs, rates, errors = [], [], [[], []]
        for j, length in enumerate(lengths):
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            rates.append(s["success_rate"])
            errors[0].append(s["success_rate"] - s["success_low"])
            errors[1].append(s["success_high"] - s["success_rate"])
        ax.bar(xs, rates, width=width * 0.9, color=_MODEL_COLORS.get(model, PALETTE["grey"]),
               label=_model_label(model, lang), alpha=0.85)
        ax.errorbar(xs, rates, yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
    ax.set_xticks(range(len(lengths)), [f"T = {t}" for t in lengths])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(_T("lr.solved_axis", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    return Figure(_T("lr.success_title", lang), _T("lr.success_caption", lang), _png(fig, lang))


def _heatmaps(by_key, models, length, lang) -> Figure:
    present = [m for m in models if (m, length) in by_key and len(by_key[(m, length)].arrays["trace/steps"])]
    panels = max(len(present), 1)
    fig, axes = plt.subplots(1, panels, figsize=_size(3.9 * panels + 0.8, 3.6), squeeze=False,
                             constrained_layout=True)
    grids = {}
    for model in present:
        norms = np.median(by_key[(model, length)].arrays["trace/grad_norms"], axis=1)  # (snapshots, T)
        grids[model] = np.clip(np.nan_to_num(norms, nan=_FLOOR), _FLOOR, _CEILING)
    # One color scale for every model, so colors compare across panels.
    top = max((g.max() for g in grids.values()), default=1.0)
    bottom = max(min((g.min() for g in grids.values()), default=_FLOOR), top * 1e-12)
    scale = LogNorm(vmin=bottom, vmax=top)
    image = None
    for ax, model in zip(axes[0], present):
        steps = by_key[(model, length)].arrays["trace/steps"]
        image = ax.imshow(grids[model], aspect="auto", origin="lower", cmap="magma", norm=scale,
                          extent=(-0.5, grids[model].shape[1] - 0.5, steps[0], steps[-1] + 1),
                          interpolation="nearest")
        ax.set_title(_model_label(model, lang))
        ax.set_xlabel(_T("lr.time_step", lang))
        _integer_ticks(ax)
    axes[0][0].set_ylabel(_T("training_step", lang))
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label=r"$\|\partial L/\partial h_t\|$")
    return Figure(_T("lr.heat_title", lang, length=length), _T("lr.heat_caption", lang), _png(fig, lang))
