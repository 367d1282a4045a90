"""The hand-written BPTT (models/bptt.py) against the autograd loop in float64: states, every gradient,
the probes' ∂L/∂h_t, trace, fit with and without truncation and remedies, each with the Python and
the compiled time loops (the ``bptt_loops`` fixture); and the fallbacks."""

import copy

import numpy as np
import pytest
import torch

from gradtrace import activations
from gradtrace.activations import Activation
from gradtrace.instruments import trace
from gradtrace.models import ESN, GRU, LSTM, ElmanRNN
from gradtrace.models.bptt import FAST_ELMAN_ACTIVATIONS
from gradtrace.remedies import clip_by_global_norm, pascanu_penalty
from gradtrace.tasks import Adding, CopyMemory
from gradtrace.train import fit

B, T, IN, H, OUT = 3, 7, 2, 5, 2
F64 = torch.float64
CLOSE = {"rtol": 1e-10, "atol": 1e-12}
MODELS = {
    **{f"elman-{name}": (ElmanRNN, {"activation": name}) for name in FAST_ELMAN_ACTIVATIONS},
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
}
SMALL = {"batch_size": 3, "eval_batch_size": 3, "optimizer": "sgd", "lr": 0.1}


def _model(name, **options):
    cls, own = MODELS[name]
    model = cls(IN, H, OUT, seed=3, dtype=F64, **own, **options)
    with torch.no_grad():  # a larger W_rec than the default init, so gradients travel visibly
        model.W_rec.mul_(2.0)
    return model


def _pair(model):
    """The model forced onto the hand-written BPTT and a copy forced onto the autograd loop."""
    loop = copy.deepcopy(model)
    model.use_fast_bptt, loop.use_fast_bptt = True, False
    return model, loop


def _ran_fast(trajectory):
    return "BPTT" in trajectory.states.grad_fn.name()


def _run(model, inputs, state, *, probe, loss):
    """Forward, a loss, and the gradients of everything that can have one."""
    trajectory = model(inputs, state, probe=probe)
    weights = torch.linspace(-1, 1, trajectory.outputs.numel(), dtype=F64).view_as(trajectory.outputs)
    total = (trajectory.outputs * weights).sum() + trajectory.outputs.square().sum()
    if loss == "everything":
        total = total + trajectory.states[:, :, -1].sin().sum() + trajectory.states.square().mean()
        total = total + sum(s.cos().sum() for s in trajectory.final_state)
        if trajectory.cells is not None:
            total = total + trajectory.cells.tanh().sum()
    sources = [inputs, *state, *model.parameters()] + ([trajectory.probes] if probe else [])
    grads = torch.autograd.grad(total, sources, allow_unused=True)
    values = [trajectory.outputs, trajectory.states, *trajectory.final_state]
    if trajectory.cells is not None:
        values.append(trajectory.cells)
    return trajectory, [v.detach() for v in values], grads


