"""The dynamics study: steady, oscillating and chaotic autonomous RNNs, λ_max against g, and its claims."""

import math

import numpy as np
import pytest
import torch

from gradtrace.instruments.dynamics import autonomous_trajectory, recurrence_period
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.claims import Results
from gradtrace.studies.dynamics import (
    QUICK,
    REGIMES,
    Dynamics,
    DynamicsConfig,
    Key,
    crossing_gain,
    mean_field_lyapunov_exponent,
    random_recurrent_weights,
    rotation_weights,
)
from gradtrace.studies.dynamics.figures import draw

# 16 units: small, yet g = 4 is chaotic for most seeds (smaller networks often settle on cycles).
SMALL = DynamicsConfig(gains=(0.3, 1.0, 4.0), hidden_size=16, warmup=200, steps=600, motion_window=50,
                       max_period=20, steady_gain=0.3, chaotic_gain=4.0, shown_units=2, shown_steps=30,
                       separation_steps=25)
SEEDS = 3
ROTATION = "rotation-g=1.8"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("dynamics"))
    run_study(Dynamics(SMALL), store, seeds=SEEDS)
    return store


def _verdicts(store, config):
    return {claim.name: claim.check(Results(store, "dynamics")) for claim in build(config)}


def build(config):
    return Dynamics(config).claims(quick=False, seeds=SEEDS)


def test_one_run_per_gain_and_the_rotation(store):
    assert store.names("dynamics") == ["g=0.3", "g=1", "g=4", ROTATION]
    for name in store.names("dynamics"):
        run = store.get("dynamics", name)
        a = run.arrays
        assert a[Key.LYAPUNOV].shape == a[Key.PERIOD].shape == a[Key.REGIME].shape == (SEEDS,)
        assert a[Key.TRAJECTORY].shape == (SMALL.shown_steps, SMALL.shown_units if name != ROTATION else 2)
        assert a[Key.SEPARATION].shape == (SEEDS, SMALL.separation_steps)
        assert sum(run.summary[regime] for regime in REGIMES) == SEEDS
        assert run.summary[Key.REGIME] in REGIMES
        assert run.summary[Key.LYAPUNOV_MIN] <= run.summary[Key.LYAPUNOV] <= run.summary[Key.LYAPUNOV_MAX]
        assert run.summary[Key.SHOWN_LYAPUNOV] == a[Key.LYAPUNOV][0]


def test_a_small_gain_settles_with_the_exponent_of_its_fixed_point(store):
    run = store.get("dynamics", "g=0.3")
    assert run.summary[Key.REGIME] == "steady" and run.summary["steady"] == SEEDS
    assert (run.arrays[Key.PERIOD] == 1).all()
    # At the fixed point 0 the Jacobian is W: λ = log ρ(W) for every seed.
    np.testing.assert_allclose(run.arrays[Key.LYAPUNOV], np.log(run.arrays[Key.SPECTRAL_RADIUS]), atol=1e-3)
    assert abs(run.arrays[Key.TRAJECTORY][-1]).max() < 1e-6
    assert (run.arrays[Key.SEPARATION][:, -1] < 1e-15).all()
    assert run.summary[Key.MEAN_FIELD] == pytest.approx(math.log(0.3))


def test_a_large_gain_is_chaotic_and_nearby_starts_part(store):
    run = store.get("dynamics", "g=4")
    assert run.summary[Key.REGIME] == "chaotic" and run.summary[Key.LYAPUNOV] > 0.1
    chaotic = run.arrays[Key.REGIME] == REGIMES.index("chaotic")
    assert (run.arrays[Key.PERIOD][chaotic] == 0).all()
    separation = run.arrays[Key.SEPARATION][chaotic]
    # Growth by e^(λ t) on average: over 25 steps at λ ≈ 0.2 about ×100, though a single pair may
    # pass through a contracting stretch (how far it gets depends on the CPU's last bits of tanh).
    assert (separation[:, -1] > 10 * SMALL.perturbation).all()
    assert np.median(separation[:, -1]) > 30 * SMALL.perturbation


def test_the_rotation_repeats_every_eight_steps(store):
    run = store.get("dynamics", ROTATION)
    assert run.summary[Key.REGIME] == "oscillating" and run.summary["oscillating"] == SEEDS
    assert run.arrays[Key.PERIOD].tolist() == [8] * SEEDS and run.summary[Key.PERIODIC] == SEEDS
    assert -0.1 < run.summary[Key.LYAPUNOV_MAX] < 0  # a stable cycle: nearby starts fall back onto it
    states = run.arrays[Key.TRAJECTORY]
    assert states[-10:].std(axis=0).min() > 0.3  # still swinging at the end, neither decayed nor stuck
    assert run.summary[Key.SPECTRAL_RADIUS] == pytest.approx(1.8)


