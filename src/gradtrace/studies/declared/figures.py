"""The report section of a declared study: its loss curves, its gradient profiles and a table of its runs.

Split as every figure of the report is: :func:`data` reads the store into plain tables, :func:`draw` turns them
into figures and a table, and computes nothing the store does not hold. One color per configuration (its
values on the axes that vary), the same in every panel; one panel per task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _integer_ticks, _png, _size, plt, spread
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.stats import nan_quantiles

__all__ = ["MAX_BANDS", "MAX_LINES", "DeclaredData", "RunData", "data", "draw"]

#: The most configurations a figure draws (colors stop being told apart beyond it); the table lists every run.
MAX_LINES = 16
#: The most configurations a panel draws with their min–max bands; beyond it, overlapping bands hide the lines.
MAX_BANDS = 4
_COLUMNS_PER_ROW = 3
# Gradients beyond these are off any useful scale: one exploded member must not flatten every other curve.
_FLOOR, _CEILING = 1e-30, 1e30
_COLORS = [PALETTE[key] for key in ("blue", "red", "green", "orange", "purple", "sky", "pink", "brown", "olive",
                                    "grey", "black")]
_STYLES = ("-", "--", ":")

_T = Catalog({
    "loss_title": {"en": "Held-out loss during training", "pt": "Perda em dados separados durante o treino"},
    "loss_caption": {
        "en": "Held-out loss of each configuration (its values on the axes that vary) during training, median "
              "over seeds. One panel per task; a line that stops early lost every seed to divergence.",
        "pt": "Perda em dados separados de cada configuração (seus valores nos eixos que variam) durante o treino, "
              "mediana entre sementes. Um painel por tarefa; uma linha que para antes perdeu todas as sementes por "
              "divergência.",
    },
    "profile_title": {"en": "The gradient along the path at the end of training",
                      "pt": "O gradiente ao longo do caminho ao fim do treino"},
    "profile_caption": {
        "en": "‖∂L/∂h_t‖ against the position t on the gradient path (time step, or layer for an MLP) at the last "
              "kept trace, log scale, median over seeds. A line that falls going back (towards t = 1) is a "
              "gradient that vanishes; one that rises, a gradient that explodes.",
        "pt": "‖∂L/∂h_t‖ contra a posição t no caminho do gradiente (passo de tempo, ou camada de uma MLP) no "
              "último traço guardado, em escala log, mediana entre sementes. Uma linha que cai voltando no tempo "
              "(rumo a t = 1) é um gradiente que some; uma que sobe, um gradiente que explode.",
    },
    # What the figure says of its bands, as drawn: in every panel, in some, in none.
    "bands_all": {"en": " The band runs from the lowest to the highest seed.",
                  "pt": " A faixa vai da menor à maior semente."},
    "bands_some": {"en": " The band runs from the lowest to the highest seed, in the panels of at most {bands} "
                         "configurations (more would hide the lines).",
                   "pt": " A faixa vai da menor à maior semente, nos painéis de até {bands} configurações (mais "
                         "esconderiam as linhas)."},
    "bands_none": {"en": " No band from the lowest to the highest seed: a panel of more than {bands} configurations "
                         "would hide its lines under them.",
                   "pt": " Sem a faixa da menor à maior semente: num painel de mais de {bands} configurações, elas "
                         "esconderiam as linhas."},
    "more": {"en": " The first {drawn} of {total} configurations are drawn; the table lists them all.",
             "pt": " As primeiras {drawn} de {total} configurações estão desenhadas; a tabela lista todas."},
    "step_axis": {"en": "training step", "pt": "passo de treino"},
    "loss_axis": {"en": "held-out loss", "pt": "perda em dados separados"},
    "position_axis": {"en": "t (time step or layer)", "pt": "t (passo de tempo ou camada)"},
    "grad_axis": {"en": "‖∂L/∂h_t‖", "pt": "‖∂L/∂h_t‖"},
    "task": {"en": "task {task}", "pt": "tarefa {task}"},
    "table": {"en": "Runs of this study", "pt": "Execuções deste estudo"},
    "loss_column": {"en": "held-out loss, median [min, max]", "pt": "perda em dados separados, mediana [mín, máx]"},
    "accuracy_column": {"en": "accuracy (median)", "pt": "acurácia (mediana)"},
    "successes_column": {"en": "seeds succeeding", "pt": "sementes com sucesso"},
    "horizon_column": {"en": "horizon (median)", "pt": "horizonte (mediana)"},
    "diverged_column": {"en": "diverged", "pt": "divergiram"},
    "hash_column": {"en": "config hash", "pt": "hash da configuração"},
    "table_caption": {
        "en": "One row per run the file plans, finished in the store: its values on the axes that vary, then the "
              "held-out loss, accuracy and success at the last evaluation over its {seeds} seeds, the gradient "
              "horizon at the last trace (steps back before ‖∂L/∂h_t‖ falls 10⁻⁶ below its peak; — when not "
              "traced) and how many seeds diverged. The hash names the run's resolved config.",
        "pt": "Uma linha por execução que o arquivo planeja, terminada no armazenamento: seus valores nos eixos que "
              "variam, depois a perda em dados separados, a acurácia e o sucesso na última avaliação entre suas "
              "{seeds} sementes, o horizonte do gradiente no último traço (passos para trás até ‖∂L/∂h_t‖ cair 10⁻⁶ "
              "abaixo do pico; — sem traço) e quantas sementes divergiram. O hash nomeia a configuração resolvida.",
    },
})


@dataclass(frozen=True)
class RunData:
    """What the figures and the table read of one run: its axes, its loss curve and its last gradient profile."""

    name: str
    axes: dict[str, Any]
    label: str
    task: str
    steps: np.ndarray       # (m,) the evaluation steps
    loss: np.ndarray        # (m, K) held-out loss per seed
    profile: np.ndarray | None  # (K, T) ‖∂L/∂h_t‖ at the last trace snapshot; None when not traced
    summary: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class DeclaredData:
    """A declared study's finished runs as the report draws them."""

    study: str
    columns: list[str]  # the axes that vary, in the grid's order
    runs: list[RunData]
    seeds: int


