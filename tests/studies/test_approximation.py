"""The approximation study: XOR seed by seed, circles with enough and too few units, spirals, function fits."""

import numpy as np
import pytest

from gradtrace.errors import ConfigError, RunInterrupted
from gradtrace.store import Store
from gradtrace.studies.approximation import QUICK, Approximation, ApproximationConfig
from gradtrace.studies.approximation import config as keys
from gradtrace.studies.approximation.claims import approximation_claims
from gradtrace.studies.approximation.figures import draw
from gradtrace.studies.base import run_study
from gradtrace.studies.claims import Results

SEEDS = 4
# Every problem, tiny: long enough for most 2-2-1 tanh seeds to fit XOR and for the fits to beat a constant.
SMALL = ApproximationConfig(xor_seeds=8, xor_steps=300, stall_steps=150, circles_steps=150, spiral_hidden=(8,),
                            spiral_steps=40, plane_examples=200, plane_batch_size=100, function_hidden=16,
                            function_steps=150, function_lr=0.03, function_examples=200, test_points=200,
                            plane_grid=15, curve_points=51, eval_batch_size=32)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("approximation"))
    run_study(Approximation(SMALL), store, seeds=SEEDS)
    return store


def test_xor_seeds_are_fitted_stalled_or_moving(store):
    run = store.get("approximation", keys.XOR_TANH)
    s, a = run.summary, run.arrays
    assert s[keys.NETWORK] == "2-2-1 tanh" and s[keys.SEEDS] == SMALL.xor_seeds  # XOR runs its own seed count
    outputs = a[keys.XOR_OUTPUTS]
    assert outputs.shape == (SMALL.xor_seeds, 4)
    fitted, stalled = a[keys.SUCCESS].astype(bool), a[keys.XOR_STALLED].astype(bool)
    assert 1 <= s[keys.SUCCESSES] == int(fitted.sum())
    # Fitted: every output within the margin of its label 0, 1, 1, 0.
    within = np.abs(outputs - np.array([0.0, 1.0, 1.0, 0.0])) <= SMALL.xor_margin
    np.testing.assert_array_equal(fitted, within.all(axis=1))
    # Stalled: not fitted, and ending above the plateau loss.
    assert not (fitted & stalled).any()
    assert (a[keys.EVAL_LOSS][-1][stalled] >= SMALL.plateau_loss).all()
    assert s[keys.STALLED] == int(stalled.sum())
    assert s[keys.SUCCESS_LOW] <= s[keys.SUCCESSES] / s[keys.SEEDS] <= s[keys.SUCCESS_HIGH]
    assert a[keys.POINTS_INPUTS].shape == (4, 2) and a[keys.POINTS_LABEL].tolist() == [0, 1, 1, 0]
    assert a[keys.GRID_VALUE].shape == (SMALL.xor_seeds, 15, 15)


def test_circles_run_twice_with_enough_and_too_few_units(store):
    enough, few = store.get("approximation", keys.CIRCLES), store.get("approximation", keys.CIRCLES_FEW)
    assert enough.summary[keys.NETWORK] == "2-4-2 tanh" and few.summary[keys.NETWORK] == "2-2-2 tanh"
    surface = enough.arrays[keys.GRID_VALUE]
    assert surface.shape == (SEEDS, 15, 15) and surface.min() >= 0.0 and surface.max() <= 1.0
    assert enough.summary[keys.ACCURACY_MIN] <= enough.summary[keys.ACCURACY] <= enough.summary[keys.ACCURACY_MAX]
    assert enough.summary[keys.ACCURACY] > 0.7  # guessing scores 0.5
    # The spiral is drawn with the study's noise, not the task's default.
    assert "noise=0.03" in store.get("approximation", keys.SPIRAL).config["task"]


def test_function_fits_are_judged_by_their_largest_error_on_an_even_grid(store):
    for name in keys.FUNCTION_PROBLEMS:
        a, s = store.get("approximation", name).arrays, store.get("approximation", name).summary
        assert a[keys.CURVE_FIT].shape == (SEEDS, SMALL.curve_points)
        error = np.abs(a[keys.CURVE_FIT] - a[keys.CURVE_TRUTH])
        np.testing.assert_allclose(a[keys.ERROR_MAX], error.max(axis=1))
        np.testing.assert_allclose(a[keys.ERROR_RMSE], np.sqrt((error**2).mean(axis=1)))
        np.testing.assert_array_equal(a[keys.SUCCESS], a[keys.ERROR_MAX] <= s[keys.TOLERANCE])
    # Both 1/x runs are judged on the same even grid of x, whatever scale the network was fed.
    linear = store.get("approximation", keys.RECIPROCAL_LINEAR).arrays
    log = store.get("approximation", keys.RECIPROCAL_LOG).arrays
    np.testing.assert_allclose(log[keys.CURVE_X], linear[keys.CURVE_X], rtol=1e-6)
    np.testing.assert_allclose(log[keys.CURVE_X], np.linspace(1.0, 100.0, SMALL.curve_points), rtol=1e-6)
    np.testing.assert_allclose(log[keys.CURVE_TRUTH], 1 / log[keys.CURVE_X], rtol=1e-6)
    assert "scale='log'" in store.get("approximation", keys.RECIPROCAL_LOG).config["task"]


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_table_draw_in_each_language(store, lang):
    figures, tables = draw(store, lang)
    assert len(figures) == 5 and all(f.png.startswith(b"\x89PNG") for f in figures)
    assert all(f.caption and f.title for f in figures)
    rows = tables[0].rows
    assert [row[1] for row in rows] == ["2-2-1 sigmoid", "2-2-1 tanh", "2-2-2 tanh", "2-4-2 tanh", "2-8-2 tanh",
                                        "1-16-1 tanh", "1-16-1 tanh", "1-16-1 tanh", "1-16-1 tanh"]
    assert len(tables[0].columns) == len(rows[0])
    successes = store.get("approximation", keys.XOR_SIGMOID).summary[keys.SUCCESSES]
    assert rows[0][2].startswith(f"{successes}/{SMALL.xor_seeds} [")
    numbers = rows[-1][4] + rows[-1][5]
    assert ("," in numbers and "." not in numbers) if lang == "pt" else ("." in numbers and "," not in numbers)


