"""Clipping acts per member, bounds what it promises, keeps direction, and says when it fired."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradtrace.models import ElmanRNN
from gradtrace.remedies import Context, adaptive_clip, clip_by_global_norm, clip_by_value, member_norms

F64 = torch.float64
finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


def _grads(values):
    g = torch.as_tensor(values, dtype=F64)
    return {"W_rec": g.reshape(2, 3, 2), "b": g.reshape(2, 6)[:, :2] * 0.5}


@settings(max_examples=60, deadline=None)
@given(arrays("float64", (12,), elements=finite), st.floats(1e-3, 1e3))
def test_global_norm_bound_direction_idempotence(values, max_norm):
    clip = clip_by_global_norm(max_norm)
    grads = _grads(values)
    before = member_norms(grads)
    clipped, state, metrics = clip.update(grads, torch.zeros(2, dtype=torch.int64), None)
    after = member_norms(clipped)
    assert bool((after <= max_norm * (1 + 1e-12)).all())
    # Below the bound nothing changes; above it the direction is kept.
    for k in range(2):
        for name in grads:
            if before[k] <= max_norm:
                assert torch.equal(clipped[name][k], grads[name][k])
            else:
                torch.testing.assert_close(clipped[name][k] * before[k] / max_norm, grads[name][k])
    again, _, _ = clip.update(clipped, state, None)
    for name in grads:
        torch.testing.assert_close(again[name], clipped[name], rtol=1e-12, atol=0)
    torch.testing.assert_close(metrics["clip_by_global_norm/pre_norm"], before)
    assert metrics["clip_by_global_norm/fired"].tolist() == [float(n > max_norm) for n in before]
    assert state.tolist() == [int(n > max_norm) for n in before]


def test_one_members_norm_never_clips_another():
    grads = {"W": torch.tensor([[1e9, 0.0], [0.3, 0.4]], dtype=F64)}
    clipped, state, metrics = clip_by_global_norm(1.0).update(grads, torch.zeros(2, dtype=torch.int64), None)
    assert torch.equal(clipped["W"][1], grads["W"][1])
    torch.testing.assert_close(clipped["W"][0], torch.tensor([1.0, 0.0], dtype=F64))
    assert state.tolist() == [1, 0]


@settings(max_examples=60, deadline=None)
@given(arrays("float64", (12,), elements=finite), st.floats(-10, -1e-3), st.floats(1e-3, 10))
def test_value_clip_bounds_and_idempotence(values, low, high):
    clip = clip_by_value(low, high)
    grads = _grads(values)
    clipped, state, metrics = clip.update(grads, torch.zeros(2, dtype=torch.int64), None)
    for name, g in clipped.items():
        assert bool(((g >= low) & (g <= high)).all())
        inside = (grads[name] >= low) & (grads[name] <= high)
        assert torch.equal(g[inside], grads[name][inside])
    again, _, _ = clip.update(clipped, state, None)
    assert all(torch.equal(again[n], clipped[n]) for n in grads)
    outside = [any(bool(((grads[n][k] < low) | (grads[n][k] > high)).any()) for n in grads) for k in range(2)]
    assert metrics["clip_by_value/fired"].tolist() == [float(o) for o in outside]


@pytest.mark.parametrize(("low", "high", "match"), [
    (1.0, -1.0, "min_value < max_value"),
    (0.5, 0.5, "min_value < max_value"),
    (0.1, 1.0, "contain 0"),
    (-2.0, -1.0, "contain 0"),
    (float("nan"), 1.0, "min_value"),
])
def test_value_clip_rejects_contradictory_bounds(low, high, match):
    with pytest.raises(ValueError, match=match):
        clip_by_value(low, high)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, float("nan")])
def test_global_norm_rejects_bad_threshold(bad):
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_global_norm(bad)


def _context(params):
    model = ElmanRNN(2, 3, 1, seed=0, dtype=F64)
    return Context(model=model, params=params)


@settings(max_examples=40, deadline=None)
@given(arrays("float64", (2, 3, 4), elements=st.floats(-10, 10, width=64)),
       arrays("float64", (2, 3, 4), elements=st.floats(-1e3, 1e3, width=64)), st.floats(1e-3, 1.0))
def test_adaptive_clip_bounds_each_unit(weights, grads, ratio):
    w = {"W_rec": torch.as_tensor(weights), "b": torch.as_tensor(weights[:, :, 0])}
    g = {"W_rec": torch.as_tensor(grads), "b": torch.as_tensor(grads[:, :, 0])}
    clip = adaptive_clip(ratio)
    clipped, state, metrics = clip.update(g, torch.zeros(2, dtype=torch.int64), _context(w))
    for name in g:
        unit_g = clipped[name].norm(dim=-1) if clipped[name].dim() == 3 else clipped[name].abs()
        unit_w = w[name].norm(dim=-1) if w[name].dim() == 3 else w[name].abs()
        assert bool((unit_g <= ratio * unit_w.clamp_min(1e-3) * (1 + 1e-9)).all())
        # A unit is only ever shortened, never turned.
        cos = torch.nn.functional.cosine_similarity(clipped[name].flatten(), g[name].flatten(), dim=0)
        assert float(cos) > 0.0 or float(g[name].norm()) == 0.0
    again, _, _ = clip.update(clipped, state, _context(w))
    for name in g:
        torch.testing.assert_close(again[name], clipped[name], rtol=1e-9, atol=1e-12)


def test_adaptive_clip_leaves_small_units_alone():
    w = {"W": torch.ones(1, 2, 2, dtype=F64)}
    g = {"W": torch.tensor([[[0.01, 0.01], [10.0, 0.0]]], dtype=F64)}
    clipped, _, metrics = adaptive_clip(0.1).update(g, torch.zeros(1, dtype=torch.int64), _context(w))
    assert torch.equal(clipped["W"][0, 0], g["W"][0, 0])
    torch.testing.assert_close(clipped["W"][0, 1], torch.tensor([0.1 * math.sqrt(2), 0.0], dtype=F64))
    assert metrics["adaptive_clip/fired"].tolist() == [1.0]


@pytest.mark.parametrize(("kwargs", "match"), [({"ratio": 0.0}, "ratio"), ({"ratio": 0.1, "eps": -1.0}, "eps")])
def test_adaptive_clip_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        adaptive_clip(**kwargs)
