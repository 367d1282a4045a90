"""The exploding study's config, its cures by name, and the keys its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "BASELINE",
    "BELOW_BASELINE",
    "CLIPPED",
    "CLIP_FIRED",
    "CLIP_NORM",
    "CLIP_VALUE",
    "CURES",
    "DIVERGED",
    "DIVERGED_AT",
    "FIRED_FRACTION",
    "FIRST_DIVERGENCE",
    "GRAD_NORM",
    "L2",
    "L2_CLIP",
    "MAX_GRAD_NORM",
    "MEDIAN_TEST_LOSS",
    "OMEGA",
    "OMEGA_CLIP",
    "PLAIN",
    "QUICK",
    "SEEDS",
    "STEP",
    "TBPTT_LONG",
    "TBPTT_SHORT",
    "TEST_LOSS",
    "TRAIN_BASELINE",
    "TRAIN_LOSS",
    "ExplodingConfig",
]

# The cures, each one run of the study, by the run's name. Every run starts from the same weights and data.
PLAIN = "plain"              # plain SGD, no cure: the divergence the others are measured against
CLIP_NORM = "clip-norm"      # rescale the gradient when its global norm exceeds max_norm
CLIP_VALUE = "clip-value"    # clamp each component to ±max_value
TBPTT_SHORT = "tbptt-short"  # back-propagate only the last short_truncation steps
TBPTT_LONG = "tbptt-long"    # back-propagate the last long_truncation steps
OMEGA = "omega"              # Pascanu's Ω alone
OMEGA_CLIP = "omega-clip"    # Ω, then clipping by norm (as Pascanu et al. trained)
L2 = "l2"                    # L2 weight penalty alone
L2_CLIP = "l2-clip"          # L2, then clipping by norm
CURES = (PLAIN, CLIP_NORM, CLIP_VALUE, TBPTT_SHORT, TBPTT_LONG, OMEGA, OMEGA_CLIP, L2, L2_CLIP)
#: The cures that clip the gradient by norm or by value (their runs record how often the clip fired).
CLIPPED = (CLIP_NORM, CLIP_VALUE, OMEGA_CLIP, L2_CLIP)

# Arrays of each run: per training step (n,) or (n, K), per member (K,).
STEP = "step"
TRAIN_LOSS = "train/loss"
GRAD_NORM = "grad/norm"           # the loss gradient's norm, before any clip or penalty acts
CLIP_FIRED = "clip/fired"         # 1 where the clip changed a member's gradient at that step
DIVERGED_AT = "diverged_at"       # the step a member's loss or gradient turned non-finite, −1 if never
TEST_LOSS = "test/loss"           # each member's MSE on the test part of the series; inf for a diverged one

# Summary values of each run.
SEEDS = "seeds"
DIVERGED = "diverged"
FIRST_DIVERGENCE = "first_divergence"
MAX_GRAD_NORM = "max_grad_norm"
FIRED_FRACTION = "fired_fraction"
MEDIAN_TEST_LOSS = "test/median_loss"  # over the members that did not diverge (NaN if none)
BELOW_BASELINE = "below_baseline"      # members whose test loss beats the persistence forecast
BASELINE = "baseline_loss"             # the persistence forecast's MSE on the test part
TRAIN_BASELINE = "train_baseline_loss"  # the same on the training part, drawn beside the training loss


class ExplodingConfig(StudyConfig):
    """Sizes of the exploding study; the defaults are the course's (40 to 50 CPU seconds, 9 runs).

    The task is the next value of the Mackey–Glass series from a window of its last ``length`` values
    (standardized; the persistence forecast, "the next value is the last one", is the baseline). It
    needs only the last few values, so a cure that cuts the gradient's path short loses nothing here,
    while the window is long enough for a product of ``length`` Jacobians to explode.

    Raises:
        ValueError: for an unknown or repeated cure, no cure at all, truncation windows not in
            1 ≤ short < long ≤ length, or another value out of range.
    """

    cures: tuple[str, ...] = CURES
    # Above 1, and low enough that a clipped start can leave the exploding region: at 3 the start is chaotic
    # and clipping by norm ends above the baseline (measured: 7 times it after 1,000 steps at lr 0.1).
    spectral_radius: float = 1.5
    length: int = 50              # the window: up to 50 Jacobians between the loss and the first input
    series_length: int = 2000     # points of the series; the last fifth is the test part
    hidden_size: int = 32
    # Plain SGD's first divergence comes within the first 60 steps; the cures need the rest to learn.
    steps: int = 800
    # Plain SGD, no momentum, as in Pascanu et al. 2013: Adam would divide the explosion away and hide it.
    # 0.1 trains a start at ρ = 0.9 without any cure (measured: test loss 3 % of the baseline).
    lr: float = 0.1
    batch_size: int = 32
    max_norm: float = 1.0         # Pascanu et al.'s threshold
    max_value: float = 0.1        # per component
    # k of TBPTT(k, k): 3 steps cap the product of Jacobians; at 10 the explosion comes back.
    short_truncation: int = 3
    long_truncation: int = 10
    # α of Pascanu's Ω in its default form (squared norms, mean over steps): the authors' code's default.
    omega_weight: float = 2.0
    # Weight decay 0.01 at lr 0.1 shrinks the weights by 0.1 % a step; 0.1 shrinks ρ(W_rec) to 0.2 and the
    # clipped run ends above the baseline (measured).
    l2: float = 0.01
    eval_batch_size: int = 256    # the training-part batch fit evaluates on; the claims read the test part
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [cure for cure in self.cures if cure not in CURES]
        if unknown:
            raise ValueError(f"Unknown cure(s) {unknown} in the exploding study. Available: {', '.join(CURES)}.")
        if not self.cures or len(set(self.cures)) != len(self.cures):
            raise ValueError(f"`cures` must name each cure at most once and at least one, got {list(self.cures)}.")
        check_real("spectral_radius", self.spectral_radius, minimum=0.0, exclusive_minimum=True)
        check_int("length", self.length, minimum=2)
        check_int("series_length", self.series_length, minimum=5 * (self.length + 1))
        for name in ("hidden_size", "steps", "batch_size", "eval_batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_real("max_norm", self.max_norm, minimum=0.0, exclusive_minimum=True)
        check_real("max_value", self.max_value, minimum=0.0, exclusive_minimum=True)
        check_real("omega_weight", self.omega_weight, minimum=0.0)
        check_real("l2", self.l2, minimum=0.0)
        if not 1 <= self.short_truncation < self.long_truncation <= self.length:
            raise ValueError("The truncation windows must satisfy 1 ≤ short_truncation < long_truncation ≤ length, "
                             f"got short_truncation={self.short_truncation}, long_truncation={self.long_truncation}, "
                             f"length={self.length}.")

    def truncation(self, cure: str) -> int | None:
        """Return k of the TBPTT(k, k) that ``cure`` trains with, or None for full back-propagation."""
        return {TBPTT_SHORT: self.short_truncation, TBPTT_LONG: self.long_truncation}.get(cure)


#: A seconds-long smoke test: plain SGD and clipping by norm at a tiny size.
QUICK = ExplodingConfig(cures=(PLAIN, CLIP_NORM), length=12, series_length=300, hidden_size=8, steps=30,
                        batch_size=8, eval_batch_size=16, short_truncation=2, long_truncation=6)
