"""Word language model (pytorch/examples word_language_model): the model, a synthetic corpus, batching and
the truncated-BPTT training step and loop."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor.examples.base import _generator, _seeded

__all__ = [
    "RNN_TYPES",
    "WordLanguageModel",
    "batchify",
    "get_batch",
    "repackage_hidden",
    "synthetic_corpus",
    "train_word_language_model",
    "word_language_batches",
    "word_language_loss",
    "word_language_model",
    "word_language_training_step",
]

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
