"""What the gradient-path study asserts: where the error enters, that one backward pass computes every ∂L/∂h_t
exactly, and that ∂L/∂W_rec is a sum over time whose early terms many-to-one barely fills.
"""

from __future__ import annotations

import numpy as np

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.gradient_path.config import (
    EQUATIONS_VS_AUTOGRAD,
    FINITE_DIFFERENCES_VS_AUTOGRAD,
    MANY_TO_MANY,
    MANY_TO_ONE,
    PROBES_VS_AUTOGRAD,
    PROFILE,
    READOUTS,
    SUM_VS_AUTOGRAD,
    TRACE_VS_AUTOGRAD,
    W_REC_TERMS,
    GradientPathConfig,
)

__all__ = ["EXACT", "FINITE_DIFFERENCES", "KEPT", "build_claims", "early_share_claim", "every_step_claim",
           "last_step_claim", "one_pass_claim", "sum_over_time_claim"]

#: Two float64 computations of the same derivative agree to this relative difference (rounding, ~1e-16 per op).
EXACT = 1e-12
#: Central differences with step s agree with the derivative to about s² + 1e-16/s: 1e-6 leaves a wide margin.
FINITE_DIFFERENCES = 1e-6
#: Many-to-many keeps the gradient at every step within this factor of its peak.
KEPT = 0.1
# The first half's share of W_rec's per-step terms: at most this in many-to-one, at least the other in
# many-to-many (where each step's own error would give about half).
_SMALL_SHARE, _FAIR_SHARE = 1e-3, 0.25


def build_claims(config: GradientPathConfig) -> list[Claim]:
    """Return the study's claims for sequences of ``config.length`` steps."""
    return [last_step_claim(config.length), every_step_claim(config.length), one_pass_claim(config.length),
            sum_over_time_claim(), early_share_claim(config.length)]


def _profile(results: Results, name: str) -> np.ndarray:
    return results.array(name, PROFILE).astype(np.float64)  # (K, T)


