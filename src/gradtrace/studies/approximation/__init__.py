"""The approximation study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.approximation.study import *  # noqa: F403
from gradtrace.studies.approximation.study import (
    QUICK,  # noqa: F401, E402 - the smoke test's config, for tests
    __all__,  # noqa: F401
)
