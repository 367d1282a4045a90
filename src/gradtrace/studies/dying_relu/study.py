"""Dying ReLUs: a large learning rate or a negative bias leaves units that no input switches on.

A ReLU unit whose pre-activation is negative on every input outputs 0 and has derivative 0: its
incoming weights and bias get no gradient, so gradient descent cannot bring it back, unless the
layers below it change its input enough to switch it on again. Leaky ReLU and PReLU keep a slope on
the negative side, and GELU's derivative vanishes only at one point and far out on the negative tail,
so by the trace's definition (:func:`gradtrace.instruments.dead_fraction`: φ′ ≈ 0 on every example) their
units are never dead. They can still be *inactive*, negative on every example, and then they pass
back only that small slope. This study measures both, over training, to see whether such units do
come back.
"""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import RunInterrupted, check_int, check_real
from gradtrace.instruments import dead_fraction
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.stats import nan_quantiles
from gradtrace.tasks import Batch, Circles
from gradtrace.train import fit

__all__ = ["CONDITIONS", "COMPARED_ACTIVATIONS", "DyingRelu", "DyingReluConfig", "UnitMonitor"]

#: The activations compared: ReLU and the three that keep a gradient on the negative side.
COMPARED_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "gelu")
#: The training conditions, by the name used in run names and figures.
CONDITIONS = ("normal", "large_lr", "negative_bias")

# Seed offset of the fixed probe batch, so it never coincides with a member's training stream.
_PROBE_SEED_OFFSET = 7919


class DyingReluConfig(StudyConfig):
    """Sizes of the dying-ReLU study (the defaults take about a minute of CPU time)."""

    activations: tuple[str, ...] = COMPARED_ACTIVATIONS
    conditions: tuple[str, ...] = CONDITIONS
    # Deep enough that a dead layer cuts the network; narrow enough that one layer can die whole.
    depth: int = 5
    width: int = 32
    # He et al.'s start for ReLU networks, biases 0: few units start dead, so the deaths the study
    # measures come from the condition rather than from the initialization.
    init: str = "kaiming_normal"
    steps: int = 800             # every normal run classifies the circles perfectly within 100
    # Plain SGD: an adaptive optimizer rescales each weight's step and hides what the step size does.
    lr: float = 0.1              # trains every activation in the normal condition
    # Kills most ReLUs within the first steps (0.5 still trains them cleanly); it is also near the
    # edge of stability, so some members of the other activations diverge instead.
    large_lr: float = 1.0
    # Every hidden bias set to this after building: most pre-activations start negative everywhere.
    negative_bias: float = -1.0
    batch_size: int = 32
    probe_batch_size: int = 256  # a unit counts dead or inactive only if no probe point switches it on
    measure_every: int = 10      # steps between measurements: a forward pass of the probe batch each
    eval_batch_size: int = 256
    seed: int = 0


QUICK = DyingReluConfig(activations=("relu", "leaky_relu"), conditions=("normal", "negative_bias"), depth=3,
                        width=8, steps=40, batch_size=16, probe_batch_size=64, measure_every=5,
                        eval_batch_size=64)


