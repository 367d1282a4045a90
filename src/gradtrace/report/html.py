"""A self-contained HTML report of a run store: figures embedded, readable offline."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import platform
import re
from pathlib import Path
from typing import Any

import torch

from gradtrace import __version__
from gradtrace.errors import StoreError
from gradtrace.report.figures import Figure, Table
from gradtrace.report.i18n import check_lang, number, study_text, text
from gradtrace.store import RunRecord, Store
from gradtrace.studies import Verdict, evaluate_claims, write_summary
from gradtrace.studies.claims import shown_runs, stored_study
from gradtrace.studies.course import course_order
from gradtrace.studies.registry import figures_module
from gradtrace.studies.summary import QUICK_NOTE, WALL_SECONDS_KEY

__all__ = ["draw_figures", "footnote", "render_report", "section_records", "section_titles", "write_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.5; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.45em; text-align: right; }
/* A number broken across lines ("1.5e-" / "13") misreads: numeric cells never wrap; a wide table scrolls. */
td .n, td.short { white-space: nowrap; } td.num { font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
th { background: #f4f4f4; } td, th:first-child { text-align: left; } td.num { text-align: right; }
nav.toc { background: #f7f7f7; border: 1px solid #e2e2e2; padding: 0.5em 1.2em; }
nav.toc h2 { margin-top: 0.3em; border: none; } nav.toc ol { margin: 0.3em 0; }
.footnote { border-top: 1px solid #eee; padding-top: 0.3em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.meta { color: #666; font-size: 0.85em; }
.question { font-size: 1.08em; font-style: italic; color: #333; }
.claims { list-style: none; padding-left: 0; } .claims li { margin: 0.3em 0; }
.held { color: #1a7f37; font-weight: bold; } .not-held { color: #c62828; font-weight: bold; }
"""

# Config keys that size a run, in the order the footnote lists them (each study uses some of them).
_SIZE_KEYS = ("length", "hidden_size", "width", "depth", "num_layers", "reservoir_size", "batch_size")


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure><h3>{html.escape(figure.title)}</h3>'
            f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")


# A cell that starts with a digit, a sign or a bracket and holds a digit is a number (or numbers): "1.5e-13",
# "−0.2", "[0.1, 0.3]", "3/5 = 60%", "12 / 100"; it is right-aligned. Cells of words ("ReLU + batch norm") are
# left-aligned and may wrap.
_NUMERIC = re.compile(r"^[\s\d.,:;%+\-−–×/=()\[\]eE→~≈<>≤≥·^]*\d[\s\d.,:;%+\-−–×/=()\[\]eE→~≈<>≤≥·^]*$")
_DIGIT = re.compile(r"\d")
_UNIT = re.compile(r"\[[^\]]*\]\S*|\S+")
_SHORT = 12


def _cell_html(cell: str) -> str:
    numeric = bool(_NUMERIC.match(cell)) or cell in ("—", "nan")
    # A browser breaks "1.5e-13" after its hyphen: every word holding a digit, and every bracketed interval, is
    # kept whole; a long cell ("4.5e-13 [1.5e-13, 1.4e-12]") may still wrap between them, the median above its
    # interval, which keeps wide tables on the page.
    words = (f'<span class="n">{html.escape(word)}</span>' if _DIGIT.search(word) else html.escape(word)
             for word in _UNIT.findall(cell))
    # A short cell of numbers stays on one line ("3/5 = 60%"); the header above it wraps instead.
    kind = (' class="num short"' if len(cell) <= _SHORT else ' class="num"') if numeric else ""
    return f"<td{kind}>{' '.join(words)}</td>"


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_cell_html(cell) for cell in row) + "</tr>" for row in table.rows)
    caption = f'<p class="meta">{html.escape(table.caption)}</p>' if table.caption else ""
    return (f'<h3>{html.escape(table.title)}</h3><div class="table-wrap"><table><tr>{head}</tr>{body}</table></div>'
            f"{caption}")


def _claims_html(verdicts: list[Verdict], *, quick: bool = False, lang: str = "en") -> str:
    """Return a study's claims as a list: ✓ held or ✗ not held, each with its sentence in ``lang``."""
    if not verdicts:
        return ""
    items = "".join(
        f'<li><span class="{"held" if v.held else "not-held"}">'
        f'{text("claim.held" if v.held else "claim.not_held", lang)}</span> {html.escape(v.sentence[lang])}</li>'
        for v in verdicts)
    note = f'<p class="note">{html.escape(QUICK_NOTE[lang])}</p>' if quick else ""
    return f'<ul class="claims">{items}</ul>{note}'


def _distinct(values) -> str:
    shown = list(dict.fromkeys(str(v) for v in values))
    return shown[0] if len(shown) == 1 else f"{min(shown, key=_order)}–{max(shown, key=_order)}"


def _order(value: str):
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def section_records(store: Store, name: str) -> list[RunRecord]:
    """Return the runs of study ``name`` that its section shows (see :func:`~gradtrace.studies.claims.shown_runs`)."""
    return [store.get(name, run) for run in shown_runs(store, name)]


def draw_figures(store: Store, name: str, study: Any, lang: str) -> tuple[list[Figure], list[Table], str]:
    """Draw the figures and tables of study ``name`` (its stored study ``study``) from ``store``, in ``lang``.

    The report, the run browser and the export draw through this one function. Runs that lack a value today's
    figures read (written by an older gradtrace, or a study still being written) draw nothing: the third item
    then says so, in ``lang``, and how to get the figures; it is empty otherwise, and for a study without figures.
    """
    drawer = figures_module(study) if study is not None else None
    if drawer is None:
        return [], [], ""
    try:
        figures, tables = drawer.draw(store, lang=lang)
    except (KeyError, IndexError, ValueError) as error:
        return [], [], text("undrawable", lang, study=name, missing=str(error))
    return list(figures), list(tables), ""


def section_titles(study: Any, name: str, lang: str) -> tuple[str, str, str]:
    """Return the title, description and question of study ``name`` (its stored study, or None) in ``lang``."""
    if study is None:
        return name, "", ""
    if study.text:
        title, description, question = (study.words(key, lang) for key in ("title", "description", "question"))
        return title, description, question
    (title, description), question = study_text(name, study.title, study.description, lang), ""
    return title, description, question


def footnote(records: list[RunRecord], meta: dict, lang: str) -> str:
    """Sizes, seeds, steps and seconds of a study's runs, from their configs."""
    configs = [r.config for r in records]
    sizes = ", ".join(f"{text('size.' + key, lang)} {_distinct(c[key] for c in configs if key in c)}"
                      for key in _SIZE_KEYS if any(key in c for c in configs)) or text("unknown", lang)
    steps = [c["steps"] for c in configs if isinstance(c.get("steps"), int)]
    steps_text = text("steps", lang, steps=_distinct(steps)) if steps else text("no_steps", lang)
    finished = sum(r.status == "finished" for r in records)
    return text("footnote", lang, runs=finished, seeds=meta.get("seeds", "?"), sizes=sizes, steps=steps_text,
                seconds=f"{sum(r.seconds for r in records):.0f}")


def _overview(store: Store, tally: list[int], lang: str) -> str:
    """Return the line under the introduction: how many claims held, and the run's wall time when recorded."""
    if not tally[1]:
        return ""
    line = text("overview", lang, held=tally[0], total=tally[1])
    wall = store.meta(WALL_SECONDS_KEY)
    if isinstance(wall, (int, float)):
        line += " " + text("overview.wall", lang, minutes=number(wall / 60, ".1f", lang))
    kind = "held" if tally[0] == tally[1] else "not-held"
    return f'<p class="overview"><span class="{kind}">{html.escape(line)}</span></p>'


