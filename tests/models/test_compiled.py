"""The compiled time loops' machinery (models/compiled.py): choosing the path, caching, and falling
back to the Python loops, silently without a compiler and with one warning when a build fails."""

import shutil

import pytest
import torch

from gradtrace.models import GRU, LSTM, ElmanRNN, compiled
from gradtrace.models.compiled import NativeBuildWarning, native_available, native_loops, native_status

F64 = torch.float64


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state in which nothing was loaded yet, building into an empty folder."""
    monkeypatch.setattr(compiled, "_state", {"ops": None, "tried": False, "reason": "not loaded yet",
                                             "build_seconds": None, "library": None, "loops_run": 0})
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "builds"))
    return tmp_path


def _gradients(model, inputs):
    trajectory = model(inputs, probe=True)
    loss = trajectory.outputs.square().sum()
    return torch.autograd.grad(loss, [trajectory.probes, *model.parameters()])


@pytest.mark.parametrize("value", ["2", "yes", "native"])
def test_a_bad_mode_names_the_variable_and_the_choices(monkeypatch, value):
    monkeypatch.setenv("GRADTRACE_NATIVE", value)
    with pytest.raises(ValueError, match=f"GRADTRACE_NATIVE must be 0, 1 or auto, got '{value}'"):
        native_loops(torch.zeros(1))


def test_mode_0_and_tensors_the_loops_do_not_take_run_the_python_loops(monkeypatch):
    monkeypatch.setenv("GRADTRACE_NATIVE", "1")
    for tensor in (torch.zeros(1, device="meta"), torch.zeros(1, dtype=torch.bfloat16),
                   torch.zeros(1, dtype=torch.int64)):
        assert native_loops(tensor) is None
    monkeypatch.setenv("GRADTRACE_NATIVE", "0")
    assert native_loops(torch.zeros(1)) is None
    assert not native_available()


def test_without_a_compiler_it_falls_back_silently_and_mode_1_raises(fresh, monkeypatch, recwarn):
    monkeypatch.setenv("CXX", "no-such-compiler-gradtrace")
    monkeypatch.setenv("GRADTRACE_NATIVE", "auto")
    model = ElmanRNN(2, 4, 1, seed=0, dtype=F64)
    inputs = torch.randn(2, 5, 2, dtype=F64)
    assert native_loops(inputs) is None
    status = native_status()
    assert not status["available"] and "no C++ compiler ('no-such-compiler-gradtrace')" in status["reason"]
    assert not recwarn.list
    fallback = _gradients(model, inputs)
    monkeypatch.setenv("GRADTRACE_NATIVE", "0")
    for ours, reference in zip(fallback, _gradients(model, inputs), strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    monkeypatch.setenv("GRADTRACE_NATIVE", "1")
    with pytest.raises(RuntimeError, match="GRADTRACE_NATIVE=1 asks for the compiled time loops, but no C"):
        model(inputs)


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler to fail a build")
def test_a_failed_build_warns_once_and_falls_back(fresh, monkeypatch):
    broken = fresh / "loops.cpp"
    broken.write_text("this is not C++;\n")
    monkeypatch.setattr(compiled, "SOURCE", broken)
    monkeypatch.setenv("GRADTRACE_NATIVE", "auto")
    model = GRU(2, 4, 1, seed=0, dtype=F64)
    inputs = torch.randn(2, 5, 2, dtype=F64)
    with pytest.warns(NativeBuildWarning, match="could not be built .* the Python loops run instead"):
        model(inputs)
    assert "building them failed" in native_status()["reason"]
    with torch.no_grad():
        model(inputs)  # no second warning: pytest's `error` filter would raise it


def test_a_cached_build_loads_without_a_compiler(monkeypatch):
    monkeypatch.setenv("GRADTRACE_NATIVE", "auto")
    if not native_available():
        pytest.skip(f"the compiled time loops are not available here: {native_status()['reason']}")
    library = native_status()["library"]
    monkeypatch.setattr(compiled, "_state", {"ops": None, "tried": False, "reason": "not loaded yet",
                                             "build_seconds": None, "library": None, "loops_run": 0})
    monkeypatch.setenv("CXX", "no-such-compiler-gradtrace")
    assert native_available()
    status = native_status()
    assert status["library"] == library and not status["built_here"] and status["build_seconds"] > 0
    assert status["build_directory"] in library


@pytest.mark.parametrize("cls", [ElmanRNN, LSTM, GRU])
def test_the_compiled_loops_run_and_count(bptt_loops, cls):
    model = cls(2, 4, 1, num_models=2, seed=0, dtype=torch.float32)
    before = native_status()["loops_run"]
    _gradients(model, torch.randn(3, 5, 2))
    assert native_status()["loops_run"] - before == (2 if bptt_loops == "compiled" else 0)


@pytest.mark.parametrize(("cls", "options"), [(ElmanRNN, {"activation": "tanh"}), (ElmanRNN, {"activation": "gelu"}),
                                              (LSTM, {}), (GRU, {})])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-inputs", "per-member-inputs"])
@pytest.mark.parametrize("sizes", [(3, 7, 2), (1, 4, 1)], ids=["B3-T7-I2", "B1-T4-I1"])
def test_drives_projected_inside_the_loop_equal_drives_given(compiled_loops, monkeypatch, cls, options, shared, sizes):
    """The compiled loops project each step's drives themselves (bptt.Projection); handing them the
    drives projected beforehand must give the same states, gradients and probe gradients in float64."""
    from gradtrace.models import bptt

    batch, steps, width = sizes
    model = cls(width, 5, 1, num_models=2, seed=3, dtype=F64, **options)
    shape = (batch, steps, width) if shared else (2, batch, steps, width)
    inputs = torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    results = []
    for unprojected in (True, False):
        if not unprojected:  # hand the recurrence the projected drives, as the Python loops get them
            monkeypatch.setattr(bptt, "_split", lambda drives, like: (
                drives.drives() if isinstance(drives, bptt.Projection) else drives, None, None, None))
        trajectory = model(inputs, probe=True)
        loss = trajectory.outputs.square().sum() + trajectory.states.sum()
        grads = torch.autograd.grad(loss, [inputs, trajectory.probes, *model.parameters()])
        results.append((trajectory.states.detach(), *grads))
    for ours, reference in zip(*results, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    assert float(results[0][1].abs().amax()) > 1e-6, "the inputs' gradient must not be trivially zero"


def test_inputs_with_odd_strides_on_unit_dimensions_run(bptt_loops):
    """A (B, T, 1) view whose unit dimension has an unusual stride is valid input on both loops."""
    inputs = torch.randn(1, 4, 1, dtype=F64).movedim(0, -1)  # shape (4, 1, 1), strides (1, 1, 4)
    model = ElmanRNN(1, 4, 1, seed=0, dtype=F64)
    trajectory = model(inputs, probe=True)
    torch.testing.assert_close(trajectory.outputs, model(inputs.contiguous(), probe=True).outputs, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [ElmanRNN, LSTM, GRU])
@pytest.mark.parametrize("frozen", [(), ("W_in",), ("b",), ("W_in", "b")], ids=["none", "W_in", "b", "both"])
def test_projection_gradients_with_frozen_input_weights_equal_the_python_loops(monkeypatch, cls, frozen):
    """With the input weights or bias frozen (either or both), the compiled loops' projection gives the
    inputs' and every other gradient of the Python loops (float64)."""
    _require_compiled()
    results = []
    for mode in ("0", "1"):
        monkeypatch.setenv("GRADTRACE_NATIVE", mode)
        model = cls(3, 5, 1, num_models=2, seed=1, dtype=F64)
        for name in frozen:
            getattr(model, name).requires_grad_(False)
        inputs = torch.randn(2, 4, 6, 3, dtype=F64, generator=torch.Generator().manual_seed(2), requires_grad=True)
        trajectory = model(inputs, probe=True)
        loss = trajectory.outputs.square().sum() + trajectory.states.sum()
        trainable = [p for p in model.parameters() if p.requires_grad]
        results.append(torch.autograd.grad(loss, [inputs, trajectory.probes, *trainable]))
    for ours, reference in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)


def _require_compiled() -> None:
    if not native_available():
        pytest.skip(f"the compiled time loops are not available here: {native_status()['reason']}")
