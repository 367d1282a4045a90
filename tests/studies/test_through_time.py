"""The through-time study: what a run stores, its claims on data that supports them and on data that does not,
its figures in both languages."""

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies import ThroughTime, ThroughTimeConfig, evaluate_claims, run_study
from gradtrace.studies.through_time import QUICK
from gradtrace.studies.through_time.config import (
    BY_LAG,
    DECAY_RATE,
    HORIZON,
    INIT,
    JACOBIAN_TOP_SINGULAR_VALUE,
    PHASES,
    SPECTRAL_RADIUS,
    TANH_SLOPE,
    TOP_SINGULAR_VALUE,
    key,
    run_name,
)
from gradtrace.studies.through_time.figures import draw

SEEDS = 2
K = 5
TRACE_KEYS = (BY_LAG, DECAY_RATE, HORIZON, SPECTRAL_RADIUS, TOP_SINGULAR_VALUE, JACOBIAN_TOP_SINGULAR_VALUE,
              TANH_SLOPE)


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("through-time"))
    run_study(ThroughTime(), store, quick=True, seeds=SEEDS)
    return store


def test_a_quick_run_stores_traces_before_and_after_training(quick_store):
    assert quick_store.names("through-time") == ["rho=0.5", "rho=1.5"]
    for name, rho in zip(quick_store.names("through-time"), QUICK.radii, strict=True):
        record = quick_store.get("through-time", name)
        assert record.status == "finished"
        expected = {key(phase, name) for phase in PHASES for name in TRACE_KEYS}
        assert set(record.arrays) == expected | {"train/loss", "diverged_at"}
        a = record.arrays
        assert a["init/by_lag"].shape == a["trained/by_lag"].shape == (SEEDS, QUICK.length)
        for name in (DECAY_RATE, HORIZON, SPECTRAL_RADIUS, TOP_SINGULAR_VALUE, TANH_SLOPE):
            assert a[key(INIT, name)].shape == (SEEDS,), name
        assert a["init/jacobian_top_singular_value"].shape == (SEEDS, 3)  # at 3 steps along the sequence
        assert a["train/loss"].shape == (QUICK.steps, SEEDS) and a["diverged_at"].shape == (SEEDS,)
        np.testing.assert_allclose(a["init/spectral_radius"], rho, rtol=1e-4)
        assert ((a["init/tanh_slope"] > 0) & (a["init/tanh_slope"] <= 1)).all()
        assert set(record.summary) == {"rho", "baseline_loss", "init/decay_rate", "trained/decay_rate", "init/horizon",
                                       "trained/horizon", "task/loss", "diverged"}
        assert record.summary["rho"] == rho and record.summary["baseline_loss"] == pytest.approx(1 / 6)
        assert record.summary["diverged"] == 0 and np.isfinite(record.summary["task/loss"])
        assert record.config["rho"] == rho and record.config["seeds"] == SEEDS


def test_the_init_gradient_vanishes_below_radius_one_and_stays_under_its_envelope(tmp_path):
    config = ThroughTimeConfig(radii=(0.5, 1.5), length=20, hidden_size=8, steps=1, batch_size=4, probe_batch_size=16)
    store = Store(tmp_path)
    run_study(ThroughTime(config), store, seeds=3)
    small, large = (store.get("through-time", name) for name in ("rho=0.5", "rho=1.5"))
    assert np.all(small.arrays["init/decay_rate"] < 1)
    assert large.summary["init/decay_rate"] > small.summary["init/decay_rate"]
    # The gradient is shorter-lived at ρ = 0.5: it falls faster and reaches less far back.
    assert large.summary["init/horizon"] >= small.summary["init/horizon"]
    # Saturation: the larger ρ drives the units harder, so tanh′ is smaller on average.
    assert np.all(large.arrays["init/tanh_slope"] < small.arrays["init/tanh_slope"])
    for record in (small, large):
        by_lag = record.arrays["init/by_lag"].astype(np.float64)
        envelope = record.arrays["init/top_singular_value"][:, None] ** np.arange(by_lag.shape[1])  # (σ_max·1)^k
        assert np.all(by_lag / by_lag[:, :1] <= envelope * (1 + 1e-4)), record.name
    verdicts = {v.name: v for v in evaluate_claims(store, ThroughTime(config))}
    assert verdicts["profile-under-envelope"].held and verdicts["profile-under-envelope"].values["profiles"] == 6


