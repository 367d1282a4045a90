"""A descent study whose members all diverge says so, instead of showing the loss before training as final."""

import math

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.descent import Descent, DescentConfig, Key
from gradtrace.studies.descent.figures import draw

SEEDS = 2
# A learning rate of a million sends every member's weights to infinity within a few updates.
EXPLODING = DescentConfig(dataset_size=16, mini_batch_size=4, epochs=3, hidden_sizes=(8,), eval_batch_size=64,
                          lr=1e6)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("descent-diverged"))
    run_study(Descent(EXPLODING), store, seeds=SEEDS)
    return store


@pytest.mark.parametrize("variant", ["mini_batch", "stochastic"])
def test_members_that_diverge_in_the_first_epoch_leave_no_final_loss(store, variant):
    run = store.get("descent", variant)
    s, a = run.summary, run.arrays
    assert a[Key.DIVERGED_EPOCH].tolist() == [1, 1]
    assert s[Key.DIVERGED] == SEEDS and s[Key.DIVERGENCE] == "all 2 diverged at epoch 1"
    # The regression: the stochastic run showed the loss before training (epoch 0) as its final loss.
    assert math.isnan(s[Key.FINAL_LOSS]) and math.isnan(s[Key.FINAL_HELD_OUT])
    assert a[Key.EPOCH_LOSS].shape == (EXPLODING.epochs + 1, SEEDS)
    assert np.isfinite(a[Key.EPOCH_LOSS][0]).all() and np.isnan(a[Key.EPOCH_LOSS][1:]).all()
    # Updates fit never ran (it stops once every member diverged) are NaN, not missing.
    assert a[Key.UPDATE_LOSS].shape == (EXPLODING.epochs * s[Key.UPDATES_PER_EPOCH] + 1, SEEDS)


def test_a_loss_that_overflows_without_a_nan_step_counts_as_diverged(store):
    # Full-batch descent: the recorded batch losses stay finite while the weights overflow, so fit never flags
    # the members; their loss on the training set after an update is infinite.
    run = store.get("descent", "batch")
    assert run.arrays[Key.DIVERGED_EPOCH].tolist() == [3, 3]
    assert run.summary[Key.DIVERGENCE] == "all 2 diverged at epoch 3" and math.isnan(run.summary[Key.FINAL_LOSS])
    assert np.isfinite(run.arrays[Key.EPOCH_LOSS][:3]).all()


@pytest.mark.parametrize(("lang", "words"), [("en", "all 2 diverged at epoch {}"),
                                             ("pt", "todas as 2 divergiram na época {}")])
def test_the_table_and_figures_say_when_all_diverged(store, lang, words):
    figures, tables = draw(store, lang)
    assert len(figures) == 3
    table = tables[0]
    final = 3  # final training loss
    for row, epoch in zip(table.rows, (3, 1, 1)):
        assert row[final] == words.format(epoch) and row[-1] == words.format(epoch)
        assert row[4] == "—"  # no held-out loss
    # The stochastic run never finished an epoch: it has no time per epoch to show.
    assert table.rows[2][-2] == "—"


def test_the_terminal_summary_has_a_divergence_column():
    assert ("diverged", Key.DIVERGENCE, "") in Descent.summary_columns
