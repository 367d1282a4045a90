"""What the run browser shows of a run folder: its overview, and each study's section as the report draws it.

A section holds what the report's section holds (see :func:`gradtrace.report.html.render_report`): the study's
title, question and description, its claims with their verdicts and numbers, the notes on damaged, missing and
quick runs, its figures, tables and footnote. Each figure is the report's own, read back as an interactive plot
(:mod:`gradtrace.web.plots`) or, when a line plot cannot show it, the report's PNG.

Nothing here writes to the folder: stores are opened with ``create=False`` and never locked.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import threading
from pathlib import Path
from typing import Any

from gradtrace.errors import StoreError
from gradtrace.report.figures import keeping_figures
from gradtrace.report.html import draw_figures, footnote, section_records, section_titles
from gradtrace.report.i18n import check_lang, text
from gradtrace.store import Store, describe_holder, lock_holder
from gradtrace.studies.claims import evaluate_claims, stored_study
from gradtrace.studies.course import course_order
from gradtrace.studies.summary import QUICK_NOTE, SUMMARY_FILE, WALL_SECONDS_KEY, summarize
from gradtrace.web.folders import CATALOG, signature
from gradtrace.web.plots import plot_of

__all__ = ["DRAWING", "overview", "studies_of", "study_section", "writer"]

#: Held while matplotlib draws: pyplot keeps global state, and the server answers requests on several threads.
DRAWING = threading.Lock()

#: The states of a run folder: readable; being written by a live run; unreadable; holding no run yet.
STATES = ("ok", "writing", "damaged", "empty")


def _titles(store: Store, name: str, lang: str) -> tuple[str, str, str]:
    """Return a study's title, description and question in ``lang``, as the report words them."""
    return section_titles(stored_study(store, name), name, lang)


def overview(folder: Path, name: str, *, lang: str = "en") -> dict[str, Any]:
    """Return a run folder's overview: its state, when it was last written, and each study with its claims' tally.

    Args:
        folder: the run folder (resolved by :func:`~gradtrace.web.folders.resolve_folder`).
        name: its name under the browsed folder, as shown.
        lang: the language of the titles and messages.

    Returns:
        ``{"folder", "state", "problem", "writer", "written", "studies": [{"name", "title", "quick", "runs",
        "seconds", "claims": {"held", "total"}}], "claims", "wall_seconds", "run_seconds", "quick"}`` ("writer"
        stays empty: the caller asks :func:`writer` on every request). A damaged
        catalog gives state ``"damaged"`` and the store's message in ``problem``, never an error.
    """
    check_lang(lang)
    entry: dict[str, Any] = {"folder": name, "state": "ok", "problem": "", "writer": "", "written": _written(folder),
                             "studies": [], "claims": {"held": 0, "total": 0}, "wall_seconds": None,
                             "run_seconds": 0.0, "quick": False}
    try:
        store = Store(folder, create=False)
        summary = _summary(store, folder)
        titles = {study["name"]: _titles(store, study["name"], lang)[0] for study in summary["studies"]}
    except (StoreError, ValueError, OSError) as error:  # a damaged catalog, or one being replaced
        entry.update(state="damaged", problem=str(error))
        return entry
    if not summary["studies"]:
        entry["state"] = "empty"
    studies = []
    for study in summary["studies"]:
        claims = study["claims"]
        studies.append({
            "name": study["name"], "title": titles[study["name"]], "quick": study["quick"], "runs": study["runs"],
            "seconds": study["seconds"],
            "claims": {"held": sum(c["verdict"] == "held" for c in claims), "total": len(claims)},
        })
    entry.update(studies=studies, claims=summary["claims"], wall_seconds=summary["wall_seconds"],
                 run_seconds=summary["run_seconds"], quick=any(s["quick"] for s in studies))
    return entry


def writer(folder: Path) -> str:
    """Return who is writing the run store in ``folder`` (a live ``gradtrace run``), worded; "" when nobody is.

    Asked on every request, never cached (see :func:`gradtrace.store.lock_holder`).
    """
    holder = lock_holder(folder)
    return describe_holder(holder) if holder is not None else ""


def _summary(store: Store, folder: Path) -> dict[str, Any]:
    """Return the folder's summary: its ``summary.json`` when written after the catalog last changed, else computed."""
    path = folder / SUMMARY_FILE
    try:
        fresh = path.stat().st_mtime_ns >= max(m[0] for m in signature(folder)[:2] if m is not None)
    except (OSError, ValueError):
        fresh = False
    if fresh:
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(summary, dict) and isinstance(summary.get("studies"), list):
                return summary
        except (OSError, ValueError):
            pass
    return summarize(store)


