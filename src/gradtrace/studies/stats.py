"""Small statistics for ensembles of seeds: intervals that stay honest with few runs."""

from __future__ import annotations

import math

import numpy as np

from gradtrace.errors import check_int

__all__ = ["nan_quantiles", "wilson_interval"]


def wilson_interval(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval of a success rate (95 % for z = 1.96).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n successes,
    which matters with five seeds. With no trials the interval is (nan, nan).

    Raises:
        ValueError: unless 0 ≤ successes ≤ trials.

    Example:
        >>> low, high = wilson_interval(5, 5)
        >>> round(low, 3), high
        (0.566, 1.0)
    """
    trials = check_int("trials", trials, minimum=0)
    successes = check_int("successes", successes, minimum=0, maximum=trials)
    if trials == 0:
        return (float("nan"), float("nan"))
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # The interval always holds p; rounding can leave it a hair outside (6 of 6 gave a top of
    # 1 − 2⁻⁵³), which makes error bars of p negative.
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def nan_quantiles(values: np.ndarray, axis: int, quantiles=(0.0, 0.5, 1.0)) -> np.ndarray:
    """Return quantiles over ``axis`` ignoring NaN (all-NaN slices give NaN, without a warning)."""
    values = np.asarray(values, dtype=np.float64)
    moved = np.moveaxis(values, axis, -1)
    out = np.full((len(quantiles), *moved.shape[:-1]), np.nan)
    finite = ~np.isnan(moved)
    any_finite = finite.any(-1)
    if any_finite.any():
        picked = moved[any_finite]
        out[:, any_finite] = np.nanquantile(picked, quantiles, axis=-1)
    return out
