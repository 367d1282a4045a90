"""The exploding study: runs, claims and figures at smoke-test sizes; its claims' verdicts on data made to order."""

import numpy as np
import pytest

from gradtrace.errors import ConfigError
from gradtrace.store import Store
from gradtrace.studies import Exploding, ExplodingConfig, evaluate_claims, run_study
from gradtrace.studies.exploding import CURES, QUICK, make_remedies
from gradtrace.studies.exploding.claims import TRAINED
from gradtrace.studies.exploding.config import (
    BASELINE,
    BELOW_BASELINE,
    CLIP_FIRED,
    CLIP_NORM,
    DIVERGED,
    DIVERGED_AT,
    FIRST_DIVERGENCE,
    GRAD_NORM,
    L2,
    L2_CLIP,
    MAX_GRAD_NORM,
    OMEGA,
    OMEGA_CLIP,
    PLAIN,
    SEEDS,
    TBPTT_LONG,
    TBPTT_SHORT,
    TEST_LOSS,
)
from gradtrace.studies.exploding.figures import draw

# Every cure at a tiny size whose plain SGD diverges within 60 steps (lr 0.5 on a 30-step window); 60 steps are
# too few for any cure to train, so the claims that a cure trains do not hold here.
SMALL = ExplodingConfig(length=30, series_length=400, hidden_size=8, steps=60, lr=0.5, batch_size=8,
                        eval_batch_size=16, short_truncation=2, long_truncation=6)
K = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("exploding"))
    run_study(Exploding(SMALL), store, seeds=K)
    return store


def test_each_cure_is_a_run_from_the_same_start(store):
    assert store.names("exploding") == list(CURES)
    plain = store.get("exploding", PLAIN)
    assert plain.summary[DIVERGED] == K and 0 <= plain.summary[FIRST_DIVERGENCE] < SMALL.steps
    assert plain.summary[MAX_GRAD_NORM] > 1e6
    assert np.isinf(plain.arrays[TEST_LOSS]).all() and plain.summary[BELOW_BASELINE] == 0
    for cure in (CLIP_NORM, OMEGA_CLIP, L2_CLIP):
        run = store.get("exploding", cure)
        assert run.summary[DIVERGED] == 0, cure
        assert np.isfinite(run.arrays[TEST_LOSS]).all()
        assert run.arrays[CLIP_FIRED].shape == (SMALL.steps, K)
    assert CLIP_FIRED not in store.get("exploding", TBPTT_SHORT).arrays
    # The same weights and batches: every run's first gradient is the same, before any cure acts.
    first = [store.get("exploding", cure).arrays[GRAD_NORM][0] for cure in (PLAIN, CLIP_NORM, OMEGA, L2)]
    assert all(np.allclose(f, first[0]) for f in first)
    assert store.get("exploding", TBPTT_SHORT).config["truncation"] == "TBPTT(k1=2, k2=2)"


def test_claims_are_decided_from_the_runs(store):
    verdicts = {v.name: v for v in evaluate_claims(store, Exploding(SMALL))}
    assert list(verdicts) == ["plain-sgd-diverges", "clipping-by-norm-trains", "clipping-by-value-trains",
                              "short-truncation-trains", "omega-needs-clipping", "l2-needs-clipping"]
    assert all(v.measured for v in verdicts.values())
    assert verdicts["plain-sgd-diverges"].held
    assert verdicts["plain-sgd-diverges"].sentence["en"].startswith(f"At ρ = 1.5 without a cure, {K}/{K} members")
    # At lr 0.5 the 2-step truncation diverges too: the claim that it trains must not hold.
    assert not verdicts["short-truncation-trains"].held


def test_figures_and_table_in_both_languages(store):
    for lang, words in (("en", "plain SGD"), ("pt", "SGD simples")):
        figures, tables = draw(store, lang)
        assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") for f in figures)
        (table,) = tables
        assert [row[0] for row in table.rows][0] == words and len(table.rows) == len(CURES)
    figures, (table,) = draw(store, "pt")
    assert [f.title for f in figures] == ["Norma do gradiente antes da poda", "Perda de treino",
                                          "Com que frequência cada poda agiu"]
    assert "taxa de aprendizado 0,5" in table.caption
    rows = {row[0]: row for row in table.rows}
    assert rows["SGD simples"][1] == f"{K}/{K}" and rows["SGD simples"][5] == "—"
    assert "," in rows["poda pela norma (1)"][3]  # 1,2e+03: a decimal comma


