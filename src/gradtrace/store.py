"""The run store: a SQLite catalog of runs beside one file of arrays per run.

Layout of a store folder::

    catalog.sqlite          one row per (study, run name): status, config, summary, timings
    arrays/<study>/<run>.npz the run's arrays

A run's arrays are written to a temporary file and renamed into place before its catalog row is
committed, so a run is either in the store whole or not at all; a study that was interrupted
resumes by skipping the runs already finished.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradtrace.errors import StoreError

__all__ = ["RunRecord", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    study    TEXT NOT NULL,
    name     TEXT NOT NULL,
    status   TEXT NOT NULL,
    config   TEXT NOT NULL,
    summary  TEXT NOT NULL,
    seconds  REAL NOT NULL,
    created  REAL NOT NULL,
    PRIMARY KEY (study, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class RunRecord:
    """One run of a study as the store holds it."""

    study: str
    name: str
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    seconds: float
    arrays: dict[str, np.ndarray]


class Store:
    """A folder of runs. Opening a folder that does not exist creates it.

    Args:
        root: the store folder.
        create: create the folder and catalog if missing; False raises StoreError instead.

    Example:
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.put("demo", "a", {"x": np.arange(3)}, config={}, summary={"ok": True})
        >>> store.get("demo", "a").arrays["x"].tolist()
        [0, 1, 2]
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root)
        self.catalog = self.root / "catalog.sqlite"
        if not self.catalog.exists():
            if not create:
                raise StoreError(f"No gradtrace run store at {self.root}: {self.catalog.name} is missing.")
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"The catalog {self.catalog} is not a readable SQLite database: {error}") from error

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.catalog, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db

    def _array_path(self, study: str, name: str) -> Path:
        return self.root / "arrays" / study / f"{name}.npz"

    def put(self, study: str, name: str, arrays: dict[str, np.ndarray], *, config: dict[str, Any],
            summary: dict[str, Any], status: str = "finished", seconds: float = 0.0) -> None:
        """Write one run atomically: its arrays first, then its catalog row."""
        # Serialize the row before touching the arrays: an unstorable value leaves the old run whole.
        row = (study, name, status, json.dumps(config, default=_jsonable), json.dumps(summary, default=_jsonable),
               float(seconds), time.time())
        path = self._array_path(study, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez_compressed(stream, **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def finished(self, study: str) -> set[str]:
        """Return the names of the finished runs of ``study`` whose arrays are on disk."""
        with self._connect() as db:
            rows = db.execute("SELECT name FROM runs WHERE study = ? AND status = 'finished'", (study,))
            return {name for (name,) in rows if self._array_path(study, name).exists()}

    def names(self, study: str) -> list[str]:
        """Return the run names of ``study`` in the order they were written."""
        with self._connect() as db:
            rows = db.execute("SELECT name FROM runs WHERE study = ? ORDER BY created", (study,))
            return [name for (name,) in rows]

    def studies(self) -> list[str]:
        """Return the studies that have runs in the store."""
        with self._connect() as db:
            return [s for (s,) in db.execute("SELECT DISTINCT study FROM runs ORDER BY study")]

    def get(self, study: str, name: str) -> RunRecord:
        """Read one run; raise StoreError if it is missing or its arrays are unreadable."""
        with self._connect() as db:
            row = db.execute("SELECT status, config, summary, seconds FROM runs WHERE study = ? AND name = ?",
                             (study, name)).fetchone()
        if row is None:
            raise StoreError(f"No run {name!r} of study {study!r} in {self.root}.")
        path = self._array_path(study, name)
        try:
            with np.load(path) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise StoreError(f"The arrays of run {study}/{name} at {path} are unreadable: {error}") from error
        status, config, summary, seconds = row
        return RunRecord(study, name, status, json.loads(config), json.loads(summary), seconds, arrays)

    def set_meta(self, key: str, value: Any) -> None:
        """Keep a piece of metadata about the store (JSON-serializable)."""
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, default=_jsonable)))

    def meta(self, key: str, default: Any = None) -> Any:
        """Return the metadata ``key``, or ``default``."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Cannot store {type(value).__name__} in the catalog.")
