"""Store: runs go in whole or not at all, come back as written, and a broken store says so."""

import numpy as np
import pytest

from gradtrace.errors import StoreError
from gradtrace.store import RunRecord, Store


def _put(store, name="a", study="demo", *, status="finished", value=0.0, **options):
    arrays = {"loss": np.full((3, 2), value), "steps": np.arange(3, dtype=np.int64)}
    store.put(
        study, name, arrays, config={"lr": 0.01}, summary={"value": value}, status=status, **options
    )


def test_put_then_get_returns_the_run_as_written(tmp_path):
    store = Store(tmp_path / "runs")
    arrays = {
        "loss": np.linspace(0, 1, 6).reshape(3, 2),
        "diverged_at": np.array([-1, 4]),
        "ok": np.array([True, False]),
    }
    config = {
        "model": "elman",
        "radii": (0.5, 1.5),
        "rate": np.float64(0.25),
        "sizes": np.arange(2),
    }
    summary = {"task/loss": np.float32(0.5), "successes": np.int64(3), "rate": float("nan")}
    store.put("study", "run-1", arrays, config=config, summary=summary, seconds=1.5)
    record = store.get("study", "run-1")
    assert isinstance(record, RunRecord)
    assert (record.study, record.name, record.status, record.seconds) == (
        "study",
        "run-1",
        "finished",
        1.5,
    )
    assert record.config == {"model": "elman", "radii": [0.5, 1.5], "rate": 0.25, "sizes": [0, 1]}
    assert record.summary["task/loss"] == 0.5 and record.summary["successes"] == 3
    assert np.isnan(record.summary["rate"])
    assert record.arrays.keys() == arrays.keys()
    for key, value in arrays.items():
        np.testing.assert_array_equal(record.arrays[key], value)
        assert record.arrays[key].dtype == value.dtype, key


def test_put_replaces_a_run_of_the_same_name(tmp_path):
    store = Store(tmp_path)
    _put(store, value=1.0, status="interrupted")
    _put(store, value=2.0)
    record = store.get("demo", "a")
    assert (record.status, record.summary["value"]) == ("finished", 2.0)
    assert record.arrays["loss"][0, 0] == 2.0
    assert store.names("demo") == ["a"]


def test_finished_lists_only_finished_runs_whose_arrays_exist(tmp_path):
    store = Store(tmp_path)
    _put(store, "done")
    _put(store, "cut", status="interrupted")
    _put(store, "lost")
    _put(store, "other-study", study="elsewhere")
    (tmp_path / "arrays" / "demo" / "lost.npz").unlink()
    assert store.finished("demo") == {"done"}
    assert store.finished("nothing") == set()


def test_names_keep_the_order_of_writing_and_studies_are_listed(tmp_path):
    store = Store(tmp_path)
    for name in ("c", "a", "b"):
        _put(store, name)
    _put(store, "x", study="another")
    assert store.names("demo") == ["c", "a", "b"]
    assert store.studies() == ["another", "demo"]


def test_a_written_run_leaves_no_temporary_file(tmp_path):
    store = Store(tmp_path)
    _put(store)
    _put(store, value=1.0)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert "arrays/demo/a.npz" in files
    assert not [f for f in files if f.endswith(".tmp")]


def test_a_failed_write_keeps_the_previous_run_whole(tmp_path, monkeypatch):
    store = Store(tmp_path)
    _put(store, value=1.0)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        _put(store, value=2.0)
    monkeypatch.undo()
    record = store.get("demo", "a")
    assert record.summary["value"] == 1.0 and record.arrays["loss"][0, 0] == 1.0
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_unstorable_summary_is_rejected_before_anything_is_written(tmp_path):
    store = Store(tmp_path)
    _put(store, value=1.0)
    with pytest.raises(TypeError, match="Cannot store object in the catalog"):
        store.put("demo", "a", {"loss": np.zeros(2)}, config={}, summary={"bad": object()})
    # Regression: the arrays used to be replaced before the catalog row failed to serialize.
    record = store.get("demo", "a")
    assert record.summary["value"] == 1.0 and record.arrays["loss"].shape == (3, 2)
    with pytest.raises(TypeError, match="Cannot store"):
        store.put("demo", "new", {"loss": np.zeros(2)}, config={"bad": object()}, summary={})
    assert not (tmp_path / "arrays" / "demo" / "new.npz").exists()
    assert store.names("demo") == ["a"]


def test_reopening_a_store_sees_its_runs_and_metadata(tmp_path):
    store = Store(tmp_path)
    _put(store, value=3.0)
    store.set_meta("study/demo", {"quick": True, "seeds": np.int64(2), "runs": ["a"]})
    for again in (Store(tmp_path), Store(tmp_path, create=False)):
        assert again.finished("demo") == {"a"}
        assert again.get("demo", "a").summary == {"value": 3.0}
        assert again.meta("study/demo") == {"quick": True, "seeds": 2, "runs": ["a"]}


def test_meta_roundtrip_default_and_overwrite(tmp_path):
    store = Store(tmp_path)
    assert store.meta("missing") is None
    assert store.meta("missing", {"x": 1}) == {"x": 1}
    store.set_meta("k", [1, "two", None, 2.5])
    assert store.meta("k") == [1, "two", None, 2.5]
    store.set_meta("k", "replaced")
    assert store.meta("k") == "replaced"


def test_opening_a_missing_folder_creates_it_unless_create_is_false(tmp_path):
    missing = tmp_path / "nested" / "runs"
    with pytest.raises(
        StoreError, match=r"No gradtrace run store at .*runs: catalog.sqlite is missing"
    ):
        Store(missing, create=False)
    assert not missing.exists()
    Store(missing)
    assert (missing / "catalog.sqlite").is_file()


def test_a_corrupt_catalog_raises_store_error(tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"this is not a database, " * 100)
    with pytest.raises(StoreError, match=r"catalog.sqlite is damaged \(file is not a database\)"):
        Store(tmp_path)


def test_getting_a_missing_run_raises_store_error(tmp_path):
    store = Store(tmp_path)
    _put(store)
    with pytest.raises(StoreError, match="No run 'b' of study 'demo'"):
        store.get("demo", "b")
    with pytest.raises(StoreError, match="No run 'a' of study 'other'"):
        store.get("other", "a")


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_unreadable_arrays_raise_store_error(tmp_path, damage):
    store = Store(tmp_path)
    _put(store)
    path = tmp_path / "arrays" / "demo" / "a.npz"
    if damage == "corrupt":
        path.write_bytes(b"garbage")
    else:
        path.unlink()
    problem = r"has 7 bytes, but \d+ were written" if damage == "corrupt" else "is missing"
    with pytest.raises(StoreError, match=f"Run demo/a is damaged: its arrays file .*a.npz {problem}"):
        store.get("demo", "a")
