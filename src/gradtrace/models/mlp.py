"""The deep feed-forward network of the seeds, as an ensemble: its gradient path runs through depth.

An MLP of M hidden layers is the unrolled RNN's twin: back-propagation multiplies the error by one
Jacobian ∂h_l/∂h_{l−1} = diag(φ′(z_l)) W_l per layer, so with σ′ ≤ 1/4 the first layers of a deep
sigmoid network receive at most 0.25^M of the signal. Every hidden state h_l is a tensor on the
autograd graph, and a zero probe added to it makes ``probe.grad`` the total derivative ∂L/∂h_l.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gradtrace.activations import ACTIVATIONS, LEAKY_RELU_SLOPE, PRELU_INITIAL_SLOPE, get_activation, prelu
from gradtrace.errors import check_choice, check_int, check_real, check_seed, describe
from gradtrace.init import GAINS, kaiming_normal_, kaiming_uniform_, orthogonal_, xavier_normal_, xavier_uniform_
from gradtrace.models.base import member_copy
from gradtrace.models.sizes import MAX_DEPTH, MAX_MODELS, check_dtype, check_parameter_memory, mlp_values

__all__ = ["MLP", "MLP_INITIALIZATIONS", "LayerTrajectory"]

#: Weight initializations of an MLP by name: "uniform" is torch.nn.Linear's default and Glorot &
#: Bengio's "standard" start, weights and biases ~ U[±1/√fan_in]; the others set the biases to 0.
MLP_INITIALIZATIONS = ("uniform", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                       "orthogonal")

# Batch-norm constants, as torch.nn.BatchNorm1d's defaults.
_BN_EPS = 1e-5
_BN_MOMENTUM = 0.1


@dataclass
class LayerTrajectory:
    """What a forward pass through an :class:`MLP` returns.

    Attributes:
        outputs: (K, B, output_size).
        states: the hidden layers' outputs h_1..h_M, each (K, B, n_l): the gradient path.
        preactivations: z_l = W_l h_{l−1} + b_l of each hidden layer, before batch norm, each (K, B, n_l).
        normalized: the activation's argument u_l (z_l after batch norm; z_l itself without), each (K, B, n_l).
        probes: with ``probe=True``, the zero leaves added to h_l; after ``backward()`` ``probes[l].grad``
            is ∂L/∂h_{l+1}.
        preactivation_probes: with ``probe=True``, the zero leaves added to z_l (∂L/∂z_l after backward).
    """

    outputs: torch.Tensor
    states: list[torch.Tensor]
    preactivations: list[torch.Tensor]
    normalized: list[torch.Tensor]
    probes: list[torch.Tensor] | None = None
    preactivation_probes: list[torch.Tensor] | None = None



def batch_of_one_message(name: str, value: torch.Tensor) -> str:
    """Word why batch norm in training mode cannot take a batch of one example (``name`` is the argument)."""
    return (f"{name} holds 1 example, but batch norm in training mode normalizes each unit by the batch's "
            "mean and variance, and those of one example are the example itself: every normalized output "
            f"would be 0 (and its gradient vanish), got {describe(value)}. Use a batch of at least 2 examples, "
            "or call model.eval() to normalize with the running statistics.")

class MLP(nn.Module):
    """An ensemble of K multilayer perceptrons: h_l = [h_{l−1} + α ·] φ(BN(W_l h_{l−1} + b_l)), ŷ = W_out h_M + b_out.

    Parameters are named for the gradient path: ``W_1`` … ``W_M`` (K, n_l, n_{l−1}) and ``b_1`` … ``b_M``,
    then ``W_out`` (K, output_size, n_M) and ``b_out``; with batch norm ``gamma_l``, ``beta_l`` (K, n_l),
    with PReLU the learned slopes ``slope_l`` (K, n_l), one per unit, starting at 0.25.

    Inputs follow the task contract (B, T, input_features) or (K, B, T, input_features): the last two
    axes are flattened, so a window of the last 5 values of a series, (B, 5, 1), feeds an MLP with
    ``input_size=5``. (B, input_size) is accepted too.

    Args:
        input_size: number of input features (T · features of a task's inputs).
        hidden_sizes: widths of the hidden layers, e.g. ``[2]`` for the 2-2-1 XOR network; or give
        output_size: number of outputs.
        depth, width: instead of ``hidden_sizes``: ``depth`` hidden layers of ``width`` units.
        activation: a name in :data:`~gradtrace.activations.ACTIVATIONS` for every hidden layer (the
            output layer is linear).
        init: a name in :data:`MLP_INITIALIZATIONS`. Glorot & Bengio's (2010) "standard" start is
            "uniform", their "normalized" one "xavier_uniform"; He et al.'s is "kaiming_normal".
        batch_norm: normalize each hidden pre-activation over the batch (Ioffe & Szegedy 2015), with a
            learned scale ``gamma_l`` and shift ``beta_l``; ``eval()`` uses the running statistics.
        residual: add a skip connection h_l = h_{l−1} + α φ(·) to every hidden layer after the first
            (He et al. 2016); needs equal hidden widths.
        residual_scale: α, the factor of every residual branch, > 0 (only with ``residual``). With α = 1
            each branch adds its own variance to h_l, so through M layers of ReLU the signal and the
            gradient grow geometrically; α = 1/√M keeps the sum of the M branches' variances bounded
            (Hanin & Rolnick 2018).
        num_models: ensemble size K; member k is initialized from ``seed + k`` and equals the single
            model built with that seed.
        seed: see ``num_models``; None draws it from torch's global generator.
        dtype: parameter dtype.

    Raises:
        ValueError: no hidden layer, a non-positive width, both or neither of ``hidden_sizes`` and
            ``depth``/``width``, unequal widths with ``residual``, an unknown activation or init, a
            ``residual_scale`` that is not a positive finite number, or one other than 1 without ``residual``.

    Example:
        >>> xor_net = MLP(2, [2], 1, activation="sigmoid", seed=0)   # the seeds' 2-2-1 network
        >>> deep = MLP(2, depth=20, width=32, output_size=1, activation="relu", num_models=3, seed=0)
        >>> deep(torch.zeros(8, 1, 2)).outputs.shape, len(deep(torch.zeros(8, 2)).states)
        (torch.Size([3, 8, 1]), 20)

    References:
        Rumelhart, Hinton & Williams 1986; Glorot & Bengio 2010, "Understanding the difficulty of
        training deep feedforward neural networks"; Ioffe & Szegedy 2015, arXiv:1502.03167; He, Zhang,
        Ren & Sun 2016, arXiv:1512.03385 (residual), 2015, arXiv:1502.01852 (PReLU, Kaiming init); Hanin
        & Rolnick 2018, "How to start training: the effect of initialization and architecture", NeurIPS
        (scaled residual branches).
    """

    def __init__(self, input_size: int, hidden_sizes: Sequence[int] | None = None, output_size: int = 1, *,
                 depth: int | None = None, width: int | None = None, activation: str = "tanh",
                 init: str = "uniform", batch_norm: bool = False, residual: bool = False,
                 residual_scale: float = 1.0, num_models: int = 1, seed: int | None = None,
                 dtype: torch.dtype | None = None):
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.output_size = check_int("output_size", output_size, minimum=1)
        self.hidden_sizes = _hidden_sizes(hidden_sizes, depth, width)
        self.activation = get_activation(activation).name
        self.init = check_choice("init", init, MLP_INITIALIZATIONS, what="MLP initialization")
        self.batch_norm = _check_flag("batch_norm", batch_norm)
        self.residual = _check_flag("residual", residual)
        if self.residual and len(set(self.hidden_sizes)) > 1:
            raise ValueError(f"`residual` connections add h_(l-1) to h_l, so every hidden layer needs the same "
                             f"width; got hidden_sizes={list(self.hidden_sizes)}.")
        self.residual_scale = check_real("residual_scale", residual_scale, minimum=0.0, exclusive_minimum=True)
        if not self.residual and self.residual_scale != 1.0:
            raise ValueError(f"`residual_scale` multiplies the residual branches, so it needs residual=True; got "
                             f"residual_scale={self.residual_scale!r} with residual=False.")
        self.num_models = check_int("num_models", num_models, minimum=1, maximum=MAX_MODELS)
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        self.seed = check_seed(seed, members=self.num_models)
        dtype = check_dtype(dtype)
        K = self.num_models  # noqa: N806
        widths = self.hidden_sizes
        shown = list(widths) if len(widths) <= 8 else f"[{len(widths)} layers up to {max(widths)}]"
        layers = {"depth": self.depth, "width": widths[0]} if hidden_sizes is None else {"hidden_sizes": shown}
        values = mlp_values(self.input_size, self.hidden_sizes, self.output_size, batch_norm=self.batch_norm,
                            prelu=self.activation == "prelu")
        check_parameter_memory("MLP", values, K, dtype,
                               {"num_models": K, "input_size": self.input_size, **layers,
                                "output_size": self.output_size})
        options = {"dtype": dtype}
        fan_in = self.input_size
        for index, n in enumerate(self.hidden_sizes, start=1):
            self.register_parameter(f"W_{index}", nn.Parameter(torch.empty(K, n, fan_in, **options)))
            self.register_parameter(f"b_{index}", nn.Parameter(torch.empty(K, n, **options)))
            if self.batch_norm:
                self.register_parameter(f"gamma_{index}", nn.Parameter(torch.ones(K, n, **options)))
                self.register_parameter(f"beta_{index}", nn.Parameter(torch.zeros(K, n, **options)))
                self.register_buffer(f"running_mean_{index}", torch.zeros(K, n, **options))
                self.register_buffer(f"running_var_{index}", torch.ones(K, n, **options))
            if self.activation == "prelu":
                self.register_parameter(f"slope_{index}",
                                        nn.Parameter(torch.full((K, n), PRELU_INITIAL_SLOPE, **options)))
            fan_in = n
        self.W_out = nn.Parameter(torch.empty(K, self.output_size, fan_in, **options))
        self.b_out = nn.Parameter(torch.empty(K, self.output_size, **options))
        self._phi = ACTIVATIONS[self.activation].fn
        self.reset_parameters()

    @property
    def depth(self) -> int:
        """Number of hidden layers M."""
        return len(self.hidden_sizes)

    def weights(self) -> list[torch.Tensor]:
        """Return W_1 … W_M and W_out, the layers' weight matrices along the gradient path."""
        return [getattr(self, f"W_{index}") for index in range(1, self.depth + 1)] + [self.W_out]

    def reset_parameters(self) -> None:
        """Draw every weight with ``init`` (member k from seed + k); reset batch norm and PReLU slopes."""
        generators = [torch.Generator().manual_seed(self.seed + k) for k in range(self.num_models)]
        gain_name = self.activation if self.activation in GAINS else "linear"
        layers = [(getattr(self, f"W_{i}"), getattr(self, f"b_{i}"), gain_name) for i in range(1, self.depth + 1)]
        layers.append((self.W_out, self.b_out, "linear"))
        with torch.no_grad():
            for weight, bias, nonlinearity in layers:
                self._draw(weight, bias, nonlinearity, generators)
            for name, param in self.named_parameters():
                if name.startswith("gamma_"):
                    param.fill_(1.0)
                elif name.startswith("beta_"):
                    param.zero_()
                elif name.startswith("slope_"):
                    param.fill_(PRELU_INITIAL_SLOPE)
            for name, buffer in self.named_buffers():
                buffer.fill_(1.0 if name.startswith("running_var_") else 0.0)

    def _draw(self, weight: torch.Tensor, bias: torch.Tensor, nonlinearity: str, generators: list) -> None:
        if self.init == "uniform":
            bound = 1.0 / math.sqrt(weight.shape[-1])
            for k, g in enumerate(generators):
                for param in (weight, bias):
                    values = torch.rand(param.shape[1:], generator=g, dtype=torch.float64)
                    param[k].copy_((values * 2 - 1) * bound)
            return
        if self.init == "xavier_uniform":
            xavier_uniform_(weight, generator=generators)
        elif self.init == "xavier_normal":
            xavier_normal_(weight, generator=generators)
        elif self.init == "kaiming_uniform":
            kaiming_uniform_(weight, nonlinearity, generator=generators)
        elif self.init == "kaiming_normal":
            kaiming_normal_(weight, nonlinearity, generator=generators)
        else:
            orthogonal_(weight, GAINS[nonlinearity], generator=generators)
        bias.zero_()

    # ----------------------------------------------------------------------------------------
    # The forward pass
    # ----------------------------------------------------------------------------------------
    def check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Validate ``inputs`` and return them as (K or 1, B, input_size) in the parameters' dtype."""
        K, width = self.num_models, self.input_size  # noqa: N806
        ok = isinstance(inputs, torch.Tensor) and inputs.is_floating_point() and (
            (inputs.dim() == 2 and inputs.shape[-1] == width)
            or (inputs.dim() == 3 and inputs.shape[-2] * inputs.shape[-1] == width)
            or (inputs.dim() == 4 and inputs.shape[0] == K and inputs.shape[-2] * inputs.shape[-1] == width)
        )
        if not ok:
            raise ValueError(
                f"`inputs` must have shape (B, {width}), (B, T, features) or ({K}, B, T, features) with "
                f"T·features = input_size = {width}, got {describe(inputs)}."
            )
        if inputs.shape[-3 if inputs.dim() >= 3 else 0] == 0:
            raise ValueError(f"`inputs` needs at least one example, got {describe(inputs)}.")
        if inputs.dim() == 2:
            flat = inputs[None]
        elif inputs.dim() == 3:
            flat = inputs.flatten(-2)[None]
        else:
            flat = inputs.flatten(-2)
        return flat.to(device=self.W_out.device, dtype=self.W_out.dtype)

    def forward(self, inputs: torch.Tensor, *, probe: bool = False,
                update_running_stats: bool = True) -> LayerTrajectory:
        """Run every member on a batch.

        Args:
            inputs: (B, input_size), (B, T, features) or (K, B, T, features), T·features = input_size.
            probe: add zero probes to every h_l and z_l, so ∂L/∂h_l and ∂L/∂z_l are read from their
                ``.grad`` after ``backward()``.
            update_running_stats: in training mode with batch norm, fold this batch into the running
                statistics (an instrument passes False so measuring changes nothing).

        Returns:
            A :class:`LayerTrajectory`.
        """
        h = self.check_inputs(inputs)
        K, B = self.num_models, h.shape[1]  # noqa: N806
        if B == 1 and self.batch_norm and self.training:
            raise ValueError(batch_of_one_message("`inputs`", inputs))
        h = h.expand(K, B, h.shape[-1]) if h.shape[0] == 1 else h
        states, pre, normalized, probes, pre_probes = [], [], [], [], []
        for index in range(1, self.depth + 1):
            weight, bias = getattr(self, f"W_{index}"), getattr(self, f"b_{index}")
            z = torch.baddbmm(bias[:, None, :], h, weight.transpose(1, 2))
            if probe:
                p = torch.zeros_like(z, requires_grad=True)
                pre_probes.append(p)
                z = z + p
            pre.append(z)
            u = self._normalize(index, z, update_running_stats) if self.batch_norm else z
            normalized.append(u)
            out = prelu(u, getattr(self, f"slope_{index}")[:, None, :]) if self.activation == "prelu" else self._phi(u)
            if self.residual and index > 1:
                out = h + self.residual_scale * out   # × 1.0 is exact: α = 1 is the plain skip
            if probe:
                p = torch.zeros_like(out, requires_grad=True)
                probes.append(p)
                out = out + p
            states.append(out)
            h = out
        outputs = torch.baddbmm(self.b_out[:, None, :], h, self.W_out.transpose(1, 2))
        return LayerTrajectory(outputs=outputs, states=states, preactivations=pre, normalized=normalized,
                               probes=probes if probe else None, preactivation_probes=pre_probes if probe else None)

    def _normalize(self, index: int, z: torch.Tensor, update_running_stats: bool) -> torch.Tensor:
        running_mean = getattr(self, f"running_mean_{index}")
        running_var = getattr(self, f"running_var_{index}")
        if self.training:
            mean = z.mean(1)
            var = z.var(1, unbiased=False)
            if update_running_stats:
                with torch.no_grad():
                    count = z.shape[1]
                    unbiased = var * count / max(count - 1, 1)
                    running_mean.lerp_(mean.detach(), _BN_MOMENTUM)
                    running_var.lerp_(unbiased.detach(), _BN_MOMENTUM)
        else:
            mean, var = running_mean, running_var
        scale = getattr(self, f"gamma_{index}") / torch.sqrt(var + _BN_EPS)
        return (z - mean[:, None, :]) * scale[:, None, :] + getattr(self, f"beta_{index}")[:, None, :]

    def layer_jacobians(self, trajectory: LayerTrajectory, examples: int) -> list[torch.Tensor]:
        """Return ∂h_l/∂h_{l−1} of the first ``examples`` examples, per hidden layer l = 2..M: (K, E, n, n).

        J_l = [I + α ·] diag(φ′(u_l)) · diag(γ_l / √(var_l + ε)) · W_l, the bracket with a residual connection
        whose branch is scaled by α = ``residual_scale``. With batch norm in training mode the batch statistics
        are held constant: the per-example Jacobian, not the coupling through the batch mean. Its singular values
        say how much one layer stretches or shrinks the back-propagated gradient; Glorot & Bengio (2010) average
        them.
        """
        examples = check_int("examples", examples, minimum=1)
        out = []
        for index in range(2, self.depth + 1):
            u = trajectory.normalized[index - 1][:, :examples].detach()
            if self.activation == "prelu":
                slope = getattr(self, f"slope_{index}").detach()[:, None, :]
                derivative = torch.where(u > 0, torch.ones_like(u), slope.expand_as(u))
            else:
                derivative = ACTIVATIONS[self.activation].derivative(u)
            weight = getattr(self, f"W_{index}").detach()[:, None]  # (K, 1, n, n_prev)
            if self.batch_norm:
                z = trajectory.preactivations[index - 1]
                var = (z.detach().var(1, unbiased=False) if self.training
                       else getattr(self, f"running_var_{index}"))
                scale = getattr(self, f"gamma_{index}").detach() / torch.sqrt(var + _BN_EPS)
                derivative = derivative * scale[:, None, :]
            jacobian = derivative[..., :, None] * weight
            if self.residual:
                jacobian = jacobian * self.residual_scale
                jacobian = jacobian + torch.eye(jacobian.shape[-1], dtype=jacobian.dtype, device=jacobian.device)
            out.append(jacobian)
        return out

    # ----------------------------------------------------------------------------------------
    # Members and torch.nn
    # ----------------------------------------------------------------------------------------
    def member(self, k: int) -> MLP:
        """Return a copy of member ``k`` as a model of its own (an ensemble of one), running statistics included."""
        return member_copy(self, k, buffers=tuple(name for name, _ in self.named_buffers()))

    def to_torch(self, member: int = 0) -> nn.Sequential:
        """Return member ``member`` as a ``torch.nn.Sequential`` of Linear, BatchNorm1d and activation modules.

        The Sequential takes (B, input_size). Residual networks have no Sequential form, and the step
        function has no torch module.

        Raises:
            ValueError: with ``residual=True`` or ``activation="step"``.
        """
        if self.residual:
            raise ValueError("A residual MLP has no torch.nn.Sequential equivalent (residual=True).")
        modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU,
                   "linear": nn.Identity, "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE)}
        if self.activation not in modules and self.activation != "prelu":
            raise ValueError(f"torch.nn has no module for activation {self.activation!r}.")
        single = self.member(member)
        dtype = self.W_out.dtype
        layers: list[nn.Module] = []
        with torch.no_grad():
            for index, n in enumerate(self.hidden_sizes, start=1):
                weight = getattr(single, f"W_{index}")[0]
                linear = nn.Linear(weight.shape[1], n, dtype=dtype)
                linear.weight.copy_(weight)
                linear.bias.copy_(getattr(single, f"b_{index}")[0])
                layers.append(linear)
                if self.batch_norm:
                    norm = nn.BatchNorm1d(n, eps=_BN_EPS, momentum=_BN_MOMENTUM, dtype=dtype)
                    norm.weight.copy_(getattr(single, f"gamma_{index}")[0])
                    norm.bias.copy_(getattr(single, f"beta_{index}")[0])
                    norm.running_mean.copy_(getattr(single, f"running_mean_{index}")[0])
                    norm.running_var.copy_(getattr(single, f"running_var_{index}")[0])
                    layers.append(norm)
                if self.activation == "prelu":
                    act = nn.PReLU(n, dtype=dtype)
                    act.weight.copy_(getattr(single, f"slope_{index}")[0])
                    layers.append(act)
                else:
                    layers.append(modules[self.activation]())
            head = nn.Linear(self.hidden_sizes[-1], self.output_size, dtype=dtype)
            head.weight.copy_(single.W_out[0])
            head.bias.copy_(single.b_out[0])
            layers.append(head)
        sequential = nn.Sequential(*layers)
        sequential.train(self.training)
        return sequential

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_sizes={list(self.hidden_sizes)}, "
                f"output_size={self.output_size}, activation={self.activation!r}, init={self.init!r}, "
                f"batch_norm={self.batch_norm}, residual={self.residual}"
                + (f", residual_scale={self.residual_scale:g}" if self.residual_scale != 1.0 else "")
                + f", num_models={self.num_models}")


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, got {describe(value)}.")
    return value


