"""Time a study's runs on Ray against the local executor: the overhead Ray adds per run.

Two plans of real training runs (a tanh ElmanRNN on the adding problem, ``gradtrace.fit``): ``tiny``, many
runs of a few dozen milliseconds each, where any per-run cost shows; ``small``, a few runs of about a second.
Each plan runs under three candidates, every run written to a fresh store as ``gradtrace run`` writes it:

- ``local-1``: one run after another in this process;
- ``local-2``: two forked worker processes (``workers=2``);
- ``ray-2``: Ray tasks on a local cluster of 2 CPUs, started once before the rounds (its start-up is
  reported apart: a long study pays it once).

Every candidate runs once per round, in a new random order each round, after one untimed round (which
also lets Ray's workers import torch: its wall time is reported as ``first round``); medians over the
rounds are reported. For each candidate:
``seconds/run`` is the wall time over the runs; ``overhead/run`` is the time its slots (1 or 2 processes)
spent on anything but the runs themselves, ``(wall × slots − Σ run seconds) / runs``, where a run's seconds
are what the store recorded (measured where it ran); ``ray − local-2`` is the difference in wall time per
run between the two candidates with the same two slots. The load average at the start and the end says how
busy the machine was. (The forked workers inherit Ray's signal handler from this process, so ending them
may print a stack trace: noise, not an error; ``gradtrace run`` never mixes the two.)

Run ``python benchmarks/bench_ray.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import tempfile
import time

import numpy as np
import torch

from gradtrace.models import ElmanRNN
from gradtrace.store import Store
from gradtrace.studies import Outcome, RayExecutor, RunSpec, Study, run_study
from gradtrace.tasks import Adding
from gradtrace.train import fit

#: (runs, hidden_size, length T, training steps) of each plan.
PLANS = {"tiny": (20, 8, 20, 10), "small": (4, 32, 50, 150)}


class Bench(Study):
    """``runs`` seeded trainings of one size: the plan the candidates share."""

    name, title, description = "bench-ray", "Ray overhead", "Seeded Elman trainings on the adding problem."
    default_seeds = 2

    def __init__(self, runs: int, hidden_size: int, length: int, steps: int):
        self.runs, self.hidden_size, self.length, self.steps = runs, hidden_size, length, steps

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        return [RunSpec(f"run{i}", self.steps, self._runner(i, seeds)) for i in range(self.runs)]

    def _runner(self, index: int, seeds: int):
        hidden_size, length, steps = self.hidden_size, self.length, self.steps

        def execute(callback):
            task = Adding(length, variant="sum")
            model = ElmanRNN(task.input_size, hidden_size, task.output_size, num_models=seeds, seed=index)
            run = fit(model, task, steps=steps, lr=1e-2, batch_size=16, seed=index, callback=callback)
            return Outcome({"train/loss": run.history["train/loss"]}, {"index": index}, {})

        return execute


def measure(args: argparse.Namespace) -> dict:
    """Time every candidate on every plan; return the settings, the medians and the overheads."""
    import ray

    torch.set_num_threads(1)
    load_start = os.getloadavg()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    begun = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    startup = time.perf_counter() - begun
    executor = RayExecutor()
    candidates = {"local-1": {"workers": 1}, "local-2": {"workers": 2}, "ray-2": {"executor": executor}}
    slots = {"local-1": 1, "local-2": 2, "ray-2": 2}
    results: dict = {}
    shuffler = random.Random(0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for plan_name in args.plans:
                runs, hidden_size, length, steps = PLANS[plan_name]
                walls: dict[str, list[float]] = {name: [] for name in candidates}
                first: dict[str, float] = {}
                worked: dict[str, list[float]] = {name: [] for name in candidates}
                order = list(candidates)
                for round_ in range(1 + args.repeats):
                    shuffler.shuffle(order)
                    for name in order:
                        store = Store(os.path.join(folder, f"{plan_name}-{name}-{round_}"))
                        started = time.perf_counter()
                        run_study(Bench(runs, hidden_size, length, steps), store, **candidates[name])
                        wall = time.perf_counter() - started
                        if not round_:
                            first[name] = wall
                        else:
                            walls[name].append(wall)
                            worked[name].append(sum(store.get(Bench.name, run).seconds
                                                    for run in store.names(Bench.name)))
                rows = {}
                for name in candidates:
                    wall, work = statistics.median(walls[name]), statistics.median(worked[name])
                    rows[name] = {"wall_seconds": wall, "run_seconds": work, "seconds_per_run": wall / runs,
                                  "overhead_per_run": (wall * slots[name] - work) / runs,
                                  "untimed_round_wall_seconds": first[name]}
                rows["ray_minus_local2_per_run"] = (rows["ray-2"]["wall_seconds"]
                                                    - rows["local-2"]["wall_seconds"]) / runs
                results[plan_name] = {"runs": runs, "hidden_size": hidden_size, "length": length, "steps": steps,
                                      "candidates": rows}
    finally:
        ray.shutdown()
    return {"settings": {"repeats": args.repeats, "plans": args.plans}, "ray_startup_seconds": startup,
            "plans": results, "machine": {"cpus": os.cpu_count(), "load_start": load_start,
                                          "load_end": os.getloadavg(), "torch": torch.__version__,
                                          "ray": ray.__version__, "numpy": np.__version__}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", nargs="+", choices=list(PLANS), default=list(PLANS))
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    result = measure(args)
    print(f"Ray start-up (local cluster, 2 CPUs): {result['ray_startup_seconds']:.2f} s; load average "
          f"{result['machine']['load_start'][0]:.2f} at start, {result['machine']['load_end'][0]:.2f} at end")
    for plan_name, plan in result["plans"].items():
        print(f"{plan_name}: {plan['runs']} runs (H={plan['hidden_size']}, T={plan['length']}, {plan['steps']} steps)")
        for name, row in plan["candidates"].items():
            if isinstance(row, dict):
                print(f"  {name:<8} wall {row['wall_seconds']:7.2f} s  {1000 * row['seconds_per_run']:8.1f} ms/run  "
                      f"overhead {1000 * row['overhead_per_run']:7.1f} ms/run  "
                      f"(first round {row['untimed_round_wall_seconds']:.2f} s)")
        print(f"  ray − local-2: {1000 * plan['candidates']['ray_minus_local2_per_run']:+.1f} ms/run")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
