"""A model or matrix holding NaN/inf: a clear error for the spectral helpers, per-member NaN readings for trace.

Regression: `spectral_radius` on a NaN matrix crashed the process inside oneMKL (DGEBAL), a GRU gave
torch's raw `_LinAlgError`, and an LSTM's all-NaN profile read as `horizon = [10]`.
"""

import numpy as np
import pytest
import torch

import gradtrace as gt
from gradtrace.init import scale_to_spectral_radius_, spectral_radius, top_singular_value


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("reading", [spectral_radius, top_singular_value,
                                     lambda w: scale_to_spectral_radius_(w, 0.5)])
def test_spectral_helpers_refuse_nonfinite_weight_naming_where(reading, bad):
    weight = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0))
    weight[1, 2, 3] = bad
    before = weight.clone()
    with pytest.raises(ValueError, match=r"`weight` must be finite.*at index \(1, 2, 3\)"):
        reading(weight)
    assert torch.equal(weight.isnan(), before.isnan())  # untouched


def _models():
    task, toy = gt.Adding(10).sample(4, seed=0), gt.Circles().sample(8, seed=0)
    return [
        ("W_rec", gt.ElmanRNN(2, 8, 1, num_models=2, seed=0), task),
        ("W_rec", gt.LSTM(2, 8, 1, num_models=2, seed=0), task),
        ("W_rec", gt.GRU(2, 8, 1, num_models=2, seed=0), task),
        ("W_1", gt.MLP(2, depth=3, width=8, output_size=2, num_models=2, seed=0), toy),
    ]


@pytest.mark.parametrize(("name", "model", "batch"), _models(), ids=["elman", "lstm", "gru", "mlp"])
def test_trace_reads_a_nonfinite_member_as_nan_and_measures_the_others(name, model, batch):
    with torch.no_grad():
        getattr(model, name)[0].view(-1)[0] = float("nan")
    tr = gt.trace(model, batch)
    assert torch.isnan(tr.grad_norms[0]).all()
    assert torch.isfinite(tr.grad_norms[1]).all()
    assert tr.horizon[0] == -1  # not measured, never a horizon it did not show
    assert tr.horizon[1] >= 1
    assert torch.isnan(tr.decay_rate[0]) and torch.isfinite(tr.decay_rate[1])
    if hasattr(tr, "top_singular_value"):
        assert torch.isnan(tr.top_singular_value[0]) and torch.isfinite(tr.top_singular_value[1])
    if getattr(tr, "spectral_radius", None) is not None:
        assert torch.isnan(tr.spectral_radius[0]) and torch.isfinite(tr.spectral_radius[1])


def test_horizon_of_an_all_nan_profile_is_not_measured():
    assert gt.instruments.horizon(torch.tensor([[float("nan")] * 4, [1e-9, 1e-7, 1e-3, 1.0]])).tolist() == [-1, 2]


def test_studies_leave_unmeasured_horizons_out_of_their_median():
    from gradtrace.studies.base import median_horizon

    assert median_horizon([-1, 4, 6]) == 5.0
    assert np.isnan(median_horizon([-1, -1]))
