"""The descent study: batch, mini-batch and stochastic descent on the same data, for the same epochs."""

import numpy as np
import pytest

from gradtrace.errors import ConfigError, RunInterrupted
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.claims import evaluate_claims
from gradtrace.studies.descent import QUICK, Descent, DescentConfig, Key
from gradtrace.studies.descent.figures import draw

SEEDS = 2
VARIANTS = ("batch", "mini_batch", "stochastic")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("descent"))
    run_study(Descent(), store, quick=True, seeds=SEEDS)
    return store


def test_runs_and_shapes(store):
    assert store.names("descent") == list(VARIANTS)
    for name, per_epoch in zip(VARIANTS, (1, 4, 16)):
        a, s = store.get("descent", name).arrays, store.get("descent", name).summary
        updates = QUICK.epochs * per_epoch
        assert s[Key.UPDATES_PER_EPOCH] == per_epoch and s[Key.UPDATES] == updates
        assert a[Key.EPOCH].tolist() == list(range(QUICK.epochs + 1))
        assert a[Key.UPDATE_LOSS].shape == (updates + 1, SEEDS) and a[Key.BATCH_LOSS].shape == (updates, SEEDS)
        np.testing.assert_array_equal(a[Key.EPOCH_LOSS], a[Key.UPDATE_LOSS][::per_epoch])
        np.testing.assert_allclose(a[Key.STEP_EPOCH][per_epoch - 1 :: per_epoch], np.arange(1, QUICK.epochs + 1))
        assert np.isfinite(s[Key.FINAL_HELD_OUT]) and s[Key.DIVERGED] == 0


def test_losses_are_measured_on_the_data_fit_trains_on(store):
    # A full batch's loss, recorded before its update, is the whole training set's loss after the update before.
    a = store.get("descent", "batch").arrays
    np.testing.assert_allclose(a[Key.UPDATE_LOSS][:-1], a[Key.BATCH_LOSS], rtol=1e-5)
    # Every variant starts from the same weights on the same data.
    starts = [store.get("descent", name).arrays[Key.UPDATE_LOSS][0] for name in VARIANTS]
    np.testing.assert_array_equal(starts[0], starts[1])
    np.testing.assert_array_equal(starts[0], starts[2])


def test_the_summary_counts_the_updates_that_raised_the_loss(store):
    for name in VARIANTS:
        a, s = store.get("descent", name).arrays, store.get("descent", name).summary
        losses = a[Key.UPDATE_LOSS]
        assert s[Key.RISES] == int((np.diff(losses, axis=0) > 0).sum())
        assert s[Key.RISE_FRACTION] == pytest.approx(s[Key.RISES] / (losses.size - SEEDS))
        equal = s[Key.EQUAL_UPDATES]
        assert equal == QUICK.epochs and s[Key.EQUAL_UPDATES_LOSS] == pytest.approx(np.median(losses[equal]))


def test_claims_are_measured(store):
    verdicts = evaluate_claims(store, Descent())
    assert [v.name for v in verdicts] == ["more-updates-per-epoch-go-further", "full-batch-descends-at-every-update",
                                          "full-batch-update-goes-furthest"]
    assert all(v.measured for v in verdicts)
    assert all(v.sentence["pt"] and "," in v.sentence["pt"] for v in verdicts)


def test_a_full_batch_step_too_large_to_descend_fails_its_claim(tmp_path):
    # At lr 0.5 the full batch overshoots: the loss on the training set rises after some of its updates.
    study = Descent(QUICK.model_copy(update={"lr": 0.5}))
    store = Store(tmp_path)
    run_study(study, store, seeds=SEEDS)
    verdict = {v.name: v for v in evaluate_claims(store, study)}["full-batch-descends-at-every-update"]
    assert verdict.measured and not verdict.held
    assert store.get("descent", "batch").summary[Key.RISES] > 0


def test_a_config_without_every_variant_claims_nothing():
    assert Descent(QUICK.model_copy(update={"variants": ("batch", "stochastic")})).claims(quick=False, seeds=1) == []


def test_interrupted_run_keeps_its_updates():
    spec = Descent(QUICK).plan(quick=False, seeds=1)[2]

    def interrupt(step, metrics):
        if step == 20:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        spec.execute(interrupt)
    partial = caught.value.partial
    assert partial.status == "interrupted" and partial.arrays[Key.UPDATE_LOSS].shape == (22, 1)


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"variants": ("batch", "momentum")}, ValueError, r"Unknown or no variants \['momentum'\].*Available: batch"),
    ({"mini_batch_size": 100}, ValueError, "`mini_batch_size` must be at most 64"),
    ({"function": "cube"}, ValueError, "Unknown function 'cube'"),
    ({"lr": 0.0}, ValueError, "`lr` must be greater than 0"),
    ({"batch_lr": 0.1}, ConfigError, "DescentConfig has no key 'batch_lr'. Valid keys: activation"),
])
def test_bad_config_is_refused(change, error, message):
    with pytest.raises(error, match=message):
        DescentConfig(**change)


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_table(store, lang):
    figures, tables = draw(store, lang)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = tables[0].rows
    assert [row[:3] for row in rows][1:] == [[rows[1][0], "4", "4"], [rows[2][0], "1", "16"]]
    # The regression: the caption once named the config class and the task's repr.
    texts = [f.caption for f in figures] + [tables[0].caption]
    assert not any("Config" in text or "function_fit" in text or "(function=" in text for text in texts)
    if lang == "pt":
        assert "sen x" in tables[0].caption and "0,1" in tables[0].caption and "e-0" in rows[0][3]
        assert "," in rows[0][3] and "." not in rows[0][3]
    assert draw(Store(store.root / "empty"), lang) == ([], [])