def write_report(store: Store | str | Path, path: str | Path | None = None, *, lang: str = "en") -> Path:
    """Write the HTML report of every study in ``store`` and return its path.

    Each study's section opens with its claims and their verdicts, computed from the store; the same
    verdicts go to ``<store>/summary.json``, written again beside the report (see
    :func:`~gradtrace.studies.write_summary`).

    Runs whose arrays file is missing or damaged are left out of the figures and listed in their
    study's section (see :meth:`Store.damaged`); running the study again redoes them.

    Args:
        store: a :class:`Store` or the folder of one.
        path: where to write; default ``<store>/report.html``.
        lang: the language of the report's text, one of :data:`~gradtrace.report.i18n.LANGUAGES` ("en", "pt").

    Raises:
        StoreError: if the folder holds no run store, or its catalog is damaged.
        ValueError: if the store has no runs to report, or ``lang`` is not a language it is written in.
    """
    if not isinstance(store, Store):
        store = Store(store, create=False)
    document = render_report(store, lang=lang)
    path = Path(path) if path is not None else store.root / "report.html"
    temporary = path.with_suffix(".html.tmp")
    try:
        temporary.write_text(document, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:  # read-only, immutable, a folder in the way, a full disk: the runs are untouched
        if temporary.is_file():
            temporary.unlink()
        raise StoreError(f"Cannot write the report to {path}: {error.strerror or error}. The runs in {store.root} "
                         "are untouched; fix that path (or pass another) and run `gradtrace report` again.") from None
    write_summary(store)  # beside the report, from the same store: an old folder gets one too
    return path


def render_report(store: Store | str | Path, *, lang: str = "en") -> str:
    """Return the HTML report of every study in ``store`` as text, writing nothing (see :func:`write_report`).

    The run browser serves it as a download from folders it may not write to.

    Raises:
        StoreError: if the folder holds no run store, or its catalog is damaged.
        ValueError: if the store has no runs to report, or ``lang`` is not a language it is written in.
    """
    check_lang(lang)
    if not isinstance(store, Store):
        store = Store(store, create=False)
    # A study whose every row was lost still has its run files: its section lists them as damaged.
    studies = sorted(set(store.studies()) | {study for study, _ in store.unlisted()})
    if not studies:
        raise ValueError(f"The run store at {store.root} has no runs to report yet.")
    damaged = {name: store.damaged(name) for name in studies}
    intact = store.without((name, run) for name, runs in damaged.items() for run in runs)
    sections, contents, tally = [], [], [0, 0]
    for name in sorted(studies, key=course_order):  # the course's sections first, in the course's order
        meta = intact.meta(f"study/{name}", {})
        planned = meta.get("runs", [])
        study = stored_study(intact, name)
        records = section_records(intact, name)
        finished = [r for r in records if r.status == "finished"]
        title, description, question = section_titles(study, name, lang)
        anchor = html.escape(name)
        contents.append(f'<li><a href="#{anchor}">{html.escape(title)}</a></li>')
        section = len(contents)
        parts = [f'<section id="{anchor}"><h2>{section}. {html.escape(title)}</h2>']
        if question:
            parts.append(f'<p class="question">{html.escape(question)}</p>')
        if description:
            parts.append(f"<p>{html.escape(description)}</p>")
        verdicts = evaluate_claims(intact, name)
        tally[0] += sum(v.held for v in verdicts)
        tally[1] += len(verdicts)
        parts.append(_claims_html(verdicts, quick=bool(meta.get("quick")), lang=lang))
        if damaged[name]:
            items = "".join(f"<li>{html.escape(run)}: {html.escape(problem)}</li>"
                            for run, problem in damaged[name].items())
            # Several run files without a catalog row are not redone unasked (`run` refuses, naming them): the
            # advice is then the one that keeps the intact runs.
            unlisted = store.unlisted(name)
            advice = text("unlisted_redo", lang, count=len(unlisted)) if len(unlisted) > 1 else text("damaged_redo",
                                                                                                      lang)
            parts.append(f'<div class="note damaged"><p>{text("damaged", lang, count=len(damaged[name]))}</p>'
                         f"<ul>{items}</ul><p>{advice}</p></div>")
        missing = [r for r in planned if r not in {f.name for f in finished} and r not in damaged[name]]
        if missing:
            parts.append('<p class="note">' + text("incomplete", lang, finished=len(finished), planned=len(planned),
                                                   missing=html.escape(", ".join(missing))) + "</p>")
        if meta.get("quick"):
            parts.append(f'<p class="note">{text("quick", lang)}</p>')
        elif meta.get("budget") == "paper":
            seconds = sum(record.seconds for record in finished)
            parts.append(f'<p class="note">{text("budget.paper", lang, minutes=f"{seconds / 60:.0f}")}</p>')
        if records:  # a study whose every run is damaged has nothing to draw
            figures, tables, problem = draw_figures(intact, name, study, lang)
            if problem:
                parts.append('<p class="note">' + html.escape(problem) + "</p>")
            parts += [_figure_html(f) for f in figures] + [_table_html(t) for t in tables]
        parts.append(f'<p class="meta footnote">{html.escape(footnote(records, meta, lang))}</p></section>')
        sections.append("\n".join(parts))
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    footer = '<p class="meta">' + html.escape(text("written", lang, version=__version__, torch=torch.__version__,
                                                    python=platform.python_version(), now=now,
                                                    root=str(store.root))) + "</p>"
    toc = f'<nav class="toc"><h2>{text("contents", lang)}</h2><ol>{"".join(contents)}</ol></nav>'
    title = text("title", lang)
    document = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
                f"<title>{title}</title><style>{_STYLE}</style></head><body>"
                f"<h1>{title}</h1>{text('intro', lang)}{_overview(store, tally, lang)}{toc}{''.join(sections)}{footer}"
                "</body></html>\n")
    return document
