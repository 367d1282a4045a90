"""The dynamics study: steady state, oscillation and chaos of an autonomous tanh RNN, and its Lyapunov exponent.

``config`` holds its config and the keys its runs share with ``claims`` and ``figures``; ``study`` its runs.
"""

from gradtrace.studies.dynamics.claims import crossing_gain
from gradtrace.studies.dynamics.config import (  # noqa: F401 - QUICK, Key and Network for tests and figures
    QUICK,
    REGIMES,
    DynamicsConfig,
    Key,
    Network,
)
from gradtrace.studies.dynamics.study import (
    Dynamics,
    mean_field_lyapunov_exponent,
    random_recurrent_weights,
    rotation_weights,
)

__all__ = [
    "REGIMES",
    "Dynamics",
    "DynamicsConfig",
    "crossing_gain",
    "mean_field_lyapunov_exponent",
    "random_recurrent_weights",
    "rotation_weights",
]
