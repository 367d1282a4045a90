"""The adding problem: shapes, seeding, the marker structure of each variant, baselines, scoring."""

import pytest
import torch

from gradtrace.tasks import ADDING_VARIANTS, Adding, member_loss

VARIANTS = sorted(ADDING_VARIANTS)


def _marked(batch):
    """Return (values, markers), each (B, T)."""
    return batch.inputs[..., 0], batch.inputs[..., 1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_sample_has_the_documented_shapes_and_scores_only_the_last_step(variant):
    task = Adding(20, variant=variant)
    batch = task.sample(4, seed=0)
    steps = task.max_length
    assert (task.input_size, task.output_size) == (2, 1)
    assert batch.inputs.shape == (4, steps, 2)
    assert batch.targets.shape == (4, steps, 1)
    assert batch.loss == "mse"
    expected_mask = torch.zeros(4, steps, dtype=torch.bool)
    expected_mask[:, -1] = True
    assert torch.equal(batch.mask, expected_mask)
    assert torch.equal(batch.targets[:, :-1], torch.zeros(4, steps - 1, 1))


@pytest.mark.parametrize(
    ("variant", "length", "max_length"),
    [("sum", 40, 40), ("pascanu2013", 40, 40), ("hochreiter1997", 40, 44)],
)
def test_max_length_adds_a_tenth_only_for_hochreiter1997(variant, length, max_length):
    assert Adding(length, variant=variant).max_length == max_length


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_same_seed_gives_a_bit_identical_batch(variant):
    task = Adding(20, variant=variant)
    first, again = task.sample(8, seed=3), task.sample(8, seed=3)
    from_generator = task.sample(8, generator=torch.Generator().manual_seed(3))
    for batch in (again, from_generator):
        assert torch.equal(batch.inputs, first.inputs)
        assert torch.equal(batch.targets, first.targets)
        assert torch.equal(batch.mask, first.mask)


@pytest.mark.parametrize("variant", VARIANTS)
def test_different_seeds_give_different_batches(variant):
    task = Adding(20, variant=variant)
    assert not torch.equal(task.sample(8, seed=0).inputs, task.sample(8, seed=1).inputs)


def test_sum_variant_marks_one_value_in_each_half_and_targets_their_sum():
    length = 21
    batch = Adding(length, variant="sum").sample(512, seed=1)
    values, markers = _marked(batch)
    half = length // 2
    assert bool(((markers == 0) | (markers == 1)).all())
    assert torch.equal(markers[:, :half].sum(1), torch.ones(512))
    assert torch.equal(markers[:, half:].sum(1), torch.ones(512))
    assert bool(((values >= 0) & (values < 1)).all())
    # Each half's every position gets marked somewhere in the sample: the windows are not narrower.
    assert set(markers[:, :half].argmax(1).tolist()) == set(range(half))
    assert set((markers[:, half:].argmax(1) + half).tolist()) == set(range(half, length))
    torch.testing.assert_close(batch.targets[:, -1, 0], (values * markers).sum(1))


def test_pascanu2013_marks_one_value_in_the_first_tenth_and_one_in_the_first_half():
    length = 40
    batch = Adding(length, variant="pascanu2013").sample(512, seed=2)
    values, markers = _marked(batch)
    assert torch.equal(markers.sum(1), torch.full((512,), 2.0))
    positions = markers.nonzero()[:, 1].view(512, 2)  # row-major: the first marker comes first
    first, second = positions.unbind(1)
    assert set(first.tolist()) == set(range(0, length // 10))
    assert set(second.tolist()) == set(range(length // 10, length // 2))
    assert bool(((values >= 0) & (values < 1)).all())
    torch.testing.assert_close(batch.targets[:, -1, 0], (values * markers).sum(1) / 2)


def test_hochreiter1997_pads_left_marks_the_ends_and_targets_half_plus_a_quarter_sum():
    length = 30
    task = Adding(length, variant="hochreiter1997")
    batch = task.sample(256, seed=4)
    values, markers = _marked(batch)
    assert bool(((markers == -1) | (markers == 0) | (markers == 1)).all())
    lengths, single_marks = set(), 0
    for b in range(256):
        start = int((markers[b] == -1).nonzero()[0])
        assert torch.equal(batch.inputs[b, :start], torch.zeros(start, 2)), "padding is zero pairs"
        lengths.add(task.max_length - start)
        assert markers[b, start] == -1 and markers[b, -1] == -1
        assert int((markers[b] == -1).sum()) == 2
        offsets = ((markers[b] == 1).nonzero()[:, 0] - start).tolist()
        # X1 among the first 10 pairs, X2 among the first T/2 - 1 others; a mark that fell on the
        # first pair is absorbed by its -1 and contributes zero.
        assert len(offsets) in (1, 2)
        assert all(1 <= offset <= length // 2 - 1 for offset in offsets)
        if len(offsets) == 2:
            assert min(offsets) <= 9
        single_marks += len(offsets) == 1
        assert bool(((values[b, start:] >= -1) & (values[b, start:] < 1)).all())
    assert lengths == set(range(length, length + length // 10 + 1))
    assert single_marks > 0
    plus = (markers == 1).to(values.dtype)
    torch.testing.assert_close(batch.targets[:, -1, 0], 0.5 + (values * plus).sum(1) / 4)


@pytest.mark.parametrize(
    ("variant", "constant", "size"),
    [("sum", 1.0, 40_000), ("pascanu2013", 0.5, 40_000), ("hochreiter1997", 0.5, 8_000)],
)
def test_baseline_loss_is_the_loss_of_the_trivial_predictor(variant, constant, size):
    # Relative standard error of the estimate is under 1.5 % at these sizes.
    task = Adding(20, variant=variant)
    batch = task.sample(size, seed=0)
    outputs = torch.full((1, size, 1), constant)  # a last-step readout
    assert float(member_loss(outputs, batch)[0]) == pytest.approx(task.baseline_loss, rel=0.05)


def test_baselines_of_the_uniform_variants_are_one_sixth_and_one_twenty_fourth():
    assert Adding(20, variant="sum").baseline_loss == pytest.approx(1 / 6)
    assert Adding(20, variant="pascanu2013").baseline_loss == pytest.approx(1 / 24)


@pytest.mark.parametrize("variant", VARIANTS)
def test_perfect_outputs_score_accuracy_one_and_success(variant):
    task = Adding(20, variant=variant)
    batch = task.sample(16, seed=0)
    for outputs in (batch.targets[None].clone(), batch.targets[None, :, -1].clone()):
        scores = task.score(outputs, batch)
        assert scores["task/loss"].tolist() == [0.0]
        assert scores["task/accuracy"].tolist() == [1.0]
        assert scores["task/success"].tolist() == [True]


@pytest.mark.parametrize(
    ("variant", "error", "is_correct"),
    [
        ("sum", 0.19, True),
        ("sum", 0.21, False),
        ("pascanu2013", 0.19, True),
        ("pascanu2013", 0.21, False),
        ("hochreiter1997", 0.03, True),
        ("hochreiter1997", 0.05, False),
    ],
)
def test_correct_applies_each_variants_threshold(variant, error, is_correct):
    task = Adding(20, variant=variant)
    batch = task.sample(8, seed=0)
    outputs = (batch.targets[:, -1] + error)[None]
    assert task.correct(outputs, batch).tolist() == [[is_correct] * 8]


def test_score_is_per_member():
    task = Adding(20)
    batch = task.sample(8, seed=0)
    outputs = torch.stack([batch.targets[:, -1], batch.targets[:, -1] + 1.0])
    scores = task.score(outputs, batch)
    assert scores["task/accuracy"].tolist() == [1.0, 0.0]
    assert scores["task/success"].tolist() == [True, False]
    torch.testing.assert_close(scores["task/loss"], torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"length": 1}, ValueError, r"`length` must be at least 2, got 1"),
        ({"length": 19, "variant": "hochreiter1997"}, ValueError, r"`length` must be at least 20"),
        ({"length": 9, "variant": "pascanu2013"}, ValueError, r"`length` must be at least 10"),
        (
            {"length": 20, "variant": "mean"},
            ValueError,
            r"Unknown adding variant 'mean' for `variant`\. Available: 'sum', 'hochreiter1997'",
        ),
        ({"length": 20.0}, TypeError, r"`length` must be an integer"),
    ],
)
def test_invalid_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        Adding(**params)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, r"`batch_size` must be at least 1, got 0"),
        ({"batch_size": 2.0}, TypeError, r"`batch_size` must be an integer"),
        ({"batch_size": 2, "seed": -1}, ValueError, r"`seed` must be at least 0"),
        (
            {"batch_size": 2, "seed": 0, "generator": torch.Generator()},
            ValueError,
            r"Pass either `generator` or `seed`, not both",
        ),
    ],
)
def test_invalid_sample_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        Adding(20).sample(**kwargs)


def test_describe_names_the_task_and_its_parameters():
    assert (
        Adding(30, variant="pascanu2013").describe() == "adding(length=30, variant='pascanu2013')"
    )
