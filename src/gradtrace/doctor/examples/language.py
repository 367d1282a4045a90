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

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

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


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global CPU generator for the block, then give the caller back their own state."""
    # Modules initialize from the global generator; forking it keeps a factory call from shifting the
    # random numbers of whatever the caller draws next. devices=[]: the models are built on the CPU.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------
# Word language model (pytorch/examples word_language_model)
# ---------------------------------------------------------------------------------------------------

#: The recurrent layers :class:`WordLanguageModel` can use, as named in the PyTorch example.
RNN_TYPES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")


class WordLanguageModel(nn.Module):
    """Embedding, a multi-layer recurrent network and a linear decoder over the vocabulary.

    Sequences are time-major: ``input`` is (T, B) token ids. Dropout is applied to the embeddings, between
    the recurrent layers and to the last layer's output.

    Args:
        rnn_type: One of :data:`RNN_TYPES`.
        ntoken: Vocabulary size.
        ninp: Embedding size.
        nhid: Hidden units per recurrent layer.
        nlayers: Number of recurrent layers.
        dropout: Dropout probability.
        tie_weights: Share the embedding matrix with the decoder (Press & Wolf 2017, Inan et al. 2017);
            needs ``ninp == nhid``.

    Raises:
        ValueError: On an unknown ``rnn_type``, or ``tie_weights`` with ``ninp != nhid``.
    """

    def __init__(self, rnn_type: str = "LSTM", ntoken: int = 10000, ninp: int = 200, nhid: int = 200,
                 nlayers: int = 2, dropout: float = 0.2, tie_weights: bool = False):
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {', '.join(RNN_TYPES)}; got {rnn_type!r}")
        if tie_weights and ninp != nhid:
            raise ValueError(f"tie_weights=True shares one matrix between the embedding and the decoder, "
                             f"so ninp must equal nhid; got ninp={ninp}, nhid={nhid}")
        self.rnn_type = rnn_type
        self.ntoken = ntoken
        self.nhid = nhid
        self.nlayers = nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        # PyTorch's recurrent layers drop out between layers only, and warn when given a dropout they
        # cannot use (one layer), so a single layer gets none.
        between = dropout if nlayers > 1 else 0.0
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=between)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=rnn_type[4:].lower(), dropout=between)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()

    def init_weights(self) -> None:
        """Draw the embedding and decoder weights from U(±0.1) and zero the decoder bias."""
        # A small uniform range keeps the initial logits near zero, so the first loss is ≈ log(ntoken).
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input: torch.Tensor, hidden: Any) -> tuple[torch.Tensor, Any]:
        """Run a chunk of text.

        Args:
            input: (T, B) token ids.
            hidden: The state from :meth:`init_hidden` or the previous chunk: (h, c) for an LSTM, else h,
                each (nlayers, B, nhid).

        Returns:
            The logits, (T, B, ntoken), and the state after the last step.
        """
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz: int) -> Any:
        """Zero initial state for a batch of ``bsz`` sequences, on the parameters' device and dtype.

        Args:
            bsz: Batch size.

        Returns:
            (h, c) for an LSTM, else h; each (nlayers, bsz, nhid).
        """
        weight = self.decoder.weight
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def repackage_hidden(h: Any) -> Any:
    """Cut a recurrent state off the graph of the chunk that made it.

    Truncated back-propagation through time carries the state's values to the next chunk but not its
    history; without this, each backward would run back to the start of the corpus.

    Args:
        h: A tensor or a tuple of tensors.

    Returns:
        The same structure of detached tensors.
    """
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def synthetic_corpus(length: int, ntoken: int = 10000, seed: int = 0, successors: int = 4,
                     restart: float = 0.1) -> torch.Tensor:
    """A token stream with structure a language model can learn: a sparse Zipfian Markov chain.

    Word frequencies follow Zipf's law (p(rank r) ∝ 1/r, as in natural text). Each word has a few
    likely successors, drawn from that law and picked with decreasing probability; with probability
    ``restart`` the next word is instead drawn afresh from the law, which keeps the chain from getting
    stuck in a loop. A bigram model reaches a cross entropy of a few nats, far below log(ntoken).

    Args:
        length: Number of tokens.
        ntoken: Vocabulary size.
        seed: Seed of the local generator.
        successors: Likely successors per word.
        restart: Probability of drawing the next word from the unigram law.

    Returns:
        (length,) long tensor of token ids.

    Example:
        >>> synthetic_corpus(8, ntoken=50).shape
        torch.Size([8])
    """
    g = _generator(seed)
    unigram = 1.0 / torch.arange(1, ntoken + 1, dtype=torch.float64)
    # The successor table is sampled as one flat draw: a (ntoken, ntoken) matrix of probabilities would
    # take 800 MB at the default vocabulary.
    table = torch.multinomial(unigram, ntoken * successors, replacement=True, generator=g).view(ntoken, successors)
    choice = torch.multinomial(0.5 ** torch.arange(successors, dtype=torch.float64), length, replacement=True,
                               generator=g)
    fresh = torch.multinomial(unigram, length, replacement=True, generator=g)
    jump = torch.rand(length, generator=g) < restart
    # The chain is sequential; plain Python lists make the loop fast enough for a few 10^5 tokens.
    table_l, choice_l, fresh_l, jump_l = table.tolist(), choice.tolist(), fresh.tolist(), jump.tolist()
    tokens = [fresh_l[0]]
    for t in range(1, length):
        tokens.append(fresh_l[t] if jump_l[t] else table_l[tokens[-1]][choice_l[t]])
    return torch.tensor(tokens, dtype=torch.long)


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """Split a token stream into ``bsz`` parallel streams, dropping the tokens that do not fit.

    Args:
        data: (N,) token ids.
        bsz: Batch size.

    Returns:
        (N // bsz, bsz): column j is the j-th contiguous part of the stream.

    Example:
        >>> batchify(torch.arange(7), 2)
        tensor([[0, 3],
                [1, 4],
                [2, 5]])
    """
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk of at most ``bptt`` steps starting at row ``i``, and the next words as targets.

    Args:
        source: (N, B) from :func:`batchify`.
        i: First row.
        bptt: Chunk length (back-propagation through time stops at its start).

    Returns:
        data (T, B) and targets (T, B), targets[t] = source[i + t + 1].
    """
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len]


