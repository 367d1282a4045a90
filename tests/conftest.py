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


@pytest.fixture(autouse=True, scope="session")
def _smoke_sized_quick_forms():
    # The through-depth study's quick form is a real first look, part of the default `gradtrace run`; the
    # suite only needs its plumbing, so it runs at smoke-test size here.
    from gradtrace.studies import through_depth

    shallow = through_depth.ThroughDepthConfig(
        activations=("sigmoid", "relu"), variants=("plain", "batch_norm", "residual"), depth=4, width=4,
        sweep_depths=(2, 4), sweep=(("sigmoid", "plain"),), steps=3, batch_size=4, probe_batch_size=8,
        eval_batch_size=8, trace_snapshots=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(through_depth, "QUICK", shallow)
        yield
