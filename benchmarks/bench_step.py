"""Time one traced training step of gradtrace's unrolled models against torch's built-in modules.

One step is: forward over the batch, MSE loss on the last step's output, ``backward()``,
``zero_grad()`` and an SGD step. The gradtrace models run with ``probe=True`` (every state gets a
zero probe, so ∂L/∂h_t is read from ``probes.grad``), by default through their hand-written BPTT
and, as "traced loop", through the autograd loop (``use_fast_bptt=False``);
``torch.nn.RNN``/``nn.LSTM``/``nn.GRU`` (batch_first, with an ``nn.Linear`` head) run the same step
untraced. Every candidate is timed in the same
process, interleaved in a shuffled order each repeat so that drift in the machine's speed falls
on all of them alike, and the median is reported.

Run ``python benchmarks/bench_step.py --help`` for the options; see benchmarks/README.md for what
the ratios mean.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from gradtrace.models import GRU, LSTM, ElmanRNN

INPUT_SIZE = 2
OUTPUT_SIZE = 1
#: Each gradtrace model and the torch module it is compared with.
REFERENCES = {"elman": "torch.nn.RNN", "lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}
LEARNING_RATE = 1e-3  # small, so that hundreds of steps on random data stay finite


@dataclass(frozen=True)
class Settings:
    """What one benchmark run measures.

    Attributes:
        batch: sequences per batch B.
        hidden: hidden units H.
        length: time steps T.
        threads: torch intra-op threads (CI runs on two cores).
        repeats: timed steps per candidate; the median is reported.
        warmup: untimed steps per candidate first (allocator, caches, lazy init).
        ensemble: ensemble size K of the ensemble rows, compared with K single models.
        seed: seed of the data, the weights and the candidates' order.
    """

    batch: int = 32
    hidden: int = 128
    length: int = 100
    threads: int = 2
    repeats: int = 50
    warmup: int = 5
    ensemble: int = 8
    seed: int = 0


def torch_step(module: nn.Module, head: nn.Linear, inputs: torch.Tensor,
               targets: torch.Tensor) -> Callable[[], None]:
    """Return one untraced training step of a torch recurrent module (batch_first) with a linear head."""
    optimizer = torch.optim.SGD([*module.parameters(), *head.parameters()], lr=LEARNING_RATE)

    def step() -> None:
        outputs, _ = module(inputs)
        loss = nn.functional.mse_loss(head(outputs[:, -1]), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def gradtrace_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                   probe: bool) -> Callable[[], None]:
    """Return one training step of a gradtrace ensemble, each member on its own loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def step() -> None:
        trajectory = model(inputs, probe=probe)
        # outputs (K, B, output_size) with readout="last"; summing the member losses trains each
        # member on its own mean squared error, as K separate models would be.
        loss = (trajectory.outputs - targets).square().mean(dim=(1, 2)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def build_candidates(settings: Settings) -> dict[str, Callable[[], None]]:
    """Return the training steps to time, by name."""
    B, H, T, K = settings.batch, settings.hidden, settings.length, settings.ensemble
    generator = torch.Generator().manual_seed(settings.seed)
    inputs = torch.randn(B, T, INPUT_SIZE, generator=generator)
    targets = torch.randn(B, OUTPUT_SIZE, generator=generator)
    torch.manual_seed(settings.seed)
    candidates = {}
    for name, cls, reference in (("elman", ElmanRNN, nn.RNN), ("lstm", LSTM, nn.LSTM), ("gru", GRU, nn.GRU)):
        def build(num_models: int = 1, cls=cls, **options) -> nn.Module:
            return cls(INPUT_SIZE, H, OUTPUT_SIZE, num_models=num_models, readout="last",
                       seed=settings.seed, **options)

        module = reference(INPUT_SIZE, H, batch_first=True)
        head = nn.Linear(H, OUTPUT_SIZE)
        candidates[f"torch.nn.{reference.__name__}"] = torch_step(module, head, inputs, targets)
        candidates[f"{name} traced"] = gradtrace_step(build(), inputs, targets, probe=True)
        candidates[f"{name} traced loop"] = gradtrace_step(build(use_fast_bptt=False), inputs, targets,
                                                           probe=True)
        candidates[f"{name} untraced"] = gradtrace_step(build(), inputs, targets, probe=False)
        candidates[f"{name} traced K={K}"] = gradtrace_step(build(K), inputs, targets, probe=True)
    return candidates


def time_candidates(candidates: dict[str, Callable[[], None]], *, repeats: int, warmup: int,
                    seed: int = 0) -> dict[str, list[float]]:
    """Time each candidate ``repeats`` times, interleaved in a fresh random order each round.

    Returns:
        Seconds per step of every timed repeat, by candidate name.
    """
    for step in candidates.values():
        for _ in range(warmup):
            step()
    order = list(candidates)
    shuffler = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    # What lives now (torch's modules, the models) is not garbage: frozen, each collection scans only
    # what the steps made rather than every object torch has loaded.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            shuffler.shuffle(order)
            for name in order:
                gc.collect()  # so that no candidate pays for another's garbage
                start = time.perf_counter()
                candidates[name]()
                samples[name].append(time.perf_counter() - start)
    finally:
        gc.unfreeze()
    return samples


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    low, _, high = statistics.quantiles(values, n=4)
    return high - low


def summarize(samples: dict[str, list[float]], settings: Settings) -> dict:
    """Reduce the samples to medians in milliseconds and the ratios under stable keys.

    Keys of ``ratios``: ``{model}_traced_vs_torch``, ``{model}_loop_vs_torch`` and
    ``{model}_untraced_vs_torch`` (below 1: faster than torch's own module),
    ``{model}_traced_vs_loop`` (the hand-written BPTT over the autograd loop, both traced),
    ``{model}_traced_vs_untraced`` (the price of the probes),
    ``{model}_ensemble_vs_singles`` (the K-member step over K one-member steps; below 1: one
    ensemble is cheaper than K separate runs).
    """
    K = settings.ensemble
    ms = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    ratios = {}
    for model, reference in REFERENCES.items():
        traced, untraced = ms[f"{model} traced"], ms[f"{model} untraced"]
        ratios[f"{model}_traced_vs_torch"] = traced / ms[reference]
        ratios[f"{model}_loop_vs_torch"] = ms[f"{model} traced loop"] / ms[reference]
        ratios[f"{model}_traced_vs_loop"] = traced / ms[f"{model} traced loop"]
        ratios[f"{model}_untraced_vs_torch"] = untraced / ms[reference]
        ratios[f"{model}_traced_vs_untraced"] = traced / untraced
        ratios[f"{model}_ensemble_vs_singles"] = ms[f"{model} traced K={K}"] / (K * traced)
    return {
        "settings": asdict(settings),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "machine": platform.machine(), "cpus": os.cpu_count()},
        "median_ms": ms,
        "iqr_ms": {name: 1e3 * _iqr(values) for name, values in samples.items()},
        "ratios": ratios,
    }


