"""Hand-written back-propagation through time for the Elman, LSTM and GRU cells.

The autograd loop of :class:`~gradtrace.models.base.RecurrentModel` records several graph nodes per
step, and at the seeds' sizes a step costs what its ops' overheads cost, not what their arithmetic
does. Here a whole sequence (or one truncation window) is one :class:`torch.autograd.Function`:
forward runs the recurrence with a few in-place ops per step into preallocated time-major buffers
(K, T, B, ·), where the slice of one member at one step is contiguous; backward runs the same loop in
reverse, computing δ_t = ∂L/∂h_t step by step, and the gradient of W_rec as one batched product over
all steps at the end. δ_t is the total derivative the probes measure, so the trace comes free: it
is handed back as the probes' gradient.

The buffers that never leave a step (the gate values kept for the backward, the backward's factors,
the errors when no probe asks for them) come from a pool (:mod:`gradtrace.models.workspace`) and go
back to it only once nothing can read them, so a training step does not pay for fresh memory each
time; everything returned (states, gradients, probe gradients) is freshly allocated.

The loops over time run compiled (:mod:`gradtrace.models.compiled`, C++ built at first use) wherever
that applies, and as the Python loops below elsewhere; both fill the same buffers with the same values
(to float rounding), so everything around them, and the gradient, is the same on either.

Each function takes the input drives d_t = x_t W_inᵀ + b, already projected by autograd outside
and time-major (K, T, B, G·H); the initial state (a tuple of (K, B, H)); W_rec (K, G·H, H); and the
zero probe tensor (S, K, B, T, H) or None. It returns what the autograd loop returns: the states
h_1..h_T (K, B, T, H), the LSTM cells c_1..c_T or None, and the final state. Backward is
once-differentiable (``torch.autograd.function.once_differentiable``): back-propagating through a
gradient taken with ``create_graph=True`` raises; ``torch.autograd.grad`` reports the weights unused
(None with ``allow_unused=True``). Higher derivatives need the autograd loop.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable
from torch.nn import functional

from gradtrace.activations import ACTIVATIONS, LEAKY_RELU_SLOPE
from gradtrace.models.compiled import native_applies, native_loops
from gradtrace.models.workspace import Lease

__all__ = ["FAST_ELMAN_ACTIVATIONS", "Projection", "elman_recurrence", "gru_recurrence", "lstm_recurrence", "project"]

# Activations applied in place whose derivative is read off the output h = φ(a): (φ in place,
# φ′ as a function of h). No pre-activation is stored and a step costs two ops. The (leaky) ReLU's
# derivative depends only on the sign of a, which φ keeps, so its own derivative applies to h.
_FROM_OUTPUT = {
    "tanh": (torch.Tensor.tanh_, lambda h: 1 - h.square()),
    "sigmoid": (torch.Tensor.sigmoid_, lambda h: h * (1 - h)),
    "relu": (torch.Tensor.relu_, ACTIVATIONS["relu"].derivative),
    "leaky_relu": (lambda h: functional.leaky_relu_(h, LEAKY_RELU_SLOPE), ACTIVATIONS["leaky_relu"].derivative),
    "linear": (None, torch.ones_like),
}
# Activations whose derivative needs the pre-activation a: ACTIVATIONS[name].derivative(a).
_FROM_PRE_ACTIVATION = ("gelu", "step")
#: Elman activations with a hand-written backward; any other falls back to the autograd loop.
FAST_ELMAN_ACTIVATIONS = (*_FROM_OUTPUT, *_FROM_PRE_ACTIVATION)

Recurrence = tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]


class Projection(NamedTuple):
    """A window's input drives not yet projected: d = bias + flat W_in_T, time-major.

    The compiled loops project each step's drives into the slot where the step needs them, so the
    (K, T, B, G·H) drives are never written and read back as a whole; the gradients are those of
    ``torch.baddbmm(bias, flat, W_in_T)`` (:func:`project`). Where the Python loops run, the
    recurrences project it first.

    Attributes:
        bias: (K, 1, G·H).
        flat: (K, T·B, width), the inputs time-major (member stride 0 when the members share them).
        W_in_T: (K, width, G·H).
        steps: T.
    """

    bias: torch.Tensor
    flat: torch.Tensor
    W_in_T: torch.Tensor  # noqa: N815
    steps: int

    def drives(self) -> torch.Tensor:
        """Project the drives: (K, T, B, G·H)."""
        K, rows, _ = self.flat.shape  # noqa: N806
        return torch.baddbmm(self.bias, self.flat, self.W_in_T).view(K, self.steps, rows // self.steps, -1)


_NO_PROJECTION = (None, None, None)


def _split(drives, like: torch.Tensor) -> tuple:
    """The recurrence Functions' drive arguments: (drives or None, bias, flat, W_in_T or three Nones).

    A :class:`Projection` stays unprojected only where the compiled loops run for tensors ``like``;
    elsewhere it is projected here, and everything proceeds as for given drives.
    """
    if isinstance(drives, Projection):
        if native_applies(like):
            return (None, drives.bias, drives.flat, drives.W_in_T)
        drives = drives.drives()
    return (drives, *_NO_PROJECTION)


def _native_projection(bias, flat, W_in_T, like: torch.Tensor) -> tuple[torch.Tensor, ...]:  # noqa: N803
    """The compiled loops' (inputs, W_in, bias) arguments: empty tensors when the drives are given."""
    if flat is None:
        empty = like.new_empty(0)
        return empty, empty, empty
    return flat, W_in_T.transpose(1, 2).contiguous(), bias.reshape(bias.shape[0], -1).contiguous()


