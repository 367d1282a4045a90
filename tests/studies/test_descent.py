"""The descent study: batch, mini-batch and stochastic descent on the same data, for the same epochs."""

import numpy as np
import pytest

from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.descent import Descent, DescentConfig
from gradtrace.studies.descent.figures import draw as descent_figures

SEEDS = 2
SMALL = DescentConfig(dataset_size=16, mini_batch_size=4, epochs=5, hidden_sizes=(8,), eval_batch_size=64)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("descent"))
    run_study(Descent(SMALL), store, seeds=SEEDS)
    return store


def test_runs_and_shapes(store):
    assert store.names("descent") == ["batch", "mini_batch", "stochastic"]
    for name, per_epoch in (("batch", 1), ("mini_batch", 4), ("stochastic", 16)):
        run = store.get("descent", name)
        a, s = run.arrays, run.summary
        assert s["updates_per_epoch"] == per_epoch and s["steps"] == SMALL.epochs * per_epoch
        assert a["epoch"].tolist() == list(range(SMALL.epochs + 1))
        assert a["epoch/train_loss"].shape == (SMALL.epochs + 1, SEEDS)
        assert a["train/loss"].shape == (s["steps"], SEEDS)
        np.testing.assert_allclose(a["step/epoch"][per_epoch - 1 :: per_epoch], np.arange(1, SMALL.epochs + 1))
        seconds = a["epoch/seconds"]
        assert seconds[0] == 0 and (np.diff(seconds) > 0).all()
        assert np.isfinite(s["task/loss"]) and s["diverged"] == 0


def test_epoch_losses_are_measured_on_the_data_fit_trains_on(store):
    # A full batch's loss, recorded before its update, is the whole training set's loss at that epoch.
    a = store.get("descent", "batch").arrays
    np.testing.assert_allclose(a["epoch/train_loss"][:-1], a["train/loss"], rtol=1e-5)
    # Every variant starts from the same weights on the same data.
    starts = [store.get("descent", name).arrays["epoch/train_loss"][0] for name in ("batch", "stochastic")]
    np.testing.assert_array_equal(*starts)


def test_more_updates_per_epoch_go_further_and_take_longer(store):
    batch = store.get("descent", "batch").summary
    stochastic = store.get("descent", "stochastic").summary
    assert stochastic["train_loss"] < batch["train_loss"] < batch["baseline_loss"] * 2
    assert stochastic["seconds"] > batch["seconds"]


def test_interrupted_run_keeps_its_epochs():
    spec = Descent(SMALL).plan(quick=False, seeds=1)[2]

    def interrupt(step, metrics):
        if step == 20:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        spec.execute(interrupt)
    partial = caught.value.partial
    assert partial.status == "interrupted" and partial.arrays["epoch/train_loss"].shape == (2, 1)


@pytest.mark.parametrize(("change", "message"), [
    ({"variants": ("batch", "momentum")}, "Unknown or no variants \\['momentum'\\].*Available: batch"),
    ({"mini_batch_size": 100}, "`mini_batch_size` must be at most 64"),
    ({"function": "cube"}, "Unknown function 'cube'"),
    ({"stochastic_lr": 0.0}, "`stochastic_lr` must be greater than 0"),
])
def test_bad_config_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        Descent(DescentConfig(**change)).plan(quick=False, seeds=1)


def test_figures_and_table(store):
    figures, tables = descent_figures(store)
    assert [f.title for f in figures] == ["Training loss against epochs", "Training loss against wall-clock time",
                                          "Per-batch loss: the noise of small batches"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = tables[0].rows
    assert [row[1:4] for row in rows] == [["16", "1", "0.1"], ["4", "4", "0.1"], ["1", "16", "0.025"]]
    assert descent_figures(Store(store.root / "empty")) == ([], [])
