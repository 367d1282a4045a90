"""Weight initializations that set how a gradient is scaled through time, applied in place.

Two levels, in the style of ``torch.nn.init``:

* tensor functions (:func:`xavier_uniform_`, :func:`orthogonal_`, :func:`sparse_`...) fill a stack of
  weight matrices (K, fan_out, fan_in) in place, every member k from its own generator;
* :func:`initialize` applies a scheme of :data:`INITIALIZATIONS`, named in a config, to a whole
  gradtrace model.

A gated model stacks its gates along the rows: an LSTM's ``W_rec`` (K, 4H, H) is four H×H maps. With
``gates=G`` a function treats each (fan_out/G, fan_in) block as a matrix of its own, so an orthogonal LSTM
``W_rec`` is four independent orthogonal H×H blocks rather than one 4H×H matrix with orthonormal columns,
and Glorot's fan_out is that of one gate.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from gradtrace.errors import check_choice, check_int, check_real, check_seed, describe

if TYPE_CHECKING:
    from gradtrace.models.base import RecurrentModel

# The tensor-level functions sit below the models (the ESN builds its reservoir with them); the
# model-level ones import the model classes when called, so that import never goes upward.

__all__ = [
    "GAINS",
    "INITIALIZATIONS",
    "identity_",
    "initialize",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lstm_forget_bias_",
    "normal_",
    "orthogonal_",
    "scale_to_spectral_radius_",
    "sparse_",
    "spectral_radius",
    "top_singular_value",
    "xavier_normal_",
    "xavier_uniform_",
]

#: The gain that keeps a signal's scale through a nonlinearity (the values of
#: ``torch.nn.init.calculate_gain``; √2 for ReLU is He et al.'s, 5/3 for tanh is torch's convention).
#: Gains of the Kaiming initialization by nonlinearity, as torch.nn.init.calculate_gain gives them; for
#: a leaky side of slope a the gain is √(2 / (1 + a²)) (He et al. 2015). GELU has no closed form and
#: takes ReLU's √2, which it approaches for large inputs.
GAINS: dict[str, float] = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
                           "leaky_relu": math.sqrt(2.0 / (1 + 0.01**2)), "prelu": math.sqrt(2.0 / (1 + 0.25**2)),
                           "gelu": math.sqrt(2.0)}

KAIMING_MODES = ("fan_in", "fan_out")

Generators = torch.Generator | Sequence[torch.Generator] | None
_F64 = torch.float64


# --------------------------------------------------------------------------------------------
# Spectral readings
# --------------------------------------------------------------------------------------------
def _check_square(name: str, weight: torch.Tensor) -> None:
    if weight.dim() < 2 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"`{name}` must be square matrices (..., H, H), got {describe(weight)}.")


def spectral_radius(weight: torch.Tensor) -> torch.Tensor:
    """Return the largest eigenvalue modulus of each square matrix in ``weight`` (..., H, H) → (...).

    Example:
        >>> float(spectral_radius(torch.diag(torch.tensor([0.5, -2.0]))))
        2.0
    """
    _check_square("weight", weight)
    with torch.no_grad():
        return torch.linalg.eigvals(weight.double()).abs().amax(-1).to(weight.dtype)


def top_singular_value(weight: torch.Tensor) -> torch.Tensor:
    """Return the largest singular value (the spectral norm) of each matrix: (..., M, N) → (...)."""
    with torch.no_grad():
        return torch.linalg.matrix_norm(weight.double(), ord=2).to(weight.dtype)


def scale_to_spectral_radius_(weight: torch.Tensor, radius: float) -> torch.Tensor:
    """Rescale each square matrix of ``weight`` in place so its spectral radius equals ``radius``.

    With a tanh network near the origin, ∂h_t/∂h_{t−1} ≈ W_rec, so ρ(W_rec) < 1 makes the gradient
    vanish over time and ρ > 1 lets it grow (Pascanu et al. 2013, arXiv:1211.5063, section 2).

    Args:
        weight: (..., H, H), e.g. an ensemble's ``W_rec`` (K, H, H); modified in place.
        radius: the target spectral radius, > 0.

    Returns:
        ``weight``.

    Example:
        >>> w = torch.randn(3, 8, 8)
        >>> bool(torch.allclose(spectral_radius(scale_to_spectral_radius_(w, 0.9)), torch.tensor(0.9)))
        True
    """
    _check_square("weight", weight)
    radius = check_real("radius", radius, minimum=0.0, exclusive_minimum=True)
    current = spectral_radius(weight)
    if bool((current == 0).any()):
        raise ValueError("`weight` has a matrix with spectral radius 0 (nilpotent); it cannot be rescaled.")
    with torch.no_grad():
        weight.mul_((radius / current)[..., None, None])
    return weight


# --------------------------------------------------------------------------------------------
# Tensor-level initializations: (K, fan_out, fan_in), every member from its own generator
# --------------------------------------------------------------------------------------------
def _check_matrices(name: str, weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor, got {describe(weight)}.")
    if weight.dim() < 2 or 0 in weight.shape:
        raise ValueError(f"`{name}` must be non-empty matrices (K, fan_out, fan_in), got {describe(weight)}.")


def _block_shape(weight: torch.Tensor, gates: int) -> tuple[int, int]:
    """Return the (rows, fan_in) of one gate block of ``weight``."""
    gates = check_int("gates", gates, minimum=1)
    fan_out, fan_in = weight.shape[-2:]
    if fan_out % gates:
        raise ValueError(f"`gates` must split the {fan_out} rows of `weight` into equal blocks, got gates={gates}.")
    return fan_out // gates, fan_in


def _generators(weight: torch.Tensor, generator: Generators, seed: int | None) -> list[torch.Generator | None]:
    """Return one generator per member: ``seed + k``, the given list, a shared one, or None (torch's global)."""
    members = math.prod(weight.shape[:-2])
    if generator is not None and seed is not None:
        raise TypeError("Pass `generator` or `seed`, not both.")
    if seed is not None:
        seed = check_seed(seed, members=members)
        return [torch.Generator().manual_seed(seed + k) for k in range(members)]
    if generator is None or isinstance(generator, torch.Generator):
        return [generator] * members
    if not isinstance(generator, Sequence) or not all(isinstance(g, torch.Generator) for g in generator):
        raise TypeError(
            f"`generator` must be a torch.Generator or a sequence of them, one per member, got {describe(generator)}."
        )
    if len(generator) != members:
        raise ValueError(f"`generator` must hold one generator per member ({members}), got {len(generator)}.")
    return list(generator)


def _fill_(weight: torch.Tensor, gates: int, generators: list, draw: Callable) -> torch.Tensor:
    """Draw every member block by block with ``draw(generator, (rows, cols))`` (float64, CPU), then copy.

    Drawing in float64 makes a float32 model hold the same values, rounded, as a float64 one; drawing
    everything before copying leaves ``weight`` untouched when a draw fails.
    """
    rows, cols = weight.shape[-2] // gates, weight.shape[-1]
    members = [torch.cat([draw(g, (rows, cols)) for _ in range(gates)]) for g in generators]
    values = torch.stack(members).reshape(weight.shape)
    with torch.no_grad():
        weight.copy_(values)
    return weight


def _uniform(generator, shape, bound: float) -> torch.Tensor:
    return (torch.rand(shape, generator=generator, dtype=_F64) * 2 - 1) * bound


def _normal(generator, shape, std: float) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=_F64) * std