def word_language_model(seed: int = 0, rnn_type: str = "LSTM", ntoken: int = 10000, ninp: int = 200,
                        nhid: int = 200, nlayers: int = 2, dropout: float = 0.2,
                        tie_weights: bool = False) -> WordLanguageModel:
    """The example's small model: a 2-layer, 200-unit LSTM over 10,000 words, in training mode.

    Args:
        seed: Seed of the initialization.
        rnn_type: One of :data:`RNN_TYPES`.
        ntoken: Vocabulary size; must match the batches'.
        ninp: Embedding size.
        nhid: Hidden units per layer.
        nlayers: Recurrent layers.
        dropout: Dropout probability.
        tie_weights: Share the embedding with the decoder.

    Returns:
        A :class:`WordLanguageModel`.
    """
    with _seeded(seed):
        return WordLanguageModel(rnn_type, ntoken, ninp, nhid, nlayers, dropout, tie_weights)


def word_language_batches(count: int = 4, seed: int = 0, ntoken: int = 10000, bptt: int = 35,
                          batch_size: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive chunks of a synthetic corpus, as the example's training loop takes them.

    Chunk k+1 continues chunk k in every column, so a state carried between them is meaningful.

    Args:
        count: Number of chunks.
        seed: Seed of the corpus.
        ntoken: Vocabulary size.
        bptt: Steps per chunk.
        batch_size: Parallel streams.

    Returns:
        ``count`` pairs (data, targets), each (bptt, batch_size) long.
    """
    corpus = synthetic_corpus(count * bptt * batch_size + batch_size, ntoken=ntoken, seed=seed)
    source = batchify(corpus, batch_size)
    return [get_batch(source, k * bptt, bptt) for k in range(count)]


def _word_loss(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output.reshape(-1, output.size(-1)), targets.reshape(-1))


def word_language_loss(model: WordLanguageModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross entropy of the next word over a chunk, starting from a zero state.

    In training mode dropout draws from the global generator, so two calls differ unless it is seeded.

    Args:
        model: A :class:`WordLanguageModel`.
        batch: (data, targets), each (T, B).

    Returns:
        Scalar loss in nats per word.
    """
    data, targets = batch
    output, _ = model(data, model.init_hidden(data.size(1)))
    return _word_loss(output, targets)


def _sgd_step(model: nn.Module, loss: torch.Tensor, lr: float, clip: float) -> None:
    model.zero_grad()
    loss.backward()
    # Clipping the global norm is what keeps an LSTM language model trainable at the example's lr of 20.
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)


