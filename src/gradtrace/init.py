"""Weight initializations that set how a gradient is scaled through time, applied in place."""

from __future__ import annotations

import torch

from gradtrace.errors import check_real, describe

__all__ = ["scale_to_spectral_radius_", "spectral_radius", "top_singular_value"]


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
