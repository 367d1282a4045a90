"""The latching task: layout, seeding, the recoverable bit, baseline, scoring and argument checks."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtrace.tasks import TASKS, Latch, make_task, member_loss


def test_sample_has_the_documented_layout_and_scores_only_the_last_step():
    task = Latch(20, latch_steps=3)
    batch = task.sample(512, seed=0)
    assert (task.input_size, task.output_size, task.max_length) == (1, 1, 20)
    assert batch.inputs.shape == (512, 20, 1) and batch.targets.shape == (512, 20, 1)
    assert batch.loss == "mse" and not task.needs_every_step
    lead = batch.inputs[:, :3, 0]
    assert bool(((lead == 1.0) | (lead == -1.0)).all()), "the bit is written as ±1"
    assert bool((lead == lead[:, :1]).all()), "every latch step repeats the same bit"
    assert set(lead[:, 0].tolist()) == {-1.0, 1.0}
    assert torch.equal(batch.targets[:, :-1], torch.zeros(512, 19, 1))
    expected_mask = torch.zeros(512, 20, dtype=torch.bool)
    expected_mask[:, -1] = True
    assert torch.equal(batch.mask, expected_mask)


@pytest.mark.parametrize(("latch_steps", "target"), [(1, 0.8), (3, 0.8), (5, 1.0)])
def test_the_bit_is_recoverable_from_the_first_steps(latch_steps, target):
    task = Latch(12, latch_steps=latch_steps, target=target)
    batch = task.sample(256, seed=1)
    decoded = batch.inputs[:, :latch_steps, 0].mean(1)  # exactly ±1
    torch.testing.assert_close(batch.targets[:, -1, 0], decoded * target)


def test_distractors_are_zero_mean_gaussian_noise_of_the_given_std():
    noise = 0.5
    batch = Latch(18, latch_steps=2, noise=noise).sample(4000, seed=2)
    distractors = batch.inputs[:, 2:, 0].double()
    # 64,000 draws: the standard error of the std estimate is about 0.3 %, of the mean about 0.002.
    assert float(distractors.std()) == pytest.approx(noise, rel=0.02)
    assert abs(float(distractors.mean())) < 0.01
    # The noise carries no information about the class.
    sign = batch.inputs[:, 0, 0].double()
    assert abs(float((distractors * sign[:, None]).mean())) < 0.01


def test_default_noise_has_variance_two_tenths_and_zero_noise_leaves_zeros():
    assert Latch(10).noise**2 == pytest.approx(0.2)
    batch = Latch(10, latch_steps=4, noise=0.0).sample(8, seed=3)
    assert bool((batch.inputs[:, 4:] == 0).all())


def test_the_same_seed_gives_a_bit_identical_batch_and_another_seed_another():
    task = Latch(15)
    first, again = task.sample(8, seed=5), task.sample(8, seed=5)
    from_generator = task.sample(8, generator=torch.Generator().manual_seed(5))
    for batch in (again, from_generator):
        assert torch.equal(batch.inputs, first.inputs)
        assert torch.equal(batch.targets, first.targets)
        assert torch.equal(batch.mask, first.mask)
    assert not torch.equal(first.inputs, task.sample(8, seed=6).inputs)


def test_baseline_is_the_loss_of_the_best_input_blind_prediction():
    task = Latch(10, target=0.8)
    assert task.baseline_loss == pytest.approx(0.64)
    batch = task.sample(8000, seed=4)
    zeros = torch.zeros(1, 8000, 1)  # a last-step readout of the class mean
    assert float(member_loss(zeros, batch)[0]) == pytest.approx(task.baseline_loss, rel=1e-6)
    # Classes are balanced, so the target mean (the best constant) is near 0: a constant at the
    # sample mean does no better than the baseline beyond sampling error.
    mean = batch.targets[:, -1].mean()
    constant = torch.full((1, 8000, 1), float(mean))
    assert float(member_loss(constant, batch)[0]) == pytest.approx(task.baseline_loss, rel=0.01)


def test_perfect_outputs_score_accuracy_one_and_success():
    task = Latch(10)
    batch = task.sample(16, seed=0)
    for outputs in (batch.targets[None].clone(), batch.targets[None, :, -1].clone()):
        scores = task.score(outputs, batch)
        assert scores["task/loss"].tolist() == [0.0]
        assert scores["task/accuracy"].tolist() == [1.0]
        assert scores["task/success"].tolist() == [True]


@pytest.mark.parametrize(("scale", "is_correct"), [(0.01, True), (3.0, True), (0.0, False), (-0.01, False)])
def test_correct_judges_the_sign_of_the_output(scale, is_correct):
    task = Latch(10)
    batch = task.sample(8, seed=0)
    outputs = (batch.targets[:, -1] * scale)[None]
    assert task.correct(outputs, batch).tolist() == [[is_correct] * 8]


def test_score_is_per_member():
    task = Latch(10, target=1.0)
    batch = task.sample(8, seed=0)
    right = batch.targets[:, -1]
    scores = task.score(torch.stack([right, -right]), batch)
    assert scores["task/accuracy"].tolist() == [1.0, 0.0]
    assert scores["task/success"].tolist() == [True, False]
    torch.testing.assert_close(scores["task/loss"], torch.tensor([0.0, 4.0]))


@settings(max_examples=25, deadline=None)
@given(
    latch_steps=st.integers(1, 6),
    extra=st.integers(1, 10),
    noise=st.floats(0.0, 3.0),
    target=st.floats(0.05, 2.0),
    seed=st.integers(0, 2**16),
)
def test_any_valid_task_writes_its_bit_into_the_target_sign(latch_steps, extra, noise, target, seed):
    task = Latch(latch_steps + extra, latch_steps=latch_steps, noise=noise, target=target)
    batch = task.sample(4, seed=seed)
    assert batch.inputs.shape == (4, latch_steps + extra, 1)
    torch.testing.assert_close(batch.targets[:, -1, 0], batch.inputs[:, 0, 0] * target)
    assert task.correct(batch.inputs[None, :, 0, :], batch).all()


def test_make_task_builds_it_by_name():
    assert TASKS["latch"] is Latch
    assert make_task("latch", length=30, latch_steps=1) == Latch(30, latch_steps=1)


def test_describe_names_the_task_and_its_parameters():
    assert Latch(30, latch_steps=1, noise=0.5, target=1.0).describe() == (
        "latch(length=30, latch_steps=1, noise=0.5, target=1.0)"
    )


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"length": 3, "latch_steps": 3}, ValueError,
         r"`length` must exceed `latch_steps` \(3\) so that at least one noise step follows the bit, got length=3"),
        ({"length": 2, "latch_steps": 5}, ValueError, r"`length` must exceed `latch_steps` \(5\)"),
        ({"length": 1, "latch_steps": 1}, ValueError, r"`length` must be at least 2, got 1"),
        ({"length": 10, "latch_steps": 0}, ValueError, r"`latch_steps` must be at least 1, got 0"),
        ({"length": 10.0}, TypeError, r"`length` must be an integer"),
        ({"length": 10, "latch_steps": "3"}, TypeError, r"`latch_steps` must be an integer"),
        ({"length": 10, "noise": -0.1}, ValueError, r"`noise` must be at least 0.0, got -0.1"),
        ({"length": 10, "noise": math.nan}, ValueError, r"`noise` must be finite"),
        ({"length": 10, "noise": "0.1"}, TypeError, r"`noise` must be a real number"),
        ({"length": 10, "target": 0.0}, ValueError, r"`target` must be greater than 0.0, got 0.0"),
    ],
)
def test_invalid_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        Latch(**params)
