"""Sizes that cannot fit in memory are refused before anything is allocated, with the bytes they need."""

import pytest
import torch

from gradtrace import memory
from gradtrace.memory import check_fits, format_bytes, memory_capacity


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (3 * 2**30, "3.0 GiB"),
     (int(1.2 * 2**40), "1.2 TiB"), (2**90, "1024.0 YiB")],
)
def test_format_bytes_uses_binary_units(count, text):
    assert format_bytes(count) == text


def test_the_cpu_capacity_is_the_physical_memory_or_a_lower_limit():
    total, where = memory_capacity("cpu")
    assert total > 2**20 and ("memory" in where or "limit" in where)


def test_an_unknown_device_has_no_capacity_and_is_not_checked():
    assert memory_capacity("meta") is None
    check_fits(2**80, "Anything", {"size": 1}, device="meta")


def test_a_request_above_the_capacity_is_refused_naming_sizes_bytes_and_capacity(monkeypatch):
    monkeypatch.setattr(memory, "memory_capacity", lambda device=None: (2**30, "this machine's memory"))
    check_fits(2**30, "A tensor", {"rows": 1})
    with pytest.raises(ValueError, match=r"^A tensor \(`rows`=3, `cols`=4\) would need 1\.0 GiB, more than "
                                         r"this machine's memory \(1\.0 GiB\)\.$") as error:
        check_fits(2**30 + 1, "A tensor", {"rows": 3, "cols": 4})
    assert "1073741825" not in str(error.value)


def test_the_default_device_is_torchs():
    assert memory_capacity() == memory_capacity(torch.get_default_device())


def test_a_cuda_device_is_measured_by_its_total_memory(monkeypatch):
    # No GPU is needed: the query is replaced, the device is only named.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**20, 80 * 2**30))
    assert memory_capacity("cuda:0") == (80 * 2**30, "the memory of cuda:0")
    with pytest.raises(ValueError, match=r"would need 81\.0 GiB, more than the memory of cuda:0 \(80\.0 GiB\)"):
        check_fits(81 * 2**30, "Tracing", {"batch_size": 8}, device="cuda:0")


def test_fit_hands_freed_memory_back_after_every_evaluation(monkeypatch):
    # glibc keeps freed step buffers: without this, a 12,000-step run's resident memory grew to 10 GiB.
    import gradtrace as gt
    from gradtrace.train import loop

    calls = []
    monkeypatch.setattr(loop, "return_free_memory", lambda: calls.append(1))
    model = gt.ElmanRNN(2, 3, 1, readout="last", num_models=2, seed=0)
    run = gt.fit(model, gt.tasks.Adding(5), steps=6, batch_size=2, eval_every=2, eval_batch_size=4)
    assert len(calls) == len(run.history["eval/step"])  # one per evaluation, the last step's included
    memory.return_free_memory()  # and the real one runs (a no-op where the C library has no malloc_trim)
