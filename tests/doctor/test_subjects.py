"""Every realistic subject is diagnosed for what it is: the verdict, where, and the reading behind it."""

import math

import pytest
import torch

import gradtrace as gt
from gradtrace.doctor import examples


def _diagnose(name: str, **batches):
    subject = examples.SUBJECTS[name]
    model = subject.make_model()
    items = subject.batches(**batches) if batches else subject.batches()
    return model, gt.diagnose(model, subject.loss_fn, batches=items[:2])


def _kinds(diagnosis, where: str) -> set[str]:
    return {v.kind for v in diagnosis.verdicts if v.where == where}


@pytest.mark.parametrize("name", ["word-language-model", "word-language-gru", "word-language-rnn"])
def test_the_word_language_model_at_initialization_forgets_within_its_35_steps(name):
    _, diagnosis = _diagnose(name)
    reading = diagnosis.recurrent["rnn"]
    assert reading.grad_norms.shape == (2, 1, 35)
    # a loss on every step keeps ∂L/∂h_t large everywhere; the last step's error alone dies going back
    assert bool((reading.grad_norms > 0).all())
    for layer in (0, 1):
        verdict = next(v for v in diagnosis.verdicts if v.where == f"rnn layer {layer}")
        assert verdict.kind == "vanishing"
        horizon = int(reading.horizon[layer, 0])
        assert 0 < horizon < 35 and f"after {horizon} of 35 steps" in verdict.evidence
        assert float(reading.decay_rate[layer, 0]) < 1
    assert not diagnosis.kinds & {"exploding", "non-finite"}


def test_the_row_by_row_lstm_reads_28_rows_and_its_head_holds_batch_norm():
    model, diagnosis = _diagnose("mnist-rnn", batch_size=8)
    reading = diagnosis.recurrent["rnn"]
    assert reading.kind == "LSTM" and reading.grad_norms.shape == (1, 1, 28)
    assert reading.cell_grad_norms is not None and bool(torch.isfinite(reading.cell_grad_norms).all())
    assert set(reading.saturation) == {"input", "forget", "cell", "output", "tanh_cell"}
    names = [m.name for m in diagnosis.depth.modules]
    assert any(type(model.get_submodule(n)).__name__ == "BatchNorm1d" for n in names)
    assert not diagnosis.kinds & {"exploding", "non-finite"}


def test_the_sine_predictors_two_cells_are_traced_through_the_users_own_loop():
    _, diagnosis = _diagnose("sine-predictor", batch_size=4, length=30)
    cells = {name: r for name, r in diagnosis.recurrent.items() if r.kind == "LSTMCell"}
    assert len(cells) == 2
    for reading in cells.values():
        assert reading.grad_norms.shape[:2] == (1, 1) and reading.steps >= 29
        assert bool(torch.isfinite(reading.lag_norms).all())
    assert not diagnosis.kinds & {"exploding", "non-finite"}


def test_the_bidirectional_relu_rnn_explodes_in_both_directions():
    _, diagnosis = _diagnose("exploding-rnn", batch_size=8)
    reading = diagnosis.recurrent["rnn"]
    assert reading.grad_norms.shape == (1, 2, 50)
    assert _kinds(diagnosis, "rnn layer 0") == {"exploding"}
    assert _kinds(diagnosis, "rnn layer 0 reverse") == {"exploding"}
    assert float(reading.spectral_radius["hidden"].min()) > 1
    growth = reading.lag_norms.max(-1).values / reading.lag_norms[..., 0]
    assert float(growth.min()) >= 100


def test_the_deep_sigmoid_mlp_vanishes_through_depth_below_the_sigmoid_bound():
    _, diagnosis = _diagnose("deep-sigmoid-mlp", batch_size=32)
    (verdict,) = diagnosis.verdicts
    assert verdict.kind == "vanishing" and verdict.where == "depth"
    assert len(diagnosis.depth.layers) == 20
    assert diagnosis.depth.sigmoid_bound == 0.25 ** 19
    assert diagnosis.depth.first_last_ratio < diagnosis.depth.sigmoid_bound < 1e-3


def test_batch_norm_is_what_separates_the_vanishing_cnn_from_the_healthy_one():
    _, plain = _diagnose("small-cnn", batch_size=16)
    _, normed = _diagnose("small-cnn-bn", batch_size=16)
    assert _kinds(plain, "depth") == {"vanishing"} and plain.depth.first_last_ratio < 1e-3
    assert _kinds(normed, "depth") == {"healthy"} and 1e-3 < normed.depth.first_last_ratio < 1e3


def test_the_nan_model_is_caught_at_the_module_that_made_the_nan():
    _, diagnosis = _diagnose("nan-model", batch_size=8)
    assert diagnosis.kinds == {"non-finite"}
    assert diagnosis.first_nonfinite == examples.NAN_MODULE
    assert f"`{examples.NAN_MODULE}`" in diagnosis.verdicts[0].evidence
    assert all(math.isnan(v) for v in diagnosis.losses)


def test_treat_tries_nothing_on_a_forward_pass_that_is_nan_before_training():
    subject = examples.SUBJECTS["nan-model"]
    treatment = gt.treat(subject.make_model(), subject.loss_fn, subject.batches(count=2, batch_size=8), steps=3,
                         seeds=2)
    assert treatment.trials == [] and treatment.best is None
    assert f"`{examples.NAN_MODULE}`" in treatment.outcome and "before any training" in treatment.outcome
    assert "note: every seed" not in treatment.table()  # nothing trained, so nothing to call identical


def test_batch_norm_is_what_treat_finds_for_the_sigmoid_cnn():
    subject = examples.SUBJECTS["small-cnn"]
    model = subject.make_model()
    treatment = gt.treat(model, subject.loss_fn, subject.batches(count=2, batch_size=32), steps=60, seeds=5, lr=0.3)
    assert "batch-norm" in [t.name for t in treatment.trials]  # chosen from the diagnosis
    fixed = {t.name for t in treatment.fixed}
    assert "batch-norm" in fixed
    # the code inserts nn.BatchNorm2d after every convolution that feeds a sigmoid
    (trial,) = [t for t in treatment.trials if t.name == "batch-norm"]
    namespace = {"torch": torch, "model": model}
    exec("\n".join(trial.code), namespace)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 6
