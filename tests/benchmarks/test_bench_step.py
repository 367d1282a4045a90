"""The benchmark script runs end to end at tiny sizes and writes the ratios it promises."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_step.py"


def test_bench_step_runs_and_writes_ratios(tmp_path):
    out = tmp_path / "step.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--batch", "2", "--hidden", "4", "--length", "5", "--threads", "1",
         "--repeats", "2", "--warmup", "1", "--ensemble", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(out.read_text())
    assert summary["settings"]["length"] == 5
    for key in ("elman_traced_vs_torch", "lstm_traced_vs_torch", "elman_traced_vs_untraced"):
        assert summary["ratios"][key] > 0
    assert "torch.nn.RNN" in done.stdout