def last_step_claim(length: int) -> Claim:
    """Many-to-one: ‖∂L/∂h_t‖ is largest at t = T and smaller at every step back, in every member."""
    def evaluate(results: Results):
        profile = _profile(results, MANY_TO_ONE)
        falling = (np.diff(profile, axis=1) > 0).all(axis=1)  # rising with t: falling going back
        n = int(falling.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            first = profile[:, 0] / profile[:, -1]
        return n == profile.shape[0] > 0, {"n": n, "K": int(profile.shape[0]), "T": length,
                                           "first_max": float(np.nanmax(first)), "first": float(np.nanmedian(first))}

    return Claim(
        "error-enters-at-the-last-step",
        {"en": "Many-to-one: the error enters at the last step only and reaches earlier steps by travelling back "
               "through W_rec, so ‖∂L/∂h_t‖ is largest at t = T and smaller at every step back.",
         "pt": "Muitos-para-um: o erro entra só no último passo e chega aos anteriores voltando através de W_rec; "
               "por isso ‖∂L/∂h_t‖ é máximo em t = T e menor a cada passo para trás."},
        {"en": "Many-to-one: in {n} of {K} members ‖∂L/∂h_t‖ is largest at t = T = {T} and smaller at every step "
               "back; at t = 1 it is {first:.1e} of its value at T (median; at most {first_max:.1e}).",
         "pt": "Muitos-para-um: em {n} de {K} membros ‖∂L/∂h_t‖ é máximo em t = T = {T} e menor a cada passo para "
               "trás; em t = 1 vale {first:.1e} do seu valor em T (mediana; no máximo {first_max:.1e})."},
        evaluate, requires=(MANY_TO_ONE,))


def every_step_claim(length: int) -> Claim:
    """Many-to-many: ‖∂L/∂h_t‖ stays within a factor 10 of its peak at every step, in every member."""
    def evaluate(results: Results):
        profile = _profile(results, MANY_TO_MANY)
        single = _profile(results, MANY_TO_ONE)
        kept = profile.min(axis=1) / profile.max(axis=1)
        n = int((kept >= KEPT).sum())
        return n == profile.shape[0] > 0, {
            "n": n, "K": int(profile.shape[0]), "T": length, "kept_min": float(kept.min()),
            "first": float(np.median(profile[:, 0] / profile.max(axis=1))),
            "first_single": float(np.median(single[:, 0] / single.max(axis=1)))}

    return Claim(
        "every-step-receives-its-error",
        {"en": "Many-to-many: each h_t also receives its own step's error, so the gradient reaches every step of the "
               "sequence, the first as well as the last.",
         "pt": "Muitos-para-muitos: cada h_t recebe também o erro do seu próprio passo, e o gradiente chega a todos "
               "os passos da sequência, ao primeiro como ao último."},
        {"en": "Many-to-many: in {n} of {K} members ‖∂L/∂h_t‖ stays above a tenth of its peak at all T = {T} steps "
               "(at least {kept_min:.2f} of it); at t = 1 it is {first:.2f} of its peak (median), against "
               "{first_single:.1e} in many-to-one.",
         "pt": "Muitos-para-muitos: em {n} de {K} membros ‖∂L/∂h_t‖ fica acima de um décimo do seu pico em todos os "
               "T = {T} passos (no mínimo {kept_min:.2f} dele); em t = 1 vale {first:.2f} do pico (mediana), contra "
               "{first_single:.1e} no muitos-para-um."},
        evaluate, requires=(MANY_TO_ONE, MANY_TO_MANY))


def one_pass_claim(length: int) -> Claim:
    """One backward pass gives ∂L/∂h_t at every step, equal to one autograd call per step to float64 rounding."""
    def evaluate(results: Results):
        worst = {key: max(float(np.max(results.array(name, key))) for name in READOUTS)
                 for key in (PROBES_VS_AUTOGRAD, EQUATIONS_VS_AUTOGRAD, TRACE_VS_AUTOGRAD)}
        held = all(value <= EXACT for value in worst.values())
        return held, {"T": length, "probes": worst[PROBES_VS_AUTOGRAD], "equations": worst[EQUATIONS_VS_AUTOGRAD],
                      "trace": worst[TRACE_VS_AUTOGRAD]}

    return Claim(
        "one-backward-pass",
        {"en": "One backward pass through time gives ∂L/∂h_t at every step: the same numbers as taking the "
               "derivative step by step, to float64 rounding.",
         "pt": "Uma única passagem para trás no tempo dá ∂L/∂h_t em todos os passos: os mesmos números que derivar "
               "passo a passo, até o arredondamento do float64."},
        {"en": "One backward pass equals T = {T} separate autograd derivatives, one per step, in both runs and every "
               "member: gradtrace's probes to a relative difference of at most {probes:.1e}, the course's recursion "
               "δ_t = W_outᵀ ∂L/∂ŷ_t + W_recᵀ(tanh′_(t+1) ⊙ δ_(t+1)) written out to {equations:.1e}, and the "
               "trace's ‖∂L/∂h_t‖ to {trace:.1e}.",
         "pt": "Uma única passagem para trás é igual a T = {T} derivadas separadas do autograd, uma por passo, nas "
               "duas execuções e em todos os membros: as sondas do gradtrace com diferença relativa de no máximo "
               "{probes:.1e}, a recursão do curso δ_t = W_outᵀ ∂L/∂ŷ_t + W_recᵀ(tanh′_(t+1) ⊙ δ_(t+1)) escrita "
               "passo a passo com {equations:.1e}, e o ‖∂L/∂h_t‖ do traço com {trace:.1e}."},
        evaluate, requires=tuple(READOUTS))


def sum_over_time_claim() -> Claim:
    """∂L/∂W_rec is the sum over steps of (tanh′_t ⊙ δ_t) h_{t−1}ᵀ, and matches finite differences."""
    def evaluate(results: Results):
        summed = max(float(np.max(results.array(name, SUM_VS_AUTOGRAD))) for name in READOUTS)
        differences = max(float(np.max(results.array(name, FINITE_DIFFERENCES_VS_AUTOGRAD))) for name in READOUTS)
        return summed <= EXACT and differences <= FINITE_DIFFERENCES, {"summed": summed, "differences": differences}

    return Claim(
        "w-rec-gradient-sums-over-time",
        {"en": "The gradient of W_rec is the sum over time steps of each step's contribution "
               "(tanh′_t ⊙ δ_t) h_(t−1)ᵀ: W_rec is shared by every step.",
         "pt": "O gradiente de W_rec é a soma, sobre os passos de tempo, da contribuição de cada passo "
               "(tanh′_t ⊙ δ_t) h_(t−1)ᵀ: W_rec é compartilhada por todos os passos."},
        {"en": "Summing the per-step terms (tanh′_t ⊙ δ_t) h_(t−1)ᵀ gives autograd's ∂L/∂W_rec to a relative "
               "difference of at most {summed:.1e}; central finite differences on every entry of W_rec agree with "
               "it to {differences:.1e}.",
         "pt": "Somar os termos de cada passo (tanh′_t ⊙ δ_t) h_(t−1)ᵀ dá o ∂L/∂W_rec do autograd com diferença "
               "relativa de no máximo {summed:.1e}; diferenças finitas centrais em cada entrada de W_rec concordam "
               "com ele até {differences:.1e}."},
        evaluate, requires=tuple(READOUTS))


def early_share_claim(length: int) -> Claim:
    """The first half of the sequence fills at most 0.1 % of W_rec's per-step terms in many-to-one, at least a
    quarter in many-to-many."""
    half = length // 2

    def share(results: Results, name: str) -> np.ndarray:
        terms = results.array(name, W_REC_TERMS).astype(np.float64)  # (K, T)
        return terms[:, :half].sum(axis=1) / terms.sum(axis=1)

    def evaluate(results: Results):
        single, many = share(results, MANY_TO_ONE), share(results, MANY_TO_MANY)
        held = bool((single <= _SMALL_SHARE).all() and (many >= _FAIR_SHARE).all())
        return held, {"half": half, "T": length, "single_max": float(single.max()), "many_min": float(many.min()),
                      "many": float(np.median(many))}

    return Claim(
        "early-steps-share",
        {"en": "In many-to-one the early steps add almost nothing to W_rec's gradient; in many-to-many they add "
               "their share.",
         "pt": "No muitos-para-um os primeiros passos quase nada somam ao gradiente de W_rec; no muitos-para-muitos "
               "somam a sua parte."},
        {"en": "The first {half} of the T = {T} steps carry at most {single_max:.1e} of the summed norms of W_rec's "
               "per-step terms in many-to-one (under 10⁻³ in every member), and at least {many_min:.2f} (median "
               "{many:.2f}) in many-to-many.",
         "pt": "Os primeiros {half} dos T = {T} passos levam no máximo {single_max:.1e} da soma das normas dos termos "
               "de W_rec por passo no muitos-para-um (menos de 10⁻³ em todos os membros), e no mínimo "
               "{many_min:.2f} (mediana {many:.2f}) no muitos-para-muitos."},
        evaluate, requires=(MANY_TO_ONE, MANY_TO_MANY))
