"""The exploding study's claims: plain SGD diverges from a large W_rec; which cures let the same start train.

Two verdicts are read from each run. A run **diverges** when most of its members (at least 4 in 5) either end
with a loss or gradient that turned NaN or infinite or blow up short of that (a held-out loss more than
``BLOWN_UP`` times the baseline), and no member ends below the baseline. Whether an exploding member overflows
or stops at a finite 10⁵-fold loss is a matter of rounding: the compiled and the Python loops, equal to
rounding, split the same L2 run 3 + 2 and 5 + 0 between the two. A run
**trains** when at most 1 member in 5 diverges and the median held-out loss, a diverged member
counting as infinite, is at most a quarter of the baseline: a run that only survives does not train.
The held-out loss is the MSE over every window of the series' test part; the baseline is the
persistence forecast's MSE there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.exploding.config import (
    BASELINE,
    BELOW_BASELINE,
    CLIP_NORM,
    CLIP_VALUE,
    DIVERGED,
    FIRST_DIVERGENCE,
    L2,
    L2_CLIP,
    MAX_GRAD_NORM,
    OMEGA,
    OMEGA_CLIP,
    PLAIN,
    SEEDS,
    TBPTT_LONG,
    TBPTT_SHORT,
    TEST_LOSS,
    ExplodingConfig,
)

__all__ = ["BLOWN_UP", "FEW", "MOST", "TRAINED", "build", "diverges", "trains"]

#: "Most members diverge": at least this fraction of them (4 in 5).
MOST = 0.8
#: "Few diverge": at most this fraction (1 in 5).
FEW = 0.2
#: A run trains when its median held-out loss is at most this fraction of the baseline.
TRAINED = 0.25
#: A finite member "blows up" when its held-out loss ends above this multiple of the baseline.
BLOWN_UP = 100.0


def diverges(results: Results, run: str) -> tuple[bool, dict[str, Any]]:
    """Whether ``run`` diverges (most members non-finite or blown up, none below the baseline), and its numbers."""
    summary = results.summary(run)
    members, diverged, below = summary[SEEDS], summary[DIVERGED], summary[BELOW_BASELINE]
    first = summary[FIRST_DIVERGENCE]
    loss = np.asarray(results.array(run, TEST_LOSS), dtype=float)
    blown = int(np.sum(np.isfinite(loss) & (loss > BLOWN_UP * summary[BASELINE])))
    return diverged + blown >= MOST * members and below == 0, {
        "K": members, "n_div": diverged, "n_blown": blown, "n_below": below, "step": first if first >= 0 else None,
        "norm": summary[MAX_GRAD_NORM]}


def trains(results: Results, run: str) -> tuple[bool, dict[str, Any]]:
    """Return whether ``run`` trains (few diverge, median held-out loss ≤ ``TRAINED`` × baseline) and its numbers."""
    summary = results.summary(run)
    members, diverged, baseline = summary[SEEDS], summary[DIVERGED], summary[BASELINE]
    loss = float(np.median(results.array(run, TEST_LOSS)))  # a diverged member is +inf
    return diverged <= FEW * members and loss <= TRAINED * baseline, {
        "K": members, "n_div": diverged, "loss": loss, "baseline": baseline, "ratio": loss / baseline}


def build(config: ExplodingConfig) -> list[Claim]:
    """Return the claims that ``config``'s cures can decide, in the order of the course."""
    cures = set(config.cures)
    makers: list[tuple[tuple[str, ...], Callable[[ExplodingConfig], Claim]]] = [
        ((PLAIN,), _plain_diverges),
        ((CLIP_NORM,), _clipping_by_norm_trains),
        ((CLIP_VALUE,), _clipping_by_value_trains),
        ((TBPTT_SHORT, TBPTT_LONG), _short_truncation_trains),
        ((OMEGA, OMEGA_CLIP), _omega_needs_clipping),
        ((L2, L2_CLIP), _l2_needs_clipping),
    ]
    return [make(config) for needed, make in makers if cures.issuperset(needed)]


