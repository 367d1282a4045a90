"""What the through-time study asserts, each read at initialization, where W_rec is exactly the rescaled matrix.

Small ρ(W_rec) makes the gradient vanish within the sequence; the largest ρ makes it explode; just above 1,
tanh saturation keeps it from exploding; the factor per step rises with ρ; and no profile ever leaves its
envelope σ_max(W_rec)^k.
"""

from __future__ import annotations

import numpy as np

from gradtrace.instruments import HORIZON_THRESHOLD
from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.through_time.config import (
    BY_LAG,
    DECAY_RATE,
    HORIZON,
    INIT,
    TANH_SLOPE,
    TOP_SINGULAR_VALUE,
    ThroughTimeConfig,
    key,
    run_name,
)

__all__ = ["EXPLODED", "build_claims", "envelope_claim", "exploding_claim", "ordered_claim", "tempered_claim",
           "vanishing_claim"]

#: Growth over the sequence that counts as exploding: the inverse of the horizon's threshold, so a gradient
#: "explodes" by as much as a vanished one has fallen.
EXPLODED = 1 / HORIZON_THRESHOLD
# float32 rounding of the stored norms: a profile may touch its envelope to this relative precision.
_ROUNDING = 1e-4


def build_claims(config: ThroughTimeConfig) -> list[Claim]:
    """Return the claims ``config``'s radii can decide.

    The smallest radius below 1 is the vanishing claim's, the largest above 1 the exploding claim's; every
    radius strictly between 1 and 2 gets a tempered claim (between them the linear bound ρ^k is far from what
    tanh lets through); with two radii or more the factor must rise with ρ; every run's profile must stay
    under its envelope.
    """
    radii = sorted(config.radii)
    claims = []
    if radii[0] < 1:
        claims.append(vanishing_claim(radii[0], config.length))
    if radii[-1] > 1:
        claims.append(exploding_claim(radii[-1], config.length))
    claims += [tempered_claim(rho, config.length) for rho in radii[:-1] if 1 < rho < 2]
    if len(radii) > 1:
        claims.append(ordered_claim(radii))
    claims.append(envelope_claim(radii))
    return claims


def _growth(by_lag: np.ndarray) -> np.ndarray:
    """Return each member's largest ‖∂L/∂h_{T−k}‖ over the lags, relative to the last step's (K,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nanmax(by_lag, axis=1) / by_lag[:, 0]


def vanishing_claim(rho: float, length: int) -> Claim:
    """At the small ``rho``, every member's horizon ends within the ``length`` steps."""
    def evaluate(results: Results):
        horizons = results.array(run_name(rho), key(INIT, HORIZON))
        vanished = int(((horizons >= 0) & (horizons < length)).sum())
        return vanished == horizons.size > 0, {
            "rho": rho, "T": length, "n": vanished, "K": int(horizons.size),
            "horizon_max": float(horizons.max()), "horizon": float(np.median(horizons)),
            "rate": results.summary(run_name(rho))[key(INIT, DECAY_RATE)]}

    return Claim(
        "vanishing-at-small-rho",
        {"en": "With a small W_rec the gradient vanishes along time, within the sequence, in every member.",
         "pt": "Com W_rec pequena o gradiente desaparece ao longo do tempo, dentro da sequência, em todos os "
               "membros."},
        {"en": "At ρ = {rho:g} the gradient vanishes: in {n} of {K} members ‖∂L/∂h_(T−k)‖ falls below 10⁻⁶ of its "
               "peak within the T = {T} steps, after at most {horizon_max:.0f} steps (median {horizon:.0f}; a factor "
               "{rate:.2f} per step).",
         "pt": "Com ρ = {rho:g} o gradiente desaparece: em {n} de {K} membros ‖∂L/∂h_(T−k)‖ cai abaixo de 10⁻⁶ do "
               "seu pico dentro dos T = {T} passos, em no máximo {horizon_max:.0f} passos (mediana {horizon:.0f}; "
               "um fator {rate:.2f} por passo)."},
        evaluate, requires=(run_name(rho),))


def exploding_claim(rho: float, length: int) -> Claim:
    """At the large ``rho``, every member's gradient grows more than 10⁶-fold from the last step to the first."""
    def evaluate(results: Results):
        by_lag = results.array(run_name(rho), key(INIT, BY_LAG))  # (K, T): lag 0 is the last step
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = by_lag[:, -1] / by_lag[:, 0]
        grew = int((growth >= EXPLODED).sum())
        return grew == growth.size > 0, {
            "rho": rho, "lag": length - 1, "n": grew, "K": int(growth.size),
            "growth_min": float(np.nanmin(growth)) if np.isfinite(growth).any() else float("nan"),
            "rate": results.summary(run_name(rho))[key(INIT, DECAY_RATE)]}

    return Claim(
        "exploding-at-large-rho",
        {"en": "With a large W_rec the gradient explodes along time at initialization, in every member.",
         "pt": "Com W_rec grande o gradiente explode ao longo do tempo na inicialização, em todos os membros."},
        {"en": "At ρ = {rho:g} the gradient explodes at initialization: in {n} of {K} members ‖∂L/∂h_(T−k)‖ grows "
               "more than 10⁶-fold from k = 0 to k = {lag} (at least {growth_min:.1e}-fold; a factor {rate:.2f} per "
               "step).",
         "pt": "Com ρ = {rho:g} o gradiente explode na inicialização: em {n} de {K} membros ‖∂L/∂h_(T−k)‖ cresce "
               "mais de 10⁶ vezes de k = 0 a k = {lag} (no mínimo {growth_min:.1e} vezes; um fator {rate:.2f} por "
               "passo)."},
        evaluate, requires=(run_name(rho),))


