"""A self-contained HTML report of a run store: figures embedded, readable offline."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from gradtrace import __version__
from gradtrace.report.activations_figures import activations_figures
from gradtrace.report.approximation_figures import approximation_figures
from gradtrace.report.bengio1994_figures import bengio1994_figures
from gradtrace.report.descent_figures import descent_figures
from gradtrace.report.dying_relu_figures import dying_relu_figures
from gradtrace.report.dynamics_figures import dynamics_figures
from gradtrace.report.exploding_figures import exploding_figures
from gradtrace.report.figures import Figure, Table, long_range_figures, through_time_figures
from gradtrace.report.forecast_figures import forecast_figures
from gradtrace.report.glorot2010_figures import glorot2010_figures
from gradtrace.report.hochreiter1997_figures import hochreiter1997_figures
from gradtrace.report.jaeger2001_figures import jaeger2001_figures
from gradtrace.report.le2015_figures import le2015_figures
from gradtrace.report.pascanu2013_figures import pascanu2013_figures
from gradtrace.report.remedies_figures import remedies_figures
from gradtrace.report.through_depth_figures import through_depth_figures
from gradtrace.store import Store
from gradtrace.studies import STUDIES, Verdict, evaluate_claims, write_summary
from gradtrace.studies.summary import QUICK_NOTE

__all__ = ["DRAWERS", "write_report"]

#: How each built-in study is drawn.
DRAWERS: dict[str, Callable[[Store], tuple[list[Figure], list[Table]]]] = {
    "through-time": through_time_figures,
    "long-range": long_range_figures,
    "exploding": exploding_figures,
    "remedies": remedies_figures,
    "jaeger2001": jaeger2001_figures,
    "pascanu2013": pascanu2013_figures,
    "bengio1994": bengio1994_figures,
    "hochreiter1997": hochreiter1997_figures,
    "le2015": le2015_figures,
    "activations": activations_figures,
    "through-depth": through_depth_figures,
    "glorot2010": glorot2010_figures,
    "dying-relu": dying_relu_figures,
    "approximation": approximation_figures,
    "descent": descent_figures,
    "forecast": forecast_figures,
    "dynamics": dynamics_figures,
}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.5; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.meta { color: #666; font-size: 0.85em; }
.claims { list-style: none; padding-left: 0; } .claims li { margin: 0.3em 0; }
.held { color: #1a7f37; font-weight: bold; } .not-held { color: #c62828; font-weight: bold; }
"""

_INTRO = """
<p>Backpropagation through time multiplies the error, step after step, by the Jacobian
∂h<sub>t</sub>/∂h<sub>t−1</sub> = diag(φ′(a<sub>t</sub>)) W<sub>rec</sub>. Over k steps that is a product
of k such matrices: when W<sub>rec</sub> is small the product shrinks geometrically and the early steps
stop learning (the <b>vanishing gradient</b>); when it is large the product can grow just as fast
(the <b>exploding gradient</b>). gradtrace measured ‖∂L/∂h<sub>t</sub>‖ at every step t with one backward
pass, for every seed of every ensemble below. A deep feed-forward network is the same product through
depth, one factor diag(φ′(z<sub>l</sub>)) W<sub>l</sub> per layer, and σ′ ≤ 0.25: there gradtrace measured
‖∂L/∂h<sub>l</sub>‖ at every layer l.</p>
"""


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure><h3>{html.escape(figure.title)}</h3>'
            f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in table.rows)
    caption = f'<p class="meta">{html.escape(table.caption)}</p>' if table.caption else ""
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{head}</tr>{body}</table>{caption}"


def _claims_html(verdicts: list[Verdict], *, quick: bool = False, lang: str = "en") -> str:
    """Return a study's claims as a list: ✓ held or ✗ not held, each with its sentence in ``lang``."""
    if not verdicts:
        return ""
    items = "".join(
        f'<li><span class="{"held" if v.held else "not-held"}">{"✓ held" if v.held else "✗ not held"}</span> '
        f"{html.escape(v.sentence[lang])}</li>" for v in verdicts)
    note = f'<p class="note">{html.escape(QUICK_NOTE[lang])}</p>' if quick else ""
    return f'<ul class="claims">{items}</ul>{note}'


