"""The speed suite runs end to end in its quick form, writes every figure it promises, and counts FLOPs right."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gradtrace.models import GRU, LSTM, ElmanRNN

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "run.py"


@pytest.fixture
def suite(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # run.py imports its sibling bench_step
    for name in ("run", "bench_step"):  # imported afresh, and gone from sys.modules afterwards
        monkeypatch.delitem(sys.modules, name, raising=False)
    import run

    return run


def test_quick_suite_writes_settings_machine_sections_and_goals(tmp_path):
    out = tmp_path / "suite.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(out.read_text())
    assert set(summary) == {"settings", "machine", "steps", "large_hidden", "jax", "default_run", "goals"}
    assert summary["settings"]["lengths"] == [5, 10]
    assert summary["settings"]["threads"] == 1
    assert {"torch", "cpus", "threads", "cpu_model", "load_average", "load_average_end"} <= set(summary["machine"])
    first, second = summary["steps"]["T=5"], summary["steps"]["T=10"]
    for model in ("elman", "lstm", "gru"):
        assert first["ratios"][f"{model}_traced_vs_torch"] > 0
        assert first["ratios"][f"{model}_ensemble_per_member_vs_torch"] > 0
        assert second["ratios"][f"{model}_traced_vs_torch"] > 0
    assert "elman_ensemble_per_member_vs_torch" not in second["ratios"]  # ensembles at the first length only
    large = summary["large_hidden"]
    assert large["peak_gflops"] > 0 and large["percent_of_peak"]["elman traced H=16"] > 0
    assert summary["default_run"] == {"skipped": True}
    goals = summary["goals"]
    assert goals["steps/T=10/ratios/elman_traced_vs_torch"]["bound"] == 0.38
    assert goals["steps/T=10/ratios/lstm_traced_vs_matmuls"]["bound"] == 1.2
    assert goals["steps/T=5/ensemble_percent_of_peak/elman"]["bound"] == 80.0
    assert first["ensemble_percent_of_peak"]["elman"] > 0
    native = summary["machine"]["native"]
    assert native["available"] == ("gru_compiled_vs_python" in first["ratios"])
    assert goals["default_run/seconds"]["met"] is None
    assert all(goal["met"] in (True, False) for path, goal in goals.items() if path != "default_run/seconds")
    for heading in ("torch.nn.LSTM", "lstm traced K=2", "% of peak", "gradtrace run (default)", "goal"):
        assert heading in done.stdout


def test_a_size_below_one_is_refused_with_its_option_named():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "`--threads` must be at least 1, got 0" in done.stderr


@pytest.mark.parametrize(("cls", "gates"), [(ElmanRNN, 1), (LSTM, 4), (GRU, 3)])
@pytest.mark.parametrize("num_models", [1, 3])
def test_flop_count_matches_torch_flop_counter_on_the_traced_step_and_on_its_matmuls(suite, cls, gates, num_models):
    B, H, T = 3, 8, 5  # noqa: N806
    model = cls(2, H, 1, num_models=num_models, readout="last", seed=0)
    step = suite.gradtrace_step(model, torch.randn(B, T, 2), torch.randn(B, 1), probe=True)
    with FlopCounterMode(display=False) as counter:
        step()
    readout = num_models * 3 * 2 * B * H  # the H × 1 head: forward, its weight's and its input's gradient
    expected = suite.step_flops(B, H, T, gates=gates, num_models=num_models)
    assert counter.get_total_flops() - readout == expected
    with FlopCounterMode(display=False) as counter:
        suite.step_matmuls(B, H, T, gates=gates, num_models=num_models)()
    assert counter.get_total_flops() == expected


def test_timing_a_gradtrace_run_reads_the_seconds_of_each_study_from_its_store(suite):
    result = suite.time_gradtrace_run("through-time", "--quick", timeout_s=300)
    assert result["returncode"] == 0, result.get("stderr_tail")
    assert result["command"] == "gradtrace run through-time --quick --out <temporary folder>"
    assert set(result["study_seconds"]) == {"through-time"}
    assert 0 < result["study_seconds"]["through-time"]
