"""Batch norm in training mode refuses a batch of one example instead of reporting a vanished gradient.

Regression: ``trace`` on a batch of 1 returned zero grad_norms and ``fit(batch_size=1)`` trained on it
(torch's BatchNorm refuses: "Expected more than 1 value per channel when training").
"""

import pytest
import torch

import gradtrace as gt


def _model():
    return gt.MLP(2, depth=3, width=8, output_size=2, batch_norm=True, seed=0)


def test_trace_refuses_a_batch_of_one_naming_the_batch_and_why():
    with pytest.raises(ValueError, match=r"`batch` holds 1 example, but batch norm in training mode .* every "
                                         r"normalized output would be 0"):
        gt.trace(_model(), gt.Circles().sample(1, seed=0))


def test_a_batch_of_one_is_fine_in_eval_mode_and_two_in_training():
    model = _model()
    assert torch.isfinite(gt.trace(model, gt.Circles().sample(2, seed=0)).grad_norms).all()
    model.eval()
    assert (gt.trace(model, gt.Circles().sample(1, seed=0)).grad_norms > 0).all()


def test_forward_refuses_a_batch_of_one_in_training_mode():
    with pytest.raises(ValueError, match=r"`inputs` holds 1 example"):
        _model()(torch.zeros(1, 2))


def test_fit_refuses_batch_size_one_before_training():
    with pytest.raises(ValueError, match=r"`batch_size` must be at least 2 for a model with batch norm, got 1"):
        gt.fit(_model(), gt.Circles(), steps=2, batch_size=1)
    # The periodic evaluations run in training mode on the held-out batch.
    with pytest.raises(ValueError, match=r"`eval_batch_size` must be at least 2 for a model with batch norm, got 1"):
        gt.fit(_model(), gt.Circles(), steps=2, batch_size=2, eval_batch_size=1)
    with pytest.raises(ValueError, match=r"`dataset_size` = 5 leaves a last batch of 1 example .* `batch_size` = 2"):
        gt.fit(_model(), gt.Circles(), steps=2, batch_size=2, dataset_size=5)
    gt.fit(gt.MLP(2, depth=3, width=8, output_size=2, seed=0), gt.Circles(), steps=2, batch_size=1,
           eval_batch_size=4)  # without batch norm a batch of one is plain SGD