def test_claims_hold_on_a_small_study(store):
    verdicts = _verdicts(store, SMALL)
    assert set(verdicts) == {"steady-below-one", "rotation-oscillates", "chaotic-example-is-chaotic",
                             "lyapunov-zero-near-theory"}
    for name in ("steady-below-one", "rotation-oscillates"):
        assert verdicts[name].held, verdicts[name].sentence["en"]
    rotation = verdicts["rotation-oscillates"]
    assert rotation.values["period"] == 8 and "a cada 8 passos" in rotation.sentence["pt"]
    # Portuguese writes its numbers with a decimal comma.
    assert "0,25π" in rotation.sentence["pt"] and "0.25π" in rotation.sentence["en"]


def test_a_rotation_that_never_closes_fails_the_oscillation_claim(tmp_path):
    # At θ = 0.5 rad the orbit turns by an irrational fraction of the circle: it oscillates but never repeats,
    # so the claim of a measured period must not hold.
    config = SMALL.model_copy(update={"rotation_angle": 0.5})
    store = Store(tmp_path)
    run_study(Dynamics(config), store, seeds=SEEDS)
    verdict = _verdicts(store, config)["rotation-oscillates"]
    assert not verdict.held and verdict.measured
    assert (store.get("dynamics", ROTATION).arrays[Key.PERIOD] == 0).all()


def test_a_steady_chaotic_example_fails_the_chaos_claim(store):
    # Drawing g = 0.3 as the chaotic example: its trajectory settles, and the claim says so.
    config = SMALL.model_copy(update={"chaotic_gain": 0.3})
    verdict = _verdicts(store, config)["chaotic-example-is-chaotic"]
    assert not verdict.held and verdict.values["period"] == 1


def test_figures_and_table(store):
    drawn = {lang: draw(store, lang) for lang in ("en", "pt")}
    for figures, tables in drawn.values():
        assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG\r\n\x1a\n") and f.caption for f in figures)
        (table,) = tables
        assert len(table.rows) == 4 and len(table.columns) == 6
    (figures, (table,)), (_, (table_pt,)) = drawn["en"], drawn["pt"]
    assert [f.title for f in figures] == ["Three regimes of an autonomous RNN",
                                          "Largest Lyapunov exponent against the gain", "Two starts 10⁻⁹ apart"]
    assert table.rows[0][0] == "random W, H = 16, g = 0.3" and table.rows[0][4] == f"1 ({SEEDS} of {SEEDS})"
    assert table.rows[-1][0] == "2-unit rotation, g = 1.8, θ = 0.25π" and table.rows[-1][2] == "—"
    assert table_pt.rows[-1][0] == "rotação de 2 unidades, g = 1,8, θ = 0,25π"


def test_an_empty_store_draws_nothing(tmp_path):
    assert draw(Store(tmp_path)) == ([], [])


def test_the_quick_and_full_plans():
    quick, full = Dynamics().plan(quick=True, seeds=2), Dynamics().plan(quick=False, seeds=2)
    assert [s.name for s in quick] == ["g=0.5", "g=1", "g=1.8", ROTATION]
    assert len(full) > len(quick) and full[-1].name == ROTATION
    assert Dynamics().resolve(quick=True) == QUICK


@pytest.mark.parametrize(("change", "message"), [
    ({"gains": (0.9, 1.0)}, r"`chaotic_gain` must be one of the study's gains \(0.9, 1.0\), got 1.8"),
    ({"gains": (-1.0, 0.5, 2.5)}, "`gains` must be positive numbers"),
    ({"motion_window": 1}, "`motion_window` must be at least 2, got 1"),
    ({"max_period": 100}, "`max_period` must be at most 99, got 100"),
])
def test_bad_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        DynamicsConfig(**change)


def test_recurrence_period():
    W = rotation_weights(1.0, 2 * math.pi / 5)
    states = autonomous_trajectory(W, 30, activation="linear", initial_state=torch.tensor([1.0, 0.0]))
    assert recurrence_period(states[None], tolerance=1e-9, max_period=12).tolist() == [5]
    # A turn by 1 radian never closes.
    states = autonomous_trajectory(rotation_weights(1.0, 1.0), 30, activation="linear",
                                   initial_state=torch.tensor([1.0, 0.0]))
    assert recurrence_period(states[None], tolerance=1e-9, max_period=12).tolist() == [0]
    with pytest.raises(ValueError, match="`max_period` must be at most 29, got 30"):
        recurrence_period(states[None], tolerance=1e-9, max_period=30)
    with pytest.raises(ValueError, match=r"`states` must have shape \(K, T, H\)"):
        recurrence_period(states, tolerance=1e-9, max_period=3)


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
