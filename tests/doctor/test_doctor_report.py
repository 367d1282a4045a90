"""The doctor's HTML report: verdicts first with their evidence, figures embedded, nothing fetched, NaN survived."""

import base64
import dataclasses
import html
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from gradtrace.doctor import diagnose, treat
from gradtrace.doctor.report import write_doctor_report

sys.path.insert(0, str(Path(__file__).parent))
import doctor_cases as cases  # noqa: E402

_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def treatment():
    # The untreated copy diverges on its first steps; rescaling W_hh does not: both kinds of trial in one report.
    return treat(cases.exploding_rnn(), cases.sequence_loss, cases.sequences(), steps=6, seeds=5,
                 remedies=["spectral-radius-0.9", "lower-lr"])


def _offline(page: str) -> None:
    assert "http://" not in page and "https://" not in page and "url(" not in page and "@import" not in page
    assert not re.search(r'(?:src|href)\s*=\s*"(?!data:|#)', page)


def test_the_verdicts_come_first_with_their_evidence_and_where_they_were_found(treatment, tmp_path):
    path = write_doctor_report(treatment.diagnosis, tmp_path / "doctor.html", treatment=treatment,
                               about={"model": "doctor_cases:exploding_rnn"})
    page = path.read_text(encoding="utf-8")
    assert path == tmp_path / "doctor.html" and not list(tmp_path.glob("*.tmp"))
    verdicts = treatment.diagnosis.verdicts
    assert {v.kind for v in verdicts} >= {"exploding"}
    for verdict in verdicts:
        assert html.escape(verdict.evidence) in page
        assert f"found in {verdict.found_in[0]} of {verdict.found_in[1]} batches" in page
        assert f'class="verdict v-{verdict.kind.replace(" ", "-")}"' in page
    assert page.index("<h2>Verdicts</h2>") < page.index("<h2>Through time</h2>") < page.index("<h2>Treatment</h2>")
    assert "doctor_cases:exploding_rnn" in page


def test_the_figures_are_embedded_pngs_and_nothing_is_fetched(treatment, tmp_path):
    page = write_doctor_report(treatment.diagnosis, tmp_path / "r.html", treatment=treatment).read_text("utf-8")
    images = _PNG.findall(page)
    assert len(images) == 3  # through time, through depth, the training curves
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    _offline(page)


def test_the_treatment_shows_the_remedies_the_diverged_copy_and_the_best_code(treatment, tmp_path):
    page = write_doctor_report(treatment.diagnosis, tmp_path / "r.html", treatment=treatment).read_text("utf-8")
    assert treatment.untreated.divergences == 5  # the case this test is about
    assert "<h3>Remedies</h3>" in page and "spectral-radius-0.9" in page and "lower-lr" in page
    assert ">diverged<" in page and "5/5" in page
    best = treatment.best
    assert best is not None and best.name == "spectral-radius-0.9"
    assert f"<pre><code>{html.escape(chr(10).join(best.code))}</code></pre>" in page


def test_the_depth_figure_draws_the_sigmoid_bound_and_the_parameter_table(tmp_path):
    diagnosis = diagnose(cases.deep_sigmoid(), cases.vector_loss, batches=cases.vectors())
    assert diagnosis.depth.sigmoid_bound is not None
    page = write_doctor_report(diagnosis, tmp_path / "r.html").read_text("utf-8")
    assert "The dashed line is the sigmoid bound" in page and "<h2>Through time</h2>" not in page
    assert "<h3>Parameters</h3>" in page
    table = page[page.index("<h3>Parameters</h3>"):]
    assert all(f">{p.name}<" in table for p in diagnosis.parameters)
    assert "<h2>Treatment</h2>" not in page and len(_PNG.findall(page)) == 1


def test_a_diagnosis_without_any_gradient_still_makes_a_report(tmp_path):
    class Overflow(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

        def forward(self, x):
            return self.linear(x) * float("inf")

    diagnosis = diagnose(Overflow(), cases.vector_loss, batches=cases.vectors())
    assert diagnosis.kinds == {"non-finite"} and not diagnosis.parameters and not diagnosis.depth.modules
    page = write_doctor_report(diagnosis, tmp_path / "r.html").read_text("utf-8")
    assert "No gradient was measured through depth" in page and "no finite loss" in page
    assert html.escape(diagnosis.verdicts[0].evidence) in page and not _PNG.findall(page)
    _offline(page)


def test_infinite_and_zero_readings_are_left_out_of_the_log_scale_and_said(treatment, tmp_path):
    reading = treatment.diagnosis.recurrent["rnn"]
    lags, norms = reading.lag_norms.clone(), reading.grad_norms.clone()
    lags[..., -5:] = float("inf")
    norms[..., :3] = 0.0
    broken = dataclasses.replace(treatment.diagnosis, recurrent={"rnn": dataclasses.replace(
        reading, lag_norms=lags, grad_norms=norms, decay_rate=torch.full_like(reading.decay_rate, float("nan")))})
    page = write_doctor_report(broken, tmp_path / "r.html").read_text("utf-8")
    assert "Infinite values are not drawn" in page and "Exact zeros" in page and "×nan" in page


def test_every_lag_missing_draws_a_note_in_the_panel_not_an_error(treatment, tmp_path):
    reading = treatment.diagnosis.recurrent["rnn"]
    empty = dataclasses.replace(reading, lag_norms=torch.full_like(reading.lag_norms, float("nan")),
                                grad_norms=torch.zeros_like(reading.grad_norms))
    broken = dataclasses.replace(treatment.diagnosis, recurrent={"rnn": empty})
    assert write_doctor_report(broken, tmp_path / "r.html").is_file()


def test_it_refuses_what_is_not_a_diagnosis(treatment, tmp_path):
    with pytest.raises(TypeError, match="`diagnosis` must be a Diagnosis"):
        write_doctor_report(treatment, tmp_path / "r.html")
    with pytest.raises(TypeError, match="`treatment` must be a Treatment"):
        write_doctor_report(treatment.diagnosis, tmp_path / "r.html", treatment=treatment.diagnosis)
    assert not list(tmp_path.iterdir())
