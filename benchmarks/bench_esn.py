"""Time an echo state network fit on Mackey-Glass: gradtrace's ESN against reservoirpy, same reservoir.

One fit is: run the reservoir over the training series from the zero state (teacher forcing), drop
the washout, and solve the ridge readout. gradtrace's ``ESN.fit_readout`` does all of it in one
call; reservoirpy runs ``Reservoir.run`` and then ``Ridge.fit`` (the node-level calls, its fastest
path). reservoirpy gets gradtrace's W_rec, W_in and bias copied in, once as a dense array and once
as a scipy CSR matrix (its own default format for a sparse reservoir), so all three compute the
same states. Both libraries run on one thread: the environment variables below are set before
numpy loads. Every candidate is timed in the same process, in a shuffled order each round; the
median is reported. After timing, each fitted readout predicts a held-out continuation of the
series one step ahead, teacher-forced from where the training series ended, and its NRMSE is
reported with how far the two libraries' states and predictions differ.

Needs reservoirpy (``pip install -e '.[bench]'``). Run ``python benchmarks/bench_esn.py --help``
for the options; see benchmarks/README.md.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_step import _iqr, time_candidates  # noqa: E402  (same folder: the shared timing protocol)

from gradtrace.models import ESN  # noqa: E402
from gradtrace.tasks import mackey_glass, nrmse  # noqa: E402

OURS = "gradtrace ESN"
REFERENCES = ("reservoirpy dense W", "reservoirpy sparse W")


@dataclass(frozen=True)
class Settings:
    """What one benchmark run measures.

    Attributes:
        units: reservoir units H.
        steps: training steps of the Mackey-Glass series (one-step-ahead targets).
        test_steps: held-out steps that follow, scored by NRMSE.
        washout: initial training steps dropped before the readout is fitted.
        spectral_radius, leak_rate, input_scaling, connectivity, bias_scaling, ridge: the ESN's.
        repeats: timed fits per candidate; the median is reported.
        warmup: untimed fits per candidate first.
        seed: seed of the reservoir and of the candidates' order.
    """

    units: int = 500
    steps: int = 10_000
    test_steps: int = 1_000
    washout: int = 100
    spectral_radius: float = 0.9
    leak_rate: float = 0.5
    input_scaling: float = 1.0
    connectivity: float = 0.1
    bias_scaling: float = 0.1
    ridge: float = 1e-8
    repeats: int = 5
    warmup: int = 1
    seed: int = 0


@dataclass
class Data:
    """The series, cut into training and held-out inputs and one-step-ahead targets, (T, 1) each."""

    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    test_inputs: torch.Tensor
    test_targets: torch.Tensor


def make_data(settings: Settings) -> Data:
    """Integrate the Mackey-Glass series (τ = 17) and split it."""
    series = mackey_glass(settings.steps + settings.test_steps + 1, dtype=torch.float64)[:, None]
    split = settings.steps
    return Data(series[:split], series[1 : split + 1], series[split:-1], series[split + 1 :])


def build_esn(settings: Settings) -> ESN:
    """Return gradtrace's float64 ESN with the benchmark's settings."""
    return ESN(1, settings.units, 1, spectral_radius=settings.spectral_radius, leak_rate=settings.leak_rate,
               input_scaling=settings.input_scaling, connectivity=settings.connectivity,
               bias_scaling=settings.bias_scaling, ridge=settings.ridge, washout=settings.washout,
               seed=settings.seed, dtype=torch.float64)


def build_reservoirpy(esn: ESN, *, sparse: bool):
    """Return a reservoirpy (Reservoir, Ridge) pair holding ``esn``'s reservoir weights."""
    import scipy.sparse
    from reservoirpy.nodes import Reservoir, Ridge

    W = esn.W_rec[0].numpy().copy()  # noqa: N806
    if sparse:
        W = scipy.sparse.csr_matrix(W)  # noqa: N806
    # reservoirpy: x ← (1 − lr) x + lr·tanh(W x + Win u + bias), with Win (units, features).
    reservoir = Reservoir(W=W, Win=esn.W_in[0].numpy().copy(), bias=esn.b[0].numpy().copy(), lr=esn.leak_rate)
    reservoir.initialize(np.zeros((1, esn.input_size)))  # so that reset() has a state to zero
    return reservoir, Ridge(ridge=esn.ridge)


def build_candidates(settings: Settings, data: Data) -> tuple[dict[str, Callable[[], None]], dict]:
    """Return the fits to time by name, and the fitted objects to score afterwards."""
    esn = build_esn(settings)
    u, y = data.train_inputs.numpy(), data.train_targets.numpy()

    def ours() -> None:
        esn.fit_readout(data.train_inputs, data.train_targets)

    candidates = {OURS: ours}
    fitted = {OURS: esn}
    for name, sparse in zip(REFERENCES, (False, True)):
        reservoir, readout = build_reservoirpy(esn, sparse=sparse)

        def theirs(reservoir=reservoir, readout=readout) -> None:
            reservoir.reset()
            readout.fit(reservoir.run(u), y, warmup=settings.washout)

        candidates[name] = theirs
        fitted[name] = (reservoir, readout)
    return candidates, fitted


