"""Export a run folder where researchers look: TensorBoard event files, or an MLflow tracking database.

What is exported, for every intact run of every study (damaged runs are left out and named):

- its series over steps, per ensemble member and for the ensemble (the training loss, the task's metrics at
  their evaluation steps, the gradient norm, how often a clip fired; see :mod:`gradtrace.export.series`
  for how a stored array is read as a series);
- the gradient-through-time profile at each trace snapshot (TensorBoard: a histogram over lags);
- its config as hyperparameters, its summary's numbers as final metrics;
- each study's report figures (drawn from the store, as the HTML report draws them).

An export is derived data: it is written to its own folder (default ``<folder>/tensorboard`` or
``<folder>/mlflow``), marked as an export by a ``.gradtrace-export.json`` file. Exporting again replaces the
previous export there, so there are never two copies of a run (TensorBoard: the folder's content is deleted;
MLflow: the database is kept and its runs deleted, see :mod:`gradtrace.export.mlflow`); a folder that holds
anything else is refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradtrace.errors import GradtraceError, StoreError, check_choice, describe
from gradtrace.export.series import read_series
from gradtrace.store import RunRecord, Store, open_run_folder

__all__ = ["INSTALL", "MARKER", "TARGETS", "ExportResult", "MissingExtraError", "check_out", "export_runs"]

#: Where a run folder can be exported.
TARGETS = ("tensorboard", "mlflow")
#: The command that installs what the export needs.
INSTALL = 'pip install "gradtrace[export]"'
#: The file that marks a folder as written by :func:`export_runs` (and so replaceable by the next export).
MARKER = ".gradtrace-export.json"
# The packages each target imports.
_NEEDS = {"tensorboard": ("tensorboardX",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}


class MissingExtraError(GradtraceError, ImportError):
    """A package of the ``export`` extra is not installed."""


@dataclass
class ExportResult:
    """What :func:`export_runs` wrote.

    Attributes:
        target: "tensorboard" or "mlflow".
        out: the export's folder.
        runs: runs exported.
        scalars: scalar values written (every member's value at every step counts one).
        histograms: gradient profiles written (one per run, profile and snapshot).
        images: figures written.
        files: files in ``out`` once written.
        bytes: their total size.
        skipped: stored arrays that are not series or profiles, with how many runs had each (the report
            draws them).
        nonfinite_snapshots: profile snapshots left out because no member had a finite value at some lag.
        damaged: runs left out because their catalog row or arrays file is damaged: ``{"study/run": problem}``.
        problems: other things that could not be exported (a study's figures that could not be drawn).
        view: the command that shows the export.
    """

    target: str
    out: Path
    runs: int = 0
    scalars: int = 0
    histograms: int = 0
    images: int = 0
    files: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    nonfinite_snapshots: int = 0
    damaged: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    view: str = ""


@dataclass(frozen=True)
class StudyFigures:
    """A study's report figures: (name, title, caption, PNG bytes) each; ``name`` is ``01 Title`` without slashes."""

    figures: list[tuple[str, str, str, bytes]]


def export_runs(folder: Store | str | os.PathLike, to: str = "tensorboard", out: str | os.PathLike | None = None, *,
                studies: Iterable[str] | None = None, figures: bool = True, lang: str = "en") -> ExportResult:
    """Export the runs of a run folder to TensorBoard event files or an MLflow tracking database.

    TensorBoard: one log folder per run, ``<out>/<study>/<run>`` (tags in :mod:`gradtrace.export.tensorboard`),
    and the study's figures in ``<out>/<study>``. MLflow: ``<out>/mlflow.db`` (tracking URI
    ``sqlite:///<out>/mlflow.db``) with artifacts in ``<out>/artifacts``; one experiment per study, one run
    per stored run (see :mod:`gradtrace.export.mlflow`).

    Args:
        folder: a run folder written by ``gradtrace run``, or its :class:`~gradtrace.store.Store`.
        to: "tensorboard" or "mlflow".
        out: the export's folder; default ``<folder>/tensorboard`` or ``<folder>/mlflow``. A previous export there
            is replaced.
        studies: export only these studies (default: every study in the folder).
        figures: also draw and export each study's report figures (most of an export's time).
        lang: the language of the figures' text, "en" or "pt".

    Returns:
        What was written (:class:`ExportResult`).

    Raises:
        ValueError: if ``folder`` is not an existing folder, ``to``, ``studies`` or ``lang`` is not one of the
            choices, or ``out`` is a file, lies inside the run store's data or above it, or holds files that
            are not an export.
        StoreError: if ``folder`` holds no run store or its catalog is damaged, or ``out`` cannot be written.
        MissingExtraError: if the packages of the ``export`` extra are not installed.
    """
    from gradtrace.report.i18n import check_lang
    from gradtrace.studies.claims import shown_runs

    to = check_choice("to", to, TARGETS)
    lang = check_lang(lang)
    store = open_run_folder(folder)
    available = store.studies()
    if studies is None:
        chosen = available
    else:
        chosen = [studies] if isinstance(studies, str) else list(studies)
        for study in chosen:
            check_choice("studies", study, available, what="study in this run folder")
    if not chosen:
        raise ValueError(f"The run store at {store.root} has no runs to export yet.")
    _require(to)
    target_out = check_out(store, to, out)
    if to == "tensorboard":
        from gradtrace.export.tensorboard import TensorBoardTarget as Target
    else:
        from gradtrace.export.mlflow import MlflowTarget as Target
    _prepare(target_out, to, store, keep=Target.KEEP)
    result = ExportResult(to, target_out)
    with Target(store, target_out) as target:
        for study in _course_order(chosen):
            damaged = store.damaged(study)
            result.damaged.update({f"{study}/{run}": problem for run, problem in damaged.items()})
            intact = store.without((study, run) for run in damaged)
            records = [intact.get(study, run) for run in shown_runs(intact, study)]
            drawn = _figures(intact, study, lang, result) if records and figures else StudyFigures([])
            target.study(study, drawn, result)
            for record in records:
                series = read_series(record.arrays)
                for key in series.skipped:
                    result.skipped[key] = result.skipped.get(key, 0) + 1
                target.run(record, series, result)
                result.runs += 1
        target.report()
        result.view = target.view()
    _finish(target_out, to, store, result)
    return result


def hyperparameters(record: RunRecord) -> dict[str, bool | int | float | str]:
    """Return a run's config as hyperparameters: numbers, flags and text as they are, anything else as JSON."""
    found = {}
    for key, value in record.config.items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float, str)):
            found[key] = value
        else:
            found[key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return found


def final_metrics(record: RunRecord) -> dict[str, float]:
    """Return a run's summary numbers (a flag as 0 or 1; text and None left out) and its seconds, as metrics."""
    found = {key: float(value) for key, value in record.summary.items()
             if isinstance(value, (bool, int, float))}
    found["seconds"] = float(record.seconds)
    return found


def name_for(text: str) -> str:
    """Return ``text`` usable as a tag, metric or file name part: characters beyond ``\\w - . space /`` as ``_``."""
    return re.sub(r"[^\w\-. /]", "_", text)


def _require(to: str) -> None:
    import importlib.util

    missing = [name for name in _NEEDS[to] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"gradtrace export --to {to} needs {', '.join(missing)}: {INSTALL}")


def check_out(store: Store, to: str, out: str | os.PathLike | None, *, name: str = "out") -> Path:
    """Return the export's folder, refusing one that would overwrite the store or something not an export.

    Args:
        store: the run store exported.
        to: the target, which names the default folder ``<store>/<to>``.
        out: the folder asked for, or None.
        name: the argument to name in errors (``--out`` on the command line).

    Raises:
        ValueError: if ``out`` is empty, a file, holds the run store or lies inside its arrays, or holds files that
            are not a previous export.
    """
    path = store.root / to if out is None else _out_path(store, out, name)
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file():
        raise ValueError(f"`{name}` must be an empty folder or a previous export, got {str(path)!r}, which holds "
                         f"other files (no {MARKER}). Give another folder, or empty it.")
    return path


def _out_path(store: Store, out: str | os.PathLike, name: str) -> Path:
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a folder (a path) or None, got {describe(out)}.")
    if not str(out).strip():
        raise ValueError(f"`{name}` must be a folder for the export, got {str(out)!r}; to use the current folder, "
                         "give '.'.")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"`{name}` must be a folder for the export, got {str(path)!r}, which is a file.")
    resolved, root = path.resolve(), store.root.resolve()
    if resolved == root or root.is_relative_to(resolved):
        raise ValueError(f"`{name}` must not hold the run store, got {str(path)!r}, and the run store is at "
                         f"{str(store.root)!r}: an export replaces its folder whole. Give a folder of its own.")
    if resolved.is_relative_to(root / "arrays") or resolved == root / "catalog.sqlite":
        raise ValueError(f"`{name}` must not lie inside the run store's arrays folder, got {str(path)!r}.")
    return path


