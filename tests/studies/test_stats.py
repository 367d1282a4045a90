"""Seed statistics: the Wilson interval against its defining quadratic, quantiles ignoring NaN."""

import math
import warnings

import numpy as np
import pytest

from gradtrace.studies.stats import nan_quantiles, wilson_interval

Z95 = 1.96


def _wilson_by_roots(successes, trials, z=Z95):
    """The Wilson interval is {p : |p̂ − p| ≤ z √(p(1−p)/n)}: the roots of a quadratic in p."""
    p_hat, c = successes / trials, z * z / trials
    roots = np.roots([1 + c, -(2 * p_hat + c), p_hat * p_hat]).real
    return float(roots.min()), float(roots.max())


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        # Closed forms at the edges: n / (n + z²) and z² / (n + z²).
        (5, 5, (5 / (5 + Z95**2), 1.0)),
        (0, 5, (0.0, Z95**2 / (5 + Z95**2))),
        # Worked by hand from p̂ ± ..., to 4 decimals.
        (3, 10, (0.1078, 0.6032)),
        (1, 2, (0.0945, 0.9055)),
    ],
)
def test_wilson_interval_known_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


@pytest.mark.parametrize("z", [1.0, Z95, 2.576])
@pytest.mark.parametrize("trials", [1, 2, 5, 17, 100])
def test_wilson_interval_solves_its_quadratic_and_stays_in_the_unit_interval(trials, z):
    for successes in range(trials + 1):
        low, high = wilson_interval(successes, trials, z=z)
        expected = _wilson_by_roots(successes, trials, z)
        assert (low, high) == pytest.approx(expected, abs=1e-9)
        assert 0.0 <= low <= successes / trials <= high <= 1.0
        # Symmetry: failures are successes of the opposite event.
        mirror_low, mirror_high = wilson_interval(trials - successes, trials, z=z)
        assert (low, high) == pytest.approx((1 - mirror_high, 1 - mirror_low), abs=1e-12)


def test_wilson_interval_narrows_with_more_trials():
    widths = [np.subtract(*wilson_interval(n // 2, n)[::-1]) for n in (4, 16, 64, 256)]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))


def test_wilson_interval_without_trials_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize(
    ("successes", "trials", "match"),
    [
        (6, 5, "`successes` must be at most 5, got 6"),
        (-1, 5, "`successes` must be at least 0"),
        (0, -2, "`trials` must be at least 0, got -2"),
    ],
)
def test_wilson_interval_rejects_impossible_counts(successes, trials, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(successes, trials)


def test_nan_quantiles_match_numpy_without_nan():
    values = np.random.default_rng(0).normal(size=(3, 5, 4))
    for axis in range(3):
        expected = np.quantile(values, [0.0, 0.5, 1.0], axis=axis)
        np.testing.assert_allclose(nan_quantiles(values, axis), expected)
    custom = nan_quantiles(values, 1, quantiles=(0.25, 0.75))
    assert custom.shape == (2, 3, 4)
    np.testing.assert_allclose(custom, np.quantile(values, [0.25, 0.75], axis=1))


def test_nan_quantiles_ignore_nan_and_give_nan_for_all_nan_slices_without_warning():
    values = np.array(
        [[1.0, np.nan, 3.0, 5.0], [np.nan, np.nan, np.nan, np.nan], [2.0, 2.0, np.nan, np.nan]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, mid, high = nan_quantiles(values, 1)
        everything_missing = nan_quantiles(np.full((2, 3), np.nan), 0)
    np.testing.assert_array_equal(low, [1.0, np.nan, 2.0])
    np.testing.assert_array_equal(mid, [3.0, np.nan, 2.0])
    np.testing.assert_array_equal(high, [5.0, np.nan, 2.0])
    assert everything_missing.shape == (3, 3) and np.all(np.isnan(everything_missing))


def test_nan_quantiles_accept_lists_of_integers():
    np.testing.assert_array_equal(nan_quantiles([[1, 2, 3]], 1), [[1.0], [2.0], [3.0]])


@pytest.mark.parametrize(("successes", "trials"), [(6, 6), (21, 21), (0, 11), (0, 22)])
def test_wilson_interval_holds_the_observed_rate_exactly_at_the_edges(successes, trials):
    # Regression: rounding gave 6/6 an upper bound of 1 − 2⁻⁵³, a negative error bar in the report.
    low, high = wilson_interval(successes, trials)
    assert low <= successes / trials <= high
    assert (low == 0.0) if successes == 0 else (high == 1.0)
