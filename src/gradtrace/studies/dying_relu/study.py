"""Dying ReLUs: a large learning rate or a negative bias leaves units that no input switches on.

A ReLU unit whose pre-activation is negative on every input outputs 0 and has derivative 0: its
incoming weights and bias get no gradient, so gradient descent cannot bring it back, unless the
layers below it change its input enough to switch it on again. Leaky ReLU and PReLU keep a slope on
the negative side, so by the trace's definition (:func:`gradtrace.instruments.dead_fraction`: φ′ ≈ 0
on every example) their units are never dead; GELU's derivative vanishes only far out on the negative
tail, so its units die only when pushed far below zero. They can still be *inactive*, negative on
every example, and then they pass back only that small slope. This study measures both, over
training, and counts the units that come back.
"""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.dying_relu.claims import build_claims
from gradtrace.studies.dying_relu.config import QUICK, Condition, DyingReluConfig, Key, run_name
from gradtrace.studies.dying_relu.monitor import UnitMonitor
from gradtrace.studies.stats import nan_quantiles
from gradtrace.tasks import Circles
from gradtrace.train import fit

__all__ = ["DyingRelu"]

# Seed offset of the fixed probe batch, so it never coincides with a member's training stream.
_PROBE_SEED_OFFSET = 7919


class DyingRelu(Study):
    """ReLU, Leaky ReLU, PReLU and GELU MLPs trained with a moderate and a large step, and from negative biases.

    Every run is an ensemble of seeds; the dead and inactive units of every hidden layer are
    measured on a fixed probe batch before training and every ``measure_every`` steps.
    """

    name = "dying-relu"
    config_class = DyingReluConfig
    quick_config = QUICK
    title = "Dying ReLUs and the activations that keep a gradient"
    description = ("Deep MLPs (ReLU, Leaky ReLU, PReLU, GELU) trained by Adam on two concentric circles at a "
                   "moderate and a large learning rate, and from hidden biases set negative: the fraction of dead "
                   "units (derivative 0 on every probe point) and of inactive ones (pre-activation ≤ 0 on every "
                   "probe point) per layer over training, units that come back, and the accuracy reached.")
    text = {
        "title": {"en": title, "pt": "ReLU agonizante e as ativações que mantêm o gradiente"},
        "question": {
            "en": "When a ReLU unit is switched off on every input, does it ever learn again, and do Leaky ReLU, "
                  "PReLU and GELU units come back?",
            "pt": "Quando uma unidade ReLU fica desligada em todas as entradas, ela volta a aprender, e as unidades "
                  "Leaky ReLU, PReLU e GELU voltam?",
        },
        "description": {
            "en": description,
            "pt": "MLPs profundas (ReLU, Leaky ReLU, PReLU, GELU) treinadas por Adam em dois círculos concêntricos, "
                  "com taxa de aprendizado moderada e grande, e a partir de vieses ocultos negativos: a fração de "
                  "unidades mortas (derivada 0 em todos os pontos de teste) e inativas (pré-ativação ≤ 0 em todos "
                  "os pontos de teste) por camada ao longo do treino, as unidades que voltam e a acurácia "
                  "alcançada.",
        },
    }

    summary_columns = (("dead init", Key.DEAD_INIT, ".0%"), ("dead end", Key.DEAD_END, ".0%"),
                       ("inactive init", Key.INACTIVE_INIT, ".0%"), ("inactive end", Key.INACTIVE_END, ".0%"),
                       ("revived", Key.REVIVED, "d"), ("of", Key.EVER_INACTIVE, "d"),
                       ("accuracy", Key.ACCURACY, ".1%"), ("diverged", Key.DIVERGED, "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(run_name(activation, condition), config.steps,
                        _executor(config, activation, condition, seeds))
                for condition in config.conditions for activation in config.activations]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """A large step kills ReLUs; switched-off units of the other activations come back; negative biases."""
        return build_claims(self.resolve(quick))


