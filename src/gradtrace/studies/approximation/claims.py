"""What the approximation study asserts: each point of the course, decided from its runs' numbers.

The theorem says enough hidden units can approximate a function; the claims say what gradient descent found:
the 2-2-1 network learns XOR in most seeds and stalls on a plateau in some; 4 hidden units close a boundary
around the inner circle where 2 cannot; two layers trace two spirals; one hidden layer fits x² and sin x; and
1/x on [1, 100] is fitted once the network is fed ln x and trained on points even in ln x, where x on a linear
scale fails with the same units, steps and learning rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradtrace.studies.approximation import config as keys
from gradtrace.studies.approximation.config import (
    CIRCLES,
    CIRCLES_FEW,
    RECIPROCAL_LINEAR,
    RECIPROCAL_LOG,
    SIN,
    SPIRAL,
    SQUARE,
    XOR_SIGMOID,
    XOR_TANH,
    ApproximationConfig,
)
from gradtrace.studies.claims import Claim, Results
from gradtrace.tasks import Circles

__all__ = ["approximation_claims"]

# Share of seeds that must succeed for "the network learns it" (at least 9 in 10), and the most that may
# succeed in the setup shown to fail (at most 1 in 10).
_MOST, _FEW = 0.9, 0.1
# XOR: at least 7 in 10 seeds of the 2-2-1 network fit it, and at least 1 in 20 stalls.
_XOR_MOST, _XOR_SOME = 0.7, 0.05
# Held-out accuracy that no seed with too few hidden units reaches on the circles.
_FEW_UNITS_CEILING = 0.9
# A seed solves a 2-D task when this share of its held-out points is right, as the tasks define it.
_ACCURACY = Circles.success_accuracy


def _decimal(value: float, lang: str) -> str:
    """Return ``value`` in its shortest form, with a decimal comma in Portuguese (for statements)."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "pt" else text


def approximation_claims(config: ApproximationConfig) -> list[Claim]:
    """Return the claims whose runs ``config`` plans, in the order of the course.

    Args:
        config: the study's config; a claim whose runs it leaves out is not made.
    """
    builders: list[tuple[tuple[str, ...], Callable[[ApproximationConfig], Claim]]] = [
        ((XOR_SIGMOID, XOR_TANH), _xor_learned),
        ((XOR_SIGMOID, XOR_TANH), _xor_stalls),
        ((CIRCLES, CIRCLES_FEW), _circles),
        ((SPIRAL,), _spiral),
        ((SQUARE, SIN), _one_layer),
        ((RECIPROCAL_LOG, RECIPROCAL_LINEAR), _reciprocal),
    ]
    return [build(config) for runs, build in builders if all(run in config.problems for run in runs)]


def _xor_counts(results: Results) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for run, activation in ((XOR_SIGMOID, "sigmoid"), (XOR_TANH, "tanh")):
        summary = results.summary(run)
        values |= {f"n_{activation}": summary[keys.SUCCESSES], f"k_{activation}": summary[keys.SEEDS],
                   f"stalled_{activation}": summary[keys.STALLED],
                   f"low_{activation}": summary[keys.SUCCESS_LOW], f"high_{activation}": summary[keys.SUCCESS_HIGH]}
    return values


