"""The dynamics study's config, and the names its runs, arrays and summaries share with its claims and figures."""

from __future__ import annotations

import math
from typing import Any

from gradtrace.errors import check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "QUICK",
    "REGIMES",
    "DynamicsConfig",
    "Key",
    "Network",
    "random_run",
    "rotation_run",
    "stored_config",
]

#: The three behaviors of an autonomous network, in the order they appear as g grows.
REGIMES = ("steady", "oscillating", "chaotic")


class Network:
    """The two kinds of network a run holds (the ``network`` entry of its summary)."""

    RANDOM = "random"
    ROTATION = "rotation"


class Key:
    """The keys of a run's arrays and summary, written by the study and read by its claims and figures.

    Arrays hold one value per member (seed) unless said otherwise.
    """

    # Arrays.
    LYAPUNOV = "lyapunov"                  # λ_max, nats per step
    PERIOD = "period"                      # measured period in steps: 1 settled, 0 none up to max_period
    MOTION = "motion"                      # largest change of any unit over the last motion_window steps
    REGIME = "regime"                      # index into REGIMES
    SPECTRAL_RADIUS = "spectral_radius"    # ρ(W_rec)
    TRAJECTORY = "trajectory"              # (shown_steps, units) of member 0 from its start
    SEPARATION = "separation"              # (K, separation_steps) distance of two nearby starts
    # Summary (beside LYAPUNOV, SPECTRAL_RADIUS and REGIME, which hold the median or the majority there,
    # and one count per regime under the regime's own name).
    NETWORK = "network"
    GAIN = "gain"
    ANGLE = "angle"
    HIDDEN_SIZE = "hidden_size"
    SEEDS = "seeds"
    LYAPUNOV_MIN = "lyapunov_min"
    LYAPUNOV_MAX = "lyapunov_max"
    MEAN_FIELD = "mean_field_lyapunov"     # the H → ∞ theory's λ at this gain (random networks only)
    PERIODIC = "periodic"                  # members with a period ≥ 2
    SHOWN_LYAPUNOV = "shown_lyapunov"      # member 0's λ_max: the trajectory the figure draws
    SHOWN_PERIOD = "shown_period"          # member 0's period (0: none up to max_period)


class DynamicsConfig(StudyConfig):
    """Sizes of the dynamics study (the defaults take about 11 CPU seconds).

    Raises:
        ValueError: for gains that are not positive, a drawn example gain not on the grid, or windows that do
            not fit the trajectory (checked when the config is made).
    """

    # Dense around g = 1, where the transition is; 3 is well inside chaos.
    gains: tuple[float, ...] = (0.2, 0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0)
    # Large enough that ρ(W) ≈ 1 (circular law) and the mean-field theory holds to a few hundredths;
    # small networks settle on cycles where large ones are already chaotic.
    hidden_size: int = 200
    warmup: int = 500              # the transient of g = 0.9 has decayed by 0.9⁵⁰⁰ ≈ 1e-23 by then
    steps: int = 1000              # λ_max of a chaotic network to about ±0.01 nats per step
    # A finite-time estimate of a quasi-periodic orbit's λ = 0 wanders by about 1/steps; above this
    # the orbit is called chaotic.
    chaos_threshold: float = 0.01
    # Two states of the last `motion_window` steps p steps apart closer than this (largest unit) make p a
    # period; p = 1 is a settled state.
    settle_tolerance: float = 1e-6
    motion_window: int = 100
    max_period: int = 50           # longest period looked for; half the window, so it recurs at least twice
    steady_gain: float = 0.9       # drawn as the steady example: close enough to 1 that the decay shows
    chaotic_gain: float = 1.8      # drawn as the chaotic example: chaotic for every seed, rarely saturated
    # The 2-unit oscillator tanh(g·R(θ) h). Its map commutes with a quarter turn, so at θ = π/4 the orbit
    # locks onto a cycle of exactly 8 steps; g = 1.8 pulls a start onto it within a few hundred steps (at
    # g = 1.5 it takes thousands, and other angles wander quasi-periodically without ever repeating).
    rotation_gain: float = 1.8
    rotation_angle: float = math.pi / 4
    shown_units: int = 3           # units of member 0 stored over time; more tangle the chaotic panel
    shown_steps: int = 120         # from the random start, so the transient shows
    perturbation: float = 1e-9     # the distance between two starts whose separation is tracked
    separation_steps: int = 200    # at λ_max ≈ 0.1, 1e-9 grows to the size of the attractor in ~200 steps
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.gains or not all(gain > 0 for gain in self.gains):
            raise ValueError(f"`gains` must be positive numbers, got {self.gains}.")
        for name in ("steady_gain", "chaotic_gain"):
            if getattr(self, name) not in self.gains:
                raise ValueError(f"`{name}` must be one of the study's gains {self.gains}, got {getattr(self, name)}.")
        for name in ("hidden_size", "steps", "shown_units", "shown_steps", "separation_steps"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("warmup", self.warmup, minimum=0)
        # Two states at least, or nothing could be seen to move.
        check_int("motion_window", self.motion_window, minimum=2, maximum=self.warmup + self.steps)
        check_int("max_period", self.max_period, minimum=1, maximum=self.motion_window - 1)
        for name in ("chaos_threshold", "settle_tolerance", "perturbation", "rotation_gain"):
            check_real(name, getattr(self, name), minimum=0.0, exclusive_minimum=True)
        check_real("rotation_angle", self.rotation_angle)


QUICK = DynamicsConfig(gains=(0.5, 1.0, 1.8), steady_gain=0.5, hidden_size=32, warmup=100, steps=200,
                       motion_window=50, max_period=20, shown_steps=60, separation_steps=60)


def random_run(gain: float) -> str:
    """Return the name of the run of random networks at gain ``gain``, e.g. ``"g=1.8"``."""
    return f"g={gain:g}"


def rotation_run(config: DynamicsConfig) -> str:
    """Return the name of the rotation network's run, e.g. ``"rotation-g=1.8"``."""
    return f"rotation-g={config.rotation_gain:g}"


def stored_config(values: dict[str, Any]) -> DynamicsConfig:
    """Return the study's config from a run's stored config (which adds the run's own entries)."""
    return DynamicsConfig(**{name: values[name] for name in DynamicsConfig.model_fields if name in values})
