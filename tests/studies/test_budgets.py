"""Named budgets: a study's default, quick and paper configs, chosen by `run --budget` and kept apart in a store."""

import json

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.store import Store
from gradtrace.studies import (
    Hochreiter1997,
    Hochreiter1997Config,
    Le2015,
    ThroughTime,
    check_resume,
    run_study,
    summarize,
)
from gradtrace.studies.base import BUDGETS, studies_with_budget
from gradtrace.studies.claims import evaluate_claims

runner = CliRunner()
# A paper config the size of a smoke test, patched in where a test runs the "paper" budget end to end.
TINY = Hochreiter1997Config(models=("lstm",), lengths=(20,), hidden_size=4, steps=4, batch_size=4, eval_every=2,
                            eval_batch_size=16)


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_the_classic_adding_studies_have_a_paper_budget_and_no_other_does():
    assert BUDGETS == ("default", "quick", "paper")
    assert studies_with_budget("paper") == ["hochreiter1997", "le2015"]
    assert Hochreiter1997.budgets() == Le2015.budgets() == BUDGETS
    assert ThroughTime.budgets() == ("default", "quick")
    with pytest.raises(ValueError, match="Unknown budget 'huge' for `budget`"):
        studies_with_budget("huge")


@pytest.mark.parametrize("cls", [Hochreiter1997, Le2015])
def test_a_paper_budget_resolves_to_a_valid_config_at_the_papers_length(cls):
    study = cls().with_budget("paper")
    config = study.resolve()
    assert study.budget == "paper" and config is cls.paper_config
    assert type(config)(**config.model_dump()) == config  # it validates like any config
    assert config.steps > cls.config_class().steps and set(config.lengths) & {100, 150}
    assert {"lstm-solves-adding", "irnn-clearly-below-baseline"} & {c.name for c in study.claims(quick=False, seeds=5)}
    moved = study.with_seed_offset(7)
    assert moved.budget == "paper" and moved.resolve().seed == config.seed + 7
    assert cls().with_budget("default").resolve() == cls.config_class()


def test_a_study_without_a_paper_budget_is_refused_naming_those_with_one():
    with pytest.raises(ValueError, match="'through-time' has no 'paper' budget. Studies with one: hochreiter1997, "
                                         "le2015"):
        ThroughTime().with_budget("paper")


def test_a_resume_with_another_budget_is_refused_and_summary_json_names_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(Hochreiter1997, "paper_config", TINY)
    paper = Hochreiter1997().with_budget("paper")
    store = Store(tmp_path / "paper")
    run_study(paper, store, seeds=1)
    (entry,) = summarize(store)["studies"]
    assert entry["budget"] == "paper" and entry["quick"] is False and entry["config"] == TINY.model_dump(mode="json")
    assert [v.name for v in evaluate_claims(store, "hochreiter1997")] == ["lstm-solves-adding"]
    check_resume(paper, store, seeds=1)  # the same budget resumes
    with pytest.raises(ValueError, match="budget='paper'.*budget='quick'"):
        check_resume(Hochreiter1997(), store, quick=True, seeds=1)
    with pytest.raises(ValueError, match="budget='paper'.*budget='default'"):
        check_resume(Hochreiter1997(), store, seeds=1)


def test_a_store_from_before_budgets_reads_as_quick_or_default(tmp_path):
    store = Store(tmp_path / "old")
    store.put("hochreiter1997", "lstm-T20", {}, config={}, summary={})
    store.set_meta("study/hochreiter1997", {"quick": True, "seeds": 1})
    assert summarize(store)["studies"][0]["budget"] == "quick"
    with pytest.raises(ValueError, match="budget='quick'.*budget='paper'"):
        check_resume(Hochreiter1997().with_budget("paper"), store, seeds=1)


@pytest.mark.parametrize(("args", "shown"), [
    (("--budget", "paper"), "the course has no paper budget; name a study that has one: hochreiter1997, le2015"),
    (("through-time", "--budget", "paper"), "Studies with one: hochreiter1997, le2015"),
    (("le2015", "--quick", "--budget", "paper"), "`--quick` is `--budget quick` and conflicts with `--budget paper`"),
    (("le2015", "--budget", "huge"), "Unknown budget 'huge' for `--budget`"),
])
def test_run_refuses_a_budget_it_cannot_run_before_writing_anything(tmp_path, args, shown):
    result = _invoke("run", *args, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert shown in " ".join(result.stderr.split())
    assert not (tmp_path / "runs").exists()


def test_run_budget_paper_runs_the_paper_config_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(Hochreiter1997, "paper_config", TINY)
    out = tmp_path / "runs"
    result = _invoke("run", "hochreiter1997", "--budget", "paper", "--seeds", 1, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((out / "summary.json").read_text(encoding="utf-8"))["studies"]
    assert entry["budget"] == "paper" and entry["runs"]["finished"] == 1 and entry["seconds"] > 0
    assert "Paper budget" in (out / "report.html").read_text(encoding="utf-8")
    again = _invoke("run", "hochreiter1997", "--seeds", 1, "--out", out)
    assert again.exit_code == 2 and "budget='paper'" in " ".join(again.stderr.split())
