"""The through-time study's sizes, and the names its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "BASELINE_LOSS",
    "BY_LAG",
    "DECAY_RATE",
    "DIVERGED",
    "DIVERGED_AT",
    "HORIZON",
    "INIT",
    "JACOBIAN_TOP_SINGULAR_VALUE",
    "PHASES",
    "QUICK",
    "RHO",
    "SPECTRAL_RADIUS",
    "TANH_SLOPE",
    "TASK_LOSS",
    "TOP_SINGULAR_VALUE",
    "TRAINED",
    "TRAIN_LOSS",
    "ThroughTimeConfig",
    "key",
    "run_name",
]


class ThroughTimeConfig(StudyConfig):
    """Sizes of the through-time study; the defaults are the course's section 2.

    Every claim is read at initialization, where W_rec is exactly the matrix rescaled to ρ; training only
    draws the second panel, so it is short.
    """

    # From clearly below 1 to clearly above: 2 and 3 show plainly what 1.2 and 1.5 only begin, since
    # tanh saturation tempers the growth just above 1.
    radii: tuple[float, ...] = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)
    # Long enough that at ρ = 3 even the slowest of the seeds' W_rec grows past 10⁶ over the sequence,
    # short enough that float32 holds the largest gradient.
    length: int = 120
    hidden_size: int = 64
    steps: int = 60           # Adam steps: enough to move the weights (and the profiles), not to solve the task
    lr: float = 1e-3
    batch_size: int = 32
    probe_batch_size: int = 64  # the sequences every trace is measured on

    def __post_init__(self) -> None:
        if not self.radii or len(set(self.radii)) != len(self.radii):
            raise ValueError(f"`radii` must be a non-empty tuple without repeats, got {self.radii!r}.")
        for rho in self.radii:
            check_real("radii", rho, minimum=0.0, exclusive_minimum=True)
        check_int("length", self.length, minimum=2)
        check_int("hidden_size", self.hidden_size, minimum=1)
        check_int("steps", self.steps, minimum=1)
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("probe_batch_size", self.probe_batch_size, minimum=1)


QUICK = ThroughTimeConfig(radii=(0.5, 1.5), length=20, hidden_size=8, steps=5, batch_size=8, probe_batch_size=8)

#: The two moments a run traces the gradient: at initialization and after training.
INIT, TRAINED = "init", "trained"
PHASES = (INIT, TRAINED)

# Per-member readings of a trace, stored under "<phase>/<name>".
BY_LAG = "by_lag"                  # (K, T) ‖∂L/∂h_{T−k}‖ against the lag k
DECAY_RATE = "decay_rate"          # (K,) factor per step back
HORIZON = "horizon"                # (K,) steps back before the gradient falls 10⁻⁶ below its peak
SPECTRAL_RADIUS = "spectral_radius"
TOP_SINGULAR_VALUE = "top_singular_value"
JACOBIAN_TOP_SINGULAR_VALUE = "jacobian_top_singular_value"
TANH_SLOPE = "tanh_slope"          # (K,) mean tanh′ over the probe sequences' steps and units

# Arrays and summary values of the training.
TRAIN_LOSS = "train/loss"
DIVERGED_AT = "diverged_at"
RHO = "rho"
BASELINE_LOSS = "baseline_loss"
TASK_LOSS = "task/loss"
DIVERGED = "diverged"


def key(phase: str, name: str) -> str:
    """Return the store key of the reading ``name`` taken at ``phase`` ("init" or "trained")."""
    return f"{phase}/{name}"


def run_name(rho: float) -> str:
    """Return the name of the run at spectral radius ``rho``: ``"rho=1.5"``."""
    return f"rho={rho:g}"
