"""The gradtrace command on bad folders and damaged stores: one-line errors, and nothing finished is lost."""

import os
import shutil
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.errors import StoreError
from gradtrace.report import write_report
from gradtrace.store import Store

runner = CliRunner()
STUDY = "through-time"  # two quick runs, a few seconds


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def _message(result):
    return " ".join(result.stderr.split())


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-store") / "runs"
    result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def store_copy(finished, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished, out)
    return out


def _seconds(out):
    store = Store(out)
    return {name: store.get(STUDY, name).seconds for name in store.finished(STUDY)}


# --out and FOLDER


def test_out_that_is_a_file_exits_2_and_leaves_the_file(tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    result = _invoke("run", STUDY, "--quick", "--out", existing)
    assert result.exit_code == 2
    assert result.stderr == f"Error: `--out` must be a folder for the run store, got '{existing}', which is a file.\n"
    assert existing.read_text() == "keep me"
    with pytest.raises(ValueError, match="which is a file"):
        Store(existing)


def test_out_under_a_file_exits_2(tmp_path):
    (tmp_path / "notes.txt").write_text("")
    result = _invoke("run", STUDY, "--quick", "--out", tmp_path / "notes.txt" / "runs")
    assert result.exit_code == 2
    assert f"got '{tmp_path}/notes.txt/runs', and '{tmp_path}/notes.txt' is a file." in _message(result)
    assert len(result.stderr.strip().splitlines()) == 1


def test_out_that_cannot_be_created_exits_2():
    result = _invoke("run", STUDY, "--quick", "--out", "/proc/gradtrace-test/runs")
    assert result.exit_code == 2
    assert "Error: `--out` must be a folder that can be created, got '/proc/gradtrace-test/runs':" in _message(result)
    with pytest.raises(StoreError, match="Cannot create the run store folder /proc/gradtrace-test/runs"):
        Store("/proc/gradtrace-test/runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_exits_2(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = _invoke("run", STUDY, "--quick", "--out", locked / "runs")
        assert result.exit_code == 2
        assert f"`--out` must be a folder you can write to, got '{locked}/runs'" in _message(result)
    finally:
        locked.chmod(0o700)


def test_an_empty_out_is_refused_instead_of_writing_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("run", STUDY, "--quick", "--out", "")
    assert result.exit_code == 2
    assert "`--out` must be a folder for the run store, got ''; to use the current folder, give '.'" in _message(
        result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value", "maximum"), [("--seeds", 1001, 1000), ("--workers", 300, 256)])
def test_options_out_of_range_are_refused_before_the_folder_is_created(tmp_path, option, value, maximum):
    result = _invoke("run", STUDY, "--quick", option, value, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert _message(result) == f"Error: `{option}` must be at most {maximum}, got {value}."
    assert not (tmp_path / "runs").exists()


def test_report_of_a_file_says_it_is_a_file(tmp_path):
    existing = tmp_path / "report.html"
    existing.write_text("")
    result = _invoke("report", existing)
    assert result.exit_code == 2
    assert f"`FOLDER` must be a run folder written by `gradtrace run`, got '{existing}', which is a file." in _message(
        result)
    with pytest.raises(ValueError, match="which is a file"):
        write_report(existing)


def test_report_of_a_folder_without_a_catalog_says_so(tmp_path):
    result = _invoke("report", tmp_path)
    assert result.exit_code == 1
    assert f"No gradtrace run store at {tmp_path}: catalog.sqlite is missing" in _message(result)


# Damaged arrays


def _damage(out, how, name="rho=0.5"):
    path = out / "arrays" / STUDY / f"{name}.npz"
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[:200]))
    else:
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_report_draws_the_intact_runs_and_lists_the_damaged(store_copy, how):
    path = _damage(store_copy, how)
    result = _invoke("report", store_copy)
    assert result.exit_code == 0, result.output
    message = _message(result)
    assert f"Damaged, not in the report: {STUDY}/rho=0.5: its arrays file {path}" in message
    page = (store_copy / "report.html").read_text(encoding="utf-8")
    assert "1 run(s) of this study are damaged on disk and left out of its figures" in page
    assert f"<li>rho=0.5: its arrays file {path}" in page
    assert "data:image/png;base64" in page  # the intact run is drawn
    with pytest.raises(StoreError, match=f"Run {STUDY}/rho=0.5 is damaged: its arrays file {path}"):
        Store(store_copy).get(STUDY, "rho=0.5")


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_run_redoes_exactly_the_damaged_runs_and_says_which(store_copy, how):
    before = _seconds(store_copy)
    path = _damage(store_copy, how)
    result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--workers", 1, "--out", store_copy)
    assert result.exit_code == 0, result.output
    message = _message(result)
    assert f"{STUDY}: run 'rho=0.5' is damaged (its arrays file {path}" in message
    assert "running it again." in message
    assert f"{STUDY}: 1 of 2 runs already finished, resuming." in message
    after = _seconds(store_copy)
    assert after.keys() == {"rho=0.5", "rho=1.5"}
    assert after["rho=1.5"] == before["rho=1.5"]  # the intact run was kept, not redone
    assert Store(store_copy).damaged(STUDY) == {}


# Damaged or emptied catalog


@pytest.mark.parametrize("how", ["overwrite", "truncate"])
def test_a_damaged_catalog_is_a_one_line_error_and_the_arrays_are_kept(store_copy, how):
    catalog = store_copy / "catalog.sqlite"
    data = catalog.read_bytes()
    middle = len(data) // 2
    catalog.write_bytes(data[:middle] + b"\xff" * 2048 + data[middle + 2048:] if how == "overwrite" else data[:middle])
    arrays = {p: p.read_bytes() for p in (store_copy / "arrays").rglob("*.npz")}
    for command in (["report", store_copy], ["run", STUDY, "--quick", "--seeds", 1, "--out", store_copy]):
        result = _invoke(*command)
        assert result.exit_code == 1, result.output
        message = _message(result)
        assert f"Error: The catalog {catalog} is damaged (" in message
        assert f"The runs' arrays in {store_copy}/arrays are untouched" in message
        assert "move the folder away and run again to start afresh" in message
    assert {p: p.read_bytes() for p in (store_copy / "arrays").rglob("*.npz")} == arrays


@pytest.mark.parametrize("how", ["zero bytes", "no rows"])
def test_an_emptied_catalog_is_refused_instead_of_recomputing_everything(store_copy, how):
    catalog = store_copy / "catalog.sqlite"
    if how == "zero bytes":
        catalog.write_bytes(b"")
    else:
        with sqlite3.connect(catalog) as db:
            db.execute("DELETE FROM runs")
        db.close()
    arrays = {p: p.read_bytes() for p in (store_copy / "arrays").rglob("*.npz")}
    for command in (["run", STUDY, "--quick", "--seeds", 1, "--out", store_copy], ["report", store_copy]):
        result = _invoke(*command)
        assert result.exit_code == 1, result.output
        message = _message(result)
        assert f"Error: The catalog {catalog} lists no runs, but {store_copy}/arrays holds 2 run files" in message
        assert "the catalog was emptied or replaced" in message
    assert {p: p.read_bytes() for p in (store_copy / "arrays").rglob("*.npz")} == arrays


# Two writers


def test_a_second_writer_exits_1_naming_the_first(store_copy):
    before = _seconds(store_copy)
    (store_copy / "arrays" / STUDY / "rho=0.5.npz").unlink()  # work the second writer would do
    with Store(store_copy).write_lock():
        result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--out", store_copy)
    assert result.exit_code == 1
    assert (f"Error: The run store at {store_copy} is being written by another process: PID {os.getpid()} on host"
            in _message(result))
    assert "One writer at a time" in _message(result)
    assert _seconds(store_copy) == {"rho=1.5": before["rho=1.5"]}


def test_other_seeds_than_a_live_writer_recorded_exit_2_naming_both(tmp_path):
    out = tmp_path / "runs"
    writer = Store(out)
    with writer.write_lock():
        writer.set_meta(f"study/{STUDY}", {"quick": True, "seeds": 2, "runs": ["rho=0.5", "rho=1.5"]})
        result = _invoke("run", STUDY, "--quick", "--seeds", 5, "--out", out)
    assert result.exit_code == 2
    assert (f"which runs study '{STUDY}' with quick=True, seeds=2; running it with quick=True, seeds=5 would mix them"
            in _message(result))
    assert Store(out).studies() == []


_SLOW_RUN = """
import sys, time
from gradtrace.store import Store
from gradtrace.cli import main

put = Store.put


def slow_put(self, *args, **kwargs):  # keeps the writer busy while the test starts a second one
    time.sleep(60)
    return put(self, *args, **kwargs)


Store.put = slow_put
sys.argv = ["gradtrace", *sys.argv[1:]]
main()
"""


def test_two_gradtrace_run_processes_one_writes_the_other_is_refused(tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    arguments = ["run", STUDY, "--quick", "--out", str(out)]
    command = [sys.executable, "-c", "from gradtrace.cli import main; main()", *arguments]
    first = subprocess.Popen([sys.executable, "-c", _SLOW_RUN, *arguments, "--seeds", "1", "--workers", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "writer.lock").is_file() or not (out / "writer.lock").read_text():
            assert first.poll() is None and time.monotonic() < deadline, "the first writer did not start"
            time.sleep(0.1)
        other_seeds = subprocess.run([*command, "--seeds", "2"], env=env, capture_output=True, text=True)
        same_seeds = subprocess.run([*command, "--seeds", "1"], env=env, capture_output=True, text=True)
    finally:
        first.kill()
        first.wait()
    assert other_seeds.returncode == 2, other_seeds.stderr
    assert (f"is being written by another process (PID {first.pid} on host" in other_seeds.stderr
            and f"which runs study '{STUDY}' with quick=True, seeds=1; running it with quick=True, seeds=2 would mix "
            "them" in other_seeds.stderr)
    assert same_seeds.returncode == 1, same_seeds.stderr
    assert f"is being written by another process: PID {first.pid} on host" in same_seeds.stderr
    assert f"(`gradtrace run {STUDY} --quick --out {out} --seeds 1 --workers 1`)" in same_seeds.stderr
    assert "Traceback" not in other_seeds.stderr + same_seeds.stderr
    assert Store(out).studies() == []  # the refused writers did no work


def test_threads_beyond_any_machine_exit_2_before_a_folder_is_made(tmp_path):
    out = tmp_path / "runs"
    result = _invoke("run", STUDY, "--quick", "--threads", 100000, "--out", out)
    assert result.exit_code == 2
    assert "`--threads` must be at most" in _message(result) and "got 100000" in _message(result)
    assert not out.exists()


def test_report_of_an_empty_folder_name_exits_2_instead_of_reading_the_current_folder():
    result = _invoke("report", "")
    assert result.exit_code == 2
    assert "`FOLDER` must be a run folder written by `gradtrace run`, got ''; for the current folder, give '.'." in (
        _message(result))


def test_a_report_that_cannot_be_written_exits_1_keeping_the_runs(store_copy):
    (store_copy / "report.html").unlink(missing_ok=True)
    (store_copy / "report.html").mkdir()  # a folder in the way of the file
    before = _files(store_copy / "arrays")
    result = _invoke("report", store_copy)
    assert result.exit_code == 1
    assert f"Cannot write the report to {store_copy / 'report.html'}:" in _message(result)
    assert "are untouched" in _message(result)
    assert _files(store_copy / "arrays") == before and not (store_copy / "report.html.tmp").exists()


# Damaged catalog rows and index


def _damage_row(out, how, name="rho=0.5"):
    with sqlite3.connect(out / "catalog.sqlite") as db:
        (summary,) = db.execute("SELECT summary FROM runs WHERE study = ? AND name = ?", (STUDY, name)).fetchone()
        key = summary.index('"') + 3
        # A bit flip in a key keeps the JSON valid; one in a brace breaks it.
        summary = summary[:key] + "?" + summary[key + 1:] if how == "key" else summary[:-1] + "|"
        db.execute("UPDATE runs SET summary = ? WHERE study = ? AND name = ?", (summary, STUDY, name))
    db.close()


@pytest.mark.parametrize("how", ["key", "json"])
def test_a_damaged_catalog_row_is_listed_by_report_and_redone_by_run(store_copy, how):
    before = _seconds(store_copy)
    _damage_row(store_copy, how)
    result = _invoke("report", store_copy)
    assert result.exit_code == 0, result.output
    assert (f"Damaged, not in the report: {STUDY}/rho=0.5: its catalog row in {store_copy}/catalog.sqlite"
            in _message(result))
    page = (store_copy / "report.html").read_text(encoding="utf-8")
    assert "1 run(s) of this study are damaged" in page and "data:image/png;base64" in page
    result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--workers", 1, "--out", store_copy)
    assert result.exit_code == 0, result.output
    assert f"{STUDY}: run 'rho=0.5' is damaged (its catalog row in" in _message(result)
    after = _seconds(store_copy)
    assert after.keys() == {"rho=0.5", "rho=1.5"} and after["rho=1.5"] == before["rho=1.5"]
    assert Store(store_copy).damaged(STUDY) == {}


def test_a_flip_in_the_index_page_is_repaired_not_a_phantom_run(store_copy):
    catalog = store_copy / "catalog.sqlite"
    with sqlite3.connect(catalog) as db:
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_runs_1'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(catalog.read_bytes())
    data[page * size - 8] ^= 0x01
    catalog.write_bytes(bytes(data))
    with sqlite3.connect(catalog) as db:
        assert "missing from index" in db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    before = _seconds(store_copy)
    assert _invoke("report", store_copy).exit_code == 0
    result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--workers", 1, "--out", store_copy)
    assert result.exit_code == 0, result.output
    assert _seconds(store_copy) == before  # nothing redone, no phantom row
    with sqlite3.connect(catalog) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    db.close()


def test_out_inside_another_stores_arrays_folder_exits_2(store_copy):
    result = _invoke("run", STUDY, "--quick", "--seeds", 1, "--out", store_copy / "arrays")
    assert result.exit_code == 2, result.output
    assert (f"`--out` must not lie inside another run store's arrays folder, got '{store_copy}/arrays', which is "
            f"inside the run store at '{store_copy}'") in _message(result)
    assert not (store_copy / "arrays" / "catalog.sqlite").exists()


def test_report_of_runs_that_lost_their_rows_says_how_to_recompute_just_them(store_copy):
    # One intact row elsewhere, so the catalog is not emptied as a whole (that is refused on opening); the
    # study whose rows were all lost still gets its section.
    Store(store_copy).put("demo", "kept", {"x": np.arange(3)}, config={}, summary={})
    with sqlite3.connect(store_copy / "catalog.sqlite") as db:
        lost = [name for (name,) in db.execute("SELECT name FROM runs WHERE study = ?", (STUDY,))][:2]
        db.execute(f"DELETE FROM runs WHERE name IN ({', '.join('?' * len(lost))})", lost)
    db.close()
    result = _invoke("report", store_copy)
    assert result.exit_code == 0, result.output
    page = (store_copy / "report.html").read_text(encoding="utf-8")
    assert "2 of these runs lost their catalog rows" in page and "delete their arrays files" in page
    assert "to redo exactly these runs" not in page
