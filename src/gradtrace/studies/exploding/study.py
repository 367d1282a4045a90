"""The exploding study: one start with ρ(W_rec) > 1, plain SGD, and each cure of the exploding gradient as a run."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.models import ElmanRNN
from gradtrace.remedies import (
    GradientTransform,
    Truncation,
    chain,
    clip_by_global_norm,
    clip_by_value,
    pascanu_penalty,
    weight_penalty,
)
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, run_arrays
from gradtrace.studies.claims import Claim
from gradtrace.studies.exploding import claims as _claims
from gradtrace.studies.exploding.config import (
    BASELINE,
    BELOW_BASELINE,
    CLIP_FIRED,
    CLIP_NORM,
    CLIP_VALUE,
    DIVERGED,
    FIRED_FRACTION,
    FIRST_DIVERGENCE,
    GRAD_NORM,
    L2,
    L2_CLIP,
    MAX_GRAD_NORM,
    MEDIAN_TEST_LOSS,
    OMEGA,
    OMEGA_CLIP,
    QUICK,
    SEEDS,
    STEP,
    TEST_LOSS,
    TRAIN_BASELINE,
    TRAIN_LOSS,
    ExplodingConfig,
)
from gradtrace.tasks import Forecast
from gradtrace.train import Run, fit

__all__ = ["Exploding", "make_remedies", "make_tasks"]


def make_tasks(config: ExplodingConfig) -> tuple[Forecast, Forecast]:
    """Return the training and the test task: the two parts of one Mackey–Glass series drawn from ``config.seed``."""
    train = Forecast("mackey_glass", window=config.length, length=config.series_length, seed=config.seed)
    return train, dataclasses.replace(train, split="test")


def make_remedies(cure: str, config: ExplodingConfig) -> GradientTransform | None:
    """Return the gradient transform of ``cure`` (None for plain SGD and for truncation, which is not a transform).

    A penalty comes before the clip, so the clip bounds the step along the penalized gradient, as
    Pascanu et al. clipped the gradient of E + αΩ.
    """
    clip = clip_by_global_norm(config.max_norm)
    return {
        CLIP_NORM: clip,
        CLIP_VALUE: clip_by_value(-config.max_value, config.max_value),
        OMEGA: pascanu_penalty(config.omega_weight),
        OMEGA_CLIP: chain(pascanu_penalty(config.omega_weight), clip),
        L2: weight_penalty(config.l2),
        L2_CLIP: chain(weight_penalty(config.l2), clip),
    }.get(cure)


class Exploding(Study):
    """A tanh Elman RNN started with ρ(W_rec) > 1, trained by plain SGD without a cure and with each cure.

    Every run starts from the same weights (W_rec rescaled to ``spectral_radius``) and sees the same
    batches; only the cure differs. Without one, the gradient's norm climbs by orders of magnitude within
    the first few dozen steps, a step along it throws the weights out of range, and the loss grows until
    it is no longer a number: that member is recorded as diverged and frozen, the others train on. The
    cures: clipping the gradient by its norm or by value (Pascanu et al. 2013), truncated
    back-propagation through time with a short and a longer window (the product of Jacobians is only as
    long as the window), Pascanu's Ω and an L2 penalty on the weights, each alone and each followed by
    clipping by norm. The claims say which of them let the same start train.
    """

    name = "exploding"
    config_class = ExplodingConfig
    quick_config = QUICK
    title = "The exploding gradient and its cures"
    description = ("A tanh Elman RNN started with ρ(W_rec) > 1 predicts the next value of the Mackey–Glass series "
                   "from its last values, trained by plain SGD without a cure, with the gradient clipped by norm or "
                   "by value, with truncated BPTT (a short and a longer window), and with Pascanu's Ω or an L2 "
                   "penalty, each alone and with clipping: the gradient's norm before any cure acts, the training "
                   "loss, which members diverge, and how often each clip acted.")
    text = {
        "title": {"en": title, "pt": "O gradiente que explode e suas curas"},
        "question": {
            "en": "Started with a large W_rec, plain SGD diverges. Which cures let the same start train, and which "
                  "only with clipping?",
            "pt": "Partindo de uma W_rec grande, o SGD simples diverge. Quais curas permitem que o mesmo ponto de "
                  "partida treine, e quais só com a poda do gradiente?",
        },
        "description": {
            "en": description,
            "pt": "Uma RNN de Elman tanh iniciada com ρ(W_rec) > 1 prevê o próximo valor da série de Mackey–Glass a "
                  "partir dos seus últimos valores, treinada por SGD simples sem cura, com poda do gradiente pela "
                  "norma ou por valor, com BPTT truncada (uma janela curta e uma mais longa) e com o Ω de Pascanu ou "
                  "uma penalidade L2, cada uma sozinha e com poda: a norma do gradiente antes de qualquer cura agir, "
                  "a perda de treino, quais membros divergem e com que frequência cada poda agiu.",
        },
    }

    summary_columns = (("diverged", DIVERGED, "d"), ("of", SEEDS, "d"), ("first at step", FIRST_DIVERGENCE, "d"),
                       ("largest norm", MAX_GRAD_NORM, ".2e"), ("clipped", FIRED_FRACTION, ".0%"),
                       ("test loss", MEDIAN_TEST_LOSS, ".4f"), ("baseline", BASELINE, ".4f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(cure, config.steps, _executor(config, cure, seeds)) for cure in config.cures]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Plain SGD diverges; clipping by norm, by value and a short truncation train; Ω and L2 need the clip.

        See :mod:`gradtrace.studies.exploding.claims`; a claim whose cures the config does not run is left out.
        """
        return _claims.build(self.resolve(quick))


