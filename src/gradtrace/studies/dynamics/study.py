"""Steady state, oscillation, chaos: an autonomous tanh RNN as the scale g of W_rec grows.

With no input, h_{t+1} = tanh(g·W h_t). For a random W with entries N(0, 1/H) the state decays to a
steady state for small g, and past g ≈ 1 it wanders chaotically; a rotation W = g·R(θ) of two units
instead settles onto a limit cycle, an oscillation, once g > 1. The largest Lyapunov exponent λ_max
tells the regimes apart, and it is also the rate at which the gradient through time of the same
network vanishes (λ_max < 0) or explodes (λ_max > 0): the edge of chaos, λ_max ≈ 0, is where it does
neither.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from gradtrace.errors import check_int, check_real
from gradtrace.init import spectral_radius
from gradtrace.instruments.dynamics import autonomous_trajectory, largest_lyapunov_exponent
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig

__all__ = [
    "REGIMES",
    "Dynamics",
    "DynamicsConfig",
    "crossing_gain",
    "mean_field_lyapunov_exponent",
    "random_recurrent_weights",
    "rotation_weights",
]

#: The three behaviors of an autonomous network, in the order they appear as g grows.
REGIMES = ("steady", "oscillating", "chaotic")


class DynamicsConfig(StudyConfig):
    """Sizes of the dynamics study (the defaults take about half a minute on 2 CPU cores)."""

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
    # Largest change of any unit over the last `motion_window` steps below which the state has settled.
    settle_tolerance: float = 1e-6
    motion_window: int = 100
    steady_gain: float = 0.9       # drawn as the steady example: close enough to 1 that the decay shows
    chaotic_gain: float = 1.8      # drawn as the chaotic example: chaotic for every seed, rarely saturated
    rotation_gain: float = 1.5     # the 2-unit oscillator: a limit cycle for any g > 1
    rotation_angle: float = 0.5    # radians per step: a period of about 12.6 steps, not a whole number
    shown_units: int = 3           # units of member 0 stored over time; more tangle the chaotic panel
    shown_steps: int = 120         # from the random start, so the transient shows
    perturbation: float = 1e-9     # the distance between two starts whose separation is tracked
    separation_steps: int = 200    # at λ_max ≈ 0.1, 1e-9 grows to the size of the attractor in ~200 steps
    seed: int = 0


QUICK = DynamicsConfig(gains=(0.5, 1.0, 1.8), steady_gain=0.5, hidden_size=32, warmup=100, steps=200,
                       motion_window=50, shown_steps=60, separation_steps=60)


def random_recurrent_weights(hidden_size: int, num_models: int, *, seed: int = 0,
                             dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return K random matrices (K, H, H) with entries N(0, 1/H); member k from seed ``seed + k``.

    Their spectral radius tends to 1 as H grows (the circular law), so g·W has radius ≈ g.

    Example:
        >>> W = random_recurrent_weights(400, 1)
        >>> round(float(W.std() * 20), 1)
        1.0
    """
    scale = 1.0 / math.sqrt(hidden_size)
    return torch.stack([
        torch.randn(hidden_size, hidden_size, generator=torch.Generator().manual_seed(seed + k), dtype=dtype) * scale
        for k in range(num_models)
    ])


