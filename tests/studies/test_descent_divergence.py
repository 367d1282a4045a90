"""A descent study whose members all diverge says so, instead of showing the loss before training as final."""

import math

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.descent import Descent, DescentConfig
from gradtrace.studies.descent.figures import draw as descent_figures

SEEDS = 2
# A learning rate of a million sends every member's weights to infinity within a few updates.
EXPLODING = DescentConfig(dataset_size=16, mini_batch_size=4, epochs=3, hidden_sizes=(8,), eval_batch_size=64,
                          batch_lr=1e6, mini_batch_lr=1e6, stochastic_lr=1e6)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("descent-diverged"))
    run_study(Descent(EXPLODING), store, seeds=SEEDS)
    return store


@pytest.mark.parametrize("variant", ["mini_batch", "stochastic"])
def test_members_that_diverge_in_the_first_epoch_leave_no_final_loss(store, variant):
    run = store.get("descent", variant)
    s, a = run.summary, run.arrays
    assert a["diverged_epoch"].tolist() == [1, 1]
    assert s["diverged"] == SEEDS and s["first_diverged_epoch"] == s["last_diverged_epoch"] == 1
    assert s["divergence"] == "all 2 diverged at epoch 1"
    # The regression: the stochastic run showed the loss before training (epoch 0) as its final loss.
    assert math.isnan(s["train_loss"]) and math.isnan(s["task/loss"])
    assert a["epoch/train_loss"].shape == (EXPLODING.epochs + 1, SEEDS)
    assert np.isfinite(a["epoch/train_loss"][0]).all() and np.isnan(a["epoch/train_loss"][1:]).all()
    assert a["epoch/seconds"].shape == (EXPLODING.epochs + 1,)


def test_a_loss_that_overflows_without_a_nan_step_counts_as_diverged(store):
    # Full-batch descent: the recorded batch losses stay finite (1e26) while the weights overflow, so
    # fit never flags the members; their loss on the training set after the last epoch is infinite.
    run = store.get("descent", "batch")
    assert run.arrays["diverged_at"].tolist() == [-1, -1]
    assert run.arrays["diverged_epoch"].tolist() == [3, 3]
    assert run.summary["divergence"] == "all 2 diverged at epoch 3" and math.isnan(run.summary["train_loss"])
    assert np.isfinite(run.arrays["epoch/train_loss"][:3]).all()


def test_the_table_and_figures_say_when_all_diverged(store):
    figures, tables = descent_figures(store)
    assert len(figures) == 3
    rows = {row[0]: row for row in tables[0].rows}
    header = tables[0].columns
    final = header.index("final training loss")
    for label, epoch in (("batch (full) GD", 3), ("mini-batch SGD", 1), ("stochastic GD (1 example)", 1)):
        assert rows[label][final] == f"all 2 diverged at epoch {epoch}"
        assert rows[label][header.index("diverged")] == f"all 2 diverged at epoch {epoch}"
        assert rows[label][header.index("final held-out loss")] == "—"
    # The stochastic run never finished an epoch: it has no time per epoch to show.
    assert rows["stochastic GD (1 example)"][header.index("ms per epoch")] == "—"


def test_the_terminal_summary_has_a_divergence_column(store):
    assert ("diverged", "divergence", "") in Descent.summary_columns
    assert store.get("descent", "stochastic").summary["divergence"] == "all 2 diverged at epoch 1"