def word_language_training_step(model: WordLanguageModel, batch: tuple[torch.Tensor, torch.Tensor],
                                lr: float = 20.0, clip: float = 0.25) -> float:
    """Exactly one plain training step: forward from a zero state, backward, clip, SGD update.

    Args:
        model: A :class:`WordLanguageModel`; it is put in training mode.
        batch: (data, targets), each (T, B).
        lr: Learning rate.
        clip: Maximum global gradient norm.

    Returns:
        The loss before the update.
    """
    model.train()
    loss = word_language_loss(model, batch)
    _sgd_step(model, loss, lr, clip)
    return loss.item()


def train_word_language_model(model: WordLanguageModel, batches: list[tuple[torch.Tensor, torch.Tensor]],
                              steps: int, lr: float = 20.0, clip: float = 0.25) -> list[float]:
    """The example's training loop: truncated BPTT with the state carried between chunks.

    The batches are taken in order and cycled; each pass over them is an epoch and starts from a zero
    state, and within a pass the state is detached between chunks (:func:`repackage_hidden`).

    Args:
        model: A :class:`WordLanguageModel`; it is put in training mode.
        batches: Consecutive chunks, as from :func:`word_language_batches`.
        steps: Number of updates.
        lr: Learning rate of plain SGD.
        clip: Maximum global gradient norm.

    Returns:
        The loss of each step, before its update.
    """
    model.train()
    losses = []
    hidden = None
    for step in range(steps):
        data, targets = batches[step % len(batches)]
        if step % len(batches) == 0 or _batch_size(hidden) != data.size(1):
            hidden = model.init_hidden(data.size(1))
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = _word_loss(output, targets)
        _sgd_step(model, loss, lr, clip)
        losses.append(loss.item())
    return losses


def _batch_size(hidden: Any) -> int | None:
    if hidden is None:
        return None
    h = hidden if isinstance(hidden, torch.Tensor) else hidden[0]
    return h.size(1)


# ---------------------------------------------------------------------------------------------------
# Row-by-row LSTM on digit-like images (pytorch/examples mnist_rnn)
# ---------------------------------------------------------------------------------------------------

# A seven-segment digit on a 1 × 2 box, y downwards: the segments' end points...
_SEGMENTS = torch.tensor([
    [[0.0, 0.0], [1.0, 0.0]],  # a: top
    [[1.0, 0.0], [1.0, 1.0]],  # b: upper right
    [[1.0, 1.0], [1.0, 2.0]],  # c: lower right
    [[0.0, 2.0], [1.0, 2.0]],  # d: bottom
    [[0.0, 1.0], [0.0, 2.0]],  # e: lower left
    [[0.0, 0.0], [0.0, 1.0]],  # f: upper left
    [[0.0, 1.0], [1.0, 1.0]],  # g: middle
])
# ... and which of a..g each digit lights.
_DIGIT_SEGMENTS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg")
_LIT = torch.tensor([[s in lit for s in "abcdefg"] for lit in _DIGIT_SEGMENTS])
# Normalization of the example's transform (MNIST's pixel mean and standard deviation).
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081


