"""A full disk is reported as a full disk, not a damaged catalog, and nothing finished is lost.

Regression: "database or disk is full" was worded "The catalog … is damaged … move the folder away and
start afresh", advice that throws every finished run away.
"""

import errno
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.errors import StoreError
from gradtrace.store import Store

KEPT = (r"Nothing in the store is damaged and the runs finished before are kept: free some space, then run the same "
        r"command again to resume\.")
FULL = r"The disk holding the run store .* is full \(.*\).*" + KEPT


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_arrays_names_the_run_and_keeps_the_others(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.put("demo", "a", {"x": np.arange(3)}, config={}, summary={})
    monkeypatch.setattr("gradtrace.store.os.fsync", _no_space)
    with pytest.raises(StoreError, match=r"\(No space left on device\): run demo/b was not saved\. " + KEPT):
        store.put("demo", "b", {"x": np.arange(3)}, config={}, summary={})
    assert sorted(p.name for p in (tmp_path / "arrays" / "demo").iterdir()) == ["a.npz"]  # no temporary left
    monkeypatch.undo()
    assert store.finished("demo") == {"a"} and store.damaged("demo") == {}


class _FullCatalog:
    """A connection whose writes of rows fail as SQLite's do on a full disk."""

    def __init__(self, db):
        self._db = db

    def execute(self, sql, *args):
        if sql.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)

    def __enter__(self):
        self._db.__enter__()
        return self

    def __exit__(self, *exc):
        return self._db.__exit__(*exc)


def test_a_full_disk_while_writing_the_catalog_is_not_called_damage(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.put("demo", "a", {"x": np.arange(3)}, config={}, summary={})
    connect = sqlite3.connect
    monkeypatch.setattr("gradtrace.store.sqlite3.connect", lambda *a, **k: _FullCatalog(connect(*a, **k)))
    with pytest.raises(StoreError, match=r"\(database or disk is full\): run demo/b was not saved\.") as error:
        store.put("demo", "b", {"x": np.arange(3)}, config={}, summary={})
    assert "damaged" not in str(error.value).replace("Nothing in the store is damaged", "")
    assert "move the folder away" not in str(error.value)
    with pytest.raises(StoreError, match=FULL):
        store.set_meta("k", 1)
    monkeypatch.undo()
    assert store.finished("demo") == {"a"}


def test_the_command_says_the_disk_is_full_and_resumes_after(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    write = Store._write_atomically
    calls = []

    def second_fails(path, data):
        calls.append(path)
        if len(calls) == 2:
            _no_space()
        write(path, data)

    monkeypatch.setattr(Store, "_write_atomically", staticmethod(second_fails))
    runner = CliRunner()
    command = ["run", "through-time", "--quick", "--seeds", "1", "--workers", "1", "--out", str(out)]
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert f"The disk holding the run store {out} is full (No space left on device): run through-time/" in message
    assert "free some space, then run the same command again to resume" in message
    assert "Traceback" not in result.output
    first = Store(out).finished("through-time")
    assert len(first) == 1
    monkeypatch.undo()
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "1 of 2 runs already finished, resuming" in " ".join(result.output.split())
