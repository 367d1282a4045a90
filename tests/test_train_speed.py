"""fit at scale: a learning rate per member, any device, out-of-memory advice and long sequences."""

import sys

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from gradtrace.errors import GradtraceError, OutOfMemoryError
from gradtrace.instruments import profile_from_grads
from gradtrace.models import LSTM, MLP, ElmanRNN
from gradtrace.remedies import (
    GradientTransform,
    Truncation,
    adaptive_clip,
    chain,
    clip_by_global_norm,
    clip_by_value,
    pascanu_penalty,
    weight_penalty,
)
from gradtrace.remedies.base import Context
from gradtrace.tasks import Adding, Circles, CopyMemory, member_loss
from gradtrace.train import fit, paths
from gradtrace.train.updater import member_grad_norms

F64 = torch.float64
T, H, K = 6, 4, 3
RATES = [3e-3, 1e-2, 4e-2]
SMALL = {"batch_size": 4, "eval_batch_size": 4}


def _elman(num_models=K, seed=0, **options):
    return ElmanRNN(2, H, 1, readout="last", num_models=num_models, seed=seed, dtype=F64, **options)


def _mlp(num_models=K, seed=0):
    return MLP(2, [4, 4], 2, num_models=num_models, seed=seed, dtype=F64)


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


# ------------------------------------------------------------------------------------------------
# A learning rate per member
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize(("build", "task"), [(_elman, Adding(T)), (_mlp, Circles())], ids=["elman", "mlp"])
def test_member_k_of_an_lr_sweep_trains_like_the_single_model_at_lr_k(build, task, optimizer):
    options = {"steps": 4, "optimizer": optimizer, "trace_every": 1, **SMALL}
    ensemble = build()
    sweep = fit(ensemble, task, lr=RATES, seed=5, **options)
    assert sweep.config["lr"] == RATES
    for k, rate in enumerate(RATES):
        single = build(num_models=1, seed=k)
        alone = fit(single, task, lr=rate, seed=5 + k, **options)
        for (name, param), (_, own) in zip(ensemble.named_parameters(), single.named_parameters(), strict=True):
            torch.testing.assert_close(param[k], own[0], rtol=1e-10, atol=1e-14, msg=name)
        for key in ("train/loss", "grad/norm", "task/loss"):
            np.testing.assert_allclose(sweep.history[key][:, k], alone.history[key][:, 0], rtol=1e-10, err_msg=key)
        np.testing.assert_allclose(sweep.trace_grad_norms[:, k], alone.trace_grad_norms[:, 0], rtol=1e-6)


def test_a_sweep_with_remedies_and_truncation_matches_its_members():
    task = CopyMemory(delay=2)
    options = {"steps": 3, "optimizer": "adam", "truncation": (5, 7), "remedies": clip_by_global_norm(0.1), **SMALL}
    ensemble = LSTM(10, H, 9, num_models=2, seed=0, dtype=F64)
    fit(ensemble, task, lr=[1e-2, 1e-1], seed=1, **options)
    for k, rate in enumerate([1e-2, 1e-1]):
        single = LSTM(10, H, 9, seed=k, dtype=F64)
        fit(single, task, lr=rate, seed=1 + k, **options)
        for (name, param), (_, own) in zip(ensemble.named_parameters(), single.named_parameters(), strict=True):
            torch.testing.assert_close(param[k], own[0], rtol=1e-10, atol=1e-14, msg=name)


