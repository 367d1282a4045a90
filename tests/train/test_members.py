"""The non-finite policies' bookkeeping: skipped members are counted and flagged, frozen ones recorded."""

import numpy as np
import torch

from gradtrace.models import ElmanRNN
from gradtrace.tasks import Adding
from gradtrace.train import fit

STEPS = 6
OPTIONS = {"steps": STEPS, "batch_size": 3, "eval_batch_size": 3, "seed": 0}


def _exploding():
    """Three members; member 0's read-out overflows the loss at every step, the others are sound."""
    model = ElmanRNN(2, 4, 1, num_models=3, seed=1, dtype=torch.float64)
    with torch.no_grad():
        model.W_out[0].fill_(1e200)
    return model


def test_skip_counts_the_steps_each_member_was_skipped_and_flags_them_per_step():
    run = fit(_exploding(), Adding(5), on_nonfinite="skip", **OPTIONS)
    np.testing.assert_array_equal(run.skipped_steps, [STEPS, 0, 0])
    np.testing.assert_array_equal(run.history["nonfinite/skipped"], np.tile([1.0, 0.0, 0.0], (STEPS, 1)))
    # Skipping is not diverging: the member stays active, so diverged_at keeps its meaning for "record".
    np.testing.assert_array_equal(run.diverged_at, [-1, -1, -1])


def test_record_freezes_and_never_counts_skips():
    run = fit(_exploding(), Adding(5), on_nonfinite="record", **OPTIONS)
    np.testing.assert_array_equal(run.diverged_at, [0, -1, -1])
    np.testing.assert_array_equal(run.skipped_steps, [0, 0, 0])
    assert "nonfinite/skipped" not in run.history


def test_a_sound_run_skips_nothing():
    model = ElmanRNN(2, 4, 1, num_models=2, seed=1, dtype=torch.float64)
    run = fit(model, Adding(5), on_nonfinite="skip", **OPTIONS)
    assert run.skipped_steps.dtype == np.int64
    np.testing.assert_array_equal(run.skipped_steps, [0, 0])
    np.testing.assert_array_equal(run.history["nonfinite/skipped"], np.zeros((STEPS, 2)))
