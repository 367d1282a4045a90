"""Figures of the descent study: the whole-set loss against epochs and updates, the noise of each update, a table."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import (
    PALETTE,
    Figure,
    Table,
    _band,
    _integer_ticks,
    _png,
    _runs,
    _size,
    ordered_colors,
    plt,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.descent.config import VARIANTS, Key
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_T = Catalog({
    "variant.batch": {"en": "full batch", "pt": "lote completo"},
    "variant.mini_batch": {"en": "mini-batch", "pt": "minilote"},
    "variant.stochastic": {"en": "stochastic (1 example)", "pt": "estocástica (1 exemplo)"},
    "label": {"en": "{variant}, B = {batch_size}", "pt": "{variant}, B = {batch_size}"},
    "diverged.some": {"en": "{count} of {seeds} diverged", "pt": "{count} de {seeds} divergiram"},
    "diverged.all": {"en": "all {seeds} diverged", "pt": "todas as {seeds} divergiram"},
    "diverged.at": {"en": "{who} at epoch {low}", "pt": "{who} na época {low}"},
    "diverged.between": {"en": "{who} at epochs {low}–{high}", "pt": "{who} nas épocas {low}–{high}"},
    "baseline": {"en": "baseline (best constant)", "pt": "referência (melhor constante)"},
    "equal_updates": {"en": "{updates} updates", "pt": "{updates} atualizações"},
    "epoch_axis": {"en": "epoch (passes over the training set)", "pt": "época (passagens pelo conjunto de treino)"},
    "update_axis": {"en": "updates (log scale)", "pt": "atualizações (escala log)"},
    "mse_axis": {"en": "MSE on the whole training set", "pt": "MSE em todo o conjunto de treino"},
    "epochs_title": {"en": "Training loss against epochs", "pt": "Perda de treino em função das épocas"},
    "epochs_caption": {
        "en": "Loss on all {points} training points after every epoch, median over {seeds} seeds with a min–max band, "
              "log scale; the dotted line is the loss of the best constant. In one epoch every variant computes the "
              "gradient of each of the {points} examples once: full-batch descent spends them on one update, "
              "mini-batch descent (B = {mini}) on {per_mini}, stochastic descent on {points}.",
        "pt": "Perda em todos os {points} pontos de treino depois de cada época, mediana entre {seeds} sementes com "
              "faixa mín–máx, escala logarítmica; a linha pontilhada é a perda da melhor constante. Numa época, cada "
              "variante calcula uma vez o gradiente de cada um dos {points} exemplos: o lote completo os gasta numa "
              "só atualização, o minilote (B = {mini}) em {per_mini}, a descida estocástica em {points}.",
    },
    "updates_title": {"en": "Training loss against updates", "pt": "Perda de treino em função das atualizações"},
    "updates_caption": {
        "en": "The loss on the whole training set after every update (median over {seeds} seeds with a min–max band; "
              "both axes logarithmic). Every curve ends after {epochs} epochs, so the variants end at different "
              "update counts; the vertical line marks {updates} updates, the full batch's whole budget, where the "
              "claims compare them.",
        "pt": "A perda em todo o conjunto de treino depois de cada atualização (mediana entre {seeds} sementes com "
              "faixa mín–máx; os dois eixos em escala logarítmica). Todas as curvas terminam depois de {epochs} "
              "épocas, portanto as variantes terminam com números diferentes de atualizações; a linha vertical marca "
              "{updates} atualizações, todo o orçamento do lote completo, onde as afirmações as comparam.",
    },
    "each_batch": {"en": "loss of the batch, before its update", "pt": "perda do lote, antes da atualização"},
    "whole_set": {"en": "loss on the whole set, after each update",
                  "pt": "perda no conjunto inteiro, após cada atualização"},
    "epoch": {"en": "epoch", "pt": "época"},
    "first_seed": {"en": "MSE (first seed)", "pt": "MSE (primeira semente)"},
    "noise_title": {"en": "Each update, seen from its batch and from the whole training set",
                    "pt": "Cada atualização vista pelo seu lote e pelo conjunto de treino inteiro"},
    "noise_caption": {
        "en": "The first {epochs} epochs of the first seed, one panel per variant (log scale). Colored: the loss of "
              "the batch each update was computed on, as training saw it before the update. Black: the loss on all "
              "{points} training points after each update; a rise in it is an update that went uphill on the "
              "training set. For full-batch descent the two are the same quantity and the lines coincide.",
        "pt": "As primeiras {epochs} épocas da primeira semente, um painel por variante (escala logarítmica). Em cor: "
              "a perda do lote sobre o qual cada atualização foi calculada, como o treino a viu antes da "
              "atualização. Em preto: a perda em todos os {points} pontos de treino depois de cada atualização; uma "
              "subida nela é uma atualização que aumentou a perda do conjunto de treino. No lote completo as duas são "
              "a mesma grandeza e as linhas coincidem.",
    },
    "function.sin": {"en": "sin x on [1, 2π]", "pt": "sen x em [1, 2π]"},
    "function.square": {"en": "x² on [−1, 1]", "pt": "x² em [−1, 1]"},
    "function.reciprocal": {"en": "1/x on [1, 100]", "pt": "1/x em [1, 100]"},
    "no_finite": {"en": "no finite loss", "pt": "nenhuma perda finita"},
    "none_diverged": {"en": "0 of {seeds}", "pt": "0 de {seeds}"},
    "no_value": {"en": "—", "pt": "—"},
    "table": {"en": "Batch, mini-batch and stochastic descent after the same number of epochs",
              "pt": "Descida em lote, em minilote e estocástica depois do mesmo número de épocas"},
    "columns": {
        "en": "variant|batch size|updates per epoch|final training loss|final held-out loss|loss after {updates} "
              "updates|updates that raised the loss|ms per epoch|diverged",
        "pt": "variante|tamanho do lote|atualizações por época|perda de treino final|perda final em dados "
              "separados|perda depois de {updates} atualizações|atualizações que subiram a perda|ms por "
              "época|divergiram",
    },
    "table_caption": {
        "en": "Fitting {function} with an MLP of hidden layers {hidden} ({activation}) from {points} fixed points "
              "per seed, {epochs} epochs of plain SGD at learning rate {lr}, {seeds} seeds. Losses: median [min, max] "
              "over the seeds that did not diverge; held-out on {held_out} fresh points. The loss of the best "
              "constant, the variance of the function on the interval, is {baseline}. Milliseconds per epoch "
              "exclude the whole-set measurements and come from a shared machine: context, not a result.",
        "pt": "Ajuste de {function} por uma MLP de camadas ocultas {hidden} ({activation}) a partir de {points} "
              "pontos fixos por semente, {epochs} épocas de SGD simples com taxa de aprendizado {lr}, {seeds} "
              "sementes. Perdas: mediana [mín, máx] entre as sementes que não divergiram; dados separados: {held_out} "
              "pontos novos. A perda da melhor constante, a variância da função no intervalo, é {baseline}. Os "
              "milissegundos por época excluem as medições no conjunto inteiro e vêm de uma máquina compartilhada: "
              "contexto, não resultado.",
    },
})
# Epochs of per-update losses drawn in the noise figure: enough to see the spread, few enough to tell the updates apart.
_NOISE_EPOCHS = 5


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the descent study: the loss against epochs and updates, the noise of each update, and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The figures and tables; none when the store holds no finished descent run.
    """
    order = {variant: i for i, variant in enumerate(VARIANTS)}
    runs = [r for r in _runs(store, "descent") if r.status == "finished" and Key.UPDATE_LOSS in r.arrays
            and r.config.get(Key.VARIANT) in order]
    if not runs:
        return [], []
    runs.sort(key=lambda r: order[r.config[Key.VARIANT]])
    colors = ordered_colors(r.config[Key.BATCH_SIZE] for r in runs)  # darkest for one example
    return [_against_epochs(runs, colors, lang), _against_updates(runs, colors, lang), _noise(runs, colors, lang)], \
        [_table(runs, lang)]


