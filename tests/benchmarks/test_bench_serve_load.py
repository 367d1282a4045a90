"""The load test of `gradtrace serve`: 20 concurrent clients on the loopback address, bounded in count and time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_serve_load.py"


def test_twenty_clients_are_served_or_told_to_wait_and_the_server_lives():
    pytest.importorskip("uvicorn")  # the web extra
    pytest.importorskip("websockets")  # uvicorn[standard]'s websocket library, the load test's client too
    done = subprocess.run([sys.executable, str(SCRIPT), "--clients", "20", "--max-jobs", "2", "--steps", "10",
                           "--length", "10", "--timeout", "60"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["errors"] == [] and figures["unanswered"] == 0
    # two train at once, eight wait their turn (queue = 4 × max_jobs) and then train, the rest are told to retry
    assert figures["served"] + figures["refused"] == 20
    assert figures["served"] >= 10 and figures["told_to_wait"] >= 8
    assert figures["server_alive"] and figures["running_after"] == 0
    assert figures["peak_rss_mib"] < figures["idle_rss_mib"] + 400  # bounded: the jobs' sizes are
