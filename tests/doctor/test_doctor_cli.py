"""`gradtrace doctor`: import paths, the report and the JSON, --fail-on's exit code 3, and exit 2 on bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app

runner = CliRunner()
CASES = Path(__file__).parent / "doctor_cases.py"


def at(attribute: str) -> str:
    """The file-path form of an import path into the test subjects."""
    return f"{CASES}:{attribute}"


RNN = [at("exploding_rnn"), "--loss", at("sequence_loss"), "--data", at("sequences")]
MLP = [at("healthy_mlp"), "--loss", at("vector_loss"), "--data", at("vectors")]


def _doctor(*args):
    result = runner.invoke(app, ["doctor", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_fail_on_exploding_exits_3_on_an_exploding_rnn_and_writes_the_report_and_json(tmp_path):
    out = tmp_path / "reports" / "rnn.html"  # a missing folder is made
    result = _doctor(*RNN, "--out", out, "--fail-on", "exploding")
    assert result.exit_code == 3, result.output
    assert "EXPLODING" in result.stdout and "gradtrace doctor: 2 batch(es)" in result.stdout
    assert result.stdout.strip().splitlines()[-2:] == [str(out.with_suffix(".json")), str(out)]
    assert "Found: exploding (named in --fail-on)" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "the last step&#x27;s error grows" in page
    document = _strict(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert [v["kind"] for v in document["verdicts"] if v["where"] == "rnn"] == ["exploding"]
    assert document["failed"] == ["exploding"] and document["treatment"] is None
    assert document["recurrent"]["rnn"]["kind"] == "RNN_RELU" and document["model"] == at("exploding_rnn")


def test_a_healthy_model_exits_0_whatever_fail_on_names_in_any_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _doctor(*MLP, "--fail-on", "Exploding, vanishing,dead-units,dead units,non_finite", "--mode", "eval")
    assert result.exit_code == 0, result.output
    assert "HEALTHY" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "doctor-report.html"  # the default, in the current folder
    document = _strict((tmp_path / "doctor-report.json").read_text(encoding="utf-8"))
    assert {v["kind"] for v in document["verdicts"]} == {"healthy"}
    assert document["fail_on"] == ["exploding", "vanishing", "dead units", "non-finite"] and document["failed"] == []


def test_a_module_path_and_a_list_of_batches_work_as_well_as_a_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(CASES.parent))
    result = _doctor("doctor_cases:healthy_mlp", "--loss", "doctor_cases:vector_loss", "--data",
                     "doctor_cases:VECTORS", "--out", tmp_path / "r.html", "--json", tmp_path / "elsewhere.json")
    assert result.exit_code == 0, result.output
    assert _strict((tmp_path / "elsewhere.json").read_text(encoding="utf-8"))["batches"] == 2


def test_treat_prints_the_remedies_table_and_the_report_holds_it(tmp_path):
    out = tmp_path / "treated.html"
    result = _doctor(*RNN, "--treat", "--steps", 4, "--seeds", 2, "--remedies", "spectral-radius-0.9,lower-lr",
                     "--out", out)
    assert result.exit_code == 0, result.output
    table = result.stdout[result.stdout.index("gradtrace treat:"):]
    assert "2 remedies, 4 steps, 2 seed(s)" in table
    assert all(name in table for name in ("remedy", "untreated", "spectral-radius-0.9", "lower-lr", "diverged"))
    assert "<h3>Remedies</h3>" in out.read_text(encoding="utf-8")
    treatment = _strict(out.with_suffix(".json").read_text(encoding="utf-8"))["treatment"]
    assert [t["name"] for t in treatment["trials"]] == ["spectral-radius-0.9", "lower-lr"]
    assert treatment["untreated"]["final_losses"] == ["inf", "inf"]  # diverged: strict JSON says so in words


BAD = [
    (["mymodel", "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL` must be an import path 'package.module:attribute' or 'path/to/file.py:attribute', got 'mymodel'"),
    (["no_such_module_qq:make", "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL`: no module named 'no_such_module_qq'"),
    (["/no/such/folder/model.py:make", "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL`: no such file '/no/such/folder/model.py'"),
    ([at("no_such_factory"), "--loss", at("vector_loss"), "--data", at("vectors")],
     "has no attribute 'no_such_factory'"),
    ([at("NOT_CALLABLE"), "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL` must name a torch.nn.Module or a callable that returns one, got 3"),
    ([at("broken_factory"), "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL`: broken_factory() raised RuntimeError: weights file not found"),
    ([at("not_a_model"), "--loss", at("vector_loss"), "--data", at("vectors")],
     "`MODEL`: not_a_model() returned 'a string'; expected a torch.nn.Module"),
    ([*MLP[:2], at("NOT_CALLABLE"), *MLP[3:]], "`--loss` must name a function loss_fn(model, batch)"),
    ([*MLP[:2], "doctor_cases", *MLP[3:]], "`--loss` must be an import path"),
    ([*MLP[:2], at("raising_loss"), *MLP[3:]], "`--loss` ("),
    ([*MLP[:4], at("NOT_CALLABLE")], "`--data` must give a list of batches"),
    ([*MLP, "--fail-on", "exploding,explode"],
     "`--fail-on`: unknown verdict kind 'explode'. Expected a comma-separated list of: non-finite, exploding, "
     "vanishing, dead-units, healthy."),
    ([*MLP, "--remedies", "lower-lr"], "`--remedies` only apply to the remedies `--treat` tries"),
    ([*MLP, "--treat", "--remedies", "magic"], "`--remedies`: unknown remedy 'magic'"),
    ([*MLP, "--treat", "--seeds", 0], "`--seeds`"),
    ([*MLP, "--mode", "inference"], "`--mode` must be one of train, eval, as-is, got 'inference'"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[
    "no-colon", "no-module", "no-file", "no-attribute", "model-not-callable", "factory-raises", "not-a-module",
    "loss-not-callable", "loss-no-colon", "loss-raises", "data-not-batches", "fail-on", "remedies-without-treat",
    "unknown-remedy", "seeds", "mode"])
def test_bad_input_exits_2_with_one_line_naming_the_option(args, message, tmp_path):
    result = _doctor(*args, "--out", tmp_path / "r.html")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.json").exists()


def test_the_loss_error_says_what_the_loss_function_raised(tmp_path):
    result = _doctor(*MLP[:2], at("raising_loss"), *MLP[3:], "--out", tmp_path / "r.html")
    assert result.exit_code == 2
    assert "loss_fn(model, batch) raised KeyError on batch 0: 'target'" in result.stderr


def test_python_m_gradtrace_cli_runs_the_command(tmp_path):
    # The installed `gradtrace` script calls main(); `python -m gradtrace.cli` must too.
    source = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *sys.path])}
    done = subprocess.run([sys.executable, "-m", "gradtrace.cli", "doctor", *MLP, "--fail-on", "healthy"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "doctor-report.html").is_file()


STEPPED = '''
import torch
from torch import nn


class Step(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x, h):
        return torch.tanh(self.lin(torch.cat([x, h], -1)))


class Looped(nn.Module):
    def __init__(self):
        super().__init__()
        self.step = Step()
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = x.new_zeros(x.shape[0], 4)
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
        return self.head(h)


def loss(model, batch):
    return model(batch).square().mean()


def batches():
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(3, 12, 2, generator=generator)]
'''


def test_recurrent_names_a_custom_step_module_to_trace_through_time(tmp_path):
    source = tmp_path / "stepped.py"
    source.write_text(STEPPED, encoding="utf-8")
    args = [f"{source}:Looped", "--loss", f"{source}:loss", "--data", f"{source}:batches",
            "--out", tmp_path / "r.html"]
    plain = _doctor(*args)
    assert plain.exit_code == 0, plain.output
    assert "`recurrent=`" in " ".join(plain.stdout.split())  # the note that suggests naming the step
    traced = _doctor(*args, "--recurrent", "step")
    assert traced.exit_code == 0, traced.output
    document = _strict((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert document["recurrent"]["step"]["kind"] == "step" and document["recurrent"]["step"]["steps"] == 12
    wrong = _doctor(*args, "--recurrent", "stpe")
    assert wrong.exit_code == 2 and "`--recurrent` names 'stpe'" in wrong.output and "step.lin" in wrong.output
