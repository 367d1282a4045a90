"""Jaeger 2001: an echo state network learns the Mackey-Glass attractor and predicts it 84 steps ahead."""

from __future__ import annotations

import time

import torch

from gradtrace.models import ESN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.published import get_published
from gradtrace.tasks import mackey_glass

__all__ = ["Jaeger2001", "Jaeger2001Config"]


class Jaeger2001Config(StudyConfig):
    """Jaeger's protocol (GMD Report 148, section 6) at his sizes; the full study takes well under a minute."""

    train_lengths: tuple[int, ...] = (3000, 21000)  # his two training sequences
    tau: float = 17.0
    reservoir_size: int = 400
    spectral_radius: float = 0.95   # his effective spectral radius
    leak_rate: float = 1.0          # he used leaky integrators (a = 0.9); plain tanh units do as well here
    input_scaling: float = 1.0      # the fed-back output enters like his feedback weights
    bias_scaling: float = 0.2       # his constant bias input 0.2, here one weight per unit
    connectivity: float = 0.05
    ridge: float = 1e-10            # smaller ones leave the 21,000-step normal equations singular
    washout: int = 1000             # his discarded initial states
    horizon: int = 84               # NRMSE84
    test_starts: int = 20           # free runs per seed (he averaged 20 runs)
    teacher_forced: int = 1000      # steps before each free run
    show_steps: int = 400           # length of the drawn free run
    seed: int = 0


QUICK = Jaeger2001Config(train_lengths=(600,), reservoir_size=60, washout=100, test_starts=3, teacher_forced=100,
                         ridge=1e-8, show_steps=100)


def _squash(x: torch.Tensor) -> torch.Tensor:
    """Jaeger's shift and squash of the Mackey-Glass series: tanh(x − 1)."""
    return torch.tanh(x - 1.0)


def _unsquash(y: torch.Tensor) -> torch.Tensor:
    return torch.atanh(y.clamp(-1 + 1e-12, 1 - 1e-12)) + 1.0