@pytest.mark.parametrize("loss", ["outputs", "everything"])
@pytest.mark.parametrize("probe", [False, True], ids=["unprobed", "probed"])
@pytest.mark.parametrize("num_models", [1, 3])
@pytest.mark.parametrize("readout", ["all", "last"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_path_equals_the_autograd_loop(name, readout, num_models, probe, loss, bptt_loops):
    fast, loop = _pair(_model(name, readout=readout, num_models=num_models))
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(num_models, B, T, IN, generator=generator, dtype=F64, requires_grad=True)
    state = tuple(torch.randn(num_models, B, H, generator=generator, dtype=F64, requires_grad=True)
                  for _ in fast.state_names)  # a non-zero initial state, as TBPTT windows start from
    fast_trajectory, fast_values, fast_grads = _run(fast, inputs, state, probe=probe, loss=loss)
    loop_trajectory, loop_values, loop_grads = _run(loop, inputs, state, probe=probe, loss=loss)
    assert _ran_fast(fast_trajectory) and not _ran_fast(loop_trajectory)
    for ours, reference in zip(fast_values, loop_values, strict=True):
        torch.testing.assert_close(ours, reference, **CLOSE)
    for ours, reference in zip(fast_grads, loop_grads, strict=True):
        if reference is None:
            assert ours is None or not bool(ours.any())
        else:
            torch.testing.assert_close(ours, reference, **CLOSE)
    if name == "elman-tanh":
        assert float(fast_grads[-1].abs().amax()) > 1e-3, "the test must not be trivially zero"


def test_probe_gradients_from_backward_land_in_probes_grad(bptt_loops):
    fast, loop = _pair(_model("lstm", num_models=2))
    inputs = torch.randn(B, T, IN, generator=torch.Generator().manual_seed(2), dtype=F64)
    probes = []
    for model in (fast, loop):
        trajectory = model(inputs, probe=True)
        trajectory.outputs.square().sum().backward()
        probes.append(trajectory.probes.grad)
    assert probes[0].shape == (2, 2, B, T, H)
    # The fast path's probes share the layout of the errors it hands back, so autograd keeps them uncopied.
    assert probes[0].stride() == fast(inputs, probe=True).probes.stride()
    torch.testing.assert_close(probes[0], probes[1], **CLOSE)
    torch.testing.assert_close(fast.W_rec.grad, loop.W_rec.grad, **CLOSE)


def test_no_grad_forward_equals_the_autograd_loop(bptt_loops):
    fast, loop = _pair(_model("gru", num_models=2))
    inputs = torch.randn(B, T, IN, generator=torch.Generator().manual_seed(3), dtype=F64)
    with torch.no_grad():
        ours, reference = fast(inputs), loop(inputs)
    torch.testing.assert_close(ours.outputs, reference.outputs, **CLOSE)
    torch.testing.assert_close(ours.final_state[0], reference.final_state[0], **CLOSE)


@pytest.mark.parametrize("name", ["elman-tanh", "elman-relu", "lstm", "gru"])
def test_trace_is_the_same_on_both_paths(name, bptt_loops):
    task = CopyMemory(delay=2)
    batch = task.sample(B, seed=0)
    cls, own = MODELS[name]
    fast, loop = _pair(cls(task.input_size, H, task.output_size, num_models=2, seed=4, dtype=F64, **own))
    ours, reference = trace(fast, batch), trace(loop, batch)
    for field in ("grad_norms", "cell_grad_norms", "loss", "decay_rate", "horizon", "jacobian_singular_values"):
        if getattr(reference, field) is None:
            assert getattr(ours, field) is None
        else:
            torch.testing.assert_close(getattr(ours, field), getattr(reference, field), **CLOSE)
    assert ours.param_grad_norms.keys() == reference.param_grad_norms.keys()
    for key, value in reference.param_grad_norms.items():
        torch.testing.assert_close(ours.param_grad_norms[key], value, **CLOSE)


def _fit_both(make, task, **options):
    runs = []
    for flag in (True, False):
        model = make()
        model.use_fast_bptt = flag
        runs.append((fit(model, task, seed=5, trace_every=1, **options), model))
    return runs


def _assert_same_runs(runs):
    (fast, fast_model), (loop, loop_model) = runs
    assert fast.history.keys() == loop.history.keys()
    for key, value in loop.history.items():
        np.testing.assert_allclose(fast.history[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(fast.trace_grad_norms, loop.trace_grad_norms, rtol=1e-5, atol=1e-7)
    for (name, ours), (_, reference) in zip(fast_model.named_parameters(), loop_model.named_parameters()):
        torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("truncation", [None, (5, 5), (4, 6), (6, 4)])
@pytest.mark.parametrize("cls", [ElmanRNN, LSTM, GRU])
def test_fit_is_the_same_on_both_paths(cls, truncation, bptt_loops):
    task = CopyMemory(delay=2)  # 14 steps, scored at every step

    def make():
        return cls(task.input_size, 4, task.output_size, num_models=2, seed=6, dtype=F64)

    _assert_same_runs(_fit_both(make, task, steps=3, truncation=truncation, **SMALL))


@pytest.mark.parametrize("truncation", [None, (4, 6)])
def test_pascanu_penalty_and_clipping_are_the_same_on_both_paths(truncation, bptt_loops):
    task = Adding(12)

    def make():
        return ElmanRNN(2, 4, 1, num_models=2, readout="last", seed=7, dtype=F64)

    remedies = [pascanu_penalty(2.0), clip_by_global_norm(0.5)]
    runs = _fit_both(make, task, steps=3, truncation=truncation, remedies=remedies, **SMALL)
    assert (runs[0][0].history["pascanu_penalty/omega"] > 0).all()
    _assert_same_runs(runs)


# ------------------------------------------------------------------------------------------------
# Fallbacks: each one runs the autograd loop, and stays correct
# ------------------------------------------------------------------------------------------------
def _inputs(num_models=1, seed=8):
    return torch.randn(num_models, B, T, IN, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _probed_run(model, **forward_options):
    """Outputs, ∂L/∂h_t and ∂L/∂W_rec of a probed forward pass, and whether it ran the fast path."""
    trajectory = model(_inputs(), probe=True, **forward_options)
    grads = torch.autograd.grad(trajectory.outputs.square().sum(), [trajectory.probes, model.W_rec])
    return _ran_fast(trajectory), [trajectory.outputs.detach(), *grads], trajectory


def _assert_falls_back_correctly(model, reference, **forward_options):
    """``model`` runs the autograd loop and agrees with ``reference`` run on the fast path."""
    reference_fast, expected, _ = _probed_run(reference)
    fast, values, trajectory = _probed_run(model, **forward_options)
    assert reference_fast and not fast
    for ours, theirs in zip(values, expected, strict=True):
        torch.testing.assert_close(ours, theirs, **CLOSE)
    return trajectory


@pytest.mark.parametrize("hook", ["forward", "forward_pre", "global_forward", "parameter"])
def test_a_hook_falls_back_to_the_autograd_loop(hook):
    model = _model("lstm")
    _, expected, _ = _probed_run(copy.deepcopy(model))
    calls = []
    if hook == "forward":
        handle = model.register_forward_hook(lambda module, args, output: calls.append(1))
    elif hook == "forward_pre":
        handle = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    elif hook == "global_forward":
        handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: calls.append(1))
    else:
        handle = model.W_rec.register_hook(lambda grad: calls.append(1))
    try:
        fast, values, _ = _probed_run(model)
    finally:
        handle.remove()
    assert calls and not fast
    for ours, theirs in zip(values, expected, strict=True):
        torch.testing.assert_close(ours, theirs, **CLOSE)
    assert _probed_run(model)[0]


def test_keep_gates_falls_back_to_the_autograd_loop():
    model = _model("gru")
    trajectory = _assert_falls_back_correctly(model, copy.deepcopy(model), keep_gates=True)
    assert set(trajectory.gates) == {"reset", "update"}


def test_an_activation_without_a_hand_written_derivative_falls_back(monkeypatch):
    softsign = Activation("softsign", torch.nn.functional.softsign, lambda a: 1 / (1 + a.abs()).square(), 1.0)
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", softsign)
    model = ElmanRNN(IN, H, OUT, activation="softsign", seed=0, dtype=F64)
    assert not _ran_fast(model(_inputs()))
    with pytest.raises(ValueError, match="activation 'softsign' has no hand-written derivative"):
        model.use_fast_bptt = True


class _CountingElman(ElmanRNN):
    steps_taken = 0

    def step(self, drive, state, W_rec_T):  # noqa: N803
        type(self).steps_taken += 1
        return super().step(drive, state, W_rec_T)


def test_a_subclass_overriding_step_falls_back_and_runs_its_step():
    model = _CountingElman(IN, H, OUT, seed=3, dtype=F64)
    reference = ElmanRNN(IN, H, OUT, seed=3, dtype=F64)
    _assert_falls_back_correctly(model, reference)
    assert _CountingElman.steps_taken == T
    with pytest.raises(ValueError, match="_CountingElman overrides `step`"):
        _CountingElman(IN, H, OUT, seed=3, use_fast_bptt=True)


def test_a_second_derivative_through_the_fast_path_fails_loudly():
    for flag in (True, False):
        model = _model("elman-tanh", use_fast_bptt=flag)
        loss = model(_inputs()).outputs.square().sum()
        (grad,) = torch.autograd.grad(loss, model.W_rec, create_graph=True)
        if flag:
            with pytest.raises(RuntimeError, match="once_differentiable"):
                grad.square().sum().backward()
        else:
            grad.square().sum().backward()
            assert model.W_rec.grad is not None


def test_torch_func_transforms_fall_back():
    model = _model("gru")
    inputs = _inputs()
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss(params):
        return torch.func.functional_call(model, (params,), (inputs,)).outputs.square().sum()

    grads = torch.func.grad(loss)(params)
    expected = torch.autograd.grad(model(inputs).outputs.square().sum(), list(model.parameters()))
    for (name, ours), theirs in zip(grads.items(), expected, strict=True):
        torch.testing.assert_close(ours, theirs, **CLOSE, msg=name)


def test_forcing_the_fast_path_where_it_cannot_apply_raises():
    model = _model("lstm", use_fast_bptt=True)
    with pytest.raises(ValueError, match="keep_gates=True"):
        model(_inputs(), keep_gates=True)
    with pytest.raises(ValueError, match="ESN has no hand-written BPTT"):
        ESN(IN, 8, OUT, use_fast_bptt=True)
    with pytest.raises(TypeError, match="`use_fast_bptt` must be True, False or None, got"):
        ElmanRNN(IN, H, OUT, use_fast_bptt="yes")


@pytest.mark.parametrize("name", ["elman-tanh", "elman-gelu", "lstm", "gru"])
def test_fast_path_runs_on_any_device(name):
    # The meta device runs no arithmetic, so anything tied to the CPU fails here.
    model = _model(name, num_models=2).to("meta")
    trajectory = model(torch.zeros(B, T, IN, device="meta"), probe=True)
    assert _ran_fast(trajectory)
    (trajectory.outputs.sum() + trajectory.final_state[-1].sum()).backward()
    assert trajectory.probes.grad.device.type == "meta" and model.W_rec.grad.shape == model.W_rec.shape
