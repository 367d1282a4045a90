"""The vanishing study's claims: the tanh RNN fails, each cure solves where it fails, and why (the gradient).

"Solves" is at least 4 of 5 seeds, "fails" at most 1 of 5, each seed judged on held-out sequences.
"""

from __future__ import annotations

import math

from gradtrace.instruments import HORIZON_THRESHOLD
from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.vanishing.config import (
    BASELINE,
    BASELINE_LOSS,
    CURES,
    INIT_FIRST_RATIO,
    INIT_HORIZON_MAX,
    INIT_HORIZON_MIN,
    LENGTH,
    LOSS,
    SEEDS,
    SUCCESSES,
    TRAINED_CURES,
    VanishingConfig,
)

__all__ = ["FAILS", "SOLVES", "claims", "power_of_ten"]

#: Of K seeds, a model "solves" the task when at least this fraction succeed, and "fails" it at most FAILS.
SOLVES, FAILS = 0.8, 0.2

# Each cure as the subject of a sentence.
_SUBJECT = {
    "irnn": {"en": "The IRNN (ReLU units, W_rec = I)", "pt": "A IRNN (unidades ReLU, W_rec = I)"},
    "orthogonal": {"en": "The tanh RNN started with an orthogonal W_rec",
                   "pt": "A RNN tanh iniciada com W_rec ortogonal"},
    "esn": {"en": "The echo state network", "pt": "A rede de estado de eco"},
    "lstm": {"en": "The LSTM", "pt": "A LSTM"},
    "gru": {"en": "The GRU", "pt": "A GRU"},
}


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value: float) -> str:
    """Return a power of ten as it is written in prose: ``power_of_ten(1e-6)`` is "10⁻⁶".

    Raises:
        ValueError: if ``value`` is not a positive power of ten.
    """
    exponent = round(math.log10(value)) if value > 0 else None
    if exponent is None or not math.isclose(value, 10.0 ** exponent, rel_tol=1e-9):
        raise ValueError(f"`value` must be a positive power of ten, got {value!r}.")
    return "10" + str(exponent).translate(_SUPERSCRIPTS)

# Each cure in a list of numbers.
_SHORT = {"irnn": {"en": "IRNN", "pt": "IRNN"}, "orthogonal": {"en": "orthogonal W_rec", "pt": "W_rec ortogonal"},
          "esn": {"en": "ESN", "pt": "ESN"}, "lstm": {"en": "LSTM", "pt": "LSTM"}, "gru": {"en": "GRU", "pt": "GRU"}}


def claims(config: VanishingConfig) -> list[Claim]:
    """Return the claims ``config``'s runs can decide: those that compare with the tanh RNN need its run.

    Args:
        config: the study's config (which models ran).
    """
    if BASELINE not in config.models:
        return []
    cures = [cure for cure in CURES if cure in config.models]
    made = [_tanh_fails(), *(_cure_solves(cure) for cure in cures)]
    trained = [cure for cure in TRAINED_CURES if cure in config.models]
    if trained:
        made.append(_gradient_reaches_back(trained))
    return made


def _fails(summary) -> bool:
    return summary[SUCCESSES] <= FAILS * summary[SEEDS]


def _solves(summary) -> bool:
    return summary[SUCCESSES] >= SOLVES * summary[SEEDS]


def _tanh_fails() -> Claim:
    def evaluate(results: Results):
        summary = results.summary(BASELINE)
        return _fails(summary), {"T": summary[LENGTH], "n": summary[SUCCESSES], "K": summary[SEEDS],
                                 "loss": summary[LOSS], "baseline": summary[BASELINE_LOSS]}

    return Claim(
        "tanh-fails",
        {"en": "The tanh RNN with the default start fails the latch task at this length: at most 1 of 5 seeds solve "
               "it.",
         "pt": "A RNN tanh com a inicialização padrão falha na tarefa do trinco neste comprimento: no máximo 1 de 5 "
               "sementes a resolvem."},
        {"en": "At T = {T} the tanh RNN solves {n}/{K} seeds (median held-out loss {loss:.3f}; always answering 0 "
               "scores {baseline:.2f}).",
         "pt": "Com T = {T} a RNN tanh resolve {n}/{K} sementes (perda mediana em dados separados {loss:.3f}; "
               "responder sempre 0 dá {baseline:.2f})."},
        evaluate, requires=(BASELINE,))


