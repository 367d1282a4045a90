"""Studies: grids of runs that tell the seeds' story, written to a run store."""

from gradtrace.errors import check_choice
from gradtrace.studies.base import Outcome, ProgressReporter, RunSpec, Study, StudyResult, run_study
from gradtrace.studies.long_range import LongRange, LongRangeConfig
from gradtrace.studies.through_time import ThroughTime, ThroughTimeConfig

__all__ = [
    "DEFAULT_STUDY",
    "STUDIES",
    "LongRange",
    "LongRangeConfig",
    "Outcome",
    "ProgressReporter",
    "RunSpec",
    "Study",
    "StudyResult",
    "ThroughTime",
    "ThroughTimeConfig",
    "get_study",
    "run_study",
]

#: Built-in studies by name.
STUDIES: dict[str, type[Study]] = {"through-time": ThroughTime, "long-range": LongRange}
#: What ``gradtrace run`` runs with no argument.
DEFAULT_STUDY: tuple[str, ...] = ("through-time", "long-range")


def get_study(name: str) -> Study:
    """Return the built-in study called ``name``."""
    return STUDIES[check_choice("study", name, STUDIES, what="study")]()
