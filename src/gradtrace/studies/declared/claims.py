"""A declared study's ``[[claims]]``: a summary metric pooled over the seeds of the runs a filter selects, compared
with a number or with another selection, decided from the stored runs and said with the numbers it measured.

Each run keeps one value per seed of each metric at the end of training (see :data:`METRICS`); a claim pools the
seeds of every run its ``where`` selects, then aggregates them. A seed that diverged has no loss: it counts as an
infinite loss, accuracy 0 and no success, so a diverging configuration never looks good by losing its worst
members; its horizon was not measured and is left out.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradtrace.studies.claims import Claim, ClaimUnmeasured, Results
from gradtrace.studies.declared.schema import Point

__all__ = ["METRIC_WORDS", "build_claims", "seed_values", "selected"]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_AGGREGATE_WORDS = {
    "median": {"en": "median", "pt": "mediana de"},
    "mean": {"en": "mean", "pt": "média de"},
    "min": {"en": "min", "pt": "mínimo de"},
    "max": {"en": "max", "pt": "máximo de"},
    "fraction_succeeding": {"en": "fraction of seeds succeeding", "pt": "fração de sementes com sucesso"},
}
#: How a sentence names each metric.
METRIC_WORDS = {
    "task/loss": {"en": "held-out loss", "pt": "perda em dados separados"},
    "task/accuracy": {"en": "held-out accuracy", "pt": "acurácia em dados separados"},
    "task/success": {"en": "success", "pt": "sucesso"},
    "train/loss": {"en": "training loss", "pt": "perda de treino"},
    "horizon": {"en": "gradient horizon", "pt": "horizonte do gradiente"},
    "diverged": {"en": "diverged", "pt": "divergiu"},
}
_SEEDS = {"en": "seeds", "pt": "sementes"}
_ALL = {"en": "all runs", "pt": "todas as execuções"}
_MEASURED = {"en": "Measured:", "pt": "Medido:"}


def seed_values(arrays: Mapping[str, np.ndarray], metric: str) -> np.ndarray:
    """Return the per-seed values (K,) of ``metric`` at the end of a run's training (see the module's notes)."""
    diverged = np.asarray(arrays["diverged_at"]) >= 0
    if metric == "diverged":
        return diverged.astype(np.float64)
    if metric == "horizon":
        values = np.asarray(arrays["trace/horizon"], dtype=np.float64)
        return values[values >= 0]
    history = np.asarray(arrays[metric], dtype=np.float64)
    values = history[-1] if len(history) else np.full(diverged.shape, np.nan)
    bad = ~np.isfinite(values) | diverged
    if metric in ("task/loss", "train/loss"):
        return np.where(bad, np.inf, values)
    return np.where(bad, 0.0, values)


def selected(points: Sequence[Point], where: Mapping[str, Sequence[Any]]) -> list[str]:
    """Return the names of the runs whose axes take one of the ``where`` values on every filtered axis."""
    return [p.name for p in points if all(p.axes.get(key) in values for key, values in where.items())]


def _measure(results: Results, names: Sequence[str], selection: Mapping[str, Any]) -> tuple[float, int]:
    metric, aggregate = selection["metric"], selection["aggregate"]
    pooled = [seed_values({key: results.array(name, key) for key in _keys(metric)}, metric) for name in names]
    values = np.concatenate(pooled) if pooled else np.zeros(0)
    if not values.size:
        raise ClaimUnmeasured("no seed measured", runs=tuple(names))
    if aggregate == "fraction_succeeding":
        return float(np.mean(values == 1)), int(values.size)
    return float(getattr(np, aggregate)(values)), int(values.size)


def _keys(metric: str) -> tuple[str, ...]:
    if metric == "horizon":
        return ("diverged_at", "trace/horizon")
    return ("diverged_at",) if metric == "diverged" else ("diverged_at", metric)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _where_text(where: Mapping[str, Sequence[Any]], lang: str) -> str:
    if not where:
        return _ALL[lang]
    return ", ".join(f"{key} = {' | '.join(str(v) for v in values)}" for key, values in where.items())


def _side(selection: Mapping[str, Any], prefix: str, lang: str) -> str:
    aggregate = selection["aggregate"]
    what = _AGGREGATE_WORDS[aggregate][lang]
    if aggregate != "fraction_succeeding":
        what += " " + METRIC_WORDS[selection["metric"]][lang]
    return (f"{what} ({_escape(_where_text(selection['where'], lang))}; {{{prefix}_seeds}} {_SEEDS[lang]}) = "
            f"{{{prefix}:.3g}}")


def _sentence(claim: Mapping[str, Any], lang: str) -> str:
    right = "{value:.3g}" if "value" in claim else _side(claim["versus"], "right", lang)
    if "versus" in claim and claim["factor"] != 1:
        right = "{factor:g} × " + right
    return f"{_escape(claim['statement'][lang])} {_MEASURED[lang]} {_side(claim, 'left', lang)} {claim['op']} {right}."


def build_claims(claims: Sequence[Mapping[str, Any]], points: Sequence[Point]) -> list[Claim]:
    """Return the :class:`~gradtrace.studies.claims.Claim` of each ``[[claims]]`` entry over the runs ``points``.

    A claim reads only the runs of ``points``: runs of the study made from an earlier version of its file stay in
    the store but decide nothing.
    """
    return [_build(claim, points) for claim in claims]


def _build(claim: Mapping[str, Any], points: Sequence[Point]) -> Claim:
    left = selected(points, claim["where"])
    right = selected(points, claim["versus"]["where"]) if "versus" in claim else []

    def evaluate(results: Results) -> tuple[bool, dict[str, Any]]:
        value, seeds = _measure(results, left, claim)
        values: dict[str, Any] = {"left": value, "left_seeds": seeds}
        if "versus" in claim:
            other, other_seeds = _measure(results, right, claim["versus"])
            values.update(right=other, right_seeds=other_seeds, factor=claim["factor"])
            threshold = claim["factor"] * other
        else:
            threshold = values["value"] = claim["value"]
        held = bool(np.isfinite(value) or np.isfinite(threshold)) and _OPS[claim["op"]](value, threshold)
        return held, values

    sentences = {lang: _sentence(claim, lang) for lang in ("en", "pt")}
    return Claim(claim["id"], dict(claim["statement"]), sentences, evaluate,
                 requires=tuple(dict.fromkeys([*left, *right])))
