"""The through-time study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.through_time.config import QUICK, ThroughTimeConfig  # noqa: F401 - QUICK for tests
from gradtrace.studies.through_time.study import ThroughTime

__all__ = ["ThroughTime", "ThroughTimeConfig"]
