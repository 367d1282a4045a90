"""The dynamics of an autonomous recurrent network: where its state goes, and its Lyapunov exponent.

With no input, a recurrent network is a map h_{t+1} = φ(W_rec h_t + b). Started anywhere it settles
to a steady state, oscillates, or wanders chaotically, depending on the scale of W_rec. The largest
Lyapunov exponent λ tells these apart with one number: nearby states part as exp(λ t). It is also the
rate at which the gradient through time vanishes or explodes, because back-propagation multiplies by
the same Jacobians, ∂h_{t+1}/∂h_t = diag(φ′(a_t)) W_rec, that carry a small perturbation forward:
‖∂h_T/∂h_0‖ grows as exp(λ T). λ < 0 means the network forgets its start and its gradient vanishes;
λ > 0 means chaos and an exploding gradient; λ ≈ 0, the edge of chaos, is where it does neither.

Everything here computes and returns numbers; nothing stores or draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from gradtrace.activations import Activation, get_activation
from gradtrace.errors import check_int, check_real, check_seed, describe

__all__ = ["autonomous_trajectory", "largest_lyapunov_exponent", "recurrence_period"]


def autonomous_trajectory(
    W_rec: torch.Tensor,  # noqa: N803
    steps: int,
    *,
    activation: str | Activation = "tanh",
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    warmup: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """Run the network h_{t+1} = φ(W_rec h_t + b) with no input and return its states.

    Args:
        W_rec: recurrent weights (K, H, H), an ensemble of K networks; any leading shape works, and a
            single (H, H) matrix gives a (steps, H) result.
        steps: states returned, h_{warmup+1} … h_{warmup+steps}.
        activation: φ, a name from :data:`gradtrace.activations.ACTIVATIONS` or an
            :class:`~gradtrace.activations.Activation`.
        bias: b, (H,) or (K, H); None for no bias.
        initial_state: h_0, (H,) or (K, H). None draws it from N(0, 1), member k from a generator
            seeded ``seed + k``, so member k equals the single network run with seed ``seed + k``.
        warmup: steps taken before the first returned state (to leave the transient out).
        seed: seeds the initial state when ``initial_state`` is None.

    Returns:
        The states (K, steps, H), in ``W_rec``'s dtype.

    Raises:
        TypeError: if ``W_rec`` is not a floating-point tensor, ``bias``/``initial_state`` not tensors, or
            ``steps``/``warmup``/``seed`` not integers.
        ValueError: for non-square ``W_rec``, ``steps`` < 1, a negative ``warmup`` or ``seed``, an unknown
            activation, or a ``bias``/``initial_state`` whose shape does not fit ``W_rec``.

    Example:
        >>> W = torch.tensor([[0.5, 0.0], [0.0, 0.5]], dtype=torch.float64)
        >>> states = autonomous_trajectory(W, 3, activation="linear", initial_state=torch.tensor([1.0, -2.0]))
        >>> states.tolist()
        [[0.5, -1.0], [0.25, -0.5], [0.125, -0.25]]
    """
    W_rec, phi, bias, start, _, batch = _prepare(W_rec, activation, bias, initial_state, seed, tangent=False)
    steps = check_int("steps", steps, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    states = []
    with torch.no_grad():
        for t, (state, _) in enumerate(_iterate(W_rec, phi, bias, start, None), start=1):
            if t > warmup:
                states.append(state)
            if t == warmup + steps:
                break
    return torch.stack(states, dim=-2).reshape(*batch, steps, W_rec.shape[-1])


def largest_lyapunov_exponent(
    W_rec: torch.Tensor,  # noqa: N803
    *,
    steps: int,
    warmup: int,
    activation: str | Activation = "tanh",
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Return the largest Lyapunov exponent of each autonomous network, in nats per step.

    A tangent vector rides along the trajectory, v_{t+1} = diag(φ′(a_t)) W_rec v_t with
    a_t = W_rec h_t + b, and is renormalized to length 1 at every step so it neither underflows nor
    overflows; λ is the mean of the logarithms of the factors it was renormalized by over ``steps``
    steps, after ``warmup`` steps in which the state reaches its attractor and the vector turns to the
    most expanding direction. λ < 0: nearby states converge (a steady state or a stable cycle), the
    network forgets where it started, and its gradient through time vanishes as exp(λ k) over k steps.
    λ > 0: chaos, and the gradient explodes. For a linear network λ = log ρ(W_rec). A tangent vector
    that dies out exactly (the step function's derivative is 0) gives −inf.

    Args:
        W_rec: recurrent weights (K, H, H); any leading shape works, and (H, H) gives a 0-d result.
        steps: steps averaged over; the error of a finite-time estimate falls roughly as 1/√steps
            (chaos) or 1/steps (a regular orbit).
        warmup: steps taken first and not counted.
        activation: φ, a name from :data:`gradtrace.activations.ACTIVATIONS` or an
            :class:`~gradtrace.activations.Activation`.
        bias: b, (H,) or (K, H); None for no bias.
        initial_state: h_0, (H,) or (K, H). None draws it from N(0, 1), member k from a generator seeded
            ``seed + k`` (the same draw as :func:`autonomous_trajectory`, so λ belongs to the
            trajectory it returns); the starting tangent vector is the next draw of that generator.
        seed: seeds the starting tangent vector, and the initial state when ``initial_state`` is None.

    Returns:
        λ, shape (K,), in float64.

    Raises:
        TypeError: if ``W_rec`` is not a floating-point tensor, ``bias``/``initial_state`` not tensors, or
            ``steps``/``warmup``/``seed`` not integers.
        ValueError: as for :func:`autonomous_trajectory`, and for ``steps`` < 1 or a negative ``warmup``.

    Example:
        >>> W = torch.tensor([[0.0, 2.0], [0.5, 0.0]], dtype=torch.float64)  # eigenvalues ±1
        >>> W = torch.stack([W, 0.5 * W])
        >>> exponent = largest_lyapunov_exponent(W, steps=100, warmup=10, activation="linear")
        >>> [round(float(value), 6) for value in exponent]  # log ρ: log 1 and log 0.5
        [0.0, -0.693147]

    References:
        Benettin, Galgani, Giorgilli & Strelcyn 1980, "Lyapunov characteristic exponents for smooth
        dynamical systems and for Hamiltonian systems; a method for computing all of them", Meccanica 15.
        Sompolinsky, Crisanti & Sommers 1988, "Chaos in random neural networks", Phys. Rev. Lett. 61, 259.
    """
    W_rec, phi, bias, state, tangent, batch = _prepare(W_rec, activation, bias, initial_state, seed, tangent=True)
    steps = check_int("steps", steps, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    growths = []
    with torch.no_grad():
        for t, (_, growth) in enumerate(_iterate(W_rec, phi, bias, state, tangent), start=1):
            if t > warmup:
                growths.append(growth)
            if t == warmup + steps:
                break
    return torch.stack(growths).double().log().mean(0).reshape(batch)


def _iterate(W_rec, phi: Activation, bias, state, tangent) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (h_{t+1}, ‖ṽ_{t+1}‖) forever; the tangent is renormalized in place of the next one."""
    W_T = W_rec.transpose(-1, -2)  # row vectors: a = h W_recᵀ
    smallest = torch.finfo(W_rec.dtype).tiny
    while True:
        drive = torch.bmm(state[:, None], W_T)[:, 0]
        if bias is not None:
            drive = drive + bias
        state = phi.fn(drive)
        growth = None
        if tangent is not None:
            tangent = phi.derivative(drive) * torch.bmm(tangent[:, None], W_T)[:, 0]
            growth = torch.linalg.vector_norm(tangent, dim=-1)
            # A vector that died out (φ′ = 0) stays 0 and keeps contributing log 0 = −inf, not NaN.
            tangent = tangent / growth.clamp_min(smallest)[:, None]
        yield state, growth


def _prepare(W_rec, activation, bias, initial_state, seed, *, tangent: bool):
    """Validate the arguments; return W (N, H, H), φ, b (N, H) | None, h_0 (N, H), v_0 (N, H) | None, batch."""
    if not isinstance(W_rec, torch.Tensor) or not W_rec.is_floating_point():
        raise TypeError(f"`W_rec` must be a floating-point tensor (K, H, H), got {describe(W_rec)}.")
    if W_rec.dim() < 2 or W_rec.shape[-1] != W_rec.shape[-2] or W_rec.shape[-1] == 0:
        raise ValueError(f"`W_rec` must hold square matrices, shape (K, H, H) or (H, H), got {describe(W_rec)}.")
    phi = activation if isinstance(activation, Activation) else get_activation(activation)
    batch, size = tuple(W_rec.shape[:-2]), W_rec.shape[-1]
    members = math.prod(batch)
    seed = check_seed(seed, members=members)
    weights = W_rec.detach().reshape(members, size, size)
    bias = None if bias is None else _per_member("bias", bias, batch, size, W_rec)
    if initial_state is not None:
        initial_state = _per_member("initial_state", initial_state, batch, size, W_rec)
    states, tangents = [], []
    for k in range(members):
        generator = torch.Generator().manual_seed(seed + k)
        # Drawn in float64 whatever the dtype, so float32 and float64 runs start from the same point.
        start = torch.randn(size, generator=generator, dtype=torch.float64)
        states.append(start)
        if tangent:
            direction = torch.randn(size, generator=generator, dtype=torch.float64)
            tangents.append(direction / torch.linalg.vector_norm(direction))
    state = initial_state if initial_state is not None else torch.stack(states).to(W_rec.dtype)
    start_tangent = torch.stack(tangents).to(W_rec.dtype) if tangent else None
    return weights, phi, bias, state, start_tangent, batch


def _per_member(name: str, value, batch: tuple[int, ...], size: int, W_rec: torch.Tensor) -> torch.Tensor:
    """Broadcast a (H,) or (K, H) tensor to (N, H), one row per member, in W_rec's dtype."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` must be a tensor (H,) or (K, H), got {describe(value)}.")
    expected = f"(H,) or {(*batch, size)} to match `W_rec` {tuple(W_rec.shape)}"
    if value.shape[-1:] != (size,) or (value.dim() > 1 and tuple(value.shape[:-1]) != batch):
        raise ValueError(f"`{name}` must have shape {expected}, got {describe(value)}.")
    return value.detach().to(W_rec.dtype).expand(*batch, size).reshape(-1, size)


def recurrence_period(states: torch.Tensor, *, tolerance: float, max_period: int) -> torch.Tensor:
    """Return the shortest period with which each trajectory repeats, 0 where none up to ``max_period`` fits.

    p is a period of a window of states when every unit of every state in it is within ``tolerance`` of
    its value p steps earlier. p = 1 is a state that no longer moves (a fixed point); p ≥ 2 a cycle; no
    period (0) a trajectory that never closes, such as chaos, or a quasi-periodic orbit whose rotation
    never fits a whole number of steps. Read it beside the largest Lyapunov exponent: a period with
    λ < 0 is a stable fixed point or cycle, no period with λ > 0 is chaos.

    Args:
        states: (K, T, H), the last T states of K trajectories, e.g. from :func:`autonomous_trajectory`
            after a warm-up.
        tolerance: the largest difference of any unit that still counts as a return, > 0.
        max_period: the longest period looked for, from 1 to T − 1 (half of T or less sees it repeat twice).

    Returns:
        The periods, shape (K,), int64.

    Raises:
        TypeError: if ``states`` is not a floating-point tensor, or ``tolerance``/``max_period`` have the
            wrong type.
        ValueError: if ``states`` is not (K, T, H), ``tolerance`` ≤ 0 or ``max_period`` is outside [1, T − 1].

    Example:
        >>> W = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)  # a quarter turn
        >>> states = autonomous_trajectory(W, 12, activation="linear", initial_state=torch.tensor([1.0, 0.0]))
        >>> recurrence_period(states[None], tolerance=1e-9, max_period=6).tolist()
        [4]
    """
    if not isinstance(states, torch.Tensor) or not states.is_floating_point():
        raise TypeError(f"`states` must be a floating-point tensor (K, T, H), got {describe(states)}.")
    if states.dim() != 3 or states.shape[1] < 2:
        raise ValueError(f"`states` must have shape (K, T, H) with T ≥ 2, got {describe(states)}.")
    tolerance = check_real("tolerance", tolerance, minimum=0.0, exclusive_minimum=True)
    max_period = check_int("max_period", max_period, minimum=1, maximum=states.shape[1] - 1)
    periods = torch.zeros(states.shape[0], dtype=torch.int64)
    with torch.no_grad():
        for period in range(1, max_period + 1):
            returns = (states[:, period:] - states[:, :-period]).abs().amax(dim=(1, 2)) < tolerance
            periods = torch.where((periods == 0) & returns, torch.full_like(periods, period), periods)
    return periods
