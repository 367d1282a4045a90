"""Weight initializations that set how a gradient is scaled through time, applied in place.

Two levels, in the style of ``torch.nn.init``:

* tensor functions (:func:`xavier_uniform_`, :func:`orthogonal_`, :func:`sparse_`...) fill a stack of
  weight matrices (K, fan_out, fan_in) in place, every member k from its own generator;
* :func:`gradtrace.models.initialization.initialize` applies a named scheme to a whole gradtrace model;
  it lives above the models, this module below them.

A gated model stacks its gates along the rows: an LSTM's ``W_rec`` (K, 4H, H) is four H×H maps. With
``gates=G`` a function treats each (fan_out/G, fan_in) block as a matrix of its own, so an orthogonal LSTM
``W_rec`` is four independent orthogonal H×H blocks rather than one 4H×H matrix with orthonormal columns,
and Glorot's fan_out is that of one gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from gradtrace.errors import check_choice, check_int, check_real, check_seed, describe

# Only tensor-level functions live here: they sit below the models (the ESN builds its reservoir with
# them). The named whole-model schemes, `initialize`, sit above the models in
# gradtrace.models.initialization, so this module never imports a model.

__all__ = [
    "GAINS",
    "identity_",
    "kaiming_normal_",
    "kaiming_uniform_",
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


def _check_finite(name: str, weight: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the first NaN or infinite entry of ``weight``.

    LAPACK's eigenvalue and singular-value routines are undefined on such a matrix: oneMKL's balancing
    step (DGEBAL) crashes the whole process on a NaN, so the check runs before any decomposition.
    """
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor, got {describe(weight)}.")
    bad = ~torch.isfinite(weight.detach())
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"`{name}` must be finite, got {describe(weight)} holding {float(weight[index])} at index "
                         f"{index} (a diverged model's weight?); its spectrum is undefined.")


def spectral_radius(weight: torch.Tensor) -> torch.Tensor:
    """Return the largest eigenvalue modulus of each square matrix in ``weight`` (..., H, H) → (...).

    Raises:
        TypeError: if ``weight`` is not a floating-point tensor.
        ValueError: if ``weight`` is not square or holds NaN or infinity (naming where).

    Example:
        >>> float(spectral_radius(torch.diag(torch.tensor([0.5, -2.0]))))
        2.0
    """
    _check_finite("weight", weight)
    _check_square("weight", weight)
    with torch.no_grad():
        return torch.linalg.eigvals(weight.double()).abs().amax(-1).to(weight.dtype)


def top_singular_value(weight: torch.Tensor) -> torch.Tensor:
    """Return the largest singular value (the spectral norm) of each matrix: (..., M, N) → (...).

    Raises:
        TypeError: if ``weight`` is not a floating-point tensor.
        ValueError: if ``weight`` is not a stack of matrices or holds NaN or infinity (naming where).
    """
    _check_finite("weight", weight)
    if weight.dim() < 2:
        raise ValueError(f"`weight` must be matrices (..., M, N), got {describe(weight)}.")
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

    Raises:
        ValueError: if ``weight`` is not square, holds NaN or infinity (naming where), or has a matrix
            of spectral radius 0; or if ``radius`` is not a finite number > 0.

    Example:
        >>> w = torch.randn(3, 8, 8)
        >>> bool(torch.allclose(spectral_radius(scale_to_spectral_radius_(w, 0.9)), torch.tensor(0.9)))
        True
    """
    _check_finite("weight", weight)
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


# The named whole-model schemes moved above the models (gradtrace.models.initialization), so this
# module, which the models import, imports none of them. Their old address still answers: the lookup
# happens on first use, after both modules exist, and never while the models are being imported.
_MOVED = ("INITIALIZATIONS", "initialize", "lstm_forget_bias_")


def __getattr__(name: str):
    if name in _MOVED:
        from gradtrace.models import initialization

        return getattr(initialization, name)
    raise AttributeError(f"module 'gradtrace.init' has no attribute {name!r}")
