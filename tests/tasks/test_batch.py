"""Batch validation and member_loss: shapes, kinds, masks and the last-step readout."""

import pytest
import torch
import torch.nn.functional as F

from gradtrace.tasks import Batch, member_loss


def _regression(batch_size=3, steps=5, outputs=2, *, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, steps, 4, generator=generator, dtype=torch.float64)
    targets = torch.randn(batch_size, steps, outputs, generator=generator, dtype=torch.float64)
    mask = torch.zeros(batch_size, steps, dtype=torch.bool)
    mask[:, -1] = True
    mask[0, 1] = True
    return Batch(inputs, targets, mask)


def _classification(batch_size=3, steps=5, classes=4):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(batch_size, steps, 4, generator=generator)
    targets = torch.randint(0, classes, (batch_size, steps), generator=generator)
    return Batch(
        inputs, targets, torch.ones(batch_size, steps, dtype=torch.bool), loss="cross_entropy"
    )


def test_length_and_batch_size_read_the_inputs():
    batch = _regression(batch_size=3, steps=5)
    assert (batch.length, batch.batch_size) == (5, 3)


def test_stack_adds_a_leading_member_axis():
    first, second = _regression(seed=0), _regression(seed=1)
    stacked = Batch.stack([first, second])
    assert stacked.inputs.shape == (2, 3, 5, 4) and stacked.mask.shape == (2, 3, 5)
    assert torch.equal(stacked.targets[1], second.targets)
    assert (stacked.length, stacked.batch_size) == (5, 3)
    assert torch.equal(
        first.stack([first, second]).inputs, stacked.inputs
    )  # regression: a staticmethod


B, T = 2, 3
VALID = {
    "inputs": torch.zeros(B, T, 4),
    "targets": torch.zeros(B, T, 1),
    "mask": torch.ones(B, T, dtype=torch.bool),
}


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        (
            {"inputs": torch.zeros(B, 4)},
            ValueError,
            r"`inputs` must have shape \(B, T, input_size\)",
        ),
        ({"inputs": torch.zeros(1, 1, B, T, 4)}, ValueError, r"`inputs` must have shape"),
        (
            {"inputs": torch.zeros(B, T, 4, dtype=torch.long)},
            ValueError,
            r"`inputs`.*dtype torch\.int64",
        ),
        ({"inputs": [[[0.0]]]}, TypeError, r"`inputs` must be a torch\.Tensor"),
        ({"mask": torch.ones(B, T)}, ValueError, r"`mask` must have shape \(2, 3\) of bool"),
        (
            {"mask": torch.ones(B, T + 1, dtype=torch.bool)},
            ValueError,
            r"`mask` must have shape \(2, 3\)",
        ),
        (
            {"mask": torch.zeros(B, T, dtype=torch.bool)},
            ValueError,
            r"`mask` marks no step to score",
        ),
        (
            {"targets": torch.zeros(B, T + 1, 1)},
            ValueError,
            r"`targets` must have shape \(2, 3\) \+ \(output_size,\)",
        ),
        ({"targets": torch.zeros(B, T)}, ValueError, r"`targets` must have shape"),
        ({"targets": torch.zeros(B, T, 1, dtype=torch.long)}, ValueError, r"`targets`.*of floats"),
        (
            {"loss": "l1"},
            ValueError,
            r"Unknown loss kind 'l1' for `loss`\. Available: 'mse', 'half_mse'",
        ),
        (
            {"loss": "cross_entropy"},
            ValueError,
            r"`targets` must have shape \(2, 3\) of class indices",
        ),
    ],
)
def test_invalid_batches_raise(changes, error, match):
    with pytest.raises(error, match=match):
        Batch(**{**VALID, **changes})


def test_classification_targets_must_be_integers():
    with pytest.raises(ValueError, match=r"`targets` must have shape \(2, 3\) of class indices"):
        Batch(VALID["inputs"], torch.zeros(B, T), VALID["mask"], loss="cross_entropy")


def test_mse_is_the_mean_over_scored_steps_and_units_per_member():
    batch = _regression()
    outputs = torch.randn(
        2, 3, 5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    squared = (outputs - batch.targets).square().mean(-1)  # (K, B, T)
    expected = torch.stack([squared[k][batch.mask].mean() for k in range(2)])
    torch.testing.assert_close(member_loss(outputs, batch), expected, rtol=0, atol=1e-14)


def test_unscored_steps_do_not_change_the_loss():
    batch = _regression()
    outputs = torch.randn(1, 3, 5, 2, dtype=torch.float64)
    changed = outputs.clone()
    changed[:, ~batch.mask] += 100.0
    assert torch.equal(member_loss(outputs, batch), member_loss(changed, batch))


def test_half_mse_is_half_of_mse():
    batch = _regression()
    outputs = torch.randn(3, 3, 5, 2, dtype=torch.float64)
    torch.testing.assert_close(
        member_loss(outputs, batch, kind="half_mse"),
        member_loss(outputs, batch, kind="mse") / 2,
        rtol=1e-15,
        atol=0,
    )


def test_cross_entropy_matches_torch_on_every_scored_step():
    batch = _classification()
    logits = torch.randn(2, 3, 5, 4)
    expected = torch.stack(
        [F.cross_entropy(logits[k].flatten(0, 1), batch.targets.flatten()) for k in range(2)]
    )
    torch.testing.assert_close(member_loss(logits, batch), expected)


def test_last_step_outputs_equal_per_step_outputs_when_only_the_last_step_is_scored():
    inputs, targets = torch.zeros(3, 4, 1), torch.randn(3, 4, 2)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[:, -1] = True
    batch = Batch(inputs, targets, mask)
    per_step = torch.randn(2, 3, 4, 2)
    torch.testing.assert_close(member_loss(per_step[:, :, -1], batch), member_loss(per_step, batch))


def test_last_step_outputs_with_a_batch_that_scores_earlier_steps_raise():
    batch = _regression()
    with pytest.raises(
        ValueError, match=r"reads out only the last step \(readout='last'\).*readout='all'"
    ):
        member_loss(torch.zeros(1, 3, 2, dtype=torch.float64), batch)


def test_cross_entropy_on_a_regression_batch_raises():
    with pytest.raises(ValueError, match=r"The loss 'cross_entropy' \(`loss`\) needs class-index targets"):
        member_loss(torch.zeros(1, 3, 5, 2), _regression(), kind="cross_entropy")


def test_mse_on_a_classification_batch_raises():
    with pytest.raises(ValueError, match=r"The loss 'mse' \(`loss`\) needs real targets"):
        member_loss(torch.zeros(1, 3, 5, 4), _classification(), kind="mse")


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        (torch.zeros(1, 3, 6, 2), r"`outputs` has 6 steps but the batch has 5"),
        (torch.zeros(3, 2), r"`outputs` must have shape \(K, B, T, O\) or \(K, B, O\)"),
    ],
)
def test_misshapen_outputs_raise(outputs, match):
    with pytest.raises(ValueError, match=match):
        member_loss(outputs.double(), _regression())


def test_unknown_loss_kind_raises():
    with pytest.raises(ValueError, match=r"Unknown loss kind 'l2' for `kind`"):
        member_loss(torch.zeros(1, 3, 5, 2), _regression(), kind="l2")