def data(store: Store, study: Any) -> DeclaredData:
    """Return the finished runs of the declared ``study`` in ``store`` that its file plans, in the plan's order."""
    planned = study.planned(store)
    present = set(store.names(study.name))
    columns = study.declaration.varying() or ["model", "task", "remedy"]
    labelled = [axis for axis in columns if axis != "task"] or ["model"]
    runs, seeds = [], study.default_seeds
    for name in planned:
        if name not in present:
            continue
        record = store.get(study.name, name)
        if record.status != "finished":
            continue
        axes = {axis: record.config.get(axis) for axis in (*columns, "task")}
        arrays = record.arrays
        grads = arrays.get("trace/grad_norms")
        profile = np.asarray(grads[-1], dtype=np.float64) if grads is not None and len(grads) else None
        seeds = record.config.get("seeds", seeds)
        runs.append(RunData(name, axes, ", ".join(f"{axis} = {_text(axes[axis])}" for axis in labelled),
                            str(axes["task"]), np.asarray(arrays["eval/step"]) + 1,
                            np.asarray(arrays["task/loss"], dtype=np.float64), profile, dict(record.summary),
                            str(record.config.get("hash", ""))))
    return DeclaredData(study.name, columns, runs, seeds)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return "—" if value is None else str(value)


def draw(tables: DeclaredData, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the loss curves, the gradient profiles (when the runs kept traces) and the table of runs.

    Returns:
        The figures and the table; empty lists when no planned run is finished.
    """
    if not tables.runs:
        return [], []
    labels = list(dict.fromkeys(run.label for run in tables.runs))
    styles = dict(zip(labels, ((color, style) for style in _STYLES for color in _COLORS)))
    drawn = labels[:MAX_LINES]
    more = _T("more", lang, drawn=len(drawn), total=len(labels)) if len(labels) > len(drawn) else ""
    figures = [_loss_figure(tables, drawn, styles, lang, more)]
    if any(run.profile is not None for run in tables.runs):
        figures.append(_profile_figure(tables, drawn, styles, lang, more))
    return figures, [_table(tables, lang)]


def _panels(tasks: Sequence[str], height: float):
    columns = min(len(tasks), _COLUMNS_PER_ROW)
    rows = math.ceil(len(tasks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=_size(max(4.3 * columns + 0.6, 6.0), height * rows), squeeze=False)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    return fig, list(axes.flat[:len(tasks)])


def _legend(fig, axes, drawn: Sequence[str]) -> None:
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    ordered = [label for label in drawn if label in handles]
    fig.legend([handles[label] for label in ordered], ordered, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2 if len(ordered) > 3 else max(len(ordered), 1), frameon=False)


def _loss_figure(tables: DeclaredData, drawn, styles, lang: str, more: str) -> Figure:
    tasks = list(dict.fromkeys(run.task for run in tables.runs))
    fig, axes = _panels(tasks, 3.3)
    banded = []
    for ax, task in zip(axes, tasks):
        positive = True
        runs = [run for run in tables.runs if run.task == task and run.label in drawn and len(run.steps)]
        banded.append(len(runs) <= MAX_BANDS)
        for run in runs:
            color, style = styles[run.label]
            _line(ax, run.steps, run.loss, color, run.label, 1, style, band=len(runs) <= MAX_BANDS)
            finite = run.loss[np.isfinite(run.loss)]
            positive &= bool(finite.size == 0 or finite.min() > 0)
        if positive:
            ax.set_yscale("log")
        ax.set_title(_T("task", lang, task=task))
        ax.set_xlabel(_T("step_axis", lang))
        ax.set_ylabel(_T("loss_axis", lang))
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _legend(fig, axes, drawn)
    return Figure(_T("loss_title", lang), _T("loss_caption", lang) + _bands(banded, lang) + more, _png(fig, lang))


def _profile_figure(tables: DeclaredData, drawn, styles, lang: str, more: str) -> Figure:
    tasks = list(dict.fromkeys(run.task for run in tables.runs if run.profile is not None))
    fig, axes = _panels(tasks, 3.3)
    banded = []
    for ax, task in zip(axes, tasks):
        runs = [run for run in tables.runs if run.task == task and run.label in drawn and run.profile is not None]
        banded.append(len(runs) <= MAX_BANDS)
        for run in runs:
            color, style = styles[run.label]
            values = np.where(np.isfinite(run.profile), np.clip(run.profile, _FLOOR, _CEILING), np.nan)
            _line(ax, np.arange(1, values.shape[1] + 1), values, color, run.label, 0, style,
                  band=len(runs) <= MAX_BANDS)
        ax.set_yscale("log")
        ax.set_title(_T("task", lang, task=task))
        ax.set_xlabel(_T("position_axis", lang))
        _integer_ticks(ax)
        ax.set_ylabel(_T("grad_axis", lang))
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _legend(fig, axes, drawn)
    return Figure(_T("profile_title", lang), _T("profile_caption", lang) + _bands(banded, lang) + more,
                  _png(fig, lang))


def _bands(banded: list[bool], lang: str) -> str:
    """Return what a figure says of its min–max bands, given which panels drew them."""
    key = "bands_all" if all(banded) else "bands_none" if not any(banded) else "bands_some"
    return _T(key, lang, bands=MAX_BANDS)


def _line(ax, x, values, color, label, axis: int, style: str, *, band: bool) -> None:
    """Draw the median over seeds (``axis``), with the min–max band when ``band``."""
    if band:
        _band(ax, x, values, color, label, axis=axis, linestyle=style)
        return
    ax.plot(x, nan_quantiles(values, axis)[1], color=color, label=label, linestyle=style, linewidth=1.6)


def _table(tables: DeclaredData, lang: str) -> Table:
    columns = [*tables.columns, _T("loss_column", lang), _T("accuracy_column", lang), _T("successes_column", lang),
               _T("horizon_column", lang), _T("diverged_column", lang), _T("hash_column", lang)]
    rows = []
    for run in tables.runs:
        s = run.summary
        loss = spread(run.loss[-1], lang) if len(run.loss) else "—"
        horizon = number(s["horizon"], "g", lang) if s.get("horizon") is not None else "—"
        rows.append([*(_text(run.axes[axis]) for axis in tables.columns), loss,
                     number(s.get("task/accuracy"), ".3g", lang), f"{s.get('successes', 0)}/{s.get('seeds', '?')}",
                     horizon, str(s.get("diverged", 0)), run.hash])
    return Table(_T("table", lang), columns, rows, _T("table_caption", lang, seeds=tables.seeds))
