"""What one call of :func:`~gradtrace.train.fit` measured: the :class:`Run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradtrace.models.base import RecurrentModel
from gradtrace.models.mlp import MLP

__all__ = ["Run"]


@dataclass
class Run:
    """What :func:`~gradtrace.train.fit` measured, per member of the ensemble (K members).

    Attributes:
        config: the arguments of the run (JSON-serializable).
        steps_done: optimizer steps completed.
        status: "finished", "interrupted" (Ctrl-C) or "out_of_memory".
        history: arrays by metric key. ``step`` (n,) with ``train/loss`` and ``grad/norm`` (n, K);
            with a fixed dataset ``epoch`` (n,), the passes over it completed after each step;
            with ``on_nonfinite="skip"`` ``nonfinite/skipped`` (n, K), 1 where the member's update (or,
            with truncation, one of its updates) was dropped at that step for a NaN or infinity, else 0;
            ``eval/step`` (m,) with ``task/loss``, ``task/accuracy``, ``task/success`` (m, K).
        trace_steps: (s,) the steps at which the gradient profile was kept.
        trace_grad_norms: (s, K, T) ‖∂L/∂h_t‖ of the training batch at those steps; for an MLP
            (s, K, M) ‖∂L/∂h_l‖ per hidden layer.
        diverged_at: (K,) the step at which each member went non-finite and was frozen
            (``on_nonfinite="record"``), −1 if never.
        elapsed: (n,) wall-clock seconds from the start of training to the end of each step (kept out
            of ``history``, which the same seed reproduces bit for bit).
        final: the last evaluation, metric key → (K,).
        model: the trained model.
        skipped_steps: (K,) how many steps dropped some update of each member for a NaN or infinity
            (``on_nonfinite="skip"``; always 0 under the other policies). A member that was skipped
            every step never trained although its ``diverged_at`` is −1.
    """

    config: dict[str, Any]
    steps_done: int
    status: str
    history: dict[str, np.ndarray]
    trace_steps: np.ndarray
    trace_grad_norms: np.ndarray
    diverged_at: np.ndarray
    final: dict[str, np.ndarray]
    elapsed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: RecurrentModel | MLP | None = field(default=None, repr=False)
    skipped_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def num_models(self) -> int:
        """Ensemble size K."""
        return int(self.diverged_at.shape[0])

    @property
    def success_rate(self) -> float:
        """Fraction of members that solved the task at the last evaluation."""
        success = self.final.get("task/success")
        return float(np.mean(success)) if success is not None and success.size else float("nan")