def _projection_grads(grad: torch.Tensor, bias_shape, flat, W_in_T, needs) -> tuple:  # noqa: N803
    """The gradients of ``torch.baddbmm(bias, flat, W_in_T)`` given the result's gradient ``grad``.

    Computed as autograd's own baddbmm backward computes them (the same products and reduction), so
    they round identically. ``needs`` says which of (bias, flat, W_in_T) want one.
    """
    grad = grad.reshape(flat.shape[0], flat.shape[1], -1)
    grad_bias = None
    if needs[0]:  # autograd's sum_to: the broadcast dimensions summed, kept
        dims = [d for d, size in enumerate(bias_shape) if size == 1 and grad.shape[d] != 1]
        grad_bias = grad.sum(dims, keepdim=True) if dims else grad
    return (
        grad_bias,
        grad.bmm(W_in_T.transpose(1, 2)) if needs[1] else None,
        flat.transpose(1, 2).bmm(grad) if needs[2] else None,
    )


def _keep_projection(ctx, bias, flat, W_in_T, *tensors) -> None:  # noqa: N803
    """Save W_rec-like ``tensors`` and, for a projection, flat and W_in_T for the backward."""
    ctx.projected = flat is not None
    ctx.bias_shape = None if bias is None else bias.shape
    ctx.save_for_backward(*tensors, *((flat, W_in_T) if flat is not None else ()))


def _drive_grads(ctx, drive_grad, needs) -> tuple:
    """The gradients of the drives, or of their projection's three tensors: always four entries."""
    if not ctx.projected:
        return (drive_grad if needs[0] else None, None, None, None)
    flat, W_in_T = ctx.saved_tensors[-2:]  # noqa: N806
    return (None, *_projection_grads(drive_grad, ctx.bias_shape, flat, W_in_T, needs[-3:]))


def elman_recurrence(drives: torch.Tensor, state: tuple[torch.Tensor], W_rec: torch.Tensor,  # noqa: N803
                     probes: torch.Tensor | None = None, *, activation: str = "tanh") -> Recurrence:
    """Run h_t = φ(d_t + h_{t−1} W_recᵀ) over a window, with a hand-written backward.

    Backward: δ_t = g_t + a′_{t+1} W_rec with a′_t = δ_t ⊙ φ′(a_t), g_t the gradient reaching h_t
    directly (from the outputs); ∂L/∂W_rec = Σ_t a′_tᵀ h_{t−1}, ∂L/∂d_t = a′_t.

    Args:
        drives: (K, T, B, H) input drives, time-major, or their :class:`Projection`.
        state: (h_0,) with h_0 (K, B, H).
        W_rec: (K, H, H).
        probes: zero (1, K, B, T, H) whose gradient becomes ∂L/∂h_t, or None.
        activation: φ, one of :data:`FAST_ELMAN_ACTIVATIONS`.

    Returns:
        (states (K, B, T, H), None, (h_T,)).
    """
    drives, *projection = _split(drives, W_rec)
    states, last = _ElmanBPTT.apply(drives, state[0], W_rec, probes, activation, *projection)
    return states, None, (last,)


