"""Studies: grids of runs that tell the seeds' story, written to a run store."""

import os

from gradtrace.errors import check_choice
from gradtrace.store import Store
from gradtrace.studies.activations import Activations, ActivationsConfig
from gradtrace.studies.approximation import Approximation, ApproximationConfig
from gradtrace.studies.base import (
    MAX_SEEDS,
    MAX_WORKERS,
    Outcome,
    ProgressReporter,
    RunSpec,
    Study,
    StudyResult,
    check_resume,
)
from gradtrace.studies.base import run_study as _run_study
from gradtrace.studies.bengio1994 import Bengio1994, Bengio1994Config
from gradtrace.studies.claims import Claim, ClaimUnmeasured, Results, Verdict, evaluate_claims
from gradtrace.studies.descent import Descent, DescentConfig
from gradtrace.studies.dying_relu import DyingRelu, DyingReluConfig
from gradtrace.studies.dynamics import Dynamics, DynamicsConfig
from gradtrace.studies.exploding import Exploding, ExplodingConfig
from gradtrace.studies.forecast import ForecastConfig, ForecastStudy
from gradtrace.studies.glorot2010 import Glorot2010, Glorot2010Config
from gradtrace.studies.hochreiter1997 import Hochreiter1997, Hochreiter1997Config
from gradtrace.studies.jaeger2001 import Jaeger2001, Jaeger2001Config
from gradtrace.studies.le2015 import Le2015, Le2015Config
from gradtrace.studies.long_range import LongRange, LongRangeConfig
from gradtrace.studies.pascanu2013 import Pascanu2013, Pascanu2013Config
from gradtrace.studies.remedies import Remedies, RemediesConfig
from gradtrace.studies.summary import summarize, write_summary
from gradtrace.studies.through_depth import ThroughDepth, ThroughDepthConfig
from gradtrace.studies.through_time import ThroughTime, ThroughTimeConfig

__all__ = [
    "Activations",
    "ActivationsConfig",
    "Approximation",
    "ApproximationConfig",
    "Descent",
    "DescentConfig",
    "DyingRelu",
    "DyingReluConfig",
    "Dynamics",
    "DynamicsConfig",
    "DEFAULT_QUICK",
    "MAX_SEEDS",
    "MAX_WORKERS",
    "DEFAULT_STUDY",
    "Bengio1994",
    "Bengio1994Config",
    "Claim",
    "ClaimUnmeasured",
    "Exploding",
    "ForecastConfig",
    "ForecastStudy",
    "Glorot2010",
    "Glorot2010Config",
    "ExplodingConfig",
    "Hochreiter1997",
    "Hochreiter1997Config",
    "STUDIES",
    "Jaeger2001",
    "Jaeger2001Config",
    "Le2015",
    "Le2015Config",
    "LongRange",
    "LongRangeConfig",
    "Outcome",
    "Pascanu2013",
    "Pascanu2013Config",
    "ProgressReporter",
    "Results",
    "Remedies",
    "RemediesConfig",
    "RunSpec",
    "Study",
    "StudyResult",
    "ThroughDepth",
    "ThroughDepthConfig",
    "ThroughTime",
    "ThroughTimeConfig",
    "Verdict",
    "check_resume",
    "evaluate_claims",
    "get_study",
    "run_study",
    "summarize",
    "write_summary",
]

#: Built-in studies by name.
STUDIES: dict[str, type[Study]] = {
    "through-time": ThroughTime,
    "long-range": LongRange,
    "exploding": Exploding,
    "remedies": Remedies,
    "jaeger2001": Jaeger2001,
    "pascanu2013": Pascanu2013,
    "bengio1994": Bengio1994,
    "hochreiter1997": Hochreiter1997,
    "le2015": Le2015,
    "activations": Activations,
    "through-depth": ThroughDepth,
    "glorot2010": Glorot2010,
    "dying-relu": DyingRelu,
    "approximation": Approximation,
    "descent": Descent,
    "forecast": ForecastStudy,
    "dynamics": Dynamics,
}
#: What ``gradtrace run`` runs with no argument, in order.
DEFAULT_STUDY: tuple[str, ...] = ("through-time", "long-range", "remedies", "through-depth")
#: Studies the default run takes in their quick form, to keep it to a few minutes on a laptop.
DEFAULT_QUICK: frozenset[str] = frozenset({"remedies", "through-depth"})


def get_study(name: str) -> Study:
    """Return the built-in study called ``name``."""
    return STUDIES[check_choice("study", name, STUDIES, what="study")]()


def run_study(study: Study | str, store: Store | str | os.PathLike, *, quick: bool = False, seeds: int | None = None,
              progress: ProgressReporter | None = None, workers: int = 1) -> StudyResult:
    """Run every planned run of ``study`` not yet finished in ``store``, resuming what is there.

    Args:
        study: a :class:`Study`, or the name of a built-in one (see :data:`STUDIES`), as ``gradtrace run``
            takes it.
        store: a :class:`~gradtrace.store.Store`, or the path of its folder (created if missing).
        quick, seeds, progress, workers: as in :func:`gradtrace.studies.base.run_study`, which this calls.

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
    return _run_study(study, store, quick=quick, seeds=seeds, progress=progress, workers=workers)