def _divergence(diverged_epoch: np.ndarray, lang: str) -> str:
    """Say how many members diverged and in which epoch(s), e.g. "all 5 diverged at epoch 1"; "0 of 5" if none."""
    epochs = np.asarray(diverged_epoch)
    hit = epochs[epochs >= 0]
    if not hit.size:
        return _T("none_diverged", lang, seeds=epochs.size)
    who = (_T("diverged.all", lang, seeds=epochs.size) if hit.size == epochs.size
           else _T("diverged.some", lang, count=hit.size, seeds=epochs.size))
    low, high = int(hit.min()), int(hit.max())
    return (_T("diverged.at", lang, who=who, low=low) if low == high
            else _T("diverged.between", lang, who=who, low=low, high=high))


def _all_diverged(run: RunRecord) -> bool:
    return bool((run.arrays[Key.DIVERGED_EPOCH] >= 0).all())


def _label(run: RunRecord, lang: str) -> str:
    label = _T("label", lang, variant=_T(f"variant.{run.config[Key.VARIANT]}", lang),
               batch_size=run.config[Key.BATCH_SIZE])
    if (run.arrays[Key.DIVERGED_EPOCH] >= 0).any():
        label += f" ({_divergence(run.arrays[Key.DIVERGED_EPOCH], lang)})"
    return label


