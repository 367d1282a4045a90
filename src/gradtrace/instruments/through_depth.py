"""The instruments through depth: how the gradient travels back through the layers of an MLP.

The same chain-rule product as through time, one Jacobian diag(φ′(z_l)) W_l per layer instead of one
per step. Everything here computes and returns numbers under stable keys; nothing stores or draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradtrace.activations import ACTIVATIONS
from gradtrace.errors import check_int
from gradtrace.instruments.inputs import check_traceable
from gradtrace.instruments.through_time import decay_rate, finite_svdvals, horizon, parameter_grad_norms
from gradtrace.models.mlp import MLP, LayerTrajectory
from gradtrace.tasks.base import Batch, member_loss

__all__ = [
    "DEAD_THRESHOLD",
    "SATURATION_THRESHOLD",
    "DepthTrace",
    "activation_stats",
    "dead_fraction",
    "layer_profile",
    "saturated_fraction",
    "trace_depth",
]

#: A unit whose |φ′| stays at or below this on every example of a batch passes no gradient back: dead.
DEAD_THRESHOLD = 1e-6
#: A sigmoid or tanh unit is saturated on an example when φ′ falls below this fraction of its maximum
#: (|tanh| ≥ 0.975, a sigmoid beyond 0.013 of 0 or 1): it passes back less than 5 % of what it could.
SATURATION_THRESHOLD = 0.05


def _derivatives(model: MLP, index: int, u: torch.Tensor) -> torch.Tensor:
    if model.activation == "prelu":
        slope = getattr(model, f"slope_{index}").detach()[:, None, :]
        return torch.where(u > 0, torch.ones_like(u), slope.expand_as(u))
    return ACTIVATIONS[model.activation].derivative(u)


def dead_fraction(model: MLP, trajectory: LayerTrajectory) -> torch.Tensor:
    """Return the fraction of dead units per member and hidden layer: (K, M).

    A unit is dead on a batch when its derivative φ′ is (numerically) zero on every example: a ReLU
    whose pre-activation is negative for all inputs. Its incoming weights get no gradient, so it cannot
    come back by gradient descent — the "dying ReLU". Leaky ReLU and PReLU never have a zero derivative;
    GELU's is zero only far on the negative side.
    """
    fractions = []
    for index, u in enumerate(trajectory.normalized, start=1):
        derivative = _derivatives(model, index, u.detach()).abs()
        fractions.append((derivative <= DEAD_THRESHOLD).all(1).double().mean(-1))
    return torch.stack(fractions, -1)


def saturated_fraction(model: MLP, trajectory: LayerTrajectory) -> torch.Tensor:
    """Return the fraction of (example, unit) pairs that are saturated, per member and layer: (K, M).

    Only saturating activations (sigmoid, tanh) count: a saturated unit sits on a flat tail where
    φ′ < 5 % of its maximum. Many saturated units in the first layers is Glorot & Bengio's (2010)
    diagnosis of why deep sigmoid networks start badly. Zero for the other activations.
    """
    activation = ACTIVATIONS[model.activation]
    fractions = []
    for index, u in enumerate(trajectory.normalized, start=1):
        if not activation.saturating:
            fractions.append(u.new_zeros(u.shape[0], dtype=torch.float64))
            continue
        derivative = _derivatives(model, index, u.detach())
        flat = derivative < SATURATION_THRESHOLD * activation.max_derivative
        fractions.append(flat.double().mean((1, 2)))
    return torch.stack(fractions, -1)


def activation_stats(trajectory: LayerTrajectory) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the mean and standard deviation of each hidden layer's outputs h_l: each (K, M).

    Glorot & Bengio (2010, figure 6) watch these per layer: with the standard initialization the
    spread of tanh activations shrinks from layer to layer.
    """
    means = torch.stack([h.detach().double().mean((1, 2)) for h in trajectory.states], -1)
    stds = torch.stack([h.detach().double().flatten(1).std(1, unbiased=False) for h in trajectory.states], -1)
    return means, stds


