"""Tasks: data generators with their trivial baseline and success criterion built in."""

import dataclasses

from gradtrace.errors import check_choice
from gradtrace.tasks.adding import ADDING_VARIANTS, Adding
from gradtrace.tasks.base import LOSS_KINDS, Batch, Task, member_loss
from gradtrace.tasks.copy_memory import CopyMemory
from gradtrace.tasks.forecast import FORECAST_SERIES, FORECAST_SPLITS, Forecast, price_series
from gradtrace.tasks.functions import FIT_FUNCTIONS, FunctionFit
from gradtrace.tasks.latch import Latch
from gradtrace.tasks.mackey_glass import MackeyGlass, mackey_glass, nrmse
from gradtrace.tasks.temporal_order import TemporalOrder
from gradtrace.tasks.toy2d import SPIRAL_START_RADIUS, Blobs, Circles, Spiral
from gradtrace.tasks.xor import XOR

__all__ = [
    "ADDING_VARIANTS",
    "FIT_FUNCTIONS",
    "FORECAST_SERIES",
    "FORECAST_SPLITS",
    "LOSS_KINDS",
    "SPIRAL_START_RADIUS",
    "TASKS",
    "XOR",
    "Adding",
    "Batch",
    "Blobs",
    "Circles",
    "CopyMemory",
    "Forecast",
    "FunctionFit",
    "Latch",
    "MackeyGlass",
    "Spiral",
    "Task",
    "TemporalOrder",
    "mackey_glass",
    "make_task",
    "member_loss",
    "nrmse",
    "price_series",
]

#: Task classes by name.
TASKS: dict[str, type[Task]] = {
    "adding": Adding,
    "copy_memory": CopyMemory,
    "latch": Latch,
    "temporal_order": TemporalOrder,
    "mackey_glass": MackeyGlass,
    "forecast": Forecast,
    "xor": XOR,
    "circles": Circles,
    "spiral": Spiral,
    "blobs": Blobs,
    "function_fit": FunctionFit,
}


def make_task(name: str, **params) -> Task:
    """Build a task by name, e.g. ``make_task("adding", length=50, variant="sum")``.

    Raises:
        ValueError: for an unknown name, listing the available ones.
        TypeError: for a parameter the task does not take.
    """
    cls = TASKS[check_choice("task", name, TASKS, what="task")]
    # Check the names here rather than catching TypeError from the constructor, which would also
    # swallow (and misword) the TypeError a valid parameter of the wrong type raises.
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise TypeError(f"Task {name!r} got invalid parameters {unknown}; it takes: {', '.join(valid)}.")
    return cls(**params)
