"""``summary.json``: what a run folder holds, study by study, with every claim's verdict computed from it.

The summary is derived from the run store alone, so it can be written again at any time (``gradtrace
report`` does): each study's title, options, runs finished against planned, seconds, sizes and claims,
and the versions that produced it. Numbers are plain JSON numbers; NaN and infinities are ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from gradtrace import __version__
from gradtrace.store import Store
from gradtrace.studies.claims import Results, evaluate_claims, jsonable, shown_runs, stored_study

__all__ = ["QUICK_NOTE", "SUMMARY_FILE", "WALL_SECONDS_KEY", "summarize", "write_summary"]

#: The summary's file name inside a run folder.
SUMMARY_FILE = "summary.json"
#: The store metadata under which ``gradtrace run`` records its wall time, so a summary written later keeps it.
WALL_SECONDS_KEY = "wall_seconds"
#: What a study run in quick mode says about its verdicts.
QUICK_NOTE = {"en": "Quick mode: the sizes of a smoke test; the claims' verdicts are not meaningful.",
              "pt": "Modo rápido: tamanhos de um teste de fumaça; os veredictos das afirmações não têm significado."}


def summarize(store: Store | str | os.PathLike) -> dict[str, Any]:
    """Return the summary of every study in ``store``, with its claims' verdicts computed from its runs.

    Args:
        store: a :class:`~gradtrace.store.Store` or the folder of one.

    Returns:
        A JSON-ready dict: ``gradtrace``, ``torch`` and ``python`` versions, ``written`` (ISO time),
        ``wall_seconds`` (as ``gradtrace run`` recorded it, else None), ``run_seconds`` (all runs'
        seconds), ``claims`` (``held`` and ``total``), and ``studies``: one entry per study with
        ``name``, ``title``, ``quick``, ``budget`` ("default", "quick" or "paper"), ``seeds``, ``runs``
        (``finished``, ``planned``, ``damaged``), ``seconds`` (its runs' training time), ``sizes`` (the config
        its runs share) and ``claims``, each ``{"name", "sentence":
        {"en", "pt"}, "verdict": "held" | "not held", "values"}`` (plus ``measured`` False and a
        ``reason`` when its runs are missing). A quick study also has ``note``.

    Raises:
        StoreError: if the folder holds no run store, or its catalog is damaged.
    """
    from gradtrace.studies.course import course_order  # the course imports the registry, which imports the studies

    if not isinstance(store, Store):
        store = Store(store, create=False)
    studies = sorted(store.studies(), key=course_order)
    entries = [_study_entry(store, name) for name in studies]
    verdicts = [claim for entry in entries for claim in entry["claims"]]
    return jsonable({
        "gradtrace": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "written": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "wall_seconds": store.meta(WALL_SECONDS_KEY),
        "run_seconds": sum(entry["seconds"] for entry in entries),
        "claims": {"held": sum(claim["verdict"] == "held" for claim in verdicts), "total": len(verdicts)},
        "studies": entries,
    })


def _study_entry(store: Store, name: str) -> dict[str, Any]:
    study = stored_study(store, name)
    options = store.meta(f"study/{name}") or {}
    results = Results(store, name)
    finished = tuple(shown_runs(store, name, results.names()))
    planned = options.get("runs") or list(finished)
    records = [results.record(run) for run in finished]
    entry = {
        "name": name,
        "title": study.title if study is not None else name,
        "quick": bool(options.get("quick", False)),
        # A store from before budgets were recorded ran the quick config or the default one.
        "budget": options.get("budget", "quick" if options.get("quick") else "default"),
        "seeds": options.get("seeds"),
        "runs": {"finished": sum(run in finished for run in planned), "planned": len(planned),
                 "damaged": sorted(store.damaged(name))},
        "seconds": sum(record.seconds for record in records),
        "sizes": _shared(record.config for record in records),
        "config": options.get("config", options.get("declared")),
        "claims": [verdict.to_dict() for verdict in evaluate_claims(store, name, results=results)],
    }
    if entry["quick"]:
        entry["note"] = dict(QUICK_NOTE)
    return entry


def _shared(configs) -> dict[str, Any]:
    """Return the entries every config has with the same value: the study's sizes, apart from its grid."""
    shared: dict[str, Any] | None = None
    for config in configs:
        if shared is None:
            shared = dict(config)
        else:
            shared = {key: value for key, value in shared.items() if key in config and config[key] == value}
    return shared or {}


def write_summary(store: Store | str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """Write :func:`summarize`'s result as JSON and return its path.

    Args:
        store: a :class:`~gradtrace.store.Store` or the folder of one.
        path: where to write; default ``<store>/summary.json``.

    Raises:
        StoreError: if the folder holds no run store, or its catalog is damaged.
    """
    if not isinstance(store, Store):
        store = Store(store, create=False)
    path = Path(path) if path is not None else store.root / SUMMARY_FILE
    text = json.dumps(summarize(store), indent=2, ensure_ascii=False, allow_nan=False)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a file
    return path
