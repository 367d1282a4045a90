"""Named initializations of whole recurrent models: :func:`initialize` and its schemes.

The tensor-level fills (:mod:`gradtrace.init`) sit below the models, since the ESN builds its
reservoir with them; the schemes here sit above the model classes they set up, so imports flow one
way: ``gradtrace.init`` → the model classes → this module.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable

import torch

from gradtrace.errors import check_choice, check_real
from gradtrace.init import (
    GAINS,
    KAIMING_MODES,
    identity_,
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    orthogonal_,
    scale_to_spectral_radius_,
    sparse_,
    xavier_normal_,
    xavier_uniform_,
)
from gradtrace.models.base import RecurrentModel
from gradtrace.models.elman import ElmanRNN
from gradtrace.models.lstm import LSTM

__all__ = ["INITIALIZATIONS", "initialize", "lstm_forget_bias_"]


def lstm_forget_bias_(model: LSTM, value: float = 1.0) -> LSTM:
    """Set the forget-gate bias of every member of a gradtrace LSTM to ``value``, in place.

    A forget gate that starts near σ(1) ≈ 0.73 rather than 0.5 keeps the cell state, and the gradient
    along it, alive over more steps at the start of training.

    Args:
        model: a :class:`gradtrace.models.LSTM` (gate order i, f, g, o; bias ``b`` (K, 4H)).
        value: the bias of the forget gate.

    Returns:
        ``model``.

    References:
        Gers, Schmidhuber & Cummins 2000, "Learning to forget"; Jozefowicz, Zaremba & Sutskever 2015,
        "An empirical exploration of recurrent network architectures".
    """
    if not isinstance(model, LSTM):
        raise TypeError(f"`model` must be a gradtrace LSTM, got {type(model).__name__}.")
    value = check_real("value", value)
    H = model.hidden_size  # noqa: N806
    with torch.no_grad():
        model.b[:, H : 2 * H].fill_(value)
    return model


def _scheme_generators(model: RecurrentModel, scheme: str) -> list[torch.Generator]:
    """One generator per member, seeded from a hash of ``scheme`` and ``model.seed + k``.

    The seed depends on k only through seed + k, so member k of an ensemble draws what the single
    model built with seed + k draws. Hashing the scheme's name in keeps the stream apart from the
    construction draw (seeded seed + k itself) and from the other schemes; an additive offset would
    not do, as torch's CPU generator keeps only the low 32 bits of a seed.
    """
    seeds = [hashlib.blake2b(f"gradtrace.init.{scheme}:{model.seed + k}".encode(), digest_size=8).digest()
             for k in range(model.num_models)]
    return [torch.Generator().manual_seed(int.from_bytes(seed, "little")) for seed in seeds]


def _zero_biases(model: RecurrentModel) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not name.startswith("W_"):  # b, b_out and a GRU's b_rec
                param.zero_()


def _default_nonlinearity(model: RecurrentModel) -> str:
    return model.activation if isinstance(model, ElmanRNN) else "tanh"


def _init_uniform(model: RecurrentModel) -> RecurrentModel:
    model.reset_parameters()
    return model


def _init_xavier(model: RecurrentModel, fill: Callable, scheme: str, gain: float) -> RecurrentModel:
    gain = check_real("gain", gain, minimum=0.0, exclusive_minimum=True)
    generators = _scheme_generators(model, scheme)
    fill(model.W_in, gain, gates=model.num_gates, generator=generators)
    fill(model.W_rec, gain, gates=model.num_gates, generator=generators)
    fill(model.W_out, 1.0, generator=generators)  # a linear read-out
    _zero_biases(model)
    return model


def _init_xavier_uniform(model: RecurrentModel, *, gain: float = 1.0) -> RecurrentModel:
    return _init_xavier(model, xavier_uniform_, "xavier_uniform", gain)


def _init_xavier_normal(model: RecurrentModel, *, gain: float = 1.0) -> RecurrentModel:
    return _init_xavier(model, xavier_normal_, "xavier_normal", gain)


def _init_kaiming(model: RecurrentModel, fill: Callable, scheme: str, nonlinearity: str | None,
                  mode: str) -> RecurrentModel:
    nonlinearity = _default_nonlinearity(model) if nonlinearity is None else nonlinearity
    check_choice("nonlinearity", nonlinearity, GAINS, what="nonlinearity")
    check_choice("mode", mode, KAIMING_MODES, what="mode")
    generators = _scheme_generators(model, scheme)
    fill(model.W_in, nonlinearity, mode=mode, gates=model.num_gates, generator=generators)
    fill(model.W_rec, nonlinearity, mode=mode, gates=model.num_gates, generator=generators)
    fill(model.W_out, "linear", mode=mode, generator=generators)
    _zero_biases(model)
    return model


def _init_kaiming_uniform(model: RecurrentModel, *, nonlinearity: str | None = None,
                          mode: str = "fan_in") -> RecurrentModel:
    return _init_kaiming(model, kaiming_uniform_, "kaiming_uniform", nonlinearity, mode)


def _init_kaiming_normal(model: RecurrentModel, *, nonlinearity: str | None = None,
                         mode: str = "fan_in") -> RecurrentModel:
    return _init_kaiming(model, kaiming_normal_, "kaiming_normal", nonlinearity, mode)


def _init_orthogonal(model: RecurrentModel, *, gain: float = 1.0) -> RecurrentModel:
    orthogonal_(model.W_rec, gain, gates=model.num_gates, generator=_scheme_generators(model, "orthogonal"))
    return model


def _init_identity(model: RecurrentModel, *, scale: float = 1.0, std: float = 0.001) -> RecurrentModel:
    scale = check_real("scale", scale)
    std = check_real("std", std, minimum=0.0, exclusive_minimum=True)
    generators = _scheme_generators(model, "identity")
    identity_(model.W_rec, scale, gates=model.num_gates)
    normal_(model.W_in, std, generator=generators)
    normal_(model.W_out, std, generator=generators)
    _zero_biases(model)
    return model


def _init_spectral(model: RecurrentModel, *, radius: float) -> RecurrentModel:
    radius = check_real("radius", radius, minimum=0.0, exclusive_minimum=True)
    K, G, H = model.num_models, model.num_gates, model.hidden_size  # noqa: N806
    with torch.no_grad():
        scale_to_spectral_radius_(model.W_rec.view(K, G, H, H), radius)
    return model


def _init_sparse(model: RecurrentModel, *, nonzeros: int = 15, spectral_radius: float = 0.95,
                 std: float = 0.01) -> RecurrentModel:
    std = check_real("std", std, minimum=0.0, exclusive_minimum=True)
    generators = _scheme_generators(model, "sparse")
    # W_rec first: its checks (nonzeros, spectral_radius) run before any parameter changes.
    sparse_(model.W_rec, nonzeros, spectral_radius, gates=model.num_gates, generator=generators)
    normal_(model.W_in, std, generator=generators)
    normal_(model.W_out, std, generator=generators)
    _zero_biases(model)
    return model


def _init_normal(model: RecurrentModel, *, std: float) -> RecurrentModel:
    std = check_real("std", std, minimum=0.0, exclusive_minimum=True)
    generators = _scheme_generators(model, "normal")
    for weight in (model.W_in, model.W_rec, model.W_out):
        normal_(weight, std, generator=generators)
    _zero_biases(model)
    return model


def _init_lstm_forget_bias(model: RecurrentModel, *, value: float = 1.0) -> RecurrentModel:
    return lstm_forget_bias_(model, value)


#: Model-level initializations by name; each takes the model and keyword options (see :func:`initialize`).
INITIALIZATIONS: dict[str, Callable[..., RecurrentModel]] = {
    "uniform": _init_uniform,
    "xavier_uniform": _init_xavier_uniform,
    "xavier_normal": _init_xavier_normal,
    "kaiming_uniform": _init_kaiming_uniform,
    "kaiming_normal": _init_kaiming_normal,
    "orthogonal": _init_orthogonal,
    "identity": _init_identity,
    "spectral": _init_spectral,
    "sparse": _init_sparse,
    "normal": _init_normal,
    "lstm_forget_bias": _init_lstm_forget_bias,
}


def initialize(model: RecurrentModel, scheme: str, /, **options) -> RecurrentModel:
    """Initialize a gradtrace model in place with the scheme named ``scheme``.

    Member k draws from its own generator, seeded from ``model.seed + k`` and the scheme, so member k
    of an ensemble equals the single model built with seed + k and initialized the same way, and a
    scheme's draw differs from the construction draw. A gated W_rec or W_in is handled gate by gate.
    "Biases" are ``b``, ``b_out`` and a GRU's ``b_rec``.

    ================== =================================== =================================================
    scheme             options (default)                   what it sets
    ================== =================================== =================================================
    "uniform"          —                                   every parameter ~ U(±1/√H), torch's default; this
                                                           is the construction draw again
    "xavier_uniform",  gain (1.0)                          W_in, W_rec with gain, W_out with gain 1 (a linear
    "xavier_normal"                                        read-out); biases 0
    "kaiming_uniform", nonlinearity (the ElmanRNN's        W_in, W_rec with the nonlinearity's gain, W_out
    "kaiming_normal"   activation; "tanh" for LSTM/GRU),   with gain 1; biases 0
                       mode ("fan_in")
    "orthogonal"       gain (1.0)                          W_rec only: orthogonal H×H per gate, × gain
    "identity"         scale (1.0), std (0.001)            IRNN: W_rec = scale·I per gate; W_in, W_out ~
                                                           N(0, std²); biases 0
    "spectral"         radius (required)                   W_rec only: rescales the current W_rec (each gate
                                                           block) to spectral radius ``radius``
    "sparse"           nonzeros (15), spectral_radius      "smart tanh": W_rec sparse, ``nonzeros`` per row,
                       (0.95), std (0.01)                  ρ = spectral_radius per gate; W_in, W_out ~
                                                           N(0, std²); biases 0
    "normal"           std (required)                      W_in, W_rec, W_out ~ N(0, std²); biases 0
    "lstm_forget_bias" value (1.0)                         an LSTM's forget-gate bias only
    ================== =================================== =================================================

    "identity" follows Le et al. (2015): "the non-recurrent weights are initialized with a random
    matrix, whose entries are sampled from a Gaussian distribution with mean of zero and standard
    deviation of 0.001", and the biases start at zero. Their networks use ReLU units: build the model as
    ``ElmanRNN(..., activation="relu")``. The scheme runs on any model; on tanh units the identity keeps
    the gradient only while the units stay near 0, and on an LSTM or GRU it sets each gate's recurrent
    block to scale·I. "normal" with std 0.01 on sigmoid units is Pascanu et al.'s "sigmoid" start, with
    0.1 on tanh units their "basic tanh" (see :func:`normal_`).

    Args:
        model: a gradtrace :class:`~gradtrace.models.base.RecurrentModel`; modified in place.
        scheme: a name in :data:`INITIALIZATIONS`.
        options: the scheme's options, as in the table.

    Returns:
        ``model``.

    Raises:
        TypeError: ``model`` is not a gradtrace model, an option the scheme does not take (the message
            names the valid ones), or a required option is missing.
        ValueError: an unknown scheme (the message lists them), ``radius`` or ``spectral_radius`` ≤ 0,
            ``nonzeros`` outside [1, H], or another out-of-range option.

    Example:
        >>> from gradtrace.models import LSTM
        >>> model = initialize(LSTM(2, 3, 1, num_models=2, seed=0), "orthogonal")
        >>> blocks = model.W_rec.detach().view(2, 4, 3, 3)
        >>> bool(torch.allclose(blocks @ blocks.transpose(-1, -2), torch.eye(3), atol=1e-6))
        True

    References:
        Glorot & Bengio 2010; He et al. 2015, arXiv:1502.01852; Saxe et al. 2014, arXiv:1312.6120;
        Le, Jaitly & Hinton 2015, arXiv:1504.00941; Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063.
    """
    if not isinstance(model, RecurrentModel):
        raise TypeError(f"`model` must be a gradtrace RecurrentModel, got {type(model).__name__}.")
    check_choice("scheme", scheme, INITIALIZATIONS, what="initialization")
    scheme_fn = INITIALIZATIONS[scheme]
    accepted = [p for p in inspect.signature(scheme_fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
    names = [p.name for p in accepted]
    unknown = [name for name in options if name not in names]
    if unknown:
        valid = ", ".join(names) if names else "none"
        raise TypeError(
            f"Initialization {scheme!r} takes no option {', '.join(map(repr, unknown))}. Valid options: {valid}."
        )
    missing = [p.name for p in accepted if p.default is p.empty and p.name not in options]
    if missing:
        raise TypeError(f"Initialization {scheme!r} needs the option(s) {', '.join(map(repr, missing))}.")
    return scheme_fn(model, **options)
