"""Tasks: data generators with their trivial baseline and success criterion built in."""

from gradtrace.errors import check_choice
from gradtrace.tasks.adding import ADDING_VARIANTS, Adding
from gradtrace.tasks.base import LOSS_KINDS, Batch, Task, member_loss
from gradtrace.tasks.copy_memory import CopyMemory
from gradtrace.tasks.temporal_order import TemporalOrder

__all__ = [
    "ADDING_VARIANTS",
    "LOSS_KINDS",
    "TASKS",
    "Adding",
    "Batch",
    "CopyMemory",
    "Task",
    "TemporalOrder",
    "make_task",
    "member_loss",
]

#: Task classes by name.
TASKS: dict[str, type[Task]] = {
    "adding": Adding,
    "copy_memory": CopyMemory,
    "temporal_order": TemporalOrder,
}


def make_task(name: str, **params) -> Task:
    """Build a task by name, e.g. ``make_task("adding", length=50, variant="sum")``.

    Raises:
        ValueError: for an unknown name, listing the available ones.
        TypeError: for a parameter the task does not take.
    """
    cls = TASKS[check_choice("task", name, TASKS, what="task")]
    try:
        return cls(**params)
    except TypeError as error:
        import dataclasses

        valid = ", ".join(f.name for f in dataclasses.fields(cls))
        raise TypeError(f"Task {name!r} got invalid parameters {sorted(params)}; it takes: {valid}.") from error
