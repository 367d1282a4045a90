"""Steady state, oscillation, chaos: an autonomous tanh RNN as the scale g of W_rec grows.

With no input, h_{t+1} = tanh(g·W h_t). For a random W with entries N(0, 1/H) the state decays to a
steady state for small g, and past g ≈ 1 it wanders chaotically; a rotation W = g·R(θ) of two units
instead settles onto a limit cycle, an oscillation, once g > 1. The largest Lyapunov exponent λ_max
tells the regimes apart, and it is also the rate at which the gradient through time of the same
network vanishes (λ_max < 0) or explodes (λ_max > 0): the edge of chaos, λ_max ≈ 0, is where it does
neither. Each regime is measured, not assumed: λ_max along the very trajectory drawn, and the period
with which its last steps repeat (1 for a settled state, none for chaos).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from gradtrace.errors import check_real
from gradtrace.init import spectral_radius
from gradtrace.instruments.dynamics import autonomous_trajectory, largest_lyapunov_exponent, recurrence_period
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.dynamics.claims import build_claims
from gradtrace.studies.dynamics.config import (
    QUICK,
    REGIMES,
    DynamicsConfig,
    Key,
    Network,
    random_run,
    rotation_run,
)

__all__ = [
    "Dynamics",
    "mean_field_lyapunov_exponent",
    "random_recurrent_weights",
    "rotation_weights",
]

# Seed offset of the direction two nearby starts differ by, so it never repeats a member's start.
_DIRECTION_SEED_OFFSET = 7919


def random_recurrent_weights(hidden_size: int, num_models: int, *, seed: int = 0,
                             dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return K random matrices (K, H, H) with entries N(0, 1/H); member k from seed ``seed + k``.

    Their spectral radius tends to 1 as H grows (the circular law), so g·W has radius ≈ g.

    Args:
        hidden_size: H.
        num_models: K.
        seed: member k draws from a generator seeded ``seed + k``.
        dtype: the matrices' dtype.

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
    it spirals into 0, for g > 1 out until tanh's saturation holds it on a closed curve. Because tanh acts
    on each unit alike and is odd, the map commutes with a quarter turn; at θ = π/4 the motion on that
    curve locks onto a cycle of exactly 8 steps, at most other angles it never repeats exactly.

    Args:
        gain: g.
        angle: θ in radians.
        dtype: the matrix's dtype.

    Raises:
        TypeError: if ``gain`` or ``angle`` is not a real number.

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

    Raises:
        ValueError: if ``gain`` is not positive.

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


class Dynamics(Study):
    """Autonomous tanh RNNs h_{t+1} = tanh(g·W h_t): steady state, oscillation and chaos as g grows.

    For each gain g, an ensemble of seeds (one random W with entries N(0, 1/H) each, the same W at
    every g) is run with no input: its largest Lyapunov exponent, the period its last steps repeat
    with, its regime (settled, oscillating or chaotic), a few units over time, and the separation of
    two starts 10⁻⁹ apart. A 2-unit rotation network adds an oscillator of exactly 8 steps. In the
    mean-field theory λ_max = log g < 0 below g = 1 and turns positive past it: the transition to chaos
    of Sompolinsky, Crisanti & Sommers 1988.
    """

    name = "dynamics"
    config_class = DynamicsConfig
    quick_config = QUICK
    title = "Steady state, oscillation and chaos in an autonomous RNN"
    description = ("An RNN with no input, h_{t+1} = tanh(g·W h_t), for a range of gains g, and a 2-unit rotation "
                   "network: trajectories, the period each repeats with, the largest Lyapunov exponent against g "
                   "beside the mean-field theory, and where it crosses 0.")
    text = {
        "title": {"en": title, "pt": "Estado estacionário, oscilação e caos numa RNN autônoma"},
        "question": {
            "en": "Left to itself, where does a recurrent network's state go as W_rec grows, and how fast do two "
                  "nearby states part?",
            "pt": "Sozinha, sem entrada, para onde vai o estado de uma rede recorrente quando W_rec cresce, e com "
                  "que rapidez dois estados vizinhos se afastam?",
        },
        "description": {
            "en": description,
            "pt": "Uma RNN sem entrada, h_{t+1} = tanh(g·W h_t), numa faixa de ganhos g, e uma rede de rotação de "
                  "2 unidades: trajetórias, o período com que cada uma se repete, o maior expoente de Lyapunov em "
                  "função de g ao lado da teoria de campo médio, e onde ele cruza o 0.",
        },
    }
    default_seeds = 8

    summary_columns = (("g", Key.GAIN, "g"), ("λ_max median", Key.LYAPUNOV, "+.3f"),
                       ("min", Key.LYAPUNOV_MIN, "+.3f"), ("max", Key.LYAPUNOV_MAX, "+.3f"),
                       ("mean-field λ", Key.MEAN_FIELD, "+.3f"), ("ρ(W_rec)", Key.SPECTRAL_RADIUS, ".2f"),
                       ("regime", Key.REGIME, ""), ("steady", "steady", "d"), ("oscillating", "oscillating", "d"),
                       ("chaotic", "chaotic", "d"), ("periodic", Key.PERIODIC, "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        specs = [RunSpec(random_run(gain), 1, _random_executor(config, gain, seeds)) for gain in config.gains]
        specs.append(RunSpec(rotation_run(config), 1, _rotation_executor(config, seeds)))
        return specs

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Steady below g = 1, a measured period for the rotation, chaos in the drawn example, λ_max's zero at g ≈ 1."""
        return build_claims(self.resolve(quick))


def _random_executor(config: DynamicsConfig, gain: float, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        W_rec = gain * random_recurrent_weights(config.hidden_size, seeds, seed=config.seed)  # noqa: N806
        arrays, summary = _measure(config, W_rec, seeds)
        summary.update({Key.NETWORK: Network.RANDOM, Key.GAIN: gain, Key.HIDDEN_SIZE: config.hidden_size,
                        Key.MEAN_FIELD: mean_field_lyapunov_exponent(gain)})
        run_config = {**config.model_dump(), "network": Network.RANDOM, "gain": gain, "seeds": seeds}
        return Outcome(arrays, run_config, summary)

    return execute


def _rotation_executor(config: DynamicsConfig, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        # One W for every member: the seeds differ only in their starting states.
        W_rec = rotation_weights(config.rotation_gain, config.rotation_angle).expand(seeds, 2, 2)  # noqa: N806
        arrays, summary = _measure(config, W_rec, seeds)
        summary.update({Key.NETWORK: Network.ROTATION, Key.GAIN: config.rotation_gain,
                        Key.ANGLE: config.rotation_angle, Key.HIDDEN_SIZE: 2})
        run_config = {**config.model_dump(), "network": Network.ROTATION, "gain": config.rotation_gain,
                      "seeds": seeds}
        return Outcome(arrays, run_config, summary)

    return execute


def _measure(config: DynamicsConfig, W_rec: torch.Tensor, seeds: int) -> tuple[dict, dict]:  # noqa: N803
    """Measure one ensemble (K, H, H): λ_max, period, regime, shown trajectory, separation of nearby starts."""
    seed = config.seed
    exponent = largest_lyapunov_exponent(W_rec, steps=config.steps, warmup=config.warmup, seed=seed)
    # The same starts as the exponent's (same seed): the window the exponent's trajectory ends on.
    window = config.motion_window
    late = autonomous_trajectory(W_rec, window, warmup=config.warmup + config.steps - window, seed=seed)
    motion = (late[:, 1:] - late[:, :-1]).abs().amax(dim=(1, 2))
    periods = recurrence_period(late, tolerance=config.settle_tolerance, max_period=config.max_period)
    regimes = [_regime(int(p), float(lam), config) for p, lam in zip(periods, exponent)]
    # Member 0 from its start: the first steps of the trajectory its exponent and period were measured on.
    shown = autonomous_trajectory(W_rec[:1], config.shown_steps, seed=seed)[0, :, : config.shown_units]
    separation = _separation(config, W_rec, seed)
    counts = Counter(regimes)
    arrays = {
        Key.LYAPUNOV: exponent.numpy(),
        Key.PERIOD: periods.numpy(),
        Key.MOTION: motion.double().numpy(),
        Key.REGIME: np.array([REGIMES.index(r) for r in regimes]),
        Key.SPECTRAL_RADIUS: spectral_radius(W_rec).double().numpy(),
        Key.TRAJECTORY: shown.double().numpy(),
        Key.SEPARATION: separation.numpy(),
    }
    finite = exponent[torch.isfinite(exponent)]
    summary = {
        Key.SEEDS: seeds,
        # numpy's median (the mean of the middle two for an even K), as the figures draw it.
        Key.LYAPUNOV: float(np.median(finite.numpy())) if finite.numel() else float("nan"),
        Key.LYAPUNOV_MIN: float(exponent.min()),
        Key.LYAPUNOV_MAX: float(exponent.max()),
        Key.SPECTRAL_RADIUS: float(np.median(arrays[Key.SPECTRAL_RADIUS])),
        Key.REGIME: max(REGIMES, key=lambda r: (counts[r], -REGIMES.index(r))),
        **{regime: counts[regime] for regime in REGIMES},
        Key.PERIODIC: int((periods > 1).sum()),
        Key.SHOWN_LYAPUNOV: float(exponent[0]),
        Key.SHOWN_PERIOD: int(periods[0]),
    }
    return arrays, summary


def _regime(period: int, exponent: float, config: DynamicsConfig) -> str:
    """Settled (period 1); chaotic (no period and λ_max above the threshold); oscillating otherwise."""
    if period == 1:
        return "steady"
    return "chaotic" if period == 0 and exponent > config.chaos_threshold else "oscillating"


def _separation(config: DynamicsConfig, W_rec: torch.Tensor, seed: int) -> torch.Tensor:  # noqa: N803
    """‖h_t − h′_t‖ (K, separation_steps) for two starts ``perturbation`` apart on the attractor."""
    start = autonomous_trajectory(W_rec, 1, warmup=config.warmup, seed=seed)[:, 0]
    generator = torch.Generator().manual_seed(seed + _DIRECTION_SEED_OFFSET)
    direction = torch.randn(start.shape, generator=generator, dtype=torch.float64)
    direction = direction.to(start.dtype) / torch.linalg.vector_norm(direction, dim=-1, keepdim=True).to(start.dtype)
    nearby = start + config.perturbation * direction
    first = autonomous_trajectory(W_rec, config.separation_steps, initial_state=start)
    second = autonomous_trajectory(W_rec, config.separation_steps, initial_state=nearby)
    return torch.linalg.vector_norm(first - second, dim=-1).double()
