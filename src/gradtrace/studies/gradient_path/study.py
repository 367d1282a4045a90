"""The course's opening: the recurrent network, its cost, and one backward pass through time."""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.instruments import trace
from gradtrace.models import ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.gradient_path.claims import build_claims
from gradtrace.studies.gradient_path.config import (
    CARRIED,
    EQUATIONS_VS_AUTOGRAD,
    FINITE_DIFFERENCES_VS_AUTOGRAD,
    LOSS,
    OWN_ERROR,
    PROBES_VS_AUTOGRAD,
    PROFILE,
    QUICK,
    READOUTS,
    SUM_VS_AUTOGRAD,
    TRACE_VS_AUTOGRAD,
    W_REC_TERMS,
    GradientPathConfig,
)
from gradtrace.studies.gradient_path.measurements import (
    by_autograd_per_step,
    by_equations,
    by_probes,
    relative_difference,
    w_rec_by_finite_differences,
)
from gradtrace.tasks import Batch, MackeyGlass

__all__ = ["GradientPath", "GradientPathConfig"]

# The sequences are drawn apart from the weights, from the same config seed.
_DATA_SEED_OFFSET = 104_729


class GradientPath(Study):
    """A tanh Elman RNN (W_in, W_rec, W_out) under the cost ½(ŷ − y)², many-to-one and many-to-many.

    The same initialized networks (one per seed) read the same Mackey–Glass windows; the next value is the
    target. Many-to-one scores the last step only (readout "last"), many-to-many every step (readout "all").
    In each, ∂L/∂h_t is measured at every step by gradtrace's one backward pass, by the course's equations
    written out, and by one autograd call per step; ∂L/∂W_rec as the sum of its per-step terms, by autograd
    and by finite differences. Everything is float64.
    """

    name = "gradient-path"
    config_class = GradientPathConfig
    quick_config = QUICK
    title = "The recurrent network and its gradient path"
    description = ("A tanh RNN with input weights W_in, recurrent weights W_rec and output weights W_out: "
                   "h_t = tanh(W_in x_t + W_rec h_(t−1) + b), ŷ_t = W_out h_t + b_out, predicting the next value of a "
                   "Mackey–Glass series with the cost ½(ŷ − y)², either at the last step only (many-to-one) or at "
                   "every step (many-to-many). Back-propagation through time computes "
                   "δ_t = ∂L/∂h_t = W_outᵀ ∂L/∂ŷ_t + W_recᵀ (tanh′_(t+1) ⊙ δ_(t+1)) from the last step to the first, "
                   "and ∂L/∂W_rec = Σ_t (tanh′_t ⊙ δ_t) h_(t−1)ᵀ. Both ways of scoring are measured on the same "
                   "initialized networks and sequences, in float64.")
    text = {
        "title": {"en": title, "pt": "A rede recorrente e o caminho do gradiente"},
        "question": {
            "en": "Where does the error of ½(ŷ − y)² enter a recurrent network, how does one backward pass through "
                  "time carry it to every earlier step, and what does W_rec's gradient collect from each step?",
            "pt": "Onde o erro de ½(ŷ − y)² entra numa rede recorrente, como uma única passagem para trás no tempo o "
                  "leva a cada passo anterior, e o que o gradiente de W_rec recolhe de cada passo?",
        },
        "description": {
            "en": description,
            "pt": "Uma RNN tanh com pesos de entrada W_in, pesos recorrentes W_rec e pesos de saída W_out: "
                  "h_t = tanh(W_in x_t + W_rec h_(t−1) + b), ŷ_t = W_out h_t + b_out, prevendo o próximo valor de "
                  "uma série de Mackey–Glass com o custo ½(ŷ − y)², só no último passo (muitos-para-um) ou em "
                  "todos os passos (muitos-para-muitos). A retropropagação através do tempo calcula "
                  "δ_t = ∂L/∂h_t = W_outᵀ ∂L/∂ŷ_t + W_recᵀ (tanh′_(t+1) ⊙ δ_(t+1)) do último passo ao primeiro, e "
                  "∂L/∂W_rec = Σ_t (tanh′_t ⊙ δ_t) h_(t−1)ᵀ. As duas formas de avaliar são medidas nas mesmas redes "
                  "inicializadas e nas mesmas sequências, em float64.",
        },
    }
    summary_columns = (("loss", LOSS, ".4f"), ("probes vs autograd", PROBES_VS_AUTOGRAD, ".1e"),
                       ("Σ_t vs ∂L/∂W_rec", SUM_VS_AUTOGRAD, ".1e"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        """Return one run per way of scoring: many-to-one and many-to-many."""
        config = self.resolve(quick)
        return [RunSpec(name, 1, _executor(config, name, seeds)) for name in READOUTS]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Return the claims (see :mod:`gradtrace.studies.gradient_path.claims`)."""
        return build_claims(self.resolve(quick))


def _batch(config: GradientPathConfig, name: str) -> Batch:
    """Return the Mackey–Glass windows in float64, scored at every step or at the last only."""
    windows = MackeyGlass(config.length).sample(config.batch_size, seed=config.seed + _DATA_SEED_OFFSET)
    mask = windows.mask.clone()
    if READOUTS[name] == "last":
        mask[:, :-1] = False
    return Batch(windows.inputs.double(), windows.targets.double(), mask, loss="half_mse")


def _norms(per_step: torch.Tensor) -> np.ndarray:
    """(K, B, T, H) → (K, T): the norm over sequences and units at each step, as gradtrace's trace takes it."""
    return torch.linalg.vector_norm(per_step, dim=(1, 3)).numpy()


def _executor(config: GradientPathConfig, name: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        batch = _batch(config, name)
        model = ElmanRNN(1, config.hidden_size, 1, activation="tanh", readout=READOUTS[name], num_models=seeds,
                         seed=config.seed, dtype=torch.float64)
        measured = trace(model, batch, jacobian_steps=0)
        probes, w_rec = by_probes(model, batch)
        written = by_equations(model, batch)
        reference = by_autograd_per_step(model, batch)
        estimate = w_rec_by_finite_differences(model, batch, config.finite_difference_step)
        reference_norms = torch.linalg.vector_norm(reference, dim=(1, 3))
        arrays = {
            PROFILE: measured.grad_norms.numpy(),
            OWN_ERROR: _norms(written.own),
            CARRIED: _norms(written.carried),
            W_REC_TERMS: torch.linalg.vector_norm(written.w_rec_terms, dim=(2, 3)).numpy(),
            PROBES_VS_AUTOGRAD: relative_difference(probes, reference, (1, 3)).amax(1).numpy(),
            EQUATIONS_VS_AUTOGRAD: relative_difference(written.delta, reference, (1, 3)).amax(1).numpy(),
            TRACE_VS_AUTOGRAD: ((measured.grad_norms - reference_norms).abs() / reference_norms).amax(1).numpy(),
            SUM_VS_AUTOGRAD: relative_difference(written.w_rec_terms.sum(1), w_rec, (1, 2)).numpy(),
            FINITE_DIFFERENCES_VS_AUTOGRAD: relative_difference(estimate, w_rec, (1, 2)).numpy(),
        }
        summary = {LOSS: float(measured.loss.median())}
        summary.update({key: float(np.max(arrays[key])) for key in (
            PROBES_VS_AUTOGRAD, EQUATIONS_VS_AUTOGRAD, TRACE_VS_AUTOGRAD, SUM_VS_AUTOGRAD,
            FINITE_DIFFERENCES_VS_AUTOGRAD)})
        run_config = {**config.model_dump(), "readout": READOUTS[name], "seeds": seeds, "loss": batch.loss}
        if callback is not None:
            callback(0, {})
        return Outcome(arrays, run_config, summary)

    return execute
