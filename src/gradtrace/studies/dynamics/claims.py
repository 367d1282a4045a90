"""The dynamics study's claims: steady below g = 1, a periodic oscillator, a chaotic example, λ_max = 0 near g = 1."""

from __future__ import annotations

import numpy as np

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.dynamics.config import DynamicsConfig, Key, random_run, rotation_run

__all__ = ["build_claims", "crossing_gain"]

# Where the mean-field theory puts λ_max = 0: below it log g < 0, above it chaos.
_THEORY_GAIN = 1.0
# How far the measured zero may lie from the theory's: one step of the default grid around g = 1.
_NEAR = 0.1


def crossing_gain(gains, values, level: float = 0.0) -> float:
    """Return the g at which ``values`` first rise to ``level``, interpolated linearly between grid points.

    The first gain if ``values`` start at or above ``level``; NaN if they never reach it (NaN values
    are skipped).

    Args:
        gains: the grid of g, increasing.
        values: one value per gain.
        level: the level crossed.

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


def build_claims(config: DynamicsConfig) -> list[Claim]:
    """Return the claims that ``config``'s runs can decide.

    Args:
        config: the study's config (its gains, examples and thresholds).
    """
    claims = []
    below = [gain for gain in config.gains if gain < _THEORY_GAIN]
    if below:
        claims.append(_steady_claim(config, below))
    claims += [_oscillator_claim(config), _chaotic_claim(config)]
    if below and any(gain > _THEORY_GAIN for gain in config.gains):
        claims.append(_edge_claim(config))
    return claims


def _steady_claim(config: DynamicsConfig, gains: list[float]) -> Claim:
    names = [random_run(gain) for gain in gains]

    def evaluate(results: Results):
        periods = np.concatenate([results.array(name, Key.PERIOD) for name in names])
        exponents = np.concatenate([results.array(name, Key.LYAPUNOV) for name in names])
        settled = int((periods == 1).sum())
        largest = float(np.max(exponents))
        shown = results.summary(random_run(config.steady_gain))[Key.SHOWN_LYAPUNOV]
        held = settled == periods.size and largest < 0
        return held, {"settled": settled, "total": int(periods.size), "low": min(gains), "high": max(gains),
                      "largest": largest, "shown": shown, "shown_gain": config.steady_gain,
                      "tolerance": config.settle_tolerance, "window": config.motion_window}

    return Claim(
        "steady-below-one",
        {"en": "Below g = 1 every network settles to a fixed point, with a negative largest Lyapunov exponent.",
         "pt": "Abaixo de g = 1 toda rede se acomoda num ponto fixo, com o maior expoente de Lyapunov negativo."},
        {"en": "For g from {low:g} to {high:g}, {settled} of {total} networks settle (no unit moves by more than "
               "{tolerance:g} in a step over the last {window} steps) and λ_max is negative in every one (at most "
               "{largest:+.3f} per step; {shown:+.3f} for the trajectory drawn at g = {shown_gain:g}).",
         "pt": "Para g de {low:g} a {high:g}, {settled} de {total} redes se acomodam (nenhuma unidade se move mais "
               "de {tolerance:g} num passo nos últimos {window} passos) e λ_max é negativo em todas (no máximo "
               "{largest:+.3f} por passo; {shown:+.3f} na trajetória desenhada em g = {shown_gain:g})."},
        evaluate, requires=tuple(names))


def _oscillator_claim(config: DynamicsConfig) -> Claim:
    name = rotation_run(config)

    def evaluate(results: Results):
        periods = results.array(name, Key.PERIOD)
        exponents = results.array(name, Key.LYAPUNOV)
        low, high = int(periods.min()), int(periods.max())
        largest = float(exponents.max())
        held = low == high >= 2 and largest <= config.chaos_threshold
        return held, {"periodic": int((periods >= 2).sum()), "seeds": int(periods.size),
                      "period": high if low == high else f"{low}–{high}", "largest": largest,
                      "smallest": float(exponents.min()), "gain": config.rotation_gain,
                      "angle": config.rotation_angle / np.pi, "tolerance": config.settle_tolerance}

    return Claim(
        "rotation-oscillates",
        {"en": "The 2-unit rotation oscillates: every start ends on the same cycle, which repeats with a fixed "
               "period, and its largest Lyapunov exponent is not positive.",
         "pt": "A rotação de 2 unidades oscila: todo início termina no mesmo ciclo, que se repete com um período "
               "fixo, e seu maior expoente de Lyapunov não é positivo."},
        {"en": "The rotation by {angle:.2f}π with g = {gain:g} repeats itself every {period} steps (to {tolerance:g}) "
               "from {periodic} of {seeds} starts, with λ_max from {smallest:+.3f} to {largest:+.3f} per step: a "
               "stable cycle.",
         "pt": "A rotação de {angle:.2f}π com g = {gain:g} se repete a cada {period} passos (a menos de "
               "{tolerance:g}) a partir de {periodic} de {seeds} inícios, com λ_max de {smallest:+.3f} a "
               "{largest:+.3f} por passo: um ciclo estável."},
        evaluate, requires=(name,))


def _chaotic_claim(config: DynamicsConfig) -> Claim:
    name = random_run(config.chaotic_gain)

    def evaluate(results: Results):
        summary = results.summary(name)
        exponents = results.array(name, Key.LYAPUNOV)
        shown, period = summary[Key.SHOWN_LYAPUNOV], summary[Key.SHOWN_PERIOD]
        chaotic, seeds = summary["chaotic"], summary[Key.SEEDS]
        held = shown > config.chaos_threshold and period == 0 and chaotic == seeds
        return held, {"gain": config.chaotic_gain, "shown": shown, "doubling": np.log(2) / shown if shown > 0 else None,
                      "period": "—" if period == 0 else period, "max_period": config.max_period,
                      "window": config.motion_window,
                      "chaotic": chaotic, "seeds": seeds, "smallest": float(exponents.min()),
                      "largest": float(exponents.max())}

    return Claim(
        "chaotic-example-is-chaotic",
        {"en": "The chaotic example is chaotic: the trajectory drawn has a positive largest Lyapunov exponent and "
               "repeats with no period, and so do the other seeds at its gain.",
         "pt": "O exemplo caótico é caótico: a trajetória desenhada tem o maior expoente de Lyapunov positivo e "
               "não se repete com período algum, e o mesmo vale para as outras sementes do seu ganho."},
        {"en": "At g = {gain:g} the trajectory drawn has λ_max = {shown:+.3f} per step (two nearby states part ×2 "
               "every {doubling:.0f} steps), and no period of up to {max_period} steps fits its last {window} steps "
               "(period found: {period}); {chaotic} of {seeds} seeds are chaotic, λ_max from {smallest:+.3f} to "
               "{largest:+.3f}.",
         "pt": "Em g = {gain:g} a trajetória desenhada tem λ_max = {shown:+.3f} por passo (dois estados vizinhos se "
               "afastam ×2 a cada {doubling:.0f} passos), e nenhum período de até {max_period} passos se ajusta aos "
               "seus últimos {window} passos (período encontrado: {period}); {chaotic} de {seeds} sementes são "
               "caóticas, λ_max de {smallest:+.3f} a {largest:+.3f}."},
        evaluate, requires=(name,))


def _edge_claim(config: DynamicsConfig) -> Claim:
    names = [random_run(gain) for gain in config.gains]
    threshold = config.chaos_threshold

    def evaluate(results: Results):
        medians = [results.summary(name)[Key.LYAPUNOV] for name in names]
        theory = [results.summary(name)[Key.MEAN_FIELD] for name in names]
        reaches = crossing_gain(config.gains, medians, -threshold)
        chaos = crossing_gain(config.gains, medians, threshold)
        held = reaches == reaches and abs(reaches - _THEORY_GAIN) <= _NEAR
        return held, {"reaches": reaches, "theory": _THEORY_GAIN, "near": _NEAR, "threshold": threshold,
                      "chaos": chaos, "chaos_theory": crossing_gain(config.gains, theory, threshold)}

    return Claim(
        "lyapunov-zero-near-theory",
        {"en": "The median largest Lyapunov exponent rises through 0 within 0.1 of g = 1, where the mean-field "
               "theory puts the transition to chaos.",
         "pt": "A mediana do maior expoente de Lyapunov passa por 0 a menos de 0,1 de g = 1, onde a teoria de campo "
               "médio põe a transição para o caos."},
        {"en": "The median λ_max reaches 0 (−{threshold:g}) at g ≈ {reaches:.2f}, against g = {theory:g} in the "
               "mean-field theory. It exceeds +{threshold:g} from g ≈ {chaos:.2f} on (the theory: from g ≈ "
               "{chaos_theory:.2f}).",
         "pt": "A mediana de λ_max chega a 0 (−{threshold:g}) em g ≈ {reaches:.2f}, contra g = {theory:g} na teoria "
               "de campo médio. Ela passa de +{threshold:g} a partir de g ≈ {chaos:.2f} (na teoria, a partir de "
               "g ≈ {chaos_theory:.2f})."},
        evaluate, requires=tuple(names))
