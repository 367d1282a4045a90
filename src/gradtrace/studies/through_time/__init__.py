"""The through-time study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.through_time.study import *  # noqa: F403
from gradtrace.studies.through_time.study import (
    QUICK,  # noqa: F401, E402 - the smoke test's config, for tests
    __all__,  # noqa: F401
)
