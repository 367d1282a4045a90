"""The built-in studies, by name: one line each, the study's folder imported when it is first asked for.

Adding a study touches its folder (``gradtrace/studies/<package>/``: config, runs, claims, figures) and one line
of :data:`_REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["STUDIES", "exported", "study_class"]

# name -> (package under gradtrace.studies, class name). The course's studies first, in the course's order.
_REGISTRY: dict[str, tuple[str, str]] = {
    "gradient-path": ("gradient_path", "GradientPath"),
    "through-time": ("through_time", "ThroughTime"),
    "exploding": ("exploding", "Exploding"),
    "vanishing": ("vanishing", "Vanishing"),
    "through-depth": ("through_depth", "ThroughDepth"),
    "depth-cures": ("depth_cures", "DepthCures"),
    "dying-relu": ("dying_relu", "DyingRelu"),
    "approximation": ("approximation", "Approximation"),
    "descent": ("descent", "Descent"),
    "dynamics": ("dynamics", "Dynamics"),
    "forecast": ("forecast", "ForecastStudy"),
    "long-range": ("long_range", "LongRange"),
    "activations": ("activations", "Activations"),
    "jaeger2001": ("jaeger2001", "Jaeger2001"),
    "pascanu2013": ("pascanu2013", "Pascanu2013"),
    "bengio1994": ("bengio1994", "Bengio1994"),
    "hochreiter1997": ("hochreiter1997", "Hochreiter1997"),
    "le2015": ("le2015", "Le2015"),
    "glorot2010": ("glorot2010", "Glorot2010"),
}


def study_class(name: str) -> type:
    """Return the class of the built-in study ``name``, importing its folder.

    Raises:
        KeyError: if no built-in study has that name.
    """
    package, class_name = _REGISTRY[name]
    return getattr(importlib.import_module(f"gradtrace.studies.{package}"), class_name)


class _Studies(Mapping):
    """The built-in studies' classes by name, in the registry's order; a study's folder is imported on first use."""

    def __getitem__(self, name: str) -> type:
        if name not in _REGISTRY:
            raise KeyError(name)
        return study_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __repr__(self) -> str:
        return f"STUDIES({', '.join(_REGISTRY)})"


#: Built-in studies by name.
STUDIES: Mapping[str, type] = _Studies()


def exported(attribute: str) -> Any:
    """Return the public ``attribute`` (a study class, its config …) of whichever study folder exports it, else None."""
    for package, _ in _REGISTRY.values():
        module = importlib.import_module(f"gradtrace.studies.{package}")
        if attribute in getattr(module, "__all__", ()):
            return getattr(module, attribute)
    return None


def figures_module(study: Any) -> Any:
    """Return the ``figures`` module of a study (its class or an instance), or None when it has none.

    A study whose figures depend on the instance (a declared one, drawn from its own file) has a ``draw(store,
    lang)`` method: the instance itself is returned, and the report calls it as it calls a module's ``draw``.
    """
    if not isinstance(study, type) and callable(getattr(study, "draw", None)):
        return study
    cls = study if isinstance(study, type) else type(study)
    package = cls.__module__.rsplit(".", 1)[0]
    try:
        return importlib.import_module(f"{package}.figures")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.figures":
            raise
        return None