def _positive(values: np.ndarray) -> np.ndarray:
    """Values a log axis can show: non-positive or non-finite ones become NaN (gaps)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _baseline(ax, runs: list[RunRecord], lang: str) -> None:
    ax.axhline(runs[0].summary[Key.BASELINE], color=PALETTE["black"], linestyle=":", linewidth=1,
               label=_T("baseline", lang))


def _legend_below(ax) -> None:
    # Below the axes: inside, it would cover the curves' ends, where they differ most.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)


def _against_epochs(runs: list[RunRecord], colors: dict, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        _band(ax, run.arrays[Key.EPOCH], _positive(run.arrays[Key.EPOCH_LOSS]), colors[run.config[Key.BATCH_SIZE]],
              _label(run, lang), axis=1)
    _baseline(ax, runs, lang)
    ax.set_yscale("log")
    _integer_ticks(ax)
    ax.set_xlabel(_T("epoch_axis", lang))
    ax.set_ylabel(_T("mse_axis", lang))
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(ax)
    config = runs[0].config
    return Figure(_T("epochs_title", lang),
                  _T("epochs_caption", lang, points=config["dataset_size"], seeds=config[Key.SEEDS],
                     mini=config["mini_batch_size"],
                     per_mini=-(-config["dataset_size"] // config["mini_batch_size"])),
                  _png(fig, lang))


def _against_updates(runs: list[RunRecord], colors: dict, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.8, 4.0))
    for run in runs:
        losses = run.arrays[Key.UPDATE_LOSS]
        # Update 0 (the start) sits at 0, off a log axis.
        _band(ax, np.arange(1, len(losses)), _positive(losses[1:]), colors[run.config[Key.BATCH_SIZE]],
              _label(run, lang), axis=1)
    _baseline(ax, runs, lang)
    equal = runs[0].summary[Key.EQUAL_UPDATES]
    ax.axvline(equal, color=PALETTE["grey"], linestyle="--", linewidth=1,
               label=_T("equal_updates", lang, updates=equal))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_T("update_axis", lang))
    ax.set_ylabel(_T("mse_axis", lang))
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(ax)
    config = runs[0].config
    return Figure(_T("updates_title", lang),
                  _T("updates_caption", lang, seeds=config[Key.SEEDS], epochs=config["epochs"], updates=equal),
                  _png(fig, lang))


def _noise(runs: list[RunRecord], colors: dict, lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(runs), figsize=_size(4.3 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        a = run.arrays
        per_epoch = run.config[Key.UPDATES_PER_EPOCH]
        shown = min(_NOISE_EPOCHS * per_epoch, len(a[Key.BATCH_LOSS]))
        # Update u (1 = the first) ends at epoch u / per_epoch; its batch's loss was measured before it, at
        # (u − 1) / per_epoch, and the whole-set loss after it.
        before = np.arange(shown) / per_epoch
        after = np.arange(shown + 1) / per_epoch
        marker = "." if shown <= 2 * _NOISE_EPOCHS else None
        ax.plot(before, _positive(a[Key.BATCH_LOSS][:shown, 0]), color=colors[run.config[Key.BATCH_SIZE]],
                linewidth=0.9, marker=marker, markersize=5, label=_T("each_batch", lang), zorder=2)
        ax.plot(after, _positive(a[Key.UPDATE_LOSS][: shown + 1, 0]), color=PALETTE["black"], linewidth=1.0,
                label=_T("whole_set", lang), zorder=1)
        ax.set_yscale("log")
        _integer_ticks(ax)
        ax.set_title(_label(run, lang))
        ax.set_xlabel(_T("epoch", lang))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(_T("first_seed", lang))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    return Figure(_T("noise_title", lang),
                  _T("noise_caption", lang, epochs=_NOISE_EPOCHS, points=runs[0].config["dataset_size"]),
                  _png(fig, lang))


def _spread(values: np.ndarray, spec: str, missing: str, lang: str) -> str:
    """Median [min, max] of the finite values; ``missing`` when there is none."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=float)[None], 1)[:, 0]
    if mid != mid:
        return missing
    return f"{number(mid, spec, lang)} [{number(low, spec, lang)}, {number(high, spec, lang)}]"


