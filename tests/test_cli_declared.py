"""The command line with study files: new-study, show, and run FILE.toml (--yes for large grids)."""

import json

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.studies.declared import schema

runner = CliRunner()


def test_the_new_study_template_runs_as_it_is_and_its_claims_are_decided(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(app, ["new-study", "my-study"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == "my-study.toml" and (tmp_path / "my-study.toml").is_file()
    result = runner.invoke(app, ["run", "my-study.toml", "--out", "out", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "my-study: 2 of 2 claims held" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [study["name"] for study in summary["studies"]] == ["my-study"]
    assert summary["studies"][0]["runs"] == {"finished": 4, "planned": 4, "damaged": []}


def test_new_study_never_overwrites_and_checks_the_name(tmp_path):
    target = tmp_path / "mine.toml"
    target.write_text("keep me", encoding="utf-8")
    result = runner.invoke(app, ["new-study", "mine", "--out", str(target)])
    assert result.exit_code == 2 and "exists already" in result.output
    assert target.read_text(encoding="utf-8") == "keep me"
    result = runner.invoke(app, ["new-study", "My Study", "--out", str(tmp_path / "x.toml")])
    assert result.exit_code == 2 and "lowercase letters" in result.output


def test_show_prints_a_builtin_study_and_its_toml(tmp_path):
    result = runner.invoke(app, ["show", "le2015", "--quick"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("le2015: Le, Jaitly & Hinton 2015") and "Config (quick):" in result.stdout
    exported = runner.invoke(app, ["show", "le2015", "--toml", "--quick", "--seeds", "2"])
    path = tmp_path / "le.toml"
    path.write_text(exported.stdout, encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "le2015:" in result.output
    unknown = runner.invoke(app, ["show", "le2016"])
    assert unknown.exit_code == 2 and "Available:" in unknown.output


def test_run_refuses_quick_with_a_file_and_names_bad_files(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('study = "le2015"\n', encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--quick", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "`--quick` does not apply to a study file" in result.output
    path.write_text('study = "le2015"\nseeds = [\n', encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and f"{path}:2:" in result.output
    missing = runner.invoke(app, ["run", str(tmp_path / "none.toml"), "--out", str(tmp_path / "out")])
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.fixture
def three_runs_at_most(monkeypatch):
    monkeypatch.setattr(schema, "MAX_RUNS", 3)


def test_a_large_grid_runs_only_with_yes(tmp_path, three_runs_at_most):
    path = tmp_path / "big.toml"
    path.write_text('name = "big"\nseeds = 1\n[train]\nsteps = 2\nbatch_size = 2\n[models.m]\ntype = "elman"\n'
                    'hidden_size = 2\nreadout = "last"\n[tasks.t]\ntype = "adding"\nlength = 4\n'
                    '[grid]\nlr = [0.1, 0.2, 0.3, 0.4]\n', encoding="utf-8")
    refused = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 2 and "declares 4 runs (4 lr), more than 3" in refused.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["run", str(path), "--yes", "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "out" / "summary.json").read_text())["studies"][0]["claims"]) == 0


def test_the_readme_example_runs_and_decides_its_claim(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "clip-or-not.toml"
    path.write_text(block, encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "clip-or-not: 1 of 1 claims held" in result.output
