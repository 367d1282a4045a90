"""The dying-ReLU study's instrument: which hidden units of an MLP are dead, and which merely inactive."""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.instruments import dead_fraction
from gradtrace.models import MLP
from gradtrace.studies.dying_relu.config import Key
from gradtrace.tasks import Batch

__all__ = ["UnitMonitor"]


class UnitMonitor:
    """Measure, on a fixed probe batch, which hidden units of an MLP are dead or inactive.

    A unit is *dead* when its derivative φ′ is (numerically) zero on every probe example, the trace's
    definition; it is *inactive* when its pre-activation is ≤ 0 on every probe example. For ReLU the
    two coincide; a Leaky ReLU, PReLU or GELU unit can be inactive yet not dead, still passing back
    its small negative-side slope. Members whose training went non-finite are measured as NaN (−1
    in the per-unit record) from then on.

    Args:
        model: the MLP being trained (K members, hidden layers of equal width).
        probe: the fixed batch to measure on.

    Example:
        >>> from gradtrace.tasks import Circles
        >>> model = MLP(2, depth=2, width=4, output_size=2, activation="relu", num_models=3, seed=0)
        >>> monitor = UnitMonitor(model, Circles().sample(32, seed=0))
        >>> monitor.measure(0)
        >>> arrays = monitor.arrays()
        >>> arrays[Key.DEAD].shape, arrays[Key.UNIT_INACTIVE].shape
        ((1, 3, 2), (1, 3, 2, 4))
        >>> bool((arrays[Key.DEAD] == arrays[Key.INACTIVE]).all())  # for ReLU, dead means inactive
        True
    """

    def __init__(self, model: MLP, probe: Batch):
        if len(set(model.hidden_sizes)) != 1:
            raise ValueError(f"`model` needs hidden layers of equal width for a per-unit record, got "
                             f"hidden_sizes={list(model.hidden_sizes)}.")
        self.model = model
        self.probe = probe
        self.diverged = torch.zeros(model.num_models, dtype=torch.bool)
        self.steps: list[int] = []
        self.dead: list[np.ndarray] = []
        self.inactive: list[np.ndarray] = []
        self.units: list[np.ndarray] = []
        self.slopes: list[np.ndarray] = []

    def measure(self, step: int, diverged: torch.Tensor | None = None) -> None:
        """Record the dead and inactive units after ``step`` updates.

        Args:
            step: updates done so far.
            diverged: (K,) bool, members whose training has gone non-finite (sticky).
        """
        model = self.model
        if diverged is not None:
            self.diverged |= diverged
        with torch.no_grad():
            # No running statistics change and no graph is built: measuring must not touch training.
            trajectory = model(self.probe.inputs, update_running_stats=False)
            dead = dead_fraction(model, trajectory)
            units = torch.stack([(u <= 0).all(1) for u in trajectory.normalized], 1)  # (K, M, W)
        blank = self.diverged.numpy()
        dead = dead.numpy().copy()
        inactive = units.double().mean(-1).numpy()
        units = units.numpy().astype(np.int8)
        dead[blank], inactive[blank], units[blank] = np.nan, np.nan, -1
        self.steps.append(step)
        self.dead.append(dead)
        self.inactive.append(inactive)
        self.units.append(units)
        if model.activation == "prelu":
            slopes = [getattr(model, f"slope_{i}").detach().mean(-1) for i in range(1, model.depth + 1)]
            slopes = torch.stack(slopes, -1).double().numpy().copy()
            slopes[blank] = np.nan
            self.slopes.append(slopes)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the record: ``probe/step`` (C,), ``dead`` and ``inactive`` (C, K, M) fractions,
        ``unit_inactive`` (C, K, M, W) 1 inactive, 0 active, −1 diverged; with PReLU ``slope`` (C, K, M),
        the mean learned slope per layer."""
        K, M, W = self.model.num_models, self.model.depth, self.model.hidden_sizes[0]  # noqa: N806
        arrays = {
            Key.PROBE_STEP: np.asarray(self.steps, dtype=np.int64),
            Key.DEAD: np.stack(self.dead) if self.dead else np.zeros((0, K, M)),
            Key.INACTIVE: np.stack(self.inactive) if self.inactive else np.zeros((0, K, M)),
            Key.UNIT_INACTIVE: np.stack(self.units) if self.units else np.zeros((0, K, M, W), dtype=np.int8),
        }
        if self.slopes:
            arrays[Key.SLOPE] = np.stack(self.slopes)
        return arrays
