"""Figures of the descent study: batch, mini-batch and stochastic descent against epochs and seconds."""

from __future__ import annotations

import re

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store
from gradtrace.studies.descent import divergence
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

# Ordered like the batch size they encode: blue (all examples), green, red (one example).
_VARIANT_COLORS = {"batch": PALETTE["blue"], "mini_batch": PALETTE["green"], "stochastic": PALETTE["red"]}

_T = Catalog({
    "variant.batch": {"en": "batch (full) GD", "pt": "GD em lote (completo)"},
    "variant.mini_batch": {"en": "mini-batch SGD", "pt": "SGD em minilote"},
    "variant.stochastic": {"en": "stochastic GD (1 example)", "pt": "GD estocástico (1 exemplo)"},
    "baseline": {"en": "baseline (best constant)", "pt": "referência (melhor constante)"},
    "epoch_axis": {"en": "epoch (passes over the training set)", "pt": "época (passagens pelo conjunto de treino)"},
    "mse_axis": {"en": "MSE on the whole training set", "pt": "MSE em todo o conjunto de treino"},
    "epochs_title": {"en": "Training loss against epochs", "pt": "Perda de treino em função das épocas"},
    "epochs_caption": {
        "en": "Loss on all {points} training points, measured after every epoch (median over {seeds} seeds, min–max "
              "band, log scale). In one epoch batch descent makes one update, mini-batch descent a few, stochastic "
              "descent one per example: per pass over the data, the more updates the further the loss falls, even "
              "though each stochastic update follows a noisy gradient.",
        "pt": "Perda em todos os {points} pontos de treino, medida depois de cada época (mediana entre {seeds} "
              "sementes, faixa mín–máx, escala logarítmica). Numa época, a descida em lote faz uma atualização, a "
              "em minilote algumas e a estocástica uma por exemplo: por passagem pelos dados, quanto mais "
              "atualizações, mais a perda cai, mesmo que cada atualização estocástica siga um gradiente ruidoso.",
    },
    "seconds_axis": {"en": "training wall-clock time (s, measurement excluded)",
                     "pt": "tempo de treino de relógio (s, sem as medições)"},
    "seconds_title": {"en": "Training loss against wall-clock time", "pt": "Perda de treino em função do tempo"},
    "seconds_caption": {
        "en": "The same curves against the seconds spent training (the full-dataset evaluations are timed and "
              "subtracted; both axes logarithmic). Every curve ends at the same number of epochs. For a model this "
              "small an update costs about the same whatever the batch size — the fixed cost of a step dominates "
              "— so an epoch of stochastic descent takes about N times as long as one of batch descent. Compare "
              "the losses at equal time, not at the ends. Times come from a shared machine and vary from run to "
              "run; only their ratios mean much.",
        "pt": "As mesmas curvas em função dos segundos gastos treinando (as avaliações no conjunto inteiro são "
              "cronometradas e descontadas; os dois eixos são logarítmicos). Todas as curvas terminam no mesmo "
              "número de épocas. Num modelo tão pequeno, uma atualização custa quase o mesmo qualquer que seja o "
              "tamanho do lote — domina o custo fixo de um passo —, então uma época de descida estocástica leva "
              "umas N vezes o tempo de uma época em lote. Compare as perdas no mesmo tempo, não nos finais. Os "
              "tempos vêm de uma máquina compartilhada e variam de uma execução para outra; só as razões entre "
              "eles dizem algo.",
    },
    "each_batch": {"en": "loss of each batch", "pt": "perda de cada lote"},
    "whole_set": {"en": "loss on the whole set", "pt": "perda no conjunto inteiro"},
    "epoch": {"en": "epoch", "pt": "época"},
    "seed0": {"en": "MSE (seed 0)", "pt": "MSE (semente 0)"},
    "noise_title": {"en": "Per-batch loss: the noise of small batches",
                    "pt": "Perda por lote: o ruído dos lotes pequenos"},
    "noise_caption": {
        "en": "The loss of every batch as training saw it (before its update) over the first {epochs} epochs, for "
              "the first seed, with the loss on the whole training set at each epoch boundary (black). Batch "
              "descent's per-batch loss is the full loss; a mini-batch's scatters around it; a single example's "
              "spans orders of magnitude, because some points are already fitted and others are not. That scatter "
              "is the noise in the stochastic gradient — and why the recorded per-batch loss (train/loss) is a "
              "poor readout of progress for SGD.",
        "pt": "A perda de cada lote como o treino a viu (antes da sua atualização) nas primeiras {epochs} épocas, "
              "para a primeira semente, com a perda no conjunto de treino inteiro ao fim de cada época (preto). Na "
              "descida em lote, a perda por lote é a perda completa; a de um minilote se espalha em torno dela; a "
              "de um só exemplo varia por ordens de grandeza, porque alguns pontos já estão ajustados e outros "
              "não. Essa dispersão é o ruído do gradiente estocástico — e o motivo de a perda por lote registrada "
              "(train/loss) ser um mau indicador do progresso do SGD.",
    },
    "not_reached": {"en": "not reached", "pt": "não alcançado"},
    "no_finite": {"en": "no finite loss", "pt": "nenhuma perda finita"},
    "table": {"en": "Batch, mini-batch and stochastic descent after the same number of epochs",
              "pt": "Descida em lote, em minilote e estocástica depois do mesmo número de épocas"},
    "columns": {
        "en": "variant|batch size|updates per epoch|lr|final training loss|final held-out loss|ms per epoch|"
              "epochs / seconds to target|diverged",
        "pt": "variante|tamanho do lote|atualizações por época|taxa de aprendizado|perda de treino final|perda "
              "final em dados separados|ms por época|épocas / segundos até o alvo|divergiram",
    },
    "table_caption": {
        "en": "Fitting {function} with an MLP of hidden layers {hidden} ({activation}) from {points} fixed points "
              "per seed, {epochs} epochs of plain SGD, {seeds} seeds. Losses: median [min, max] over the seeds "
              "that did not diverge; held-out on {held_out} fresh points. Target: training loss below {fraction:g} "
              "× the baseline {baseline:.3f} (the variance of the function), first reached by the median. Learning "
              "rates: per variant, the best of the grid 0.0125 · 2^k on other seeds (see DescentConfig). Time per "
              "epoch excludes the full-dataset evaluations and comes from a shared machine.",
        "pt": "Ajuste de {function} por uma MLP de camadas ocultas {hidden} ({activation}) a partir de {points} "
              "pontos fixos por semente, {epochs} épocas de SGD simples, {seeds} sementes. Perdas: mediana [mín, "
              "máx] entre as sementes que não divergiram; dados separados: {held_out} pontos novos. Alvo: perda de "
              "treino abaixo de {fraction:g} × a referência {baseline:.3f} (a variância da função), alcançado "
              "primeiro pela mediana. Taxas de aprendizado: por variante, a melhor da grade 0,0125 · 2^k em outras "
              "sementes (veja DescentConfig). O tempo por época exclui as avaliações no conjunto inteiro e vem de "
              "uma máquina compartilhada.",
    },
})
# Epochs of per-batch losses drawn in the noise figure: enough to see the spread, few enough to
# tell the updates apart.
_NOISE_EPOCHS = 5