def lstm_recurrence(drives: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], W_rec: torch.Tensor,  # noqa: N803
                    probes: torch.Tensor | None = None) -> Recurrence:
    """Run the LSTM (gate order i, f, g, o) over a window, with a hand-written backward.

    Forward: i, f, o = σ(·), g = tanh(·) of d_t + h_{t−1} W_recᵀ; c_t = f ⊙ c_{t−1} + i ⊙ g;
    h_t = o ⊙ tanh(c_t). Backward, with δh_t, δc_t the total derivatives (δc_t through h_t of the
    same step and c_{t+1}, as the cell probe measures it):
    δh_t = g_t + z′_{t+1} W_rec;  δc_t = gc_t + δc_{t+1} ⊙ f_{t+1} + δh_t ⊙ o ⊙ (1 − tanh²c_t);
    z′_t = (δc ⊙ g ⊙ σ′_i, δc ⊙ c_{t−1} ⊙ σ′_f, δc ⊙ i ⊙ (1 − g²), δh ⊙ tanh c_t ⊙ σ′_o).

    Args:
        drives: (K, T, B, 4H) input drives, time-major, or their :class:`Projection`.
        state: (h_0, c_0), each (K, B, H).
        W_rec: (K, 4H, H).
        probes: zero (2, K, B, T, H) whose gradient becomes (∂L/∂h_t, ∂L/∂c_t), or None.

    Returns:
        (states (K, B, T, H), cells (K, B, T, H), (h_T, c_T)).
    """
    drives, *projection = _split(drives, W_rec)
    states, cells, h_last, c_last = _LSTMBPTT.apply(drives, state[0], state[1], W_rec, probes, *projection)
    return states, cells, (h_last, c_last)


def gru_recurrence(drives: torch.Tensor, state: tuple[torch.Tensor], W_rec: torch.Tensor,  # noqa: N803
                   b_rec: torch.Tensor, probes: torch.Tensor | None = None) -> Recurrence:
    """Run the GRU (gate order r, z, n, recurrent bias inside the reset product) with a hand-written backward.

    Forward: (u_r, u_z, u_n) = h_{t−1} W_recᵀ + b_rec; r, z = σ(d_r + u_r), σ(d_z + u_z);
    n = tanh(d_n + r ⊙ u_n); h_t = n + z ⊙ (h_{t−1} − n). Backward: with δ_t = ∂L/∂h_t and
    n′ = δ_t ⊙ (1 − z) ⊙ (1 − n²), the recurrent pre-activations get
    u′ = (n′ ⊙ u_n ⊙ σ′_r, δ_t ⊙ (h_{t−1} − n) ⊙ σ′_z, n′ ⊙ r) and δ_{t−1} = g_{t−1} + δ_t ⊙ z + u′ W_rec.

    Args:
        drives: (K, T, B, 3H) input drives, time-major, or their :class:`Projection`.
        state: (h_0,) with h_0 (K, B, H).
        W_rec: (K, 3H, H).
        b_rec: (K, 3H) recurrent bias.
        probes: zero (1, K, B, T, H) whose gradient becomes ∂L/∂h_t, or None.

    Returns:
        (states (K, B, T, H), None, (h_T,)).
    """
    drives, *projection = _split(drives, W_rec)
    states, last = _GRUBPTT.apply(drives, state[0], W_rec, b_rec, probes, *projection)
    return states, None, (last,)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
def _path(h0: torch.Tensor, steps: int) -> torch.Tensor:
    """Allocate a state buffer (K, T + 1, B, H) holding the initial state at index 0 (h_t goes to t)."""
    K, B, H = h0.shape  # noqa: N806
    path = h0.new_empty(K, steps + 1, B, H)
    path[:, 0] = h0
    return path


