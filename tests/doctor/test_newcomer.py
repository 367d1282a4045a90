"""What a first-time practitioner ran into, kept fixed: each test is one report from a newcomer's try."""

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gradtrace as gt
from gradtrace.cli import app
from gradtrace.doctor import LossFunctionError


def _mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_one_batch_given_where_a_list_is_expected_says_so():
    model = nn.Linear(3, 1)
    batch = (torch.randn(4, 3), torch.randn(4, 1))
    with pytest.raises(TypeError, match=r"looks like one batch \(inputs, targets\): pass \[batch\]"):
        gt.treat(model, _mse, batch, steps=1, seeds=1)
    with pytest.raises(TypeError, match="pass \\[batch\\]"):
        gt.diagnose(model, _mse, batches=batch)


def test_a_model_that_came_in_eval_mode_is_told_it_was_diagnosed_in_training_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).eval()
    batch = (torch.randn(8, 3), torch.randn(8, 1))
    (note,) = gt.diagnose(model, _mse, batch).notes
    assert "came in eval mode" in note and "mode='as-is'" in note
    assert not gt.diagnose(model, _mse, batch, mode="as-is").notes
    assert not model.training  # and it is still in eval mode


class FunctionalSigmoids(nn.Module):
    def __init__(self, depth: int = 8):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(depth))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x


def test_activations_called_as_functions_are_named_as_invisible():
    torch.manual_seed(0)
    diagnosis = gt.diagnose(FunctionalSigmoids(), _mse, (torch.randn(8, 4), torch.randn(8, 4)))
    assert any("activations called as functions" in note for note in diagnosis.notes)
    modular = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(4, 4), nn.Sigmoid())])
    assert not gt.diagnose(modular, _mse, (torch.randn(8, 4), torch.randn(8, 4))).notes


def test_a_loss_that_fails_while_treating_says_which_copy_seed_and_step():
    calls = {"n": 0}

    def flaky(model, batch):
        calls["n"] += 1
        if calls["n"] > 3:  # the diagnosis's batch and two training steps go through
            raise RuntimeError("data loader hiccup")
        return _mse(model, batch)

    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(4, 4), nn.Sigmoid())])
    batches = [(torch.randn(8, 4), torch.randn(8, 4))]
    with pytest.raises(LossFunctionError, match=r"while training the untreated copy, seed 0, step 2: data loader "
                                                r"hiccup\. Your model itself was not trained\."):
        gt.treat(model, flaky, batches, steps=5, seeds=1)


CASE = '''
import torch
from torch import nn

calls = {"n": 0}


def model():
    return nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(4, 4), nn.Sigmoid())])


def flaky(model, batch):
    calls["n"] += 1
    if calls["n"] > 2:
        raise RuntimeError("data loader hiccup")
    return ((model(batch[0]) - batch[1]) ** 2).mean()


def data():
    return [(torch.randn(8, 4), torch.randn(8, 4))]
'''


def test_the_command_keeps_the_diagnosis_when_the_loss_fails_during_treatment(tmp_path):
    source = tmp_path / "flaky.py"
    source.write_text(CASE, encoding="utf-8")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["doctor", f"{source}:model", "--loss", f"{source}:flaky", "--data",
                                      f"{source}:data", "--treat", "--steps", "5", "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "while training the untreated copy" in " ".join(result.output.split())
    assert out.exists() and out.with_suffix(".json").exists()  # the diagnosis alone, kept


def test_a_misspelt_attribute_gets_a_suggestion_among_the_modules_own_names():
    result = CliRunner().invoke(app, ["doctor", "gradtrace.doctor.examples:explodng_rnn", "--loss",
                                      "gradtrace.doctor.examples:exploding_rnn_loss", "--data",
                                      "gradtrace.doctor.examples:exploding_rnn_batches"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Did you mean 'exploding_rnn'?" in text
    assert "Callable" not in text and "OrderedDict" not in text  # what the module imports is not offered
