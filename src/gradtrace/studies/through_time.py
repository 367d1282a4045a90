"""The seeds' first picture: how the gradient shrinks or grows along time as ρ(W_rec) varies."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gradtrace.errors import RunInterrupted
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.instruments import Trace, trace
from gradtrace.models import ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.tasks import Adding
from gradtrace.train import fit

__all__ = ["ThroughTime", "ThroughTimeConfig"]


@dataclass(frozen=True)
class ThroughTimeConfig:
    """Sizes of the through-time study (the defaults take about a minute on 2 CPU cores)."""

    # 2 and 3 show plainly what 1.2 and 1.5 only begin: tanh saturation tempers growth near 1.
    radii: tuple[float, ...] = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)
    length: int = 100        # long enough that 0.8^k and 1.2^k part by orders of magnitude
    hidden_size: int = 64
    steps: int = 300         # enough to move the weights, not to solve the task
    lr: float = 1e-3
    batch_size: int = 32
    probe_batch_size: int = 64
    seed: int = 0


QUICK = ThroughTimeConfig(radii=(0.5, 1.5), length=20, hidden_size=8, steps=5, batch_size=8,
                          probe_batch_size=8)


def _trace_arrays(prefix: str, measured: Trace) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/by_lag": measured.by_lag.double().numpy(),
        f"{prefix}/decay_rate": measured.decay_rate.numpy(),
        f"{prefix}/horizon": measured.horizon.numpy(),
        f"{prefix}/spectral_radius": measured.spectral_radius.double().numpy(),
        f"{prefix}/top_singular_value": measured.top_singular_value.double().numpy(),
        f"{prefix}/jacobian_top_singular_value": measured.jacobian_singular_values[..., 0].double().numpy(),
    }


class ThroughTime(Study):
    """A tanh ElmanRNN on the adding problem with W_rec rescaled to each spectral radius ρ.

    For each ρ, an ensemble of seeds is traced at initialization and again after training:
    ‖∂L/∂h_{T−k}‖ against the lag k, beside the envelope (σ_max(W_rec) · max tanh′)^k = σ_max^k
    that bounds it. ρ < 1 makes the profile fall geometrically (vanishing); ρ > 1 lets it grow.
    """

    name = "through-time"
    title = "The gradient through time, for several spectral radii of W_rec"
    description = ("‖∂L/∂h_{T−k}‖ against the lag k for a tanh RNN whose W_rec is rescaled to spectral "
                   "radius ρ, at initialization and after training, with the envelope σ_max^k.")

    summary_columns = (("factor per step, init", "init/decay_rate", ".3f"),
                       ("factor per step, trained", "trained/decay_rate", ".3f"),
                       ("horizon init", "init/horizon", ".0f"), ("horizon trained", "trained/horizon", ".0f"))

    def __init__(self, config: ThroughTimeConfig | None = None):
        self.config = config

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.config or (QUICK if quick else ThroughTimeConfig())
        return [RunSpec(f"rho={rho:g}", config.steps, _executor(config, rho, seeds)) for rho in config.radii]


def _executor(config: ThroughTimeConfig, rho: float, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(config.length, variant="sum")
        model = ElmanRNN(task.input_size, config.hidden_size, task.output_size, activation="tanh",
                         readout="last", num_models=seeds, seed=config.seed)
        scale_to_spectral_radius_(model.W_rec.data, rho)
        probe_batch = task.sample(config.probe_batch_size, seed=config.seed + 7919)
        arrays = _trace_arrays("init", trace(model, probe_batch))
        run_config = {**asdict(config), "rho": rho, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(arrays, run_config, {}, "interrupted")) from None
        arrays.update(_trace_arrays("trained", trace(model, probe_batch)))
        arrays.update({
            "train/loss": run.history["train/loss"],
            "diverged_at": run.diverged_at,
        })
        summary = {
            "rho": rho,
            "baseline_loss": task.baseline_loss,
            "init/decay_rate": np.nanmedian(arrays["init/decay_rate"]),
            "trained/decay_rate": np.nanmedian(arrays["trained/decay_rate"]),
            "init/horizon": np.median(arrays["init/horizon"]),
            "trained/horizon": np.median(arrays["trained/horizon"]),
            "task/loss": np.nanmedian(run.final["task/loss"]),
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute
