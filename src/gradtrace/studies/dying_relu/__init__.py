"""The dying-relu study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.dying_relu.study import *  # noqa: F403
from gradtrace.studies.dying_relu.study import (
    QUICK,  # noqa: F401, E402 - the smoke test's config, for tests
    __all__,  # noqa: F401
)
