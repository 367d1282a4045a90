"""Subjects for the doctor: models a practitioner would write, with synthetic data to feed them.

Each subject is three callables that need no arguments, so the command line can load them as
``gradtrace.doctor.examples:NAME``: a model factory, a loss ``loss_fn(model, batch) -> scalar tensor``
and a batches function returning a list of batches. They are written in the style of PyTorch's own
examples (word_language_model, mnist_rnn, time_sequence_prediction) but on seeded synthetic data, so
nothing is downloaded and every subject is reproducible:

* ``word-language-model``: an embedding, a 2-layer LSTM and a decoder over a 10,000-word vocabulary,
  trained by truncated back-propagation through time on a Zipfian Markov-chain corpus.
* ``mnist-rnn``: an LSTM reading procedurally drawn digits row by row, with a batch-norm head.
* ``sine-predictor``: two ``nn.LSTMCell`` stepped by a Python loop, predicting the next sample of a sine.
* ``exploding-rnn``: a bidirectional ReLU ``nn.RNN`` whose recurrent gain is above one; its gradient
  grows by orders of magnitude back through time and one plain SGD step sends it to NaN.
* ``deep-sigmoid-mlp``: 20 Linear + Sigmoid layers; the first layers' gradient is ~1e-19 of the last's.
* ``small-cnn`` / ``small-cnn-bn``: six sigmoid convolutions without / with batch norm.
* ``nan-model``: a model whose ``features.log`` module (see :data:`NAN_MODULE`) makes the output NaN.

Every factory builds its model under ``torch.random.fork_rng`` with its own seed, so the caller's global
random state is left as it was, and every batches function draws from a local ``torch.Generator``.
Tensors are float32. The subjects are listed in :data:`SUBJECTS`.
"""

from __future__ import annotations

from functools import partial

from gradtrace.doctor.examples.base import Subject
from gradtrace.doctor.examples.depth import (
    deep_sigmoid_batches,
    deep_sigmoid_loss,
    deep_sigmoid_mlp,
    small_cnn,
    small_cnn_batches,
    small_cnn_bn,
    small_cnn_loss,
)
from gradtrace.doctor.examples.digits import MNISTRNN, mnist_rnn, mnist_rnn_batches, mnist_rnn_loss
from gradtrace.doctor.examples.exploding import (
    SequenceRegressor,
    exploding_rnn,
    exploding_rnn_batches,
    exploding_rnn_loss,
    set_spectral_radius,
)
from gradtrace.doctor.examples.language import (
    RNN_TYPES,
    WordLanguageModel,
    batchify,
    get_batch,
    repackage_hidden,
    synthetic_corpus,
    train_word_language_model,
    word_language_batches,
    word_language_loss,
    word_language_model,
    word_language_training_step,
)
from gradtrace.doctor.examples.nan import NAN_MODULE, LogFeatures, ZScore, nan_batches, nan_loss, nan_model
from gradtrace.doctor.examples.sine import SinePredictor, sine_batches, sine_loss, sine_predictor

__all__ = [
    "NAN_MODULE",
    "RNN_TYPES",
    "SUBJECTS",
    "LogFeatures",
    "MNISTRNN",
    "SequenceRegressor",
    "SinePredictor",
    "Subject",
    "WordLanguageModel",
    "ZScore",
    "batchify",
    "deep_sigmoid_batches",
    "deep_sigmoid_loss",
    "deep_sigmoid_mlp",
    "exploding_rnn",
    "exploding_rnn_batches",
    "exploding_rnn_loss",
    "get_batch",
    "mnist_rnn",
    "mnist_rnn_batches",
    "mnist_rnn_loss",
    "nan_batches",
    "nan_loss",
    "nan_model",
    "repackage_hidden",
    "set_spectral_radius",
    "sine_batches",
    "sine_loss",
    "sine_predictor",
    "small_cnn",
    "small_cnn_batches",
    "small_cnn_bn",
    "small_cnn_loss",
    "synthetic_corpus",
    "train_word_language_model",
    "word_language_batches",
    "word_language_loss",
    "word_language_model",
    "word_language_training_step",
]

#: The subjects by name.
SUBJECTS: dict[str, Subject] = {
    "word-language-model": Subject(
        word_language_model, word_language_loss, word_language_batches,
        "2-layer 200-unit LSTM language model over 10,000 words, time-major, bptt 35, batch 20"),
    "word-language-gru": Subject(
        partial(word_language_model, rnn_type="GRU"), word_language_loss, word_language_batches,
        "the word language model with a 2-layer GRU"),
    "word-language-rnn": Subject(
        partial(word_language_model, rnn_type="RNN_TANH"), word_language_loss, word_language_batches,
        "the word language model with a 2-layer tanh RNN"),
    "mnist-rnn": Subject(
        mnist_rnn, mnist_rnn_loss, mnist_rnn_batches,
        "LSTM reading 28x28 digit-like images row by row, last state through BatchNorm1d to 10 classes"),
    "sine-predictor": Subject(
        sine_predictor, sine_loss, sine_batches,
        "two nn.LSTMCell stepped in a Python loop, predicting the next sample of a sine wave"),
    "exploding-rnn": Subject(
        exploding_rnn, exploding_rnn_loss, exploding_rnn_batches,
        "bidirectional ReLU nn.RNN with recurrent spectral radius 1.2: the gradient explodes back in time"),
    "deep-sigmoid-mlp": Subject(
        deep_sigmoid_mlp, deep_sigmoid_loss, deep_sigmoid_batches,
        "20 Linear + Sigmoid layers on concentric circles: the gradient vanishes through depth"),
    "small-cnn": Subject(
        small_cnn, small_cnn_loss, small_cnn_batches,
        "six 3x3 convolutions with sigmoids and no batch norm: the gradient vanishes through depth"),
    "small-cnn-bn": Subject(
        small_cnn_bn, small_cnn_loss, small_cnn_batches,
        "the same six convolutions with BatchNorm2d after each: the gradient stays healthy"),
    "nan-model": Subject(
        nan_model, nan_loss, nan_batches,
        f"standardizes positive features, then takes their log: {NAN_MODULE} is the first non-finite module"),
}