def _steps(drives: torch.Tensor | None, flat: torch.Tensor | None, h0: torch.Tensor) -> int:
    """T, from the drives (K, T, B, ·) or from the projection's inputs (K, T·B, ·)."""
    return drives.shape[1] if drives is not None else flat.shape[1] // h0.shape[1]


def _compiled(path: torch.Tensor, drives: torch.Tensor | None):
    """The compiled loops for ``path``; they must be there when the drives are left unprojected."""
    native = native_loops(path)
    if native is None and drives is None:
        raise RuntimeError("gradtrace: the input drives were left to the compiled loops, which are not loaded")
    return native


def _errors(like: torch.Tensor, lease: Lease | None, *grads: torch.Tensor | None) -> tuple[torch.Tensor, list[bool]]:
    """Allocate the errors δ (S, K, T, B, H), one per state, holding the gradient of each state output.

    ``lease`` lends the buffer when the errors stay inside the backward (no probe gradient is
    returned), else None: a fresh one. ``grads`` are the gradients (K, B, T, H) of the S state
    outputs, None where an output was not used. Returns the buffer and, per state, whether it holds
    a gradient for the backward loop to add to (else its content is undefined and the loop writes
    rather than adds).
    """
    K, T1, B, H = like.shape  # noqa: N806
    shape = (len(grads), K, T1 - 1, B, H)
    errors = like.new_empty(shape) if lease is None else lease.empty(shape, like)
    for s, grad in enumerate(grads):
        if grad is not None:
            errors[s].copy_(grad.transpose(1, 2))
    return errors, [grad is not None for grad in grads]


def _seed(last: torch.Tensor, holds_grad: bool, final_grad: torch.Tensor | None) -> None:
    """Complete δ_T (K, B, H) with the gradient of the final-state output."""
    if not holds_grad:
        last.zero_()
    if final_grad is not None:
        last.add_(final_grad)


def _one_minus(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """1 − x into ``out``, in one pass, rounded as ``1 - x``."""
    return torch.sub(x.new_ones(()), x, out=out)


def _one_minus_square(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """1 − x² into ``out``, rounded as ``1 - x.square()``."""
    return _one_minus(torch.square(x, out=out), out)


def _logistic_slope(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """x ⊙ (1 − x) into ``out``, rounded as ``x * (1 - x)``."""
    return _one_minus(x, out).mul_(x)


def _weight_grad(pre_grads: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """∂L/∂W_rec = Σ_t u′_tᵀ h_{t−1} over all steps and sequences in one batched product: (K, G·H, H)."""
    K, T, B, width = pre_grads.shape  # noqa: N806
    previous = path[:, :T].reshape(K, T * B, path.shape[-1])  # a view: the buffer is time-major
    return torch.bmm(pre_grads.reshape(K, T * B, width).transpose(1, 2), previous)


# ------------------------------------------------------------------------------------------------
# Input drives
# ------------------------------------------------------------------------------------------------
def project(bias: torch.Tensor, flat: torch.Tensor, W_in_T: torch.Tensor, lease: Lease) -> torch.Tensor:  # noqa: N803
    """``torch.baddbmm(bias, flat, W_in_T)`` into a buffer of ``lease``: the same values and gradients.

    The drives of a window are read only by the recurrence's forward (each recurrence copies them into
    its own buffers and never saves them), so the caller releases ``lease`` once that forward has run,
    and the next window reuses the memory. The backward gives what autograd's own baddbmm gives,
    computed the same way (the same products and reduction), so gradients round identically.

    Args:
        bias: (K, 1, G·H).
        flat: (K, T·B, width), the inputs time-major.
        W_in_T: (K, width, G·H).
        lease: lends the (K, T·B, G·H) result.
    """
    return _Projection.apply(bias, flat, W_in_T, lease)


class _Projection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, bias, flat, W_in_T, lease):  # noqa: N803
        K, rows, _ = flat.shape  # noqa: N806
        buffer = lease.empty((K, rows, W_in_T.shape[-1]), flat)
        torch.baddbmm(bias, flat, W_in_T, out=buffer)
        ctx.save_for_backward(flat, W_in_T)
        ctx.bias_shape = bias.shape
        # A view: autograd marks the returned tensor, never the pooled buffer itself.
        return buffer.view_as(buffer)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        flat, W_in_T = ctx.saved_tensors  # noqa: N806
        return (*_projection_grads(grad, ctx.bias_shape, flat, W_in_T, ctx.needs_input_grad[:3]), None)


# ------------------------------------------------------------------------------------------------
# Elman
# ------------------------------------------------------------------------------------------------
class _ElmanBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, drives, h0, W_rec, probes, activation, bias, flat, W_in_T):  # noqa: N803
        T = _steps(drives, flat, h0)  # noqa: N806
        path = _path(h0, T)
        W_rec_T = W_rec.transpose(1, 2)  # noqa: N806
        pre = None
        native = _compiled(path, drives)
        projection = _native_projection(bias, flat, W_in_T, path)
        # Each step's slot starts as its drive and the product adds to it in place.
        if activation in _FROM_OUTPUT:
            in_place = _FROM_OUTPUT[activation][0]
            if drives is not None:
                path[:, 1:] = drives
            if native is not None:
                native.elman_forward(path, path.new_empty(0), W_rec_T.contiguous(), activation, LEAKY_RELU_SLOPE,
                                     *projection)
            else:
                h = path.unbind(1)  # per-step views only where Python runs the loop: 0.3 µs each
                for t in range(T):
                    h[t + 1].baddbmm_(h[t], W_rec_T)
                    if in_place is not None:
                        in_place(h[t + 1])
        else:
            phi = ACTIVATIONS[activation].fn
            ctx.lease = Lease()  # `pre` goes back to the pool when the graph is freed
            pre = ctx.lease.empty(path[:, 1:].shape, path)
            if drives is not None:
                pre.copy_(drives)
            if native is not None:
                native.elman_forward(path, pre, W_rec_T.contiguous(), activation, LEAKY_RELU_SLOPE, *projection)
            else:
                h, a = path.unbind(1), pre.unbind(1)
                for t in range(T):
                    h[t + 1].copy_(phi(a[t].baddbmm_(h[t], W_rec_T)))
        _keep_projection(ctx, bias, flat, W_in_T, W_rec)
        ctx.path, ctx.pre, ctx.activation = path, pre, activation
        ctx.set_materialize_grads(False)
        return path[:, 1:].transpose(1, 2), path[:, T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, grad_last):
        with Lease() as lease:
            return _ElmanBPTT._backward(ctx, lease, grad_states, grad_last)

    @staticmethod
    def _backward(ctx, lease, grad_states, grad_last):
        W_rec = ctx.saved_tensors[0]  # noqa: N806
        path, pre = ctx.path, ctx.pre
        T = path.shape[1] - 1  # noqa: N806
        needs = ctx.needs_input_grad
        native = native_loops(path)
        # tanh's and the logistic's slopes are read off the states inside the compiled loop.
        inline = native is not None and ctx.activation in ("tanh", "sigmoid")
        if inline:
            slope = path.new_empty(0)
        elif ctx.activation == "tanh":
            slope = _one_minus_square(path[:, 1:], lease.empty(path[:, 1:].shape, path))
        elif ctx.activation == "sigmoid":
            slope = _logistic_slope(path[:, 1:], lease.empty(path[:, 1:].shape, path))
        elif pre is None:
            slope = _FROM_OUTPUT[ctx.activation][1](path[:, 1:])
        else:
            slope = ACTIVATIONS[ctx.activation].derivative(pre)
        errors, (adds,) = _errors(path, None if needs[3] else lease, grad_states)  # δ_t = ∂L/∂h_t
        pre_grad = errors.new_empty(errors.shape[1:])  # a′_t
        _seed(errors[0, :, T - 1], adds, grad_last)
        if native is not None:
            native.elman_backward(errors[0], pre_grad, slope.contiguous(), path, W_rec.contiguous(), ctx.activation,
                                  adds)
        else:
            delta, a, phi = errors[0].unbind(1), pre_grad.unbind(1), slope.unbind(1)
            torch.mul(delta[T - 1], phi[T - 1], out=a[T - 1])
            for t in range(T - 2, -1, -1):
                if adds:
                    delta[t].baddbmm_(a[t + 1], W_rec)
                else:
                    torch.bmm(a[t + 1], W_rec, out=delta[t])
                torch.mul(delta[t], phi[t], out=a[t])
        drive_grad, *projection_grads = _drive_grads(ctx, pre_grad, needs)
        return (
            drive_grad,
            torch.bmm(pre_grad[:, 0], W_rec) if needs[1] else None,
            _weight_grad(pre_grad, path) if needs[2] else None,
            errors.transpose(2, 3) if needs[3] else None,
            None,
            *projection_grads,
        )


# ------------------------------------------------------------------------------------------------
# LSTM
# ------------------------------------------------------------------------------------------------
class _LSTMBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, drives, h0, c0, W_rec, probes, bias, flat, W_in_T):  # noqa: N803
        K, B, H = h0.shape  # noqa: N806
        T = _steps(drives, flat, h0)  # noqa: N806
        # Kept for the backward only: back to the pool when the graph is freed.
        ctx.lease = lease = Lease()
        gates = lease.empty((K, T, B, 4 * H), h0)  # the drives; i, f, σ(g) (unused), o after the loop
        if drives is not None:
            gates.copy_(drives)
        candidate = lease.empty((K, T, B, H), h0)  # tanh(g)
        squashed = lease.empty((K, T, B, H), h0)  # tanh(c_t)
        path, cells = _path(h0, T), _path(c0, T)
        W_rec_T = W_rec.transpose(1, 2)  # noqa: N806
        native = _compiled(path, drives)
        if native is not None:
            native.lstm_forward(gates, candidate, squashed, path, cells, W_rec_T.contiguous(),
                                *_native_projection(bias, flat, W_in_T, path))
        else:
            h, c = path.unbind(1), cells.unbind(1)
            z, g, tc = gates.unbind(1), candidate.unbind(1), squashed.unbind(1)
            i, f, g_pre, o = (gates[..., s * H:(s + 1) * H].unbind(1) for s in range(4))
            for t in range(T):
                z[t].baddbmm_(h[t], W_rec_T)
                torch.tanh(g_pre[t], out=g[t])
                z[t].sigmoid_()
                torch.mul(f[t], c[t], out=c[t + 1])
                c[t + 1].addcmul_(i[t], g[t])
                torch.tanh(c[t + 1], out=tc[t])
                torch.mul(o[t], tc[t], out=h[t + 1])
        _keep_projection(ctx, bias, flat, W_in_T, W_rec)
        ctx.buffers = (gates, candidate, squashed, path, cells)
        ctx.set_materialize_grads(False)
        return (path[:, 1:].transpose(1, 2), cells[:, 1:].transpose(1, 2),
                path[:, T].clone(), cells[:, T].clone())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, grad_cells, grad_h_last, grad_c_last):
        with Lease() as lease:
            return _LSTMBPTT._backward(ctx, lease, grad_states, grad_cells, grad_h_last, grad_c_last)

    @staticmethod
    def _backward(ctx, lease, grad_states, grad_cells, grad_h_last, grad_c_last):
        W_rec = ctx.saved_tensors[0]  # noqa: N806
        gates, candidate, squashed, path, cells = ctx.buffers
        K, T, B, G = gates.shape  # noqa: N806
        H = G // 4  # noqa: N806
        needs = ctx.needs_input_grad
        f = gates[..., H:2 * H]
        errors, (h_adds, c_adds) = _errors(path, None if needs[4] else lease,
                                           grad_states, grad_cells)  # (∂L/∂h_t, ∂L/∂c_t)
        pre_grad = torch.empty_like(gates)  # z′_t
        _seed(errors[0, :, T - 1], h_adds, grad_h_last)
        _seed(errors[1, :, T - 1], c_adds, grad_c_last)
        native = native_loops(path)
        if native is not None:  # forms the factors below element by element, rounded the same
            native.lstm_backward(errors, pre_grad, gates, candidate, squashed, cells, W_rec.contiguous(),
                                 h_adds, c_adds)
        else:
            i, o = gates[..., :H], gates[..., 3 * H:]
            # The factors that do not depend on the error, for every step at once, rounded as
            # squashed * o * (1 - o), o * (1 - squashed²), candidate * i(1 − i), c_{t−1} * f(1 − f), i * (1 − g²).
            scratch = lease.empty((K, T, B, H), gates)
            to_output = torch.mul(squashed, o, out=lease.empty((K, T, B, H), gates))  # δh → o′
            to_output.mul_(_one_minus(o, scratch))
            to_cell = _one_minus_square(squashed, lease.empty((K, T, B, H), gates)).mul_(o)  # δh → δc, same step
            to_ifg = lease.empty((K, T, B, 3, H), gates)  # δc → (i′, f′, g′)
            torch.mul(candidate, _logistic_slope(i, scratch), out=to_ifg[..., 0, :])
            torch.mul(cells[:, :T], _logistic_slope(f, scratch), out=to_ifg[..., 1, :])
            torch.mul(i, _one_minus_square(candidate, scratch), out=to_ifg[..., 2, :])
            dh, dc = errors[0].unbind(1), errors[1].unbind(1)
            dz, dz_o = pre_grad.unbind(1), pre_grad[..., 3 * H:].unbind(1)
            dz_ifg = pre_grad[..., : 3 * H].unflatten(-1, (3, H)).unbind(1)
            f_t, a_o, a_c, a_ifg = f.unbind(1), to_output.unbind(1), to_cell.unbind(1), to_ifg.unbind(1)
            for t in range(T - 1, -1, -1):
                if t < T - 1:
                    if h_adds:
                        dh[t].baddbmm_(dz[t + 1], W_rec)
                    else:
                        torch.bmm(dz[t + 1], W_rec, out=dh[t])
                    if c_adds:
                        dc[t].addcmul_(dc[t + 1], f_t[t + 1])
                    else:
                        torch.mul(dc[t + 1], f_t[t + 1], out=dc[t])
                dc[t].addcmul_(dh[t], a_c[t])
                torch.mul(dh[t], a_o[t], out=dz_o[t])
                torch.mul(a_ifg[t], dc[t].unsqueeze(-2), out=dz_ifg[t])
        drive_grad, *projection_grads = _drive_grads(ctx, pre_grad, needs)
        return (
            drive_grad,
            torch.bmm(pre_grad[:, 0], W_rec) if needs[1] else None,
            errors[1, :, 0] * f[:, 0] if needs[2] else None,
            _weight_grad(pre_grad, path) if needs[3] else None,
            errors.transpose(2, 3) if needs[4] else None,
            *projection_grads,
        )


# ------------------------------------------------------------------------------------------------
# GRU
# ------------------------------------------------------------------------------------------------
class _GRUBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, drives, h0, W_rec, b_rec, probes, bias, flat, W_in_T):  # noqa: N803
        K, B, H = h0.shape  # noqa: N806
        T = _steps(drives, flat, h0)  # noqa: N806
        # Each step's product starts from (d_r + b_rec,r, d_z + b_rec,z, b_rec,n): the reset and
        # update gates add drive and recurrent part; the candidate's recurrent part u_n stays apart,
        # since the reset gate multiplies it. After the loop the buffer holds r, z, u_n.
        ctx.lease = lease = Lease()  # recurrent and candidate: back to the pool when the graph is freed
        recurrent = lease.empty((K, T, B, 3 * H), h0)
        candidate = lease.empty((K, T, B, H), h0)  # n
        path = _path(h0, T)
        W_rec_T = W_rec.transpose(1, 2)  # noqa: N806
        native = _compiled(path, drives)
        if native is not None:  # fills `recurrent` as below, step by step
            native.gru_forward(recurrent, candidate, path, path.new_empty(0) if drives is None else drives.contiguous(),
                               b_rec.contiguous(), W_rec_T.contiguous(), *_native_projection(bias, flat, W_in_T, path))
        else:
            torch.add(drives[..., : 2 * H], b_rec[:, None, None, : 2 * H], out=recurrent[..., : 2 * H])
            recurrent[..., 2 * H:] = b_rec[:, None, None, 2 * H:]
            h, u, n = path.unbind(1), recurrent.unbind(1), candidate.unbind(1)
            rz = recurrent[..., : 2 * H].unbind(1)
            r, z, u_n = (recurrent[..., s * H:(s + 1) * H].unbind(1) for s in range(3))
            d_n = drives[..., 2 * H:].unbind(1)
            for t in range(T):
                u[t].baddbmm_(h[t], W_rec_T)
                rz[t].sigmoid_()
                torch.addcmul(d_n[t], r[t], u_n[t], out=n[t]).tanh_()
                torch.lerp(n[t], h[t], z[t], out=h[t + 1])
        _keep_projection(ctx, bias, flat, W_in_T, W_rec)
        ctx.buffers = (recurrent, candidate, path)
        ctx.set_materialize_grads(False)
        return path[:, 1:].transpose(1, 2), path[:, T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, grad_last):
        with Lease() as lease:
            return _GRUBPTT._backward(ctx, lease, grad_states, grad_last)

    @staticmethod
    def _backward(ctx, lease, grad_states, grad_last):
        W_rec = ctx.saved_tensors[0]  # noqa: N806
        recurrent, candidate, path = ctx.buffers
        K, T, B, G = recurrent.shape  # noqa: N806
        H = G // 3  # noqa: N806
        needs = ctx.needs_input_grad
        wants_drives = needs[0] or (ctx.projected and any(needs[-3:]))
        z = recurrent[..., H:2 * H]
        errors, (adds,) = _errors(path, None if needs[4] else lease, grad_states)  # δ_t = ∂L/∂h_t
        pre_grad = torch.empty_like(recurrent)  # u′_t
        _seed(errors[0, :, T - 1], adds, grad_last)
        drive_grad = None
        native = native_loops(path)
        if native is not None:  # forms the factors below element by element, rounded the same
            drive_grad = torch.empty_like(recurrent) if wants_drives else None
            native.gru_backward(errors[0], pre_grad, recurrent.new_empty(0) if drive_grad is None else drive_grad,
                                recurrent, candidate, path, W_rec.contiguous(), adds)
        else:
            r, u_n = recurrent[..., :H], recurrent[..., 2 * H:]
            # The factors that do not depend on the error, for every step at once: δ → (r′, z′, u_n′),
            # rounded as (1 - z) * (1 - n²), (to_n * u_n) * r(1 − r), (h_{t−1} − n) * z(1 − z), to_n * r.
            scratch, other = lease.empty((K, T, B, H), path), lease.empty((K, T, B, H), path)
            to_n = _one_minus(z, lease.empty((K, T, B, H), path)).mul_(_one_minus_square(candidate, scratch))  # δ → n′
            factors = lease.empty((K, T, B, 3, H), path)
            torch.mul(torch.mul(to_n, u_n, out=other), _logistic_slope(r, scratch), out=factors[..., 0, :])
            torch.mul(torch.sub(path[:, :T], candidate, out=other), _logistic_slope(z, scratch), out=factors[..., 1, :])
            torch.mul(to_n, r, out=factors[..., 2, :])
            delta, du, z_t = errors[0].unbind(1), pre_grad.unbind(1), z.unbind(1)
            du_split, a = pre_grad.unflatten(-1, (3, H)).unbind(1), factors.unbind(1)
            for t in range(T - 1, -1, -1):
                torch.mul(a[t], delta[t].unsqueeze(-2), out=du_split[t])
                if t > 0:
                    if adds:
                        delta[t - 1].addcmul_(delta[t], z_t[t])
                    else:
                        torch.mul(delta[t], z_t[t], out=delta[t - 1])
                    delta[t - 1].baddbmm_(du[t], W_rec)
            if wants_drives:
                drive_grad = torch.empty_like(recurrent)
                drive_grad[..., : 2 * H] = pre_grad[..., : 2 * H]
                torch.mul(errors[0], to_n, out=drive_grad[..., 2 * H:])
        drive_grad, *projection_grads = _drive_grads(ctx, drive_grad, needs)
        return (
            drive_grad,
            torch.baddbmm(errors[0, :, 0] * z[:, 0], pre_grad[:, 0], W_rec) if needs[1] else None,
            _weight_grad(pre_grad, path) if needs[2] else None,
            pre_grad.sum((1, 2)) if needs[3] else None,
            errors.transpose(2, 3) if needs[4] else None,
            *projection_grads,
        )
