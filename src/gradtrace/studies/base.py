"""A study: a planned set of runs that tell one part of the story, written to a run store."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gradtrace.errors import RunInterrupted, check_int
from gradtrace.store import Store

__all__ = ["Outcome", "ProgressReporter", "RunSpec", "Study", "StudyResult", "run_study"]

StepCallback = Callable[[int, dict], None]


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

    @abstractmethod
    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        """Return the runs of the study."""


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` did: the runs it ran and those it found already finished."""

    study: str
    ran: list[str]
    skipped: list[str]
    seconds: float


def run_study(study: Study, store: Store, *, quick: bool = False, seeds: int | None = None,
              progress: ProgressReporter | None = None) -> StudyResult:
    """Run every planned run of ``study`` not yet finished in ``store``, one after another.

    Args:
        study: the study.
        store: where runs are written; finished runs found there are skipped (resume).
        quick: a much shorter version, for tests and a first look.
        seeds: members per ensemble, i.e. independent seeds per configuration.
        progress: receives progress events.

    Raises:
        ValueError: if ``store`` holds finished runs of the study made with other ``quick``/``seeds``.
        RunInterrupted: on Ctrl-C, after writing the interrupted run's partial results; the runs
            finished before it stay in the store and are skipped when the study is run again.
    """
    seeds = check_int("seeds", seeds if seeds is not None else study.default_seeds, minimum=1, maximum=1000)
    plan = study.plan(quick=quick, seeds=seeds)
    names = [spec.name for spec in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"Study {study.name!r} plans duplicate run names: {names}.")
    done = store.finished(study.name)
    previous = store.meta(f"study/{study.name}") or {}
    before = (previous.get("quick"), previous.get("seeds"))
    if done and previous and before != (quick, seeds):
        # Quick and full runs share names: resuming with other options would mix them silently.
        raise ValueError(
            f"The store at {store.root} holds finished runs of study {study.name!r} made with "
            f"quick={before[0]}, seeds={before[1]}; resuming with quick={quick}, seeds={seeds} "
            "would mix them. Use the same options or another output folder."
        )
    store.set_meta(f"study/{study.name}", {"quick": quick, "seeds": seeds, "runs": names})
    todo = [spec for spec in plan if spec.name not in done]
    skipped = [name for name in names if name in done]
    if progress is not None:
        progress.study_started(study.name, len(plan), len(skipped))
    started = time.perf_counter()
    ran: list[str] = []
    for spec in todo:
        if progress is not None:
            progress.run_started(spec.name, spec.steps)
        begun = time.perf_counter()
        try:
            outcome = spec.execute(progress.run_step if progress is not None else None)
        except (RunInterrupted, KeyboardInterrupt) as error:
            partial = getattr(error, "partial", None)
            if isinstance(partial, Outcome):
                store.put(study.name, spec.name, partial.arrays, config=partial.config,
                          summary=partial.summary, status="interrupted",
                          seconds=time.perf_counter() - begun)
            raise RunInterrupted(
                f"Study {study.name!r} interrupted during run {spec.name!r}: "
                f"{len(ran) + len(skipped)} of {len(plan)} runs are finished and kept in {store.root}; "
                "run the same command with the same --out to resume.",
                partial=StudyResult(study.name, ran, skipped, time.perf_counter() - started),
            ) from None
        seconds = time.perf_counter() - begun
        store.put(study.name, spec.name, outcome.arrays, config=outcome.config, summary=outcome.summary,
                  status=outcome.status, seconds=seconds)
        ran.append(spec.name)
        if progress is not None:
            progress.run_finished(spec.name, seconds)
    return StudyResult(study.name, ran, skipped, time.perf_counter() - started)
