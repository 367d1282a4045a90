"""The descent study: batch, mini-batch and stochastic gradient descent on the same data.

Its config and keys (``config``), its runs (``study``), its claims (``claims``) and its figures (``figures``).
"""

from gradtrace.studies.descent.config import QUICK, VARIANTS, DescentConfig, Key
from gradtrace.studies.descent.study import Descent, dataset_of, divergence

__all__ = ["QUICK", "VARIANTS", "Descent", "DescentConfig", "Key", "dataset_of", "divergence"]
