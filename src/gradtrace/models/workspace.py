"""Reused scratch buffers for the hand-written BPTT (:mod:`gradtrace.models.bptt`).

A training step of the hand-written BPTT needs several sequence-sized buffers (K, T, B, ·) that never
leave it: the gate values the forward keeps for the backward, the backward's error-independent
factors, the errors when no probe asks for them. Freshly allocated, each is new memory from the
system at these sizes, and touching it the first time (page faults) costs more than the time loop
that fills it. Here they come from a pool, keyed by shape, dtype and device, and go back to it only
when nothing can read them any more:

* a buffer the forward saves for the backward is held by a :class:`Lease` stored on the autograd
  context, and goes back when the context is freed (after the backward, unless the graph is retained;
  or when the outputs are dropped without one), so two graphs in flight never share one;
* a buffer the backward uses alone goes back when the backward returns (``with Lease() as lease``).

Only internal buffers are leased: nothing returned to autograd or to the caller (states, probe
gradients, input gradients) ever comes from the pool, so no returned tensor is overwritten by a later
step. A buffer made under ``torch.inference_mode()`` is an inference tensor, which no later step outside
that mode may write: it is freed rather than pooled. The pool keeps at most :data:`MAX_BYTES` in all;
:func:`clear` empties it.
"""

from __future__ import annotations

import threading

import torch

__all__ = ["MAX_BYTES", "Lease", "clear", "pooled_bytes"]

#: The most memory the pool keeps between steps; a buffer that would exceed it is freed instead.
MAX_BYTES = 512 * 2**20

# Reentrant: a Lease collected by the garbage collector while this thread holds the lock releases too.
_lock = threading.RLock()
_free: dict[tuple, list[torch.Tensor]] = {}
_state = {"bytes": 0}


def _key(shape: tuple[int, ...], like: torch.Tensor) -> tuple:
    return (tuple(shape), like.dtype, like.device)


class Lease:
    """Buffers taken from the pool, all returned together by :meth:`release` (or on garbage collection)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: list[torch.Tensor] = []

    def empty(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Return a contiguous uninitialized buffer of ``shape`` with ``like``'s dtype and device."""
        buffer = None
        with _lock:
            stack = _free.get(_key(shape, like))
            if stack:
                buffer = stack.pop()
                _state["bytes"] -= buffer.nbytes
        if buffer is None:
            buffer = like.new_empty(shape)
        self._held.append(buffer)
        return buffer

    def release(self) -> None:
        """Give every buffer back to the pool (they must not be read or written afterwards)."""
        held, self._held = self._held, []
        with _lock:
            for buffer in held:
                if not buffer.is_inference() and _state["bytes"] + buffer.nbytes <= MAX_BYTES:
                    _free.setdefault(_key(buffer.shape, buffer), []).append(buffer)
                    _state["bytes"] += buffer.nbytes

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def __del__(self) -> None:
        if self._held and _lock is not None:  # None while the interpreter shuts down: nothing to keep
            self.release()


def clear() -> None:
    """Free every pooled buffer."""
    with _lock:
        _free.clear()
        _state["bytes"] = 0


def pooled_bytes() -> int:
    """How many bytes the pool keeps now."""
    return _state["bytes"]
