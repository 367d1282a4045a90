"""Studies: grids of runs that tell the seeds' story, written to a run store."""

import os

from gradtrace.errors import check_choice
from gradtrace.store import Store
from gradtrace.studies.base import (
    MAX_SEEDS,
    MAX_WORKERS,
    Outcome,
    ProgressReporter,
    RunSpec,
    Study,
    StudyConfig,
    StudyResult,
    check_resume,
)
from gradtrace.studies.base import run_study as _run_study
from gradtrace.studies.claims import Claim, ClaimUnmeasured, Results, Verdict, evaluate_claims
from gradtrace.studies.executors import Executor, ExecutorError, LocalExecutor, RayExecutor
from gradtrace.studies.registry import STUDIES, study_class
from gradtrace.studies.summary import summarize, write_summary

__all__ = [
    "MAX_SEEDS",
    "MAX_WORKERS",
    "Claim",
    "ClaimUnmeasured",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "Outcome",
    "ProgressReporter",
    "RayExecutor",
    "Results",
    "RunSpec",
    "STUDIES",
    "Study",
    "StudyConfig",
    "StudyResult",
    "Verdict",
    "check_resume",
    "evaluate_claims",
    "get_study",
    "run_study",
    "study_class",
    "summarize",
    "write_summary",
]


def __getattr__(name: str):
    """Answer a study's class or config by name (``gradtrace.studies.Exploding``), importing its folder then."""
    from gradtrace.studies.registry import exported

    value = exported(name)
    if value is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return value


def get_study(name: str) -> Study:
    """Return the built-in study called ``name``."""
    return STUDIES[check_choice("study", name, STUDIES, what="study")]()


def run_study(study: Study | str, store: Store | str | os.PathLike, *, quick: bool = False, seeds: int | None = None,
              progress: ProgressReporter | None = None, workers: int = 1, executor: str | Executor = "local",
              address: str | None = None) -> StudyResult:
    """Run every planned run of ``study`` not yet finished in ``store``, resuming what is there.

    Args:
        study: a :class:`Study`, or the name of a built-in one (see :data:`STUDIES`), as ``gradtrace run``
            takes it.
        store: a :class:`~gradtrace.store.Store`, or the path of its folder (created if missing).
        quick, seeds, progress, workers, executor, address: as in :func:`gradtrace.studies.base.run_study`,
            which this calls.

    Returns:
        A :class:`StudyResult`.

    Raises:
        TypeError: if ``study`` is neither a Study nor a name, or ``store`` neither a Store nor a path.
        ValueError: for an unknown study name (listing the built-in ones), or as
            :func:`gradtrace.studies.base.run_study` raises.

    Example:
        >>> import tempfile
        >>> run_study("through-time", tempfile.mkdtemp(), quick=True, seeds=1).study
        'through-time'
    """
    if isinstance(study, str):
        study = get_study(study)
    return _run_study(study, store, quick=quick, seeds=seeds, progress=progress, workers=workers, executor=executor,
                      address=address)
