"""chain composes in order with stable metric keys; fit applies remedies per member and records them."""

import numpy as np
import pytest
import torch

from gradtrace.models import ElmanRNN
from gradtrace.remedies import (
    REMEDIES,
    as_transform,
    chain,
    clip_by_global_norm,
    clip_by_value,
    make_remedy,
    pascanu_penalty,
    weight_penalty,
)
from gradtrace.tasks import Adding
from gradtrace.train import fit

F64 = torch.float64


def test_chain_applies_in_order_and_keeps_keys():
    grads = {"W": torch.tensor([[3.0, 4.0]], dtype=F64)}
    both = chain(clip_by_value(-3.5, 3.5), clip_by_global_norm(1.0), clip_by_value(-0.5, 0.5))
    state = both.init(ElmanRNN(1, 2, 1, seed=0))
    clipped, state, metrics = both.update(grads, state, None)
    # [3, 4] → [3, 3.5] → unit norm → each entry clamped to ±0.5
    norm = (3.0**2 + 3.5**2) ** 0.5
    torch.testing.assert_close(clipped["W"], torch.tensor([[min(3.0 / norm, 0.5), 0.5]], dtype=F64))
    assert sorted(metrics) == sorted([
        "clip_by_value/pre_norm", "clip_by_value/fired", "clip_by_global_norm/pre_norm",
        "clip_by_global_norm/fired", "clip_by_value#2/pre_norm", "clip_by_value#2/fired"])
    assert [s.tolist() for s in state] == [[1], [1], [1]]
    assert both.describe().startswith("chain(clip_by_value(min_value=-3.5")


def test_chain_and_registry_refuse_bad_input():
    with pytest.raises(TypeError, match="chain\\(\\) argument 1"):
        chain(clip_by_global_norm(1.0), "clip")
    with pytest.raises(TypeError, match="remedies"):
        as_transform(3)
    with pytest.raises(ValueError, match="Unknown remedy 'clip'.*clip_by_global_norm"):
        make_remedy("clip")
    assert make_remedy("clip_by_global_norm", max_norm=2.0).options == {"max_norm": 2.0}
    assert set(REMEDIES) >= {"clip_by_global_norm", "clip_by_value", "adaptive_clip", "pascanu_penalty"}


def test_fit_records_each_remedys_measurements():
    model = ElmanRNN(2, 4, 1, num_models=3, readout="last", seed=0, dtype=F64)
    remedies = [weight_penalty(1e-3), pascanu_penalty(0.5), clip_by_global_norm(1e-3)]
    run = fit(model, Adding(length=8), steps=4, remedies=remedies, batch_size=4, eval_batch_size=4)
    history = run.history
    assert history["clip_by_global_norm/fired"].shape == (4, 3)
    assert (history["clip_by_global_norm/fired"] == 1).all()  # a threshold of 1e-3 always fires
    assert (history["pascanu_penalty/omega"] >= 0).all() and (history["weight_penalty/penalty"] > 0).all()
    assert history["grad/norm"].shape == (4, 3) and np.isfinite(history["grad/norm"]).all()
    assert "pascanu_penalty(weight=0.5" in run.config["remedies"]


def test_clipped_ensemble_member_equals_its_single_run():
    task = Adding(length=6)
    ensemble = ElmanRNN(2, 4, 1, num_models=3, readout="last", seed=5, dtype=F64)
    fit(ensemble, task, steps=3, seed=9, remedies=clip_by_global_norm(0.05), optimizer="sgd", lr=0.5,
        batch_size=4, eval_batch_size=4)
    single = ElmanRNN(2, 4, 1, num_models=1, readout="last", seed=6, dtype=F64)
    fit(single, task, steps=3, seed=10, remedies=clip_by_global_norm(0.05), optimizer="sgd", lr=0.5,
        batch_size=4, eval_batch_size=4)
    for name, p in single.named_parameters():
        torch.testing.assert_close(getattr(ensemble, name)[1], p[0], rtol=1e-12, atol=1e-14)


def test_a_diverged_member_does_not_reach_the_others_clip():
    model = ElmanRNN(2, 4, 1, num_models=2, readout="last", seed=0, dtype=F64)
    with torch.no_grad():
        model.W_out[0].fill_(float("nan"))
    run = fit(model, Adding(length=6), steps=2, remedies=clip_by_global_norm(1.0), batch_size=4,
              eval_batch_size=4)
    assert run.diverged_at.tolist() == [0, -1]
    assert np.isfinite(run.history["clip_by_global_norm/pre_norm"][:, 1]).all()