class Jaeger2001(Study):
    """An ESN teacher-forced on the squashed Mackey-Glass series (τ = 17), then run free.

    For every seed (one reservoir each): the one-step NRMSE on held-out data, NRMSE84 (the error 84
    free-running steps after 1000 teacher-forced ones, in the original coordinates, normalized by the
    signal's standard deviation, over ``test_starts`` starting points), and the error against the
    free-run horizon. Beside Jaeger's NRMSE84 of 2.8·10⁻⁴ (3000 training steps) and 1.2·10⁻⁴ (21000).
    """

    name = "jaeger2001"
    config_class = Jaeger2001Config
    quick_config = QUICK
    title = "Jaeger 2001: an echo state network predicts Mackey-Glass 84 steps ahead"
    description = ("ESN with a closed-form ridge readout on the Mackey-Glass series (τ = 17): one-step and "
                   "84-step free-run NRMSE over seeds, beside Jaeger's published NRMSE84.")
    text = {
        "title": {"en": title, "pt": "Jaeger 2001: uma rede de estado de eco prevê Mackey-Glass 84 passos à frente"},
        "question": {
            "en": "How well does an echo state network, whose reservoir is never trained, predict the Mackey-Glass "
                  "series 84 steps ahead, next to Jaeger's published error?",
            "pt": "Quão bem uma rede de estado de eco, cujo reservatório nunca é treinado, prevê a série de "
                  "Mackey-Glass 84 passos à frente, ao lado do erro publicado por Jaeger?",
        },
        "description": {
            "en": description,
            "pt": "ESN com leitura ridge em forma fechada na série de Mackey-Glass (τ = 17): NRMSE de um passo e de "
                  "84 passos em execução livre entre sementes, ao lado do NRMSE84 publicado por Jaeger.",
        },
    }
    default_seeds = 20
    summary_columns = (("training steps", "train_length", "d"), ("NRMSE84 (median)", "nrmse84", ".2e"),
                       ("published", "published_nrmse84", ".1e"), ("one-step NRMSE", "nrmse1", ".2e"),
                       ("seconds to fit", "fit_seconds", ".2f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        if config.test_starts < 1 or config.horizon < 1:
            raise ValueError(f"`test_starts` and `horizon` must be ≥ 1, got {config.test_starts}, {config.horizon}.")
        for length in config.train_lengths:
            if length <= config.washout:
                raise ValueError(f"Each training length must exceed the washout ({config.washout}), got {length}.")
        return [RunSpec(f"train{length}", 1, _executor(config, length, seeds)) for length in config.train_lengths]


def _published(length: int) -> float:
    series = get_published("jaeger2001").series_named("ESN, tau=17: NRMSE84")
    return dict(series.points).get(length, float("nan"))


def _executor(config: Jaeger2001Config, length: int, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        test_span = config.teacher_forced + config.horizon
        total = length + 1 + config.test_starts * test_span + config.show_steps
        raw = mackey_glass(total, tau=config.tau, dtype=torch.float64)
        series = _squash(raw)[:, None]
        esn = ESN(1, config.reservoir_size, 1, spectral_radius=config.spectral_radius, leak_rate=config.leak_rate,
                  input_scaling=config.input_scaling, bias_scaling=config.bias_scaling,
                  connectivity=config.connectivity, ridge=config.ridge, washout=config.washout, num_models=seeds,
                  seed=config.seed, dtype=torch.float64)
        begun = time.perf_counter()
        esn.fit_readout(series[:length], series[1 : length + 1])
        fit_seconds = time.perf_counter() - begun
        held_out = series[length + 1 :]
        scale = _unsquash(held_out).std()
        # NRMSE84 over free runs from test_starts points of the held-out series.
        errors, curves = [], []
        for i in range(config.test_starts):
            start = i * test_span
            warmup = held_out[start : start + config.teacher_forced]
            truth = _unsquash(held_out[start + config.teacher_forced : start + test_span])
            free = _unsquash(esn.generate(config.horizon, warmup=warmup))  # (K, horizon, 1)
            curves.append((free - truth).square()[..., 0])
            errors.append(free[:, -1, 0] - truth[-1, 0])
        errors = torch.stack(errors, dim=1)  # (K, starts)
        nrmse84 = errors.square().mean(1).sqrt() / scale
        by_horizon = torch.stack(curves, dim=1).mean(1).sqrt() / scale  # (K, horizon)
        # One-step prediction, teacher-forced over all of the held-out series.
        predicted = esn.predict(held_out[:-1])  # (K, T, 1)
        one_step = (_unsquash(predicted[:, config.washout:]) - _unsquash(held_out[1 + config.washout:])).square()
        nrmse1 = one_step.mean((1, 2)).sqrt() / scale
        shown_start = config.test_starts * test_span
        warm = held_out[shown_start - config.teacher_forced : shown_start]
        shown = _unsquash(esn.generate(config.show_steps, warmup=warm))[0, :, 0]
        truth_shown = _unsquash(held_out[shown_start : shown_start + config.show_steps])[:, 0]
        if callback is not None:
            callback(0, {"train/loss": nrmse84.double()})
        arrays = {"nrmse84": nrmse84.numpy(), "nrmse1": nrmse1.numpy(), "nrmse_by_horizon": by_horizon.numpy(),
                  "free_run": shown.numpy(), "free_run_truth": truth_shown.numpy()}
        summary = {
            "train_length": length, "seeds": seeds,
            "nrmse84": float(nrmse84.median()), "nrmse84_low": float(nrmse84.min()),
            "nrmse84_high": float(nrmse84.max()),
            "nrmse84_log10_mean": float(nrmse84.log10().mean()),
            "nrmse1": float(nrmse1.median()), "published_nrmse84": _published(length),
            "fit_seconds": fit_seconds,
        }
        run_config = {**config.model_dump(), "train_length": length, "seeds": seeds}
        return Outcome(arrays, run_config, summary)

    return execute
