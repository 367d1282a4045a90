"""The dying-ReLU study: units a large step or a negative bias switches off, dead for ReLU, alive for its variants.

``config`` holds its config and the keys its runs share with ``claims`` and ``figures``; ``monitor`` the
instrument that tells dead units from inactive ones; ``study`` its runs.
"""

from gradtrace.studies.dying_relu.config import (  # noqa: F401 - QUICK, Condition and Key for tests and figures
    COMPARED_ACTIVATIONS,
    CONDITIONS,
    QUICK,
    Condition,
    DyingReluConfig,
    Key,
)
from gradtrace.studies.dying_relu.monitor import UnitMonitor
from gradtrace.studies.dying_relu.study import DyingRelu

__all__ = ["COMPARED_ACTIVATIONS", "CONDITIONS", "DyingRelu", "DyingReluConfig", "UnitMonitor"]