class UnitMonitor:
    """Measure, on a fixed probe batch, which hidden units of an MLP are dead or inactive.

    A unit is *dead* when its derivative φ′ is (numerically) zero on every probe example, the trace's
    definition; it is *inactive* when its pre-activation is ≤ 0 on every probe example. For ReLU the
    two coincide; a Leaky ReLU, PReLU or GELU unit can be inactive yet not dead, still passing back
    its small negative-side slope. Members whose training went non-finite are measured as NaN (−1
    in the per-unit record) from then on.

    Args:
        model: the MLP being trained (K members, hidden layers of equal width).
        probe: the fixed batch to measure on.

    Example:
        >>> model = MLP(2, depth=2, width=4, output_size=2, activation="relu", num_models=3, seed=0)
        >>> monitor = UnitMonitor(model, Circles().sample(32, seed=0))
        >>> monitor.measure(0)
        >>> arrays = monitor.arrays()
        >>> arrays["dead"].shape, arrays["unit_inactive"].shape
        ((1, 3, 2), (1, 3, 2, 4))
        >>> bool((arrays["dead"] == arrays["inactive"]).all())  # for ReLU, dead means inactive
        True
    """

    def __init__(self, model: MLP, probe: Batch):
        if len(set(model.hidden_sizes)) != 1:
            raise ValueError(f"`model` needs hidden layers of equal width for a per-unit record, got "
                             f"hidden_sizes={list(model.hidden_sizes)}.")
        self.model = model
        self.probe = probe
        self.diverged = torch.zeros(model.num_models, dtype=torch.bool)
        self.steps: list[int] = []
        self.dead: list[np.ndarray] = []
        self.inactive: list[np.ndarray] = []
        self.units: list[np.ndarray] = []
        self.slopes: list[np.ndarray] = []

    def measure(self, step: int, diverged: torch.Tensor | None = None) -> None:
        """Record the dead and inactive units after ``step`` updates.

        Args:
            step: updates done so far.
            diverged: (K,) bool, members whose training has gone non-finite (sticky).
        """
        model = self.model
        if diverged is not None:
            self.diverged |= diverged
        with torch.no_grad():
            # No running statistics change and no graph is built: measuring must not touch training.
            trajectory = model(self.probe.inputs, update_running_stats=False)
            dead = dead_fraction(model, trajectory)
            units = torch.stack([(u <= 0).all(1) for u in trajectory.normalized], 1)  # (K, M, W)
        blank = self.diverged.numpy()
        dead = dead.numpy().copy()
        inactive = units.double().mean(-1).numpy()
        units = units.numpy().astype(np.int8)
        dead[blank], inactive[blank], units[blank] = np.nan, np.nan, -1
        self.steps.append(step)
        self.dead.append(dead)
        self.inactive.append(inactive)
        self.units.append(units)
        if model.activation == "prelu":
            slopes = [getattr(model, f"slope_{i}").detach().mean(-1) for i in range(1, model.depth + 1)]
            slopes = torch.stack(slopes, -1).double().numpy().copy()
            slopes[blank] = np.nan
            self.slopes.append(slopes)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the record: ``probe/step`` (C,), ``dead`` and ``inactive`` (C, K, M) fractions,
        ``unit_inactive`` (C, K, M, W) 1 inactive, 0 active, −1 diverged; with PReLU ``slope`` (C, K, M),
        the mean learned slope per layer."""
        K, M, W = self.model.num_models, self.model.depth, self.model.hidden_sizes[0]  # noqa: N806
        arrays = {
            "probe/step": np.asarray(self.steps, dtype=np.int64),
            "dead": np.stack(self.dead) if self.dead else np.zeros((0, K, M)),
            "inactive": np.stack(self.inactive) if self.inactive else np.zeros((0, K, M)),
            "unit_inactive": np.stack(self.units) if self.units else np.zeros((0, K, M, W), dtype=np.int8),
        }
        if self.slopes:
            arrays["slope"] = np.stack(self.slopes)
        return arrays


class DyingRelu(Study):
    """ReLU, Leaky ReLU, PReLU and GELU MLPs trained by SGD normally, with a large step and from negative biases.

    Every run is an ensemble of seeds; the dead and inactive units of every hidden layer are
    measured on a fixed probe batch before training and every ``measure_every`` steps.
    """

    name = "dying-relu"
    config_class = DyingReluConfig
    quick_config = QUICK
    title = "Dying ReLUs and the activations that keep a gradient"
    description = ("Deep MLPs (ReLU, Leaky ReLU, PReLU, GELU) trained by plain SGD on two concentric circles "
                   "at a moderate and a large learning rate, and from hidden biases set negative: the "
                   "fraction of dead units (derivative 0 on every probe point) and of inactive ones "
                   "(pre-activation ≤ 0 on every probe point) per layer over training, units that come "
                   "back, and the accuracy reached.")

    summary_columns = (("dead init", "dead_init", ".0%"), ("dead end", "dead_end", ".0%"),
                       ("inactive init", "inactive_init", ".0%"), ("inactive end", "inactive_end", ".0%"),
                       ("revived", "revived", "d"), ("accuracy", "task/accuracy", ".1%"),
                       ("diverged", "diverged", "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        _validate(config)
        return [RunSpec(f"{activation}-{condition}", config.steps, _executor(config, activation, condition, seeds))
                for condition in config.conditions for activation in config.activations]


def _validate(config: DyingReluConfig) -> None:
    for field, valid in (("activations", COMPARED_ACTIVATIONS), ("conditions", CONDITIONS)):
        values = getattr(config, field)
        unknown = sorted(set(values) - set(valid))
        if unknown or not values:
            raise ValueError(f"Unknown or no {field} {unknown or list(values)} in the dying-relu study. "
                             f"Available: {', '.join(valid)}.")
    for field in ("depth", "width", "steps", "batch_size", "probe_batch_size", "measure_every", "eval_batch_size"):
        check_int(field, getattr(config, field), minimum=1)
    check_real("lr", config.lr, minimum=0.0, exclusive_minimum=True)
    check_real("large_lr", config.large_lr, minimum=0.0, exclusive_minimum=True)
    check_real("negative_bias", config.negative_bias)


def _executor(config: DyingReluConfig, activation: str, condition: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Circles()
        model = MLP(task.input_size, depth=config.depth, width=config.width, output_size=task.output_size,
                    activation=activation, init=config.init, num_models=seeds, seed=config.seed)
        if condition == "negative_bias":
            with torch.no_grad():
                for index in range(1, model.depth + 1):
                    getattr(model, f"b_{index}").fill_(config.negative_bias)
        lr = config.large_lr if condition == "large_lr" else config.lr
        monitor = UnitMonitor(model, task.sample(config.probe_batch_size, seed=config.seed + _PROBE_SEED_OFFSET))
        monitor.measure(0)

        def on_step(step: int, metrics: dict) -> None:
            done = step + 1
            if done % config.measure_every == 0 or done == config.steps:
                # fit shows a diverged (frozen) member's loss as NaN from its divergence on.
                monitor.measure(done, torch.isnan(metrics["train/loss"]))
            if callback is not None:
                callback(step, metrics)

        run_config = {**config.model_dump(), "activation": activation, "condition": condition, "run_lr": lr,
                      "bias": config.negative_bias if condition == "negative_bias" else None, "seeds": seeds,
                      "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, optimizer="sgd", lr=lr, batch_size=config.batch_size,
                      seed=config.seed, eval_batch_size=config.eval_batch_size, on_nonfinite="record",
                      callback=on_step)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(monitor.arrays(), run_config, {},
                                                             "interrupted")) from None
        if monitor.steps[-1] != run.steps_done:
            # fit stops early once every member has diverged, before the last scheduled measurement.
            monitor.measure(run.steps_done, torch.from_numpy(run.diverged_at >= 0))
        arrays = monitor.arrays()
        arrays.update({
            "step": run.history["step"],
            "train/loss": run.history["train/loss"],
            "eval/step": run.history["eval/step"],
            "task/accuracy": run.history["task/accuracy"],
            "diverged_at": run.diverged_at,
        })
        summary = {"activation": activation, "condition": condition, "lr": lr, "seeds": seeds,
                   **_summarize(arrays), "baseline_loss": task.baseline_loss,
                   "task/accuracy": _median(run.final["task/accuracy"]),
                   "task/loss": _median(run.final["task/loss"]),
                   "successes": int(np.nansum(run.final["task/success"])),
                   "diverged": int((run.diverged_at >= 0).sum())}
        return Outcome(arrays, run_config, summary)

    return execute


def _median(values: np.ndarray) -> float:
    """Median over members ignoring NaN (diverged ones); NaN when every member diverged."""
    return float(nan_quantiles(np.asarray(values, dtype=float)[None], 1, (0.5,))[0, 0])


def _summarize(arrays: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Return the dead and inactive fractions at the start and end, and the units that came back."""
    units = arrays["unit_inactive"]                         # (C, K, M, W)
    final = units[-1]
    # Compare only members that finished: a diverged member has no end state.
    finished = (final >= 0).all((-2, -1))
    ever = (units == 1).any(0)
    revived = ever & (final == 0)
    died = (units[0] == 0) & (final == 1)
    return {
        "dead_init": _median(arrays["dead"][0].mean(-1)),
        "dead_end": _median(arrays["dead"][-1].mean(-1)),
        "inactive_init": _median(arrays["inactive"][0].mean(-1)),
        "inactive_end": _median(arrays["inactive"][-1].mean(-1)),
        "units": int(finished.sum() * units.shape[-2] * units.shape[-1]),
        "ever_inactive": int(ever[finished].sum()),
        "revived": int(revived[finished].sum()),
        "died": int(died[finished].sum()),
        "seeds_revived": int(revived[finished].any((-2, -1)).sum()),
    }