def _cure_solves(cure: str) -> Claim:
    def evaluate(results: Results):
        summary, plain = results.summary(cure), results.summary(BASELINE)
        held = _fails(plain) and _solves(summary)
        return held, {"T": summary[LENGTH], "n": summary[SUCCESSES], "K": summary[SEEDS],
                      "n_tanh": plain[SUCCESSES], "K_tanh": plain[SEEDS], "loss": summary[LOSS]}

    who = _SUBJECT[cure]
    lower = {lang: words[0].lower() + words[1:] for lang, words in who.items()}
    return Claim(
        f"{cure}-solves-where-tanh-fails",
        {"en": f"{who['en']} solves the latch task (at least 4 of 5 seeds) at a length where the tanh RNN fails "
               "(at most 1 of 5).",
         "pt": f"{who['pt']} resolve a tarefa do trinco (pelo menos 4 de 5 sementes) num comprimento em que a RNN "
               "tanh falha (no máximo 1 de 5)."},
        {"en": f"At T = {{T}} {lower['en']} solves {{n}}/{{K}} seeds (median held-out loss {{loss:.1e}}); the tanh "
               "RNN {n_tanh}/{K_tanh}.",
         "pt": f"Com T = {{T}} {lower['pt']} resolve {{n}}/{{K}} sementes (perda mediana em dados separados "
               "{loss:.1e}); a RNN tanh, {n_tanh}/{K_tanh}."},
        evaluate, requires=(cure, BASELINE))


def _gradient_reaches_back(cures: list[str]) -> Claim:
    def evaluate(results: Results):
        plain = results.summary(BASELINE)
        length = plain[LENGTH]
        summaries = {cure: results.summary(cure) for cure in cures}
        # The horizon counts the steps back before ‖∂L/∂h_t‖ falls HORIZON_THRESHOLD below its peak; T means it
        # never does. Every seed: the tanh RNN's falls short of the first step, every cure's reaches it.
        held = (plain[INIT_HORIZON_MAX] < length
                and all(s[INIT_HORIZON_MIN] >= s[LENGTH] for s in summaries.values()))
        low, high = plain[INIT_HORIZON_MIN], plain[INIT_HORIZON_MAX]
        values = {"T": length, "low": low, "high": high, "steps": f"{low}" if low == high else f"{low}–{high}",
                  "threshold": power_of_ten(HORIZON_THRESHOLD)}
        values.update({cure: summaries[cure][INIT_FIRST_RATIO] for cure in cures})
        return held, values

    def listed(lang: str) -> str:
        return "; ".join(f"{_SHORT[cure][lang]} {{{cure}:.0e}}" for cure in cures)

    return Claim(
        "gradient-vanishes-without-a-cure",
        {"en": "At initialization the tanh RNN's gradient ‖∂L/∂h_t‖ falls more than six orders of magnitude before "
               "it reaches the first step, in every seed; with each trained cure it stays within six orders of "
               "magnitude of its peak all the way back, in every seed.",
         "pt": "Na inicialização o gradiente ‖∂L/∂h_t‖ da RNN tanh cai mais de seis ordens de grandeza antes de "
               "chegar ao primeiro passo, em todas as sementes; com cada cura treinada ele fica a menos de seis "
               "ordens de grandeza do seu pico por todo o caminho de volta, em todas as sementes."},
        {"en": "At initialization, with T = {T}, the tanh RNN's ‖∂L/∂h_t‖ falls below {threshold} of its peak "
               "within {steps} steps back from the last; ‖∂L/∂h_1‖ over the peak, in the worst seed: "
               + listed("en") + ".",
         "pt": "Na inicialização, com T = {T}, ‖∂L/∂h_t‖ da RNN tanh cai abaixo de {threshold} do seu pico "
               "em {steps} passos antes do último; ‖∂L/∂h_1‖ sobre o pico, na pior semente: "
               + listed("pt") + "."},
        evaluate, requires=(BASELINE, *cures))