def _prepare(out: Path, to: str, store: Store, *, keep: tuple[str, ...]) -> None:
    """Empty ``out`` for a new export but for what the target ``keep``s of a previous export of its own kind.

    ``out`` is empty or a previous export: :func:`check_out` refused anything else.
    """
    try:
        previous = json.loads((out / MARKER).read_text(encoding="utf-8")).get("target")
    except (OSError, ValueError, AttributeError):
        previous = None
    try:
        for path in sorted(out.iterdir()) if out.is_dir() else ():
            if previous == to and path.name in keep:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    except OSError as error:
        raise StoreError(f"Cannot replace the previous export in {out}: {error.strerror or error}.") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Marked before anything is written: an export cut short is still recognized, and replaced, next time.
        _write_marker(out, {"target": to, "store": str(store.root.resolve()), "complete": False})
    except OSError as error:
        raise StoreError(f"Cannot write the export to {out}: {error.strerror or error}.") from None


def _finish(out: Path, to: str, store: Store, result: ExportResult) -> None:
    from gradtrace import __version__

    files = [path for path in out.rglob("*") if path.is_file() and path.name != MARKER]
    result.files = len(files)
    result.bytes = sum(path.stat().st_size for path in files)
    _write_marker(out, {"target": to, "store": str(store.root.resolve()), "complete": True,
                        "gradtrace": __version__, "written": _dt.datetime.now().isoformat(timespec="seconds"),
                        "runs": result.runs, "scalars": result.scalars, "histograms": result.histograms,
                        "images": result.images, "files": result.files, "bytes": result.bytes})


def _write_marker(out: Path, content: dict[str, Any]) -> None:
    (out / MARKER).write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def _course_order(studies: list[str]) -> list[str]:
    from gradtrace.studies.course import course_order

    return sorted(studies, key=course_order)


def _figures(store: Store, study: str, lang: str, result: ExportResult) -> StudyFigures:
    """Draw a study's report figures from the store, as the HTML report does; none for a study without figures."""
    from gradtrace.report.html import draw_figures
    from gradtrace.studies.claims import stored_study

    figures, _, problem = draw_figures(store, study, stored_study(store, study), lang)
    if problem:  # runs from an older gradtrace may lack what today's figures read
        result.problems.append(f"{study}: {problem}")
    return StudyFigures([(f"{i + 1:02d} {name_for(f.title).replace('/', '-')}", f.title, f.caption, f.png)
                         for i, f in enumerate(figures)])
