"""Run files whose catalog rows were lost: `report` draws the intact runs and lists them; `run` redoes one
(a writer killed between a run's arrays and its row) and refuses to recompute several unasked.

Regression: two lost rows made both commands refuse with "…would silently compute them all again… move the
folder away" (discarding the good runs), and one lost row was silently recomputed / absent from the report.
"""

import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

import gradtrace as gt
from gradtrace.cli import app
from gradtrace.errors import StoreError

STUDY = "through-time"  # two quick runs: rho=0.5 and rho=1.5
runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("lost-rows") / "runs"
    gt.run_study(STUDY, out, quick=True, seeds=1)
    return out


@pytest.fixture
def store_copy(finished, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished, out)
    return out


def _lose_rows(out, names):
    with sqlite3.connect(out / "catalog.sqlite") as db:
        for name in names:
            db.execute("DELETE FROM runs WHERE study = ? AND name = ?", (STUDY, name))
    db.close()


def _two_unlisted(out):
    # A third run file (as a larger grid would have), then two rows lost of three runs.
    folder = out / "arrays" / STUDY
    shutil.copy(folder / "rho=0.5.npz", folder / "rho=0.9.npz")
    _lose_rows(out, ["rho=0.5"])
    return out


def _seconds(out):
    store = gt.Store(out)
    return {name: store.get(STUDY, name).seconds for name in store.finished(STUDY)}


def test_run_study_refuses_to_recompute_several_lost_runs_counting_and_naming_them(store_copy):
    _two_unlisted(store_copy)
    before = _seconds(store_copy)
    with pytest.raises(StoreError, match=(
            rf"has no row for 2 run files of study '{STUDY}' in .*arrays/{STUDY} \(rho=0.5.npz, rho=0.9.npz\): "
            r"their rows were lost, and running would compute these 2 runs again without telling\. To recompute "
            r"just them, delete those 2 files and run the same command again; or restore catalog.sqlite from a "
            r"backup\. The study's 1 intact finished run\(s\) are kept either way")):
        gt.run_study(STUDY, store_copy, quick=True, seeds=1)
    assert _seconds(store_copy) == before
    # Deleting exactly those files (the advice) recomputes just them and keeps the intact run.
    for name in ("rho=0.5", "rho=0.9"):
        (store_copy / "arrays" / STUDY / f"{name}.npz").unlink()
    result = gt.run_study(STUDY, store_copy, quick=True, seeds=1)
    assert result.ran == ["rho=0.5"] and result.skipped == ["rho=1.5"]
    assert _seconds(store_copy)["rho=1.5"] == before["rho=1.5"]


def test_one_lost_row_is_redone_and_said(store_copy):
    _lose_rows(store_copy, ["rho=0.5"])
    result = runner.invoke(app, ["run", STUDY, "--quick", "--seeds", "1", "--workers", "1", "--out", str(store_copy)])
    assert result.exit_code == 0, result.output
    message = " ".join(result.output.split())
    assert f"{STUDY}: run 'rho=0.5' is damaged (its catalog row is missing from" in message
    assert gt.Store(store_copy).finished(STUDY) == {"rho=0.5", "rho=1.5"}


def test_cli_report_draws_the_intact_runs_and_run_refuses_with_advice_that_keeps_them(store_copy):
    _two_unlisted(store_copy)
    result = runner.invoke(app, ["report", str(store_copy)])
    assert result.exit_code == 0, result.output
    message = " ".join(result.stderr.split())
    assert f"{STUDY}/rho=0.5: its catalog row is missing from" in message
    assert f"{STUDY}/rho=0.9: its catalog row is missing from" in message
    page = (store_copy / "report.html").read_text(encoding="utf-8")
    assert "2 run(s) of this study are damaged" in page and "data:image/png;base64" in page
    result = runner.invoke(app, ["run", STUDY, "--quick", "--seeds", "1", "--out", str(store_copy)])
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert "has no row for 2 run files" in message and "delete those 2 files" in message
    assert "running it again" not in " ".join(result.output.split())  # refused before any warning says so
    assert "move the folder away" not in message and "them all" not in message
