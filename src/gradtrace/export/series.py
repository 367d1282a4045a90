"""Which of a stored run's arrays are time series, on which steps, and how they are named when exported.

Studies store different arrays (see each study's ``config.py``); the exporters read them all by one rule:

- **Steps.** A 1-D integer array named ``step``, ``epoch``, ``<group>/step`` or ``<group>/steps`` holds
  the steps of other arrays and is not exported itself. An array takes the steps of its own group
  (``history/accuracy`` those of ``history/step``, ``trace/grad_norms`` those of ``trace/steps``,
  ``step/epoch`` those of ``step``); the task's evaluation metrics (``task/loss``, ``task/accuracy``,
  ``task/success``) those of ``eval/step``; any other array the training steps: ``step`` where it is
  stored, else one per row of ``train/loss``.
- **Series.** An array as long as its steps is a series: 1-D (one value per step) or 2-D (steps, K),
  one value per step and ensemble member. A 1-D array on the training steps is a series only when the run's
  member count (``diverged_at``'s length) is known and differs from its length: otherwise it is read as
  one value per member (``test/loss``), not per step.
- **Profiles.** A 3-D array (snapshots, K, T) as long as its steps is a profile: one value per member
  and point of the gradient path (time step or layer) at each snapshot, e.g. ``trace/grad_norms``,
  ‖∂L/∂h_t‖ of the training batch.
- Anything else (one value per member, grids, sweeps, 4-D arrays, text) is not exported and is counted as
  skipped; the report draws it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from gradtrace.train.history import EVALUATION_KEYS

__all__ = ["FLAG_NAMES", "Profile", "RunSeries", "Series", "member_tag", "read_series", "summary_tag"]

#: Last parts of the names of 0/1 flags per member and step (a clip fired, the task was solved, an update was
#: skipped): their ensemble line is the fraction of members where the flag is 1, not their median.
FLAG_NAMES = ("fired", "success", "skipped")
# The arrays that name steps, beside <group>/step and <group>/steps.
_INDEX_NAMES = ("step", "epoch")
_TRAIN_LOSS = "train/loss"
_EVAL_STEPS = "eval/step"
_MEMBERS = "diverged_at"


@dataclass(frozen=True)
class Series:
    """One stored array read as values over steps.

    Attributes:
        key: the stored array's name, e.g. ``"train/loss"``.
        steps: (n,) the step of each row.
        values: (n,) one value per step, or (n, K) one per step and member; float64.
    """

    key: str
    steps: np.ndarray
    values: np.ndarray

    @property
    def per_member(self) -> bool:
        return self.values.ndim == 2

    @property
    def is_flag(self) -> bool:
        return self.key.rsplit("/", 1)[-1] in FLAG_NAMES

    def lines(self) -> dict[str, np.ndarray]:
        """Return the exported lines by tag, each (n,): the series itself, or each member and the ensemble.

        A per-member series gives ``<key>/member_<k>`` for each member and ``<key>/median`` (over the
        members whose value is finite; NaN where none is) or, for a flag, ``<key>/fraction`` (of the members
        whose flag is 1, among those with a finite value).
        """
        if not self.per_member:
            return {self.key: self.values}
        lines = {member_tag(self.key, k): self.values[:, k] for k in range(self.values.shape[1])}
        ensemble = _over_members(self.values, axis=1, mean=self.is_flag)
        lines[f"{self.key}/{'fraction' if self.is_flag else 'median'}"] = ensemble
        return lines


@dataclass(frozen=True)
class Profile:
    """A stored (snapshots, K, T) array: a profile along the gradient path per member at each snapshot.

    Attributes:
        key: the stored array's name, e.g. ``"trace/grad_norms"``.
        steps: (s,) the training step of each snapshot.
        values: (s, K, T) float64; the last axis runs along the path, its end nearest the loss.
    """

    key: str
    steps: np.ndarray
    values: np.ndarray

    def medians(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the median over members at each snapshot and lag, and which snapshots are whole.

        Returns:
            (s, T) the median over the members with a finite value, by lag (0 is the point nearest the loss,
            T − 1 the farthest), NaN where no member has one; and (s,) True where every lag has a median.
        """
        medians = _over_members(self.values[:, :, ::-1], axis=1, mean=False)
        return medians, np.isfinite(medians).all(axis=1)


@dataclass(frozen=True)
class RunSeries:
    """What one run exports: its series and profiles, and the names of the arrays it skips."""

    series: list[Series] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def member_tag(key: str, member: int) -> str:
    """Return the exported name of member ``member``'s line of ``key``: ``train/loss/member_3``."""
    return f"{key}/member_{member}"


def summary_tag(key: str) -> str:
    """Return the exported name of the run summary's value ``key``: ``summary/task/loss``."""
    return f"summary/{key}"


def _over_members(values: np.ndarray, *, axis: int, mean: bool) -> np.ndarray:
    """Return the median (or mean) over ``axis`` of the finite values, NaN where none is finite."""
    finite = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():  # "All-NaN slice" / "Mean of empty slice": those give NaN, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(finite, axis=axis) if mean else np.nanmedian(finite, axis=axis)


def _is_index(key: str, array: np.ndarray) -> bool:
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        return False
    last = key.rsplit("/", 1)[-1]
    named = key in _INDEX_NAMES or ("/" in key and last in ("step", "steps"))
    return named and bool(np.all(np.diff(array) >= 0))


def read_series(arrays: dict[str, np.ndarray]) -> RunSeries:
    """Sort a run's arrays into series, profiles and skipped names by the rule of this module's docstring.

    Args:
        arrays: the run's arrays, as :meth:`~gradtrace.store.Store.get` returns them.

    Returns:
        The run's :class:`RunSeries`; values as float64 (a flag stored as bool or int becomes 0.0 or 1.0).
    """
    indexes = {key: array for key, array in arrays.items() if _is_index(key, array)}
    members = arrays.get(_MEMBERS)
    count = len(members) if isinstance(members, np.ndarray) and members.ndim == 1 else None
    train_loss = arrays.get(_TRAIN_LOSS)
    if "step" in indexes:
        training = indexes["step"]
    elif isinstance(train_loss, np.ndarray) and train_loss.ndim == 2:
        training = np.arange(len(train_loss))
    else:
        training = None
    found = RunSeries()
    for key, array in arrays.items():
        if key in indexes:
            continue
        group = key.rsplit("/", 1)[0] if "/" in key else None
        local = next((indexes[name] for name in (f"{group}/step", f"{group}/steps", group)
                      if group is not None and name in indexes), None)
        if local is not None:
            steps = local
        elif key in EVALUATION_KEYS:
            steps = indexes.get(_EVAL_STEPS)
        else:
            steps = training
        numeric = np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        fits = (numeric and steps is not None and array.ndim in (1, 2, 3) and array.shape[0] == len(steps)
                and (array.ndim == 1 or count is None or array.shape[1] == count))
        if fits and array.ndim == 1 and local is None:
            fits = count is not None and len(array) != count  # else: one value per member, not per step
        if not fits:
            found.skipped.append(key)
        elif array.ndim == 3:
            found.profiles.append(Profile(key, steps.astype(np.int64), array.astype(np.float64)))
        else:
            found.series.append(Series(key, steps.astype(np.int64), array.astype(np.float64)))
    return found