def _check_gain(gain: float) -> float:
    return check_real("gain", gain, minimum=0.0, exclusive_minimum=True)


def xavier_uniform_(weight: torch.Tensor, gain: float = 1.0, *, gates: int = 1, generator: Generators = None,
                    seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place from U(−a, a), a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio).

    The variance 2 / (fan_in + fan_out) is the compromise between keeping the forward signal's variance
    (1 / fan_in) and the backward gradient's (1 / fan_out) through a linear map.

    Args:
        weight: (K, fan_out, fan_in) (or one (fan_out, fan_in) matrix); modified in place.
        gain: multiplies the bound, > 0 (see :data:`GAINS`).
        gates: number of gate blocks stacked along the rows; fan_out is that of one block.
        generator: one ``torch.Generator`` per member (a list), or one shared by all; None uses
            torch's global generator.
        seed: instead of ``generator``: member k draws from a generator seeded ``seed + k``.

    Returns:
        ``weight``.

    Raises:
        TypeError: ``weight`` is not a floating-point tensor, or both ``generator`` and ``seed`` are given.
        ValueError: a bad shape, gain or ``gates``, or a generator list of the wrong length.

    Example:
        >>> w = xavier_uniform_(torch.empty(2, 6, 4), seed=0)
        >>> bool(w.abs().max() <= (6 / (4 + 6)) ** 0.5)
        True

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks".
    """
    _check_matrices("weight", weight)
    rows, cols = _block_shape(weight, gates)
    bound = _check_gain(gain) * math.sqrt(6.0 / (rows + cols))
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _uniform(g, shape, bound))


def xavier_normal_(weight: torch.Tensor, gain: float = 1.0, *, gates: int = 1, generator: Generators = None,
                   seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place from N(0, σ²), σ = gain·√(2 / (fan_in + fan_out)) (Glorot & Bengio).

    Args:
        weight, gain, gates, generator, seed: as in :func:`xavier_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError, ValueError: as :func:`xavier_uniform_`.

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks".
    """
    _check_matrices("weight", weight)
    rows, cols = _block_shape(weight, gates)
    std = _check_gain(gain) * math.sqrt(2.0 / (rows + cols))
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _normal(g, shape, std))