def _plain_diverges(config: ExplodingConfig) -> Claim:
    def evaluate(results: Results):
        held, values = diverges(results, PLAIN)
        return held, {**values, "rho": config.spectral_radius, "blown_up": BLOWN_UP}

    return Claim(
        "plain-sgd-diverges",
        {"en": "Started with ρ(W_rec) > 1, plain SGD diverges: the loss of most members (at least 4 in 5) turns NaN "
               "or infinite or blows up, and no member ends below the persistence baseline.",
         "pt": "Partindo de ρ(W_rec) > 1, o SGD simples diverge: a perda da maioria dos membros (pelo menos 4 em 5) "
               "vira NaN ou infinita ou explode, e nenhum membro termina abaixo da referência de persistência."},
        {"en": "At ρ = {rho:g} without a cure, {n_div}/{K} members diverge, the first at step {step}, the gradient's "
               "norm having reached {norm:.1e}, and {n_blown}/{K} finish above {blown_up:g} × the baseline without "
               "overflowing; {n_below}/{K} end below the baseline.",
         "pt": "Com ρ = {rho:g} e sem cura, {n_div}/{K} membros divergem, o primeiro no passo {step}, depois de a "
               "norma do gradiente chegar a {norm:.1e}, e {n_blown}/{K} terminam acima de {blown_up:g} × a "
               "referência sem estourar; {n_below}/{K} terminam abaixo da referência."},
        evaluate, requires=(PLAIN,))


_TRAINS_STATEMENT = {
    "en": "{cure}, the same start trains: at most 1 member in 5 diverges and the median held-out loss is at most a "
          "quarter of the persistence baseline.",
    "pt": "{cure}, o mesmo ponto de partida treina: no máximo 1 membro em 5 diverge e a perda mediana em dados "
          "separados fica em no máximo um quarto da referência de persistência.",
}
_TRAINS_SENTENCE = {
    "en": "{how}: {{n_div}}/{{K}} members diverge; the median held-out loss is {{loss:.4f}}, {{ratio:.0%}} of the "
          "baseline {{baseline:.4f}}.",
    "pt": "{how}: {{n_div}}/{{K}} membros divergem; a perda mediana em dados separados é {{loss:.4f}}, {{ratio:.0%}} "
          "da referência {{baseline:.4f}}.",
}


def _trains_claim(name: str, run: str, cure: Mapping[str, str], how: Mapping[str, str],
                  extra: Mapping[str, Any]) -> Claim:
    def evaluate(results: Results):
        held, values = trains(results, run)
        return held, {**values, **extra}

    return Claim(
        name,
        {lang: _TRAINS_STATEMENT[lang].format(cure=cure[lang]) for lang in ("en", "pt")},
        {lang: _TRAINS_SENTENCE[lang].format(how=how[lang]) for lang in ("en", "pt")},
        evaluate, requires=(run,))


def _clipping_by_norm_trains(config: ExplodingConfig) -> Claim:
    return _trains_claim(
        "clipping-by-norm-trains", CLIP_NORM,
        {"en": "With the gradient clipped by its norm", "pt": "Com a poda do gradiente pela norma"},
        {"en": "Clipped by norm at {threshold:g}", "pt": "Com poda pela norma em {threshold:g}"},
        {"threshold": config.max_norm})


def _clipping_by_value_trains(config: ExplodingConfig) -> Claim:
    return _trains_claim(
        "clipping-by-value-trains", CLIP_VALUE,
        {"en": "With each component of the gradient clipped", "pt": "Com a poda de cada componente do gradiente"},
        {"en": "Clipped by value at ±{threshold:g}", "pt": "Com poda por valor em ±{threshold:g}"},
        {"threshold": config.max_value})


