"""The ESN benchmark runs end to end at a toy size and writes the figures it promises."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_esn.py"


def test_bench_esn_runs_and_writes_times_ratios_and_nrmse(tmp_path):
    pytest.importorskip("reservoirpy", minversion="0.4")
    out = tmp_path / "esn.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--units", "20", "--steps", "200", "--test-steps", "50", "--washout", "20",
         "--repeats", "2", "--warmup", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(out.read_text())
    assert summary["settings"]["units"] == 20
    for key in ("ours_vs_reservoirpy", "ours_vs_reservoirpy_dense", "ours_vs_reservoirpy_sparse"):
        assert summary["ratios"][key] > 0
    errors = summary["nrmse"]
    assert set(errors) == {"gradtrace ESN", "reservoirpy dense W", "reservoirpy sparse W"}
    assert abs(errors["gradtrace ESN"] - errors["reservoirpy sparse W"]) < 1e-6
    assert summary["agreement"]["max_state_difference_dense"] < 1e-12
    assert "ours / faster reservoirpy" in done.stdout
