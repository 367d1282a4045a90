"""The gradtrace command: runs, resumes and reports; exit codes and messages, never tracebacks."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import ThroughTime
from gradtrace.studies.course import COURSE

runner = CliRunner()


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    # A deep folder: the printed path must survive a narrow console without being wrapped.
    out = (
        tmp_path_factory.mktemp("cli")
        / "a-rather-long-folder-name-for-the-runs"
        / "of-the-quick-smoke-test"
    )
    result = _invoke("run", "--quick", "--seeds", 2, "--out", out)
    return out, result


def test_run_quick_writes_the_store_and_prints_the_report_path(quick_run):
    out, result = quick_run
    assert result.exit_code == 0, result.output
    printed = Path(result.stdout.strip().splitlines()[-1])
    assert printed == out / "report.html" and printed.is_file()
    assert "data:image/png;base64" in printed.read_text(encoding="utf-8")
    store = Store(out, create=False)
    assert store.studies() == sorted(COURSE)
    meta = store.meta("study/through-time")
    assert {key: meta[key] for key in ("quick", "seeds", "runs")} == {
        "quick": True,
        "seeds": 2,
        "runs": ["rho=0.5", "rho=1.5"],
    }
    assert meta["config"] == ThroughTime.quick_config.model_dump(mode="json")
    assert "Writing runs to" in result.stderr
    assert "through-time: The gradient through time" in " ".join(result.stderr.split())
    assert all(f"{name}:" in result.stderr for name in COURSE)


def test_run_prints_the_claims_and_how_many_held_and_writes_them_to_summary_json(quick_run):
    out, result = quick_run
    assert result.exit_code == 0, result.output  # even when a claim is not held
    lines = result.stderr.strip().splitlines()
    claims = [line for line in lines if line[:2] in ("✓ ", "✗ ")]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    held, total = summary["claims"]["held"], summary["claims"]["total"]
    assert total == len(claims) > 0
    # The last line may wrap at the console's width; joined, it is the count and the quick-mode note.
    tail = " ".join(result.stderr.split()).rsplit("✓ ", 1)[-1].rsplit("✗ ", 1)[-1]
    assert f" {held} of {total} claims held. " in tail and tail.endswith("not meaningful.")
    assert "through-time: " in result.stderr and "claims held (quick mode: not meaningful)" in result.stderr
    assert [study["name"] for study in summary["studies"]] == list(COURSE)
    assert all(study["quick"] for study in summary["studies"]) and summary["wall_seconds"] > 0
    report = (out / "report.html").read_text(encoding="utf-8")
    claimed = sum(bool(study["claims"]) for study in summary["studies"])
    assert report.count('<ul class="claims">') == claimed and ("✓ held" in report or "✗ not held" in report)


def test_report_regenerates_the_report_of_a_run_folder(quick_run):
    out, _ = quick_run
    (out / "report.html").unlink()
    (out / "summary.json").unlink()
    result = _invoke("report", out)
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == out / "report.html"
    assert (out / "report.html").is_file()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["studies"]


def test_running_again_resumes_without_redoing_finished_runs(tmp_path):
    out = tmp_path / "runs"
    first = _invoke("run", "--quick", "--seeds", 1, "--out", out)
    assert first.exit_code == 0, first.output
    assert "already finished" not in first.output
    catalog = {
        name: Store(out).get(name, run).seconds
        for name in ("through-time", "exploding")
        for run in Store(out).names(name)
    }
    second = _invoke("run", "--quick", "--seeds", 1, "--out", out)
    assert second.exit_code == 0, second.output
    assert "through-time: 2 of 2 runs already finished, resuming." in second.stderr
    assert "exploding: 2 of 2 runs already finished, resuming." in second.stderr
    store = Store(out)
    assert catalog == {
        name: store.get(name, run).seconds
        for name, run in ((n, r) for n in ("through-time", "exploding") for r in store.names(n))
    }
    # Resuming with other options would mix quick and full runs: refused, nothing run.
    third = _invoke("run", "through-time", "--seeds", 1, "--out", out)
    assert third.exit_code == 2
    assert "quick=True, seeds=1" in " ".join(third.stderr.split())


def test_run_an_unknown_study_exits_2_with_the_choices(tmp_path):
    result = _invoke("run", "nosuch", "--out", tmp_path / "runs")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "Error: Unknown study 'nosuch'" in message and "'through-time', 'exploding'" in message
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seeds", [0, -3])
def test_run_with_no_seeds_exits_2(tmp_path, seeds):
    result = _invoke("run", "--quick", "--seeds", seeds, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert f"`--seeds` must be at least 1, got {seeds}" in " ".join(result.stderr.split())
    assert not (tmp_path / "runs").exists()


def test_report_of_a_missing_folder_exits_2(tmp_path):
    result = _invoke("report", tmp_path / "missing")
    assert result.exit_code == 2
    assert "no such folder" in " ".join(result.stderr.split())


def test_report_of_a_folder_without_a_store_exits_1(tmp_path):
    result = _invoke("report", tmp_path)
    assert result.exit_code == 1
    assert "No gradtrace run store" in " ".join(result.stderr.split())


def test_report_of_a_store_without_runs_exits_2(tmp_path):
    Store(tmp_path)
    result = _invoke("report", tmp_path)
    assert result.exit_code == 2
    assert "has no runs to report yet" in " ".join(result.stderr.split())


def test_list_names_the_studies_tasks_and_models():
    result = _invoke("list")
    assert result.exit_code == 0, result.output
    for name in (
        "through-time",
        "long-range",
        "(course §1)",
        "Tasks: adding, copy_memory, latch, temporal_order",
        "Models: elman, lstm, gru",
    ):
        assert name in result.stdout, name


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["run", "[/bold]"], "Unknown study '[/bold]'"),
        (["report", "runs/[red]x"], "got 'runs/[red]x'"),
    ],
)
def test_user_input_in_messages_is_not_read_as_markup(tmp_path, monkeypatch, args, shown):
    # Regression: rich read '[/bold]' as a closing tag and crashed with a MarkupError.
    monkeypatch.chdir(tmp_path)
    result = _invoke(*args)
    assert result.exit_code == 2
    assert shown in " ".join(result.stderr.split())


def test_ctrl_c_exits_130_and_reports_what_finished(tmp_path, monkeypatch):
    import gradtrace.studies as studies  # the command imports run_study from here when it runs

    real_run_study = studies.run_study

    def interrupted_at_long_range(study, store, **options):
        if study.name == "exploding":
            raise RunInterrupted("Study 'exploding' interrupted during run 'rho3-none'.")
        return real_run_study(study, store, **options)

    monkeypatch.setattr(studies, "run_study", interrupted_at_long_range)
    out = tmp_path / "runs"
    result = _invoke("run", "--quick", "--seeds", 1, "--out", out)
    assert result.exit_code == 130
    message = " ".join(result.stderr.split())
    assert "Interrupted. Study 'exploding' interrupted during run 'rho3-none'." in message
    assert "Report of what finished:" in message
    assert (out / "report.html").is_file()


def test_ctrl_c_before_any_run_exits_130(tmp_path, monkeypatch):
    import gradtrace.studies as studies

    def ctrl_c(*args, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(studies, "run_study", ctrl_c)
    result = _invoke("run", "through-time", "--out", tmp_path / "runs")
    assert result.exit_code == 130
    assert "before any run finished" in result.stderr


def test_threads_below_one_are_refused():
    result = _invoke("run", "activations", "--quick", "--threads", 0)
    assert result.exit_code == 2
    assert "`--threads` must be at least 1, got 0." in " ".join(result.stderr.split())


@pytest.mark.parametrize("columns", [80, 60])
def test_terminal_tables_never_cut_a_run_name_or_a_number(quick_run, monkeypatch, columns):
    from rich.console import Console

    import gradtrace.cli as cli
    from gradtrace.studies import STUDIES

    out, _ = quick_run
    # Piped output: rich assumes the width in COLUMNS (80 when unset), whatever the tables need.
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(cli, "console", Console(stderr=True))
    result = _invoke("run", "--quick", "--seeds", 2, "--out", out)  # everything finished: only the summary
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "…" not in result.stderr
    store = Store(out, create=False)
    for study in ("vanishing", "through-depth", "through-time"):
        keys = {key for _, key, _ in STUDIES[study].summary_columns}
        shown = [name for name in store.names(study) if keys & set(store.get(study, name).summary)]
        assert shown
        for name in shown:
            assert any(f"│ {name} " in line for line in lines), (study, name)


def test_a_summary_too_wide_for_the_terminal_is_split_repeating_the_run_name():
    from gradtrace.cli import _tables

    headers = ["held-out loss", "baseline", "horizon after training", "largest gradient norm"]
    rows = [("temporal_order-orthogonal", ["0.0199", "1.3863", "30", "4.19e+06"])]
    tables = _tables("vanishing", headers, rows, width=50)
    assert len(tables) > 1
    assert all(table.columns[0].header == "run" for table in tables)
    assert [c.header for t in tables for c in t.columns[1:]] == headers


def test_run_and_report_in_portuguese(quick_run):
    out, _ = quick_run
    result = _invoke("report", out, "--lang", "pt")
    assert result.exit_code == 0, result.output
    document = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="pt">' in document and "Sumário" in document


@pytest.mark.parametrize("command", ["run", "report"])
def test_an_unknown_language_exits_2_naming_the_available_ones(tmp_path, command):
    args = ["run", "--quick", "--out", tmp_path / "new"] if command == "run" else ["report", tmp_path]
    result = _invoke(*args, "--lang", "fr")
    assert result.exit_code == 2
    assert "--lang" in result.stderr and "'fr'" in result.stderr and "en, pt" in result.stderr
    assert not (tmp_path / "new").exists()


def test_a_seed_offset_reruns_a_study_on_other_seeds_and_is_not_mixed_with_the_first(tmp_path):
    out = tmp_path / "runs"
    first = _invoke("run", "exploding", "--quick", "--seeds", 1, "--seed-offset", 1000, "--out", out)
    assert first.exit_code == 0, first.output
    assert Store(out).meta("study/exploding")["config"]["seed"] == 1000
    assert all(Store(out).get("exploding", run).config["seed"] == 1000 for run in Store(out).names("exploding"))
    second = _invoke("run", "exploding", "--quick", "--seeds", 1, "--seed-offset", 2000, "--out", out)
    assert second.exit_code != 0
    assert "seed=1000" in " ".join(second.stderr.split()) and "seed=2000" in " ".join(second.stderr.split())
    negative = _invoke("run", "exploding", "--quick", "--seed-offset", -1, "--out", tmp_path / "other")
    assert negative.exit_code == 2 and "--seed-offset" in negative.stderr and not (tmp_path / "other").exists()


def test_a_seed_offset_too_large_for_the_members_seeds_is_refused_naming_the_option(tmp_path):
    result = _invoke("run", "exploding", "--quick", "--seed-offset", 2**63, "--out", tmp_path / "runs")
    assert result.exit_code == 2 and "--seed-offset" in result.stderr and not (tmp_path / "runs").exists()


def test_a_store_from_before_configs_were_recorded_refuses_another_seed_offset(tmp_path):
    out = tmp_path / "runs"
    assert _invoke("run", "exploding", "--quick", "--seeds", 1, "--out", out).exit_code == 0
    store = Store(out)
    meta = store.meta("study/exploding")
    del meta["config"]  # as an older gradtrace wrote it: every study on its base seed 0
    store.set_meta("study/exploding", meta)
    result = _invoke("run", "exploding", "--quick", "--seeds", 1, "--seed-offset", 1000, "--out", out)
    assert result.exit_code != 0 and "seed=0" in result.stderr and "seed=1000" in result.stderr
