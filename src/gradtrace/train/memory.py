"""Out of memory during training: telling it from other failures, and wording what to shrink."""

from __future__ import annotations

import torch

from gradtrace.remedies import Truncation
from gradtrace.tasks.base import Task
from gradtrace.train.paths import GradientPath

__all__ = ["failure_line", "is_out_of_memory", "out_of_memory_message"]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says an allocation failed (CUDA, MPS or the CPU allocator)."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return "out of memory" in text.lower() or "can't allocate memory" in text


def failure_line(error: BaseException) -> str:
    """Return the first line of ``error``'s message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def out_of_memory_message(path: GradientPath, task: Task, *, phase: str, step: int, steps: int, batch_size: int,
                          truncation: Truncation | None, cause: str) -> str:
    """Word an out-of-memory failure: what ran, at which sizes, and what to shrink.

    Args:
        path: the model's gradient path, which names its sizes and what to shrink.
        task: the task trained on.
        phase: "training" or "evaluation".
        step: the step that failed (for an evaluation, the step it followed).
        steps: the run's number of steps.
        batch_size: the training batch when ``phase`` is "training", the held-out one when it is
            "evaluation".
        truncation: the run's truncation, None for full BPTT.
        cause: the allocator's own message, first line.

    Returns:
        The message, ending with where the partial run is kept.
    """
    name = "batch_size" if phase == "training" else "eval_batch_size"
    smaller = f"a smaller {name} (e.g. {max(1, batch_size // 2)})"
    if phase == "training":
        where = f"Out of memory at step {step} of {steps} ({cause})"
    else:
        where = f"Out of memory evaluating the held-out batch after step {step} ({cause})"
    sizes, advice = path.memory_wording(task, phase=phase, name=name, batch_size=batch_size, truncation=truncation,
                                        smaller=smaller)
    return f"{where}: {sizes}. {advice} The partial run is kept in `.partial`."
