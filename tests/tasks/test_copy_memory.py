"""The copy memory task: sequence structure, seeding, the memoryless baseline and scoring."""

import math

import pytest
import torch
import torch.nn.functional as F

from gradtrace.tasks import CopyMemory, member_loss


def test_sample_follows_the_documented_layout():
    delay = 7
    task = CopyMemory(delay)
    steps = delay + 20
    batch = task.sample(64, seed=0)
    assert (task.input_size, task.output_size, task.max_length) == (10, 9, steps)
    assert task.needs_every_step
    assert batch.inputs.shape == (64, steps, 10) and batch.targets.shape == (64, steps)
    assert batch.targets.dtype == torch.long and batch.loss == "cross_entropy"
    assert bool(batch.mask.all())
    assert torch.equal(batch.inputs.sum(-1), torch.ones(64, steps)), "inputs are one-hot"
    codes = batch.inputs.argmax(-1)
    symbols = codes[:, :10]
    assert bool(((symbols >= 1) & (symbols <= 8)).all())
    assert set(symbols.flatten().tolist()) == set(range(1, 9))
    assert bool((codes[:, 10 : 10 + delay - 1] == 0).all()), "delay - 1 blanks"
    assert bool((codes[:, 10 + delay - 1] == 9).all()), "then the delimiter"
    assert bool((codes[:, -10:] == 0).all()), "then 10 blanks to answer in"
    assert bool((batch.targets[:, :-10] == 0).all())
    assert torch.equal(batch.targets[:, -10:], symbols)


def test_the_same_seed_gives_a_bit_identical_batch_and_another_seed_another():
    task = CopyMemory(5)
    first, again = task.sample(8, seed=11), task.sample(8, seed=11)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.targets, task.sample(8, seed=12).targets)


@pytest.mark.parametrize("delay", [1, 13, 30])
def test_baseline_is_the_cross_entropy_of_the_memoryless_predictor(delay):
    task = CopyMemory(delay)
    batch = task.sample(32, seed=0)
    steps = delay + 20
    # Sure of a blank until the answer starts, then a uniform guess among the 8 symbols.
    logits = torch.full((1, 32, steps, 9), -1e9, dtype=torch.float64)
    logits[..., :-10, 0] = 0.0
    logits[..., -10:, 1:] = 0.0
    log_p = logits.log_softmax(-1).gather(-1, batch.targets[None, ..., None])
    explicit = -log_p.mean()
    assert float(explicit) == pytest.approx(10 * math.log(8) / steps, rel=1e-12)
    assert task.baseline_loss == pytest.approx(float(explicit), rel=1e-12)
    assert float(member_loss(logits, batch)[0]) == pytest.approx(task.baseline_loss, rel=1e-12)


def test_perfect_outputs_score_accuracy_one_and_one_wrong_symbol_fails_the_sequence():
    task = CopyMemory(4)
    batch = task.sample(8, seed=0)
    logits = 10.0 * F.one_hot(batch.targets, 9).float()[None]
    scores = task.score(logits, batch)
    assert scores["task/accuracy"].tolist() == [1.0] and scores["task/success"].tolist() == [True]
    wrong = logits.clone()
    wrong[0, 3, -1] = 10.0 * F.one_hot((batch.targets[3, -1] % 8) + 1, 9).float()
    assert task.correct(wrong, batch).tolist() == [[True] * 3 + [False] + [True] * 4]


@pytest.mark.parametrize(
    ("delay", "error", "match"),
    [
        (0, ValueError, r"`delay` must be at least 1, got 0"),
        (2.5, TypeError, r"`delay` must be an integer"),
    ],
)
def test_invalid_delay_raises(delay, error, match):
    with pytest.raises(error, match=match):
        CopyMemory(delay)


def test_last_step_outputs_are_refused_because_every_step_is_scored():
    task = CopyMemory(3)
    batch = task.sample(2, seed=0)
    with pytest.raises(ValueError, match=r"readout='last'"):
        member_loss(torch.zeros(1, 2, 9), batch)