def _executor(config: DyingReluConfig, activation: str, condition: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Circles()
        model = MLP(task.input_size, depth=config.depth, width=config.width, output_size=task.output_size,
                    activation=activation, init=config.init, num_models=seeds, seed=config.seed)
        bias = config.negative_bias if condition == Condition.NEGATIVE_BIAS else None
        if bias is not None:
            with torch.no_grad():
                for index in range(1, model.depth + 1):
                    getattr(model, f"b_{index}").fill_(bias)
        lr = config.large_lr if condition == Condition.LARGE_LR else config.lr
        monitor = UnitMonitor(model, task.sample(config.probe_batch_size, seed=config.seed + _PROBE_SEED_OFFSET))
        monitor.measure(0)

        def on_step(step: int, metrics: dict) -> None:
            done = step + 1
            if done % config.measure_every == 0 or done == config.steps:
                # fit shows a diverged (frozen) member's loss as NaN from its divergence on.
                monitor.measure(done, torch.isnan(metrics[Key.TRAIN_LOSS]))
            if callback is not None:
                callback(step, metrics)

        run_config = {**config.model_dump(), "activation": activation, "condition": condition, "run_lr": lr,
                      "bias": bias, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, optimizer=config.optimizer, lr=lr,
                      batch_size=config.batch_size, seed=config.seed, eval_batch_size=config.eval_batch_size,
                      on_nonfinite="record", callback=on_step)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(monitor.arrays(), run_config, {},
                                                             "interrupted")) from None
        if monitor.steps[-1] != run.steps_done:
            # fit stops early once every member has diverged, before the last scheduled measurement.
            monitor.measure(run.steps_done, torch.from_numpy(run.diverged_at >= 0))
        arrays = monitor.arrays()
        arrays.update({
            Key.STEP: run.history["step"],
            Key.TRAIN_LOSS: run.history["train/loss"],
            Key.EVAL_STEP: run.history["eval/step"],
            Key.ACCURACY: run.history["task/accuracy"],
            Key.DIVERGED_AT: run.diverged_at,
        })
        summary = {Key.ACTIVATION: activation, Key.CONDITION: condition, Key.LR: lr, Key.BIAS: bias,
                   Key.SEEDS: seeds, **_summarize(arrays), Key.BASELINE_LOSS: task.baseline_loss,
                   Key.ACCURACY: _median(run.final["task/accuracy"]),
                   Key.LOSS: _median(run.final["task/loss"]),
                   Key.SUCCESSES: int(np.nansum(run.final["task/success"])),
                   Key.DIVERGED: int((run.diverged_at >= 0).sum())}
        return Outcome(arrays, run_config, summary)

    return execute


def _median(values: np.ndarray) -> float:
    """Median over members ignoring NaN (diverged ones); NaN when every member diverged."""
    return float(nan_quantiles(np.asarray(values, dtype=float)[None], 1, (0.5,))[0, 0])


def _extreme(values: np.ndarray, pick) -> float:
    """``pick`` (np.nanmin or np.nanmax) over members ignoring NaN; NaN when every member diverged."""
    values = np.asarray(values, dtype=float)
    return float(pick(values)) if np.isfinite(values).any() else float("nan")


def _summarize(arrays: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Return the dead and inactive fractions at the start and end, and the units that came back."""
    units = arrays[Key.UNIT_INACTIVE]                       # (C, K, M, W)
    final = units[-1]
    # Compare only members that finished: a diverged member has no end state.
    finished = (final >= 0).all((-2, -1))
    ever = (units == 1).any(0)
    revived = ever & (final == 0)
    died = (units[0] == 0) & (final == 1)
    dead_end = arrays[Key.DEAD][-1].mean(-1)                 # (K,)
    ever_count, revived_count = int(ever[finished].sum()), int(revived[finished].sum())
    return {
        Key.DEAD_INIT: _median(arrays[Key.DEAD][0].mean(-1)),
        Key.DEAD_END: _median(dead_end),
        Key.DEAD_END_MIN: _extreme(dead_end, np.nanmin),
        Key.DEAD_END_MAX: _extreme(dead_end, np.nanmax),
        Key.INACTIVE_INIT: _median(arrays[Key.INACTIVE][0].mean(-1)),
        Key.INACTIVE_END: _median(arrays[Key.INACTIVE][-1].mean(-1)),
        Key.UNITS: int(finished.sum() * units.shape[-2] * units.shape[-1]),
        Key.EVER_INACTIVE: ever_count,
        Key.REVIVED: revived_count,
        Key.REVIVED_FRACTION: revived_count / ever_count if ever_count else float("nan"),
        Key.DIED: int(died[finished].sum()),
    }
