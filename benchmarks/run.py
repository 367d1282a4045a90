"""Run the whole speed suite in one command: print one table of times, ratios and goals, write JSON.

Sections, every one timed with ``bench_step``'s protocol: untimed warm-up steps, then every
candidate once per round in a fresh shuffled order, medians over the rounds. A ratio always comes
from two candidates timed in the same rounds of the same process.

- **steps**: one training step (forward, MSE on the last step's output, backward, SGD) of
  gradtrace's ElmanRNN, LSTM and GRU traced (``probe=True``, hand-written BPTT) against
  ``torch.nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` untraced, at each sequence length (T = 100 and
  1000), each beside its matrix products run alone (the floor of its ratio). At the first length
  the same rounds time K-member ensembles, compared per member with one step of the torch module.
- **large hidden**: the traced ElmanRNN step at H = 1024. The floating-point operations of its
  matrix products over its time give GFLOP/s, compared with a square float32 matmul timed in the
  same rounds (the machine's measured peak), with the step's matrix products run alone, and with
  ``torch.nn.RNN`` at the same size.
- **jax**: where jax is installed, the Elman step as ``jax.lax.scan`` under ``jax.jit``.
- **default run**: the wall time of ``gradtrace run`` with its defaults, in a subprocess, and the
  seconds of each study's runs.

Each figure is printed beside the goal the speed work aims for; goals are reported, never asserted.
Run ``python benchmarks/run.py --help`` for the options; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from bench_step import (  # same folder: the shared timing protocol and training steps
    INPUT_SIZE,
    LEARNING_RATE,
    OUTPUT_SIZE,
    REFERENCES,
    _iqr,
    gradtrace_step,
    time_candidates,
    torch_step,
)
from torch import nn

from gradtrace.errors import StoreError
from gradtrace.models import GRU, LSTM, ElmanRNN
from gradtrace.models.compiled import native_available, native_status
from gradtrace.store import Store

CELLS = {"elman": (ElmanRNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}
GATES = {"elman": 1, "lstm": 4, "gru": 3}  # pre-activations per step, in units of H
#: Goals of the speed work (issue 16), reported beside each figure. A traced step over torch's module step
#: (Elman: 0.9 x JAX's 0.42, about 84 % of the matmul peak; LSTM: parity with oneDNN's fused kernel):
TRACED_GOALS = {"elman": 0.38, "lstm": 1.0, "gru": 0.5}
MATMULS_GOAL = 1.2  # every traced step over its matrix products alone
JAX_GOAL = 0.9  # the traced Elman step over JAX's lax.scan step, where jax is installed
#: One ensemble step per member, in GFLOP/s, as a percentage of the large-hidden section's matmul peak:
ENSEMBLE_PEAK_GOALS_PERCENT = {"elman": 80.0}
PEAK_GOAL_PERCENT = 50.0  # the traced ElmanRNN step at large H, of the measured matmul peak
DEFAULT_RUN_GOAL_S = 180.0  # the default `gradtrace run`, on a 2-core machine
DEFAULT_RUN_TIMEOUT_S = 3600.0
JAX = "jax elman lax.scan"


@dataclass(frozen=True)
class Settings:
    """What one suite run measures.

    Attributes:
        batch: sequences per batch B of the step sections.
        hidden: hidden units H of the step sections.
        lengths: time steps T, one step section each; the first also times the ensembles.
        ensemble: ensemble size K.
        large_hidden: H of the large-hidden section.
        large_batch: B of the large-hidden section (each step's product is B × H by H × H).
        large_length: T of the large-hidden section.
        matmul_size: n of the n × n float32 matmul that measures the machine's peak.
        threads: torch intra-op threads for every section; the seeds' models are small, and one
            thread is as fast as two here and many times faster when another process holds a core.
        repeats: timed rounds per section; medians over them are reported.
        warmup: untimed steps per candidate first (allocator, caches, lazy init, jit).
        default_run: also time the default ``gradtrace run`` (minutes).
        seed: seed of the data, the weights and the candidates' order.
    """

    batch: int = 32
    hidden: int = 128
    lengths: tuple[int, ...] = (100, 1000)
    ensemble: int = 16
    large_hidden: int = 1024
    large_batch: int = 32
    large_length: int = 100
    matmul_size: int = 2048
    threads: int = 1
    repeats: int = 10
    warmup: int = 2
    default_run: bool = True
    # Flush float32/float64 denormals to zero in torch's (and gradtrace's) steps, as XLA does for jax by default.
    flush_denormal: bool = False
    seed: int = 0


#: ``--quick``: toy sizes and two rounds, a smoke test of the plumbing in seconds; no default run.
QUICK = Settings(batch=4, hidden=8, lengths=(5, 10), ensemble=2, large_hidden=16, large_batch=4,
                 large_length=5, matmul_size=32, repeats=2, warmup=1, default_run=False)


# ------------------------------------------------------------------------------------------------
# Measurement
# ------------------------------------------------------------------------------------------------
def describe_machine() -> dict:
    """Return torch's version and threads, the CPU model and count, and the load average now."""
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                             None)
    except OSError:
        pass
    return {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu_model": cpu_model or platform.processor() or None, "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "load_average": _load_average()}