def test_every_claim_is_measured_on_the_small_study(store):
    claims = Approximation(SMALL).claims(quick=False, seeds=SEEDS)
    assert [c.name for c in claims] == ["xor-learned", "xor-stalls", "circles-enough-units", "spiral-learned",
                                        "one-layer-fits-functions", "reciprocal-needs-log-scale"]
    results = Results(store, "approximation")
    for claim in claims:
        verdict = claim.check(results)
        assert verdict.measured, verdict.name
        assert "{" not in verdict.sentence["en"] and "{" not in verdict.sentence["pt"]


def _put_fit(store, name, successes, *, seeds=10, max_error=0.02):
    store.put("approximation", name, {}, config={}, summary={
        keys.SUCCESSES: successes, keys.SEEDS: seeds, keys.MAX_ERROR: max_error, keys.WORST_MAX_ERROR: max_error,
        keys.RMSE: max_error / 4, keys.TOLERANCE: 0.0495, keys.WORST_AT: 1.0})


def _reciprocal_claim():
    config = ApproximationConfig(problems=(keys.RECIPROCAL_LINEAR, keys.RECIPROCAL_LOG))
    [claim] = approximation_claims(config)
    return claim


def test_reciprocal_claim_holds_only_when_the_log_scale_fits_and_the_linear_one_does_not(tmp_path):
    claim = _reciprocal_claim()
    store = Store(tmp_path / "held")
    _put_fit(store, keys.RECIPROCAL_LOG, 10)
    _put_fit(store, keys.RECIPROCAL_LINEAR, 0, max_error=0.6)
    verdict = claim.check(Results(store, "approximation"))
    assert verdict.held
    assert "10 of 10" in verdict.sentence["en"] and "12 vezes a tolerância" in verdict.sentence["pt"]
    # The log scale fits too rarely: not held.
    store = Store(tmp_path / "log-fails")
    _put_fit(store, keys.RECIPROCAL_LOG, 8)
    _put_fit(store, keys.RECIPROCAL_LINEAR, 0, max_error=0.6)
    assert not claim.check(Results(store, "approximation")).held
    # The linear scale fits as well: then the log scale is not what it took, and the claim does not hold.
    store = Store(tmp_path / "linear-fits")
    _put_fit(store, keys.RECIPROCAL_LOG, 10)
    _put_fit(store, keys.RECIPROCAL_LINEAR, 10)
    assert not claim.check(Results(store, "approximation")).held


def test_xor_claims_do_not_hold_when_no_seed_had_time_to_learn(tmp_path):
    config = ApproximationConfig(problems=keys.XOR_PROBLEMS, xor_seeds=8, xor_steps=4, eval_batch_size=16)
    store = Store(tmp_path)
    run_study(Approximation(config), store, seeds=1)
    learned, stalls = (claim.check(Results(store, "approximation")) for claim in approximation_claims(config))
    assert learned.name == "xor-learned" and learned.measured and not learned.held
    # 4 steps are fewer than the plateau must last (stall_steps): no seed is called stalled.
    assert stalls.measured and not stalls.held


def test_a_claim_whose_runs_are_missing_is_not_measured(tmp_path):
    verdict = _reciprocal_claim().check(Results(Store(tmp_path), "approximation"))
    assert not verdict.measured and not verdict.held


def test_claims_are_made_only_for_the_problems_planned():
    assert approximation_claims(ApproximationConfig(problems=(keys.SQUARE, keys.SIN, keys.SPIRAL))) != []
    assert [c.name for c in approximation_claims(ApproximationConfig(problems=(keys.SQUARE, keys.SPIRAL)))] == [
        "spiral-learned"]


def test_empty_store_draws_nothing(tmp_path):
    assert draw(Store(tmp_path)) == ([], [])


def test_interrupted_run_keeps_its_partial_arrays(tmp_path, interrupt_at):
    store = Store(tmp_path)
    config = ApproximationConfig(problems=(keys.XOR_SIGMOID,), xor_seeds=2, xor_steps=20)
    with pytest.raises(RunInterrupted, match="interrupted during run 'xor-sigmoid'"):
        run_study(Approximation(config), store, seeds=2, progress=interrupt_at(step=3))
    record = store.get("approximation", keys.XOR_SIGMOID)
    assert record.status == "interrupted"
    assert record.arrays[keys.EVAL_LOSS].shape[1] == 2


def test_unknown_problem_is_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match="Unknown problem.*'xor'.*Available: xor-sigmoid, xor-tanh"):
        ApproximationConfig(problems=("xor", "circles"))


def test_quick_plan_covers_every_problem_and_offsets_move_only_the_seed():
    plan = Approximation().plan(quick=True, seeds=2)
    assert [spec.name for spec in plan] == list(keys.PROBLEMS)
    shifted = Approximation().with_seed_offset(1000, quick=True).resolve(True)
    assert shifted.seed == QUICK.seed + 1000
    assert shifted.model_copy(update={"seed": QUICK.seed}) == QUICK