def format_table(summary: dict) -> str:
    """Draw the summary as a plain-text table."""
    s, ms, iqr = summary["settings"], summary["median_ms"], summary["iqr_ms"]
    ratios, K = summary["ratios"], s["ensemble"]
    lines = [
        f"One training step (forward, MSE at the last step, backward, SGD), B={s['batch']} "
        f"H={s['hidden']} T={s['length']}, {s['threads']} threads, median of {s['repeats']}, "
        f"torch {summary['environment']['torch']}",
        "",
        f"{'candidate':<20} {'ms/step':>8} {'IQR':>7}   ratio",
    ]
    for model, reference in REFERENCES.items():
        ensemble = f"{model} traced K={K}"
        rows = [
            (reference, "1.00  (reference)"),
            (f"{model} traced", f"{ratios[f'{model}_traced_vs_torch']:.2f} x {reference};  "
                                f"traced/loop {ratios[f'{model}_traced_vs_loop']:.2f}"),
            (f"{model} traced loop", f"{ratios[f'{model}_loop_vs_torch']:.2f} x {reference}"),
            (f"{model} untraced", f"{ratios[f'{model}_untraced_vs_torch']:.2f} x {reference};  "
                                  f"traced/untraced {ratios[f'{model}_traced_vs_untraced']:.2f}"),
            (ensemble, f"{ratios[f'{model}_ensemble_vs_singles']:.2f} x {K} single traced steps "
                       f"({K * ms[f'{model} traced']:.1f} ms)"),
        ]
        lines.append("-" * 78)
        lines += [f"{name:<20} {ms[name]:8.2f} {iqr[name]:7.2f}   {ratio}" for name, ratio in rows]
    return "\n".join(lines)


def run(settings: Settings) -> dict:
    """Build the candidates, time them and return the summary."""
    torch.set_num_threads(settings.threads)
    candidates = build_candidates(settings)
    samples = time_candidates(candidates, repeats=settings.repeats, warmup=settings.warmup,
                              seed=settings.seed)
    return summarize(samples, settings)


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=defaults.batch, help="sequences per batch")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help="hidden units")
    parser.add_argument("--length", type=int, default=defaults.length, help="time steps")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch threads")
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="timed steps each")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed steps each")
    parser.add_argument("--ensemble", type=int, default=defaults.ensemble, help="ensemble size K")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    settings = Settings(batch=args.batch, hidden=args.hidden, length=args.length,
                        threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                        ensemble=args.ensemble, seed=args.seed)
    summary = run(settings)
    print(format_table(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