def _load_average() -> list[float] | None:
    return [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _reduce(samples: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Medians and interquartile ranges in milliseconds, by candidate."""
    return ({name: 1e3 * statistics.median(values) for name, values in samples.items()},
            {name: 1e3 * _iqr(values) for name, values in samples.items()})


def build_step_candidates(settings: Settings, length: int, *, ensembles: bool) -> dict[str, Callable[[], None]]:
    """Return the candidates of one step section by name: torch's modules, traced steps, their matmuls, ensembles."""
    B, H, K = settings.batch, settings.hidden, settings.ensemble  # noqa: N806
    generator = torch.Generator().manual_seed(settings.seed)
    inputs = torch.randn(B, length, INPUT_SIZE, generator=generator)
    targets = torch.randn(B, OUTPUT_SIZE, generator=generator)
    torch.manual_seed(settings.seed)
    candidates = {}
    for name, (cls, reference) in CELLS.items():
        candidates[REFERENCES[name]] = torch_step(reference(INPUT_SIZE, H, batch_first=True),
                                                  nn.Linear(H, OUTPUT_SIZE), inputs, targets)
        model = cls(INPUT_SIZE, H, OUTPUT_SIZE, readout="last", seed=settings.seed)
        candidates[f"{name} traced"] = gradtrace_step(model, inputs, targets, probe=True)
        if native_available():
            python = cls(INPUT_SIZE, H, OUTPUT_SIZE, readout="last", seed=settings.seed)
            candidates[f"{name} traced, python loops"] = python_loops(gradtrace_step(python, inputs, targets,
                                                                                     probe=True))
        candidates[f"{name} matmuls alone"] = step_matmuls(B, H, length, gates=GATES[name], seed=settings.seed)
        if ensembles:
            ensemble = cls(INPUT_SIZE, H, OUTPUT_SIZE, num_models=K, readout="last", seed=settings.seed)
            candidates[f"{name} traced K={K}"] = gradtrace_step(ensemble, inputs, targets, probe=True)
            candidates[f"{name} matmuls alone K={K}"] = step_matmuls(B, H, length, gates=GATES[name],
                                                                     num_models=K, seed=settings.seed)
    if jax_available():
        candidates[JAX] = jax_elman_step(inputs.numpy(), targets.numpy(), H, settings.seed, settings.threads)
    return candidates


def python_loops(step: Callable[[], None]) -> Callable[[], None]:
    """Return ``step`` run with the Python time loops of the hand-written BPTT (``GRADTRACE_NATIVE=0``)."""

    def run_on_python_loops() -> None:
        given = os.environ.get("GRADTRACE_NATIVE")
        os.environ["GRADTRACE_NATIVE"] = "0"
        try:
            step()
        finally:
            if given is None:
                del os.environ["GRADTRACE_NATIVE"]
            else:
                os.environ["GRADTRACE_NATIVE"] = given

    return run_on_python_loops


def measure_steps(settings: Settings, length: int, *, ensembles: bool) -> dict:
    """Time one step section and return its medians, IQRs and ratios.

    Keys of ``ratios``: ``{cell}_traced_vs_torch`` (below 1: the traced step is faster than torch's
    module), ``{cell}_matmuls_vs_torch`` (the step's matrix products alone over torch's module: the
    floor of the traced ratio if nothing else cost), ``{cell}_traced_vs_matmuls``;
    ``{cell}_compiled_vs_python`` (the traced step, on the compiled time loops, over the same step on
    the Python loops; only where the compiled loops are available);
    ``{cell}_ensemble_per_member_vs_torch`` (the K-member step over K, over one step of torch's
    module), ``{cell}_ensemble_matmuls_per_member_vs_torch`` (its floor),
    ``{cell}_ensemble_vs_singles`` (the K-member step over K traced single steps); with jax
    ``elman_traced_vs_jax`` and ``jax_vs_torch``. ``gflops`` gives every candidate's GFLOP/s over
    the matrix products of its step (``step_flops``).
    """
    candidates = build_step_candidates(settings, length, ensembles=ensembles)
    samples = time_candidates(candidates, repeats=settings.repeats, warmup=settings.warmup, seed=settings.seed)
    ms, iqr = _reduce(samples)
    K = settings.ensemble  # noqa: N806
    ratios = {}
    for name in CELLS:
        reference, traced = ms[REFERENCES[name]], ms[f"{name} traced"]
        ratios[f"{name}_traced_vs_torch"] = traced / reference
        ratios[f"{name}_matmuls_vs_torch"] = ms[f"{name} matmuls alone"] / reference
        ratios[f"{name}_traced_vs_matmuls"] = traced / ms[f"{name} matmuls alone"]
        if f"{name} traced, python loops" in ms:
            ratios[f"{name}_compiled_vs_python"] = traced / ms[f"{name} traced, python loops"]
        if ensembles:
            ensemble = ms[f"{name} traced K={K}"]
            ratios[f"{name}_ensemble_per_member_vs_torch"] = ensemble / K / reference
            ratios[f"{name}_ensemble_matmuls_per_member_vs_torch"] = ms[f"{name} matmuls alone K={K}"] / K / reference
            ratios[f"{name}_ensemble_vs_singles"] = ensemble / (K * traced)
    if JAX in ms:
        ratios["elman_traced_vs_jax"] = ms["elman traced"] / ms[JAX]
        ratios["jax_vs_torch"] = ms[JAX] / ms[REFERENCES["elman"]]
    flop = {}
    for candidate in ms:
        cell = "elman" if candidate == JAX else next(n for n in CELLS if candidate.startswith((n, REFERENCES[n])))
        members = K if candidate.endswith(f"K={K}") else 1
        flop[candidate] = step_flops(settings.batch, settings.hidden, length, gates=GATES[cell], num_models=members)
    gflops = {candidate: flop[candidate] / (ms[candidate] * 1e-3) / 1e9 for candidate in ms}
    return {"length": length, "median_ms": ms, "iqr_ms": iqr, "ratios": ratios, "flop": flop, "gflops": gflops}


def step_flops(batch: int, hidden: int, length: int, *, gates: int = 1, num_models: int = 1,
               input_size: int = INPUT_SIZE) -> int:
    """Count the floating-point operations of one traced step's matrix products.

    A multiply-add counts two. With G·H = ``gates`` × ``hidden`` pre-activations per step (Elman 1,
    GRU 3, LSTM 4), forward: the drives x_t W_inᵀ and one h_{t−1} W_recᵀ per step; backward:
    δ_{t−1} from the pre-activation gradients times W_rec for T − 1 steps, ∂L/∂W_rec as one product
    over all steps, and ∂L/∂W_in. The readout (H × 1) and the elementwise ops are left out.
    """
    B, H, T, I, G = batch, hidden, length, input_size, gates  # noqa: N806, E741
    forward = 2 * T * B * G * H * (H + I)
    backward = 2 * (T - 1) * B * G * H * H + 2 * T * B * G * H * H + 2 * T * B * G * H * I
    return num_models * (forward + backward)


def step_matmuls(batch: int, hidden: int, length: int, *, gates: int = 1, num_models: int = 1,
                 seed: int = 0) -> Callable[[], None]:
    """Return the matrix products of one traced step with the step's shapes, and nothing else.

    The products ``step_flops`` counts, as the hand-written BPTT calls them (batched over the K
    members), each writing into a preallocated buffer from fixed random operands: the time the step
    would take if its elementwise ops, allocations and Python overhead cost nothing.
    """
    K, B, H, T, I, G = num_models, batch, hidden, length, INPUT_SIZE, gates  # noqa: N806, E741
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(T * B, I, generator=generator).expand(K, -1, -1)
    W_in_T = torch.randn(K, I, G * H, generator=generator)  # noqa: N806
    W_rec = torch.randn(K, G * H, H, generator=generator) / math.sqrt(H)  # noqa: N806
    path = torch.randn(K, T + 1, B, H, generator=generator)  # plays h_0 .. h_T
    pre_grads = torch.randn(K, T, B, G * H, generator=generator)  # plays the pre-activation gradients
    drives, pre_activations = torch.empty(K, T * B, G * H), torch.empty(K, T, B, G * H)
    errors = torch.empty(K, T, B, H)
    W_rec_grad, W_in_grad = torch.empty(K, G * H, H), torch.empty(K, G * H, I)  # noqa: N806
    W_rec_T = W_rec.transpose(1, 2)  # noqa: N806
    h, a, out_z, out_delta = path.unbind(1), pre_grads.unbind(1), pre_activations.unbind(1), errors.unbind(1)
    flat_grads = pre_grads.view(K, T * B, G * H).transpose(1, 2)
    previous = path[:, :T].reshape(K, T * B, H)

    def matmuls() -> None:
        torch.bmm(inputs, W_in_T, out=drives)
        for t in range(T):
            torch.bmm(h[t], W_rec_T, out=out_z[t])
        for t in range(T - 1, 0, -1):
            torch.bmm(a[t], W_rec, out=out_delta[t - 1])
        torch.bmm(flat_grads, previous, out=W_rec_grad)
        torch.bmm(flat_grads, inputs, out=W_in_grad)

    return matmuls


def square_matmul(size: int, seed: int = 0) -> Callable[[], None]:
    """Return one float32 matmul of two ``size`` × ``size`` matrices into a preallocated output."""
    generator = torch.Generator().manual_seed(seed)
    left, right = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)

    def matmul() -> None:
        torch.mm(left, right, out=out)

    return matmul


def measure_large_hidden(settings: Settings) -> dict:
    """Time the traced Elman step at large H beside the matmul peak, its matmuls alone and torch.nn.RNN.

    Returns medians and IQRs (ms), ``flop`` per candidate, ``gflops`` (GFLOP/s), ``peak_gflops``
    (the square matmul's) and ``percent_of_peak`` per step candidate; ``step_vs_matmuls`` is the
    traced step over its matrix products alone (1 would mean that nothing but the products costs).
    """
    B, H, T = settings.large_batch, settings.large_hidden, settings.large_length  # noqa: N806
    n = settings.matmul_size
    generator = torch.Generator().manual_seed(settings.seed)
    inputs = torch.randn(B, T, INPUT_SIZE, generator=generator)
    targets = torch.randn(B, OUTPUT_SIZE, generator=generator)
    torch.manual_seed(settings.seed)
    peak, traced, alone, reference = (f"matmul {n}x{n}", f"elman traced H={H}", "its matmuls alone",
                                      f"torch.nn.RNN H={H}")
    model = ElmanRNN(INPUT_SIZE, H, OUTPUT_SIZE, readout="last", seed=settings.seed)
    candidates = {
        peak: square_matmul(n, settings.seed),
        traced: gradtrace_step(model, inputs, targets, probe=True),
        alone: step_matmuls(B, H, T, seed=settings.seed),
        reference: torch_step(nn.RNN(INPUT_SIZE, H, batch_first=True), nn.Linear(H, OUTPUT_SIZE), inputs, targets),
    }
    samples = time_candidates(candidates, repeats=settings.repeats, warmup=settings.warmup, seed=settings.seed)
    ms, iqr = _reduce(samples)
    step_flop = step_flops(B, H, T)
    flop = {peak: 2 * n**3, traced: step_flop, alone: step_flop, reference: step_flop}
    gflops = {name: flop[name] / (ms[name] * 1e-3) / 1e9 for name in candidates}
    return {
        "batch": B, "hidden": H, "length": T, "matmul_size": n,
        "median_ms": ms, "iqr_ms": iqr, "flop": flop, "gflops": gflops, "peak_gflops": gflops[peak],
        "percent_of_peak": {name: 100 * gflops[name] / gflops[peak] for name in (traced, alone, reference)},
        "step_vs_matmuls": ms[traced] / ms[alone],
    }


def jax_available() -> bool:
    """Whether jax can be imported (it is optional and never installed by the suite)."""
    return importlib.util.find_spec("jax") is not None


def jax_elman_step(inputs, targets, hidden: int, seed: int, threads: int) -> Callable[[], None]:
    """Return one Elman training step as ``jax.lax.scan`` under ``jax.jit``: a compiled, untraced reference.

    Args:
        inputs: (B, T, input_size) numpy array, the same data as the torch candidates'.
        targets: (B, output_size) numpy array.
        hidden: H.
        seed: seed of the weights (uniform in ±1/√H, as torch.nn.RNN's).
        threads: 1 confines XLA's CPU backend to one thread, as torch is (unless XLA_FLAGS is set).
    """
    if threads == 1:  # read when jax starts its CPU backend, so before the first import
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import jax
    import jax.numpy as jnp

    bound = 1 / math.sqrt(hidden)
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    shapes = {"W_in": (hidden, INPUT_SIZE), "W_rec": (hidden, hidden), "b": (hidden,),
              "W_out": (OUTPUT_SIZE, hidden), "b_out": (OUTPUT_SIZE,)}
    params = {name: jax.random.uniform(key, shape, minval=-bound, maxval=bound)
              for key, (name, shape) in zip(keys, shapes.items())}
    xs, ys = jnp.asarray(inputs).transpose(1, 0, 2), jnp.asarray(targets)  # scan runs over the leading axis

    def loss(p):
        def cell(h, x):
            return jnp.tanh(x @ p["W_in"].T + h @ p["W_rec"].T + p["b"]), None

        last, _ = jax.lax.scan(cell, jnp.zeros((xs.shape[1], hidden)), xs)
        return jnp.mean(jnp.square(last @ p["W_out"].T + p["b_out"] - ys))

    @jax.jit
    def update(p):
        grads = jax.grad(loss)(p)
        return jax.tree_util.tree_map(lambda w, g: w - LEARNING_RATE * g, p, grads)

    state = {"params": params}

    def step() -> None:
        state["params"] = jax.block_until_ready(update(state["params"]))

    return step


def time_gradtrace_run(*arguments: str, timeout_s: float = DEFAULT_RUN_TIMEOUT_S) -> dict:
    """Time ``gradtrace run [arguments]`` in a subprocess writing to a temporary folder; none: the default run.

    Returns:
        ``seconds`` (wall time), ``returncode``, ``study_seconds`` (the run times the store recorded,
        summed per study: where the time goes; runs that share the machine side by side can sum to
        more than the wall time) and, when it failed, the end of its ``stderr``.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "runs"
        command = [sys.executable, "-c", "from gradtrace.cli import main; main()", "run", *arguments,
                   "--out", str(out)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        seconds = time.perf_counter() - start
        try:
            store = Store(out, create=False)
            study_seconds = {study: sum(store.get(study, name).seconds for name in store.names(study))
                             for study in store.studies()}
        except StoreError:  # the run failed before it wrote anything
            study_seconds = {}
    result = {"command": " ".join(["gradtrace run", *arguments, "--out <temporary folder>"]), "seconds": seconds,
              "returncode": done.returncode, "study_seconds": study_seconds}
    if done.returncode != 0:
        result["stderr_tail"] = done.stderr[-2000:]
    return result


def evaluate_goals(summary: dict) -> dict[str, dict]:
    """Set every figure that has a goal beside it, keyed by its path in the summary.

    Returns:
        ``{path: {"value", "bound", "at_most", "met"}}``; ``met`` is None where the figure is missing.
    """
    goals = {}

    def add(path: str, value: float | None, bound: float, *, at_most: bool) -> None:
        met = None if value is None else (value <= bound if at_most else value >= bound)
        goals[path] = {"value": value, "bound": bound, "at_most": at_most, "met": met}

    for section, result in summary["steps"].items():
        for name, bound in TRACED_GOALS.items():
            key = f"{name}_traced_vs_torch"
            add(f"steps/{section}/ratios/{key}", result["ratios"][key], bound, at_most=True)
            key = f"{name}_traced_vs_matmuls"
            add(f"steps/{section}/ratios/{key}", result["ratios"][key], MATMULS_GOAL, at_most=True)
        if "elman_traced_vs_jax" in result["ratios"]:
            add(f"steps/{section}/ratios/elman_traced_vs_jax", result["ratios"]["elman_traced_vs_jax"], JAX_GOAL,
                at_most=True)
        for name, bound in ENSEMBLE_PEAK_GOALS_PERCENT.items():
            if name in result.get("ensemble_percent_of_peak", {}):
                add(f"steps/{section}/ensemble_percent_of_peak/{name}", result["ensemble_percent_of_peak"][name],
                    bound, at_most=False)
    large = summary["large_hidden"]
    traced = f"elman traced H={large['hidden']}"
    add(f"large_hidden/percent_of_peak/{traced}", large["percent_of_peak"][traced], PEAK_GOAL_PERCENT, at_most=False)
    default_run = summary["default_run"]
    seconds = default_run["seconds"] if default_run.get("returncode") == 0 else None
    add("default_run/seconds", seconds, DEFAULT_RUN_GOAL_S, at_most=True)
    return goals


def measure_torch_threads(settings: Settings, *, steps: int = 20) -> dict:
    """How many cores torch's own steps really keep busy under ``torch.set_num_threads(settings.threads)``.

    Runs each torch module's step (``torch.nn.LSTM`` is oneDNN's fused kernel) ``steps`` times at the
    step sections' sizes and divides the process's CPU time by the wall time: 1.0 means one busy core.
    Also counts the process's threads afterwards (OpenMP pools, oneDNN's, Python's) from /proc.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    inputs = torch.randn(settings.batch, settings.lengths[0], INPUT_SIZE, generator=generator)
    targets = torch.randn(settings.batch, OUTPUT_SIZE, generator=generator)
    result = {}
    for name, (_, reference) in CELLS.items():
        step = torch_step(reference(INPUT_SIZE, settings.hidden, batch_first=True), nn.Linear(settings.hidden,
                                                                                              OUTPUT_SIZE),
                          inputs, targets)
        step()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[REFERENCES[name]] = cpu / wall
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = None
    return {"cpu_per_wall": result, "process_threads": threads, "torch_threads": torch.get_num_threads()}


