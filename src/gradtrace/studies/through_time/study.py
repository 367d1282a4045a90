"""The seeds' first picture: how the gradient shrinks or grows along time as ρ(W_rec) varies."""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.instruments import Trace, trace
from gradtrace.models import ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, median_horizon
from gradtrace.studies.claims import Claim
from gradtrace.studies.through_time.claims import build_claims
from gradtrace.studies.through_time.config import (
    BASELINE_LOSS,
    BY_LAG,
    DECAY_RATE,
    DIVERGED,
    DIVERGED_AT,
    HORIZON,
    INIT,
    JACOBIAN_TOP_SINGULAR_VALUE,
    QUICK,
    RHO,
    SPECTRAL_RADIUS,
    TANH_SLOPE,
    TASK_LOSS,
    TOP_SINGULAR_VALUE,
    TRAIN_LOSS,
    TRAINED,
    ThroughTimeConfig,
    key,
    run_name,
)
from gradtrace.tasks import Adding, Batch
from gradtrace.train import fit

__all__ = ["ThroughTime", "ThroughTimeConfig"]

# The probe sequences are drawn apart from the training stream, from the same config seed.
_PROBE_SEED_OFFSET = 7919


class ThroughTime(Study):
    """A tanh ElmanRNN on the adding problem with W_rec rescaled to each spectral radius ρ.

    For each ρ, an ensemble of seeds is traced at initialization and again after a short training:
    ‖∂L/∂h_{T−k}‖ against the lag k, beside the envelope (σ_max(W_rec) · max tanh′)^k = σ_max^k that bounds
    it, and the mean tanh′ that says how saturated the units are.
    """

    name = "through-time"
    config_class = ThroughTimeConfig
    quick_config = QUICK
    title = "The gradient through time, for several spectral radii of W_rec"
    description = ("A tanh RNN on the adding problem, its W_rec rescaled to several spectral radii ρ, below and above "
                   "1. Going back k steps multiplies the error k times by W_recᵀ and by tanh′; the figure shows "
                   "‖∂L/∂h_(T−k)‖ against k for each ρ, beside the bound σ_max(W_rec)^k, at initialization and "
                   "after a short training.")
    text = {
        "title": {"en": title, "pt": "O gradiente através do tempo, para vários raios espectrais de W_rec"},
        "question": {
            "en": "Does a small W_rec make the gradient vanish along time, and a large one make it explode?",
            "pt": "Uma W_rec pequena faz o gradiente desaparecer ao longo do tempo, e uma grande o faz explodir?",
        },
        "description": {
            "en": description,
            "pt": "Uma RNN tanh no problema da adição, com W_rec reescalada para vários raios espectrais ρ, abaixo e "
                  "acima de 1. Voltar k passos multiplica o erro k vezes por W_recᵀ e por tanh′; a figura mostra "
                  "‖∂L/∂h_(T−k)‖ em função de k para cada ρ, ao lado do limite σ_max(W_rec)^k, na inicialização e "
                  "depois de um treino curto.",
        },
    }

    summary_columns = (("factor per step, init", key(INIT, DECAY_RATE), ".3f"),
                       ("factor per step, trained", key(TRAINED, DECAY_RATE), ".3f"),
                       ("horizon init", key(INIT, HORIZON), ".0f"), ("horizon trained", key(TRAINED, HORIZON), ".0f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        """Return one run per radius: trace at initialization, train briefly, trace again."""
        config = self.resolve(quick)
        return [RunSpec(run_name(rho), config.steps, _executor(config, rho, seeds)) for rho in config.radii]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Small ρ vanishes, the largest explodes, tanh tempers ρ just above 1, the factor follows ρ, the envelope
        bounds every profile (see :mod:`gradtrace.studies.through_time.claims`)."""
        return build_claims(self.resolve(quick))


def _trace_arrays(phase: str, measured: Trace, model: ElmanRNN, batch: Batch) -> dict[str, np.ndarray]:
    with torch.no_grad():
        states = model(batch.inputs).states  # (K, B, T, H)
    readings = {
        BY_LAG: measured.by_lag.double().numpy(),
        DECAY_RATE: measured.decay_rate.numpy(),
        HORIZON: measured.horizon.numpy(),
        SPECTRAL_RADIUS: measured.spectral_radius.double().numpy(),
        TOP_SINGULAR_VALUE: measured.top_singular_value.double().numpy(),
        JACOBIAN_TOP_SINGULAR_VALUE: measured.jacobian_singular_values[..., 0].double().numpy(),
        TANH_SLOPE: (1 - states.double().square()).mean((1, 2, 3)).numpy(),  # tanh′ read off h = tanh(a)
    }
    return {key(phase, name): value for name, value in readings.items()}


def _executor(config: ThroughTimeConfig, rho: float, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(config.length, variant="sum")
        model = ElmanRNN(task.input_size, config.hidden_size, task.output_size, activation="tanh",
                         readout="last", num_models=seeds, seed=config.seed)
        scale_to_spectral_radius_(model.W_rec.data, rho)
        probe_batch = task.sample(config.probe_batch_size, seed=config.seed + _PROBE_SEED_OFFSET)
        arrays = _trace_arrays(INIT, trace(model, probe_batch), model, probe_batch)
        run_config = {**config.model_dump(), RHO: rho, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(arrays, run_config, {}, "interrupted")) from None
        arrays.update(_trace_arrays(TRAINED, trace(model, probe_batch), model, probe_batch))
        arrays.update({TRAIN_LOSS: run.history["train/loss"], DIVERGED_AT: run.diverged_at})
        summary = {
            RHO: rho,
            BASELINE_LOSS: task.baseline_loss,
            key(INIT, DECAY_RATE): np.nanmedian(arrays[key(INIT, DECAY_RATE)]),
            key(TRAINED, DECAY_RATE): np.nanmedian(arrays[key(TRAINED, DECAY_RATE)]),
            key(INIT, HORIZON): median_horizon(arrays[key(INIT, HORIZON)]),
            key(TRAINED, HORIZON): median_horizon(arrays[key(TRAINED, HORIZON)]),
            TASK_LOSS: np.nanmedian(run.final["task/loss"]),
            DIVERGED: int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute
