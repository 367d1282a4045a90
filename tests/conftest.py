"""Shared test settings."""

import os
from pathlib import Path

import pytest
import torch

from gradtrace.models.compiled import native_available, native_status


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    # The suite's tensors are tiny: threads cannot speed them up, and when another process holds a
    # core, OpenMP threads waiting on each other make every small matmul thousands of times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def _compiled_loops_cache():
    # The compiled BPTT loops (gradtrace.models.compiled) are built once per machine, in a folder named by
    # a hash of their source and flags, and reused: pinned here before `_cache` moves GRADTRACE_CACHE to a
    # fresh folder per test, so a session reuses the machine's build instead of spending ~15 s on its own.
    given = os.environ.get("TORCH_EXTENSIONS_DIR")
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "gradtrace" / "native"))
    yield
    if given is None:
        os.environ.pop("TORCH_EXTENSIONS_DIR", None)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # never ~/.cache: a test must not read an index another run left there, nor leave one behind
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRADTRACE_CACHE", str(folder))
    return folder


#: Reasons for which a missing compiled build is skipped: the machine cannot build it at all.
_NO_TOOLCHAIN = ("no C++ compiler", "ninja was not found")


def _require_compiled_loops(monkeypatch) -> None:
    monkeypatch.setenv("GRADTRACE_NATIVE", "1")
    if not native_available():
        reason = native_status()["reason"]
        if reason.startswith(_NO_TOOLCHAIN):
            pytest.skip(f"the compiled time loops cannot be built here: {reason}")
        pytest.fail(f"the compiled time loops did not build: {reason}")


@pytest.fixture(params=["python", "compiled"])
def bptt_loops(request, monkeypatch):
    """Run the test once with the Python time loops of the hand-written BPTT, once with the compiled ones.

    The compiled run is skipped where no C++ toolchain exists, and fails where one exists but the
    build fails: that is a bug to see, not a machine to excuse.
    """
    if request.param == "python":
        monkeypatch.setenv("GRADTRACE_NATIVE", "0")
    else:
        _require_compiled_loops(monkeypatch)
    return request.param


@pytest.fixture
def compiled_loops(monkeypatch):
    """Run the test with the compiled time loops (GRADTRACE_NATIVE=1); skipped as ``bptt_loops`` skips."""
    _require_compiled_loops(monkeypatch)
