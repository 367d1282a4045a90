"""Store: a damaged arrays file, catalog or folder is found, named, and never read as data."""

import os
import sqlite3

import numpy as np
import pytest

from gradtrace.errors import StoreError
from gradtrace.store import Store


def _put(store, name, study="demo"):
    # Random values do not compress: the middle of the file is array data, not zip headers.
    values = np.random.default_rng(len(name)).standard_normal(1000)
    store.put(study, name, {"x": values}, config={"name": name}, summary={"n": 1})
    return values


def _flip(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _arrays(root, name, study="demo"):
    return root / "arrays" / study / f"{name}.npz"


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_arrays_file_is_named_and_not_counted_as_finished(tmp_path, damage):
    store = Store(tmp_path)
    kept = _put(store, "a")
    _put(store, "b")
    path = _arrays(tmp_path, "b")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
        problem = r"has 100 bytes, but \d+ were written"
    else:
        _flip(path)
        problem = "does not match the SHA-256 checksum recorded when it was written"
    with pytest.raises(StoreError, match=f"Run demo/b is damaged: its arrays file {path} {problem}"):
        store.get("demo", "b")
    assert store.finished("demo") == {"a"}
    assert list(store.damaged("demo")) == ["b"]
    assert str(path) in store.damaged("demo")["b"]
    # Nothing finished is lost: the intact run reads back as written.
    np.testing.assert_array_equal(store.get("demo", "a").arrays["x"], kept)


def test_a_missing_arrays_file_is_damaged(tmp_path):
    store = Store(tmp_path)
    _put(store, "a")
    _arrays(tmp_path, "a").unlink()
    assert store.damaged("demo") == {"a": f"its arrays file {_arrays(tmp_path, 'a')} is missing"}
    assert store.finished("demo") == set()


def test_the_catalog_records_the_size_and_sha256_of_each_arrays_file(tmp_path):
    import hashlib

    store = Store(tmp_path)
    _put(store, "a")
    data = _arrays(tmp_path, "a").read_bytes()
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
        row = db.execute("SELECT sha256, size FROM runs WHERE name = 'a'").fetchone()
    assert row == (hashlib.sha256(data).hexdigest(), len(data))


def _old_catalog(root, names):
    """A store as gradtrace wrote it before the catalog held checksums."""
    legacy = Store(root / "writer")
    for name in names:
        _put(legacy, name)
    (root / "old").mkdir()
    os.replace(root / "writer" / "arrays", root / "old" / "arrays")
    with sqlite3.connect(root / "old" / "catalog.sqlite") as db:
        db.execute("CREATE TABLE runs (study TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, "
                   "config TEXT NOT NULL, summary TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL, "
                   "PRIMARY KEY (study, name))")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for index, name in enumerate(names):
            db.execute("INSERT INTO runs VALUES ('demo', ?, 'finished', '{}', '{}', 1.0, ?)", (name, index))
    db.close()
    return root / "old"


def test_an_old_catalog_without_checksums_is_migrated_and_its_runs_verified_by_loading(tmp_path):
    root = _old_catalog(tmp_path, ["a", "b", "c"])
    _flip(_arrays(root, "b"))
    _arrays(root, "c").write_bytes(_arrays(root, "c").read_bytes()[:-30])
    store = Store(root)
    with sqlite3.connect(root / "catalog.sqlite") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        assert columns[-3:] == ["sha256", "size", "row_sha256"]
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
    db.close()
    assert store.finished("demo") == {"a"}
    assert sorted(store.damaged("demo")) == ["b", "c"]
    assert "is unreadable" in store.damaged("demo")["b"]
    with pytest.raises(StoreError, match=r"Run demo/c is damaged: its arrays file .*c.npz is unreadable"):
        store.get("demo", "c")
    assert store.get("demo", "a").arrays["x"].shape == (1000,)
    # A run written again gets its checksum.
    _put(store, "b")
    assert store.finished("demo") == {"a", "b"}


def _big_catalog(root):
    store = Store(root)
    for index in range(200):
        store.put("demo", f"r{index}", {"x": np.zeros(1)}, config={"pad": "x" * 200}, summary={})
    return root / "catalog.sqlite"


@pytest.mark.parametrize("damage", ["overwrite", "truncate", "header"])
def test_a_damaged_catalog_raises_store_error_saying_what_to_do(tmp_path, damage):
    catalog = _big_catalog(tmp_path)
    data = catalog.read_bytes()
    middle = len(data) // 2
    damaged = {
        "overwrite": data[:middle] + b"\xff" * 512 + data[middle + 512:],
        "truncate": data[:middle],
        "header": b"\0" * 100 + data[100:],
    }[damage]
    catalog.write_bytes(damaged)
    for create in (True, False):
        with pytest.raises(StoreError, match=r"The catalog .*catalog.sqlite is damaged \(.*\)\. The runs' arrays in "
                                             r".*arrays are untouched.*move the folder away"):
            Store(tmp_path, create=create)


def test_a_page_damaged_after_opening_raises_store_error_on_the_next_read(tmp_path):
    catalog = _big_catalog(tmp_path)
    store = Store(tmp_path)
    data = catalog.read_bytes()
    catalog.write_bytes(data[: len(data) // 2] + b"\xff" * 4096 + data[len(data) // 2 + 4096:])
    with pytest.raises(StoreError, match="catalog.sqlite is damaged"):
        store.names("demo")


@pytest.mark.parametrize("how", ["zero bytes", "no rows"])
def test_an_emptied_catalog_beside_run_files_is_refused(tmp_path, how):
    store = Store(tmp_path)
    for name in ("a", "b", "c"):
        _put(store, name)
    if how == "zero bytes":
        (tmp_path / "catalog.sqlite").write_bytes(b"")
    else:
        with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
            db.execute("DELETE FROM runs")
        db.close()
    for create in (True, False):
        with pytest.raises(StoreError, match=(
                rf"The catalog {tmp_path}/catalog.sqlite lists no runs, but {tmp_path}/arrays holds 3 run files "
                r"it does not list \(arrays/demo/a.npz, arrays/demo/b.npz, arrays/demo/c.npz\): the catalog was "
                r"emptied or replaced.* Restore catalog.sqlite from a backup; or, to compute these 3 runs again, "
                r"delete those files")):
            Store(tmp_path, create=create)
    assert sorted(p.name for p in (tmp_path / "arrays" / "demo").iterdir()) == ["a.npz", "b.npz", "c.npz"]


def test_a_store_killed_between_a_runs_arrays_and_its_row_opens_and_redoes_that_run(tmp_path):
    store = Store(tmp_path)
    for name in ("a", "b"):
        _put(store, name)
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:  # b's arrays went in, its row did not
        db.execute("DELETE FROM runs WHERE name = 'b'")
    db.close()
    store = Store(tmp_path)
    assert store.finished("demo") == {"a"}
    assert store.unlisted() == [("demo", "b")]
    # Not silent: the run is listed as damaged (the report names it, `run` says it redoes it).
    assert store.damaged("demo") == {"b": f"its catalog row is missing from {tmp_path}/catalog.sqlite; its arrays "
                                          f"file {_arrays(tmp_path, 'b')} is kept, but its config and summary were "
                                          "in the row"}


def test_a_catalog_that_lost_some_rows_opens_and_lists_them_as_damaged(tmp_path):
    # Regression: Store() refused outright, so `report` could not draw the intact runs either.
    store = Store(tmp_path)
    for name in ("a", "b", "c", "d"):
        _put(store, name)
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
        db.execute("DELETE FROM runs WHERE name IN ('b', 'c')")
    db.close()
    store = Store(tmp_path)
    assert store.unlisted("demo") == [("demo", "b"), ("demo", "c")] and store.unlisted("other") == []
    assert sorted(store.damaged("demo")) == ["b", "c"]
    assert store.finished("demo") == {"a", "d"}
    assert store.get("demo", "a").config == {"name": "a"}


def test_a_root_that_is_a_file_or_under_one_or_empty_is_refused(tmp_path):
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    with pytest.raises(ValueError, match=r"must be a folder for the run store, got '.*file.txt', which is a file"):
        Store(existing)
    with pytest.raises(ValueError, match=r"got '.*file.txt/runs', and '.*file.txt' is a file"):
        Store(existing / "runs")
    with pytest.raises(ValueError, match=r"`root` must be a folder for the run store, got ''; to use the current"):
        Store("")
    assert existing.read_text() == "keep me"


def test_a_root_that_cannot_be_created_raises_store_error():
    with pytest.raises(StoreError, match=r"Cannot create the run store folder /proc/gradtrace-test/runs: "):
        Store("/proc/gradtrace-test/runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_root_in_a_read_only_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match=r"`root` must be a folder you can write to, got '.*locked/runs', and "
                                             r"'.*locked' is not writable"):
            Store(locked / "runs")
    finally:
        locked.chmod(0o700)


def test_without_hides_runs_from_a_view_only(tmp_path):
    store = Store(tmp_path)
    for name in ("a", "b"):
        _put(store, name)
    view = store.without([("demo", "b")])
    assert view.names("demo") == ["a"] and view.finished("demo") == {"a"}
    with pytest.raises(StoreError, match="No run 'b' of study 'demo'"):
        view.get("demo", "b")
    assert store.names("demo") == ["a", "b"]


@pytest.mark.parametrize("inner", ["arrays", "arrays/demo", "arrays/new/deeper"])
def test_a_store_inside_another_stores_arrays_folder_is_refused(tmp_path, inner):
    # Regression: `--out X/arrays` quietly made a second store where X reads its runs.
    _put(Store(tmp_path / "outer"), "a")
    with pytest.raises(ValueError, match=(r"`root` must not lie inside another run store's arrays folder, got "
                                          rf"'.*outer/{inner}', which is inside the run store at '.*outer'")):
        Store(tmp_path / "outer" / inner)
    assert not (tmp_path / "outer" / "arrays" / "catalog.sqlite").exists()
    assert Store(tmp_path / "outer").finished("demo") == {"a"}
