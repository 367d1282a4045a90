"""Time ``gradtrace.diagnose`` against one plain training step of the same model.

The model is the word language model of :mod:`gradtrace.doctor.examples` (PyTorch's
word_language_model example: an embedding, a 2-layer LSTM of 200 units, a decoder over 10,000 words),
on a chunk of T = 35 steps and 20 streams. One training step is the example's: forward from a zero
state, cross entropy, ``backward()``, clipping at 0.25, SGD. One diagnosis is ``diagnose(model,
word_language_loss, batch)``: the LSTM run as its unrolled twin with a probe on every state, one
``autograd.grad`` call, the lag passes, the eigenvalues of every gate's W_hh, the depth hooks and the
verdicts. Both run in the same process, interleaved in a shuffled order each round; medians are
reported. The goal is a diagnosis that costs at most 3 training steps.

Run ``python benchmarks/bench_doctor.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import torch

import gradtrace as gt
from gradtrace.doctor import examples

#: A diagnosis may cost this many plain training steps of the same model.
GOAL = 3.0


def measure(args: argparse.Namespace) -> dict:
    """Time both candidates; return the settings, the medians in milliseconds and their ratio."""
    torch.set_num_threads(args.threads)
    model = examples.word_language_model(seed=0, rnn_type=args.rnn_type, ntoken=args.ntoken, ninp=args.hidden,
                                         nhid=args.hidden, nlayers=args.layers)
    (batch,) = examples.word_language_batches(count=1, ntoken=args.ntoken, bptt=args.bptt, batch_size=args.batch)
    candidates = {
        "training step": lambda: examples.word_language_training_step(model, batch),
        "diagnose": lambda: gt.diagnose(model, examples.word_language_loss, batch),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates)
    shuffler = random.Random(0)
    for round_ in range(args.warmup + args.repeats):
        shuffler.shuffle(order)
        for name in order:
            started = time.perf_counter()
            candidates[name]()
            if round_ >= args.warmup:
                times[name].append(time.perf_counter() - started)
    medians = {name: 1000 * statistics.median(values) for name, values in times.items()}
    ratio = medians["diagnose"] / medians["training step"]
    settings = {k: getattr(args, k) for k in ("rnn_type", "ntoken", "hidden", "layers", "bptt", "batch", "threads",
                                              "repeats", "warmup")}
    return {"settings": settings, "milliseconds": medians, "ratio": ratio, "goal": GOAL, "met": ratio <= GOAL,
            "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rnn-type", default="LSTM", choices=examples.RNN_TYPES)
    parser.add_argument("--ntoken", type=int, default=10000, help="vocabulary size")
    parser.add_argument("--hidden", type=int, default=200, help="embedding and hidden units")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--bptt", type=int, default=35, help="steps per chunk T")
    parser.add_argument("--batch", type=int, default=20, help="parallel streams B")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    result = measure(args)
    for name, value in result["milliseconds"].items():
        print(f"{name:<14} {value:9.1f} ms")
    print(f"diagnose / training step = {result['ratio']:.2f} (goal ≤ {GOAL:g}: {'met' if result['met'] else 'missed'})")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
