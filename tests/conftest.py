"""Shared test settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    # The suite's tensors are tiny: threads cannot speed them up, and when another process holds a
    # core, OpenMP threads waiting on each other make every small matmul thousands of times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)



@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # never ~/.cache: a test must not read an index another run left there, nor leave one behind
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRADTRACE_CACHE", str(folder))
    return folder
