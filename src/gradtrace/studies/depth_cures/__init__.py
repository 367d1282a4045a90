"""The depth-cures study (section 7): initialization, batch norm and residual connections for a vanishing gradient."""

from gradtrace.studies.depth_cures.config import QUICK, DepthCuresConfig  # noqa: F401 - QUICK for tests
from gradtrace.studies.depth_cures.study import DepthCures

__all__ = ["DepthCures", "DepthCuresConfig"]
