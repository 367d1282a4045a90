"""One source of truth: the profile the playground streams is gradtrace's own trace, on the same seed."""

import pytest
import torch

import gradtrace as gt
from gradtrace.web.jobs import Job, probe_batch
from gradtrace.web.settings import build, check_settings


@pytest.mark.parametrize("options", [
    {"network": "elman", "spectral_radius": 1.3, "clip_norm": 0.5},
    {"network": "mlp", "task": "xor", "depth": 5, "init": "xavier_normal"},
])
def test_streamed_profile_equals_trace_after_the_same_steps(options):
    settings = check_settings({"length": 12, "hidden_size": 6, "steps": 4, "batch_size": 8, "seed": 3, **options})
    messages = []
    Job(settings, lambda message: messages.append(message) or True, max_fps=1e-3).run()
    frames = [m for m in messages if m["type"] == "frame"]
    assert [f["step"] for f in frames] == [-1, 3]  # the untrained network, then the last step
    assert messages[-1]["type"] == "finished"

    for frame, steps in ((frames[0], 0), (frames[1], 4)):
        built = build(settings)  # the same seed: the same network, data and probe batch
        if steps:
            run = gt.fit(built.model, built.task, **{**built.fit_options(settings), "steps": steps})
            # and every step's loss, coalesced into the frame, is fit's
            assert frame["loss"] == pytest.approx(run.history["train/loss"][:, 0].tolist(), rel=1e-12)
        expected = gt.trace(built.model, probe_batch(settings, built.task)).grad_norms[0].double()
        streamed = torch.tensor(frame["profile"], dtype=torch.float64)
        torch.testing.assert_close(streamed, expected, rtol=1e-6, atol=0)
    assert frames[1]["steps"] == [0, 1, 2, 3]