def _draw_digits(labels: torch.Tensor, g: torch.Generator, size: int = 28) -> torch.Tensor:
    n = labels.numel()
    # Hand-writing varies in size, slant, position and stroke width; each digit gets its own draw.
    scale = 8.0 * (1 + 0.1 * torch.randn(n, 1, 1, generator=g))
    slant = 0.25 * torch.randn(n, 1, generator=g)
    shift = 2.0 * torch.randn(n, 1, 2, generator=g)
    width = 1.2 + 0.6 * torch.rand(n, 1, 1, generator=g)
    points = _SEGMENTS.reshape(1, 14, 2) - torch.tensor([0.5, 1.0])
    points = points * scale
    points = torch.stack([points[..., 0] - slant * points[..., 1], points[..., 1]], dim=-1)
    points = (points + shift + (size - 1) / 2).reshape(n, 7, 2, 2)
    a, b = points[:, :, None, 0], points[:, :, None, 1]  # (n, 7, 1, 2)
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    pixels = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)  # (size², 2) as (x, y)
    ab = b - a
    along = (((pixels - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    distance = (pixels - a - along[..., None] * ab).norm(dim=-1)  # (n, 7, size²)
    distance = distance.masked_fill(~_LIT[labels][..., None], math.inf).amin(dim=1)
    ink = (width.reshape(n, 1) - distance).clamp(0, 1)
    ink = (ink + 0.05 * torch.randn(ink.shape, generator=g)).clamp(0, 1)
    return ink.reshape(n, 1, size, size)


class MNISTRNN(nn.Module):
    """An LSTM reads a 28 × 28 image one row per step; its last state goes through batch norm to 10 logits.

    Args:
        input_size: Pixels per row.
        hidden_size: LSTM units.
        num_classes: Output classes.
    """

    def __init__(self, input_size: int = 28, hidden_size: int = 64, num_classes: int = 10):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Classify images.

        Args:
            input: (B, 1, H, W) or (B, H, W); rows are the time steps. In training mode B must exceed 1
                (batch norm).

        Returns:
            (B, num_classes) logits.
        """
        output, _ = self.rnn(input.reshape(input.size(0), input.size(-2), input.size(-1)))
        return self.fc(self.batchnorm(output[:, -1]))


def mnist_rnn(seed: int = 0, hidden_size: int = 64) -> MNISTRNN:
    """The row-by-row digit classifier, in training mode.

    Args:
        seed: Seed of the initialization.
        hidden_size: LSTM units (the example uses 64).

    Returns:
        A :class:`MNISTRNN`.
    """
    with _seeded(seed):
        return MNISTRNN(hidden_size=hidden_size)


def mnist_rnn_batches(count: int = 4, batch_size: int = 32,
                      seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Seven-segment digits drawn with random size, slant, position, stroke width and noise.

    Args:
        count: Number of batches.
        batch_size: Images per batch.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (images (B, 1, 28, 28) normalized as MNIST, labels (B,) long in 0..9).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 10, (batch_size,), generator=g)
        images = (_draw_digits(labels, g) - _MNIST_MEAN) / _MNIST_STD
        batches.append((images, labels))
    return batches


def mnist_rnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the digit classes.

    Args:
        model: A :class:`MNISTRNN`.
        batch: (images, labels).

    Returns:
        Scalar loss.
    """
    images, labels = batch
    return F.cross_entropy(model(images), labels)


# ---------------------------------------------------------------------------------------------------
# Sine-wave predictor stepping two LSTM cells (pytorch/examples time_sequence_prediction)
# ---------------------------------------------------------------------------------------------------

class SinePredictor(nn.Module):
    """Two stacked ``nn.LSTMCell`` stepped by a Python loop, and a linear read-out of the next value.

    The PyTorch example runs in float64; this one is float32 like the other subjects.

    Args:
        hidden_size: Units of each cell (51 in the example).
    """

    def __init__(self, hidden_size: int = 51):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, hidden_size)
        self.lstm2 = nn.LSTMCell(hidden_size, hidden_size)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, input: torch.Tensor, future: int = 0) -> torch.Tensor:
        """Predict each next value, then optionally go on by feeding the predictions back.

        Args:
            input: (B, T) samples.
            future: Extra steps generated from the model's own output.

        Returns:
            (B, T + future): output[:, t] predicts input[:, t + 1].
        """
        batch, hidden = input.size(0), self.lstm1.hidden_size
        h1, c1, h2, c2 = (input.new_zeros(batch, hidden) for _ in range(4))
        outputs = []
        output = input.new_zeros(batch, 1)
        for input_t in input.split(1, dim=1):
            h1, c1 = self.lstm1(input_t, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            output = self.linear(h2)
            outputs.append(output)
        for _ in range(future):
            h1, c1 = self.lstm1(output, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            output = self.linear(h2)
            outputs.append(output)
        return torch.cat(outputs, dim=1)


def sine_predictor(seed: int = 0, hidden_size: int = 51) -> SinePredictor:
    """The two-cell sine predictor.

    Args:
        seed: Seed of the initialization.
        hidden_size: Units per cell.

    Returns:
        A :class:`SinePredictor`.
    """
    with _seeded(seed):
        return SinePredictor(hidden_size)


def sine_batches(count: int = 4, batch_size: int = 16, length: int = 60, seed: int = 0,
                 period: float = 25.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sine waves of one period with random phases; the target is the input shifted by one step.

    Args:
        count: Number of batches.
        batch_size: Waves per batch.
        length: Steps per wave.
        seed: Seed of the local generator.
        period: Steps per cycle.

    Returns:
        ``count`` pairs (input (B, length), target (B, length)).
    """
    g = _generator(seed)
    steps = torch.arange(length + 1, dtype=torch.float32)
    batches = []
    for _ in range(count):
        phase = 2 * math.pi * torch.rand(batch_size, 1, generator=g)
        wave = torch.sin(2 * math.pi * steps / period + phase)
        batches.append((wave[:, :-1], wave[:, 1:]))
    return batches


def sine_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean squared error of the next-value predictions.

    Args:
        model: A :class:`SinePredictor`.
        batch: (input, target), each (B, T).

    Returns:
        Scalar loss.
    """
    input, target = batch
    return F.mse_loss(model(input), target)


# ---------------------------------------------------------------------------------------------------
# Bidirectional ReLU RNN with a recurrent gain above one
# ---------------------------------------------------------------------------------------------------

def set_spectral_radius(rnn: nn.RNNBase, radius: float) -> None:
    """Scale every recurrent matrix ``weight_hh_*`` of ``rnn`` in place to the given spectral radius.

    Args:
        rnn: An ``nn.RNN`` (or any ``nn.RNNBase`` whose ``weight_hh`` are square, i.e. not LSTM/GRU).
        radius: Largest eigenvalue modulus wanted.
    """
    with torch.no_grad():
        for name, weight in rnn.named_parameters():
            if name.startswith("weight_hh"):
                weight.mul_(radius / torch.linalg.eigvals(weight).abs().max())


class SequenceRegressor(nn.Module):
    """A bidirectional ReLU RNN whose two final states feed a linear regression head.

    The recurrent matrices start as the identity plus a little noise, the IRNN recipe (Le, Jaitly &
    Hinton 2015) that makes a ReLU unit an integrator, then are scaled to ``spectral_radius``. Above one,
    every active unit multiplies its gradient by up to that gain per step back in time (1.2^49 ≈ 7,600
    over 50 steps; ‖∂L/∂h_0‖ / ‖∂L/∂h_49‖ ≈ 700 at seed 0), and the forward state grows alike, so the loss
    starts near 10^5 and the first plain SGD step sends the weights to inf. A random matrix would not
    show it: ReLU silences about half the units each step, a random matrix's leading direction does not
    survive that, and a ReLU RNN with a random recurrent matrix of spectral radius 1.5 still loses its
    gradient; the identity's leading direction does survive.

    It is curable: with SGD at lr 0.03 for 100 steps on :func:`exploding_rnn_batches`, clipping the global
    gradient norm to 5 takes the loss from 1.4e5 to ~0.1, and a copy at ``spectral_radius=0.9`` (or an
    ``nn.GRU`` of the same size) reaches ~0.05 (~0.1).

    Args:
        input_size: Features per step.
        hidden_size: Units per direction.
        spectral_radius: Spectral radius of each direction's recurrent matrix.
    """

    def __init__(self, input_size: int = 2, hidden_size: int = 32, spectral_radius: float = 1.2):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="relu", batch_first=True, bidirectional=True)
        with torch.no_grad():
            for name, weight in self.rnn.named_parameters():
                if name.startswith("weight_hh"):
                    noise = torch.randn(hidden_size, hidden_size) * (0.1 / math.sqrt(hidden_size))
                    weight.copy_(torch.eye(hidden_size) + noise)
        set_spectral_radius(self.rnn, spectral_radius)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Regress one value per sequence.

        Args:
            input: (B, T, input_size).

        Returns:
            (B,) predictions.
        """
        _, h_n = self.rnn(input)
        # h_n is (2, B, H): the forward direction after the last step, the backward one after the first.
        return self.head(torch.cat([h_n[0], h_n[1]], dim=-1)).squeeze(-1)


def exploding_rnn(seed: int = 0, spectral_radius: float = 1.2, hidden_size: int = 32) -> SequenceRegressor:
    """The bidirectional ReLU RNN whose gradient explodes back through time.

    Args:
        seed: Seed of the initialization.
        spectral_radius: Recurrent gain; 0.9 gives a healthy copy of the same network.
        hidden_size: Units per direction.

    Returns:
        A :class:`SequenceRegressor`.
    """
    with _seeded(seed):
        return SequenceRegressor(hidden_size=hidden_size, spectral_radius=spectral_radius)


def exploding_rnn_batches(count: int = 4, batch_size: int = 32, length: int = 50,
                          seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Estimate a hidden level from a noisy signal: channel 0 is level + noise, channel 1 distracts.

    The noise has the level's own variance, so one step tells little; averaging over many does well.

    Args:
        count: Number of batches.
        batch_size: Sequences per batch.
        length: Steps per sequence.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (input (B, length, 2), target level (B,)).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        level = torch.randn(batch_size, generator=g)
        input = torch.randn(batch_size, length, 2, generator=g)
        input[:, :, 0] += level[:, None]
        batches.append((input, level))
    return batches


def exploding_rnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean squared error of the level.

    Args:
        model: A :class:`SequenceRegressor`.
        batch: (input, target).

    Returns:
        Scalar loss.
    """
    input, target = batch
    return F.mse_loss(model(input), target)


# ---------------------------------------------------------------------------------------------------
# Deep sigmoid MLP
# ---------------------------------------------------------------------------------------------------

def deep_sigmoid_mlp(seed: int = 0, depth: int = 20, width: int = 32,
                     activation: Callable[[], nn.Module] = nn.Sigmoid) -> nn.Sequential:
    """``depth`` Linear layers with an activation between them, in PyTorch's default initialization.

    With sigmoids the gradient shrinks at every layer going back (σ′ ≤ 1/4, and default weights shrink it
    further), so the first layer's weight gradient is ~1e-19 of the last's and the network cannot learn.

    Args:
        seed: Seed of the initialization.
        depth: Number of Linear layers.
        width: Units of each hidden layer.
        activation: Module class put after every Linear but the last.

    Returns:
        ``nn.Sequential`` of Linear(2, width), activation, ..., Linear(width, 2).
    """
    with _seeded(seed):
        layers: list[nn.Module] = []
        features = 2
        for _ in range(depth - 1):
            layers += [nn.Linear(features, width), activation()]
            features = width
        layers.append(nn.Linear(features, 2))
        return nn.Sequential(*layers)


def deep_sigmoid_batches(count: int = 4, batch_size: int = 128,
                         seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two noisy concentric circles in the plane (radii 0.5 and 1), one class each.

    Args:
        count: Number of batches.
        batch_size: Points per batch.
        seed: Seed of the local generator.

    Returns:
        ``count`` pairs (points (B, 2), labels (B,) long in {0, 1}).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 2, (batch_size,), generator=g)
        radius = 0.5 + 0.5 * labels + 0.1 * torch.randn(batch_size, generator=g)
        angle = 2 * math.pi * torch.rand(batch_size, generator=g)
        batches.append((torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1), labels))
    return batches


def deep_sigmoid_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the two classes.

    Args:
        model: From :func:`deep_sigmoid_mlp`.
        batch: (points, labels).

    Returns:
        Scalar loss.
    """
    points, labels = batch
    return F.cross_entropy(model(points), labels)


# ---------------------------------------------------------------------------------------------------
# Small CNN with and without batch norm
# ---------------------------------------------------------------------------------------------------

def small_cnn(batch_norm: bool = False, seed: int = 0, depth: int = 6, channels: int = 8,
              num_classes: int = 4) -> nn.Sequential:
    """3 × 3 convolutions with sigmoids, global average pooling and a linear classifier.

    Without batch norm the gradient at the first convolution's output is ~1e-5 of the last's; with
    ``nn.BatchNorm2d`` after each convolution the two stay within a factor of a few. The modules are
    named ``conv1``, ``bn1``, ``act1``, ..., ``pool``, ``flatten``, ``fc``.

    Args:
        batch_norm: Put ``nn.BatchNorm2d`` between each convolution and its sigmoid (the convolutions then
            have no bias, which batch norm would cancel).
        seed: Seed of the initialization.
        depth: Number of convolutions.
        channels: Channels of each convolution.
        num_classes: Output classes.

    Returns:
        ``nn.Sequential`` taking (B, 1, H, W) images to (B, num_classes) logits.
    """
    with _seeded(seed):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 1
        for k in range(1, depth + 1):
            layers[f"conv{k}"] = nn.Conv2d(in_channels, channels, 3, padding=1, bias=not batch_norm)
            if batch_norm:
                layers[f"bn{k}"] = nn.BatchNorm2d(channels)
            layers[f"act{k}"] = nn.Sigmoid()
            in_channels = channels
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(channels, num_classes)
        return nn.Sequential(layers)


def small_cnn_bn(seed: int = 0) -> nn.Sequential:
    """:func:`small_cnn` with batch norm after every convolution.

    Args:
        seed: Seed of the initialization.

    Returns:
        ``nn.Sequential`` in training mode.
    """
    return small_cnn(batch_norm=True, seed=seed)


def small_cnn_batches(count: int = 4, batch_size: int = 64, seed: int = 0, size: int = 16,
                      num_classes: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Noisy images of a short bar whose orientation (0°, 45°, 90°, ...) is the class.

    Args:
        count: Number of batches.
        batch_size: Images per batch.
        seed: Seed of the local generator.
        size: Image height and width.
        num_classes: Orientations, evenly spaced over 180°.

    Returns:
        ``count`` pairs (images (B, 1, size, size), labels (B,) long).
    """
    g = _generator(seed)
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
    batches = []
    for _ in range(count):
        labels = torch.randint(0, num_classes, (batch_size,), generator=g)
        angle = (labels * math.pi / num_classes + 0.1 * torch.randn(batch_size, generator=g))[:, None, None]
        centre = (size - 1) / 2 + 3 * (2 * torch.rand(batch_size, 2, 1, 1, generator=g) - 1)
        dx, dy = cols - centre[:, 0], rows - centre[:, 1]
        across = (dy * torch.cos(angle) - dx * torch.sin(angle)).abs()
        along = (dx * torch.cos(angle) + dy * torch.sin(angle)).abs()
        images = (1 - across).clamp_min(0) * (along < 5) + 0.1 * torch.randn(batch_size, size, size, generator=g)
        batches.append((images[:, None], labels))
    return batches


def small_cnn_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the orientation classes.

    Args:
        model: From :func:`small_cnn`.
        batch: (images, labels).

    Returns:
        Scalar loss.
    """
    images, labels = batch
    return F.cross_entropy(model(images), labels)


# ---------------------------------------------------------------------------------------------------
# A model that turns NaN in the middle
# ---------------------------------------------------------------------------------------------------

#: Qualified name of the first module of :func:`nan_model` whose output is not finite.
NAN_MODULE = "features.log"


class ZScore(nn.Module):
    """Standardize each feature with the batch's own mean and standard deviation (needs B ≥ 2)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Return (input − mean) / std over the batch dimension.

        Args:
            input: (B, features).

        Returns:
            Same shape; about half of the values are negative.
        """
        return (input - input.mean(0)) / input.std(0)


class LogFeatures(nn.Module):
    """``torch.log`` of features meant to be positive (counts, prices), with no guard."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Return log(input): NaN where input < 0, −inf where it is 0.

        Args:
            input: Any shape.

        Returns:
            Same shape.
        """
        return torch.log(input)


def nan_model(seed: int = 0, num_features: int = 8, hidden_size: int = 16) -> nn.Sequential:
    """A classifier of positive count features that standardizes them *before* taking their log.

    The order is the bug: log-then-standardize is what was meant. ``features.scale`` is finite, but
    it makes about half the values negative, so ``features.log`` (:data:`NAN_MODULE`) is the first module
    whose output has NaN, and everything after it, the loss included, is NaN.

    Args:
        seed: Seed of the initialization.
        num_features: Input features.
        hidden_size: Units of the classifier's hidden layer.

    Returns:
        ``nn.Sequential`` with children ``features`` (``scale``, ``log``) and ``classifier``
        (``fc1``, ``relu``, ``fc2``), taking (B, num_features) to (B, 2) logits.
    """
    with _seeded(seed):
        return nn.Sequential(OrderedDict([
            ("features", nn.Sequential(OrderedDict([("scale", ZScore()), ("log", LogFeatures())]))),
            ("classifier", nn.Sequential(OrderedDict([
                ("fc1", nn.Linear(num_features, hidden_size)),
                ("relu", nn.ReLU()),
                ("fc2", nn.Linear(hidden_size, 2)),
            ]))),
        ]))


def nan_batches(count: int = 4, batch_size: int = 32, seed: int = 0,
                num_features: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Positive log-normal "counts" whose scale depends on the class.

    Args:
        count: Number of batches.
        batch_size: Examples per batch (at least 2).
        seed: Seed of the local generator.
        num_features: Features per example.

    Returns:
        ``count`` pairs (features (B, num_features) > 0, labels (B,) long in {0, 1}).
    """
    g = _generator(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, 2, (batch_size,), generator=g)
        features = torch.exp(0.5 * labels[:, None] + torch.randn(batch_size, num_features, generator=g))
        batches.append((features, labels))
    return batches


def nan_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross entropy of the two classes; NaN with :func:`nan_model`.

    Args:
        model: From :func:`nan_model`.
        batch: (features, labels).

    Returns:
        Scalar loss.
    """
    features, labels = batch
    return F.cross_entropy(model(features), labels)


# ---------------------------------------------------------------------------------------------------
# The table of subjects
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subject:
    """One subject: how to build the model, score it on a batch, and make its batches.

    Attributes:
        make_model: Builds a fresh model, no arguments needed.
        loss_fn: ``loss_fn(model, batch)`` -> scalar tensor.
        batches: Returns a list of batches, no arguments needed.
        description: One line on what the model is and what is wrong with it, if anything.
    """

    make_model: Callable[[], nn.Module]
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    batches: Callable[[], list]
    description: str


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
