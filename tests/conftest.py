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
    # The remedies study's quick form is a real first look (about half a minute, part of the default
    # `gradtrace run`); the suite only needs its plumbing, so it runs at smoke-test size here.
    # (The through-depth study's quick form is a smoke test already.)
    from gradtrace.studies import remedies

    tiny = remedies.RemediesConfig(adding_length=8, temporal_order_length=10, hidden_size=4, steps=4,
                                   batch_size=4, eval_batch_size=8, reservoir_size=8, esn_train_sequences=16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(remedies, "QUICK", tiny)
        yield
