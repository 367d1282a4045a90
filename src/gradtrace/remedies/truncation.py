"""Truncated back-propagation through time: every k1 steps, back-propagate k2 steps.

Full BPTT sends every error back to the first step, through as many Jacobians as there are steps;
the cost and memory grow with T and a long product can explode. Truncation bounds both: the
sequence is cut into chunks of k1 steps; after each chunk the weights are updated from the chunk's
errors, back-propagated at most k2 steps from the chunk's end, and the hidden state is carried
forward detached. The price is that dependencies longer than k2 steps cannot be learned.

When k1 does not divide T the last chunk is shorter than k1, and there are two ways to treat it
(``Truncation(..., last=...)``, see ``LAST_CHUNK``). With k1 = k2 = k, the usual chunked loop is

    h = h_0
    for c in range(0, T, k):                # chunks [c, min(c + k, T)); the last one is shorter
        h = h.detach()                      # no gradient flows back into an earlier chunk
        loss, h = run(c, min(c + k, T), h)  # the chunk's steps from h: its loss and its last state
        loss.backward(); optimizer.step()

which is ``last="shorter"``. ``last="overlap"`` instead back-propagates the last chunk a full k2 steps:
it restarts from the state kept k2 steps before the sequence's end and re-runs the previous chunk's
last steps with the weights as they are now, after that chunk's update, so its states there differ
from the ones that chunk computed; only the last chunk's own errors count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradtrace.errors import check_choice, check_int, describe

__all__ = ["LAST_CHUNK", "Truncation", "Window", "as_truncation"]

#: How a window ends that is shorter than k1 (the last one when k1 does not divide T).
#: "overlap" (the default, gradtrace's behavior before the option existed) back-propagates k2 steps
#: from the sequence's end like every full window, re-running the steps before the short chunk with
#: the current weights; "shorter" is the usual chunked loop: the short window reaches no further
#: before its chunk than a full one does (k2 − k1 steps when k2 > k1, else none).
LAST_CHUNK = ("overlap", "shorter")


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

    With k1 = k2 ≥ T there is one window covering the sequence, which is exactly full BPTT. When k1
    divides T every window is a full one and ``last`` changes nothing. When it does not, the last
    chunk is T mod k1 steps long and ``last`` says how far back its gradient goes (see ``LAST_CHUNK``
    and the module's docstring for the usual chunked loop):

    - "overlap" (default): k2 steps from the sequence's end, like every full window. With k1 = k2 = k
      the last window starts at T − k, inside the previous chunk: those steps are run again with the
      weights that chunk's update made, from the state the previous chunk computed with the weights
      before it.
    - "shorter": the usual loop. With k2 ≤ k1 the last window back-propagates its own
      min(k2, T mod k1) steps and nothing before; with k2 > k1 it also reaches k2 − k1 steps before
      its chunk, as every full window does.

    Attributes:
        k1: steps between updates (chunk length), ≥ 1.
        k2: steps the gradient travels back from the end of each full chunk, ≥ 1.
        last: "overlap" or "shorter", how the short last chunk is back-propagated.

    Example:
        >>> [(w.chunk_start, w.grad_start, w.end) for w in Truncation(4, 6).windows(10)]
        [(0, 0, 4), (4, 2, 8), (8, 4, 10)]
        >>> [(w.chunk_start, w.grad_start, w.end) for w in Truncation(4, 4, last="shorter").windows(10)]
        [(0, 0, 4), (4, 4, 8), (8, 8, 10)]
        >>> [(w.chunk_start, w.grad_start, w.end) for w in Truncation(4, 4).windows(10)]
        [(0, 0, 4), (4, 4, 8), (8, 6, 10)]

    References:
        Williams & Peng 1990, "An efficient gradient-based algorithm for on-line training of
        recurrent network trajectories"; Sutskever 2013, PhD thesis, section 2.8.6.
    """

    k1: int
    k2: int
    # The behavior before the option existed, so that results recorded with (k1, k2) do not change.
    last: str = "overlap"

    def __post_init__(self) -> None:
        check_int("truncation k1", self.k1, minimum=1)
        check_int("truncation k2", self.k2, minimum=1)
        check_choice("truncation last", self.last, LAST_CHUNK, what="treatment of the last chunk")

    def windows(self, length: int) -> list[Window]:
        """Return the updates over a sequence of ``length`` steps, in order."""
        length = check_int("length", length, minimum=1)
        # How far before its chunk a full window's gradient reaches (k2 − k1 steps when k2 > k1).
        reach_before = max(0, self.k2 - self.k1)
        result = []
        for chunk_start in range(0, length, self.k1):
            end = min(chunk_start + self.k1, length)
            grad_start = max(0, end - self.k2)
            if self.last == "shorter":
                # Equal to end − k2 for a full chunk; a short one reaches back no further than a full one.
                grad_start = max(grad_start, chunk_start - reach_before)
            result.append(Window(chunk_start, grad_start, end))
        return result

    def is_full(self, length: int) -> bool:
        """Whether this truncation is plain BPTT for sequences of ``length`` steps."""
        return self.k1 >= length and self.k2 >= length

    def describe(self) -> str:
        last = "" if self.last == "overlap" else f", last={self.last!r}"
        return f"TBPTT(k1={self.k1}, k2={self.k2}{last})"


def as_truncation(value: Truncation | Sequence[int | str] | None) -> Truncation | None:
    """Accept ``(k1, k2)``, ``(k1, k2, last)``, a :class:`Truncation` or None (full BPTT).

    Raises:
        TypeError: for anything else, or a step count that is not an integer.
        ValueError: for a step count below 1 or an unknown ``last`` (the message lists the choices).
    """
    if value is None or isinstance(value, Truncation):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) in (2, 3):
        return Truncation(*value)
    raise TypeError("`truncation` must be a pair (k1, k2) of step counts, a triple (k1, k2, last) with last one of "
                    f"{', '.join(repr(c) for c in LAST_CHUNK)}, a Truncation or None, got {describe(value)}.")