def _xor_learned(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        values = _xor_counts(results)
        held = all(values[f"n_{a}"] >= _XOR_MOST * values[f"k_{a}"] for a in ("sigmoid", "tanh"))
        return held, {**values, "margin": config.xor_margin}

    margin = {lang: _decimal(config.xor_margin, lang) for lang in ("en", "pt")}
    return Claim(
        "xor-learned",
        {"en": f"The 2-2-1 network learns XOR in most seeds: with sigmoid units and with tanh units, at least "
               f"{_XOR_MOST:.0%} of the seeds fit all four points, every output within {margin['en']} of its label.",
         "pt": f"A rede 2-2-1 aprende o XOR na maioria das sementes: com unidades sigmoide e com unidades tanh, ao "
               f"menos {_XOR_MOST:.0%} das sementes ajustam os quatro pontos, cada saída a menos de {margin['pt']} do "
               f"seu rótulo."},
        {"en": "The 2-2-1 network fits XOR, every output within {margin:g} of its label, in {n_sigmoid} of "
               "{k_sigmoid} seeds with sigmoid units (95% interval {low_sigmoid:.0%}–{high_sigmoid:.0%}) and in "
               "{n_tanh} of {k_tanh} with tanh units ({low_tanh:.0%}–{high_tanh:.0%}).",
         "pt": "A rede 2-2-1 ajusta o XOR, cada saída a menos de {margin:g} do rótulo, em {n_sigmoid} de {k_sigmoid} "
               "sementes com unidades sigmoide (intervalo de 95% {low_sigmoid:.0%}–{high_sigmoid:.0%}) e em {n_tanh} "
               "de {k_tanh} com unidades tanh ({low_tanh:.0%}–{high_tanh:.0%})."},
        evaluate, requires=(XOR_SIGMOID, XOR_TANH))


def _xor_stalls(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        values = _xor_counts(results)
        stalled_losses, fitted_losses = [], []
        for run in (XOR_SIGMOID, XOR_TANH):
            final = results.array(run, keys.EVAL_LOSS)[-1]
            stalled_losses.append(final[results.array(run, keys.XOR_STALLED).astype(bool)])
            fitted_losses.append(final[results.array(run, keys.SUCCESS).astype(bool)])
        stalled, fitted = np.concatenate(stalled_losses), np.concatenate(fitted_losses)
        held = all(values[f"stalled_{a}"] >= _XOR_SOME * values[f"k_{a}"] for a in ("sigmoid", "tanh"))
        return held, {**values, "change": config.stall_change, "window": config.stall_steps,
                      "loss_low": float(stalled.min()) if stalled.size else None,
                      "loss_high": float(stalled.max()) if stalled.size else None,
                      "fitted_loss": float(fitted.max()) if fitted.size else None}

    return Claim(
        "xor-stalls",
        {"en": f"Gradient descent does not always find XOR's weights: at least {_XOR_SOME:.0%} of the 2-2-1 seeds, "
               "with sigmoid and with tanh units, stall on a plateau of the loss (the course's local minimum) and "
               "stay there.",
         "pt": f"O gradiente descendente nem sempre encontra os pesos do XOR: ao menos {_XOR_SOME:.0%} das sementes "
               "da rede 2-2-1, com sigmoide e com tanh, param num platô da perda (o mínimo local do curso) e ficam "
               "nele."},
        {"en": "Of the 2-2-1 network's seeds, {stalled_sigmoid} of {k_sigmoid} with sigmoid units and {stalled_tanh} "
               "of {k_tanh} with tanh units stall on a plateau of XOR's loss, at {loss_low:.3f}–{loss_high:.3f}, "
               "moving by less than {change:g} over the last {window} steps of training (the best constant answer "
               "scores 0.25; the seeds that fit XOR end below {fitted_loss:.1e}).",
         "pt": "Das sementes da rede 2-2-1, {stalled_sigmoid} de {k_sigmoid} com unidades sigmoide e {stalled_tanh} de "
               "{k_tanh} com unidades tanh param num platô da perda do XOR, em {loss_low:.3f}–{loss_high:.3f}, "
               "variando menos de {change:g} nos últimos {window} passos do treino (a melhor resposta constante dá "
               "0,25; as sementes que ajustam o XOR terminam abaixo de {fitted_loss:.1e})."},
        evaluate, requires=(XOR_SIGMOID, XOR_TANH))


def _accuracies(results: Results, run: str) -> dict[str, Any]:
    summary = results.summary(run)
    return {"n": summary[keys.SUCCESSES], "k": summary[keys.SEEDS], "median": summary[keys.ACCURACY],
            "worst": summary[keys.ACCURACY_MIN], "best": summary[keys.ACCURACY_MAX]}


def _circles(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        enough, few = _accuracies(results, CIRCLES), _accuracies(results, CIRCLES_FEW)
        held = enough["n"] >= _MOST * enough["k"] and few["best"] < _FEW_UNITS_CEILING
        return held, {**enough, "median_few": few["median"], "best_few": few["best"], "k_few": few["k"],
                      "units": config.circles_hidden, "few_units": config.circles_few_hidden}

    units, few = config.circles_hidden, config.circles_few_hidden
    return Claim(
        "circles-enough-units",
        {"en": f"{units} hidden units are enough to close a boundary around the inner circle: at least "
               f"{_ACCURACY:.0%} of the held-out points right in at least {_MOST:.0%} of the seeds; with {few} units "
               f"no seed reaches {_FEW_UNITS_CEILING:.0%}.",
         "pt": f"{units} unidades ocultas bastam para fechar uma fronteira em volta do círculo interno: ao menos "
               f"{_ACCURACY:.0%} dos pontos de validação certos em ao menos {_MOST:.0%} das sementes; com {few} "
               f"unidades nenhuma semente chega a {_FEW_UNITS_CEILING:.0%}."},
        {"en": "Two concentric circles: with {units} hidden units {n} of {k} seeds get at least 99% of the held-out "
               "points right (median {median:.1%}, worst seed {worst:.1%}); with {few_units} units the best of "
               "{k_few} seeds gets {best_few:.1%} (median {median_few:.1%}).",
         "pt": "Dois círculos concêntricos: com {units} unidades ocultas {n} de {k} sementes acertam ao menos 99% dos "
               "pontos de validação (mediana {median:.1%}, pior semente {worst:.1%}); com {few_units} unidades a "
               "melhor de {k_few} sementes acerta {best_few:.1%} (mediana {median_few:.1%})."},
        evaluate, requires=(CIRCLES, CIRCLES_FEW))


def _spiral(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        values = _accuracies(results, SPIRAL)
        return values["n"] >= _MOST * values["k"], {**values, "widths": widths}

    widths = "-".join(str(width) for width in config.spiral_hidden)
    return Claim(
        "spiral-learned",
        {"en": f"A network with hidden layers of {widths} tanh units separates two spirals that wind around each "
               f"other: at least {_ACCURACY:.0%} of the held-out points right in at least {_MOST:.0%} of the seeds.",
         "pt": f"Uma rede com camadas ocultas de {widths} unidades tanh separa duas espirais enroladas uma na outra: "
               f"ao menos {_ACCURACY:.0%} dos pontos de validação certos em ao menos {_MOST:.0%} das sementes."},
        {"en": "Two spirals, hidden layers of {widths} tanh units: {n} of {k} seeds get at least 99% of the held-out "
               "points right (median {median:.1%}, worst seed {worst:.1%}).",
         "pt": "Duas espirais, camadas ocultas de {widths} unidades tanh: {n} de {k} sementes acertam ao menos 99% dos "
               "pontos de validação (mediana {median:.1%}, pior semente {worst:.1%})."},
        evaluate, requires=(SPIRAL,))


def _errors(results: Results, run: str, name: str) -> dict[str, Any]:
    summary = results.summary(run)
    return {f"n_{name}": summary[keys.SUCCESSES], f"k_{name}": summary[keys.SEEDS],
            f"max_{name}": summary[keys.MAX_ERROR], f"worst_{name}": summary[keys.WORST_MAX_ERROR],
            f"rmse_{name}": summary[keys.RMSE], f"tol_{name}": summary[keys.TOLERANCE],
            f"at_{name}": summary[keys.WORST_AT]}


def _held_by_most(values: Mapping[str, Any], name: str) -> bool:
    return values[f"n_{name}"] >= _MOST * values[f"k_{name}"]


def _one_layer(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        values = _errors(results, SQUARE, "square") | _errors(results, SIN, "sin")
        return _held_by_most(values, "square") and _held_by_most(values, "sin"), {**values, "units": units}

    units = config.function_hidden
    return Claim(
        "one-layer-fits-functions",
        {"en": f"One hidden layer of {units} tanh units approximates x² on [−1, 1] and sin x on [1, 2π]: its largest "
               f"error on an even grid of the domain is within 5% of the function's range in at least {_MOST:.0%} "
               "of the seeds, for each function.",
         "pt": f"Uma camada oculta de {units} unidades tanh aproxima x² em [−1, 1] e sen x em [1, 2π]: seu maior erro "
               f"numa grade uniforme do domínio fica dentro de 5% da amplitude da função em ao menos {_MOST:.0%} das "
               "sementes, para cada função."},
        {"en": "One hidden layer of {units} tanh units: x² on [−1, 1] is within {tol_square:.3f} (5% of its range) at "
               "every grid point in {n_square} of {k_square} seeds (largest error: median {max_square:.4f}, worst seed "
               "{worst_square:.4f}; RMSE median {rmse_square:.4f}); sin x on [1, 2π] within {tol_sin:.3f} in {n_sin} "
               "of {k_sin} (largest error: median {max_sin:.4f}, worst seed {worst_sin:.4f}; RMSE median "
               "{rmse_sin:.4f}).",
         "pt": "Uma camada oculta de {units} unidades tanh: x² em [−1, 1] fica dentro de {tol_square:.3f} (5% da sua "
               "amplitude) em todos os pontos da grade em {n_square} de {k_square} sementes (maior erro: mediana "
               "{max_square:.4f}, pior semente {worst_square:.4f}; RMSE mediano {rmse_square:.4f}); sen x em [1, 2π] "
               "dentro de {tol_sin:.3f} em {n_sin} de {k_sin} (maior erro: mediana {max_sin:.4f}, pior semente "
               "{worst_sin:.4f}; RMSE mediano {rmse_sin:.4f})."},
        evaluate, requires=(SQUARE, SIN))


def _reciprocal(config: ApproximationConfig) -> Claim:
    def evaluate(results: Results):
        values = _errors(results, RECIPROCAL_LOG, "log") | _errors(results, RECIPROCAL_LINEAR, "linear")
        held = _held_by_most(values, "log") and values["n_linear"] <= _FEW * values["k_linear"]
        return held, {**values, "times": values["max_linear"] / values["tol_linear"], "units": units}

    units = config.function_hidden
    return Claim(
        "reciprocal-needs-log-scale",
        {"en": f"1/x on [1, 100] is fitted once the network works on the scale of ln x. Fed ln x (mapped onto "
               f"[−1, 1]) and trained on points spread evenly in ln x, one hidden layer of {units} tanh units is "
               f"within 5% of the range everywhere in at least {_MOST:.0%} of the seeds; fed x mapped linearly and "
               f"trained on points even in x, with the same units, steps and learning rate, at most {_FEW:.0%} are.",
         "pt": f"1/x em [1, 100] é ajustada quando a rede trabalha na escala de ln x. Recebendo ln x (levado a "
               f"[−1, 1]) e treinada em pontos espalhados uniformemente em ln x, uma camada oculta de {units} unidades "
               f"tanh fica dentro de 5% da amplitude em toda a grade em ao menos {_MOST:.0%} das sementes; recebendo x "
               f"em escala linear e treinada em pontos uniformes em x, com as mesmas unidades, passos e taxa de "
               f"aprendizado, no máximo {_FEW:.0%} ficam."},
        {"en": "1/x on [1, 100], one hidden layer of {units} tanh units: fed ln x and trained on points even in ln x, "
               "{n_log} of {k_log} seeds are within {tol_log:.4f} (5% of the range) at every grid point (largest "
               "error: median {max_log:.4f}, worst seed {worst_log:.4f}; RMSE median {rmse_log:.4f}); fed x and "
               "trained on points even in x, with the same units, steps and learning rate, {n_linear} of {k_linear} "
               "are (largest error: median {max_linear:.3f}, {times:.0f} times the tolerance, at x = "
               "{at_linear:.1f}; RMSE median {rmse_linear:.4f}).",
         "pt": "1/x em [1, 100], uma camada oculta de {units} unidades tanh: recebendo ln x e treinada em pontos "
               "uniformes em ln x, {n_log} de {k_log} sementes ficam dentro de {tol_log:.4f} (5% da amplitude) em "
               "todos os pontos da grade (maior erro: mediana {max_log:.4f}, pior semente {worst_log:.4f}; RMSE "
               "mediano {rmse_log:.4f}); recebendo x e treinada em pontos uniformes em x, com as mesmas unidades, "
               "passos e taxa de aprendizado, {n_linear} de {k_linear} ficam (maior erro: mediana {max_linear:.3f}, "
               "{times:.0f} vezes a tolerância, em x = {at_linear:.1f}; RMSE mediano {rmse_linear:.4f})."},
        evaluate, requires=(RECIPROCAL_LOG, RECIPROCAL_LINEAR))
