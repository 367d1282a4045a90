"""The echo state network: a fixed random reservoir and a linear readout fitted in closed form."""

from __future__ import annotations

import math
import warnings

import torch

from gradtrace.errors import GradtraceError, check_int, check_real, describe
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.memory import check_fits
from gradtrace.models.base import RecurrentModel, Trajectory
from gradtrace.models.sizes import MAX_MODELS, check_dtype, recurrent_values

__all__ = ["ESN", "SingularReadoutError"]

#: The reservoir's fixed weights, kept as buffers: no optimizer or gradient ever sees them.
FIXED_WEIGHTS = ("W_in", "W_rec", "b")
# Draws of the sparsity pattern before giving up on a reservoir that is always nilpotent.
_MAX_DRAWS = 100
# Reservoir matrices at most this dense, with at least this many units, are multiplied in
# compressed sparse row form when one series runs alone: the product then reads a fraction of the
# memory a dense one does, and at these sizes reading W_rec is what each step costs.
_SPARSE_MAX_DENSITY = 0.25
_SPARSE_MIN_UNITS = 64
# With one sequence, members run one after another (a matrix-vector product per step) once the
# reservoir is this large; below it, one batched product per step has less Python overhead.
_PER_MEMBER_MIN_UNITS = 128
#: fit_readout runs a long series in chunks of about this many state values (4 MiB in float64).
FIT_CHUNK_ELEMENTS = 2**19


class SingularReadoutError(GradtraceError, ValueError):
    """The readout's normal equations are singular: the states do not determine the weights."""


