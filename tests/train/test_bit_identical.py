"""fit gives bit for bit the results it gave before its loop was split into named pieces.

The digests below were taken from the single-function ``fit`` (commit 47d6ba9) on this CPU build of
torch; a change that moves any history array, trace, divergence step, final metric or trained parameter
by one ulp changes them. A deliberate change of numerics updates them, and says so in its commit.

They are digests of the Python time loops of the hand-written BPTT (``GRADTRACE_NATIVE=0``). The
compiled loops call BLAS on other matrix layouts, which rounds differently in the last bits: for them,
the same runs must agree with the Python loops' to float rounding, with the same divergence steps.
"""

import hashlib

import numpy as np
import pytest
import torch

from gradtrace.models import GRU, LSTM, MLP, ElmanRNN
from gradtrace.remedies import clip_by_global_norm, pascanu_penalty
from gradtrace.tasks import Adding, Circles, CopyMemory
from gradtrace.train import fit

F64 = torch.float64


def _exploding(model):
    # Member 0's output overflows from the first step; member 1's first update does.
    with torch.no_grad():
        model.W_out[0].fill_(1e200)
        model.W_out[1].mul_(1e140)
    return model


CONFIGS = {
    "elman_adam": (lambda: ElmanRNN(2, 5, 1, num_models=2, seed=1, dtype=F64), lambda: Adding(6),
                   {"steps": 6, "batch_size": 3, "eval_batch_size": 3, "seed": 3, "trace_every": 2,
                    "eval_every": 2}),
    "lstm_truncated_4_6": (lambda: LSTM(10, 4, 9, readout="all", num_models=2, seed=8, dtype=F64),
                           lambda: CopyMemory(3),
                           {"steps": 3, "truncation": (4, 6), "batch_size": 2, "eval_batch_size": 2, "seed": 6,
                            "trace_every": 1}),
    "elman_rmsprop_clip_penalty": (lambda: ElmanRNN(2, 4, 1, num_models=2, seed=4, dtype=F64), lambda: Adding(8),
                                   {"steps": 4, "optimizer": "rmsprop", "lr": 1e-2, "batch_size": 3,
                                    "eval_batch_size": 3, "seed": 1, "trace_every": 1,
                                    # Eq. 9's norm form, Ω's only form when the digest was taken.
                                    "remedies": [clip_by_global_norm(0.5), pascanu_penalty(1.0, form="norm")]}),
    "gru_sgd_lr_per_member": (lambda: GRU(2, 4, 1, num_models=3, seed=2), lambda: Adding(5),
                              {"steps": 4, "optimizer": "sgd", "lr": [0.1, 0.01, 0.3], "batch_size": 3,
                               "eval_batch_size": 3, "seed": 5}),
    "mlp_epochs": (lambda: MLP(2, [4, 3], 2, num_models=2, seed=0, dtype=F64), lambda: Circles(),
                   {"steps": 7, "lr": 3e-2, "batch_size": 4, "dataset_size": 10, "seed": 9, "trace_every": 2,
                    "eval_every": 3, "eval_batch_size": 8}),
    "exploding_record": (lambda: _exploding(ElmanRNN(2, 4, 1, num_models=3, seed=1, dtype=F64)), lambda: Adding(6),
                         {"steps": 4, "optimizer": "sgd", "lr": 0.5, "on_nonfinite": "record", "batch_size": 3,
                          "eval_batch_size": 3, "seed": 0, "trace_every": 1}),
    "exploding_skip": (lambda: _exploding(ElmanRNN(2, 4, 1, num_models=3, seed=1, dtype=F64)), lambda: Adding(6),
                       {"steps": 4, "on_nonfinite": "skip", "batch_size": 3, "eval_batch_size": 3, "seed": 0,
                        "trace_every": 1}),
}

# The history keys every configuration had before the split; keys added since are left out of the digest.
_HISTORY_KEYS = ("step", "epoch", "train/loss", "grad/norm", "eval/step", "task/loss", "task/accuracy",
                 "task/success", "clip_by_global_norm/fired", "clip_by_global_norm/pre_norm", "pascanu_penalty/omega")

EXPECTED = {
    "elman_adam": "c2c4cbd55114ad86ad0caf3db9197549910d1db63f99403e899c292f01bad269",
    "elman_rmsprop_clip_penalty": "6c7a24fb4b52d59e6c87c5e75f9da7e3028bc854ca18187ac77207e00ba0a460",
    "exploding_record": "49f321698ff6f018beecf3510800f6b787d7a3e8dd0c5f214670e8036f4ff817",
    "exploding_skip": "d63c9f195316c1e789c39b774632cb14c114033da1562dcb524ccb92ebda777d",
    "gru_sgd_lr_per_member": "c4cb567aebdb5e960a5fba6c35d537124d3d0f4a28c957dba1d2fda6ad4960eb",
    "lstm_truncated_4_6": "c3d003894d9b23d5c36113c662696027e39b77c8dfb9b1b3657cc4db3d906148",
    "mlp_epochs": "d82757a8968562b8605c05fc11f8947afb8d6b31a5d8f6369750957ca67f386b",
}


def _digest(run) -> str:
    """Return one SHA-256 over every array of ``run`` that the same seeds must reproduce."""
    arrays = [(f"history:{key}", run.history[key]) for key in _HISTORY_KEYS if key in run.history]
    arrays += [(f"final:{key}", value) for key, value in sorted(run.final.items())]
    arrays += [("trace_steps", run.trace_steps), ("trace_grad_norms", run.trace_grad_norms),
               ("diverged_at", run.diverged_at), ("steps_done", np.asarray(run.steps_done))]
    arrays += [(f"param:{name}", p.detach()) for name, p in run.model.named_parameters()]
    digest = hashlib.sha256()
    for name, value in arrays:
        value = np.ascontiguousarray(np.asarray(value))
        digest.update(f"{name}|{value.dtype}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_reproduces_the_results_of_the_single_function_loop(name, monkeypatch):
    monkeypatch.setenv("GRADTRACE_NATIVE", "0")
    model, task, options = CONFIGS[name]
    assert _digest(fit(model(), task(), **options)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(set(CONFIGS) - {"mlp_epochs"}))
def test_fit_on_the_compiled_loops_agrees_with_the_digested_runs(name, compiled_loops, monkeypatch):
    model, task, options = CONFIGS[name]
    compiled = fit(model(), task(), **options)
    monkeypatch.setenv("GRADTRACE_NATIVE", "0")
    reference = fit(model(), task(), **options)
    float64 = compiled.model.W_rec.dtype == torch.float64
    close = {"rtol": 1e-9, "atol": 1e-12} if float64 else {"rtol": 1e-4, "atol": 1e-6}
    assert compiled.steps_done == reference.steps_done
    np.testing.assert_array_equal(compiled.diverged_at, reference.diverged_at)
    for key in reference.history:
        np.testing.assert_allclose(compiled.history[key], reference.history[key], **close, err_msg=key)
    np.testing.assert_allclose(compiled.trace_grad_norms, reference.trace_grad_norms, **close)
    for (label, ours), (_, theirs) in zip(compiled.model.named_parameters(), reference.model.named_parameters(),
                                          strict=True):
        np.testing.assert_allclose(ours.detach(), theirs.detach(), **close, err_msg=label)
