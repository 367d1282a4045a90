"""What a run measured, step by step, and the :class:`~gradtrace.train.Run` assembled from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gradtrace.train.members import Members
from gradtrace.train.run import Run

__all__ = ["EVALUATION_KEYS", "SKIPPED_KEY", "History"]

#: The task's metrics kept at every evaluation, each (K,).
EVALUATION_KEYS = ("task/loss", "task/accuracy", "task/success")
#: Per step and member, 1 where an update was dropped for a NaN or infinity (``on_nonfinite="skip"``).
SKIPPED_KEY = "nonfinite/skipped"
# Keys of one number per step rather than one per member.
_SCALAR_KEYS = ("step", "epoch", "eval/step")


class History:
    """Per-step metrics, evaluations and trace profiles, collected as a run goes.

    Args:
        config: the run's arguments (JSON), as the :class:`Run` keeps them.
        members: the ensemble's members: their divergence steps, skipped updates and which are frozen.
        model: the model trained, handed to the :class:`Run`.
        path_length: the trace profile's last axis (T or M), for a run that kept no trace.
        epochs: keep ``epoch`` per step (training on a fixed dataset).
        skipped: keep ``nonfinite/skipped`` per step (``on_nonfinite="skip"``).
    """

    def __init__(self, *, config: dict[str, Any], members: Members, model: Any, path_length: int, epochs: bool,
                 skipped: bool):
        self.config = config
        self.members = members
        self.model = model
        self.path_length = path_length
        self.num_models = len(members.diverged_at)
        self.steps: dict[str, list] = {"step": [], "train/loss": [], "grad/norm": []}
        if epochs:
            self.steps["epoch"] = []
        self.skipped = skipped
        self.evaluations: dict[str, list] = {"eval/step": [], **{key: [] for key in EVALUATION_KEYS}}
        self.trace_steps: list[int] = []
        self.trace_profiles: list[torch.Tensor] = []
        self.elapsed: list[float] = []
        self.steps_done = 0

    def record_step(self, step: int, metrics: dict[str, torch.Tensor], profile: torch.Tensor | None, *,
                    elapsed: float, epochs: float | None) -> None:
        """Keep one finished step: its trace profile (K, path length) if any, and its metrics, each (K,).

        Args:
            step: the step.
            metrics: by key, each (K,): the loss, the gradient norm, the remedies' measurements.
            profile: ‖∂L/∂h_i‖ (K, path length), or None on a step that keeps no trace.
            elapsed: seconds since training started.
            epochs: passes over the fixed dataset so far; None for a stream.
        """
        if profile is not None:
            self.trace_steps.append(step)
            self.trace_profiles.append(profile.detach().float().cpu())
        self.steps_done = step + 1
        self.steps["step"].append(step)
        self.elapsed.append(elapsed)
        if epochs is not None:
            self.steps["epoch"].append(epochs)
        for key, value in metrics.items():
            self.steps.setdefault(key, []).append(value)
        if self.skipped:
            self.steps.setdefault(SKIPPED_KEY, []).append(self.members.take_skipped())

    def record_evaluation(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        """Keep the task's metrics on the held-out batch after ``step``; NaN for the frozen members."""
        self.evaluations["eval/step"].append(step)
        for key in EVALUATION_KEYS:
            self.evaluations[key].append(self.members.shown(metrics[key]))

    @property
    def last_evaluated(self) -> int | None:
        """The step of the last evaluation, None before the first."""
        return self.evaluations["eval/step"][-1] if self.evaluations["eval/step"] else None

    def run(self, status: str) -> Run:
        """Assemble the :class:`Run` of the steps recorded so far, with ``status``: "finished",
        "interrupted" or "out_of_memory"."""
        history = {key: self._array(key, values) for key, values in {**self.steps, **self.evaluations}.items()}
        final = {key: history[key][-1] for key in EVALUATION_KEYS if len(history[key])}
        profiles = (torch.stack(self.trace_profiles).numpy() if self.trace_profiles
                    else np.zeros((0, self.num_models, self.path_length)))
        skipped = history.get(SKIPPED_KEY, np.zeros((0, self.num_models)))
        return Run(config=self.config, steps_done=self.steps_done, status=status, history=history,
                   trace_steps=np.asarray(self.trace_steps, dtype=np.int64), trace_grad_norms=profiles,
                   diverged_at=self.members.diverged_at, final=final, elapsed=np.asarray(self.elapsed),
                   model=self.model, skipped_steps=skipped.sum(0).astype(np.int64))

    def _array(self, key: str, values: list) -> np.ndarray:
        if key in _SCALAR_KEYS:
            return np.asarray(values)
        if not values:
            return np.zeros((0, self.num_models))
        return torch.stack(values).cpu().numpy()
