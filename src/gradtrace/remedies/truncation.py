"""Truncated back-propagation through time: every k1 steps, back-propagate k2 steps.

Full BPTT sends every error back to the first step, through as many Jacobians as there are steps;
the cost and memory grow with T and a long product can explode. Truncation bounds both: the
sequence is cut into chunks of k1 steps; after each chunk the weights are updated from the chunk's
errors, back-propagated at most k2 steps from the chunk's end, and the hidden state is carried
forward detached. The price is that dependencies longer than k2 steps cannot be learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradtrace.errors import check_int, describe

__all__ = ["Truncation", "Window", "as_truncation"]


@dataclass(frozen=True)
class Window:
    """One update of truncated BPTT over steps [start, end) of a sequence.

    Attributes:
        chunk_start: first step whose error this update uses; errors on [chunk_start, end) count.
        grad_start: first step the gradient reaches (back-propagation covers [grad_start, end)).
            Below ``chunk_start`` when k2 > k1: the steps [grad_start, end) are re-run with the
            current weights from the state kept at ``grad_start``, and the states this produces for
            the chunk's own steps are the ones carried on. Above it when k2 < k1: the chunk's first
            steps run without gradient, so their errors train only the readout.
        end: one past the chunk's last step.
    """

    chunk_start: int
    grad_start: int
    end: int


@dataclass(frozen=True)
class Truncation:
    """TBPTT(k1, k2) in Williams & Peng's sense: an update every ``k1`` steps, ``k2`` steps back.

    With k1 = k2 ≥ T there is one window covering the sequence, which is exactly full BPTT.

    Attributes:
        k1: steps between updates (chunk length), ≥ 1.
        k2: steps the gradient travels back from the end of each chunk, ≥ 1.

    Example:
        >>> [(w.chunk_start, w.grad_start, w.end) for w in Truncation(4, 6).windows(10)]
        [(0, 0, 4), (4, 2, 8), (8, 4, 10)]

    References:
        Williams & Peng 1990, "An efficient gradient-based algorithm for on-line training of
        recurrent network trajectories"; Sutskever 2013, PhD thesis, section 2.8.6.
    """

    k1: int
    k2: int

    def __post_init__(self) -> None:
        check_int("truncation k1", self.k1, minimum=1)
        check_int("truncation k2", self.k2, minimum=1)

    def windows(self, length: int) -> list[Window]:
        """Return the updates over a sequence of ``length`` steps, in order."""
        length = check_int("length", length, minimum=1)
        result = []
        for chunk_start in range(0, length, self.k1):
            end = min(chunk_start + self.k1, length)
            result.append(Window(chunk_start, max(0, end - self.k2), end))
        return result

    def is_full(self, length: int) -> bool:
        """Whether this truncation is plain BPTT for sequences of ``length`` steps."""
        return self.k1 >= length and self.k2 >= length

    def describe(self) -> str:
        return f"TBPTT(k1={self.k1}, k2={self.k2})"


def as_truncation(value: Truncation | Sequence[int] | None) -> Truncation | None:
    """Accept ``(k1, k2)``, a :class:`Truncation` or None (full BPTT)."""
    if value is None or isinstance(value, Truncation):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) == 2:
        return Truncation(*value)
    raise TypeError(f"`truncation` must be a pair (k1, k2) of step counts or None, got {describe(value)}.")
