"""The course end to end, as a new user runs it: `gradtrace run` with no argument, every claim held.

This is the promise of the README's main job: each section of the course is sized so its claims hold, and the
report says so with numbers. It takes a few minutes on two cores (the course's budget is five); it is the one
slow test of the suite, on purpose.
"""

import json
import re

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.report import write_report
from gradtrace.studies.course import COURSE


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "runs"
    result = CliRunner().invoke(app, ["run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_the_course_runs_every_section_in_order_at_full_size(course):
    _, _, summary = course
    assert [study["name"] for study in summary["studies"]] == list(COURSE)
    for study in summary["studies"]:
        assert not study["quick"] and "note" not in study, study["name"]
        assert study["runs"]["finished"] == study["runs"]["planned"] > 0, study["name"]
        assert study["claims"], f"section {study['name']} states no claim"


def test_every_claim_of_the_course_holds(course):
    _, _, summary = course
    not_held = [f"{study['name']}/{claim['name']}: {claim['sentence']['en']}"
                for study in summary["studies"] for claim in study["claims"] if claim["verdict"] != "held"]
    assert not not_held, "\n".join(not_held)
    assert summary["claims"]["held"] == summary["claims"]["total"] > 0


def test_the_terminal_prints_each_claim_and_the_count(course):
    _, result, summary = course
    total = summary["claims"]["total"]
    assert f"{total} of {total} claims held" in " ".join(result.stderr.split())
    assert result.stderr.count("✓ ") == total and "✗ " not in result.stderr


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_the_report_shows_every_section_and_every_claim_in_both_languages(course, lang):
    out, _, summary = course
    document = write_report(out, out / f"course-{lang}.html", lang=lang).read_text(encoding="utf-8")
    assert re.findall(r'<section id="([^"]+)"', document) == list(COURSE)
    for study in summary["studies"]:
        for claim in study["claims"]:
            sentence = claim["sentence"][lang].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert sentence.replace('"', "&quot;").replace("'", "&#x27;") in document, claim["name"]
    assert "Quick mode" not in document and "Modo rápido" not in document