def write_report(store: Store | str | Path, path: str | Path | None = None) -> Path:
    """Write the HTML report of every study in ``store`` and return its path.

    Each study's section opens with its claims and their verdicts, computed from the store; the same
    verdicts go to ``<store>/summary.json``, written again beside the report (see
    :func:`~gradtrace.studies.write_summary`).

    Runs whose arrays file is missing or damaged are left out of the figures and listed in their
    study's section (see :meth:`Store.damaged`); running the study again redoes them.

    Args:
        store: a :class:`Store` or the folder of one.
        path: where to write; default ``<store>/report.html``.

    Raises:
        StoreError: if the folder holds no run store, or its catalog is damaged.
        ValueError: if the store has no runs to report.
    """
    if not isinstance(store, Store):
        store = Store(store, create=False)
    studies = store.studies()
    if not studies:
        raise ValueError(f"The run store at {store.root} has no runs to report yet.")
    path = Path(path) if path is not None else store.root / "report.html"
    damaged = {name: store.damaged(name) for name in studies}
    intact = store.without((name, run) for name, runs in damaged.items() for run in runs)
    sections = []
    for name in sorted(studies, key=lambda s: (s not in DRAWERS, list(DRAWERS).index(s) if s in DRAWERS else 0)):
        meta = intact.meta(f"study/{name}", {})
        planned = meta.get("runs", [])
        records = [intact.get(name, run) for run in intact.names(name)]
        finished = [r for r in records if r.status == "finished"]
        study = STUDIES[name]() if name in STUDIES else None
        title = study.title if study else name
        parts = [f'<h2 id="{html.escape(name)}">{html.escape(title)}</h2>']
        if study:
            parts.append(f"<p>{html.escape(study.description)}</p>")
        parts.append(_claims_html(evaluate_claims(intact, name), quick=bool(meta.get("quick"))))
        if damaged[name]:
            items = "".join(f"<li>{html.escape(run)}: {html.escape(problem)}</li>"
                            for run, problem in damaged[name].items())
            parts.append(f'<div class="note damaged"><p>{len(damaged[name])} run(s) of this study are damaged on '
                         f"disk and left out of its figures:</p><ul>{items}</ul><p>Run the study again with the "
                         "same output folder to redo exactly these runs.</p></div>")
        missing = [r for r in planned if r not in {f.name for f in finished} and r not in damaged[name]]
        if missing:
            parts.append(f'<p class="note">This study is incomplete: {len(finished)} of {len(planned)} runs '
                         f"finished (missing: {html.escape(', '.join(missing))}). Run it again with the same "
                         "output folder to finish it.</p>")
        if meta.get("quick"):
            parts.append('<p class="note">Quick mode: tiny sizes and few steps, for a smoke test; the '
                         "numbers are not meaningful.</p>")
        drawer = DRAWERS.get(name)
        if drawer is not None and records:  # a study whose every run is damaged has nothing to draw
            figures, tables = drawer(intact)
            parts += [_figure_html(f) for f in figures] + [_table_html(t) for t in tables]
        seconds = sum(r.seconds for r in records)
        parts.append(f'<p class="meta">{len(finished)} runs, {meta.get("seeds", "?")} seeds each, '
                     f"{seconds:.0f} s of training.</p>")
        sections.append("\n".join(parts))
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    footer = (f'<p class="meta">gradtrace {__version__}, torch {torch.__version__}, Python '
              f"{platform.python_version()}; written {now} from {html.escape(str(store.root))}.</p>")
    document = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>gradtrace report</title><style>{_STYLE}</style></head><body>"
                f"<h1>gradtrace report</h1>{_INTRO}{''.join(sections)}{footer}</body></html>\n")
    temporary = path.with_suffix(".html.tmp")
    temporary.write_text(document, encoding="utf-8")
    temporary.replace(path)
    write_summary(store)  # beside the report, from the same store: an old folder gets one too
    return path
