"""Claims: what a study asserts, as predicates over its stored results, with sentences filled from them.

A :class:`Claim` names one point of the course ("small W_rec makes the gradient vanish"), a function
that decides it from the study's finished runs and returns the numbers it looked at, and one sentence
template per language filled from those numbers. Its :class:`Verdict` is computed from the run store
each time it is asked for, never written by hand: the report and ``summary.json`` say what the data
says.

A claim whose runs are missing or damaged cannot be measured. Its verdict is then "not held" (the
data in the store does not support it) with ``measured`` False and a reason naming the runs; its
sentence says so in plain words instead of printing numbers that do not exist.

Example:
    >>> import tempfile
    >>> from gradtrace.store import Store
    >>> store = Store(tempfile.mkdtemp())
    >>> store.put("demo", "a", {}, config={}, summary={"loss": 0.01})
    >>> claim = Claim(
    ...     "small-loss", {"en": "The loss is small.", "pt": "A perda é pequena."},
    ...     {"en": "Final loss {loss:.2f}.", "pt": "Perda final {loss:.2f}."},
    ...     lambda results: (results.summary("a")["loss"] < 0.1, {"loss": results.summary("a")["loss"]}),
    ...     requires=("a",))
    >>> verdict = claim.check(Results(store, "demo"))
    >>> verdict.verdict, verdict.sentence["pt"]
    ('held', 'Perda final 0,01.')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from gradtrace.errors import GradtraceError, StoreError
from gradtrace.store import RunRecord, Store

__all__ = ["HELD", "LANGUAGES", "NOT_HELD", "Claim", "ClaimUnmeasured", "Results", "Verdict", "evaluate_claims",
           "shown_runs", "stored_study"]

#: The languages every claim speaks: each statement and sentence template has one entry per language.
LANGUAGES = ("en", "pt")
HELD = "held"
NOT_HELD = "not held"

# What a claim whose runs are missing says instead of its numbers.
_UNMEASURED = {"en": "Not measured: {reason}. Claimed: {statement}",
               "pt": "Não medido: {reason}. Afirmação: {statement}"}
_MISSING = {"en": "run(s) {runs} of study {study} are missing, unfinished or damaged, or lack a value the claim reads",
            "pt": "execução(ões) {runs} do estudo {study} ausente(s), incompleta(s) ou danificada(s), ou sem um valor "
                  "que a afirmação lê"}


class ClaimUnmeasured(GradtraceError, KeyError):
    """A claim could not be measured: runs it needs are missing, unfinished or damaged, or lack a value it reads.

    ``runs`` names them. It is a ``KeyError`` too, so ``summary.get(key, default)`` still answers.
    """

    def __init__(self, message: str, *, runs: Sequence[str] = ()):
        super().__init__(message)
        self.runs = tuple(runs)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # not KeyError's quoted repr


class Results:
    """A read-only view of one study's finished, intact runs in a store, keyed by run name.

    Each run is read from disk once, when a claim first asks for it. Asking for a run that is not finished
    and intact raises :class:`ClaimUnmeasured`, which :meth:`Claim.check` turns into a "not measured"
    verdict.

    Args:
        store: the run store.
        study: the study's name.
    """

    def __init__(self, store: Store, study: str):
        self.store = store
        self.study = study
        finished = store.finished(study)  # checks every run's checksum: once, not once per run
        self._names = tuple(name for name in store.names(study) if name in finished)
        self._records: dict[str, RunRecord] = {}

    def names(self) -> tuple[str, ...]:
        """Return the finished, intact runs, in the order they were written."""
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def missing(self, names: Sequence[str]) -> list[str]:
        """Return those of ``names`` that this view does not hold."""
        return [name for name in names if name not in self._names]

    def record(self, name: str) -> RunRecord:
        """Return run ``name`` as the store holds it, read once and kept.

        Raises:
            ClaimUnmeasured: if the run is not finished and intact.
        """
        if name not in self._names:
            raise ClaimUnmeasured(f"Run {name!r} of study {self.study!r} is missing, unfinished or damaged.",
                                  runs=(name,))
        if name not in self._records:
            try:
                self._records[name] = self.store.get(self.study, name)
            except StoreError as error:
                raise ClaimUnmeasured(str(error), runs=(name,)) from error
        return self._records[name]

    def summary(self, name: str) -> Mapping[str, Any]:
        """Return run ``name``'s scalar summary, read-only; a key it lacks raises :class:`ClaimUnmeasured`.

        A run stored by an older gradtrace may lack a value a claim reads: that claim is not measured.
        """
        return _Summary(name, self.study, self.record(name).summary)

    def config(self, name: str) -> Mapping[str, Any]:
        """Return run ``name``'s config (read-only)."""
        return MappingProxyType(self.record(name).config)

    def array(self, name: str, key: str) -> np.ndarray:
        """Return a read-only copy of the array ``key`` of run ``name``.

        Raises:
            ClaimUnmeasured: if the run is not held, or holds no such array.
        """
        arrays = self.record(name).arrays
        if key not in arrays:
            raise ClaimUnmeasured(f"Run {name!r} of study {self.study!r} holds no array {key!r}.", runs=(name,))
        value = arrays[key].copy()
        value.flags.writeable = False
        return value


