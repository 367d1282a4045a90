"""Claims of the Le, Jaitly & Hinton 2015 study: the IRNN gets clearly below the baseline, the tanh RNN stays on it.

Both are decided at T = 150 (the paper's shortest adding length) when the study ran it, else at its longest
length, on the held-out MSE at the end of training against the baseline 1/6 of always answering 1.

"Clearly below": the median over seeds under ``margin`` × 1/6 (the config's, 0.5 by default) with at least 4
of 5 seeds under it. "On the baseline": the median at least :data:`AT_BASELINE` × 1/6 and at most 1 seed in 5
under ``margin`` × 1/6. A constant answer scores 1/6 with a standard error of about 0.012 on 256 held-out
sequences (the squared error of a constant has a standard deviation near 0.2), so 0.8 × 1/6 lies more than
two standard errors below the baseline: a median above it has not found the marked numbers.

At the default budget (1,500 updates) the IRNN claim does not hold; ``--budget paper`` trains long enough.
"""

from __future__ import annotations

import numpy as np

from gradtrace.studies.claims import Claim, Results

__all__ = ["AT_BASELINE", "PAPER_LENGTH", "claims"]

#: The length the claims are decided at when the study ran it: the paper's shortest.
PAPER_LENGTH = 150
#: A median held-out MSE at least this fraction of the baseline is "on the baseline" (see the module's text).
AT_BASELINE = 0.8
#: Of K seeds: "clearly below" needs at least 4 in 5 under the margin, "on the baseline" at most 1 in 5.
MOST, FEW = 0.8, 0.2


def _length(lengths: tuple[int, ...]) -> int:
    return PAPER_LENGTH if PAPER_LENGTH in lengths else max(lengths)


def claims(models: tuple[str, ...], lengths: tuple[int, ...], margin: float) -> list[Claim]:
    """Return the study's claims for the models and lengths it ran (none for a model it did not run)."""
    length = _length(lengths)
    found = []
    if "irnn" in models:
        found.append(_irnn_claim(length, margin))
    if "tanh" in models:
        found.append(_tanh_claim(length, margin))
    return found


def _values(results: Results, run: str, length: int, margin: float) -> dict:
    summary = results.summary(run)
    baseline = summary["baseline_loss"]
    return {"T": length, "mse": summary["task/loss"], "baseline": baseline, "threshold": margin * baseline,
            "margin": margin, "beats": summary["beats_baseline"], "K": summary["seeds"]}


def _irnn_claim(length: int, margin: float) -> Claim:
    run = f"irnn-T{length}"

    def evaluate(results: Results):
        values = _values(results, run, length, margin)
        held = bool(np.isfinite(values["mse"])) and values["mse"] < values["threshold"] \
            and values["beats"] >= MOST * values["K"]
        return held, values

    return Claim(
        "irnn-clearly-below-baseline",
        {"en": f"Started at the identity, a ReLU RNN (IRNN) gets clearly below the baseline on the adding problem at "
               f"T = {length}: median held-out MSE under {margin:g} × 1/6, with at least 4 of 5 seeds under it.",
         "pt": f"Começando na identidade, uma RNN ReLU (IRNN) fica claramente abaixo da referência no problema da soma "
               f"com T = {length}: MSE mediana em dados separados abaixo de {margin:g} × 1/6, com pelo menos 4 de 5 "
               "sementes abaixo disso."},
        {"en": "At T = {T} the IRNN's median held-out MSE is {mse:.3g} against the baseline {baseline:.3f} "
               "(threshold {threshold:.3f}); {beats}/{K} seeds are under the threshold.",
         "pt": "Com T = {T} a MSE mediana da IRNN em dados separados é {mse:.3g} contra a referência {baseline:.3f} "
               "(limiar {threshold:.3f}); {beats}/{K} sementes ficam abaixo do limiar."},
        evaluate, requires=(run,))


def _tanh_claim(length: int, margin: float) -> Claim:
    run = f"tanh-T{length}"

    def evaluate(results: Results):
        values = _values(results, run, length, margin)
        values["band"] = AT_BASELINE * values["baseline"]
        # A diverged median (NaN) is not "on the baseline" either: the claim is about a network that trains.
        held = bool(np.isfinite(values["mse"])) and values["mse"] >= values["band"] \
            and values["beats"] <= FEW * values["K"]
        return held, values

    return Claim(
        "tanh-rnn-stays-at-baseline",
        {"en": f"A tanh RNN with its default start stays on the baseline at T = {length}: median held-out MSE at least "
               f"{AT_BASELINE:g} × 1/6, at most 1 of 5 seeds under {margin:g} × 1/6.",
         "pt": f"Uma RNN tanh com o início padrão fica na referência com T = {length}: MSE mediana em dados separados "
               f"de pelo menos {AT_BASELINE:g} × 1/6, no máximo 1 de 5 sementes abaixo de {margin:g} × 1/6."},
        {"en": "At T = {T} the tanh RNN's median held-out MSE is {mse:.3g} against the baseline {baseline:.3f} (band "
               "from {band:.3f}); {beats}/{K} seeds are under {threshold:.3f}.",
         "pt": "Com T = {T} a MSE mediana da RNN tanh em dados separados é {mse:.3g} contra a referência "
               "{baseline:.3f} (faixa a partir de {band:.3f}); {beats}/{K} sementes ficam abaixo de {threshold:.3f}."},
        evaluate, requires=(run,))