def _variant(variant: str, lang: str) -> str:
    key = f"variant.{variant}"
    return _T(key, lang) if key in _T.messages else variant


def _style(run, lang: str = "en") -> tuple[str, str]:
    color = _VARIANT_COLORS.get(run.config["variant"], PALETTE["grey"])
    label = _variant(run.config["variant"], lang)
    label = f"{label}, B = {run.config['batch_size']}, lr {run.config['lr']:g}"
    if run.summary.get("diverged"):
        label += f" ({_divergence(run)})"
    return color, label


def _divergence(run) -> str:
    """Which members diverged when, from the run's arrays (runs stored before they held it: a count)."""
    if "diverged_epoch" in run.arrays:
        return divergence(run.arrays["diverged_epoch"])
    return f"{run.summary.get('diverged', 0)} of {run.config['seeds']} diverged"


def _all_diverged(run) -> bool:
    return run.summary.get("diverged", 0) == run.config["seeds"]


def _positive(values: np.ndarray) -> np.ndarray:
    """Values a log axis can show: non-positive or non-finite ones become NaN (gaps)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the descent study: loss against epochs and seconds, per-batch noise, and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "descent") if "epoch/train_loss" in r.arrays]
    if not runs:
        return [], []
    order = {"batch": 0, "mini_batch": 1, "stochastic": 2}
    runs.sort(key=lambda r: order.get(r.config["variant"], 3))
    finished = [r for r in runs if r.status == "finished" and "epoch/seconds" in r.arrays]
    figures = [_against_epochs(runs, lang)]
    if finished:
        figures += [_against_seconds(finished, lang), _noise(finished, lang)]
    return figures, [_table(finished, lang)] if finished else []


def _baseline(ax, runs, lang) -> None:
    baseline = next((r.summary.get("baseline_loss") for r in runs if r.summary.get("baseline_loss")), None)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("baseline", lang))


def _against_epochs(runs, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        color, label = _style(run, lang)
        _band(ax, run.arrays["epoch"], _positive(run.arrays["epoch/train_loss"]), color, label, axis=1)
    _baseline(ax, runs, lang)
    ax.set_yscale("log")
    ax.set_xlabel(_T("epoch_axis", lang))
    ax.set_ylabel(_T("mse_axis", lang))
    ax.grid(True, which="both", alpha=0.3)
    # Below the axes: inside, it covers the curves' ends, where they differ most.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    config = runs[0].config
    return Figure(_T("epochs_title", lang),
                  _T("epochs_caption", lang, points=config["dataset_size"], seeds=config["seeds"]), _png(fig))


def _against_seconds(runs, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        color, label = _style(run, lang)
        # Epoch 0 sits at 0 s, off a log axis.
        seconds = run.arrays["epoch/seconds"][1:]
        _band(ax, seconds, _positive(run.arrays["epoch/train_loss"][1:]), color, label, axis=1)
    _baseline(ax, runs, lang)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_T("seconds_axis", lang))
    ax.set_ylabel(_T("mse_axis", lang))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    return Figure(_T("seconds_title", lang), _T("seconds_caption", lang), _png(fig))


def _noise(runs, lang) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(4.3 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        color, label = _style(run, lang)
        a = run.arrays
        # The epoch count after each step; a batch's loss was measured before its update, so it
        # belongs at the count before it.
        before = np.concatenate([[0.0], a["step/epoch"][:-1]])
        shown = before < _NOISE_EPOCHS
        ax.plot(before[shown], _positive(a["train/loss"][shown, 0]), color=color, linewidth=0.8, zorder=2,
                marker="." if shown.sum() <= 2 * _NOISE_EPOCHS else None, markersize=4, label=_T("each_batch", lang))
        epochs = a["epoch"] <= _NOISE_EPOCHS
        # Dotted and underneath: for batch descent the two coincide, and the batches' line must show.
        ax.plot(a["epoch"][epochs], _positive(a["epoch/train_loss"][epochs, 0]), color="black", marker="o",
                markersize=4, linewidth=1.0, linestyle=":", zorder=1, label=_T("whole_set", lang))
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel(_T("epoch", lang))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(_T("seed0", lang))
    axes[0][0].legend()
    return Figure(_T("noise_title", lang), _T("noise_caption", lang, epochs=_NOISE_EPOCHS), _png(fig))


def _spread(values: np.ndarray, spec: str, missing: str) -> str:
    """Median [min, max] of the finite values; ``missing`` when there is none."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=float)[None], 1)[:, 0]
    if mid != mid:
        return missing
    return f"{mid:{spec}} [{low:{spec}}, {high:{spec}}]"


