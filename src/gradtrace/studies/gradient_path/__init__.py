"""The gradient-path study: the recurrent network, its cost and one backward pass through time.

Its config, its runs, its claims, its measurements and (in ``figures``) its figures.
"""

from gradtrace.studies.gradient_path.config import QUICK, GradientPathConfig  # noqa: F401 - QUICK for tests
from gradtrace.studies.gradient_path.study import GradientPath

__all__ = ["GradientPath", "GradientPathConfig"]