def _table(runs: list[RunRecord], lang: str) -> Table:
    rows = []
    for run in runs:
        s, a = run.summary, run.arrays
        # A run whose members all diverged has no final loss: say when they diverged instead.
        missing = _divergence(a[Key.DIVERGED_EPOCH], lang) if _all_diverged(run) else _T("no_finite", lang)
        no_value = _T("no_value", lang)
        equal_updates = a[Key.UPDATE_LOSS][s[Key.EQUAL_UPDATES]] if s[Key.EQUAL_UPDATES] < len(a[Key.UPDATE_LOSS]) \
            else np.full(1, np.nan)
        per_epoch = s[Key.SECONDS_PER_EPOCH]
        rows.append([
            _T(f"variant.{s[Key.VARIANT]}", lang), str(s[Key.BATCH_SIZE]), str(s[Key.UPDATES_PER_EPOCH]),
            _spread(a[Key.EPOCH_LOSS][-1], ".2e", missing, lang), _spread(a[Key.HELD_OUT], ".2e", no_value, lang),
            _spread(equal_updates, ".2e", no_value, lang),
            f"{s[Key.RISES]} / {s['update_pairs']} ({number(100 * s[Key.RISE_FRACTION], '.0f', lang)}%)"
            if s["update_pairs"] else no_value,
            number(1e3 * per_epoch, ".2f", lang) if per_epoch == per_epoch else no_value,
            _divergence(a[Key.DIVERGED_EPOCH], lang),
        ])
    config, summary = runs[0].config, runs[0].summary
    return Table(
        _T("table", lang), _T("columns", lang, updates=summary[Key.EQUAL_UPDATES]).split("|"), rows,
        _T("table_caption", lang, function=_T(f"function.{config['function']}", lang),
           hidden="-".join(str(n) for n in config["hidden_sizes"]), activation=config["activation"],
           points=config["dataset_size"], epochs=config["epochs"],
           lr=number(config["lr"], "g", lang), seeds=config[Key.SEEDS], held_out=config["eval_batch_size"],
           baseline=number(summary[Key.BASELINE], ".3f", lang)),
    )
