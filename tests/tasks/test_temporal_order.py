"""The temporal order task: symbol layout, label decoding, baseline and scoring."""

import math

import pytest
import torch
import torch.nn.functional as F

from gradtrace.tasks import TemporalOrder, member_loss

X, Y, START, END = 4, 5, 6, 7
# Windows (inclusive) of the relevant symbols for the lengths below, from the documented fractions.
WINDOWS = {(2, 20): [(2, 4), (10, 12)], (3, 30): [(3, 6), (9, 12), (19, 22)]}


@pytest.mark.parametrize(("bits", "length"), sorted(WINDOWS))
def test_relevant_symbols_sit_in_their_windows_and_the_label_decodes_their_order(bits, length):
    task = TemporalOrder(length, bits=bits)
    batch = task.sample(512, seed=0)
    assert batch.inputs.shape == (512, length, 8) and task.output_size == 2**bits
    assert torch.equal(batch.inputs.sum(-1), torch.ones(512, length)), "inputs are one-hot"
    codes = batch.inputs.argmax(-1)
    assert bool((codes[:, 0] == START).all()) and bool((codes[:, -1] == END).all())
    middle = codes[:, 1:-1]
    relevant = (middle == X) | (middle == Y)
    assert bool(((middle < 4) | relevant).all()), "everything else is a distractor a-d"
    assert torch.equal(relevant.sum(1), torch.full((512,), bits))
    positions = relevant.nonzero()[:, 1].view(512, bits) + 1
    for slot, (low, high) in enumerate(WINDOWS[bits, length]):
        assert set(positions[:, slot].tolist()) == set(range(low, high + 1))
    is_y = (codes.gather(1, positions) == Y).long()
    label = sum(is_y[:, slot] * 2 ** (bits - 1 - slot) for slot in range(bits))  # XX..X = 0
    assert torch.equal(batch.targets[:, -1], label)
    assert set(label.tolist()) == set(range(2**bits))
    assert bool((batch.targets[:, :-1] == 0).all())
    assert batch.mask[:, -1].all() and not batch.mask[:, :-1].any()


def test_the_same_seed_gives_a_bit_identical_batch_and_another_seed_another():
    task = TemporalOrder(20)
    first, again = task.sample(8, seed=5), task.sample(8, seed=5)
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, task.sample(8, seed=6).inputs)


@pytest.mark.parametrize("bits", [2, 3])
def test_baseline_is_the_loss_of_guessing_with_balanced_classes(bits):
    task = TemporalOrder(20, bits=bits)
    batch = task.sample(8000, seed=1)
    assert task.baseline_loss == pytest.approx(math.log(2**bits))
    uniform = torch.zeros(1, 8000, 2**bits)
    assert float(member_loss(uniform, batch)[0]) == pytest.approx(task.baseline_loss, rel=1e-6)
    # The best input-blind guess is the class prior; it is uniform, so guessing is the baseline.
    prior = torch.bincount(batch.targets[:, -1], minlength=2**bits).double() / 8000
    prior_loss = -(prior * prior.log()).sum()
    assert float(prior_loss) == pytest.approx(task.baseline_loss, rel=0.01)


@pytest.mark.parametrize("bits", [2, 3])
def test_perfect_outputs_score_accuracy_one_and_success(bits):
    task = TemporalOrder(20, bits=bits)
    batch = task.sample(16, seed=2)
    per_step = 5.0 * F.one_hot(batch.targets, 2**bits).float()[None]
    for outputs in (per_step, per_step[:, :, -1]):
        scores = task.score(outputs, batch)
        assert scores["task/accuracy"].tolist() == [1.0]
        assert scores["task/success"].tolist() == [True]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            {"length": 20, "bits": 4},
            ValueError,
            r"Unknown number of bits 4 for `bits`\. Available: 2, 3\.",
        ),
        ({"length": 9}, ValueError, r"`length` must be at least 10, got 9"),
        ({"length": "20"}, TypeError, r"`length` must be an integer"),
    ],
)
def test_invalid_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        TemporalOrder(**params)