def run(settings: Settings, *, log: Callable[[str], None] = lambda message: None) -> dict:
    """Run every section and return the summary: settings, machine, the sections' results and goals."""
    try:
        return _run(settings, log)
    finally:
        torch.set_flush_denormal(False)  # the process's default again


def _run(settings: Settings, log: Callable[[str], None]) -> dict:
    torch.set_num_threads(settings.threads)
    summary = {"settings": asdict(settings), "machine": describe_machine()}
    # False where the CPU cannot flush (no SSE3); the header says which.
    summary["machine"]["flush_denormal"] = torch.set_flush_denormal(settings.flush_denormal) and settings.flush_denormal
    start = time.perf_counter()
    native_available()  # loads the compiled loops, building them first if no cached build exists
    summary["machine"]["native"] = {**native_status(), "load_seconds": time.perf_counter() - start}
    log("measuring how many cores torch's own steps use ...")
    summary["machine"]["torch_threads_used"] = measure_torch_threads(settings)
    summary["steps"] = {}
    for index, length in enumerate(settings.lengths):
        log(f"timing one training step at T={length} ...")
        summary["steps"][f"T={length}"] = measure_steps(settings, length, ensembles=index == 0)
    log(f"timing the large-hidden section (H={settings.large_hidden}) ...")
    summary["large_hidden"] = measure_large_hidden(settings)
    peak = summary["large_hidden"]["peak_gflops"]
    for result in summary["steps"].values():
        ensembles = {name: result["gflops"][f"{name} traced K={settings.ensemble}"] for name in CELLS
                     if f"{name} traced K={settings.ensemble}" in result["gflops"]}
        if ensembles:
            result["ensemble_percent_of_peak"] = {name: 100 * value / peak for name, value in ensembles.items()}
    summary["jax"] = {"available": jax_available()}
    if settings.default_run:
        log("timing the default `gradtrace run` (minutes) ...")
        summary["default_run"] = time_gradtrace_run()
    else:
        summary["default_run"] = {"skipped": True}
    summary["machine"]["load_average_end"] = _load_average()
    summary["goals"] = evaluate_goals(summary)
    return summary