def _written(folder: Path) -> str:
    """Return when the folder's store was last written, as ``YYYY-MM-DD HH:MM`` local time."""
    times = []
    for name in (CATALOG, CATALOG + "-wal"):
        try:
            times.append((folder / name).stat().st_mtime)
        except OSError:
            pass
    return _dt.datetime.fromtimestamp(max(times)).strftime("%Y-%m-%d %H:%M") if times else ""


def studies_of(store: Store) -> list[str]:
    """Return the studies of a store in the course's order, a study whose every row was lost included."""
    return sorted(set(store.studies()) | {study for study, _ in store.unlisted()}, key=course_order)


def study_section(store: Store, name: str, *, lang: str = "en") -> dict[str, Any]:
    """Return one study's section as the report draws it, with interactive plots.

    Args:
        store: the run store (opened with ``create=False``).
        name: the study, one of :func:`studies_of`.
        lang: the language of every word in it.

    Returns:
        ``{"study", "title", "description", "question", "claims": [{"name", "held", "measured", "sentence"}],
        "held_word", "not_held_word", "notes": [{"kind", "text", "items"}], "figures": [{"title", "caption",
        "plot" | "image", "static_reason"}], "tables": [{"title", "columns", "rows", "caption"}], "footnote"}``.

    Raises:
        KeyError: if ``store`` holds no study ``name``.
    """
    check_lang(lang)
    if name not in studies_of(store):
        raise KeyError(name)
    damaged = store.damaged(name)
    intact = store.without((name, run) for run in damaged)
    meta = intact.meta(f"study/{name}", {}) or {}
    planned = meta.get("runs", [])
    study = stored_study(intact, name)
    records = section_records(intact, name)
    finished = {r.name for r in records if r.status == "finished"}
    title, description, question = section_titles(study, name, lang)
    verdicts = evaluate_claims(intact, name)
    quick = bool(meta.get("quick"))
    notes = []
    if damaged:
        unlisted = store.unlisted(name)
        advice = text("unlisted_redo", lang, count=len(unlisted)) if len(unlisted) > 1 else text("damaged_redo", lang)
        notes.append({"kind": "damaged", "text": text("damaged", lang, count=len(damaged)),
                      "items": [f"{run}: {problem}" for run, problem in damaged.items()], "after": advice})
    missing = [r for r in planned if r not in finished and r not in damaged]
    if missing:
        notes.append({"kind": "incomplete", "items": [],
                      "text": text("incomplete", lang, finished=len(finished), planned=len(planned),
                                   missing=", ".join(missing))})
    if quick:
        notes.append({"kind": "quick", "text": text("quick", lang), "items": []})
    figures: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    if records:
        with DRAWING, keeping_figures() as kept:
            drawn, drawn_tables, problem = draw_figures(intact, name, study, lang)
            figures = [_figure(figure, kept.get(figure.png)) for figure in drawn]
        if problem:  # runs written by an older gradtrace, or a live run's half-written study: the claims still show
            notes.append({"kind": "undrawable", "items": [], "text": problem})
        tables = [{"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows],
                   "caption": t.caption} for t in drawn_tables]
    return {
        "study": name, "title": title, "description": description, "question": question,
        "claims": [{"name": v.name, "held": v.held, "measured": v.measured, "sentence": v.sentence[lang]}
                   for v in verdicts],
        "claims_note": QUICK_NOTE[lang] if quick else "",
        "held_word": text("claim.held", lang), "not_held_word": text("claim.not_held", lang),
        "notes": notes, "figures": figures, "tables": tables,
        "footnote": footnote(records, meta, lang),
        "wall_seconds": store.meta(WALL_SECONDS_KEY),
    }


def _figure(figure: Any, drawn: Any) -> dict[str, Any]:
    """Return a figure as the browser shows it: its plot read from the drawn figure, else the report's PNG."""
    entry = {"title": figure.title, "caption": figure.caption}
    plot, reason = plot_of(drawn) if drawn is not None else (None, "not kept")
    if plot is not None:
        entry["plot"] = plot
    else:
        entry["image"] = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
        entry["static_reason"] = reason
    return entry