def score(fitted: dict, data: Data) -> tuple[dict[str, float], dict[str, float]]:
    """Return the held-out one-step NRMSE of each fitted candidate, and how far reservoirpy's differ.

    Each candidate runs over the training series again, then on over the held-out one (its
    states carry on from where training ended).
    """
    esn: ESN = fitted[OURS]
    inputs = torch.cat([data.train_inputs, data.test_inputs])
    split = data.train_inputs.shape[0]
    our_states = esn.reservoir_states(inputs)[0]  # (T, H)
    our_prediction = esn.predict(inputs)[0, split:]
    errors = {OURS: float(nrmse(our_prediction, data.test_targets))}
    differences = {}
    for name in REFERENCES:
        reservoir, readout = fitted[name]
        reservoir.reset()
        states = torch.from_numpy(reservoir.run(inputs.numpy()))
        prediction = torch.from_numpy(readout.run(states[split:].numpy()))
        errors[name] = float(nrmse(prediction, data.test_targets))
        key = "sparse" if "sparse" in name else "dense"
        differences[f"max_state_difference_{key}"] = float((states - our_states).abs().max())
        differences[f"max_prediction_difference_{key}"] = float((prediction - our_prediction).abs().max())
    return errors, differences


def summarize(samples: dict[str, list[float]], errors: dict[str, float], differences: dict[str, float],
              settings: Settings) -> dict:
    """Reduce the samples to medians in milliseconds and the ratios under stable keys.

    Keys of ``ratios``: ``ours_vs_reservoirpy_dense`` and ``ours_vs_reservoirpy_sparse`` (our fit
    time over reservoirpy's with that matrix format; below 1: ours is faster), and
    ``ours_vs_reservoirpy``, over the faster of the two.
    """
    import reservoirpy

    ms = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    dense, sparse = (ms[name] for name in REFERENCES)
    ratios = {
        "ours_vs_reservoirpy_dense": ms[OURS] / dense,
        "ours_vs_reservoirpy_sparse": ms[OURS] / sparse,
        "ours_vs_reservoirpy": ms[OURS] / min(dense, sparse),
    }
    return {
        "settings": asdict(settings),
        "environment": {"torch": torch.__version__, "numpy": np.__version__,
                        "reservoirpy": reservoirpy.__version__, "python": platform.python_version(),
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(),
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "median_ms": ms,
        "iqr_ms": {name: 1e3 * _iqr(values) for name, values in samples.items()},
        "ratios": ratios,
        "nrmse": errors,
        "agreement": differences,
    }


def format_table(summary: dict) -> str:
    """Draw the summary as a plain-text table."""
    s, ms, iqr, errors = summary["settings"], summary["median_ms"], summary["iqr_ms"], summary["nrmse"]
    ratios, agreement = summary["ratios"], summary["agreement"]
    lines = [
        f"ESN fit (reservoir run + ridge readout), H={s['units']}, {s['steps']} Mackey-Glass steps, "
        f"washout {s['washout']}, float64, 1 thread, median of {s['repeats']}",
        "",
        f"{'candidate':<22} {'ms/fit':>9} {'IQR':>7} {'test NRMSE':>11}",
        "-" * 52,
    ]
    lines += [f"{name:<22} {ms[name]:9.1f} {iqr[name]:7.1f} {errors[name]:11.3e}" for name in (OURS, *REFERENCES)]
    lines += [
        "-" * 52,
        f"ours / reservoirpy dense W:  {ratios['ours_vs_reservoirpy_dense']:.2f}",
        f"ours / reservoirpy sparse W: {ratios['ours_vs_reservoirpy_sparse']:.2f}",
        f"ours / faster reservoirpy:   {ratios['ours_vs_reservoirpy']:.2f}",
        f"max |state difference|: dense {agreement['max_state_difference_dense']:.1e}, "
        f"sparse {agreement['max_state_difference_sparse']:.1e}; max |prediction difference|: dense "
        f"{agreement['max_prediction_difference_dense']:.1e}, sparse "
        f"{agreement['max_prediction_difference_sparse']:.1e}",
    ]
    return "\n".join(lines)


def run(settings: Settings) -> dict:
    """Build the data and the candidates, time them, score them and return the summary."""
    torch.set_num_threads(1)
    data = make_data(settings)
    candidates, fitted = build_candidates(settings, data)
    samples = time_candidates(candidates, repeats=settings.repeats, warmup=settings.warmup, seed=settings.seed)
    errors, differences = score(fitted, data)
    return summarize(samples, errors, differences, settings)


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=defaults.units, help="reservoir units")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="training steps")
    parser.add_argument("--test-steps", type=int, default=defaults.test_steps, help="held-out steps")
    parser.add_argument("--washout", type=int, default=defaults.washout, help="steps dropped before the fit")
    parser.add_argument("--spectral-radius", type=float, default=defaults.spectral_radius)
    parser.add_argument("--leak-rate", type=float, default=defaults.leak_rate)
    parser.add_argument("--input-scaling", type=float, default=defaults.input_scaling)
    parser.add_argument("--connectivity", type=float, default=defaults.connectivity)
    parser.add_argument("--bias-scaling", type=float, default=defaults.bias_scaling)
    parser.add_argument("--ridge", type=float, default=defaults.ridge)
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="timed fits each")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed fits each")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    settings = Settings(units=args.units, steps=args.steps, test_steps=args.test_steps, washout=args.washout,
                        spectral_radius=args.spectral_radius, leak_rate=args.leak_rate,
                        input_scaling=args.input_scaling, connectivity=args.connectivity,
                        bias_scaling=args.bias_scaling, ridge=args.ridge, repeats=args.repeats,
                        warmup=args.warmup, seed=args.seed)
    summary = run(settings)
    print(format_table(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
