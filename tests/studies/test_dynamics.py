"""The dynamics study: steady, oscillating and chaotic autonomous RNNs, and λ_max against g."""

import math

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.dynamics import (
    REGIMES,
    Dynamics,
    DynamicsConfig,
    crossing_gain,
    mean_field_lyapunov_exponent,
    random_recurrent_weights,
    rotation_weights,
)
from gradtrace.studies.dynamics.figures import draw as dynamics_figures

# 16 units: small, yet g = 4 is chaotic for most seeds (smaller networks often settle on cycles).
SMALL = DynamicsConfig(gains=(0.3, 1.0, 4.0), hidden_size=16, warmup=200, steps=600, motion_window=50,
                       steady_gain=0.3, chaotic_gain=4.0, shown_units=2, shown_steps=30, separation_steps=25)
SEEDS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("dynamics"))
    run_study(Dynamics(SMALL), store, seeds=SEEDS)
    return store


def test_one_run_per_gain_and_the_rotation(store):
    assert store.names("dynamics") == ["g=0.3", "g=1", "g=4", "rotation-g=1.5"]
    for name in store.names("dynamics"):
        run = store.get("dynamics", name)
        a = run.arrays
        assert a["lyapunov"].shape == a["motion"].shape == a["regime"].shape == (SEEDS,)
        assert a["trajectory"].shape == (SMALL.shown_steps, SMALL.shown_units if name != "rotation-g=1.5" else 2)
        assert a["separation"].shape == (SEEDS, SMALL.separation_steps)
        assert sum(run.summary[regime] for regime in REGIMES) == SEEDS
        assert run.summary["regime"] in REGIMES
        assert run.summary["lyapunov_min"] <= run.summary["lyapunov"] <= run.summary["lyapunov_max"]


def test_a_small_gain_settles_with_the_exponent_of_its_fixed_point(store):
    run = store.get("dynamics", "g=0.3")
    assert run.summary["regime"] == "steady" and run.summary["steady"] == SEEDS
    # At the fixed point 0 the Jacobian is W: λ = log ρ(W) for every seed.
    np.testing.assert_allclose(run.arrays["lyapunov"], np.log(run.arrays["spectral_radius"]), atol=1e-3)
    assert abs(run.arrays["trajectory"][-1]).max() < 1e-6
    assert (run.arrays["separation"][:, -1] < 1e-15).all()
    assert run.summary["mean_field_lyapunov"] == pytest.approx(math.log(0.3))


def test_a_large_gain_is_chaotic_and_nearby_starts_part(store):
    run = store.get("dynamics", "g=4")
    assert run.summary["regime"] == "chaotic" and run.summary["lyapunov"] > 0.1
    chaotic = run.arrays["regime"] == REGIMES.index("chaotic")
    separation = run.arrays["separation"][chaotic]
    # Growth by e^(λ t) on average: over 25 steps at λ ≈ 0.2 about ×100, though a single pair may
    # pass through a contracting stretch (how far it gets depends on the CPU's last bits of tanh).
    assert (separation[:, -1] > 10 * SMALL.perturbation).all()
    assert np.median(separation[:, -1]) > 30 * SMALL.perturbation


def test_the_rotation_oscillates_on_a_limit_cycle(store):
    run = store.get("dynamics", "rotation-g=1.5")
    assert run.summary["regime"] == "oscillating" and run.summary["oscillating"] == SEEDS
    assert abs(run.summary["lyapunov"]) < SMALL.chaos_threshold
    states = run.arrays["trajectory"]
    assert states[-10:].std(axis=0).min() > 0.3  # still swinging at the end, neither decayed nor stuck
    assert run.summary["spectral_radius"] == pytest.approx(1.5)


def test_figures_and_table(store):
    figures, tables = dynamics_figures(store)
    assert [f.title for f in figures] == ["Three regimes of an autonomous RNN",
                                          "Largest Lyapunov exponent against the gain", "Two starts 10⁻⁹ apart"]
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") and f.caption for f in figures)
    (table,) = tables
    assert len(table.rows) == 4 and len(table.columns) == 5
    assert table.rows[0][0] == "random W, H = 16, g = 0.3" and table.rows[0][4] == f"steady ({SEEDS} of {SEEDS})"
    assert table.rows[-1][0].startswith("2-unit rotation") and table.rows[-1][2] == "—"
    assert "reaches 0" in table.caption


def test_an_empty_store_draws_nothing(tmp_path):
    assert dynamics_figures(Store(tmp_path)) == ([], [])


def test_the_quick_and_full_plans():
    quick, full = Dynamics().plan(quick=True, seeds=2), Dynamics().plan(quick=False, seeds=2)
    assert [s.name for s in quick] == ["g=0.5", "g=1", "g=1.8", "rotation-g=1.5"]
    assert len(full) > len(quick) and full[-1].name == "rotation-g=1.5"
    assert "g=1" in [s.name for s in full]


def test_the_quick_form_runs(tmp_path):
    store = Store(tmp_path)
    run_study(Dynamics(), store, quick=True, seeds=2)
    assert len(store.finished("dynamics")) == 4
    assert store.get("dynamics", "g=0.5").summary["regime"] == "steady"


def test_example_gains_must_be_on_the_grid():
    with pytest.raises(ValueError, match=r"`chaotic_gain` must be one of the study's gains \(0.9, 1.0\), got 1.8"):
        Dynamics(DynamicsConfig(gains=(0.9, 1.0))).plan(quick=False, seeds=1)
    with pytest.raises(ValueError, match="`gains` must be positive numbers"):
        Dynamics(DynamicsConfig(gains=(-1.0, 0.5, 2.5))).plan(quick=False, seeds=1)
    with pytest.raises(ValueError, match="`motion_window` must be at least 2, got 1"):
        Dynamics(DynamicsConfig(motion_window=1)).plan(quick=False, seeds=1)


def test_mean_field_theory():
    assert mean_field_lyapunov_exponent(0.5) == pytest.approx(math.log(0.5))
    assert mean_field_lyapunov_exponent(1.0) == 0.0
    # Continuous at the transition, then positive and rising.
    assert 0 < mean_field_lyapunov_exponent(1.001) < 1e-5
    values = [mean_field_lyapunov_exponent(g) for g in (1.2, 1.5, 2.0, 3.0)]
    assert all(0 < a < b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="`gain` must be greater than 0.0, got 0.0"):
        mean_field_lyapunov_exponent(0.0)


def test_crossing_gain():
    assert crossing_gain([0.5, 1.0, 1.5], [-0.7, -0.1, 0.1]) == pytest.approx(1.25)
    assert crossing_gain([0.5, 1.0, 1.5], [-0.7, -0.1, 0.1], level=-0.4) == pytest.approx(0.75)
    assert crossing_gain([0.5, 1.0], [0.2, 0.3]) == 0.5
    assert math.isnan(crossing_gain([0.5, 1.0], [-0.2, -0.1]))
    assert crossing_gain([0.5, 1.0, 1.5], [-0.2, float("nan"), 0.2]) == pytest.approx(1.0)


def test_weights():
    W = random_recurrent_weights(8, 3, seed=4)
    assert W.shape == (3, 8, 8)
    np.testing.assert_array_equal(W[1].numpy(), random_recurrent_weights(8, 1, seed=5)[0].numpy())
    R = rotation_weights(1.5, 0.5)
    np.testing.assert_allclose((R.T @ R).numpy(), 2.25 * np.eye(2), atol=1e-12)