def rotation_weights(gain: float, angle: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return g·R(θ), the (2, 2) rotation by ``angle`` radians scaled by ``gain``.

    Near the origin tanh(g·R h) ≈ g·R h turns the state by θ and stretches it by g each step: for g < 1
    it spirals into 0, for g > 1 out until tanh's saturation holds it on a closed curve, a limit cycle.

    Example:
        >>> rotation_weights(2.0, math.pi / 2).round().tolist()
        [[0.0, -2.0], [2.0, 0.0]]
    """
    gain, angle = check_real("gain", gain), check_real("angle", angle)
    cos, sin = math.cos(angle), math.sin(angle)
    return gain * torch.tensor([[cos, -sin], [sin, cos]], dtype=dtype)


def mean_field_lyapunov_exponent(gain: float, *, quadrature_points: int = 101) -> float:
    """Return λ_max of h_{t+1} = tanh(g·W h_t), W with entries N(0, 1/H), as H → ∞ (nats per step).

    In the mean-field limit each pre-activation is Gaussian with the variance q that solves
    q = g²·E[tanh(√q z)²], z ~ N(0, 1), and a perturbation's squared length is multiplied per step
    by g²·E[tanh′(√q z)²]: λ = ½ log(g²·E[tanh′(√q z)²]). For g ≤ 1 the only solution is q = 0 and
    λ = log g; past g = 1 a q > 0 appears and λ turns positive: the transition to chaos.

    Args:
        gain: g > 0.
        quadrature_points: Gauss–Hermite points for the Gaussian averages.

    Example:
        >>> round(mean_field_lyapunov_exponent(0.5), 4), round(mean_field_lyapunov_exponent(2.0), 3)
        (-0.6931, 0.155)

    References:
        Molgedey, Schuster & Ritter 1992, "Suppressing chaos in neural networks by noise",
        Phys. Rev. Lett. 69, 3717 (the discrete-time network); Poole et al. 2016, "Exponential
        expressivity in deep neural networks through transient chaos", arXiv:1606.05340 (the same χ
        through depth).
    """
    gain = check_real("gain", gain, minimum=0.0, exclusive_minimum=True)
    if gain <= 1.0:
        return math.log(gain)
    nodes, weights = np.polynomial.hermite_e.hermegauss(quadrature_points)
    weights = weights / weights.sum()
    low, high = 0.0, gain * gain  # tanh² < 1 bounds q by g²
    for _ in range(200):  # bisection: g²·E[tanh²] − q is positive below the root, negative above
        q = 0.5 * (low + high)
        if gain * gain * np.sum(weights * np.tanh(math.sqrt(q) * nodes) ** 2) > q:
            low = q
        else:
            high = q
    q = 0.5 * (low + high)
    derivative = 1.0 - np.tanh(math.sqrt(q) * nodes) ** 2
    return float(0.5 * math.log(gain * gain * np.sum(weights * derivative**2)))


def crossing_gain(gains, values, level: float = 0.0) -> float:
    """Return the g at which ``values`` first rise to ``level``, interpolated linearly between grid points.

    The first gain if ``values`` start at or above ``level``; NaN if they never reach it (NaN values
    are skipped).

    Example:
        >>> crossing_gain([0.5, 1.0, 1.5], [-0.7, -0.1, 0.1])
        1.25
    """
    points = [(float(g), float(v)) for g, v in zip(gains, values) if v == v]
    for i, (g, v) in enumerate(points):
        if v >= level:
            if i == 0:
                return g
            g0, v0 = points[i - 1]
            return g0 + (level - v0) / (v - v0) * (g - g0)
    return float("nan")


class Dynamics(Study):
    """Autonomous tanh RNNs h_{t+1} = tanh(g·W h_t): steady state, oscillation and chaos as g grows.

    For each gain g, an ensemble of seeds (one random W with entries N(0, 1/H) each, the same W at
    every g) is run with no input: its largest Lyapunov exponent, its regime (settled, oscillating or
    chaotic), a few units over time, and the separation of two starts 10⁻⁹ apart. A 2-unit rotation
    network adds a clean oscillator. λ_max < 0 below g ≈ 1 (it equals log g there, for large H), about
    0 near 1, and positive beyond: the transition to chaos of Sompolinsky, Crisanti & Sommers 1988.
    """

    name = "dynamics"
    config_class = DynamicsConfig
    quick_config = QUICK
    title = "Steady state, oscillation and chaos in an autonomous RNN"
    description = ("An RNN with no input, h_{t+1} = tanh(g·W h_t), settles to a steady state for small g, "
                   "oscillates (a rotation W past g = 1) and turns chaotic for large g: trajectories, the largest "
                   "Lyapunov exponent against g beside the mean-field theory, and where it crosses 0.")
    default_seeds = 8

    summary_columns = (("g", "gain", "g"), ("λ_max median", "lyapunov", "+.3f"), ("min", "lyapunov_min", "+.3f"),
                       ("max", "lyapunov_max", "+.3f"), ("mean-field λ", "mean_field_lyapunov", "+.3f"),
                       ("ρ(W_rec)", "spectral_radius", ".2f"), ("regime", "regime", ""),
                       ("steady", "steady", "d"), ("oscillating", "oscillating", "d"), ("chaotic", "chaotic", "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        if not config.gains or not all(gain > 0 for gain in config.gains):
            raise ValueError(f"`gains` must be positive numbers, got {config.gains}.")
        for name in ("steady_gain", "chaotic_gain"):
            if getattr(config, name) not in config.gains:
                raise ValueError(f"`{name}` must be one of the study's gains {config.gains}, "
                                 f"got {getattr(config, name)}.")
        check_int("hidden_size", config.hidden_size, minimum=1)
        check_int("steps", config.steps, minimum=1)
        check_int("warmup", config.warmup, minimum=0)
        # Two states at least, or nothing could be seen to move.
        check_int("motion_window", config.motion_window, minimum=2, maximum=config.warmup + config.steps)
        specs = [RunSpec(f"g={gain:g}", 1, _random_executor(config, gain, seeds)) for gain in config.gains]
        specs.append(RunSpec(f"rotation-g={config.rotation_gain:g}", 1, _rotation_executor(config, seeds)))
        return specs


def _random_executor(config: DynamicsConfig, gain: float, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        W_rec = gain * random_recurrent_weights(config.hidden_size, seeds, seed=config.seed)  # noqa: N806
        arrays, summary = _measure(config, W_rec, seeds)
        summary.update({"gain": gain, "mean_field_lyapunov": mean_field_lyapunov_exponent(gain)})
        run_config = {**config.model_dump(), "network": "random", "gain": gain, "seeds": seeds}
        return Outcome(arrays, run_config, summary)

    return execute


def _rotation_executor(config: DynamicsConfig, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        # One W for every member: the seeds differ only in their starting states.
        W_rec = rotation_weights(config.rotation_gain, config.rotation_angle).expand(seeds, 2, 2)  # noqa: N806
        arrays, summary = _measure(config, W_rec, seeds)
        summary.update({"gain": config.rotation_gain, "angle": config.rotation_angle})
        run_config = {**config.model_dump(), "network": "rotation", "gain": config.rotation_gain,
                      "hidden_size": 2, "seeds": seeds}
        return Outcome(arrays, run_config, summary)

    return execute


def _measure(config: DynamicsConfig, W_rec: torch.Tensor, seeds: int) -> tuple[dict, dict]:  # noqa: N803
    """Measure one ensemble (K, H, H): λ_max, regime, shown trajectory, separation of nearby starts."""
    seed = config.seed
    exponent = largest_lyapunov_exponent(W_rec, steps=config.steps, warmup=config.warmup, seed=seed)
    # The same start as the exponent's (same seed): the window it ends on tells a settled state apart.
    window = config.motion_window
    late = autonomous_trajectory(W_rec, window, warmup=config.warmup + config.steps - window, seed=seed)
    motion = (late[:, 1:] - late[:, :-1]).abs().amax(dim=(1, 2))
    regimes = [_regime(float(m), float(lam), config) for m, lam in zip(motion, exponent)]
    shown = autonomous_trajectory(W_rec[:1], config.shown_steps, seed=seed)[0, :, : config.shown_units]
    separation = _separation(config, W_rec, seed)
    counts = Counter(regimes)
    arrays = {
        "lyapunov": exponent.numpy(),
        "motion": motion.double().numpy(),
        "regime": np.array([REGIMES.index(r) for r in regimes]),
        "spectral_radius": spectral_radius(W_rec).double().numpy(),
        "trajectory": shown.double().numpy(),
        "separation": separation.numpy(),
    }
    finite = exponent[torch.isfinite(exponent)]
    summary = {
        "seeds": seeds,
        # numpy's median (the mean of the middle two for an even K), as the figures draw it.
        "lyapunov": float(np.median(finite.numpy())) if finite.numel() else float("nan"),
        "lyapunov_min": float(exponent.min()),
        "lyapunov_max": float(exponent.max()),
        "spectral_radius": float(np.median(arrays["spectral_radius"])),
        "regime": max(REGIMES, key=lambda r: (counts[r], -REGIMES.index(r))),
        **{regime: counts[regime] for regime in REGIMES},
    }
    return arrays, summary


def _regime(motion: float, exponent: float, config: DynamicsConfig) -> str:
    if motion < config.settle_tolerance:
        return "steady"
    return "chaotic" if exponent > config.chaos_threshold else "oscillating"


def _separation(config: DynamicsConfig, W_rec: torch.Tensor, seed: int) -> torch.Tensor:  # noqa: N803
    """‖h_t − h′_t‖ (K, separation_steps) for two starts ``perturbation`` apart on the attractor."""
    start = autonomous_trajectory(W_rec, 1, warmup=config.warmup, seed=seed)[:, 0]
    direction = torch.randn(start.shape, generator=torch.Generator().manual_seed(seed + 7919), dtype=torch.float64)
    direction = direction.to(start.dtype) / torch.linalg.vector_norm(direction, dim=-1, keepdim=True).to(start.dtype)
    nearby = start + config.perturbation * direction
    first = autonomous_trajectory(W_rec, config.separation_steps, initial_state=start)
    second = autonomous_trajectory(W_rec, config.separation_steps, initial_state=nearby)
    return torch.linalg.vector_norm(first - second, dim=-1).double()
