"""The approximation study: XOR by 2-2-1 nets (some seeds stuck), circles, a function fit, and their figures."""

import numpy as np
import pytest

from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies.approximation import Approximation, ApproximationConfig
from gradtrace.studies.approximation.figures import draw as approximation_figures
from gradtrace.studies.base import run_study

SEEDS = 8
# Tiny, but long enough for most 2-2-1 tanh seeds to solve XOR and for the fits to beat a constant.
SMALL = ApproximationConfig(problems=("xor-tanh", "circles", "square"), xor_steps=150, circles_steps=150,
                            plane_lr=0.03, plane_examples=200, plane_batch_size=100, function_hidden=(16,),
                            function_steps=150, function_lr=0.03, function_examples=200, test_points=200,
                            plane_grid=15, curve_points=51, eval_batch_size=32)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("approximation"))
    run_study(Approximation(SMALL), store, seeds=SEEDS)
    return store


def test_xor_members_either_solve_it_or_sit_in_a_local_minimum(store):
    run = store.get("approximation", "xor-tanh")
    s, a = run.summary, run.arrays
    assert s["network"] == "2-2-1 tanh"
    assert 1 <= s["successes"] <= SEEDS and s["successes"] == int(a["success"].sum())
    assert s["success_low"] <= s["success_rate"] <= s["success_high"]
    solved = a["success"].astype(bool)
    # A solved member fits the four points almost exactly; a stuck one stays far above that.
    assert (a["test/loss"][solved] < 0.02).all()
    assert (a["test/loss"][~solved] > 0.05).all()
    assert (a["solved_at"][solved] >= 0).all()
    assert a["points/inputs"].shape == (4, 2) and a["points/label"].tolist() == [0, 1, 1, 0]
    assert a["grid/value"].shape == (SEEDS, 15, 15)


def test_circles_surface_is_a_probability_and_beats_guessing(store):
    run = store.get("approximation", "circles")
    a, s = run.arrays, run.summary
    assert s["network"] == "2-4-2 tanh"
    assert a["grid/value"].shape == (SEEDS, 15, 15)
    assert a["grid/value"].min() >= 0.0 and a["grid/value"].max() <= 1.0
    assert a["points/inputs"].shape == (SMALL.test_points, 2)
    assert s["accuracy"] > 0.7  # guessing scores 0.5
    # The inner circle is class 1: at the center of the plane the network says class 1.
    center = a["grid/value"][s["median_member"], 7, 7]
    assert center > 0.5


def test_function_fit_curves_and_errors(store):
    run = store.get("approximation", "square")
    a, s = run.arrays, run.summary
    assert a["curve/fit"].shape == (SEEDS, SMALL.curve_points)
    assert a["curve/x"][0] == pytest.approx(-1.0) and a["curve/x"][-1] == pytest.approx(1.0)
    np.testing.assert_allclose(a["curve/truth"], a["curve/x"] ** 2, atol=1e-6)
    np.testing.assert_allclose(a["error/rmse"], np.sqrt(((a["curve/fit"] - a["curve/truth"]) ** 2).mean(1)))
    assert (a["error/max"] >= a["error/rmse"]).all()
    # Far better than the best constant, whose RMSE is the standard deviation of x² on [−1, 1].
    assert s["rmse"] < 0.5 * s["baseline_rmse"]
    assert "accuracy" not in s


def test_figures_and_table(store):
    figures, tables = approximation_figures(store)
    assert [f.title for f in figures] == ["Decision boundaries", "XOR, seed by seed",
                                          "Fitted functions against the truth", "Learning curves"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = tables[0].rows
    assert [row[1] for row in rows] == ["2-2-1 tanh", "2-4-2 tanh", "1-16-1 tanh"]
    successes = store.get("approximation", "xor-tanh").summary["successes"]
    assert rows[0][2].startswith(f"{successes}/{SEEDS} [")


def test_empty_store_draws_nothing(tmp_path):
    assert approximation_figures(Store(tmp_path)) == ([], [])


def test_interrupted_run_keeps_its_partial_arrays(tmp_path, interrupt_at):

    store = Store(tmp_path)
    config = ApproximationConfig(problems=("xor-sigmoid",), xor_steps=20)
    with pytest.raises(RunInterrupted, match="interrupted during run 'xor-sigmoid'"):
        run_study(Approximation(config), store, seeds=2, progress=interrupt_at(step=3))
    record = store.get("approximation", "xor-sigmoid")
    assert record.status == "interrupted"
    assert record.arrays["task/loss"].shape[1] == 2


def test_unknown_problem_is_refused():
    with pytest.raises(ValueError, match="Unknown problem.*Available: xor-sigmoid, xor-tanh"):
        Approximation(ApproximationConfig(problems=("xor", "circles"))).plan(quick=False, seeds=1)


def test_quick_plan_covers_every_problem():
    plan = Approximation().plan(quick=True, seeds=2)
    assert [spec.name for spec in plan] == ["xor-sigmoid", "xor-tanh", "circles", "spiral", "square", "reciprocal",
                                            "sin"]