def tempered_claim(rho: float, length: int) -> Claim:
    """Just above 1, no member's gradient grows 10⁶-fold over the sequence and the median factor per step stays
    under halfway from 1 to ``rho``, though the linear bound ρ^(T−1) is astronomically larger."""
    shown = {"en": f"{rho:g}", "pt": f"{rho:g}".replace(".", ",")}

    def evaluate(results: Results):
        name = run_name(rho)
        growth = _growth(results.array(name, key(INIT, BY_LAG)))
        rate = results.summary(name)[key(INIT, DECAY_RATE)]
        slope = results.array(name, key(INIT, TANH_SLOPE))
        bound = 1 + (rho - 1) / 2
        contained = int((growth < EXPLODED).sum())
        held = contained == growth.size > 0 and rate < bound
        return held, {"rho": rho, "T": length, "n": contained, "K": int(growth.size),
                      "growth_max": float(np.nanmax(growth)) if np.isfinite(growth).any() else float("nan"),
                      "linear": float(rho) ** (length - 1), "rate": rate, "bound": bound,
                      "slope": float(np.median(slope))}

    return Claim(
        f"tanh-tempers-rho={rho:g}",
        {"en": f"Just above ρ = 1 (here {shown['en']}) tanh saturation keeps the gradient from exploding at "
               "initialization.",
         "pt": f"Pouco acima de ρ = 1 (aqui {shown['pt']}) a saturação da tanh impede o gradiente de explodir na "
               "inicialização."},
        {"en": "At ρ = {rho:g} the gradient does not explode at initialization: in {n} of {K} members it grows less "
               "than 10⁶-fold over the T = {T} steps (at most {growth_max:.1e}-fold, where ρ^(T−1) = {linear:.1e}), "
               "a median factor {rate:.3f} per step, under {bound:.2f}, halfway from 1 to ρ; saturation lowers "
               "tanh′ to {slope:.2f} on average (1 for a unit that is not saturated).",
         "pt": "Com ρ = {rho:g} o gradiente não explode na inicialização: em {n} de {K} membros ele cresce menos de "
               "10⁶ vezes ao longo dos T = {T} passos (no máximo {growth_max:.1e} vezes, quando ρ^(T−1) = "
               "{linear:.1e}), um fator mediano de {rate:.3f} por passo, abaixo de {bound:.2f}, a meio caminho "
               "entre 1 e ρ; a saturação baixa tanh′ para {slope:.2f} em média (1 numa unidade não saturada)."},
        evaluate, requires=(run_name(rho),))


def ordered_claim(radii: list[float]) -> Claim:
    """The median factor per step at initialization rises strictly with ρ."""
    def evaluate(results: Results):
        rates = [results.summary(run_name(rho))[key(INIT, DECAY_RATE)] for rho in radii]
        rising = all(a < b for a, b in zip(rates, rates[1:]))
        return rising, {"rho_low": radii[0], "rho_high": radii[-1], "low": rates[0], "high": rates[-1],
                        "radii": len(radii), "rates": rates}

    return Claim(
        "factor-follows-rho",
        {"en": "The larger ρ(W_rec), the larger the gradient's factor per step along time.",
         "pt": "Quanto maior ρ(W_rec), maior o fator por passo do gradiente ao longo do tempo."},
        {"en": "The factor per step at initialization rises with ρ across all {radii} radii, from {low:.2f} at "
               "ρ = {rho_low:g} to {high:.2f} at ρ = {rho_high:g}.",
         "pt": "O fator por passo na inicialização cresce com ρ nos {radii} raios, de {low:.2f} com ρ = {rho_low:g} "
               "a {high:.2f} com ρ = {rho_high:g}."},
        evaluate, requires=tuple(run_name(rho) for rho in radii))


def envelope_claim(radii: list[float]) -> Claim:
    """Every member's profile stays under (σ_max(W_rec) · max tanh′)^k = σ_max^k at every lag."""
    def evaluate(results: Results):
        closest, profiles = 0.0, 0
        for rho in radii:
            by_lag = results.array(run_name(rho), key(INIT, BY_LAG)).astype(np.float64)
            sigma = results.array(run_name(rho), key(INIT, TOP_SINGULAR_VALUE)).astype(np.float64)
            lags = np.arange(1, by_lag.shape[1])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ratio = by_lag[:, 1:] / by_lag[:, :1] / sigma[:, None] ** lags
            if not np.isfinite(ratio).all():
                return False, {"closest": float("nan"), "profiles": profiles, "radii": len(radii)}
            closest = max(closest, float(ratio.max()))
            profiles += by_lag.shape[0]
        return closest <= 1 + _ROUNDING, {"closest": closest, "profiles": profiles, "radii": len(radii)}

    return Claim(
        "profile-under-envelope",
        {"en": "No gradient profile exceeds its envelope σ_max(W_rec)^k: each step back multiplies the gradient by "
               "at most σ_max(W_rec), since tanh′ ≤ 1.",
         "pt": "Nenhum perfil do gradiente ultrapassa seu envelope σ_max(W_rec)^k: cada passo para trás multiplica o "
               "gradiente por no máximo σ_max(W_rec), já que tanh′ ≤ 1."},
        {"en": "All {profiles} profiles ({radii} radii) stay under their envelope: the largest ratio of "
               "‖∂L/∂h_(T−k)‖ / ‖∂L/∂h_T‖ to σ_max^k over every lag k ≥ 1 is {closest:.3f}.",
         "pt": "Os {profiles} perfis ({radii} raios) ficam abaixo do envelope: a maior razão entre "
               "‖∂L/∂h_(T−k)‖ / ‖∂L/∂h_T‖ e σ_max^k, em todo atraso k ≥ 1, é {closest:.3f}."},
        evaluate, requires=tuple(run_name(rho) for rho in radii))