def _fabricated(tmp_path, *, small_horizon=20, tempering=0.1, envelope=1.0):
    """A store of the default radii with profiles ρ^k; between 1 and 2, (1 + tempering · (ρ − 1))^k."""
    store = Store(tmp_path)
    config = ThroughTimeConfig()
    store.set_meta("study/through-time", {"quick": False, "seeds": K, "config": config.model_dump(mode="json")})
    lags = np.arange(config.length)
    for rho in config.radii:
        factor = 1 + tempering * (rho - 1) if 1 < rho < 2 else rho
        by_lag = np.tile(float(factor) ** lags, (K, 1))
        horizon = small_horizon if rho < 1 else config.length
        arrays = {key(INIT, BY_LAG): by_lag, key(INIT, HORIZON): np.full(K, horizon),
                  key(INIT, TOP_SINGULAR_VALUE): np.full(K, max(rho, factor) * envelope),
                  key(INIT, TANH_SLOPE): np.full(K, min(1.0, 1 / rho))}
        store.put("through-time", run_name(rho), arrays, config={"rho": rho},
                  summary={key(INIT, DECAY_RATE): min(rho, factor)})
    return store


def _verdicts(store):
    return {v.name: v for v in evaluate_claims(store, "through-time")}


def test_every_claim_holds_on_data_that_shows_the_course(tmp_path):
    verdicts = _verdicts(_fabricated(tmp_path))
    assert set(verdicts) == {"vanishing-at-small-rho", "exploding-at-large-rho", "tanh-tempers-rho=1.2",
                             "tanh-tempers-rho=1.5", "factor-follows-rho", "profile-under-envelope"}
    assert all(v.held for v in verdicts.values()), [v.sentence["en"] for v in verdicts.values() if not v.held]
    assert "in 5 of 5 members" in verdicts["vanishing-at-small-rho"].sentence["en"]
    assert "baixa tanh′ para 0,67 em média" in verdicts["tanh-tempers-rho=1.5"].sentence["pt"]


def test_the_vanishing_claim_fails_when_the_gradient_reaches_the_start(tmp_path):
    verdicts = _verdicts(_fabricated(tmp_path, small_horizon=ThroughTimeConfig().length))
    assert not verdicts["vanishing-at-small-rho"].held and verdicts["exploding-at-large-rho"].held


def test_the_tempered_claim_fails_when_the_gradient_explodes_just_above_one(tmp_path):
    # 1.2 per step over 120 steps is 10⁹-fold: exploding, whatever tanh′ says.
    verdicts = _verdicts(_fabricated(tmp_path, tempering=1.0))
    assert not verdicts["tanh-tempers-rho=1.2"].held
    assert verdicts["tanh-tempers-rho=1.2"].values["n"] == 0


def test_the_envelope_claim_fails_when_a_profile_rises_above_sigma_max_to_the_k(tmp_path):
    verdicts = _verdicts(_fabricated(tmp_path, envelope=0.99))
    assert not verdicts["profile-under-envelope"].held
    assert verdicts["profile-under-envelope"].values["closest"] > 1


def test_a_real_study_where_the_vanishing_claim_must_fail(tmp_path):
    # Five steps at ρ = 0.9 lose a factor 0.9^5 ≈ 0.6, nowhere near 10⁻⁶: the gradient cannot vanish.
    study = ThroughTime(ThroughTimeConfig(radii=(0.9,), length=5, hidden_size=4, steps=1, batch_size=2,
                                          probe_batch_size=2))
    store = Store(tmp_path)
    run_study(study, store, seeds=2)
    verdicts = {v.name: v for v in evaluate_claims(store, study)}
    assert (verdicts["vanishing-at-small-rho"].verdict, verdicts["vanishing-at-small-rho"].values["n"]) == (
        "not held", 0)


def test_figures_are_drawn_in_both_languages_in_the_order_of_rho(quick_store, tmp_path):
    for lang, title in (("en", "Gradient against lag"), ("pt", "O gradiente em função do atraso")):
        figures, (table,) = draw(quick_store, lang)
        assert [f.title for f in figures][0] == title and len(figures) == 2
        assert all(f.png.startswith(b"\x89PNG") for f in figures)
        assert [row[0] for row in table.rows] == (["0.5", "1.5"] if lang == "en" else ["0,5", "1,5"])
    # Stored in another order, drawn in the order of ρ.
    shuffled = Store(tmp_path)
    for name in reversed(quick_store.names("through-time")):
        run = quick_store.get("through-time", name)
        shuffled.put("through-time", name, run.arrays, config=run.config, summary=run.summary)
    assert [row[0] for row in draw(shuffled)[1][0].rows] == ["0.5", "1.5"]


def test_captions_describe_the_figure_and_state_no_result(quick_store):
    for lang in ("en", "pt"):
        figures, tables = draw(quick_store, lang)
        for text in [f.caption for f in figures] + [t.caption for t in tables]:
            for verdict in ("vanish", "explod", "desaparece", "explode", "tempers", "modera"):
                assert verdict not in text.lower(), (verdict, text)


def test_a_config_is_checked_where_it_is_made():
    with pytest.raises(ValueError, match="`radii` must be a non-empty tuple without repeats"):
        ThroughTimeConfig(radii=(0.5, 0.5))
    with pytest.raises(ValueError, match="length"):
        ThroughTimeConfig(length=1)