class ESN(RecurrentModel):
    """An echo state network: a leaky tanh reservoir that is never trained, and a linear readout.

    h_t = (1 − a) h_{t−1} + a·tanh(W_in x_t + W_rec h_{t−1} + b),  ŷ_t = W_out h_t + b_out,

    with a the ``leak_rate``. W_in, W_rec and b are drawn once and fixed (buffers, not parameters);
    only W_out and b_out are learned, in closed form by ridge regression (:meth:`fit_readout`) or by
    gradient descent like any other model.

    Its trace shows why it sidesteps the vanishing gradient: nothing flows back through the
    reservoir. :meth:`forward` runs the reservoir without an autograd graph (nothing upstream of the
    states is trained, so they are constants) and only then adds the probes, so ∂L/∂h_t is the
    direct readout term W_outᵀ ∂L/∂ŷ_t at every step: flat over time wherever the loss is, zero
    wherever it is not, with no decay. :meth:`~RecurrentModel.step_jacobian` still reports the
    reservoir's own Jacobian (1 − a) I + a·diag(1 − tanh²) W_rec, the factor a gradient would pay
    per step if one were sent back through it; a spectral radius below 1 makes it contract, which
    is what gives the reservoir its fading memory (the echo state property).

    Initialization, member k from the generator seeded seed + k (so member k equals the single ESN
    built with seed + k): W_rec has round(connectivity·H²) non-zero weights (at least one) at
    uniformly drawn positions, drawn from N(0, 1) and rescaled to ``spectral_radius`` (a pattern
    whose graph has no cycle is nilpotent and is redrawn); W_in is dense, U(−input_scaling,
    input_scaling); b is U(−bias_scaling, bias_scaling); W_out and b_out are U(−1/√H, 1/√H) until
    fitted.

    Args:
        input_size: width of one input step.
        reservoir_size: number of reservoir units H.
        output_size: number of outputs.
        spectral_radius: ρ(W_rec) > 0.
        leak_rate: a in (0, 1]; 1 is a plain tanh reservoir, smaller values slow it down.
        input_scaling: W_in is drawn from U(−input_scaling, input_scaling), ≥ 0.
        connectivity: fraction of non-zero weights in W_rec, in (0, 1] (reservoirpy's
            ``rc_connectivity``).
        bias_scaling: b is drawn from U(−bias_scaling, bias_scaling), ≥ 0.
        ridge: default L2 penalty λ ≥ 0 of :meth:`fit_readout`.
        washout: default number of initial steps :meth:`fit_readout` discards, ≥ 0.
        num_models, readout, seed, dtype: see :class:`~gradtrace.models.base.RecurrentModel`.

    Raises:
        ValueError: for an argument out of range, naming it.
        TypeError: for an argument of the wrong type.

    Example:
        >>> from gradtrace.tasks import mackey_glass, nrmse
        >>> x = mackey_glass(1001, dtype=torch.float64)[:, None]
        >>> esn = ESN(1, 100, 1, leak_rate=0.5, seed=0, dtype=torch.float64)
        >>> prediction = esn.fit_readout(x[:-1], x[1:]).predict(x[:-1])  # (K, T, 1)
        >>> bool(nrmse(prediction[:, 100:], x[101:]) < 0.01)
        True

    References:
        Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural
        networks", GMD Report 148; Jaeger & Haas 2004, "Harnessing nonlinearity", Science 304;
        Lukoševičius 2012, "A practical guide to applying echo state networks".
    """

    torch_class = torch.nn.RNN

    def __init__(self, input_size: int, reservoir_size: int, output_size: int, *, spectral_radius: float = 0.9,
                 leak_rate: float = 1.0, input_scaling: float = 1.0, connectivity: float = 0.1,
                 bias_scaling: float = 0.0, ridge: float = 1e-8, washout: int = 100, **options):
        check_int("reservoir_size", reservoir_size, minimum=1)
        self.spectral_radius = check_real("spectral_radius", spectral_radius, minimum=0.0, exclusive_minimum=True)
        self.leak_rate = check_real("leak_rate", leak_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        self.input_scaling = check_real("input_scaling", input_scaling, minimum=0.0)
        self.connectivity = check_real("connectivity", connectivity, minimum=0.0, maximum=1.0,
                                       exclusive_minimum=True)
        self.bias_scaling = check_real("bias_scaling", bias_scaling, minimum=0.0)
        self.ridge = check_real("ridge", ridge, minimum=0.0)
        self.washout = check_int("washout", washout, minimum=0)
        _check_reservoir_memory(input_size, reservoir_size, output_size, options)
        super().__init__(input_size, reservoir_size, output_size, **options)
        for name in FIXED_WEIGHTS:
            value = getattr(self, name).detach()
            delattr(self, name)
            self.register_buffer(name, value)

    @property
    def reservoir_size(self) -> int:
        """Number of reservoir units H (the ``hidden_size`` of the other models)."""
        return self.hidden_size

    # ----------------------------------------------------------------------------------------
    # Initialization
    # ----------------------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Draw the reservoir and the readout of every member from its own seed (see the class doc)."""
        H, width, out = self.hidden_size, self.input_size, self.output_size
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for k in range(self.num_models):
                generator = torch.Generator().manual_seed(self.seed + k)

                def uniform(*shape, scale, generator=generator):
                    return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale

                self.W_rec[k].copy_(self._draw_reservoir(generator))
                self.W_in[k].copy_(uniform(H, width, scale=self.input_scaling))
                self.b[k].copy_(uniform(H, scale=self.bias_scaling))
                self.W_out[k].copy_(uniform(out, H, scale=bound))
                self.b_out[k].copy_(uniform(out, scale=bound))

    def _draw_reservoir(self, generator: torch.Generator) -> torch.Tensor:
        """Return one sparse W_rec (H, H) in float64, scaled to the spectral radius."""
        H = self.hidden_size
        count = max(1, round(self.connectivity * H * H))
        for _ in range(_MAX_DRAWS):
            positions = torch.randperm(H * H, generator=generator)[:count]
            values = torch.randn(count, generator=generator, dtype=torch.float64)
            weight = torch.zeros(H * H, dtype=torch.float64).index_put_((positions,), values).view(H, H)
            if not _is_nilpotent(weight):
                return scale_to_spectral_radius_(weight, self.spectral_radius)
        raise ValueError(
            f"`connectivity`={self.connectivity} leaves {count} weight(s) among {H} units, and every one "
            f"of {_MAX_DRAWS} draws gave a reservoir without a cycle (spectral radius 0); raise `connectivity`."
        )

    # ----------------------------------------------------------------------------------------
    # The reservoir
    # ----------------------------------------------------------------------------------------
    def step(self, drive, state, W_rec_T):  # noqa: N803
        """Advance the reservoir one step: h ← (1 − a) h + a·tanh(drive + h W_recᵀ).

        Args:
            drive: (K, B, H) input drive x_t W_inᵀ + b.
            state: the tuple (h,) with h (K, B, H).
            W_rec_T: (K, H, H) the transposed reservoir weights.

        Returns:
            The new state (h,) and an empty dict (no gates).
        """
        (h,) = state
        return (torch.lerp(h, torch.tanh(torch.baddbmm(drive, h, W_rec_T)), self.leak_rate),), {}

    @torch.no_grad()
    def _run(self, inputs: torch.Tensor, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Run the reservoir over inputs (B, T, I) or (K, B, T, I) from h (K, B, H); return (K, B, T, H).

        No autograd graph. The input drive of every step is computed in one product straight into
        the buffer that then receives the states (``out`` when given, contiguous): step t reads its
        drive from row t and overwrites it with h_t, so a run costs one buffer of states.
        """
        K, H = self.num_models, self.hidden_size
        B, T, width = inputs.shape[-3:]
        states = inputs.new_empty(K, B, T, H) if out is None else out
        flat = inputs.reshape(-1, B * T, width).expand(K, B * T, width)
        torch.baddbmm(self.b[:, None, :], flat, self.W_in.transpose(1, 2), out=states.view(K, B * T, H))
        if B == 1 and (K == 1 or H >= _PER_MEMBER_MIN_UNITS):
            for k in range(K):
                self._run_series(states[k, 0], h[k, 0], self._matrix(k))
            return states
        W_rec_T = self.W_rec.transpose(1, 2)  # noqa: N806
        pre = h.new_empty(K, B, H)
        for row in states.unbind(2):
            torch.baddbmm(row, h, W_rec_T, out=pre)
            h = self._activate(h, pre, row)
        return states

    def _run_series(self, states: torch.Tensor, h: torch.Tensor, weight: torch.Tensor) -> None:
        """Run one member over one series: ``states`` (T, H) holds the drives and receives the states.

        The hot loop of a long series: three in-place ops per step and nothing else.
        """
        pre = h.new_empty(h.shape)
        addmv, leak = torch.addmv, self.leak_rate
        if leak == 1.0:
            for row in states.unbind(0):
                h = torch.tanh(addmv(row, weight, h, out=pre), out=row)
            return
        for row in states.unbind(0):
            h = torch.lerp(h, addmv(row, weight, h, out=pre).tanh_(), leak, out=row)

    def _activate(self, h: torch.Tensor, pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Write (1 − a) h + a·tanh(pre) into ``out`` (clobbering ``pre``) and return ``out``."""
        if self.leak_rate == 1.0:
            return torch.tanh(pre, out=out)
        pre.tanh_()
        return torch.lerp(h, pre, self.leak_rate, out=out)

    def _matrix(self, k: int) -> torch.Tensor:
        """W_rec of member k for matrix-vector products: sparse (CSR) when that reads less memory."""
        weight = self.W_rec[k]
        H = self.hidden_size
        nonzero = int(torch.count_nonzero(weight))
        if weight.device.type != "cpu" or H < _SPARSE_MIN_UNITS or nonzero > _SPARSE_MAX_DENSITY * H * H:
            return weight
        with warnings.catch_warnings():
            # torch flags every sparse CSR tensor as a beta feature; matrix-vector products are stable.
            warnings.simplefilter("ignore", UserWarning)
            sparse = weight.to_sparse_csr()
            # 32-bit indices: less memory to read per product than torch's default 64-bit ones.
            return torch.sparse_csr_tensor(sparse.crow_indices().int(), sparse.col_indices().int(),
                                           sparse.values(), (H, H))

    def _as_batch(self, name: str, series: torch.Tensor, width: int) -> tuple[torch.Tensor, bool]:
        """Return ``series`` as (B, T, width) or (K, B, T, width), and whether it was one (T, width) series."""
        if not isinstance(series, torch.Tensor) or series.dim() not in (2, 3, 4) or series.shape[-1] != width:
            K = self.num_models
            raise ValueError(f"`{name}` must have shape (T, {width}), (B, T, {width}) or ({K}, B, T, {width}), "
                             f"got {describe(series)}.")
        single = series.dim() == 2
        return (series.unsqueeze(0) if single else series), single

    def reservoir_states(self, inputs: torch.Tensor, state: tuple[torch.Tensor] | None = None) -> torch.Tensor:
        """Run the reservoir (teacher forcing) and return its states, with no autograd graph.

        Args:
            inputs: one series (T, input_size), a batch (B, T, input_size) or (K, B, T, input_size).
            state: the initial state (h,) with h (K, B, H); zeros when None.

        Returns:
            (K, T, H) for one series, else (K, B, T, H).
        """
        batch, single = self._as_batch("inputs", inputs, self.input_size)
        batch = self.check_inputs(batch)
        size = batch.shape[-3]
        (h,) = self.initial_state(size) if state is None else self._check_state(state, size)
        with torch.no_grad():
            states = self._run(batch, h.to(batch.dtype))
        return states[:, 0] if single else states

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None, *,
                probe: bool = False, keep_gates: bool = False) -> Trajectory:
        """Run the ensemble over a batch; the reservoir runs without a graph, the readout with one.

        Args:
            inputs: (B, T, input_size), shared by every member, or (K, B, T, input_size).
            state: the initial state (h,) with h (K, B, H); zeros when None.
            probe: add zero probes to the states, so ``probes.grad`` is ∂L/∂h_t, which for an ESN is
                only the direct readout term (no gradient travels back through the reservoir).
            keep_gates: accepted for the common interface; an ESN has no gates.

        Returns:
            A :class:`~gradtrace.models.base.Trajectory` whose states are constants (plus the probes).
        """
        inputs = self.check_inputs(inputs)
        size = inputs.shape[-3]
        (h,) = self.initial_state(size) if state is None else self._check_state(state, size)
        with torch.no_grad():
            states = self._run(inputs, h.detach())
        path, probes = states, None
        if probe:
            probes = states.new_zeros(1, *states.shape, requires_grad=True)
            path = states + probes[0]
        return Trajectory(outputs=self.read_out(path), states=path, final_state=(states[:, :, -1].clone(),),
                          probes=probes)

    # ----------------------------------------------------------------------------------------
    # Readout in closed form, prediction and generation
    # ----------------------------------------------------------------------------------------
    def fit_readout(self, inputs: torch.Tensor, targets: torch.Tensor, *, washout: int | None = None,
                    ridge: float | None = None) -> ESN:
        """Fit W_out and b_out of every member by ridge regression on teacher-forced states.

        The reservoir runs over ``inputs`` from the zero state; the first ``washout`` steps of each
        sequence are dropped (their states still remember the arbitrary start) and the rest,
        pooled over the batch, are regressed on ``targets``: with X the states with a column of
        ones appended and Y the targets, [W_out b_out]ᵀ = (XᵀX + λ·diag(1, …, 1, 0))⁻¹ XᵀY. The bias
        is not penalized, so it is solved on centred states: W_outᵀ = (X̃ᵀX̃ + λI)⁻¹ X̃ᵀỸ with X̃, Ỹ
        minus their means, then b_out = ȳ − x̄ W_outᵀ (reservoirpy's ``Ridge`` does the same). The
        sums are accumulated in float64 over chunks of steps, so memory does not grow with T, and
        solved with a Cholesky factorization, whatever the model's dtype.

        Args:
            inputs: one series (T, input_size), a batch (B, T, input_size) or (K, B, T, input_size).
            targets: (T, output_size), (B, T, output_size) or (K, B, T, output_size), matching.
            washout: steps to drop at the start of each sequence, < T; default ``self.washout``.
            ridge: the penalty λ ≥ 0; default ``self.ridge``.

        Returns:
            ``self``, with W_out and b_out replaced.

        Raises:
            ValueError: for misshapen inputs or targets, or ``washout`` ≥ T.
            SingularReadoutError: when the normal equations are singular to working precision (for
                instance ``ridge=0`` with constant inputs, or fewer steps than units); it names the
                members and asks for a positive ``ridge``.
        """
        batch, _ = self._as_batch("inputs", inputs, self.input_size)
        wanted, _ = self._as_batch("targets", targets, self.output_size)
        steps = batch.shape[-2]
        lead = torch.Size([self.num_models, *batch.shape[-3:-1]])
        try:
            wanted = wanted.expand(lead + wanted.shape[-1:])
        except RuntimeError:
            raise ValueError(f"`targets` {tuple(targets.shape)} do not match `inputs` {tuple(inputs.shape)}: "
                             f"expected {steps} steps and the same sequences.") from None
        if not wanted.is_floating_point():
            raise ValueError(f"`targets` must be floats, got {describe(targets)}.")
        washout = self.washout if washout is None else check_int("washout", washout, minimum=0)
        ridge = self.ridge if ridge is None else check_real("ridge", ridge, minimum=0.0)
        if washout >= steps:
            raise ValueError(f"`washout` must be less than the number of steps T={steps}, got {washout}.")
        batch = self.check_inputs(batch)
        K, B, H = self.num_models, batch.shape[-3], self.hidden_size
        # The series runs in chunks of steps, each chunk's states added to the normal equations and
        # then overwritten by the next: memory stays bounded however long the series is.
        chunk = max(1, FIT_CHUNK_ELEMENTS // (K * B * H))
        buffer = batch.new_empty(K * B * min(chunk, steps) * H)
        equations = _NormalEquations()
        (h,) = self.initial_state(B)
        for start in range(0, steps, chunk):
            stop = min(start + chunk, steps)
            out = buffer[: K * B * (stop - start) * H].view(K, B, stop - start, H)
            states = self._run(batch[..., start:stop, :], h, out=out)
            h = states[:, :, -1].clone()  # the states are about to be shifted in place
            first = max(washout - start, 0)
            if first < stop - start:
                X = states[:, :, first:].reshape(K, -1, H).double()  # noqa: N806
                equations.add(X, wanted[:, :, start + first : stop].reshape(K, X.shape[1], -1).to(X))
        weight, bias = equations.solve(ridge)
        with torch.no_grad():
            self.W_out.copy_(weight)
            self.b_out.copy_(bias)
        return self

    def _read_every_step(self, states: torch.Tensor) -> torch.Tensor:
        """Map states (K, B, T, H) to outputs (K, B, T, O), whatever ``readout`` says."""
        K, B, T, H = states.shape
        flat = torch.baddbmm(self.b_out[:, None, :], states.reshape(K, B * T, H), self.W_out.transpose(1, 2))
        return flat.view(K, B, T, self.output_size)

    def predict(self, inputs: torch.Tensor, state: tuple[torch.Tensor] | None = None) -> torch.Tensor:
        """Return the teacher-forced output of every step, with no autograd graph.

        Args:
            inputs: one series (T, input_size), a batch (B, T, input_size) or (K, B, T, input_size).
            state: the initial state (h,) with h (K, B, H); zeros when None.

        Returns:
            (K, T, output_size) for one series, else (K, B, T, output_size).
        """
        batch, single = self._as_batch("inputs", inputs, self.input_size)
        with torch.no_grad():
            outputs = self._read_every_step(self.reservoir_states(batch, state))
        return outputs[:, 0] if single else outputs

    def generate(self, steps: int, *, warmup: torch.Tensor) -> torch.Tensor:
        """Run free (generative mode): teacher-force ``warmup``, then feed each output back as input.

        The output after the last warmup step predicts the value that follows the warmup; it is the
        first generated value and the input of the next step, and so on. Each member feeds back its
        own outputs. Needs ``input_size == output_size``.

        Args:
            steps: number of values to generate, ≥ 1.
            warmup: one series (T, input_size), a batch (B, T, input_size) or (K, B, T, input_size).

        Returns:
            (K, steps, output_size) for one warmup series, else (K, B, steps, output_size).

        Raises:
            ValueError: when ``input_size != output_size``, or for misshapen arguments.
        """
        if self.input_size != self.output_size:
            raise ValueError(f"generate feeds outputs back as inputs, so it needs input_size == output_size; "
                             f"this ESN has input_size={self.input_size}, output_size={self.output_size}.")
        steps = check_int("steps", steps, minimum=1)
        batch, single = self._as_batch("warmup", warmup, self.input_size)
        with torch.no_grad():
            h = self.reservoir_states(batch)[:, :, -1]
            W_in_T, W_rec_T, W_out_T = (w.transpose(1, 2) for w in (self.W_in, self.W_rec, self.W_out))  # noqa: N806
            y = torch.baddbmm(self.b_out[:, None, :], h, W_out_T)
            outputs = [y]
            for _ in range(steps - 1):
                (h,), _ = self.step(torch.baddbmm(self.b[:, None, :], y, W_in_T), (h,), W_rec_T)
                y = torch.baddbmm(self.b_out[:, None, :], h, W_out_T)
                outputs.append(y)
        generated = torch.stack(outputs, dim=2)
        return generated[:, 0] if single else generated

    # ----------------------------------------------------------------------------------------
    # Members and conversion
    # ----------------------------------------------------------------------------------------
    def member(self, k: int) -> ESN:
        """Return a copy of member ``k`` as an ESN of its own, reservoir included."""
        single = super().member(k)
        for name in FIXED_WEIGHTS:
            setattr(single, name, getattr(self, name)[k : k + 1].clone())
        return single

    @classmethod
    def _options_from_torch(cls, module):
        if module.nonlinearity != "tanh":
            raise ValueError(f"An ESN reservoir is tanh; `module` has nonlinearity {module.nonlinearity!r}.")
        return {}

    def _torch_options(self):
        if self.leak_rate != 1.0:
            raise ValueError(f"torch.nn.RNN has no leak; only an ESN with leak_rate=1.0 converts, this one has "
                             f"leak_rate={self.leak_rate}.")
        return {"nonlinearity": "tanh"}

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", spectral_radius={self.spectral_radius}, leak_rate={self.leak_rate}, "
                f"input_scaling={self.input_scaling}, connectivity={self.connectivity}, "
                f"bias_scaling={self.bias_scaling}, ridge={self.ridge}, washout={self.washout}")


def _check_reservoir_memory(input_size: int, reservoir_size: int, output_size: int, options: dict) -> None:
    """Refuse a reservoir that cannot fit, naming ``reservoir_size`` (the base class says ``hidden_size``).

    On top of the K members' weights, drawing one W_rec takes a permutation of its H² positions
    (int64), their values and the dense matrix (float64): 24 bytes per entry while it is drawn.
    """
    members = options.get("num_models", 1)
    if not (isinstance(input_size, int) and isinstance(output_size, int) and isinstance(members, int)) or min(
            input_size, output_size, members) < 1 or members > MAX_MODELS:
        return  # the base class words what is wrong with these
    dtype = check_dtype(options.get("dtype"))
    itemsize = (dtype or torch.get_default_dtype()).itemsize
    weights = recurrent_values(input_size, reservoir_size, output_size, 1) * members * itemsize
    check_fits(weights + 24 * reservoir_size**2, "The reservoir of ESN",
               {"num_models": members, "input_size": input_size, "reservoir_size": reservoir_size,
                "output_size": output_size})


def _is_nilpotent(weight: torch.Tensor) -> bool:
    """Whether W (H, H) is nilpotent for any values on its pattern, i.e. its graph has no cycle.

    Units that no remaining unit feeds are peeled off until none is left (no cycle) or every
    remaining unit is fed by another (a cycle exists). Structural, so free of eigenvalue round-off.
    """
    fed_by = weight != 0  # fed_by[i, j]: unit j feeds unit i
    alive = torch.ones(weight.shape[0], dtype=torch.bool)
    while bool(alive.any()):
        index = alive.nonzero().squeeze(1)
        fed = fed_by[index][:, index].any(1)
        if bool(fed.all()):
            return False
        alive[index[~fed]] = False
    return True


class _NormalEquations:
    """Running sums of a ridge regression with an unpenalized bias, solved once at the end.

    Each chunk is shifted by the means of the first chunk before its products are added, so the
    sums stay small and removing the overall mean at the end cancels nothing significant (with a
    single chunk the shift is the mean itself, and this is the textbook centred solve).
    """

    def __init__(self) -> None:
        self.count = 0

    def add(self, X: torch.Tensor, Y: torch.Tensor) -> None:  # noqa: N803
        """Add states X (K, n, H) and targets Y (K, n, O), float64; X is shifted in place."""
        if self.count == 0:
            self.x_shift, self.y_shift = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
            self.gram = X.new_zeros(X.shape[0], X.shape[2], X.shape[2])
            self.cross = X.new_zeros(X.shape[0], X.shape[2], Y.shape[2])
            self.x_sum, self.y_sum = torch.zeros_like(self.x_shift), torch.zeros_like(self.y_shift)
        X.sub_(self.x_shift)
        Y = Y - self.y_shift  # noqa: N806
        self.gram += _gram(X)
        self.cross += X.transpose(1, 2) @ Y
        self.x_sum += X.sum(1, keepdim=True)
        self.y_sum += Y.sum(1, keepdim=True)
        self.count += X.shape[1]

    def solve(self, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Return W (K, O, H) and b (K, O) minimizing ‖Y − X Wᵀ − b‖² + ridge·‖W‖², per member."""
        count = self.count
        x_offset, y_offset = self.x_sum / count, self.y_sum / count  # (K, 1, H), (K, 1, O)
        gram = self.gram - count * x_offset.transpose(1, 2) @ x_offset
        gram.diagonal(dim1=-2, dim2=-1).add_(ridge)
        cross = self.cross - count * x_offset.transpose(1, 2) @ y_offset
        factor, info = torch.linalg.cholesky_ex(gram)
        pivots = factor.diagonal(dim1=-2, dim2=-1)
        # A pivot below √(H·ε) of the largest is rounding noise: the system is singular to working precision.
        tolerance = math.sqrt(gram.shape[-1] * torch.finfo(gram.dtype).eps)
        singular = (info > 0) | ~(pivots.amin(-1) > tolerance * pivots.amax(-1))
        weight = torch.cholesky_solve(cross, factor)  # (K, H, O)
        singular |= ~torch.isfinite(weight).all(-1).all(-1)
        if bool(singular.any()):
            members = singular.nonzero().flatten().tolist()
            raise SingularReadoutError(
                f"The readout's normal equations are singular for member(s) {members} with ridge={ridge} "
                f"({count} state(s) of {gram.shape[-1]} units after the washout): the states are rank-deficient, "
                f"e.g. from constant inputs or fewer steps than units. Pass a positive `ridge` (such as 1e-8)."
            )
        bias = (self.y_shift + y_offset) - (self.x_shift + x_offset) @ weight
        return weight.transpose(1, 2), bias[:, 0]


def _gram(X: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """Return XᵀX (K, H, H) for X (K, N, H).

    On the CPU numpy computes it: for ``a.T @ a`` it calls BLAS ``syrk``, which forms only one
    triangle (half the multiplications of the general product torch would call).
    """
    if X.device.type != "cpu":
        return X.transpose(1, 2) @ X
    return torch.stack([torch.from_numpy(member.T @ member) for member in X.numpy()])