def test_equal_rates_are_the_run_at_that_rate_bit_for_bit():
    listed, scalar = _elman(), _elman()
    run = fit(listed, Adding(T), steps=3, lr=np.full(K, 0.02), **SMALL)
    fit(scalar, Adding(T), steps=3, lr=0.02, **SMALL)
    assert run.config["lr"] == [0.02] * K
    for (name, a), (_, b) in zip(listed.named_parameters(), scalar.named_parameters(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("policy", ["record", "skip"])
def test_a_sweep_still_puts_frozen_and_skipped_members_back(policy):
    model = _elman()
    injected = {}

    def blow_up(step, metrics):
        if step == 1:
            with torch.no_grad():
                model.W_out[1].fill_(1e300)
            injected.update(_params(model))

    run = fit(model, Adding(T), steps=4, lr=RATES, seed=2, on_nonfinite=policy, callback=blow_up, **SMALL)
    expected = [-1, 2, -1] if policy == "record" else [-1, -1, -1]
    np.testing.assert_array_equal(run.diverged_at, expected)
    for name, param in model.named_parameters():
        assert torch.equal(param[1], injected[name][1]), name
    clean = _elman()
    fit(clean, Adding(T), steps=4, lr=RATES, seed=2, **SMALL)
    for (name, param), (_, own) in zip(model.named_parameters(), clean.named_parameters(), strict=True):
        torch.testing.assert_close(param[[0, 2]], own[[0, 2]], rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize(
    ("lr", "error", "match"),
    [
        ([0.1, 0.2], ValueError,
         r"`lr` must hold one learning rate per member, 3 \(num_models\), got 2: \[0\.1, 0\.2\]"),
        ([0.1, -0.2, 0.3], ValueError, r"`lr\[1\]` must be greater than 0\.0, got -0\.2"),
        ([0.1, 0.0, 0.3], ValueError, r"`lr\[1\]` must be greater than 0\.0, got 0\.0"),
        ([0.1, float("inf"), 0.3], ValueError, r"`lr\[1\]` must be finite"),
        ([0.1, "fast", 0.3], TypeError, r"`lr\[1\]` must be a real number, got 'fast'"),
        (np.ones((3, 1)), ValueError, r"`lr` must be a number or a sequence of 3 numbers \(one per member\)"),
        ("0.1", TypeError, r"`lr` must be a positive number or a sequence of 3 of them"),
    ],
)
def test_invalid_rates_are_refused_naming_lr(lr, error, match):
    with pytest.raises(error, match=match):
        fit(_elman(), Adding(T), steps=1, lr=lr)


# ------------------------------------------------------------------------------------------------
# Devices
# ------------------------------------------------------------------------------------------------
# Factories that make a CPU tensor unless told a device; `*_like` and `Tensor.new_*` follow their argument.
_CPU_FACTORIES = {"zeros", "ones", "full", "empty", "arange", "tensor", "as_tensor", "eye", "linspace", "rand",
                  "randn", "randint", "randperm"}
_TRAINING_CODE = ("gradtrace.train", "gradtrace.remedies", "gradtrace.tasks.base")


class _FactorySpy(TorchFunctionMode):
    """Record where the training code makes a tensor without naming its device (it would land on the CPU)."""

    def __init__(self):
        super().__init__()
        self.undirected = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        caller = sys._getframe(1)
        module = caller.f_globals.get("__name__", "")
        if getattr(func, "__name__", "") in _CPU_FACTORIES and "device" not in kwargs and module.startswith(
            _TRAINING_CODE
        ):
            self.undirected.append(f"{module}:{caller.f_lineno} {func.__name__}")
        return func(*args, **kwargs)


@pytest.mark.parametrize(
    ("build", "task", "options"),
    [
        (lambda: ElmanRNN(10, H, 9, num_models=2, seed=0), CopyMemory(delay=2),
         {"truncation": (5, 7), "lr": [1e-2, 1e-1],
          "remedies": chain(pascanu_penalty(1.0), weight_penalty(1e-3), clip_by_value(-1.0, 1.0),
                            adaptive_clip(0.5), clip_by_global_norm(1.0))}),
        (lambda: MLP(2, [4], 2, num_models=2, seed=0), Circles(),
         {"dataset_size": 8, "lr": [1e-2, 1e-1], "remedies": clip_by_global_norm(1.0)}),
    ],
    ids=["elman", "mlp"],
)
def test_the_training_code_names_the_device_of_every_tensor_it_makes(build, task, options):
    with _FactorySpy() as spy:
        fit(build(), task, steps=3, trace_every=1, on_nonfinite="record", **SMALL, **options)
    assert spy.undirected == []


@pytest.mark.parametrize(("task", "readout"), [(Adding(T), "last"), (Adding(T), "all"), (CopyMemory(2), "all")])
def test_losses_of_outputs_on_another_device_take_the_cpu_targets_along(task, readout):
    batch = task.sample(3, seed=0)
    outputs = torch.zeros(2, 3, *([] if readout == "last" else [batch.length]), task.output_size, device="meta")
    loss = member_loss(outputs, batch)
    assert (loss.device.type, loss.shape) == ("meta", (2,))
    if readout == "all":
        assert task.correct(outputs, batch).device.type == "meta"


def test_gradient_norms_and_remedies_stay_on_the_parameters_device():
    model = ElmanRNN(2, H, 1, num_models=2, seed=0).to("meta")
    params = list(model.parameters())
    for p in params:
        p.grad = torch.zeros_like(p)
    norm, finite = member_grad_norms(params, 2)
    assert norm.device.type == finite.device.type == "meta"
    B, steps = 3, 5  # noqa: N806
    context = Context(model=model, params={n: p.detach() for n, p in model.named_parameters()},
                      inputs=torch.zeros(2, B, steps, 2, device="meta"),
                      initial_state=model.initial_state(B), states=torch.zeros(2, B, steps, H, device="meta"),
                      state_grads=torch.zeros(2, B, steps, H, device="meta"))
    for remedy in (clip_by_global_norm(1.0), clip_by_value(-1.0, 1.0), adaptive_clip(0.5), weight_penalty(1e-3),
                   pascanu_penalty(1.0, reduction="sum")):
        state = remedy.init(model)
        grads, state, metrics = remedy.update({n: p.grad for n, p in model.named_parameters()}, state, context)
        devices = {t.device.type for t in [*grads.values(), *metrics.values()]}
        if isinstance(state, torch.Tensor):
            devices.add(state.device.type)
        assert devices == {"meta"}, remedy.name


def test_a_float64_model_trains_on_float32_data_and_reports_numpy():
    task = Adding(T)
    assert task.sample(1, seed=0).inputs.dtype == torch.float32
    run = fit(_elman(), task, steps=2, lr=RATES, trace_every=1, **SMALL)
    arrays = [run.trace_grad_norms, *run.history.values(), *run.final.values()]
    assert all(isinstance(a, np.ndarray) for a in arrays)
    assert run.model.W_rec.dtype == F64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda_matches_the_cpu():
    task = CopyMemory(delay=2)
    options = {"steps": 3, "lr": [1e-2, 1e-1], "truncation": (5, 7), "trace_every": 1, "dataset_size": 8,
               "remedies": chain(pascanu_penalty(1.0), clip_by_global_norm(1.0)), **SMALL}
    on_cpu = fit(ElmanRNN(10, H, 9, num_models=2, seed=0, dtype=F64), task, **options)
    on_gpu = fit(ElmanRNN(10, H, 9, num_models=2, seed=0, dtype=F64).to("cuda"), task, **options)
    assert on_gpu.model.W_rec.device.type == "cuda"
    for key, value in on_cpu.history.items():
        np.testing.assert_allclose(on_gpu.history[key], value, rtol=1e-8, err_msg=key)
    np.testing.assert_allclose(on_gpu.trace_grad_norms, on_cpu.trace_grad_norms, rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# Out of memory
# ------------------------------------------------------------------------------------------------
def _fail_on_training_pass(model, number, error):
    """Make the ``number``-th probed forward pass of ``model`` (0-based; training passes probe) raise ``error``."""
    forward = model.forward
    calls = []

    def failing(*args, **kwargs):
        if kwargs.get("probe"):
            calls.append(1)
            if len(calls) > number:
                raise error
        return forward(*args, **kwargs)

    model.forward = failing


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has 1.00 GiB free."),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
                     "tried to allocate 4096000000 bytes. Error code 12 (Cannot allocate memory)"),
        MemoryError(),
    ],
    ids=["cuda", "cpu-allocator", "python"],
)
def test_running_out_of_memory_suggests_truncation_and_keeps_the_partial_run(error):
    model = ElmanRNN(2, 8, 1, readout="last", num_models=2, seed=0)
    _fail_on_training_pass(model, 2, error)
    with pytest.raises(OutOfMemoryError, match=r"Out of memory at step 2 of 5 .*: ElmanRNN with hidden_size=8, "
                       r"2 member\(s\), on sequences of T=4000 steps, batch_size=6\. .*truncation=\(1000, 1000\) "
                       r".*a smaller batch_size \(e\.g\. 3\)") as caught:
        fit(model, Adding(4000), steps=5, batch_size=6, eval_batch_size=2, trace_every=1, eval_every=1)
    oom = caught.value
    assert isinstance(oom, MemoryError) and isinstance(oom, GradtraceError) and oom.step == 2
    assert oom.__context__ is None  # the failed step's frames, and their buffers, are not kept
    partial = oom.partial
    assert (partial.status, partial.steps_done) == ("out_of_memory", 2)
    assert partial.history["train/loss"].shape == (2, 2) and partial.trace_grad_norms.shape == (2, 2, 4000)
    np.testing.assert_array_equal(partial.history["eval/step"], [0, 1])


def test_short_sequences_and_truncated_runs_are_told_a_shorter_window():
    model = ElmanRNN(2, 8, 1, readout="last", seed=0)
    _fail_on_training_pass(model, 0, torch.OutOfMemoryError("CUDA out of memory."))
    with pytest.raises(OutOfMemoryError, match=r"T=40 steps.*truncation=\(10, 10\)"):
        fit(model, Adding(40), steps=2, **SMALL)
    with pytest.raises(OutOfMemoryError, match=r"With truncation=\(20, 30\).*truncation=\(10, 15\)"):
        fit(model, Adding(40), steps=2, truncation=(20, 30), **SMALL)


def test_running_out_of_memory_in_evaluation_asks_for_a_smaller_held_out_batch():
    model = MLP(2, [4], 2, seed=0)
    forward = model.forward

    def failing(inputs, *, probe=False, **options):
        if not torch.is_grad_enabled():
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return forward(inputs, probe=probe, **options)

    model.forward = failing
    with pytest.raises(OutOfMemoryError, match=r"evaluating the held-out batch after step 0 .*MLP with hidden sizes "
                       r"\[4\].*eval_batch_size=256.*eval_batch_size \(e\.g\. 128\)") as caught:
        fit(model, Circles(), steps=3)
    assert caught.value.partial.steps_done == 1


def test_other_runtime_errors_pass_through():
    model = _elman()
    _fail_on_training_pass(model, 1, RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as caught:
        fit(model, Adding(T), steps=3, **SMALL)
    assert not isinstance(caught.value, OutOfMemoryError)


# ------------------------------------------------------------------------------------------------
# Long sequences
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("truncation", [None, (1000, 1000)], ids=["full", "tbptt"])
def test_ten_thousand_steps_train_and_trace_every_step(truncation):
    model = ElmanRNN(2, 4, 1, readout="last", seed=0)
    before = _params(model)
    run = fit(model, Adding(10_000), steps=2, batch_size=2, eval_batch_size=2, trace_every=1, truncation=truncation)
    assert run.trace_grad_norms.shape == (2, 1, 10_000)
    assert np.all(np.isfinite(run.trace_grad_norms)) and run.trace_grad_norms[:, 0, -1].min() > 0
    assert np.all(np.isfinite(run.history["train/loss"]))
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())


@pytest.mark.parametrize(("task", "readout"), [(Adding(23), "last"), (CopyMemory(delay=13), "all")])
def test_evaluating_in_windows_gives_the_one_pass_outputs(task, readout, monkeypatch):
    def run():
        model = ElmanRNN(task.input_size, H, task.output_size, readout=readout, num_models=2, seed=0, dtype=F64)
        return fit(model, task, steps=2, eval_every=1, **SMALL).history

    whole = run()
    monkeypatch.setattr(paths, "EVAL_WINDOW", 4)
    windowed = run()
    for key in ("task/loss", "task/accuracy"):
        np.testing.assert_allclose(windowed[key], whole[key], rtol=1e-12, err_msg=key)


@pytest.mark.parametrize(("k1", "k2"), [(5, 5), (6, 3), (4, 9)])
def test_a_truncated_trace_is_the_norm_of_dl_dh_summed_over_the_windows(k1, k2):
    task = CopyMemory(delay=2)  # T = 22, scored at every step
    seen = []

    def spy(grads, state, context):
        seen.append((context.inputs.shape[-2], context.state_grads.clone()))
        return grads, state, {}

    recorder = GradientTransform("spy", lambda model: None, spy)
    run = fit(ElmanRNN(10, H, 9, num_models=2, seed=0, dtype=F64), task, steps=1, trace_every=1,
              truncation=(k1, k2), remedies=recorder, **SMALL)
    total = torch.zeros(2, SMALL["batch_size"], task.max_length, H, dtype=F64)
    for window, (length, grads) in zip(Truncation(k1, k2).windows(task.max_length), seen, strict=True):
        assert length == window.end - window.grad_start
        total[:, :, window.grad_start:window.end] += grads
    np.testing.assert_allclose(run.trace_grad_norms[0], profile_from_grads(total).float().numpy(), rtol=1e-6)