@dataclass(frozen=True)
class DepthTrace:
    """The gradient along the depth of every member of an MLP ensemble; layer 1 is next to the input.

    Attributes:
        grad_norms: (K, M) ‖∂L/∂h_l‖ of each hidden layer's output, norm over the batch and units.
        preactivation_grad_norms: (K, M) ‖∂L/∂z_l‖, the "back-propagated gradient" of Glorot & Bengio.
        weight_grad_norms: (K, M + 1) ‖∂L/∂W_l‖ of W_1 … W_M and W_out: how fast each layer learns.
        loss: (K,) the loss of each member on the batch.
        decay_rate: (K,) factor per layer back (below 1: the gradient vanishes towards the input).
        horizon: (K,) layers back from the last before ‖∂L/∂h_l‖ falls 1e-6 below its peak (M: all).
        activation_mean, activation_std: (K, M) of the hidden outputs h_l.
        dead_fraction: (K, M) see :func:`dead_fraction`.
        saturated_fraction: (K, M) see :func:`saturated_fraction`.
        jacobian_singular_values: (K, M − 1, n) mean over examples of the singular values of
            ∂h_l/∂h_{l−1}, l = 2..M, in decreasing order (NaN-padded where widths differ); (K, 0, 0)
            when not measured or M = 1.
        param_grad_norms: ‖∂L/∂θ‖ per member, (K,) for each parameter name.
    """

    grad_norms: torch.Tensor
    preactivation_grad_norms: torch.Tensor
    weight_grad_norms: torch.Tensor
    loss: torch.Tensor
    decay_rate: torch.Tensor
    horizon: torch.Tensor
    activation_mean: torch.Tensor
    activation_std: torch.Tensor
    dead_fraction: torch.Tensor
    saturated_fraction: torch.Tensor
    jacobian_singular_values: torch.Tensor
    param_grad_norms: dict[str, torch.Tensor]

    @property
    def num_models(self) -> int:
        """Ensemble size K."""
        return self.grad_norms.shape[0]

    @property
    def depth(self) -> int:
        """Number of hidden layers M."""
        return self.grad_norms.shape[1]

    @property
    def first_last_ratio(self) -> torch.Tensor:
        """(K,) ‖∂L/∂h_1‖ / ‖∂L/∂h_M‖: how much of the gradient reaching the last layer reaches the first."""
        return self.grad_norms[:, 0] / self.grad_norms[:, -1]

    @property
    def mean_jacobian_singular_value(self) -> torch.Tensor:
        """(K, M − 1) the average singular value of each layer Jacobian (Glorot & Bengio 2010, section 4.2.2)."""
        return self.jacobian_singular_values.nanmean(-1)

    def summary(self) -> dict[str, torch.Tensor]:
        """Return the scalar readings per member under their metric keys, each (K,)."""
        weights = self.weight_grad_norms
        out = {
            "trace/loss": self.loss,
            "trace/decay_rate": self.decay_rate,
            "trace/horizon": self.horizon,
            "trace/first_layer_grad": self.grad_norms[:, 0],
            "trace/last_layer_grad": self.grad_norms[:, -1],
            "trace/first_last_ratio": self.first_last_ratio,
            "trace/first_last_weight_ratio": weights[:, 0] / weights[:, -2],
            "trace/dead_fraction": self.dead_fraction.mean(-1),
            "trace/saturated_fraction": self.saturated_fraction.mean(-1),
        }
        for name, value in self.param_grad_norms.items():
            out[f"grad/{name}"] = value
        return out


def layer_profile(probe_grads: list[torch.Tensor]) -> torch.Tensor:
    """Reduce per-layer ∂L/∂h_l, each (K, B, n_l), to the norm over examples and units: (K, M)."""
    return torch.stack([torch.linalg.vector_norm(g, dim=(1, 2)) for g in probe_grads], -1)


