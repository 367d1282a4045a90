"""XOR: the truth table, sampling, jitter, the 0.25 baseline, scoring and argument checks."""

import pytest
import torch

from gradtrace.tasks import TASKS, XOR, make_task, member_loss

TRUTH_TABLE = {(0.0, 0.0): 0.0, (0.0, 1.0): 1.0, (1.0, 0.0): 1.0, (1.0, 1.0): 0.0}


def test_points_are_the_truth_table():
    task = XOR()
    batch = task.points()
    assert (task.input_size, task.output_size, task.max_length) == (2, 1, 1)
    assert batch.inputs.shape == (4, 1, 2) and batch.targets.shape == (4, 1, 1)
    assert batch.inputs.dtype == batch.targets.dtype == torch.float32
    assert batch.mask.shape == (4, 1) and bool(batch.mask.all()) and batch.loss == "mse"
    table = {tuple(x[0].tolist()): float(y) for x, y in zip(batch.inputs, batch.targets[:, 0, 0])}
    assert table == TRUTH_TABLE


def test_sample_draws_the_four_points_uniformly_with_their_labels():
    batch = XOR().sample(4000, seed=0)
    assert batch.inputs.shape == (4000, 1, 2) and batch.targets.shape == (4000, 1, 1)
    assert bool(batch.mask.all())
    pairs = [tuple(x.tolist()) for x in batch.inputs[:, 0]]
    for pair, label in zip(pairs, batch.targets[:, 0, 0].tolist()):
        assert TRUTH_TABLE[pair] == label
    counts = [pairs.count(p) for p in TRUTH_TABLE]
    assert all(900 < c < 1100 for c in counts), counts  # 1000 ± 3.5 standard errors


def test_noise_jitters_the_inputs_and_keeps_the_clean_targets():
    clean, noisy = XOR().sample(2000, seed=1), XOR(noise=0.1).sample(2000, seed=1)
    assert torch.equal(noisy.targets, clean.targets)  # the same points are drawn first
    jitter = (noisy.inputs - clean.inputs).double()
    assert abs(float(jitter.mean())) < 0.01 and float(jitter.std()) == pytest.approx(0.1, rel=0.05)


def test_same_seed_same_batch_other_seed_other_batch():
    task = XOR(noise=0.2)
    first = task.sample(16, seed=3)
    again = task.sample(16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, task.sample(16, seed=4).inputs)


def test_baseline_is_the_loss_of_predicting_one_half():
    task = XOR()
    batch = task.points()
    assert task.baseline_loss == 0.25
    assert member_loss(torch.full((1, 4, 1), 0.5), batch).tolist() == [0.25]


def test_scoring_perfect_constant_and_two_member_outputs():
    task = XOR()
    batch = task.points()
    for perfect in (batch.targets[None], batch.targets[None, :, -1]):  # (K, B, T, O) and (K, B, O)
        scores = task.score(perfect, batch)
        assert scores["task/accuracy"].tolist() == [1.0] and scores["task/success"].tolist() == [True]
    # 0.5 is not above 0.5: the constant reads as "0" everywhere and is right on 00 and 11 only.
    assert task.correct(torch.full((1, 4, 1), 0.5), batch).tolist() == [[True, False, False, True]]
    near = batch.targets[:, -1] * 0.2 + 0.4  # 0.4 / 0.6: on the right side of 0.5
    scores = task.score(torch.stack([near, 1 - near]), batch)
    assert scores["task/accuracy"].tolist() == [1.0, 0.0]
    assert scores["task/success"].tolist() == [True, False]
    torch.testing.assert_close(scores["task/loss"], torch.tensor([0.16, 0.36]))


def test_registered_and_described():
    assert TASKS["xor"] is XOR and make_task("xor", noise=0.1) == XOR(0.1)
    assert XOR().describe() == "xor(noise=0.0)"


@pytest.mark.parametrize(
    ("noise", "error", "match"),
    [
        (-0.1, ValueError, r"`noise` must be at least 0\.0, got -0\.1"),
        (float("nan"), ValueError, r"`noise` must be finite"),
        ("0.1", TypeError, r"`noise` must be a real number, got '0\.1'"),
    ],
)
def test_invalid_noise_raises(noise, error, match):
    with pytest.raises(error, match=match):
        XOR(noise)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 9, 16])
def test_a_batch_holds_every_point_equally_often(batch_size):
    batch = XOR().sample(batch_size, seed=0)
    points = [tuple(p) for p in batch.inputs[:, 0].tolist()]
    counts = [points.count(p) for p in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]]
    assert sum(counts) == batch_size and max(counts) - min(counts) <= 1