# ------------------------------------------------------------------------------------------------
# Display
# ------------------------------------------------------------------------------------------------
def _goal_columns(goals: dict, path: str) -> tuple[str, str]:
    if path not in goals:
        return "", ""
    goal = goals[path]
    unit = "%" if "percent" in path else (" s" if path.endswith("seconds") else "")
    bound = f"{'<=' if goal['at_most'] else '>='} {goal['bound']:g}{unit}"
    return bound, {True: "met", False: "NOT met", None: "n/a"}[goal["met"]]


def _native_line(native: dict) -> str:
    if not native.get("available"):
        return f"traced steps on the Python time loops: the compiled loops are unavailable ({native.get('reason')})"
    seconds = native.get("build_seconds")
    built = "unknown" if seconds is None else f"{seconds:.1f} s"
    where = "built by this run" if native.get("built_here") else "loaded from the cache"
    return f"traced steps on the compiled time loops ({where}; their build took {built})"


def _threads_line(used: dict | None) -> list[str]:
    if not used:
        return []
    busy = ", ".join(f"{name} {value:.2f}" for name, value in used["cpu_per_wall"].items())
    return [f"cores busy per wall second with torch.set_num_threads({used['torch_threads']}): {busy} "
            f"({used['process_threads']} threads in the process)"]


