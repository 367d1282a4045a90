"""fit's settings: out-of-range schedules, learning rates and seeds are refused, naming the argument."""

import pytest
import torch

from gradtrace.models import ElmanRNN
from gradtrace.tasks import Adding
from gradtrace.train import MAX_LR, fit

K = 3
SMALL = {"steps": 1, "batch_size": 2, "eval_batch_size": 2}
# Member K - 1 evaluates on seed + K - 1 + 1_000_003, which torch's generator must hold in 63 bits.
LARGEST_SEED = 2**63 - 1 - (K - 1) - 1_000_003


def _model():
    return ElmanRNN(2, 3, 1, num_models=K, seed=0)


@pytest.mark.parametrize("name", ["trace_every", "eval_every"])
@pytest.mark.parametrize("value", [0, -3])
def test_a_schedule_of_zero_or_less_is_refused_not_replaced_by_the_default(name, value):
    with pytest.raises(ValueError, match=rf"`{name}` must be at least 1, got {value} \(.*None takes the default"):
        fit(_model(), Adding(4), **SMALL, **{name: value})


def test_none_schedules_take_the_defaults():
    run = fit(_model(), Adding(3), steps=100, batch_size=2, eval_batch_size=2, trace_every=None, eval_every=None)
    assert run.trace_steps.tolist() == list(range(0, 100, 2))                      # about 50 snapshots
    assert run.history["eval/step"].tolist() == [*range(0, 100, 5), 99]            # about 20, and the last step


@pytest.mark.parametrize(
    ("lr", "match"),
    [
        (1e300, r"`lr` must be at most 1e\+06, got 1e\+300 \(a learning rate is in \(0, 1e\+06\]\)"),
        (MAX_LR * 2, r"`lr` must be at most 1e\+06, got 2e\+06"),
        (float("inf"), r"`lr` must be finite, got inf \(a learning rate is in \(0, 1e\+06\]\)"),
        ([0.1, 1e300, 0.1], r"`lr\[1\]` must be at most 1e\+06, got 1e\+300"),
        (-1.0, r"`lr` must be greater than 0\.0, got -1\.0 \(a learning rate is in \(0, 1e\+06\]\)"),
    ],
)
def test_a_learning_rate_outside_its_range_is_refused_naming_lr(lr, match):
    with pytest.raises(ValueError, match=match):
        fit(_model(), Adding(4), lr=lr, **SMALL)


def test_the_largest_learning_rate_is_accepted():
    fit(ElmanRNN(2, 3, 1, seed=0, dtype=torch.float64), Adding(4), lr=MAX_LR, optimizer="sgd", **SMALL)


@pytest.mark.parametrize("seed", [2**70, LARGEST_SEED + 1])
def test_a_seed_past_the_generators_range_is_refused_naming_seed_and_the_range(seed):
    match = rf"`seed` must be at most {LARGEST_SEED}, got {seed} \(valid seeds are \[0, {LARGEST_SEED}\]"
    with pytest.raises(ValueError, match=match):
        fit(_model(), Adding(4), seed=seed, **SMALL)


def test_a_negative_seed_is_refused_with_the_range():
    with pytest.raises(ValueError, match=rf"`seed` must be at least 0, got -1 \(valid seeds are \[0, {LARGEST_SEED}\]"):
        fit(_model(), Adding(4), seed=-1, **SMALL)


def test_the_largest_seed_trains():
    assert fit(_model(), Adding(4), seed=LARGEST_SEED, **SMALL).config["seed"] == LARGEST_SEED