def _hidden_sizes(hidden_sizes, depth, width) -> tuple[int, ...]:
    """Return the hidden widths from ``hidden_sizes`` or ``depth`` × ``width``, validated."""
    if hidden_sizes is not None and (depth is not None or width is not None):
        raise ValueError("Give either `hidden_sizes` or `depth` and `width`, not both.")
    if hidden_sizes is None:
        if depth is None or width is None:
            raise ValueError("An MLP needs its hidden layers: pass `hidden_sizes` (e.g. [2] for the 2-2-1 XOR "
                             "network) or both `depth` and `width`.")
        depth = check_int("depth", depth, minimum=1, maximum=MAX_DEPTH)
        width = check_int("width", width, minimum=1)
        return (width,) * depth
    if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
        raise TypeError(f"`hidden_sizes` must be a sequence of layer widths, got {describe(hidden_sizes)}.")
    if len(hidden_sizes) == 0:
        raise ValueError("`hidden_sizes` must name at least one hidden layer (depth ≥ 1), got [].")
    if len(hidden_sizes) > MAX_DEPTH:
        raise ValueError(f"`hidden_sizes` names {len(hidden_sizes)} hidden layers; at most {MAX_DEPTH} are supported.")
    return tuple(check_int(f"hidden_sizes[{i}]", n, minimum=1) for i, n in enumerate(hidden_sizes))