class _Summary(Mapping):
    def __init__(self, run: str, study: str, values: dict[str, Any]):
        self._run, self._study, self._values = run, study, values

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise ClaimUnmeasured(f"Run {self._run!r} of study {self._study!r} has no summary value {key!r}.",
                                  runs=(self._run,))
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict on the data in a store.

    Attributes:
        name: the claim's name.
        held: whether the data supports the claim.
        sentence: the filled sentence, one per language (``{"en": ..., "pt": ...}``).
        values: the numbers the verdict was computed from (JSON-ready: floats, ints, strings, None).
        measured: False when runs the claim needs are missing or damaged (then ``held`` is False).
        reason: why it was not measured, one per language; empty when measured.
    """

    name: str
    held: bool
    sentence: Mapping[str, str]
    values: Mapping[str, Any]
    measured: bool = True
    reason: Mapping[str, str] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``"held"`` or ``"not held"``."""
        return HELD if self.held else NOT_HELD

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as ``summary.json`` holds it."""
        entry = {"name": self.name, "sentence": dict(self.sentence), "verdict": self.verdict,
                 "values": {key: jsonable(value) for key, value in self.values.items()}}
        if not self.measured:
            entry["measured"] = False
            entry["reason"] = dict(self.reason)
        return entry


@dataclass(frozen=True)
class Claim:
    """One point a study asserts, decided by its data.

    Attributes:
        name: short and unique within the study, e.g. ``"clipping-prevents-divergence"``.
        statement: what the course asserts, one per language, with no numbers in it.
        sentence: a template per language, filled from ``evaluate``'s values with :meth:`str.format`.
        evaluate: ``evaluate(results) -> (held, values)`` over a :class:`Results` view of the study.
        requires: the runs the claim reads; if any is missing the claim is not measured.

    Raises:
        ValueError: if a statement or sentence lacks a language of :data:`LANGUAGES`.
    """

    name: str
    statement: Mapping[str, str]
    sentence: Mapping[str, str]
    evaluate: Callable[[Results], tuple[bool, Mapping[str, Any]]]
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what in ("statement", "sentence"):
            missing = [lang for lang in LANGUAGES if lang not in getattr(self, what)]
            if missing:
                raise ValueError(f"Claim {self.name!r}: `{what}` must have an entry for each of "
                                 f"{', '.join(LANGUAGES)}; {', '.join(missing)} missing.")

    def check(self, results: Results) -> Verdict:
        """Return the claim's verdict on ``results``.

        Raises:
            KeyError: if a sentence template names a value that ``evaluate`` did not return (a bug in
                the claim, not in the data).
        """
        missing = results.missing(self.requires)
        try:
            if missing:
                raise ClaimUnmeasured("missing runs", runs=missing)
            held, values = self.evaluate(results)
        except ClaimUnmeasured as error:
            return self._unmeasured(results.study, error.runs)
        values = dict(values)
        sentence = {lang: self.sentence[lang].format(**{k: _Shown(v, lang) for k, v in values.items()})
                    for lang in LANGUAGES}
        return Verdict(self.name, bool(held), sentence, values)

    def _unmeasured(self, study: str, runs: Sequence[str]) -> Verdict:
        reason = {lang: _MISSING[lang].format(runs=", ".join(runs) or "?", study=study) for lang in LANGUAGES}
        sentence = {lang: _UNMEASURED[lang].format(reason=reason[lang], statement=self.statement[lang])
                    for lang in LANGUAGES}
        return Verdict(self.name, False, sentence, {}, measured=False, reason=reason)


class _Shown:
    """A value as a sentence in ``lang`` shows it.

    NaN and None read "n/a" whatever the format asked for; Portuguese writes a decimal comma.
    """

    def __init__(self, value: Any, lang: str):
        self.value = value
        self.lang = lang

    def __format__(self, spec: str) -> str:
        value = self.value
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a" if self.lang == "en" else "n/d"
        text = format(value, spec)
        if self.lang == "pt" and isinstance(value, float):
            text = text.replace(".", ",")
        return text


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars and arrays as Python numbers and lists, NaN and infinities as None."""
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def shown_runs(store: Store, name: str, runs: Sequence[str] | None = None) -> list[str]:
    """Return those of ``runs`` (default: every run of study ``name`` in ``store``) that its results show.

    Every run, but for a study declared in a file only those the file planned when it last ran: after an edit,
    the runs it no longer declares stay in the store, outside its report, summary, terminal table and export.
    """
    runs = store.names(name) if runs is None else list(runs)
    if name in _builtin_names():
        return runs
    meta = store.meta(f"study/{name}") or {}
    if "declared" not in meta:
        return runs
    planned = set(meta.get("runs", ()))
    return [run for run in runs if run in planned]