def trace_depth(model: MLP, batch: Batch, *, loss: str | None = None, jacobian_examples: int = 8) -> DepthTrace:
    """Measure the gradient at every layer of an MLP with one backward pass.

    Zero probes are added to every hidden output h_l and pre-activation z_l; the gradient of the summed
    member losses with respect to them is ∂L_k/∂h_l and ∂L_k/∂z_l for every member k. The model's
    ``.grad`` fields and batch-norm running statistics are left untouched.

    Args:
        model: an :class:`~gradtrace.models.MLP` (an ensemble of K).
        batch: inputs (B, T, features) or (K, B, T, features) with targets and mask.
        loss: the loss kind, default ``batch.loss``.
        jacobian_examples: how many examples to take the layer Jacobians ∂h_l/∂h_{l−1} at (0: none).

    Returns:
        A :class:`DepthTrace`.

    Raises:
        TypeError: for a model or batch of the wrong type.
        ValueError: for a batch that does not fit the model, a non-finite input or target (naming it
            and where), or a trace that cannot fit in memory (see
            :func:`~gradtrace.instruments.inputs.check_traceable`).

    Example:
        >>> from gradtrace.models import MLP
        >>> from gradtrace.tasks import Batch
        >>> x = torch.randn(16, 1, 4, generator=torch.Generator().manual_seed(0))
        >>> batch = Batch(x, torch.ones(16, 1, 1), torch.ones(16, 1, dtype=torch.bool))
        >>> tr = trace_depth(MLP(4, depth=10, width=16, activation="sigmoid", seed=0), batch)
        >>> tr.grad_norms.shape, bool(tr.first_last_ratio < 1e-3)   # 0.25 per layer, at best
        (torch.Size([1, 10]), True)

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks".
    """
    if not isinstance(model, MLP):
        raise TypeError(f"`model` must be a gradtrace MLP, got {type(model).__name__}.")
    if not isinstance(batch, Batch):
        raise TypeError(f"`batch` must be a gradtrace Batch, got {type(batch).__name__}.")
    jacobian_examples = check_int("jacobian_examples", jacobian_examples, minimum=0)
    check_traceable(model, batch, jacobians=jacobian_examples)
    names = [name for name, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    with torch.enable_grad():
        trajectory = model(batch.inputs, probe=True, update_running_stats=False)
        losses = member_loss(trajectory.outputs, batch, kind=loss)
        leaves = [*trajectory.probes, *trajectory.preactivation_probes, *params]
        grads = torch.autograd.grad(losses.sum(), leaves, allow_unused=True)
    M = model.depth  # noqa: N806
    state_grads, pre_grads, param_grads = grads[:M], grads[M : 2 * M], grads[2 * M :]
    profile = layer_profile(list(state_grads))
    named = {n: g for n, g in zip(names, param_grads) if g is not None}
    weight_names = [f"W_{i}" for i in range(1, M + 1)] + ["W_out"]
    weight_norms = torch.stack([torch.linalg.vector_norm(named[n].flatten(1), dim=1) if n in named
                                else profile.new_zeros(model.num_models) for n in weight_names], -1)
    means, stds = activation_stats(trajectory)
    if jacobian_examples and M > 1:
        jacobians = model.layer_jacobians(trajectory, jacobian_examples)
        values = [finite_svdvals(j.double()).mean(1) for j in jacobians]
        # Layers of unequal widths have different numbers of singular values: pad with NaN.
        longest = max(v.shape[-1] for v in values)
        singular = torch.stack([torch.nn.functional.pad(v, (0, longest - v.shape[-1]), value=float("nan"))
                                for v in values], 1)
    else:
        singular = profile.new_zeros(model.num_models, 0, 0, dtype=torch.float64)
    return DepthTrace(
        grad_norms=profile.detach(),
        preactivation_grad_norms=layer_profile(list(pre_grads)).detach(),
        weight_grad_norms=weight_norms.detach(),
        loss=losses.detach(),
        decay_rate=decay_rate(profile.detach()),
        horizon=horizon(profile.detach()),
        activation_mean=means,
        activation_std=stds,
        dead_fraction=dead_fraction(model, trajectory),
        saturated_fraction=saturated_fraction(model, trajectory),
        jacobian_singular_values=singular,
        param_grad_norms=parameter_grad_norms(model, named),
    )