def format_table(summary: dict) -> str:
    """Draw the summary as one plain-text table: candidate, ms, IQR, ratio, goal, met?."""
    s, machine, goals = summary["settings"], summary["machine"], summary["goals"]
    K = s["ensemble"]  # noqa: N806
    lines = [
        f"gradtrace speed suite: one training step = forward, MSE on the last output, backward, SGD; "
        f"inputs of width {INPUT_SIZE}; threads {s['threads']}; medians of {s['repeats']} interleaved rounds "
        f"after {s['warmup']} warm-up steps; denormals "
        f"{'flushed to zero (as jax does)' if machine.get('flush_denormal') else 'kept (IEEE; jax flushes them)'}",
        f"torch {machine['torch']}, CPU {machine['cpu_model']} ({machine['cpus']} CPUs), load average "
        f"{machine['load_average']} at start, {machine['load_average_end']} at end",
        _native_line(machine.get("native", {})),
        *_threads_line(machine.get("torch_threads_used")),
        "",
        f"{'candidate':<27} {'ms':>9} {'IQR':>8}  {'ratio':<44} {'goal':<10} met?",
    ]
    header = lines[-1]

    def rule(title: str) -> None:
        lines.append(f"--- {title} ".ljust(len(header), "-"))

    def row(name: str, ms: float | None, iqr: float | None, ratio: str, path: str = "") -> None:
        goal, met = _goal_columns(goals, path)
        times = f"{ms:9.2f} {iqr:8.2f}" if ms is not None else f"{'':9} {'':8}"
        lines.append(f"{name:<27} {times}  {ratio:<44} {goal:<10} {met}".rstrip())

    for section, result in summary["steps"].items():
        ms, iqr, ratios = result["median_ms"], result["iqr_ms"], result["ratios"]
        rule(f"one training step, {section}, B={s['batch']} H={s['hidden']}")
        gflops = result["gflops"]
        for name, reference in REFERENCES.items():
            row(reference, ms[reference], iqr[reference], f"reference, {gflops[reference]:.1f} GFLOP/s")
            key = f"{name}_traced_vs_torch"
            row(f"{name} traced", ms[f"{name} traced"], iqr[f"{name} traced"],
                f"{ratios[key]:.2f} x {reference}, {gflops[f'{name} traced']:.1f} GFLOP/s",
                f"steps/{section}/ratios/{key}")
            python = f"{name} traced, python loops"
            if python in ms:
                row(f"  {python}", ms[python], iqr[python],
                    f"compiled loops {ratios[f'{name}_compiled_vs_python']:.2f} x these")
            alone = f"{name} matmuls alone"
            row(f"  {alone}", ms[alone], iqr[alone],
                f"traced {ratios[f'{name}_traced_vs_matmuls']:.2f} x these; floor "
                f"{ratios[f'{name}_matmuls_vs_torch']:.2f} x {reference}, {gflops[alone]:.1f} GFLOP/s",
                f"steps/{section}/ratios/{name}_traced_vs_matmuls")
            ensemble = f"{name} traced K={K}"
            if ensemble in ms:
                key = f"{name}_ensemble_per_member_vs_torch"
                percent = result.get("ensemble_percent_of_peak", {}).get(name)
                of_peak = "" if percent is None else f" = {percent:.0f}% of peak"
                row(ensemble, ms[ensemble], iqr[ensemble],
                    f"per member {ratios[key]:.2f} x {reference}, {gflops[ensemble]:.1f} GFLOP/s{of_peak}",
                    f"steps/{section}/ensemble_percent_of_peak/{name}")
                alone = f"{name} matmuls alone K={K}"
                floor = ratios[f"{name}_ensemble_matmuls_per_member_vs_torch"]
                row(f"  {alone}", ms[alone], iqr[alone],
                    f"floor per member {floor:.2f} x {reference}, {gflops[alone]:.1f} GFLOP/s")
        if JAX in ms:
            row(JAX, ms[JAX], iqr[JAX], f"{ratios['jax_vs_torch']:.2f} x torch.nn.RNN; "
                                        f"elman traced {ratios['elman_traced_vs_jax']:.2f} x jax",
                f"steps/{section}/ratios/elman_traced_vs_jax")

    large = summary["large_hidden"]
    ms, iqr, gflops, percent = large["median_ms"], large["iqr_ms"], large["gflops"], large["percent_of_peak"]
    rule(f"large hidden, B={large['batch']} T={large['length']}, float32")
    n = large["matmul_size"]
    peak, traced = f"matmul {n}x{n}", f"elman traced H={large['hidden']}"
    row(peak, ms[peak], iqr[peak], f"peak {large['peak_gflops']:.1f} GFLOP/s")
    for name in (traced, "its matmuls alone", f"torch.nn.RNN H={large['hidden']}"):
        row(name, ms[name], iqr[name], f"{gflops[name]:.1f} GFLOP/s = {percent[name]:.0f}% of peak",
            f"large_hidden/percent_of_peak/{name}")
    row("", None, None, f"traced step / its matmuls alone: {large['step_vs_matmuls']:.2f}")

    rule("references that need more than torch")
    if not summary["jax"]["available"]:
        row(JAX, None, None, "skipped: jax is not installed")
    default_run = summary["default_run"]
    if default_run.get("skipped"):
        row("gradtrace run (default)", None, None, "skipped (--skip-default-run or --quick)", "default_run/seconds")
    elif default_run["returncode"] != 0:
        row("gradtrace run (default)", None, None, f"FAILED with exit code {default_run['returncode']}",
            "default_run/seconds")
    else:
        row("gradtrace run (default)", None, None, f"{default_run['seconds']:.1f} s wall, its defaults "
            f"({machine['cpus']} CPUs here)", "default_run/seconds")
        for study, seconds in sorted(default_run["study_seconds"].items(), key=lambda item: -item[1]):
            row(f"  {study}", None, None, f"{seconds:.1f} s in its runs")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def _lengths(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Start from the defaults (or ``QUICK``) and apply the options that were given."""
    base = QUICK if args.quick else Settings()
    given = {field.name: getattr(args, field.name) for field in fields(Settings)
             if getattr(args, field.name, None) is not None}
    if args.skip_default_run:
        given["default_run"] = False
    if args.flush_denormal:
        given["flush_denormal"] = True
    settings = replace(base, **given)
    sizes = {name: value for name, value in asdict(settings).items() if isinstance(value, int)
             and not isinstance(value, bool) and name not in ("seed", "warmup")}
    for name, value in [*sizes.items(), *(("lengths", length) for length in settings.lengths)]:
        if value < 1:
            raise ValueError(f"`--{name.replace('_', '-')}` must be at least 1, got {value}.")
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes, 2 rounds, no default run: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON here")
    parser.add_argument("--skip-default-run", action="store_true", help="do not time the default `gradtrace run`")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, help="timed rounds per section (default 10)")
    parser.add_argument("--warmup", type=int, help="untimed steps per candidate (default 2)")
    parser.add_argument("--lengths", type=_lengths, help="comma-separated sequence lengths (default 100,1000)")
    parser.add_argument("--batch", type=int, help="batch size of the step sections (default 32)")
    parser.add_argument("--hidden", type=int, help="hidden units of the step sections (default 128)")
    parser.add_argument("--ensemble", type=int, help="ensemble size K (default 16)")
    parser.add_argument("--large-hidden", type=int, help="H of the large-hidden section (default 1024)")
    parser.add_argument("--large-batch", type=int, help="B of the large-hidden section (default 32)")
    parser.add_argument("--large-length", type=int, help="T of the large-hidden section (default 100)")
    parser.add_argument("--matmul-size", type=int, help="n of the n x n matmul measuring the peak (default 2048)")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush denormal numbers to zero (torch.set_flush_denormal), as jax does by default: "
                             "gradients vanishing below 1e-38 in float32 then cost nothing extra")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    summary = run(settings, log=lambda message: print(message, file=sys.stderr, flush=True))
    print(format_table(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
