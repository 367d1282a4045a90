"""The course: what ``gradtrace run`` runs with no argument, one study per section, in the course notes' order.

Each section is a built-in study at its default config, sized so that its claims hold in the course's budget
(the whole course within 5 minutes on 2 CPU cores). The classic papers' studies are not part of it: each runs
as its own command.
"""

from __future__ import annotations

from gradtrace.studies.registry import STUDIES

__all__ = ["COURSE", "course_order", "course_studies"]

#: The course's studies, in order.
COURSE: tuple[str, ...] = (
    "gradient-path",
    "through-time",
    "exploding",
    "vanishing",
    "through-depth",
    "dying-relu",
    "depth-cures",
    "approximation",
    "descent",
    "dynamics",
    "forecast",
)


def course_studies() -> list[str]:
    """Return the course's study names, checking each is a built-in study (a missing one is a packaging bug)."""
    missing = [name for name in COURSE if name not in STUDIES]
    if missing:
        raise RuntimeError(f"The course names studies that are not built in: {', '.join(missing)}.")
    return list(COURSE)


def course_order(name: str) -> tuple[int, int, str]:
    """Sort key of a study in a report or summary: the course's sections in order, then the other built-in studies
    in the registry's order, then any other study by name."""
    if name in COURSE:
        return (0, COURSE.index(name), name)
    if name in STUDIES:
        return (1, list(STUDIES).index(name), name)
    return (2, 0, name)