def _kaiming_std(weight: torch.Tensor, nonlinearity: str, mode: str, gates: int) -> float:
    _check_matrices("weight", weight)
    check_choice("nonlinearity", nonlinearity, GAINS, what="nonlinearity")
    check_choice("mode", mode, KAIMING_MODES, what="mode")
    rows, cols = _block_shape(weight, gates)
    return GAINS[nonlinearity] / math.sqrt(cols if mode == "fan_in" else rows)


def kaiming_uniform_(weight: torch.Tensor, nonlinearity: str = "relu", *, mode: str = "fan_in", gates: int = 1,
                     generator: Generators = None, seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place from U(−a, a), a = √3·gain / √fan (He et al.; variance gain² / fan).

    Args:
        weight: (K, fan_out, fan_in); modified in place.
        nonlinearity: the activation the weights feed, for the gain: "relu" (√2), "tanh" (5/3),
            "sigmoid" or "linear" (1).
        mode: "fan_in" keeps the forward signal's variance, "fan_out" the backward gradient's.
        gates, generator, seed: as in :func:`xavier_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError: as :func:`xavier_uniform_`.
        ValueError: an unknown ``nonlinearity`` or ``mode``, a bad shape or ``gates``.

    References:
        He, Zhang, Ren & Sun 2015, "Delving deep into rectifiers", arXiv:1502.01852.
    """
    bound = math.sqrt(3.0) * _kaiming_std(weight, nonlinearity, mode, gates)
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _uniform(g, shape, bound))


def kaiming_normal_(weight: torch.Tensor, nonlinearity: str = "relu", *, mode: str = "fan_in", gates: int = 1,
                    generator: Generators = None, seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place from N(0, σ²), σ = gain / √fan (He et al.).

    Args:
        weight, nonlinearity, mode, gates, generator, seed: as in :func:`kaiming_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError, ValueError: as :func:`kaiming_uniform_`.

    Example:
        >>> w = kaiming_normal_(torch.empty(1, 400, 400, dtype=torch.float64), seed=0)
        >>> round(float(w.std()) * 400 ** 0.5, 1)  # ≈ √2
        1.4

    References:
        He, Zhang, Ren & Sun 2015, "Delving deep into rectifiers", arXiv:1502.01852.
    """
    std = _kaiming_std(weight, nonlinearity, mode, gates)
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _normal(g, shape, std))


def _orthogonal(generator, shape, gain: float) -> torch.Tensor:
    rows, cols = shape
    gaussian = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=_F64)
    q, r = torch.linalg.qr(gaussian)
    # QR alone is not uniform over the orthogonal group; fixing the signs of R's diagonal makes it so.
    q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)
    return gain * (q if rows >= cols else q.T)


def orthogonal_(weight: torch.Tensor, gain: float = 1.0, *, gates: int = 1, generator: Generators = None,
                seed: int | None = None) -> torch.Tensor:
    """Fill every gate block of ``weight`` in place with an independent random orthogonal matrix × gain.

    An orthogonal W_rec has all singular values 1: a linear recurrence neither shrinks nor grows a
    gradient passing back through it, at any lag. A non-square block is semi-orthogonal (orthonormal
    rows when it is wide, orthonormal columns when it is tall).

    Args:
        weight: (K, fan_out, fan_in); modified in place. An LSTM's ``W_rec`` (K, 4H, H) with
            ``gates=4`` gets four independent orthogonal H×H blocks per member.
        gain: multiplies the matrix, > 0.
        gates, generator, seed: as in :func:`xavier_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError, ValueError: as :func:`xavier_uniform_`.

    Example:
        >>> w = orthogonal_(torch.empty(2, 12, 3, dtype=torch.float64), gates=4, seed=0)
        >>> blocks = w.view(2, 4, 3, 3)
        >>> bool(torch.allclose(blocks.transpose(-1, -2) @ blocks, torch.eye(3, dtype=torch.float64)))
        True

    References:
        Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep
        linear neural networks", arXiv:1312.6120; Mezzadri 2007, "How to generate random matrices from
        the classical compact groups" (the sign correction).
    """
    _check_matrices("weight", weight)
    _block_shape(weight, gates)
    gain = _check_gain(gain)
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _orthogonal(g, shape, gain))


def identity_(weight: torch.Tensor, scale: float = 1.0, *, gates: int = 1) -> torch.Tensor:
    """Set every square gate block of ``weight`` to ``scale`` × the identity, in place (IRNN).

    With ReLU units and W_rec = I, a unit that is on copies its state, and the gradient, unchanged
    to the next step; a ``scale`` below 1 makes the network forget at rate ``scale`` per step.

    Args:
        weight: (K, G·H, H); modified in place. Each of the ``gates`` blocks must be square.
        scale: the diagonal value, a finite real (Le et al. use 1, and 0.01 for their "iRNN").
        gates: number of gate blocks stacked along the rows.

    Returns:
        ``weight``.

    Raises:
        TypeError: ``weight`` is not a floating-point tensor.
        ValueError: the blocks are not square, or a bad ``scale`` or ``gates``.

    Example:
        >>> identity_(torch.empty(1, 4, 2), 0.5, gates=2)[0]
        tensor([[0.5000, 0.0000],
                [0.0000, 0.5000],
                [0.5000, 0.0000],
                [0.0000, 0.5000]])

    References:
        Le, Jaitly & Hinton 2015, "A simple way to initialize recurrent networks of rectified linear
        units", arXiv:1504.00941.
    """
    _check_matrices("weight", weight)
    rows, cols = _block_shape(weight, gates)
    if rows != cols:
        raise ValueError(
            f"`weight` must split into {gates} square block(s) for an identity, got blocks of {rows}×{cols} "
            f"from {describe(weight)}; pass `gates`."
        )
    scale = check_real("scale", scale)
    with torch.no_grad():
        weight.copy_((scale * torch.eye(cols, dtype=_F64)).repeat(gates, 1).expand(weight.shape))
    return weight


def _sparse(generator, shape, nonzeros: int, radius: float | None) -> torch.Tensor:
    rows, cols = shape
    # A uniformly random subset of `nonzeros` columns per row: the first entries of a random permutation.
    kept = torch.rand(rows, cols, generator=generator, dtype=_F64).argsort(dim=-1)[:, :nonzeros]
    block = torch.zeros(rows, cols, dtype=_F64)
    block.scatter_(1, kept, torch.randn(rows, nonzeros, generator=generator, dtype=_F64))
    if radius is not None and rows == cols:
        scale_to_spectral_radius_(block, radius)
    return block


def sparse_(weight: torch.Tensor, nonzeros: int = 15, spectral_radius: float | None = 0.95, *, gates: int = 1,
            generator: Generators = None, seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place with a sparse matrix: ``nonzeros`` N(0, 1) weights per row (unit), the rest 0.

    Every unit gets the same number of incoming connections whatever the layer's width, so the input
    it sums does not shrink as the layer grows (Martens's "sparse initialization"). Each square block
    is then rescaled to the given spectral radius: Pascanu et al.'s "smart tanh" W_rec is sparse with
    15 non-zero incoming connections per unit and ρ = 0.95. Non-square blocks are left unscaled.

    Args:
        weight: (K, fan_out, fan_in); modified in place.
        nonzeros: non-zero weights per row, 1 ≤ nonzeros ≤ fan_in.
        spectral_radius: the spectral radius of each square block, > 0; None leaves the N(0, 1) draw.
        gates, generator, seed: as in :func:`xavier_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError: as :func:`xavier_uniform_`.
        ValueError: ``nonzeros`` outside [1, fan_in], ``spectral_radius`` ≤ 0, a bad shape or ``gates``,
            or a block that came out nilpotent (spectral radius 0) so it cannot be rescaled.

    Example:
        >>> w = sparse_(torch.empty(2, 10, 10, dtype=torch.float64), nonzeros=3, seed=0)
        >>> (w != 0).sum(-1).unique().tolist(), round(float(torch.linalg.eigvals(w[0]).abs().max()), 6)
        ([3], 0.95)

    References:
        Martens 2010, "Deep learning via Hessian-free optimization"; Sutskever, Martens, Dahl & Hinton
        2013, "On the importance of initialization and momentum in deep learning"; Pascanu, Mikolov &
        Bengio 2013, arXiv:1211.5063, section 4.1.1.
    """
    _check_matrices("weight", weight)
    _block_shape(weight, gates)
    fan_in = weight.shape[-1]
    nonzeros = check_int("nonzeros", nonzeros)
    if not 1 <= nonzeros <= fan_in:
        raise ValueError(f"`nonzeros` must be between 1 and fan_in = {fan_in} (the width of a row), got {nonzeros}.")
    radius = None
    if spectral_radius is not None:
        radius = check_real("spectral_radius", spectral_radius, minimum=0.0, exclusive_minimum=True)
    generators = _generators(weight, generator, seed)
    return _fill_(weight, gates, generators, lambda g, shape: _sparse(g, shape, nonzeros, radius))


def normal_(weight: torch.Tensor, std: float, *, generator: Generators = None,
            seed: int | None = None) -> torch.Tensor:
    """Fill ``weight`` in place from N(0, std²), the "small random" initialization.

    Pascanu et al. (2013, section 4.1.1) compare three starts on the temporal order problem:
    '"sigmoid" ... uses a sigmoid unit network where W_rec, W_in, W_out ∼ N(0, 0.01)', '"basic tanh"
    uses a tanh unit network where W_rec, W_in, W_out ∼ N(0, 0.1)', and "smart tanh" (see
    :func:`sparse_`); "In all cases b = b_out = 0". The paper does not say whether the second argument
    is a variance or a standard deviation; the authors' code (github.com/pascanur/trainingRNNs) passes
    it to numpy as the standard deviation, and so does ``std`` here.

    Args:
        weight: (K, fan_out, fan_in); modified in place.
        std: the standard deviation, > 0.
        generator, seed: as in :func:`xavier_uniform_`.

    Returns:
        ``weight``.

    Raises:
        TypeError: as :func:`xavier_uniform_`.
        ValueError: ``std`` ≤ 0 or a bad shape.

    References:
        Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
        arXiv:1211.5063.
    """
    _check_matrices("weight", weight)
    std = check_real("std", std, minimum=0.0, exclusive_minimum=True)
    generators = _generators(weight, generator, seed)
    return _fill_(weight, 1, generators, lambda g, shape: _normal(g, shape, std))


def lstm_forget_bias_(model, value: float = 1.0):
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
    from gradtrace.models.lstm import LSTM

    if not isinstance(model, LSTM):
        raise TypeError(f"`model` must be a gradtrace LSTM, got {type(model).__name__}.")
    value = check_real("value", value)
    H = model.hidden_size  # noqa: N806
    with torch.no_grad():
        model.b[:, H : 2 * H].fill_(value)
    return model


# --------------------------------------------------------------------------------------------
# Model-level schemes, by name
# --------------------------------------------------------------------------------------------
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
    from gradtrace.models.elman import ElmanRNN

    return model.activation if isinstance(model, ElmanRNN) else "tanh"


def _init_uniform(model: RecurrentModel) -> RecurrentModel:
    model.reset_parameters()
    return model


def _init_xavier(model: RecurrentModel, fill: Callable, scheme: str, gain: float) -> RecurrentModel:
    gain = _check_gain(gain)
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
    from gradtrace.models.base import RecurrentModel

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
