"""Errors raised by gradtrace, and the helpers that word them.

Wrong arguments raise the built-in ``TypeError``/``ValueError`` with a message that names the
argument, what was expected and what came. Failures of the science or the machinery (a diverged
run, a corrupt store, a full disk) raise a :class:`GradtraceError` subclass.

Ctrl-C is not a failure: it raises :class:`RunInterrupted`, a ``KeyboardInterrupt`` (not an
``Exception``), so a user's ``except Exception:`` around ``fit`` in a sweep still stops on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_SEED",
    "ConfigError",
    "GradtraceError",
    "NonFiniteError",
    "OutOfMemoryError",
    "RunInterrupted",
    "StoreError",
    "check_choice",
    "check_int",
    "check_real",
    "check_seed",
    "check_shape",
    "describe",
]


#: The largest seed a torch generator is given: seeds are kept to signed 64-bit integers.
MAX_SEED = 2**63 - 1


class GradtraceError(Exception):
    """Base class of the domain failures gradtrace reports."""


class ConfigError(GradtraceError, ValueError, TypeError):
    """A study's config is invalid: an unknown key (the message lists the valid ones) or a value of the wrong type.

    It is a ``ValueError`` and a ``TypeError`` too, so code that caught the old validation errors still does.
    """


class NonFiniteError(GradtraceError):
    """A loss or a gradient became NaN or infinite under the policy ``on_nonfinite="raise"``."""

    def __init__(self, message: str, *, step: int, members: list[int]):
        super().__init__(message)
        self.step = step
        self.members = members

    def __reduce__(self):
        # Its keywords travel too: a run in a worker process (forked or Ray) raises it back to the driver.
        return _rebuild_non_finite, (str(self), self.step, self.members)


def _rebuild_non_finite(message: str, step: int, members: list[int]) -> NonFiniteError:
    return NonFiniteError(message, step=step, members=members)


class RunInterrupted(KeyboardInterrupt):
    """Training or a study was interrupted (Ctrl-C); ``partial`` holds what was finished.

    It is a ``KeyboardInterrupt``, and deliberately not a :class:`GradtraceError` (an ``Exception``):
    a sweep that guards each run with ``except Exception:`` must still stop when the user presses
    Ctrl-C. Catch it by name to keep ``partial``; code that handles ``KeyboardInterrupt`` (the
    interpreter's default included) handles it too. An ``except`` for both must name this one first.

    Example:
        >>> try:
        ...     raise RunInterrupted("stopped", partial={"steps": 3})
        ... except Exception:
        ...     print("a failure")
        ... except KeyboardInterrupt as error:
        ...     print("interrupted", error.partial)
        interrupted {'steps': 3}
    """

    def __init__(self, message: str, *, partial: Any = None):
        super().__init__(message)
        self.partial = partial


class OutOfMemoryError(GradtraceError, MemoryError):
    """Training ran out of memory; ``partial`` holds the run up to the last completed step.

    It is a domain failure (the sizes asked for do not fit the machine, and the message says which
    to shrink) and a ``MemoryError``, so code that already handles running out of memory catches it.
    ``step`` is the step that did not complete.
    """

    def __init__(self, message: str, *, step: int, partial: Any = None):
        super().__init__(message)
        self.step = step
        self.partial = partial


class StoreError(GradtraceError):
    """The run store on disk is missing, unreadable or inconsistent."""


def describe(value: Any) -> str:
    """Return a short, readable description of ``value`` for an error message."""
    shape = getattr(value, "shape", None)
    # A class such as numpy.float32 has `shape` and `dtype` too, as descriptors: describe the class.
    if shape is not None and hasattr(value, "dtype") and not isinstance(value, type):
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_choice(name: str, value: Any, choices: Iterable[Any], *, what: str = "") -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``; return it.

    Example:
        >>> check_choice("activation", "tanh", ["tanh", "relu"])
        'tanh'
    """
    options = list(choices)
    if value not in options:
        label = what or name
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"Unknown {label} {value!r} for `{name}`. Available: {listed}.")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Raise unless ``value`` is an integer in ``[minimum, maximum]``; return it as ``int``.

    Example:
        >>> check_int("hidden_size", 8, minimum=1)
        8
    """
    if isinstance(value, bool) or not isinstance(value, int):
        is_integral = hasattr(value, "__index__") and not isinstance(value, bool)
        if not is_integral:
            raise TypeError(f"`{name}` must be an integer, got {describe(value)}.")
        value = int(value)
    _check_range(name, value, minimum, maximum)
    return value


def check_real(
    name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """Raise unless ``value`` is a finite real number in range; return it as ``float``.

    Example:
        >>> check_real("lr", 0.01, minimum=0.0, exclusive_minimum=True)
        0.01
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}.")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"`{name}` must be finite, got {value}.")
    if exclusive_minimum and minimum is not None and value <= minimum:
        raise ValueError(f"`{name}` must be greater than {minimum}, got {value}.")
    _check_range(name, value, minimum, maximum)
    return value


def check_seed(value: Any, *, members: int = 1, name: str = "seed") -> int:
    """Raise unless ``value`` is a seed every member's generator can take; return it as ``int``.

    Member k of an ensemble draws from a generator seeded ``seed + k``, so the largest seed of K
    members is ``MAX_SEED - (K - 1)``.

    Example:
        >>> check_seed(0, members=4)
        0
    """
    top = MAX_SEED - (members - 1)
    value = check_int(name, value)
    if not 0 <= value <= top:
        why = (f"2**63 - 1 less {members - 1}, as member k of {members} draws from `{name}` + k" if members > 1
               else "2**63 - 1")
        bound = "at least 0" if value < 0 else f"at most {top}"
        raise ValueError(f"`{name}` must be {bound}, got {value}; the valid range is [0, {top}] ({why}).")
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {value}.")


def check_shape(name: str, tensor: Any, expected: str, ok: bool) -> None:
    """Raise ``ValueError`` naming ``expected`` (e.g. ``"(B, T, 2)"``) when ``ok`` is false."""
    if not ok:
        raise ValueError(f"`{name}` must have shape {expected}, got {describe(tensor)}.")
