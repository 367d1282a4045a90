"""The builders of a declared study's runs: a table of the file in, a task, model or remedy out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradtrace.models import make_model
from gradtrace.models.initialization import initialize
from gradtrace.remedies import GradientTransform, chain, make_remedy
from gradtrace.tasks import Task, make_task

__all__ = ["build_model", "build_remedy", "build_task"]


def build_task(table: Mapping[str, Any]) -> Task:
    """Return ``make_task(type, **rest)`` of a ``[tasks.NAME]`` table."""
    options = dict(table)
    return make_task(options.pop("type"), **options)


def build_remedy(table: Mapping[str, Any] | None) -> tuple[GradientTransform | None, tuple | None]:
    """Return a ``[remedies.NAME]`` table as fit's ``(remedies, truncation)``: one of them, the other None.

    ``type = "truncation"`` (``k1``, ``k2``, optional ``last``) is fit's truncated BPTT; ``type = "chain"``
    (its ``remedies`` resolved to their tables) applies each in turn, any truncation among them going to fit;
    any other type is ``make_remedy(type, **rest)``; None (the built-in "none") is neither.
    """
    if table is None:
        return None, None
    options = dict(table)
    kind = options.pop("type")
    if kind == "chain":
        parts = [build_remedy(part) for part in options["remedies"]]
        transforms = [transform for transform, _ in parts if transform is not None]
        truncation = next((cut for _, cut in parts if cut is not None), None)
        return (chain(*transforms) if len(transforms) > 1 else (transforms or [None])[0]), truncation
    if kind == "truncation":
        return None, (options["k1"], options["k2"], *([options["last"]] if "last" in options else []))
    return make_remedy(kind, **options), None


def build_model(point: Any, task: Task, num_models: int):
    """Return the model of a run: its ``[models.NAME]`` table on ``task``'s sizes, initialized, W_rec rescaled.

    Args:
        point: the run (a :class:`~gradtrace.studies.declared.schema.Point`): its model table, init table and
            spectral radius, and its seed.
        task: the task, which gives the input and output sizes.
        num_models: the members (seeds).
    """
    options = dict(point.model)
    kind = options.pop("type")
    model = make_model(kind, input_size=task.input_size, output_size=task.output_size, num_models=num_models,
                       seed=point.seed, **options)
    if point.init is not None:
        init = dict(point.init)
        initialize(model, init.pop("scheme"), **init)
    if point.spectral_radius is not None:
        initialize(model, "spectral", radius=point.spectral_radius)
    return model
