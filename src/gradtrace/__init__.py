"""gradtrace: see, measure and fix vanishing and exploding gradients.

The public face of the library, used as ``import gradtrace as gt``::

    rnn = gt.ElmanRNN(2, 32, 1, num_models=4, seed=0)
    profile = gt.trace(rnn, gt.Adding(60).sample(64, seed=0))
    run = gt.fit(rnn, gt.Adding(60), steps=200, remedies=gt.remedies.clip_by_global_norm(1.0))

Every name below is importable from the root; the submodules (``gradtrace.models``,
``gradtrace.instruments``, ``gradtrace.train``...) keep working too. Names are loaded on first use,
so ``import gradtrace`` (and the ``gradtrace`` command's ``--help``) does not pay for torch,
matplotlib or the studies until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name → the module that defines it. One table: ``__all__``, ``__getattr__`` and ``__dir__``
# are all read from it.
_EXPORTS: dict[str, str] = {
    # training and measuring
    "fit": "gradtrace.train",
    "Run": "gradtrace.train",
    "trace": "gradtrace.instruments",
    "Trace": "gradtrace.instruments",
    "DepthTrace": "gradtrace.instruments",
    # models
    "ElmanRNN": "gradtrace.models",
    "LSTM": "gradtrace.models",
    "GRU": "gradtrace.models",
    "MLP": "gradtrace.models",
    "ESN": "gradtrace.models",
    "make_model": "gradtrace.models",
    # tasks
    "Adding": "gradtrace.tasks",
    "Batch": "gradtrace.tasks",
    "Blobs": "gradtrace.tasks",
    "Circles": "gradtrace.tasks",
    "CopyMemory": "gradtrace.tasks",
    "Forecast": "gradtrace.tasks",
    "FunctionFit": "gradtrace.tasks",
    "Latch": "gradtrace.tasks",
    "MackeyGlass": "gradtrace.tasks",
    "Spiral": "gradtrace.tasks",
    "Task": "gradtrace.tasks",
    "TemporalOrder": "gradtrace.tasks",
    "XOR": "gradtrace.tasks",
    "make_task": "gradtrace.tasks",
    # initialization
    "initialize": "gradtrace.models.initialization",
    "spectral_radius": "gradtrace.init",
    "scale_to_spectral_radius_": "gradtrace.init",
    # studies and their store
    "Store": "gradtrace.store",
    "Study": "gradtrace.studies",
    "run_study": "gradtrace.studies",
    "get_study": "gradtrace.studies",
    "load_study": "gradtrace.studies.declared",
    "DeclaredStudy": "gradtrace.studies.declared",
    # the doctor: the user's own models
    "diagnose": "gradtrace.doctor",
    "Diagnosis": "gradtrace.doctor",
    "treat": "gradtrace.doctor",
    "Treatment": "gradtrace.doctor",
    # errors
    "GradtraceError": "gradtrace.errors",
    "NonFiniteError": "gradtrace.errors",
    "OutOfMemoryError": "gradtrace.errors",
    "RunInterrupted": "gradtrace.errors",
    "StoreError": "gradtrace.errors",
}
# Subpackages reachable as attributes of the root (``gt.remedies.clip_by_global_norm``).
_SUBMODULES = ("doctor", "errors", "instruments", "models", "remedies", "studies", "tasks")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"gradtrace.{name}")
    else:
        raise AttributeError(f"module 'gradtrace' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    # The public names only: not the machinery of this module (importlib, TYPE_CHECKING, Any).
    return list(__all__)


if TYPE_CHECKING:  # for type checkers and editors; at run time the names load on first use
    from gradtrace import doctor, errors, instruments, models, remedies, studies, tasks
    from gradtrace.doctor import Diagnosis, Treatment, diagnose, treat
    from gradtrace.errors import GradtraceError, NonFiniteError, OutOfMemoryError, RunInterrupted, StoreError
    from gradtrace.init import scale_to_spectral_radius_, spectral_radius
    from gradtrace.instruments import DepthTrace, Trace, trace
    from gradtrace.models import ESN, GRU, LSTM, MLP, ElmanRNN, make_model
    from gradtrace.models.initialization import initialize
    from gradtrace.store import Store
    from gradtrace.studies import Study, get_study, run_study
    from gradtrace.studies.declared import DeclaredStudy, load_study
    from gradtrace.tasks import (
        XOR,
        Adding,
        Batch,
        Blobs,
        Circles,
        CopyMemory,
        Forecast,
        FunctionFit,
        Latch,
        MackeyGlass,
        Spiral,
        Task,
        TemporalOrder,
        make_task,
    )
    from gradtrace.train import Run, fit