def _builtin_names():
    from gradtrace.studies.registry import STUDIES  # the registry imports the studies, which import this module

    return STUDIES


def stored_study(store: Store, name: str) -> Any:
    """Return the study ``name`` made with the config ``store`` recorded when it ran; None if there is none.

    A built-in study comes with its recorded config; a store written before configs were recorded, or whose
    recorded config this gradtrace no longer reads (a key renamed since), gives the study with its default
    config. A study declared in TOML is rebuilt from the declaration the store recorded (None if this
    gradtrace no longer reads it).
    """
    from gradtrace.errors import ConfigError
    from gradtrace.studies.registry import STUDIES  # the registry imports the studies, which import this module

    if name not in STUDIES:
        declared = (store.meta(f"study/{name}") or {}).get("declared")
        if not isinstance(declared, dict):
            return None
        from gradtrace.studies.declared import DeclaredStudy

        try:  # checked when it ran: the builders are not run again
            return DeclaredStudy.from_dict(declared, source=f"{store.root} (study {name!r})", allow_large=True,
                                           check_builders=False)
        except (ConfigError, TypeError, ValueError):
            return None
    cls = STUDIES[name]
    recorded = (store.meta(f"study/{name}") or {}).get("config")
    if recorded is None or cls.config_class is None:
        return cls()
    try:
        return cls(cls.config_class(**recorded))
    except (ConfigError, TypeError, ValueError):
        return cls()


def evaluate_claims(store: Store, study: Any, *, results: Results | None = None) -> list[Verdict]:
    """Return the verdicts of the claims of ``study`` on its runs in ``store``.

    Args:
        store: the run store.
        study: a built-in study's name (made with the config the store recorded when it ran), or a
            :class:`~gradtrace.studies.Study` (one made with its own config claims what that config plans).
            A name not built in has no claims.
        results: a view of the study's runs already read (it keeps what it read); default a new one.

    The options (``quick``, seeds) are the ones the store recorded when the study ran.
    """
    if isinstance(study, str):
        study = stored_study(store, study)
        if study is None:
            return []
    options = store.meta(f"study/{study.name}") or {}
    seeds = options.get("seeds") or study.default_seeds
    claims = study.claims(quick=bool(options.get("quick")), seeds=seeds)
    results = results if results is not None else Results(store, study.name)
    return [claim.check(results) for claim in claims]
