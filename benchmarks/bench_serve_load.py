"""Load test of ``gradtrace serve`` on the loopback address: N concurrent playground clients.

Starts the server in a subprocess (so its memory is measured alone), opens ``--clients`` websockets at
once, each asking for a small training job, and counts how each was answered: served (trained to the
end), told to wait (queued, then served), or refused with the busy message. Reports the server's
resident memory before and at its peak, and checks the server still answers afterwards. Bounded in count
and time: each job is ``--steps`` steps of a T = ``--length`` network, and the whole run stops after
``--timeout`` seconds.

    python benchmarks/bench_serve_load.py --clients 20 --max-jobs 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def client(url: str, settings: dict, outcome: dict, index: int) -> None:
    import websockets

    started = time.perf_counter()
    async with websockets.connect(url, max_size=2**20) as ws:
        await ws.send(json.dumps({"type": "start", "settings": settings}))
        async for text in ws:
            message = json.loads(text)
            kind = message["type"]
            if kind == "queued":
                outcome["told_to_wait"].add(index)
            elif kind == "frame" and index not in outcome["first_frame"]:
                outcome["first_frame"][index] = time.perf_counter() - started
            elif kind == "refused":
                outcome["refused"].add(index)
                return
            elif kind == "finished":
                outcome["served"].add(index)
                return
            elif kind == "error":
                outcome["errors"].append(message["message"])
                return


async def load(url: str, clients: int, settings: dict, pid: int, timeout: float) -> dict:
    outcome = {"served": set(), "told_to_wait": set(), "refused": set(), "errors": [], "first_frame": {}}
    peak = rss_mib(pid)
    tasks = [asyncio.create_task(client(url, settings, outcome, i)) for i in range(clients)]
    started = time.perf_counter()
    while not all(task.done() for task in tasks) and time.perf_counter() - started < timeout:
        peak = max(peak, rss_mib(pid))
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    outcome["seconds"] = time.perf_counter() - started
    outcome["peak_rss_mib"] = peak
    return outcome


def run(clients: int = 20, max_jobs: int = 2, steps: int = 30, length: int = 20, timeout: float = 120.0) -> dict:
    """Run the load test; return its figures (counts, seconds, memory in MiB)."""
    port = free_port()
    code = ("import tempfile; from gradtrace.web.app import serve; "  # an empty run browser: no runs/ left behind
            f"serve(tempfile.mkdtemp(), host='127.0.0.1', port={port}, max_jobs={max_jobs})")
    server = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        health = f"http://127.0.0.1:{port}/api/health"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(health, timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        time.sleep(1.0)  # the server's warm-up training step
        idle = rss_mib(server.pid)
        settings = {"length": length, "hidden_size": 16, "steps": steps, "batch_size": 16}
        outcome = asyncio.run(load(f"ws://127.0.0.1:{port}/api/playground/ws", clients, settings, server.pid, timeout))
        after = json.loads(urllib.request.urlopen(health, timeout=5).read())
        frames = sorted(outcome["first_frame"].values())
        return {"clients": clients, "max_jobs": max_jobs, "served": len(outcome["served"]),
                "told_to_wait": len(outcome["told_to_wait"]), "refused": len(outcome["refused"]),
                "errors": outcome["errors"], "unanswered": clients - len(outcome["served"] | outcome["refused"]),
                "seconds": round(outcome["seconds"], 2),
                "server_alive": server.poll() is None and after["status"] == "ok",
                "running_after": after["running"], "idle_rss_mib": round(idle, 1),
                "peak_rss_mib": round(outcome["peak_rss_mib"], 1),
                "first_frame_s_median": round(frames[len(frames) // 2], 3) if frames else None}
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--max-jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.max_jobs, args.steps, args.length, args.timeout), indent=2))


if __name__ == "__main__":
    main()
