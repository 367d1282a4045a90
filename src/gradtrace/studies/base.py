"""A study: a planned set of runs that tell one part of the story, written to a run store."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pydantic

from gradtrace.errors import (
    ConfigError,
    RunInterrupted,
    StoreError,
    check_choice,
    check_int,
    check_seed,
    describe,
)
from gradtrace.store import Store, describe_holder
from gradtrace.studies.claims import Claim
from gradtrace.studies.executors import MAX_WORKERS, Executor, ExecutorError, make_executor

__all__ = [
    "BUDGETS",
    "MAX_SEEDS",
    "MAX_SEED_OFFSET",
    "MAX_WORKERS",
    "Outcome",
    "ProgressReporter",
    "RunSpec",
    "Study",
    "TRAINING_KEYS",
    "StudyConfig",
    "StudyResult",
    "check_resume",
    "median_horizon",
    "run_arrays",
    "run_study",
    "studies_with_budget",
]

StepCallback = Callable[[int, dict], None]

#: The most seeds (ensemble members) per configuration: each is a full network in memory.
MAX_SEEDS = 1000
#: The largest seed offset: studies' base seeds are small, and member k draws from seed + k, so this leaves
#: room below MAX_SEED for every member of every study.
MAX_SEED_OFFSET = 2**62
#: The named configs a study may run with: its default (the course's size), ``quick`` (a smoke test) and
#: ``paper`` (the paper's protocol as far as one core allows; only some studies have one).
BUDGETS: tuple[str, ...] = ("default", "quick", "paper")


class StudyConfig(pydantic.BaseModel):
    """The sizes and settings of a study: frozen, validated, with every field's default the course's size.

    A study's config subclasses this one. An unknown key is refused with the list of valid keys, a value
    of the wrong type with what was expected and what came (:class:`~gradtrace.errors.ConfigError`). A
    subclass may define ``__post_init__`` to check values across fields; it runs after the types are checked.

    Attributes:
        seed: the base seed; every random draw of the study derives from it, so ``seed + offset`` reruns the
            study on other seeds (``gradtrace run --seed-offset``).

    Example:
        >>> class Demo(StudyConfig):
        ...     length: int = 10
        >>> Demo(length=20).length
        20
        >>> Demo(lenght=20)
        Traceback (most recent call last):
        ...
        gradtrace.errors.ConfigError: Demo has no key 'lenght'. Valid keys: length, seed.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=False)

    seed: int = 0

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except pydantic.ValidationError as error:
            raise ConfigError(_config_message(type(self), error)) from None
        # Checks across fields run here, outside pydantic, so that their errors reach the caller as raised.
        check_seed(self.seed)
        check = getattr(self, "__post_init__", None)
        if check is not None:
            check()

    def with_seed_offset(self, offset: int) -> StudyConfig:
        """Return this config with ``offset`` added to its seed (validated like any seed)."""
        offset = check_int("seed_offset", offset, minimum=0, maximum=MAX_SEED_OFFSET)
        return type(self)(**{**self.model_dump(), "seed": self.seed + offset})


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _config_message(config_class: type, error: pydantic.ValidationError) -> str:
    valid = ", ".join(sorted(config_class.model_fields))
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "?"
        if item["type"] == "extra_forbidden":
            problems.append(f"{config_class.__name__} has no key {key!r}. Valid keys: {valid}.")
        else:
            top = str(item["loc"][0]) if item["loc"] else "?"
            field = config_class.model_fields.get(top)
            expected = _type_name(field.annotation) if field is not None else "?"
            problems.append(f"{config_class.__name__}: `{top}` must be {expected}; at {key}: "
                            f"{item['msg'].lower()}, got {describe(item.get('input'))}.")
    return " ".join(problems)


@dataclass(frozen=True)
class Outcome:
    """What one run of a study produced: arrays for figures, its config and scalar summary."""

    arrays: dict[str, np.ndarray]
    config: dict[str, Any]
    summary: dict[str, Any]
    status: str = "finished"


