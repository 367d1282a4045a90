"""A study: a planned set of runs that tell one part of the story, written to a run store."""

from __future__ import annotations

import multiprocessing
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

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
              progress: ProgressReporter | None = None, workers: int = 1) -> StudyResult:
    """Run every planned run of ``study`` not yet finished in ``store``.

    The runs of a study are independent, and the built-in ones are small networks that one core
    runs as fast as two; so with ``workers`` > 1 they run side by side in that many forked worker
    processes, each on one torch thread, and the parent writes each outcome to the store as it
    arrives. Every run seeds itself, so the results are the same either way. Workers need the
    ``fork`` start method (Linux); elsewhere the runs go one after another.

    Args:
        study: the study.
        store: where runs are written; finished runs found there are skipped (resume).
        quick: a much shorter version, for tests and a first look.
        seeds: members per ensemble, i.e. independent seeds per configuration.
        progress: receives progress events (with workers, only the end of each run).
        workers: processes that run the study's runs side by side (1: in this process).

    Raises:
        ValueError: if ``store`` holds finished runs of the study made with other ``quick``/``seeds``.
        RunInterrupted: on Ctrl-C, after writing the interrupted run's partial results (one after
            another; with workers the runs in flight are dropped); the finished runs stay in the
            store and are skipped when the study is run again.
    """
    workers = check_int("workers", workers, minimum=1, maximum=256)
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
    if workers > 1 and len(todo) > 1 and "fork" in multiprocessing.get_all_start_methods():
        _run_in_workers(study, store, todo, min(workers, len(todo)), progress, ran, skipped, len(plan), started)
        return StudyResult(study.name, ran, skipped, time.perf_counter() - started)
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


# The plan a forked worker runs from: set in the parent just before the fork, so a worker reads the
# run specs (closures, which do not pickle) from its copy of the parent's memory.
_WORKER_PLAN: list[RunSpec] = []


def _start_worker(threads: int) -> None:
    # Ctrl-C is the parent's to handle: it stops the pool and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _run_in_worker(index: int) -> tuple[int, Outcome | None, float, BaseException | None]:
    begun = time.perf_counter()
    try:
        return index, _WORKER_PLAN[index].execute(None), time.perf_counter() - begun, None
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        return index, None, time.perf_counter() - begun, error


def _run_in_workers(study: Study, store: Store, todo: list[RunSpec], workers: int,
                    progress: ProgressReporter | None, ran: list[str], skipped: list[str], planned: int,
                    started: float) -> None:
    """Run ``todo`` in forked workers; store each outcome as it arrives, in the parent."""
    global _WORKER_PLAN
    _WORKER_PLAN = todo
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker, initargs=(1,))
    try:
        for index, outcome, seconds, error in pool.imap_unordered(_run_in_worker, range(len(todo))):
            spec = todo[index]
            if error is not None:
                raise error
            store.put(study.name, spec.name, outcome.arrays, config=outcome.config, summary=outcome.summary,
                      status=outcome.status, seconds=seconds)
            ran.append(spec.name)
            if progress is not None:
                progress.run_finished(spec.name, seconds)
        pool.close()
    except KeyboardInterrupt:
        raise RunInterrupted(
            f"Study {study.name!r} interrupted: {len(ran) + len(skipped)} of {planned} runs are finished and kept "
            f"in {store.root}; run the same command with the same --out to resume.",
            partial=StudyResult(study.name, ran, skipped, time.perf_counter() - started),
        ) from None
    finally:
        pool.terminate()
        pool.join()
        _WORKER_PLAN = []