def _executor(config: ExplodingConfig, cure: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        train, test = make_tasks(config)
        model = ElmanRNN(train.input_size, config.hidden_size, train.output_size, readout="last", num_models=seeds,
                         seed=config.seed)
        scale_to_spectral_radius_(model.W_rec.data, config.spectral_radius)
        remedy = make_remedies(cure, config)
        k = config.truncation(cure)
        run_config = {**config.model_dump(), "cure": cure, SEEDS: seeds, "task": train.describe(),
                      "remedy": remedy.describe() if remedy is not None else None,
                      "truncation": Truncation(k, k).describe() if k is not None else None}
        try:
            run = fit(model, train, steps=config.steps, optimizer="sgd", lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, eval_batch_size=config.eval_batch_size, remedies=remedy,
                      truncation=(k, k) if k is not None else None, on_nonfinite="record", callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(_arrays(error.partial), run_config, {},
                                                             "interrupted")) from None
        arrays = _arrays(run)
        test_loss = _test_losses(model, test, run.diverged_at >= 0)
        arrays[TEST_LOSS] = test_loss
        return Outcome(arrays, run_config, _summary(run, arrays, test_loss, seeds, train, test))

    return execute


def _test_losses(model: ElmanRNN, test: Forecast, diverged: np.ndarray) -> np.ndarray:
    """Return each member's MSE over every window of the test part; +inf for a member that diverged."""
    batch = test.windows()
    with torch.no_grad():
        outputs = model(batch.inputs).outputs[..., 0].double()  # (K, N)
    losses = (outputs - batch.targets[:, -1, 0].double()).square().mean(-1).numpy()
    return np.where(diverged | ~np.isfinite(losses), np.inf, losses)


def _summary(run: Run, arrays: dict[str, np.ndarray], test_loss: np.ndarray, seeds: int, train: Forecast,
             test: Forecast) -> dict:
    diverged = run.diverged_at >= 0
    norms = run.history["grad/norm"]
    finite = test_loss[np.isfinite(test_loss)]
    return {
        SEEDS: seeds,
        DIVERGED: int(diverged.sum()),
        FIRST_DIVERGENCE: int(run.diverged_at[diverged].min()) if diverged.any() else -1,
        MAX_GRAD_NORM: float(np.nanmax(np.where(np.isfinite(norms), norms, np.nan))) if np.isfinite(norms).any()
        else float("nan"),
        FIRED_FRACTION: float(np.nanmean(arrays[CLIP_FIRED])) if CLIP_FIRED in arrays else 0.0,
        MEDIAN_TEST_LOSS: float(np.median(finite)) if finite.size else float("nan"),
        BELOW_BASELINE: int((test_loss < test.baseline_loss).sum()),
        BASELINE: test.baseline_loss,
        TRAIN_BASELINE: train.baseline_loss,
        "steps_done": run.steps_done,
    }


def _arrays(run: Run) -> dict[str, np.ndarray]:
    fired = [key for key in run.history if key.endswith("/fired")]  # one clip per cure, whichever it is
    return run_arrays(run, renamed={"step": STEP, "train/loss": TRAIN_LOSS, "grad/norm": GRAD_NORM},
                      optional={key: CLIP_FIRED for key in fired[:1]})
