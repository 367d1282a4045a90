"""Store: a damaged catalog row or index is found and named, and only that run is redone.

Regressions: a bit flip that kept a row's JSON valid (summary key ``bound_20`` → ``bound_2?``) made
``report`` and ``run`` die with a KeyError; one that broke the JSON hid every intact run from the
report; a flip in the index page made ``run`` write a phantom row and ``report`` say "No run …".
"""

import sqlite3

import numpy as np
import pytest

from gradtrace.errors import StoreError
from gradtrace.store import Store


def _store(root, names=("a", "b", "c")):
    store = Store(root)
    for name in names:
        store.put("demo", name, {"x": np.arange(3)}, config={"name": name}, summary={"bound_20": 1.5})
    return store


def _edit(root, sql, *args):
    with sqlite3.connect(root / "catalog.sqlite") as db:
        db.execute(sql, args)
    db.close()


@pytest.mark.parametrize(("column", "value"), [
    ("summary", '{"bound_2?": 1.5}'),         # valid JSON, a key changed
    ("summary", '{"bound_20": 1.5'),          # invalid JSON
    ("config", '{"name": "b"}x'),             # invalid JSON
    ("status", "finishee"),
    ("seconds", 2.0),
])
def test_a_damaged_row_is_a_damaged_run_named_and_left_out(tmp_path, column, value):
    store = _store(tmp_path)
    _edit(tmp_path, f"UPDATE runs SET {column} = ? WHERE name = 'b'", value)
    store = Store(tmp_path)
    assert list(store.damaged("demo")) == ["b"]
    assert f"its catalog row in {tmp_path / 'catalog.sqlite'}" in store.damaged("demo")["b"]
    assert store.finished("demo") == {"a", "c"}  # so `run` redoes exactly b
    with pytest.raises(StoreError, match=r"Run demo/b is damaged: its catalog row in .*catalog.sqlite (does not "
                                         r"match the SHA-256|is not valid JSON)"):
        store.get("demo", "b")
    intact = store.without(("demo", name) for name in store.damaged("demo"))
    assert [intact.get("demo", name).summary for name in intact.names("demo")] == [{"bound_20": 1.5}] * 2
    # Writing the run again repairs it.
    store.put("demo", "b", {"x": np.arange(3)}, config={"name": "b"}, summary={"bound_20": 1.5})
    assert store.damaged("demo") == {} and store.finished("demo") == {"a", "b", "c"}


def test_an_old_row_without_a_row_checksum_is_checked_by_parsing(tmp_path):
    _store(tmp_path)
    _edit(tmp_path, "UPDATE runs SET row_sha256 = NULL")
    _edit(tmp_path, "UPDATE runs SET summary = '{\"bound' WHERE name = 'a'")
    store = Store(tmp_path)
    assert list(store.damaged("demo")) == ["a"] and "is not valid JSON" in store.damaged("demo")["a"]
    assert store.finished("demo") == {"b", "c"}


def _flip_index(root):
    catalog = root / "catalog.sqlite"
    with sqlite3.connect(catalog) as db:
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_runs_1'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(catalog.read_bytes())
    data[page * size - 8] ^= 0x01  # the last byte of a cell: a key of the index, not of the table
    catalog.write_bytes(bytes(data))
    with sqlite3.connect(catalog) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] != "ok"
    db.close()


def test_a_damaged_index_is_rebuilt_from_the_rows_on_opening(tmp_path):
    _store(tmp_path, names=[f"r{i}" for i in range(8)])
    _flip_index(tmp_path)
    store = Store(tmp_path)
    assert store.repaired
    assert store.names("demo") == [f"r{i}" for i in range(8)]
    assert store.finished("demo") == {f"r{i}" for i in range(8)}
    assert all(store.get("demo", f"r{i}").config == {"name": f"r{i}"} for i in range(8))
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


def test_a_damaged_index_that_cannot_be_rebuilt_is_a_store_error_naming_the_fix(tmp_path, monkeypatch):
    _store(tmp_path, names=[f"r{i}" for i in range(8)])
    _flip_index(tmp_path)
    # As where the folder is read-only: the rebuild fails.
    monkeypatch.setattr("gradtrace.store._REINDEX", "REINDEX no_such_index")
    with pytest.raises(StoreError, match=r"catalog.sqlite has a damaged index \(row \d+ missing from index.*\) that "
                                         r"could not be rebuilt .* run `sqlite3 .*catalog.sqlite REINDEX`"):
        Store(tmp_path, create=False)


def test_an_old_catalog_is_sealed_on_migration_so_a_later_flip_shows(tmp_path):
    _store(tmp_path)
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:  # as a catalog written before row checksums
        db.execute("ALTER TABLE runs DROP COLUMN row_sha256")
        db.execute("UPDATE runs SET config = '{\"name\"' WHERE name = 'c'")  # already unreadable then
    db.close()
    store = Store(tmp_path)
    assert list(store.damaged("demo")) == ["c"] and "is not valid JSON" in store.damaged("demo")["c"]
    _edit(tmp_path, "UPDATE runs SET summary = '{\"bound_2?\": 1.5}' WHERE name = 'a'")
    assert sorted(Store(tmp_path).damaged("demo")) == ["a", "c"]
    assert Store(tmp_path).finished("demo") == {"b"}
