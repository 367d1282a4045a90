"""The run store: a SQLite catalog of runs beside one file of arrays per run.

Layout of a store folder::

    catalog.sqlite           one row per (study, run name): status, config, summary, timings, the
                             size and SHA-256 of the run's arrays file, and a SHA-256 of the row itself
    arrays/<study>/<run>.npz the run's arrays
    writer.lock              held (flock) by the one process writing the store; names it

A run's arrays are written to a temporary file and renamed into place before its catalog row is
committed, so a run is either in the store whole or not at all; a study that was interrupted
resumes by skipping the runs already finished. The checksums in the row are checked whenever a run
is read or a study resumes, so a row or file damaged on disk is found, named, and run again.
"""

from __future__ import annotations

import copy
import datetime as _dt
import errno
import fcntl
import hashlib
import io
import json
import os
import shlex
import socket
import sqlite3
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradtrace.errors import StoreError, describe

__all__ = ["RunRecord", "Store", "check_folder", "describe_holder", "lock_holder", "open_run_folder"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    study    TEXT NOT NULL,
    name     TEXT NOT NULL,
    status   TEXT NOT NULL,
    config   TEXT NOT NULL,
    summary  TEXT NOT NULL,
    seconds  REAL NOT NULL,
    created  REAL NOT NULL,
    sha256   TEXT,
    size     INTEGER,
    row_sha256 TEXT,
    PRIMARY KEY (study, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Catalogs written before the checksum columns existed gain them. Old rows get no arrays checksum (their
# files are verified by loading them: the zip format checks a CRC-32 of every array it reads); they are
# sealed with a row checksum as they read now (see _seal_old_rows), or found damaged if they do not parse.
_CHECKSUM_COLUMNS = (("sha256", "TEXT"), ("size", "INTEGER"), ("row_sha256", "TEXT"))
_SCHEMA_VERSION = 2
_ROW_COLUMNS = "study, name, status, config, summary, seconds, sha256, size, row_sha256"
# What `PRAGMA integrity_check` says of an index that disagrees with its table. The index is derived
# data: REINDEX rebuilds it from the table's rows, losing nothing.
_INDEX_PROBLEMS = ("missing from index", "wrong # of entries in index", "non-unique entry in index")
_REINDEX = "REINDEX"
# A full disk, or a full quota: the store is intact and a resume continues once space is freed.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

# What numpy and zipfile raise on a truncated, bit-flipped or foreign .npz file.
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)

_LOCK_FILE = "writer.lock"
# A reader that asks who holds the lock takes it for an instant; a writer arriving then retries.
_LOCK_RETRIES = 10
_LOCK_RETRY_SECONDS = 0.05
# Descriptors of the write locks this process holds. A forked child (a study's worker) closes its
# copies: the lock stays the parent's alone, and a child that outlives its parent cannot keep it.
_HELD_LOCKS: set[int] = set()


def _forget_locks() -> None:
    for handle in _HELD_LOCKS:
        try:
            os.close(handle)  # the parent's descriptor still holds the lock: closing a copy does not release it
        except OSError:
            pass
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks)


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

    Attributes:
        root: the store folder.
        catalog: the path of ``catalog.sqlite``.
        repaired: True when opening found the catalog's index out of step with its rows and rebuilt it.

    Writers hold :meth:`write_lock` (``run_study`` does); readers need no lock. Every run's catalog
    row is checked against the SHA-256 of its content, and its arrays file against the size and SHA-256
    the row recorded (:meth:`damaged`). Opening checks every page of the catalog; an index that
    disagrees with its table is rebuilt from the rows (``REINDEX``, which loses nothing; see
    :attr:`repaired`).

    Raises:
        ValueError: if ``root`` is empty, is a file or lies under one, or (with ``create``) cannot be
            written (see :func:`check_folder`).
        StoreError: if the folder cannot be created, its catalog is damaged (beyond an index that
            can be rebuilt), or its catalog lists
            no runs while its arrays folder holds some (an emptied catalog).

    Example:
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.put("demo", "a", {"x": np.arange(3)}, config={}, summary={"ok": True})
        >>> store.get("demo", "a").arrays["x"].tolist()
        [0, 1, 2]
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = check_folder(root, writable=create)
        self.catalog = self.root / "catalog.sqlite"
        self._hidden: frozenset[tuple[str, str]] = frozenset()
        self._lock_depth = 0
        if not self.catalog.is_file():
            if not create:
                raise StoreError(f"No gradtrace run store at {self.root}: {self.catalog.name} is missing "
                                 "(a run folder written by `gradtrace run` has one).")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"Cannot create the run store folder {self.root}: {error.strerror}.") from error
        self.repaired = False
        with self._connect() as db:
            db.executescript(_SCHEMA)
            self._check_integrity(db)
            _migrate(db)
            listed = db.execute("SELECT count(*) FROM runs").fetchone()[0]
        # A catalog that lists nothing beside run files was emptied or replaced: there is nothing intact to
        # read, and a writer would compute every run again. Rows lost from a catalog that still lists
        # some are the write path's concern (see :meth:`unlisted`); the intact runs stay readable.
        orphans = self.unlisted()
        if not listed and len(orphans) > 1:
            raise StoreError(
                f"The catalog {self.catalog} lists no runs, but {self.root / 'arrays'} holds {len(orphans)} run "
                f"files it does not list ({_some(orphans)}): the catalog was emptied or replaced, and their "
                "configs and summaries were in it, so they cannot be read. Restore catalog.sqlite from a backup; "
                f"or, to compute these {len(orphans)} runs again, delete those files (or the arrays folder)."
            )

    def _check_integrity(self, db: sqlite3.Connection) -> None:
        """Check every page of the catalog, rebuilding a damaged index from the table's rows.

        A damaged page is otherwise found only by the query that reads it, perhaps mid-study. The full
        ``integrity_check`` (not ``quick_check``) compares each index with its table: a damaged index
        makes lookups by name miss rows that are there, so ``run`` would write a phantom second row and
        ``report`` would say a finished run is missing. Catalogs are small: it costs about as little as ``quick_check``.
        When the index is all that is wrong, ``REINDEX`` rebuilds it from the rows, which are intact,
        so it is done here and :attr:`repaired` is set; anything else is a damaged catalog.
        """
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if problems == ["ok"]:
            return
        if all(any(kind in problem for kind in _INDEX_PROBLEMS) for problem in problems):
            try:
                db.execute(_REINDEX)
                problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as error:  # read-only, or the rows themselves collide
                problems = [*problems, f"REINDEX failed: {error}"]
            if problems == ["ok"]:
                self.repaired = True
                return
            raise StoreError(
                f"The catalog {self.catalog} has a damaged index ({problems[0]}) that could not be rebuilt "
                f"({problems[-1]}). Its rows may be intact: run `sqlite3 {self.catalog} REINDEX` where the folder "
                "is writable, then the same command again."
            )
        raise sqlite3.DatabaseError(f"integrity check failed: {problems[0].splitlines()[-1]}")

    @contextmanager
    def _connect(self, run: str = "") -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.catalog, timeout=30)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                with db:
                    yield db
        except sqlite3.DatabaseError as error:  # OperationalError too: locked, read-only, unopenable
            raise self._catalog_error(error, run) from error

    def _catalog_error(self, error: sqlite3.DatabaseError, run: str = "") -> StoreError:
        text = str(error)
        if "database or disk is full" in text:  # SQLITE_FULL: nothing is damaged
            return self._disk_full(text, run)
        if "locked" in text or "busy" in text:
            return StoreError(f"The catalog {self.catalog} stayed locked by another process for 30 s ({text}).")
        if isinstance(error, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text):
            return StoreError(f"Cannot write the catalog {self.catalog} ({text}): is the folder writable?")
        return StoreError(
            f"The catalog {self.catalog} is damaged ({text}). The runs' arrays in {self.root / 'arrays'} are "
            "untouched, but they cannot be read or resumed without it: move the folder away and run again to "
            "start afresh (`sqlite3 catalog.sqlite .recover` may rescue the catalog's rows)."
        )

    def _disk_full(self, detail: str, run: str = "") -> StoreError:
        """The error for a full disk: nothing is damaged, and running again resumes."""
        lost = f": run {run} was not saved" if run else ""
        return StoreError(
            f"The disk holding the run store {self.root} is full ({detail}){lost}. Nothing in the store is damaged "
            "and the runs finished before are kept: free some space, then run the same command again to resume."
        )

    def _array_path(self, study: str, name: str) -> Path:
        return self.root / "arrays" / study / f"{name}.npz"

    def put(self, study: str, name: str, arrays: dict[str, np.ndarray], *, config: dict[str, Any],
            summary: dict[str, Any], status: str = "finished", seconds: float = 0.0) -> None:
        """Write one run atomically: its arrays first, then its catalog row with their checksum.

        Raises:
            StoreError: if the disk is full (the run is not saved; the store is intact and the runs
                written before are kept, so running again after freeing space resumes), or the catalog
                cannot be written.
        """
        # Serialize everything before touching the disk: an unstorable value leaves the old run whole.
        config_text = json.dumps(config, default=_jsonable)
        summary_text = json.dumps(summary, default=_jsonable)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        data = buffer.getvalue()
        path = self._array_path(study, name)
        try:
            self._write_atomically(path, data)
        except OSError as error:
            if error.errno in _DISK_FULL:
                raise self._disk_full(error.strerror or str(error), f"{study}/{name}") from error
            raise
        fields = (study, name, status, config_text, summary_text, float(seconds), hashlib.sha256(data).hexdigest(),
                  len(data))
        with self._connect(run=f"{study}/{name}") as db:
            db.execute("INSERT OR REPLACE INTO runs (study, name, status, config, summary, seconds, sha256, size, "
                       "row_sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (*fields, _row_digest(*fields), time.time()))

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())  # a run can be minutes of work: on disk before its row says so
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)  # a partial file on a full disk would hold space too
            raise

    def finished(self, study: str) -> set[str]:
        """Return the names of the finished runs of ``study`` whose arrays are on disk and intact."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_ROW_COLUMNS} FROM runs WHERE study = ? AND status = 'finished'",
                              (study,)).fetchall()
        return {row[1] for row in rows if (study, row[1]) not in self._hidden and self._damage(row) is None}

    def damaged(self, study: str) -> dict[str, str]:
        """Return the runs of ``study`` whose catalog row or arrays file is damaged, each with what is wrong.

        The row is checked against the SHA-256 of its content recorded when it was written (a row from
        before the store kept one is checked by parsing its JSON). The arrays file is checked against
        the row's size and SHA-256 (a row from before checksums: by loading the file). A run file without
        a row (see :meth:`unlisted`) is damaged too. A damaged run is left out of :meth:`finished`, so
        running the study again redoes exactly these runs.
        """
        with self._connect() as db:
            rows = db.execute(f"SELECT {_ROW_COLUMNS} FROM runs WHERE study = ? ORDER BY created",
                              (study,)).fetchall()
        found = {row[1]: self._damage(row) for row in rows}
        for _, name in self.unlisted(study):
            found[name] = (f"its catalog row is missing from {self.catalog}; its arrays file "
                           f"{self._array_path(study, name)} is kept, but its config and summary were in the row")
        return {name: problem for name, problem in found.items() if problem is not None}

    def unlisted(self, study: str | None = None) -> list[tuple[str, str]]:
        """Return the runs, as (study, name), whose arrays file is in the store but not in the catalog.

        Only the store's one writer puts runs, arrays first and catalog row second: a writer killed
        between the two leaves one such file, which a resume simply redoes. More mean catalog rows were
        lost; such runs cannot be read (their config and summary were in the row). :meth:`damaged` lists
        them, and :func:`~gradtrace.studies.check_resume` refuses to recompute several unasked.

        Args:
            study: only this study's runs; None for every study.
        """
        with self._connect() as db:
            listed = set(db.execute("SELECT study, name FROM runs").fetchall())
        pattern = f"{study}/*.npz" if study is not None else "*/*.npz"
        found = ((path.parent.name, path.stem) for path in sorted((self.root / "arrays").glob(pattern)))
        return [run for run in found if run not in listed]

    def names(self, study: str) -> list[str]:
        """Return the run names of ``study`` in the order they were written."""
        with self._connect() as db:
            rows = db.execute("SELECT name FROM runs WHERE study = ? ORDER BY created", (study,)).fetchall()
        return [name for (name,) in rows if (study, name) not in self._hidden]

    def studies(self) -> list[str]:
        """Return the studies that have runs in the store."""
        with self._connect() as db:
            return [s for (s,) in db.execute("SELECT DISTINCT study FROM runs ORDER BY study")]

    def without(self, runs: Iterable[tuple[str, str]]) -> Store:
        """Return a view of this store that does not list ``runs`` (pairs of study and run name).

        The report draws from such a view to leave damaged runs out; the view shares the folder.
        """
        view = copy.copy(self)
        view._hidden = self._hidden | frozenset(runs)
        return view

    def get(self, study: str, name: str) -> RunRecord:
        """Read one run.

        Raises:
            StoreError: if the run is not in the catalog, its catalog row does not match the checksum
                recorded with it, or its arrays file is missing, does not match its checksum, or cannot
                be read; naming the run and what is damaged.
        """
        with self._connect() as db:
            row = db.execute(f"SELECT {_ROW_COLUMNS} FROM runs WHERE study = ? AND name = ?",
                             (study, name)).fetchone()
        if row is None or (study, name) in self._hidden:
            raise StoreError(f"No run {name!r} of study {study!r} in {self.root}.")
        _, _, status, config, summary, seconds, digest, size, _ = row
        path = self._array_path(study, name)
        problem = self._row_damage(row)
        if problem is not None:
            raise StoreError(f"Run {study}/{name} is damaged: {problem}. Run the study again with the same output "
                             "folder to redo this run.")
        data, problem = _read(path, digest, size)
        if problem is None:
            try:
                with np.load(io.BytesIO(data)) as archive:
                    arrays = {key: archive[key] for key in archive.files}
            except _UNREADABLE as error:
                problem = f"is unreadable ({type(error).__name__}: {error})"
        if problem is not None:
            raise StoreError(f"Run {study}/{name} is damaged: its arrays file {path} {problem}. Run the study "
                             "again with the same output folder to redo this run.")
        return RunRecord(study, name, status, json.loads(config), json.loads(summary), seconds, arrays)

    def _row_damage(self, row: tuple) -> str | None:
        """Return what is wrong with a catalog row (selected as ``_ROW_COLUMNS``), worded after "Run X is damaged:"."""
        study, name, status, config, summary, seconds, digest, size, row_digest = row
        where = f"its catalog row in {self.catalog}"
        if row_digest is not None:
            try:
                expected = _row_digest(study, name, status, config, summary, float(seconds), digest, size)
            except (TypeError, ValueError):  # a column that no longer holds its type
                expected = None
            if expected != row_digest:
                return f"{where} does not match the SHA-256 checksum recorded when it was written"
        try:
            parsed = [json.loads(config), json.loads(summary)]
        except (TypeError, ValueError) as error:  # JSONDecodeError, or a column that is not text
            return f"{where} is not valid JSON ({error})"
        if not all(isinstance(value, dict) for value in parsed):
            return f"{where} does not hold a config and summary"
        return None

    def _damage(self, row: tuple) -> str | None:
        problem = self._row_damage(row)
        if problem is not None:
            return problem
        study, name, digest, size = row[0], row[1], row[6], row[7]
        path = self._array_path(study, name)
        data, problem = _read(path, digest, size)
        if problem is None and digest is None:
            # Written before checksums: reading every array makes zipfile check its CRC-32.
            try:
                with np.load(io.BytesIO(data)) as archive:
                    for key in archive.files:
                        archive[key]
            except _UNREADABLE as error:
                problem = f"is unreadable ({type(error).__name__}: {error})"
        return None if problem is None else f"its arrays file {path} {problem}"

    def set_meta(self, key: str, value: Any) -> None:
        """Keep a piece of metadata about the store (JSON-serializable)."""
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, default=_jsonable)))

    def meta(self, key: str, default: Any = None) -> Any:
        """Return the metadata ``key``, or ``default``."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except json.JSONDecodeError as error:
            raise StoreError(f"The metadata {key!r} in {self.catalog} is damaged: {error}.") from error

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the store's write lock: one writing process at a time.

        The lock is an exclusive ``flock`` on ``writer.lock``, which names its holder (PID, host, start,
        command); the system releases it when the holder exits, however it exits. Nested use by the
        same :class:`Store` is allowed (``gradtrace run`` holds it around the studies it runs).

        Raises:
            StoreError: if another process (or another Store object) holds it, naming the holder.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        path = self.root / _LOCK_FILE
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreError(f"Cannot open the lock file {path}: {error.strerror}.") from error
        try:
            for attempt in range(_LOCK_RETRIES):
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == _LOCK_RETRIES - 1:
                        raise StoreError(_held_message(self.root, _read_holder(handle))) from None
                    time.sleep(_LOCK_RETRY_SECONDS)
            record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                      "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""}
            os.ftruncate(handle, 0)
            os.pwrite(handle, json.dumps(record).encode(), 0)
        except BaseException:
            os.close(handle)
            raise
        self._lock_depth = 1
        _HELD_LOCKS.add(handle)
        owner = os.getpid()
        try:
            yield
        finally:
            self._lock_depth = 0
            # A forked child that unwinds this frame no longer owns the descriptor (see _forget_locks).
            if os.getpid() == owner:
                _HELD_LOCKS.discard(handle)
                os.ftruncate(handle, 0)  # a stale name would mislead whoever reads the file next
                os.close(handle)  # releases the lock

    def lock_holder(self) -> dict[str, Any] | None:
        """Return who else holds the write lock (``pid``, ``host``, ``started``, ``command``), or None."""
        if self._lock_depth:
            return None
        return lock_holder(self.root)


def lock_holder(folder: str | os.PathLike) -> dict[str, Any] | None:
    """Return who holds the write lock of the run store in ``folder`` (as :meth:`Store.lock_holder`), or None.

    Opens nothing but the lock file, and takes a shared lock on it for an instant (a writer arriving then
    retries): the run browser asks it of folders it never opens for writing.
    """
    try:
        handle = os.open(Path(folder) / _LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(handle)
        return None
    finally:
        os.close(handle)


def open_run_folder(folder: Store | str | os.PathLike, *, name: str = "folder") -> Store:
    """Return the run store in ``folder`` to read, or raise naming ``name`` when the folder holds none.

    Args:
        folder: a run folder written by ``gradtrace run``, or its :class:`~gradtrace.store.Store`.
        name: the argument to name in errors (``FOLDER`` on the command line).

    Raises:
        ValueError: if ``folder`` is empty, a file, or does not exist.
        StoreError: if it holds no run store, or its catalog is damaged.
    """
    if isinstance(folder, Store):
        return folder
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a run folder (a path), got {describe(folder)}.")
    if not str(folder):  # Path("") would silently mean the current folder
        raise ValueError(f"`{name}` must be a run folder written by `gradtrace run`, got ''; for the current "
                         "folder, give '.'.")
    path = Path(folder)
    if path.is_file():
        raise ValueError(f"`{name}` must be a run folder written by `gradtrace run`, got {str(path)!r}, which is a "
                         "file.")
    if not path.is_dir():
        raise ValueError(f"`{name}` must be an existing run folder, got {str(path)!r} (no such folder).")
    return Store(path, create=False)


def check_folder(path: str | os.PathLike, *, name: str = "root", writable: bool = True) -> Path:
    """Return ``path`` as a Path if it can be (or become) a run store folder, touching nothing on disk.

    Args:
        path: the folder; it need not exist yet.
        name: the argument to name in errors (``"--out"`` for the command line).
        writable: also require that the folder, or the nearest existing folder above it, be writable.

    Raises:
        ValueError: if ``path`` is empty (which would mean the current folder), is a file or lies under
            one, lies inside another run store's ``arrays`` folder (where that store would read it as
            damaged runs), or cannot be written.
    """
    if not str(path).strip():
        raise ValueError(f"`{name}` must be a folder for the run store, got {str(path)!r}; to use the current "
                         "folder, give '.'.")
    folder = Path(path)
    for above in (folder, *folder.parents):
        if above.name == "arrays" and (above.parent / "catalog.sqlite").is_file():
            raise ValueError(f"`{name}` must not lie inside another run store's arrays folder, got {str(path)!r}, "
                             f"which is inside the run store at {str(above.parent)!r}; give a folder outside it.")
    for above in (folder, *folder.parents):
        try:
            exists, is_dir = above.exists(), above.is_dir()
        except OSError:  # unreadable: creating the folder will say what is wrong
            break
        if not exists:
            continue
        if not is_dir:
            where = "which is a file" if above == folder else f"and {str(above)!r} is a file"
            raise ValueError(f"`{name}` must be a folder for the run store, got {str(path)!r}, {where}.")
        if writable and not os.access(above, os.W_OK | os.X_OK):
            raise ValueError(f"`{name}` must be a folder you can write to, got {str(path)!r}, and {str(above)!r} "
                             "is not writable.")
        break
    return folder


def _read(path: Path, digest: str | None, size: int | None) -> tuple[bytes, str | None]:
    """Return the bytes of an arrays file and what is wrong with them, worded after "its arrays file X"."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", "is missing"
    except OSError as error:
        return b"", f"is unreadable ({error.strerror})"
    if size is not None and len(data) != size:
        return data, f"has {len(data)} bytes, but {size} were written"
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        return data, "does not match the SHA-256 checksum recorded when it was written"
    return data, None


def _some(runs: list[tuple[str, str]], shown: int = 3) -> str:
    """Name a few runs: ``arrays/a/x.npz, arrays/a/y.npz and 4 more``."""
    names = [f"arrays/{study}/{name}.npz" for study, name in runs[:shown]]
    return ", ".join(names) + (f" and {len(runs) - shown} more" if len(runs) > shown else "")


def _row_digest(study: str, name: str, status: str, config: str, summary: str, seconds: float,
                digest: str | None, size: int | None) -> str:
    """Return the SHA-256 of a catalog row's content: a bit flip that keeps its JSON valid still shows."""
    content = json.dumps([study, name, status, config, summary, float(seconds).hex(), digest, size])
    return hashlib.sha256(content.encode()).hexdigest()


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column, kind in _CHECKSUM_COLUMNS:
        if column not in columns:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    if "row_sha256" not in columns:
        _seal_old_rows(db)
    if db.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")


def _seal_old_rows(db: sqlite3.Connection) -> None:
    """Give the rows of a catalog from before row checksums theirs, so a later bit flip in them shows.

    A row whose JSON does not parse keeps none: it is found damaged by parsing, as before.
    """
    rows = db.execute(f"SELECT {_ROW_COLUMNS} FROM runs").fetchall()
    for study, name, status, config, summary, seconds, digest, size, _ in rows:
        try:
            readable = all(isinstance(json.loads(text), dict) for text in (config, summary))
            sealed = _row_digest(study, name, status, config, summary, float(seconds), digest, size)
        except (TypeError, ValueError):
            continue
        if readable:
            db.execute("UPDATE runs SET row_sha256 = ? WHERE study = ? AND name = ?", (sealed, study, name))


def _read_holder(handle: int) -> dict[str, Any]:
    try:
        text = os.pread(handle, 4096, 0).decode("utf-8", errors="replace")
        holder = json.loads(text)
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """Word a :meth:`Store.lock_holder` record: ``PID 12 on host 'h', started 2026-01-02 10:00:00 (`cmd`)``."""
    if not holder.get("pid"):
        return "a process that has not named itself yet"
    text = f"PID {holder['pid']} on host {holder.get('host', '?')!r}"
    if isinstance(holder.get("started"), (int, float)):
        text += f", started {_dt.datetime.fromtimestamp(holder['started']).strftime('%Y-%m-%d %H:%M:%S')}"
    if holder.get("command"):
        text += f" (`{holder['command']}`)"
    return text


def _held_message(root: Path, holder: dict[str, Any]) -> str:
    return (f"The run store at {root} is being written by another process: {describe_holder(holder)}. "
            "One writer at a time: wait for it to finish, stop it, or write to another folder.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Cannot store {type(value).__name__} in the catalog.")