def test_the_quick_study_runs_and_draws(tmp_path):
    store = Store(tmp_path)
    run_study(Exploding(), store, quick=True, seeds=2)
    assert store.names("exploding") == [PLAIN, CLIP_NORM]
    assert [v.name for v in evaluate_claims(store, "exploding")] == ["plain-sgd-diverges", "clipping-by-norm-trains"]
    figures, tables = draw(store, "pt")
    assert len(figures) == 3 and len(tables[0].rows) == 2


def _put(store, cure, diverged, losses, baseline=0.02):
    losses = np.asarray(losses, dtype=float)
    store.put("exploding", cure, {TEST_LOSS: losses, DIVERGED_AT: np.where(np.isinf(losses), 3, -1)}, config={},
              summary={SEEDS: len(losses), DIVERGED: diverged, FIRST_DIVERGENCE: 3 if diverged else -1,
                       MAX_GRAD_NORM: 1e20, BELOW_BASELINE: int((losses < baseline).sum()), BASELINE: baseline})


def _made_to_order(tmp_path, clipped_losses, omega_losses):
    store = Store(tmp_path)
    store.set_meta("study/exploding", {"quick": False, "seeds": 5})
    inf = np.inf
    _put(store, PLAIN, 5, [inf] * 5)
    _put(store, CLIP_NORM, 0, clipped_losses)
    _put(store, TBPTT_SHORT, 0, [0.001] * 5)
    _put(store, TBPTT_LONG, 4, [inf] * 4 + [0.001])
    _put(store, OMEGA, int(np.isinf(omega_losses).sum()), omega_losses)
    _put(store, OMEGA_CLIP, 0, [0.001] * 5)
    return {v.name: v for v in evaluate_claims(store, Exploding(ExplodingConfig(
        cures=(PLAIN, CLIP_NORM, TBPTT_SHORT, TBPTT_LONG, OMEGA, OMEGA_CLIP))))}


def test_a_run_that_only_survives_does_not_train(tmp_path):
    inf = np.inf
    trained = _made_to_order(tmp_path / "a", [0.001, 0.002, 0.003, 0.004, 0.03], [inf] * 4 + [0.5])
    assert trained["clipping-by-norm-trains"].held and trained["short-truncation-trains"].held
    assert trained["omega-needs-clipping"].held and trained["plain-sgd-diverges"].held
    assert trained["clipping-by-norm-trains"].sentence["pt"] == (
        "Com poda pela norma em 1: 0/5 membros divergem; a perda mediana em dados separados é 0,0030, 15% da "
        "referência 0,0200.")
    # Finite, below the baseline, but not below a quarter of it: survived without training.
    survived = _made_to_order(tmp_path / "b", [0.01] * 5, [inf] * 4 + [0.5])
    assert 0.01 > TRAINED * 0.02 and not survived["clipping-by-norm-trains"].held


def test_a_penalty_alone_that_trains_one_member_below_the_baseline_is_not_a_divergence(tmp_path):
    inf = np.inf
    verdicts = _made_to_order(tmp_path, [0.001] * 5, [inf] * 4 + [0.001])
    assert not verdicts["omega-needs-clipping"].held


def test_a_member_that_blows_up_without_overflowing_counts_as_diverging(tmp_path):
    """Whether an exploding member overflows or stops at a huge finite loss is rounding: both count."""
    inf = np.inf
    below_the_bar = _made_to_order(tmp_path / "a", [0.001] * 5, [inf] * 3 + [0.5, 0.6])  # 25 and 30 x the baseline
    assert not below_the_bar["omega-needs-clipping"].held  # 3 in 5 diverge: not most
    blown = _made_to_order(tmp_path / "b", [0.001] * 5, [inf] * 3 + [2e5, 3.0])  # 3.0 is 150 x the baseline
    verdict = blown["omega-needs-clipping"]
    assert verdict.held
    assert "3/5 members diverge and 2/5 finish above 100 × the baseline without overflowing" in verdict.sentence["en"]


def test_the_config_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="Unknown cure.*Available: plain, clip-norm"):
        ExplodingConfig(cures=(PLAIN, "clip"))
    with pytest.raises(ValueError, match="short_truncation < long_truncation"):
        ExplodingConfig(short_truncation=10, long_truncation=3)
    with pytest.raises(ConfigError, match="no key 'radius'"):
        ExplodingConfig(radius=3.0)
    assert QUICK.steps < ExplodingConfig().steps


def test_a_penalty_comes_before_the_clip():
    assert make_remedies(PLAIN, SMALL) is None and make_remedies(TBPTT_SHORT, SMALL) is None
    assert make_remedies(L2_CLIP, SMALL).describe() == (
        "chain(weight_penalty(l2=0.01), clip_by_global_norm(max_norm=1.0))")
    assert make_remedies(L2, SMALL).describe() == "weight_penalty(l2=0.01)"
