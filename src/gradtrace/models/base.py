"""What every recurrent model in gradtrace shares: ensembles, the unrolled loop and its probes.

All parameters carry a leading member axis K (``num_models``; a single model is an ensemble of one)
so one backward pass trains K independent networks: member k only ever touches slice k. The loop
is unrolled in Python on purpose: each state h_t is a tensor on the autograd graph, and adding a
zero *probe* p_t to it (h_t + p_t) makes ``p.grad`` the total derivative ∂L/∂h_t after one
``backward()``. Fused kernels such as ``torch.nn.LSTM`` hide these states.

That loop is the reference. The Elman, LSTM and GRU cells also have a hand-written
back-propagation through time (:mod:`gradtrace.models.bptt`) that gives the same states, gradients
and probe gradients with a few ops per step and no graph; ``forward`` takes it wherever it applies
(see ``use_fast_bptt``) and runs the autograd loop elsewhere.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules import module as torch_module

from gradtrace.errors import check_choice, check_int, check_seed, describe
from gradtrace.models.bptt import Projection, project
from gradtrace.models.compiled import native_applies
from gradtrace.models.conversion import check_torch_rnn, output_head
from gradtrace.models.sizes import MAX_MODELS, check_dtype, check_parameter_memory, recurrent_values
from gradtrace.models.workspace import Lease

__all__ = ["READOUTS", "RecurrentModel", "Trajectory", "member_copy"]

READOUTS = ("all", "last")


@dataclass
class Trajectory:
    """What a forward pass returns.

    Attributes:
        outputs: (K, B, T, output_size) with readout "all", (K, B, output_size) with "last".
        states: (K, B, T, hidden_size), the hidden states h_1..h_T on the gradient path.
        cells: (K, B, T, hidden_size) LSTM cell states, else None.
        final_state: the state after the last step, a tuple of (K, B, hidden_size) tensors, to carry
            into the next chunk (truncated BPTT).
        probes: with ``probe=True``, the zero leaf tensor (S, K, B, T, hidden_size) added to the S
            state tensors (h, and c for an LSTM); after ``backward()`` its ``.grad[s]`` is ∂L/∂state_t.
        gates: with ``keep_gates=True``, gate activations by name, each (K, B, T, hidden_size).
    """

    outputs: torch.Tensor
    states: torch.Tensor
    final_state: tuple[torch.Tensor, ...]
    cells: torch.Tensor | None = None
    probes: torch.Tensor | None = None
    gates: dict[str, torch.Tensor] = field(default_factory=dict)


class RecurrentModel(nn.Module):
    """Base class: an ensemble of K recurrent networks with input, recurrent and output weights.

    Subclasses set ``num_gates`` and ``state_names`` and implement ``step``; they name their
    parameters ``W_in`` (K, G·H, input_size), ``W_rec`` (K, G·H, H), ``W_out`` (K, output_size, H)
    and ``b_out`` (K, output_size).

    Args:
        input_size: width of one input step.
        hidden_size: number of hidden units H.
        output_size: number of outputs.
        num_models: ensemble size K; members are initialized independently.
        readout: "all" reads out every step (many-to-many), "last" only the last (many-to-one).
        seed: member k is initialized from seed + k, so it equals the single model built with that
            seed. None draws the seed from torch's global generator.
        dtype: parameter dtype (default: torch's default dtype).
        use_fast_bptt: which back-propagation ``forward`` sets up; see :attr:`use_fast_bptt`.
    """

    num_gates: int = 1
    state_names: tuple[str, ...] = ("h",)
    gate_names: tuple[str, ...] = ()
    #: The torch.nn module this model converts from and to.
    torch_class: type[nn.Module] = nn.RNN
    #: The methods whose computation ``_recurrence`` reproduces by hand: a subclass overriding any
    #: of them runs the autograd loop, which calls its own.
    _recurrence_methods: tuple[str, ...] = ("step", "_probed_step", "project_inputs")

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, num_models: int = 1,
                 readout: str = "all", seed: int | None = None, dtype: torch.dtype | None = None,
                 use_fast_bptt: bool | None = None):
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.output_size = check_int("output_size", output_size, minimum=1)
        self.num_models = check_int("num_models", num_models, minimum=1, maximum=MAX_MODELS)
        self.readout = check_choice("readout", readout, READOUTS, what="readout")
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        self.seed = check_seed(seed, members=self.num_models)
        dtype = check_dtype(dtype)
        K, G, H = self.num_models, self.num_gates, self.hidden_size
        check_parameter_memory(
            type(self).__name__, recurrent_values(self.input_size, H, self.output_size, G), K, dtype,
            {"num_models": K, "input_size": self.input_size, "hidden_size": H, "output_size": self.output_size})
        options = {"dtype": dtype}
        self.W_in = nn.Parameter(torch.empty(K, G * H, input_size, **options))
        self.W_rec = nn.Parameter(torch.empty(K, G * H, H, **options))
        self.W_out = nn.Parameter(torch.empty(K, output_size, H, **options))
        self.b_out = nn.Parameter(torch.empty(K, output_size, **options))
        self._make_biases(K, G * H, options)
        self.reset_parameters()
        self.use_fast_bptt = use_fast_bptt

    @property
    def use_fast_bptt(self) -> bool | None:
        """Whether ``forward`` runs the hand-written BPTT of :mod:`gradtrace.models.bptt`.

        None (the default) runs it wherever it applies and the autograd loop elsewhere; both give
        the same states, gradients and probe gradients (to float rounding). True always runs it and
        raises ValueError where it cannot apply; False always runs the autograd loop, the reference.
        It does not apply, and None falls back, with ``keep_gates=True``, an Elman activation outside
        :data:`~gradtrace.models.bptt.FAST_ELMAN_ACTIVATIONS`, a subclass that overrides ``step``,
        ``_probed_step`` or ``project_inputs``, a hook on the model or a parameter, an initial state
        of another dtype or device than the parameters, or inside a ``torch.func`` transform or
        forward-mode AD. Its backward is once-differentiable: back-propagating through a gradient
        taken with ``create_graph=True`` raises (``torch.autograd.grad`` reports the weights unused);
        set False for second derivatives.

        Example:
            >>> from gradtrace.models import LSTM
            >>> model = LSTM(2, 4, 1, seed=0, dtype=torch.float64)
            >>> inputs = torch.randn(3, 5, 2, dtype=torch.float64)
            >>> fast = model(inputs).outputs
            >>> model.use_fast_bptt = False
            >>> torch.allclose(model(inputs).outputs, fast, rtol=1e-12, atol=0)
            True
        """
        return getattr(self, "_use_fast_bptt", None)

    @use_fast_bptt.setter
    def use_fast_bptt(self, value: bool | None) -> None:
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"`use_fast_bptt` must be True, False or None, got {describe(value)}.")
        if value:
            reason = self._fast_bptt_unsupported()
            if reason is not None:
                raise ValueError(f"use_fast_bptt=True, but {reason}; use None to fall back to the autograd loop "
                                 "where the hand-written BPTT does not apply.")
        self._use_fast_bptt = value

    def _make_biases(self, K: int, width: int, options: dict) -> None:
        self.b = nn.Parameter(torch.empty(K, width, **options))

    def reset_parameters(self) -> None:
        """Draw every parameter from U(−1/√H, 1/√H), as torch.nn.RNN/LSTM/GRU do, member by member."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for k in range(self.num_models):
                generator = torch.Generator().manual_seed(self.seed + k)
                for _, param in self.named_parameters():
                    values = torch.rand(param.shape[1:], generator=generator, dtype=torch.float64)
                    param[k].copy_((values * 2 - 1) * bound)

    # ----------------------------------------------------------------------------------------
    # The recurrence
    # ----------------------------------------------------------------------------------------
    def project_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the input drive of every step, x_t W_inᵀ + b: (K, B, T, G·H)."""
        if inputs.dim() == 3:
            projected = torch.einsum("bti,kgi->kbtg", inputs, self.W_in)
        else:
            projected = torch.einsum("kbti,kgi->kbtg", inputs, self.W_in)
        return projected + self.b[:, None, None, :]

    def _projection_time_major(self, inputs: torch.Tensor) -> Projection:
        """The drives of ``project_inputs`` time-major, left unprojected for the compiled loops."""
        B, T, width = inputs.shape[-3:]  # noqa: N806
        flat = inputs.transpose(-3, -2).reshape(-1, T * B, width)
        if flat.stride()[1:] != (width, 1):  # the loops read rows of `width` values one after the other
            flat = flat.clone(memory_format=torch.contiguous_format)
        flat = flat.expand(self.num_models, -1, -1)
        return Projection(self.b[:, None, :], flat, self.W_in.transpose(1, 2), T)

    def _project_time_major(self, inputs: torch.Tensor, lease=None) -> torch.Tensor:
        """Return the drives of ``project_inputs`` time-major, (K, T, B, G·H), in one batched product.

        With a :class:`~gradtrace.models.workspace.Lease`, into a buffer it lends (see
        :func:`gradtrace.models.bptt.project`): only for drives that nothing reads once the recurrence's
        forward has run.
        """
        B, T, width = inputs.shape[-3:]  # noqa: N806
        flat = inputs.transpose(-3, -2).reshape(-1, T * B, width).expand(self.num_models, -1, -1)
        if lease is None:
            drives = torch.baddbmm(self.b[:, None, :], flat, self.W_in.transpose(1, 2))
        else:
            drives = project(self.b[:, None, :], flat, self.W_in.transpose(1, 2), lease)
        return drives.view(self.num_models, T, B, -1)

    def step(self, drive: torch.Tensor, state: tuple[torch.Tensor, ...],
             W_rec_T: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:  # noqa: N803
        """Advance one step.

        Args:
            drive: (K, B, G·H) input drive of this step.
            state: the previous state, a tuple of (K, B, H) tensors named by ``state_names``.
            W_rec_T: (K, H, G·H), the transposed recurrent weights (transposed once per sequence).

        Returns:
            The new state and a dict of gate activations (empty for models without gates).
        """
        raise NotImplementedError

    def _probed_step(self, drive: torch.Tensor, state: tuple[torch.Tensor, ...],
                     W_rec_T: torch.Tensor, probes: tuple[torch.Tensor, ...]):  # noqa: N803
        """Advance one step like ``step`` and add one zero probe (K, B, H) to each new state.

        A subclass may fold a probe into the op that makes its state (one autograd node fewer
        per step) as long as nothing else in the step reads that state before the probe is added.
        """
        state, gates = self.step(drive, state, W_rec_T)
        return tuple(s + p for s, p in zip(state, probes, strict=True)), gates

    def _recurrence(self, drives: torch.Tensor, state: tuple[torch.Tensor, ...],
                    probes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
        """Run the whole window with a hand-written backward (:mod:`gradtrace.models.bptt`).

        A cell that has one overrides this; the base class has none.

        Args:
            drives: (K, T, B, G·H) input drives, time-major.
            state: the initial state, a tuple of (K, B, H).
            probes: the zero probes (S, K, B, T, H), or None.

        Returns:
            (states (K, B, T, H), LSTM cells (K, B, T, H) or None, final state).
        """
        raise NotImplementedError

    def _fast_bptt_unsupported(self) -> str | None:
        """Return why this model's class cannot run the hand-written BPTT at all, or None."""
        cls = type(self)
        owner = next(c for c in cls.__mro__ if "_recurrence" in vars(c))
        if owner is RecurrentModel:
            return f"{cls.__name__} has no hand-written BPTT"
        for name in self._recurrence_methods:
            if getattr(cls, name) is not getattr(owner, name):
                return (f"{cls.__name__} overrides `{name}`, which the hand-written BPTT of "
                        f"{owner.__name__} does not know")
        return None

    def _fast_bptt_blocker(self, state: tuple[torch.Tensor, ...], keep_gates: bool) -> str | None:
        """Return why this forward pass cannot run the hand-written BPTT, or None when it can."""
        reason = self._fast_bptt_unsupported()
        if reason is not None:
            return reason
        if keep_gates:
            return "keep_gates=True asks for the gates of every step, which only the autograd loop keeps"
        if _has_hooks(self):
            return "a hook is registered on the model or one of its parameters"
        W_rec = self.W_rec  # noqa: N806
        if any(s.dtype != W_rec.dtype or s.device != W_rec.device for s in state):
            return "the initial state's dtype or device differs from the parameters'"
        if _autograd_transform_active():
            return "a torch.func transform or forward-mode AD is active"
        return None

    def initial_state(self, batch_size: int, *, like: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Return the zero state: one (K, B, H) tensor per name in ``state_names``."""
        like = self.W_rec if like is None else like
        zeros = like.new_zeros(self.num_models, batch_size, self.hidden_size)
        return tuple(zeros for _ in self.state_names)

    def check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Validate ``inputs`` and cast them to the parameters' dtype and device."""
        K, width = self.num_models, self.input_size
        ok = isinstance(inputs, torch.Tensor) and (
            (inputs.dim() == 3 and inputs.shape[-1] == width)
            or (inputs.dim() == 4 and inputs.shape[0] == K and inputs.shape[-1] == width)
        )
        if not ok:
            raise ValueError(
                f"`inputs` must have shape (B, T, {width}) or ({K}, B, T, {width}), got {describe(inputs)}."
            )
        if inputs.shape[-2] == 0 or inputs.shape[-3] == 0:
            raise ValueError(f"`inputs` needs at least one sequence and one step, got {describe(inputs)}.")
        return inputs.to(device=self.W_rec.device, dtype=self.W_rec.dtype)

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None, *,
                probe: bool = False, keep_gates: bool = False) -> Trajectory:
        """Run the ensemble over a batch of sequences.

        Args:
            inputs: (B, T, input_size), shared by every member, or (K, B, T, input_size).
            state: the initial state (a tuple of (K, B, H)); zeros when None.
            probe: add zero probes to every state so ∂L/∂h_t is read from ``probes.grad``.
            keep_gates: keep the gate activations of every step in ``Trajectory.gates``.

        Returns:
            A :class:`Trajectory`.
        """
        inputs = self.check_inputs(inputs)
        batch_size, steps = inputs.shape[-3], inputs.shape[-2]
        if state is None:
            state = self.initial_state(batch_size)
        else:
            state = self._check_state(state, batch_size)
        if self.use_fast_bptt is not False:
            reason = self._fast_bptt_blocker(state, keep_gates)
            if reason is None:
                return self._fast_forward(inputs, state, probe)
            if self.use_fast_bptt:
                raise ValueError(f"use_fast_bptt=True, but {reason}; set `use_fast_bptt` to None to fall back "
                                 "to the autograd loop where the hand-written BPTT does not apply.")
        drives = self.project_inputs(inputs).unbind(2)
        W_rec_T = self.W_rec.transpose(1, 2)  # noqa: N806
        probes = None
        if probe:
            probes = self.W_rec.new_zeros(len(self.state_names), self.num_models, batch_size, steps,
                                          self.hidden_size, requires_grad=True)
            # Cut the probes into per-step views once, not inside the loop (an autograd node per
            # step): probe_steps[t] holds one (K, B, H) view per state. With a single state,
            # squeeze is a view both ways, where unbind would copy every gradient once more.
            per_state = probes.unbind(0) if len(self.state_names) > 1 else (probes.squeeze(0),)
            probe_steps = list(zip(*(p.unbind(2) for p in per_state), strict=True))
        history: list[list[torch.Tensor]] = [[] for _ in self.state_names]
        gate_history: dict[str, list[torch.Tensor]] = {name: [] for name in self.gate_names}
        for t in range(steps):
            if probes is None:
                state, gates = self.step(drives[t], state, W_rec_T)
            else:
                state, gates = self._probed_step(drives[t], state, W_rec_T, probe_steps[t])
            for kept, s in zip(history, state):
                kept.append(s)
            if keep_gates:
                for name, value in gates.items():
                    gate_history[name].append(value)
        stacked = [torch.stack(kept, dim=2) for kept in history]
        states = stacked[0]
        # Read the last step from the final state itself rather than from its copy in `states`:
        # the values are the same, and a loss on the outputs alone then never back-propagates
        # through the stack (a zero-filled gradient for every step).
        last = state[0].unsqueeze(2) if self.readout == "last" else states
        return Trajectory(
            outputs=self.read_out(last),
            states=states,
            final_state=tuple(state),
            cells=stacked[1] if len(stacked) > 1 else None,
            probes=probes,
            gates={name: torch.stack(v, dim=2) for name, v in gate_history.items() if v},
        )

    def _fast_forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, ...], probe: bool) -> Trajectory:
        """``forward`` through the hand-written BPTT: the same Trajectory, without gates."""
        batch_size, steps = inputs.shape[-3], inputs.shape[-2]
        probes = None
        if probe:
            # Laid out time-major like the errors the hand-written backward hands back as their
            # gradient (S, K, T, B, H), seen as (S, K, B, T, H): with equal strides autograd keeps
            # that gradient as it is, where another layout would copy it into the probes' own.
            probes = self.W_rec.new_zeros(len(self.state_names), self.num_models, steps, batch_size,
                                          self.hidden_size).transpose(2, 3).requires_grad_(True)
        if native_applies(self.W_rec):
            # The compiled loops project each step's drives where the step needs them.
            drives = self._projection_time_major(inputs)
            states, cells, final_state = self._recurrence(drives, state, probes)
        else:
            # The recurrences copy the drives into their own buffers and never keep them: the drives'
            # memory goes back to the pool once the forward has run, for the next window.
            with Lease() as lease:
                states, cells, final_state = self._recurrence(self._project_time_major(inputs, lease), state,
                                                              probes)
        last = final_state[0].unsqueeze(2) if self.readout == "last" else states
        return Trajectory(outputs=self.read_out(last), states=states, final_state=final_state, cells=cells,
                          probes=probes)

    def _check_state(self, state, batch_size: int) -> tuple[torch.Tensor, ...]:
        shape = (self.num_models, batch_size, self.hidden_size)
        if not isinstance(state, (tuple, list)) or len(state) != len(self.state_names) or any(
            tuple(s.shape) != shape for s in state
        ):
            names = ", ".join(self.state_names)
            raise ValueError(f"`state` must be a tuple ({names}) of tensors of shape {shape}, got "
                             f"{describe(state)}.")
        return tuple(state)

    def read_out(self, states: torch.Tensor) -> torch.Tensor:
        """Map hidden states (K, B, T, H) to outputs: h W_outᵀ + b_out, per step or at the last."""
        if self.readout == "last":
            return torch.baddbmm(self.b_out[:, None, :], states[:, :, -1], self.W_out.transpose(1, 2))
        K, B, T, H = states.shape
        flat = torch.baddbmm(self.b_out[:, None, :], states.reshape(K, B * T, H),
                             self.W_out.transpose(1, 2))
        return flat.view(K, B, T, self.output_size)

    # ----------------------------------------------------------------------------------------
    # Inspection
    # ----------------------------------------------------------------------------------------
    def state_at(self, trajectory: Trajectory, t: int) -> tuple[torch.Tensor, ...]:
        """Return the state after step ``t`` (−1: the zero initial state), detached."""
        if t < 0:
            return self.initial_state(trajectory.states.shape[1])
        kept = [trajectory.states, trajectory.cells][: len(self.state_names)]
        return tuple(s[:, :, t].detach() for s in kept)

    def step_jacobian(self, inputs: torch.Tensor, trajectory: Trajectory, t: int) -> torch.Tensor:
        """Return ∂s_t/∂s_{t−1} for every member and sequence: (K, B, S, S).

        The state s is h, or (h, c) concatenated for an LSTM (S = 2H). Its singular values say how
        one step stretches or shrinks a gradient passing back through it.
        """
        inputs = self.check_inputs(inputs)
        steps = inputs.shape[-2]
        check_int("t", t, minimum=0, maximum=steps - 1)
        drive = self.project_inputs(inputs[..., t : t + 1, :])[:, :, 0].detach()
        previous = torch.cat(self.state_at(trajectory, t - 1), dim=-1).requires_grad_(True)
        W_rec_T = self.W_rec.detach().transpose(1, 2)  # noqa: N806
        H = self.hidden_size
        with torch.enable_grad():
            new_state, _ = self.step(drive, tuple(previous.split(H, dim=-1)), W_rec_T)
            new = torch.cat(new_state, dim=-1)
            size = new.shape[-1]
            basis = torch.eye(size, dtype=new.dtype, device=new.device)[:, None, None, :]
            basis = basis.expand(size, *new.shape)
            (rows,) = torch.autograd.grad(new, previous, basis, is_grads_batched=True)
        return rows.permute(1, 2, 0, 3)  # (K, B, out, in)

    def member(self, k: int) -> RecurrentModel:
        """Return a copy of member ``k`` as a model of its own (an ensemble of one)."""
        return member_copy(self, k)

    # ----------------------------------------------------------------------------------------
    # Conversion from and to torch.nn
    # ----------------------------------------------------------------------------------------
    @classmethod
    def _options_from_torch(cls, module: nn.Module) -> dict:
        """Constructor options read off a torch module (e.g. the Elman nonlinearity)."""
        return {}

    def _torch_options(self) -> dict:
        """Constructor options of the equivalent torch module."""
        return {}

    def _biases(self, member: RecurrentModel) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (bias_ih, bias_hh) of the torch module equal to ``member``."""
        return member.b[0], torch.zeros_like(member.b[0])

    def _set_biases(self, bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> None:
        """Set this (single) model's biases from a torch module's two biases."""
        self.b[0].copy_(bias_ih + bias_hh)

    @classmethod
    def from_torch(cls, module: nn.Module, head: nn.Linear | None = None, **options) -> RecurrentModel:
        """Build a model equal to a one-layer, unidirectional ``torch_class`` module.

        Args:
            module: e.g. a ``torch.nn.RNN`` for :class:`ElmanRNN`, ``torch.nn.LSTM`` for :class:`LSTM`.
            head: the ``nn.Linear`` applied to its outputs; without one, W_out is the identity and
                the outputs are the hidden states.
            options: passed to the constructor (``readout``...).
        """
        check_torch_rnn(module, cls.torch_class)
        W_out, b_out = output_head(head, module.hidden_size)  # noqa: N806
        model = cls(module.input_size, module.hidden_size, W_out.shape[0], seed=0,
                    dtype=module.weight_hh_l0.dtype, **cls._options_from_torch(module), **options)
        with torch.no_grad():
            model.W_in[0].copy_(module.weight_ih_l0)
            model.W_rec[0].copy_(module.weight_hh_l0)
            if module.bias:
                model._set_biases(module.bias_ih_l0, module.bias_hh_l0)
            else:
                zeros = torch.zeros_like(module.weight_hh_l0[:, 0])
                model._set_biases(zeros, zeros)
            model.W_out[0].copy_(W_out)
            model.b_out[0].copy_(b_out)
        return model

    def to_torch(self, member: int = 0) -> tuple[nn.Module, nn.Linear]:
        """Return member ``member`` as a ``torch_class`` module (batch_first) and its output ``nn.Linear``."""
        options = self._torch_options()
        weights = self.member(member)
        dtype = self.W_rec.dtype
        module = self.torch_class(self.input_size, self.hidden_size, batch_first=True, dtype=dtype, **options)
        head = nn.Linear(self.hidden_size, self.output_size, dtype=dtype)
        bias_ih, bias_hh = self._biases(weights)
        with torch.no_grad():
            module.weight_ih_l0.copy_(weights.W_in[0])
            module.weight_hh_l0.copy_(weights.W_rec[0])
            module.bias_ih_l0.copy_(bias_ih)
            module.bias_hh_l0.copy_(bias_hh)
            head.weight.copy_(weights.W_out[0])
            head.bias.copy_(weights.b_out[0])
        return module, head

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"output_size={self.output_size}, num_models={self.num_models}, readout={self.readout!r}")


def member_copy(model: nn.Module, k: int, *, buffers: tuple[str, ...] = ()) -> nn.Module:
    """Return a copy of member ``k`` of an ensemble ``model`` as an ensemble of one.

    Every parameter, and the named ``buffers``, carry the member axis K first and are sliced to
    ``[k : k + 1]``; the copy's seed is ``model.seed + k``, the seed it would have been built with alone.
    """
    check_int("k", k, minimum=0, maximum=model.num_models - 1)
    single = copy.deepcopy(model)
    single.num_models = 1
    single.seed = model.seed + k
    with torch.no_grad():
        for name, param in model.named_parameters():
            setattr(single, name, nn.Parameter(param.detach()[k : k + 1].clone()))
        for name in buffers:
            setattr(single, name, getattr(model, name).detach()[k : k + 1].clone())
    return single


def _has_hooks(module: nn.Module) -> bool:
    """Whether a forward or backward hook is registered on ``module``, globally, or on a parameter."""
    hooks = [module._forward_hooks, module._forward_pre_hooks, module._backward_hooks, module._backward_pre_hooks]
    hooks += [getattr(torch_module, name, None) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks", "_global_backward_pre_hooks")]
    if any(hooks):
        return True
    return any(p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None) for p in module.parameters())


def _autograd_transform_active() -> bool:
    """Whether a torch.func transform (vmap, grad, jacrev...) or a forward-mode AD level is active.

    A custom autograd Function runs under neither without rules of its own.
    """
    functorch = getattr(torch._C, "_functorch", None)
    peek = getattr(functorch, "peek_interpreter_stack", None)
    if peek is not None and peek() is not None:
        return True
    return getattr(torch.autograd.forward_ad, "_current_level", -1) >= 0