def _function(task: str) -> str:
    """Name the fitted function in words, not as the task's repr (``function_fit(function='sin', ...)``)."""
    match = re.search(r"function='([^']+)'", task)
    return f"{match.group(1)} x" if match else task.split("(")[0].replace("_", " ")


def _table(runs, lang) -> Table:
    rows = []
    for run in runs:
        s, a = run.summary, run.arrays
        reached = (f"{s['epochs_to_target']} / {s['seconds_to_target']:.2f} s" if s["epochs_to_target"] >= 0
                   else _T("not_reached", lang))
        # A run whose members all diverged has no final loss: say when they diverged instead.
        missing = _divergence(run) if _all_diverged(run) else _T("no_finite", lang)
        per_epoch = f"{s['seconds_per_epoch'] * 1e3:.2f}" if s.get("epochs_run", 1) > 0 else "—"
        rows.append([
            _variant(s["variant"], lang), str(s["batch_size"]),
            str(s["updates_per_epoch"]), f"{s['lr']:g}", _spread(a["epoch/train_loss"][-1], ".2e", missing),
            _spread(a["task/loss"], ".2e", "—" if _all_diverged(run) else _T("no_finite", lang)), per_epoch, reached,
            _divergence(run) if s["diverged"] else f"0/{s['seeds']}",
        ])
    config = runs[0].config
    return Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, function=_function(config["task"]),
           hidden="-".join(str(n) for n in config["hidden_sizes"]), activation=config["activation"],
           points=config["dataset_size"], epochs=config["epochs"], seeds=config["seeds"],
           held_out=config["eval_batch_size"], fraction=config["target_fraction"],
           baseline=runs[0].summary["baseline_loss"]),
    )
