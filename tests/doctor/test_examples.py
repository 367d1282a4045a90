"""The doctor's subjects build, are reproducible, and are sick (or healthy) the way they claim."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from gradtrace.doctor import examples as ex

SMALL_LM = {"ntoken": 50, "ninp": 16, "nhid": 16}

# Models with dropout draw from the global generator in their forward; the loss is compared under one seed.
_LOSS_SEED = 1234


def _loss(subject, model, batch):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_LOSS_SEED)
        return subject.loss_fn(model, batch)


def _equal_batches(a, b):
    return len(a) == len(b) and all(
        all(torch.equal(x, y) for x, y in zip(pa, pb)) for pa, pb in zip(a, b))


def test_the_table_lists_the_subjects():
    assert {"word-language-model", "mnist-rnn", "sine-predictor", "exploding-rnn", "deep-sigmoid-mlp",
            "small-cnn", "small-cnn-bn", "nan-model"} <= set(ex.SUBJECTS)
    subject = ex.SUBJECTS["mnist-rnn"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        subject.description = "changed"


@pytest.mark.parametrize("name", sorted(ex.SUBJECTS))
def test_a_subject_builds_without_arguments_and_gives_a_scalar_loss(name):
    subject = ex.SUBJECTS[name]
    before = torch.random.get_rng_state()
    model = subject.make_model()
    batches = subject.batches()
    # Neither the factory nor the data may move the caller's global generator.
    assert torch.equal(torch.random.get_rng_state(), before)
    assert isinstance(model, nn.Module) and isinstance(batches, list) and len(batches) >= 2
    assert all(p.dtype == torch.float32 for p in model.parameters())
    loss = subject.loss_fn(model, batches[0])
    assert loss.dim() == 0 and loss.dtype == torch.float32
    assert math.isfinite(loss.item()) == (name != "nan-model")


@pytest.mark.parametrize("name", sorted(set(ex.SUBJECTS) - {"word-language-gru", "word-language-rnn"}))
def test_a_subject_is_the_same_for_the_same_seed(name):
    subject = ex.SUBJECTS[name]
    first, second = subject.make_model(), subject.make_model()
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key
    batches = subject.batches()
    assert _equal_batches(batches, subject.batches())
    a, b = _loss(subject, first, batches[0]), _loss(subject, second, batches[0])
    assert torch.equal(a, b) or (a.isnan() and b.isnan())


@pytest.mark.parametrize(("make_model", "make_batches"), [
    (lambda seed: ex.word_language_model(seed, **SMALL_LM),
     lambda seed: ex.word_language_batches(2, seed, ntoken=SMALL_LM["ntoken"], bptt=5, batch_size=3)),
    (ex.mnist_rnn, lambda seed: ex.mnist_rnn_batches(2, 4, seed)),
    (ex.sine_predictor, lambda seed: ex.sine_batches(2, 4, 10, seed)),
    (ex.exploding_rnn, lambda seed: ex.exploding_rnn_batches(2, 4, 10, seed)),
    (ex.deep_sigmoid_mlp, lambda seed: ex.deep_sigmoid_batches(2, 8, seed)),
    (ex.small_cnn, lambda seed: ex.small_cnn_batches(2, 4, seed)),
    (ex.nan_model, lambda seed: ex.nan_batches(2, 4, seed)),
])
def test_another_seed_gives_another_model_and_other_data(make_model, make_batches):
    a, b = make_model(seed=0).state_dict(), make_model(seed=1).state_dict()
    assert any(not torch.equal(a[key], b[key]) for key in a if a[key].is_floating_point())
    assert not _equal_batches(make_batches(0), make_batches(1))


# ---- word language model --------------------------------------------------------------------------

@pytest.mark.parametrize("rnn_type", ex.RNN_TYPES)
def test_the_language_model_runs_time_major_with_each_rnn_type(rnn_type):
    model = ex.word_language_model(rnn_type=rnn_type, nlayers=2, **SMALL_LM)
    data, targets = ex.word_language_batches(1, ntoken=50, bptt=7, batch_size=3)[0]
    output, hidden = model(data, model.init_hidden(3))
    assert output.shape == (7, 3, 50)
    states = hidden if rnn_type == "LSTM" else (hidden,)
    assert all(h.shape == (2, 3, 16) for h in states)
    assert isinstance(model.rnn, nn.LSTM if rnn_type == "LSTM" else nn.GRU if rnn_type == "GRU" else nn.RNN)


def test_a_one_layer_language_model_with_dropout_does_not_warn():
    # Warnings are errors here: nn.LSTM warns when given dropout with a single layer.
    model = ex.word_language_model(nlayers=1, dropout=0.5, **SMALL_LM)
    assert model.rnn.dropout == 0.0 and model.drop.p == 0.5


def test_tied_weights_need_ninp_equal_to_nhid():
    with pytest.raises(ValueError, match="ninp must equal nhid.*ninp=16, nhid=32"):
        ex.WordLanguageModel(ntoken=50, ninp=16, nhid=32, tie_weights=True)
    model = ex.word_language_model(tie_weights=True, **SMALL_LM)
    assert model.decoder.weight is model.encoder.weight
    assert sum(p.numel() for p in model.parameters()) < sum(
        p.numel() for p in ex.word_language_model(**SMALL_LM).parameters())


def test_an_unknown_rnn_type_is_refused():
    with pytest.raises(ValueError, match="rnn_type"):
        ex.WordLanguageModel("LSTMS", ntoken=50, ninp=16, nhid=16)


def test_batches_are_consecutive_chunks_with_next_word_targets():
    batches = ex.word_language_batches(3, ntoken=50, bptt=5, batch_size=4)
    for data, targets in batches:
        assert data.shape == targets.shape == (5, 4) and data.dtype == torch.long
        assert torch.equal(data[1:], targets[:-1])
        assert int(data.max()) < 50
    # Chunk k+1 continues chunk k in every column: that is what carrying the state relies on.
    assert torch.equal(batches[1][0][0], batches[0][1][-1])


def test_the_corpus_has_structure_a_bigram_model_can_learn():
    tokens = ex.synthetic_corpus(20000, ntoken=200)
    pairs = tokens[:-1] * 200 + tokens[1:]
    joint = torch.bincount(pairs, minlength=200 * 200).double().view(200, 200) / (len(tokens) - 1)
    unigram = joint.sum(1, keepdim=True)
    nonzero = joint > 0
    conditional = -(joint[nonzero] * (joint / unigram).expand_as(joint)[nonzero].log()).sum()
    marginal = -(unigram[unigram > 0] * unigram[unigram > 0].log()).sum()
    assert conditional < marginal - 1.0  # nats: the previous word tells a lot about the next


def test_training_carries_the_state_and_lowers_the_loss():
    model = ex.word_language_model(**SMALL_LM)
    batches = ex.word_language_batches(4, ntoken=50, bptt=10, batch_size=8)
    losses = ex.train_word_language_model(model, batches, steps=24)
    assert len(losses) == 24 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-4:]) / 4 < losses[0] - 0.3


def test_one_training_step_updates_every_parameter():
    model = ex.word_language_model(**SMALL_LM)
    before = [p.detach().clone() for p in model.parameters()]
    loss = ex.word_language_training_step(model, ex.word_language_batches(1, ntoken=50, bptt=5, batch_size=3)[0])
    assert isinstance(loss, float) and math.isfinite(loss)
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_repackage_hidden_cuts_the_graph():
    leaf = torch.ones(2, requires_grad=True)
    h, c = ex.repackage_hidden((leaf * 2, leaf * 3))
    assert not h.requires_grad and not c.requires_grad and torch.equal(c, torch.full((2,), 3.0))


# ---- the other subjects' shapes -------------------------------------------------------------------

def test_the_digit_batches_are_images_of_ten_classes():
    images, labels = ex.mnist_rnn_batches(1, batch_size=64)[0]
    assert images.shape == (64, 1, 28, 28) and labels.min() >= 0 and labels.max() <= 9
    # Normalized as MNIST: dark background, a bright stroke on every image.
    assert abs(images.mean().item()) < 0.5
    assert bool((images.flatten(1).amax(1) > 2.0).all())
    model = ex.mnist_rnn()
    assert isinstance(model.batchnorm, nn.BatchNorm1d) and model(images).shape == (64, 10)


def test_the_sine_predictor_steps_its_cells_and_can_run_on():
    model = ex.sine_predictor()
    cells = [m for m in model.modules() if isinstance(m, nn.LSTMCell)]
    assert [(c.input_size, c.hidden_size) for c in cells] == [(1, 51), (51, 51)]
    input, target = ex.sine_batches(1, batch_size=3, length=12)[0]
    assert torch.equal(input[:, 1:], target[:, :-1])
    assert model(input).shape == (3, 12) and model(input, future=5).shape == (3, 17)


# ---- the sick subjects are sick -------------------------------------------------------------------

def _weight_hh_grad_norm(model, batch):
    model.zero_grad()
    ex.exploding_rnn_loss(model, batch).backward()
    return model.rnn.weight_hh_l0.grad.norm().item()


def test_the_relu_rnn_gradient_explodes_where_a_contracting_copy_does_not():
    batch = ex.exploding_rnn_batches(1)[0]
    model = ex.exploding_rnn()
    radius = torch.linalg.eigvals(model.rnn.weight_hh_l0.detach()).abs().max().item()
    assert radius == pytest.approx(1.2, rel=1e-4)
    exploding = _weight_hh_grad_norm(model, batch)
    healthy = _weight_hh_grad_norm(ex.exploding_rnn(spectral_radius=0.9), batch)
    assert math.isfinite(exploding) and exploding > 1e4 * healthy


def test_the_relu_rnn_gradient_grows_going_back_in_time():
    input, target = ex.exploding_rnn_batches(1, length=50)[0]
    rnn = ex.exploding_rnn().rnn
    h, states = input.new_zeros(input.size(0), rnn.hidden_size), []
    for x in input.unbind(1):  # the forward direction, unrolled by hand
        h = torch.relu(x @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
        states.append(h)
    grads = torch.autograd.grad(states[-1].sum(), states)
    assert grads[0].norm() > 100 * grads[-1].norm()


def test_plain_sgd_blows_the_relu_rnn_up_and_clipping_tames_it():
    batches = ex.exploding_rnn_batches(2)
    losses = {}
    for clip in (None, 5.0):
        model = ex.exploding_rnn()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
        losses[clip] = []
        for step in range(5):
            optimizer.zero_grad()
            loss = ex.exploding_rnn_loss(model, batches[step % 2])
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            losses[clip].append(loss.item())
    assert not all(math.isfinite(v) for v in losses[None])
    assert all(math.isfinite(v) for v in losses[5.0]) and losses[5.0][-1] < losses[5.0][0] / 10


def test_the_deep_sigmoid_mlp_first_layer_hardly_gets_any_gradient():
    model = ex.deep_sigmoid_mlp()
    assert sum(isinstance(m, nn.Linear) for m in model) == 20
    assert sum(isinstance(m, nn.Sigmoid) for m in model) == 19
    ex.deep_sigmoid_loss(model, ex.deep_sigmoid_batches(1)[0]).backward()
    ratio = model[0].weight.grad.norm() / model[-1].weight.grad.norm()
    assert 0 < ratio < 1e-6


def _cnn_output_grad_norms(model, batch):
    norms = {}

    def keep_norm(name):
        def hook(module, args, output):
            output.register_hook(lambda grad: norms.__setitem__(name, grad.norm().item()))
        return hook

    for name, module in model.named_children():
        module.register_forward_hook(keep_norm(name))
    ex.small_cnn_loss(model, batch).backward()
    return norms


def test_batch_norm_keeps_the_cnn_gradient_alive_through_depth():
    batch = ex.small_cnn_batches(1, batch_size=16)[0]
    plain = _cnn_output_grad_norms(ex.small_cnn(), batch)
    normed = _cnn_output_grad_norms(ex.small_cnn_bn(), batch)
    assert "bn1" in normed and "bn1" not in plain
    assert plain["conv1"] < 1e-3 * plain["conv6"]
    assert 0.1 < normed["conv1"] / normed["conv6"] < 10
    assert normed["conv1"] > 1e-2 * normed["fc"] and plain["conv1"] < 1e-5 * plain["fc"]


def test_the_nan_model_turns_non_finite_at_the_documented_module():
    model = ex.nan_model()
    features, labels = ex.nan_batches(1)[0]
    assert bool((features > 0).all())
    finite = []  # (qualified name, output all finite), in the order the modules ran
    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(lambda m, a, out, name=name: finite.append((name, bool(out.isfinite().all()))))
    assert not math.isfinite(ex.nan_loss(model, (features, labels)).item())
    first_bad = next(i for i, (_, ok) in enumerate(finite) if not ok)
    assert finite[first_bad][0] == ex.NAN_MODULE == "features.log"
    assert finite[:first_bad] == [("features.scale", True)]
