"""The dying-ReLU study's config, and the names its runs, arrays and summaries share with its claims and figures."""

from __future__ import annotations

from typing import Any

from gradtrace.errors import check_choice, check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "COMPARED_ACTIVATIONS",
    "CONDITIONS",
    "OPTIMIZERS",
    "QUICK",
    "Condition",
    "DyingReluConfig",
    "Key",
    "run_name",
    "stored_config",
]

#: The optimizers a run may take (``fit``'s names), with the name a sentence or a caption gives them.
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}
#: The activations compared: ReLU and the three that keep a gradient on the negative side.
COMPARED_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "gelu")


class Condition:
    """The training conditions, by the name used in run names and figures."""

    NORMAL = "normal"                  # the moderate learning rate
    LARGE_LR = "large_lr"              # the large learning rate
    NEGATIVE_BIAS = "negative_bias"    # the moderate learning rate from negative hidden biases


#: The conditions in the order they are run and drawn.
CONDITIONS = (Condition.NORMAL, Condition.LARGE_LR, Condition.NEGATIVE_BIAS)


class Key:
    """The keys of a run's arrays and summary, written by the study and read by its claims and figures.

    Fractions are of a member's hidden units (averaged over layers), medians over the members that did not
    diverge; counts are summed over those members.
    """

    # Arrays (C measurements, K members, M layers, W units).
    PROBE_STEP = "probe/step"               # (C,) updates done at each measurement
    DEAD = "dead"                           # (C, K, M) fraction with φ′ ≈ 0 on every probe point
    INACTIVE = "inactive"                   # (C, K, M) fraction with pre-activation ≤ 0 on every probe point
    UNIT_INACTIVE = "unit_inactive"         # (C, K, M, W) 1 inactive, 0 active, −1 diverged
    SLOPE = "slope"                         # (C, K, M) PReLU's mean learned slope
    STEP = "step"
    TRAIN_LOSS = "train/loss"
    EVAL_STEP = "eval/step"
    ACCURACY = "task/accuracy"              # also the summary's median final held-out accuracy
    DIVERGED_AT = "diverged_at"
    # Summary.
    ACTIVATION = "activation"
    CONDITION = "condition"
    LR = "lr"
    BIAS = "bias"                           # the hidden biases' start (None: the initialization's)
    SEEDS = "seeds"
    DEAD_INIT = "dead_init"
    DEAD_END = "dead_end"
    DEAD_END_MIN = "dead_end_min"           # the fewest dead at the end over members
    DEAD_END_MAX = "dead_end_max"
    INACTIVE_INIT = "inactive_init"
    INACTIVE_END = "inactive_end"
    UNITS = "units"                         # hidden units of the members that finished
    EVER_INACTIVE = "ever_inactive"         # units inactive at one measurement at least
    REVIVED = "revived"                     # of those, units active at the end
    REVIVED_FRACTION = "revived_fraction"   # revived / ever_inactive
    DIED = "died"                           # units active at the start and inactive at the end
    LOSS = "task/loss"
    BASELINE_LOSS = "baseline_loss"
    SUCCESSES = "successes"                 # members with at least 99 % of held-out points right
    DIVERGED = "diverged"


class DyingReluConfig(StudyConfig):
    """Sizes of the dying-ReLU study (the defaults take about 20 CPU seconds).

    Raises:
        ValueError: for an unknown activation or condition, or a size below 1 (checked when the config is made).
    """

    activations: tuple[str, ...] = COMPARED_ACTIVATIONS
    conditions: tuple[str, ...] = CONDITIONS
    # Deep enough that a dead layer cuts the network; narrow enough that one layer can die whole.
    depth: int = 5
    width: int = 32
    # He et al.'s start for ReLU networks, biases 0: about a tenth of the units start dead, so the deaths
    # the study measures come from the condition rather than from the initialization.
    init: str = "kaiming_normal"
    steps: int = 500             # every normal run classifies the circles within about 200
    # Adam, as most training does: it divides each weight's step by the size of its recent gradients, so a
    # unit with a small but non-zero gradient (Leaky ReLU's 0.01 slope) still moves at full speed, while a
    # dead unit's gradient is exactly zero and so is its step. With plain SGD a 0.01 slope moves a unit a
    # hundred times slower, and units a negative bias switched off stay off for thousands of steps.
    optimizer: str = "adam"
    lr: float = 0.005            # trains every activation; about a sixth of the ReLUs end dead
    # Kills more than half of the ReLUs; the other activations still train (at 0.07 GELU units start to
    # die too, their derivative vanishing far out on the negative side).
    large_lr: float = 0.05
    # Every hidden bias set to this after building: about 85 % of the units start off on every input.
    negative_bias: float = -1.0
    batch_size: int = 32
    probe_batch_size: int = 256  # a unit counts dead or inactive only if no probe point switches it on
    measure_every: int = 10      # steps between measurements: a forward pass of the probe batch each
    eval_batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for field, valid in (("activations", COMPARED_ACTIVATIONS), ("conditions", CONDITIONS)):
            values = getattr(self, field)
            unknown = sorted(set(values) - set(valid))
            if unknown or not values:
                raise ValueError(f"Unknown or no {field} {unknown or list(values)} in the dying-relu study. "
                                 f"Available: {', '.join(valid)}.")
        for field in ("depth", "width", "steps", "batch_size", "probe_batch_size", "measure_every",
                      "eval_batch_size"):
            check_int(field, getattr(self, field), minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, what="optimizer")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_real("large_lr", self.large_lr, minimum=0.0, exclusive_minimum=True)
        check_real("negative_bias", self.negative_bias)


QUICK = DyingReluConfig(activations=("relu", "leaky_relu"), conditions=(Condition.NORMAL, Condition.NEGATIVE_BIAS),
                        depth=3, width=8, steps=40, batch_size=16, probe_batch_size=64, measure_every=5,
                        eval_batch_size=64)


def run_name(activation: str, condition: str) -> str:
    """Return the name of the run of ``activation`` under ``condition``, e.g. ``"relu-large_lr"``."""
    return f"{activation}-{condition}"


def stored_config(values: dict[str, Any]) -> DyingReluConfig:
    """Return the study's config from a run's stored config (which adds the run's own entries)."""
    return DyingReluConfig(**{name: values[name] for name in DyingReluConfig.model_fields if name in values})
