"""Argument checking at the models' public boundary: constructors, inputs, state, conversions."""

import pytest
import torch
from torch import nn

from gradtrace.models import GRU, LSTM, MODELS, ElmanRNN, RecurrentModel, make_model

IN, H, OUT, K = 2, 4, 1, 2


# The recurrent models share one signature and one contract; the MLP has its own tests (test_mlp.py).
@pytest.fixture(params=sorted(name for name, cls in MODELS.items() if issubclass(cls, RecurrentModel)))
def model(request):
    return MODELS[request.param](IN, H, OUT, num_models=K, seed=0)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (
            torch.zeros(3, 5, IN + 1),
            r"`inputs` must have shape \(B, T, 2\) or \(2, B, T, 2\), "
            r"got Tensor of shape \(3, 5, 3\)",
        ),
        (
            torch.zeros(K + 1, 3, 5, IN),
            r"`inputs` must have shape .*got Tensor of shape \(3, 3, 5, 2\)",
        ),
        (torch.zeros(5, IN), r"`inputs` must have shape"),
        (torch.zeros(0, 5, IN), r"`inputs` needs at least one sequence and one step"),
        (torch.zeros(3, 0, IN), r"`inputs` needs at least one sequence and one step"),
        (torch.zeros(K, 3, 0, IN), r"`inputs` needs at least one sequence and one step"),
    ],
)
def test_misshapen_inputs_raise_naming_inputs(model, inputs, match):
    with pytest.raises(ValueError, match=match):
        model(inputs)


def test_inputs_are_cast_to_the_parameters_dtype(model):
    assert model(torch.zeros(2, 3, IN, dtype=torch.float64)).outputs.dtype == model.W_rec.dtype


def test_a_misshapen_state_raises_naming_state(model):
    names = ", ".join(model.state_names)
    with pytest.raises(
        ValueError, match=rf"`state` must be a tuple \({names}\) of tensors of shape \(2, 3, 4\)"
    ):
        model(torch.zeros(3, 5, IN), (torch.zeros(K, 3, H + 1),) * len(model.state_names))


def test_step_jacobian_refuses_a_step_outside_the_sequence(model):
    inputs = torch.zeros(1, 5, IN)
    trajectory = model(inputs)
    for t in (-1, 5):
        with pytest.raises(ValueError, match=r"`t` must be at (least 0|most 4)"):
            model.step_jacobian(inputs, trajectory, t)


def test_member_refuses_an_index_outside_the_ensemble(model):
    with pytest.raises(ValueError, match=r"`k` must be at most 1, got 2"):
        model.member(2)


@pytest.mark.parametrize(
    ("args", "options", "error", "match"),
    [
        ((IN, 0, OUT), {}, ValueError, r"`hidden_size` must be at least 1, got 0"),
        ((0, H, OUT), {}, ValueError, r"`input_size` must be at least 1"),
        ((IN, H, OUT), {"num_models": 0}, ValueError, r"`num_models` must be at least 1"),
        (
            (IN, H, OUT),
            {"readout": "first"},
            ValueError,
            r"Unknown readout 'first' for `readout`\. Available: 'all', 'last'",
        ),
        ((IN, H, OUT), {"seed": -1}, ValueError, r"`seed` must be at least 0"),
        ((IN, 4.0, OUT), {}, TypeError, r"`hidden_size` must be an integer"),
    ],
)
def test_invalid_constructor_arguments_raise(args, options, error, match):
    with pytest.raises(error, match=match):
        LSTM(*args, **options)


def test_unknown_activation_lists_the_available_ones():
    with pytest.raises(
        ValueError, match=r"Unknown activation 'swish' for `activation`\. Available: 'step', 'sigmoid', 'tanh'"
    ):
        ElmanRNN(IN, H, OUT, activation="swish")


def test_a_learnable_activation_is_refused_listing_the_fixed_ones():
    with pytest.raises(ValueError, match=r"ElmanRNN takes no learnable activation; got 'prelu'.*'gelu'"):
        ElmanRNN(IN, H, OUT, activation="prelu")


def test_make_model_builds_by_name_and_refuses_unknown_names():
    assert isinstance(make_model("gru", IN, H, OUT, num_models=2, seed=0), GRU)
    with pytest.raises(
        ValueError,
        match=r"Unknown model 'transformer' for `model`\. Available: 'elman', 'lstm', 'gru'",
    ):
        make_model("transformer", IN, H, OUT)


@pytest.mark.parametrize(
    ("cls", "module", "error", "match"),
    [
        (
            ElmanRNN,
            nn.RNN(IN, H, num_layers=2),
            ValueError,
            r"Cannot convert `module`: num_layers=2 \(expected 1",
        ),
        (
            LSTM,
            nn.LSTM(IN, H, bidirectional=True),
            ValueError,
            r"Cannot convert `module`: bidirectional=True",
        ),
        (LSTM, nn.LSTM(IN, H, proj_size=2), ValueError, r"proj_size=2 \(expected 0\)"),
        (
            GRU,
            nn.GRU(IN, H, num_layers=2, bidirectional=True),
            ValueError,
            r"num_layers=2 .*; bidirectional=True",
        ),
        (ElmanRNN, nn.LSTM(IN, H), TypeError, r"`module` must be a torch\.nn\.RNN, got LSTM"),
        (GRU, nn.Linear(IN, H), TypeError, r"`module` must be a torch\.nn\.GRU"),
    ],
)
def test_from_torch_refuses_what_it_cannot_convert(cls, module, error, match):
    with pytest.raises(error, match=match):
        cls.from_torch(module)


def test_from_torch_refuses_a_head_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"`head` must be an nn\.Linear with in_features=4"):
        ElmanRNN.from_torch(nn.RNN(IN, H), nn.Linear(H + 1, OUT))


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_to_torch_refuses_an_activation_torch_rnn_lacks(activation):
    with pytest.raises(ValueError, match=r"torch\.nn\.RNN supports nonlinearity 'tanh' or 'relu'"):
        ElmanRNN(IN, H, OUT, activation=activation, seed=0).to_torch()