def _short_truncation_trains(config: ExplodingConfig) -> Claim:
    def evaluate(results: Results):
        short, values = trains(results, TBPTT_SHORT)
        _, long_values = diverges(results, TBPTT_LONG)
        long_diverges = long_values["n_div"] + long_values["n_blown"] >= MOST * long_values["K"]
        return short and long_diverges, {**values, "k_short": config.short_truncation,
                                         "k_long": config.long_truncation, "n_div_long": long_values["n_div"],
                                         "n_blown_long": long_values["n_blown"], "blown_up": BLOWN_UP}

    return Claim(
        "short-truncation-trains",
        {"en": "Truncated back-propagation caps the explosion when its window is short: back-propagating a few "
               "steps, the same start trains (at most 1 member in 5 diverges, median held-out loss at most a quarter "
               "of the baseline); with a longer window most members (at least 4 in 5) diverge or blow up again.",
         "pt": "A retropropagação truncada contém a explosão quando a janela é curta: retropropagando poucos passos, o "
               "mesmo ponto de partida treina (no máximo 1 membro em 5 diverge, perda mediana em dados separados em "
               "no máximo um quarto da referência); com uma janela mais longa a maioria dos membros (pelo menos 4 em "
               "5) volta a divergir ou explodir."},
        {"en": "TBPTT with k = {k_short}: {n_div}/{K} members diverge and the median held-out loss is {loss:.4f}, "
               "{ratio:.0%} of the baseline {baseline:.4f}; with k = {k_long}: {n_div_long}/{K} diverge and "
               "{n_blown_long}/{K} finish above {blown_up:g} × the baseline without overflowing.",
         "pt": "BPTT truncada com k = {k_short}: {n_div}/{K} membros divergem e a perda mediana em dados separados é "
               "{loss:.4f}, {ratio:.0%} da referência {baseline:.4f}; com k = {k_long}: {n_div_long}/{K} divergem e "
               "{n_blown_long}/{K} terminam acima de {blown_up:g} × a referência sem estourar."},
        evaluate, requires=(TBPTT_SHORT, TBPTT_LONG))


def _needs_clipping_claim(name: str, alone: str, clipped: str, statement: Mapping[str, str],
                          penalty: Mapping[str, str], extra: Mapping[str, Any]) -> Claim:
    def evaluate(results: Results):
        alone_diverges, alone_values = diverges(results, alone)
        clipped_trains, values = trains(results, clipped)
        return alone_diverges and clipped_trains, {
            **values, **extra, "n_div_alone": alone_values["n_div"], "n_blown_alone": alone_values["n_blown"],
            "n_below_alone": alone_values["n_below"], "blown_up": BLOWN_UP}

    return Claim(
        name, statement,
        {"en": penalty["en"] + ": {n_div_alone}/{K} members diverge and {n_blown_alone}/{K} finish above "
               "{blown_up:g} × the baseline without overflowing; {n_below_alone}/{K} end below the baseline; "
               "followed by clipping by norm: {n_div}/{K} diverge, median held-out loss {loss:.4f}, {ratio:.0%} of "
               "the baseline {baseline:.4f}.",
         "pt": penalty["pt"] + ": {n_div_alone}/{K} membros divergem e {n_blown_alone}/{K} terminam acima de "
               "{blown_up:g} × a referência sem estourar; {n_below_alone}/{K} terminam abaixo da referência; "
               "seguida da poda pela norma: {n_div}/{K} divergem, perda mediana em dados separados "
               "{loss:.4f}, {ratio:.0%} da referência {baseline:.4f}."},
        evaluate, requires=(alone, clipped))


def _omega_needs_clipping(config: ExplodingConfig) -> Claim:
    return _needs_clipping_claim(
        "omega-needs-clipping", OMEGA, OMEGA_CLIP,
        {"en": "Pascanu's Ω alone does not stop the divergence: most members (at least 4 in 5) still diverge or blow "
               "up, and none ends below the baseline. Ω followed by clipping by norm, as Pascanu et al. trained, "
               "trains.",
         "pt": "O Ω de Pascanu sozinho não impede a divergência: a maioria dos membros (pelo menos 4 em 5) ainda "
               "diverge ou explode, e nenhum termina abaixo da referência. O Ω seguido da poda pela norma, como "
               "Pascanu et al. treinaram, treina."},
        {"en": "Ω alone (α = {alpha:g})", "pt": "Com a penalidade Ω sozinha (α = {alpha:g})"},
        {"alpha": config.omega_weight})


def _l2_needs_clipping(config: ExplodingConfig) -> Claim:
    return _needs_clipping_claim(
        "l2-needs-clipping", L2, L2_CLIP,
        {"en": "An L2 penalty on the weights alone does not stop the divergence: it shrinks W_rec a little each step, "
               "and most members (at least 4 in 5) still diverge or blow up, none ending below the baseline. L2 "
               "followed by clipping by norm trains.",
         "pt": "Uma penalidade L2 nos pesos, sozinha, não impede a divergência: ela encolhe W_rec um pouco a cada "
               "passo, e a maioria dos membros (pelo menos 4 em 5) ainda diverge ou explode, nenhum terminando "
               "abaixo da referência. A L2 seguida da poda pela norma treina."},
        {"en": "L2 alone (coefficient {l2:g})", "pt": "Com a penalidade L2 sozinha (coeficiente {l2:g})"},
        {"l2": config.l2})
