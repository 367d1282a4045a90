"""The through-depth study (section 5): σ′ ≤ 1/4 bounds a sigmoid network's gradient through depth."""

from gradtrace.studies.through_depth.config import QUICK, ThroughDepthConfig  # noqa: F401 - QUICK for tests
from gradtrace.studies.through_depth.study import ThroughDepth

__all__ = ["ThroughDepth", "ThroughDepthConfig"]