@dataclass(frozen=True)
class RunSpec:
    """One run of a study.

    Attributes:
        name: unique within the study, e.g. ``"lstm-T60"``.
        steps: training steps it will take (for progress bars).
        execute: runs it; takes a per-step callback and returns an :class:`Outcome`. On Ctrl-C it
            raises :class:`RunInterrupted` whose ``partial`` is the Outcome so far, if any.
    """

    name: str
    steps: int
    execute: Callable[[StepCallback | None], Outcome]


class ProgressReporter(Protocol):
    """Receives progress events from :func:`run_study` (the CLI draws them as rich bars)."""

    def study_started(self, study: str, total_runs: int, skipped: int) -> None: ...
    def run_started(self, name: str, steps: int) -> None: ...
    def run_step(self, step: int, metrics: dict) -> None: ...
    def run_finished(self, name: str, seconds: float) -> None: ...


class Study(ABC):
    """A built-in study: its plan of runs, parameterized by ``quick`` and the number of seeds."""

    name: str
    title: str
    description: str
    default_seeds: int = 5
    #: The terminal summary after a run: (column header, summary key, format spec) per column,
    #: after the run's name. Empty: the first few scalar entries of each run's summary.
    summary_columns: tuple[tuple[str, str, str], ...] = ()
    #: The study's words in each language: ``{"title": {"en": ..., "pt": ...}, "question": {...},
    #: "description": {...}}``; the English title and description default to :attr:`title` and :attr:`description`.
    text: dict[str, dict[str, str]] = {}
    #: The config class, and the config ``quick`` runs (a smoke test); None for a study without one.
    config_class: type[StudyConfig] | None = None
    quick_config: StudyConfig | None = None
    #: Whether each run's name carries a hash of everything that decides its results (a study declared in
    #: TOML): runs made with other options or configs then never share a name, so the store resumes by name
    #: whatever the options, and :func:`check_resume` has nothing to refuse but lost catalog rows.
    keyed_by_config: bool = False
    #: The config the ``paper`` budget runs (the paper's protocol as far as one core allows, in a stated
    #: time); None for a study without one.
    paper_config: StudyConfig | None = None
    #: The budget this study was made for (see :meth:`with_budget`); ``quick`` is asked for by the flag instead.
    budget: str = "default"

    def __init__(self, config: StudyConfig | None = None):
        if config is not None and self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"`config` of study {self.name!r} must be a {self.config_class.__name__} or None, got "
                            f"{describe(config)}.")
        self.config = config

    def resolve(self, quick: bool = False) -> StudyConfig | None:
        """Return the config the study runs with: the one it was made with, else the quick or the default one."""
        config = getattr(self, "config", None)  # a subclass's __init__ may not call this one's
        if config is not None:
            return config
        if self.config_class is None:
            return None
        return self.quick_config if quick and self.quick_config is not None else self.config_class()

    def with_seed_offset(self, offset: int, *, quick: bool = False) -> Study:
        """Return the same study on other seeds: its resolved config with ``offset`` added to the seed."""
        config = self.resolve(quick)
        if config is None or not offset:
            return self
        study = type(self)(config.with_seed_offset(offset))
        study.budget = self.budget
        return study

    @classmethod
    def budgets(cls) -> tuple[str, ...]:
        """Return the budgets (of :data:`BUDGETS`) this study has a config for."""
        configs = {"default": cls.config_class, "quick": cls.quick_config, "paper": cls.paper_config}
        return tuple(name for name in BUDGETS if configs[name] is not None)

    def with_budget(self, budget: str) -> Study:
        """Return this study made with the config of ``budget``: "default", "paper" (or "quick", the same as
        passing ``quick=True`` to :meth:`plan` and :func:`run_study`).

        Raises:
            ValueError: for a name not in :data:`BUDGETS`, or a budget this study has no config for (the message
                lists the built-in studies that have one).
        """
        check_choice("budget", budget, BUDGETS, what="budget")
        if budget == "default":
            return self
        config = self.paper_config if budget == "paper" else self.quick_config
        if config is None:
            having = ", ".join(studies_with_budget(budget)) or "none"
            raise ValueError(f"Study {self.name!r} has no {budget!r} budget. Studies with one: {having}.")
        study = type(self)(config)
        study.budget = budget
        return study

    def words(self, key: str, lang: str = "en") -> str:
        """Return the study's ``key`` ("title", "question" or "description") in ``lang``, else in English."""
        entry = self.text.get(key, {})
        english = entry.get("en") or getattr(self, key, "")
        return entry.get(lang) or english

    def recorded(self, quick: bool = False) -> dict[str, Any]:
        """Return what the store records beside the options to rebuild the study later: ``{"config": ...}``."""
        config = _recorded_config(self, quick)
        return {"config": config} if config is not None else {}

    @abstractmethod
    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        """Return the runs of the study."""

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Return what the study asserts, each decided by the runs :meth:`plan` gives with the same options.

        A claim states the course's point at full strength; in quick mode the same claims are checked,
        but their verdicts mean little (the sizes are a smoke test's). The base study claims nothing.
        """
        return []


#: The history entries of a task-scored training run that most studies store.
TRAINING_KEYS = ("train/loss", "eval/step", "task/loss", "task/accuracy", "task/success")


def studies_with_budget(budget: str) -> list[str]:
    """Return the built-in studies that have a config for ``budget`` (one of :data:`BUDGETS`), in the registry's order.

    Example:
        >>> studies_with_budget("paper")
        ['hochreiter1997', 'le2015']
    """
    from gradtrace.studies.registry import STUDIES  # the registry imports the studies, which import this module

    check_choice("budget", budget, BUDGETS, what="budget")
    return [name for name in STUDIES if budget in STUDIES[name].budgets()]


def study_budget(study: Study, quick: bool = False) -> str:
    """Return the budget ``study`` runs with when ``quick`` is asked for or not: "quick", else its own."""
    return "quick" if quick else getattr(study, "budget", "default")


def run_arrays(run: Any, keys: tuple[str, ...] = (), *, renamed: dict[str, str] | None = None,
               optional: dict[str, str] | None = None, trace: bool = False) -> dict[str, np.ndarray]:
    """Return the arrays a study stores from a training :class:`~gradtrace.train.Run`, and its ``diverged_at``.

    The one copier every study's runs share, partial runs (after Ctrl-C) included.

    Args:
        run: what :func:`~gradtrace.train.fit` returned (or the partial run of a :class:`RunInterrupted`).
        keys: history entries stored under their own names ("train/loss", "eval/step", ...).
        renamed: ``{history key: stored name}`` for entries stored under the study's own key.
        optional: the same, for entries only some runs record (a clip's "…/fired"): kept when present.
        trace: also store the trace snapshots ("trace/steps", "trace/grad_norms").

    Raises:
        KeyError: if a run lacks one of ``keys`` or ``renamed`` (a study asking for what fit did not record).
    """
    history = run.history
    arrays = {key: history[key] for key in keys}
    arrays.update({name: history[key] for key, name in (renamed or {}).items()})
    arrays.update({name: history[key] for key, name in (optional or {}).items() if key in history})
    if trace:
        arrays["trace/steps"] = run.trace_steps
        arrays["trace/grad_norms"] = run.trace_grad_norms
    arrays["diverged_at"] = run.diverged_at
    return arrays


def median_horizon(horizons: Any) -> float:
    """Return the median of the members' gradient horizons, leaving out those not measured.

    A member whose trace is all NaN (diverged, or with NaN weights) has horizon −1, "not measured":
    counting it as a length, or as the full T it used to read, would tilt the median. NaN (without a
    warning) when no member was measured.
    """
    values = np.asarray(horizons, dtype=np.float64).ravel()
    measured = values[values >= 0]
    return float(np.median(measured)) if measured.size else float("nan")


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` did: the runs it ran and those it found already finished.

    ``redone`` names the runs it ran again because the store held them damaged (they are in ``ran`` too).
    """

    study: str
    ran: list[str]
    skipped: list[str]
    seconds: float
    redone: list[str] = field(default_factory=list)


def check_resume(study: Study, store: Store, *, quick: bool = False, seeds: int | None = None) -> None:
    """Raise if running ``study`` with these options would mix runs made with others, or recompute lost runs.

    Runs of every budget (default, quick, paper) share names, as do runs with other seeds: the store's runs of
    the study, or the options recorded by a process writing the study now, must match. A study whose run names
    carry a hash of their config (:attr:`Study.keyed_by_config`, a declared one) cannot mix runs: any options
    resume it. A study recorded by a writer that is gone and left no runs is free to start again.

    A run file without a catalog row is what a writer killed between the two leaves: one is redone.
    Several mean catalog rows were lost, and running would compute those runs again without being
    asked: refused, naming them, with the two ways on that keep every intact run.

    Args:
        study: the study.
        store: the store it would be written to.
        quick: the ``quick`` asked for.
        seeds: the seeds asked for; None means the study's default.

    Raises:
        ValueError: naming the store's options and the ones asked for.
        StoreError: if more than one of the study's run files has no catalog row, counting and naming them.
    """
    unlisted = store.unlisted(study.name)
    if len(unlisted) > 1:
        shown = ", ".join(f"{name}.npz" for _, name in unlisted[:5])
        more = f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else ""
        kept = len(store.finished(study.name))
        raise StoreError(
            f"The catalog {store.catalog} has no row for {len(unlisted)} run files of study {study.name!r} in "
            f"{store.root / 'arrays' / study.name} ({shown}{more}): their rows were lost, and running would compute "
            f"these {len(unlisted)} runs again without telling. To recompute just them, delete those "
            f"{len(unlisted)} files and run the same command again; or restore catalog.sqlite from a backup. "
            f"The study's {kept} intact finished run(s) are kept either way, and `gradtrace report` draws them."
        )
    if study.keyed_by_config:
        return
    seeds = study.default_seeds if seeds is None else seeds
    previous = store.meta(f"study/{study.name}") or {}
    budget = study_budget(study, quick)
    quick = budget == "quick"
    # A store from before budgets were recorded ran the quick config or the default one.
    recorded_budget = previous.get("budget", "quick" if previous.get("quick") else "default")
    before = (previous.get("quick"), previous.get("seeds"), recorded_budget)
    config, recorded = _recorded_config(study, quick), previous.get("config")
    changed = sorted(key for key in set(config or {}) | set(recorded or {})
                     if (config or {}).get(key) != (recorded or {}).get(key)) if recorded is not None else []
    if recorded is None and previous and (config or {}).get("seed", 0) != 0:
        # A store from before configs were recorded ran every study on its base seed 0: another seed would mix.
        recorded, changed = {"seed": 0}, ["seed"]
    if not previous or (before == (quick, seeds, budget) and not changed):
        return
    made, asked = f"quick={before[0]}, seeds={before[1]}", f"quick={quick}, seeds={seeds}"
    if recorded_budget != budget and "paper" in (recorded_budget, budget):  # quick already tells quick from default
        made, asked = f"{made}, budget={recorded_budget!r}", f"{asked}, budget={budget!r}"
    if before == (quick, seeds, budget):  # the same options, another config (e.g. --seed-offset)
        made = "the config " + ", ".join(f"{key}={recorded.get(key)!r}" for key in changed[:6])
        asked = "the config " + ", ".join(f"{key}={(config or {}).get(key)!r}" for key in changed[:6])
    _refuse_mix(study, store, made, asked)


def _refuse_mix(study: Study, store: Store, made: str, asked: str) -> None:
    """Raise if ``store`` holds runs of ``study`` made with ``made``, or a live writer runs it so."""
    if store.names(study.name):
        raise ValueError(
            f"The store at {store.root} holds runs of study {study.name!r} made with {made}; resuming with {asked} "
            "would mix them. Use the same options or another output folder."
        )
    holder = store.lock_holder()
    if holder is not None:
        raise ValueError(
            f"The store at {store.root} is being written by another process ({describe_holder(holder)}), which "
            f"runs study {study.name!r} with {made}; running it with {asked} "
            "would mix them. Use the same options or another output folder."
        )


def _recorded_config(study: Study, quick: bool) -> dict[str, Any] | None:
    """Return the config ``study`` runs with as the store records it (JSON: tuples as lists), or None."""
    config = study.resolve(quick)
    return config.model_dump(mode="json") if config is not None else None


def run_study(study: Study, store: Store | str | os.PathLike, *, quick: bool = False, seeds: int | None = None,
              progress: ProgressReporter | None = None, workers: int = 1, executor: str | Executor = "local",
              address: str | None = None) -> StudyResult:
    """Run every planned run of ``study`` not yet finished in ``store``.

    ``gradtrace.run_study`` (and ``gradtrace.studies.run_study``) also takes a built-in study by name;
    this one, for the studies' own modules, takes a :class:`Study`.

    The runs of a study are independent, and the built-in ones are small networks that one core
    runs as fast as two; so with ``workers`` > 1 they run side by side in that many forked worker
    processes, each on one torch thread, and the parent writes each outcome to the store as it
    arrives. Every run seeds itself, so the results are the same either way. Workers need the
    ``fork`` start method (Linux); elsewhere the runs go one after another. A worker ends with its
    parent, even when the parent is killed outright (``kill -9``). With ``executor="ray"`` the runs
    are Ray tasks instead, on this machine or on the cluster at ``address``
    (:class:`~gradtrace.studies.executors.RayExecutor`); this process still writes the store, and the
    stored numbers are the same.

    The store's write lock is held throughout, and the options are checked against the store before
    any run starts; a finished run whose arrays are damaged on disk is run again (``redone``).

    Args:
        study: the study.
        store: where runs are written, a :class:`~gradtrace.store.Store` or the folder of one (opened,
            or created, with ``Store(store)``); finished runs found there are skipped (resume).
        quick: a much shorter version, for tests and a first look.
        seeds: members per ensemble, i.e. independent seeds per configuration.
        progress: receives progress events (with workers or Ray, only the end of each run).
        workers: processes that run the study's runs side by side (1: in this process); local executor only.
        executor: ``"local"`` (this machine), ``"ray"``, or an
            :class:`~gradtrace.studies.executors.Executor` (e.g. one ``RayExecutor`` shared by several studies).
        address: the Ray cluster for ``executor="ray"`` (``HOST:PORT``); None starts a local one.

    Raises:
        TypeError: if ``study`` is not a :class:`Study`, ``store`` is neither a Store nor a path, or
            ``executor`` neither a name nor an Executor.
        ValueError: if ``store`` holds runs of the study made with other ``quick``/``seeds``, or another
            process is writing it with other options (see :func:`check_resume`); for an unknown executor,
            ``address`` without Ray or ``workers`` with it.
        ExecutorError: if Ray is not installed (with the install command), its cluster does not answer at
            ``address``, or a run's worker died (after the other runs were stored; rerunning resumes).
        Exception: what a run raised; on Ray, worded to name the run, after the other runs were stored.
        StoreError: if another process is writing ``store`` (one writer at a time; the message names it), or
            catalog rows of the study's runs were lost (see :func:`check_resume`).
        RunInterrupted: on Ctrl-C, after writing the interrupted run's partial results (one after
            another; with workers or Ray the runs in flight are dropped); the finished runs stay in the
            store and are skipped when the study is run again.
    """
    if not isinstance(study, Study):
        hint = (f"; for a built-in study by name, use gradtrace.run_study({study!r}, ...) or get_study({study!r})"
                if isinstance(study, str) else "")
        raise TypeError(f"`study` must be a gradtrace Study, got {describe(study)}{hint}.")
    if not isinstance(store, (str, os.PathLike, Store)):
        raise TypeError(f"`store` must be a gradtrace Store or the path of its folder, got {describe(store)}.")
    workers = check_int("workers", workers, minimum=1, maximum=MAX_WORKERS)
    # Before the store's folder is made: a missing Ray or a bad address leaves nothing behind.
    executor = make_executor(executor, workers=workers, address=address)
    if not isinstance(store, Store):
        store = Store(store)
    seeds = check_int("seeds", seeds if seeds is not None else study.default_seeds, minimum=1, maximum=MAX_SEEDS)
    plan = study.plan(quick=quick, seeds=seeds)
    names = [spec.name for spec in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"Study {study.name!r} plans duplicate run names: {names}.")
    check_resume(study, store, quick=quick, seeds=seeds)
    executor.check()
    with store.write_lock(), executor:
        # Again under the lock: the store may have changed since the check above.
        check_resume(study, store, quick=quick, seeds=seeds)
        return _run_plan(study, store, plan, quick=quick, seeds=seeds, progress=progress, executor=executor)


def _run_plan(study: Study, store: Store, plan: list[RunSpec], *, quick: bool, seeds: int,
              progress: ProgressReporter | None, executor: Executor) -> StudyResult:
    names = [spec.name for spec in plan]
    done = store.finished(study.name)
    redone = [name for name in store.damaged(study.name) if name in names]
    budget = study_budget(study, quick)
    options = {"quick": budget == "quick", "budget": budget, "seeds": seeds, "runs": names}
    options.update(study.recorded(quick))  # what claims and the report rebuild the study from
    store.set_meta(f"study/{study.name}", options)
    todo = [spec for spec in plan if spec.name not in done]
    skipped = [name for name in names if name in done]
    if progress is not None:
        progress.study_started(study.name, len(plan), len(skipped))
    sink = _StoreSink(study.name, store, progress, len(plan), skipped, redone)
    executor.execute(todo, sink)
    return sink.result()


class _StoreSink:
    """Where an executor's runs land: each outcome written to the store as it arrives, progress and errors worded."""

    def __init__(self, study: str, store: Store, progress: ProgressReporter | None, planned: int,
                 skipped: list[str], redone: list[str]):
        self.study, self.store, self.progress, self.planned = study, store, progress, planned
        self.skipped, self.redone, self.ran = skipped, redone, []
        self.step = progress.run_step if progress is not None else None
        self.started = time.perf_counter()

    def result(self) -> StudyResult:
        return StudyResult(self.study, self.ran, self.skipped, time.perf_counter() - self.started, self.redone)

    def run_started(self, spec: RunSpec) -> None:
        if self.progress is not None:
            self.progress.run_started(spec.name, spec.steps)

    def run_finished(self, spec: RunSpec, outcome: Outcome, seconds: float) -> None:
        self.store.put(self.study, spec.name, outcome.arrays, config=outcome.config, summary=outcome.summary,
                       status=outcome.status, seconds=seconds)
        self.ran.append(spec.name)
        if self.progress is not None:
            self.progress.run_finished(spec.name, seconds)

    def run_interrupted(self, spec: RunSpec, partial: Any, seconds: float) -> None:
        if isinstance(partial, Outcome):
            self.store.put(self.study, spec.name, partial.arrays, config=partial.config, summary=partial.summary,
                           status="interrupted", seconds=seconds)

    def _kept(self) -> str:
        return (f"{len(self.ran) + len(self.skipped)} of {self.planned} runs are finished and kept in "
                f"{self.store.root}")

    def interrupted(self, during: str | None) -> RunInterrupted:
        where = f" during run {during!r}" if during is not None else ""
        return RunInterrupted(
            f"Study {self.study!r} interrupted{where}: {self._kept()}; run the same command with the same --out "
            "to resume.",
            partial=self.result(),
        )

    def _others(self, others: list[str]) -> str:
        if not others:
            return ""
        shown = ", ".join(repr(name) for name in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5
                                                                  else "")
        return f" ({len(others)} other run{'s' if len(others) > 1 else ''} failed too: {shown})"

    def failed(self, spec: RunSpec, error: BaseException, others: list[str]) -> BaseException:
        # The error keeps its type (callers catch it by kind); its message gains the run's name where it is one string.
        if len(error.args) == 1 and isinstance(error.args[0], str):
            error.args = (f"Run {spec.name!r} of study {self.study!r} failed{self._others(others)}: {error.args[0]} "
                          f"({self._kept()}; running the study again resumes from them).",)
        elif hasattr(error, "add_note"):
            error.add_note(f"Raised by run {spec.name!r} of study {self.study!r}{self._others(others)}; "
                           f"{self._kept()}.")
        return error

    def lost(self, spec: RunSpec, detail: str, others: list[str]) -> ExecutorError:
        return ExecutorError(
            f"Run {spec.name!r} of study {self.study!r} was lost: its worker died ({detail}){self._others(others)}. "
            f"{self._kept()}; run the same command with the same --out to resume."
        )


