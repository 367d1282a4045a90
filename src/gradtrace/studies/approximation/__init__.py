"""The approximation study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.approximation.config import QUICK, ApproximationConfig
from gradtrace.studies.approximation.study import Approximation, network_label

__all__ = ["QUICK", "Approximation", "ApproximationConfig", "network_label"]
