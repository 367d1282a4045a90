"""The Mackey-Glass series against a fine Euler oracle, and the one-step prediction task."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtrace.tasks import TASKS, MackeyGlass, mackey_glass, make_task, nrmse

F64 = torch.float64


def _euler(length, *, tau=17, beta=0.2, gamma=0.1, n=10, x0=1.2, dt=1e-3):
    """Forward Euler on a fine grid from the constant history x0, sampled at unit times 0..length−1."""
    delay, per_unit = round(tau / dt), round(1 / dt)
    xs = [x0] * (delay + 1)
    for i in range(delay, delay + (length - 1) * per_unit):
        lagged = xs[i - delay]
        xs.append(xs[i] + dt * (beta * lagged / (1 + lagged**n) - gamma * xs[i]))
    return torch.tensor(xs[delay::per_unit], dtype=F64)


def test_series_agrees_with_a_fine_euler_integration():
    ours = mackey_glass(60, discard=0)
    assert float(ours[0]) == 1.2
    # Euler's error is first order in dt (measured 5e-5 at dt = 1e-3), far below the series' spread.
    assert float((ours - _euler(60)).abs().max()) < 2e-4


def test_refining_the_step_changes_little_and_other_parameters_pass_through():
    coarse, fine = mackey_glass(40, dt=0.1, discard=0), mackey_glass(40, dt=0.02, discard=0)
    assert float((coarse - fine).abs().max()) < 1e-4  # measured 1.3e-5
    other = mackey_glass(50, tau=10, beta=0.25, gamma=0.12, n=8, x0=0.5, discard=0, dt=0.5)
    oracle = _euler(50, tau=10, beta=0.25, gamma=0.12, n=8, x0=0.5, dt=2e-3)
    torch.testing.assert_close(other, oracle, rtol=0, atol=1e-3)  # measured 3e-4


def test_series_is_deterministic_and_the_seed_only_perturbs_the_history():
    assert torch.equal(mackey_glass(100), mackey_glass(100))
    assert torch.equal(mackey_glass(100, seed=3), mackey_glass(100, seed=3))
    assert not torch.allclose(mackey_glass(100, seed=3), mackey_glass(100, seed=4))
    start = mackey_glass(5, seed=3, discard=0)
    assert abs(float(start[0]) - 1.2) <= 0.1  # x(0) is a perturbed history point
    assert mackey_glass(10, dtype=torch.float32).dtype == torch.float32


def test_series_is_chaotic_but_bounded_on_the_attractor():
    x = mackey_glass(2000)
    assert 0.2 < float(x.min()) and float(x.max()) < 1.5
    assert 0.2 < float(x.std()) < 0.25


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"length": 0}, ValueError, r"`length` must be at least 1, got 0"),
        ({"tau": 0.0}, ValueError, r"`tau` must be greater than 0"),
        ({"tau": 17.05}, ValueError, r"`tau`=17\.05 must be a whole number of integration steps dt=0\.1"),
        ({"dt": 0.3}, ValueError, r"`1 \(the sampling interval\)`=1\.0 must be a whole number of integration steps"),
        ({"dt": 0.0}, ValueError, r"`dt` must be greater than 0"),
        ({"dt": 2.0}, ValueError, r"`dt` must be at most 1\.0"),
        ({"discard": -1}, ValueError, r"`discard` must be at least 0"),
        ({"gamma": -0.1}, ValueError, r"`gamma` must be greater than 0"),
        ({"seed": -1}, ValueError, r"`seed` must be at least 0"),
        ({"dtype": torch.long}, TypeError, r"`dtype` must be a floating torch\.dtype"),
        ({"length": 10.0}, TypeError, r"`length` must be an integer"),
    ],
)
def test_invalid_series_arguments_raise(options, error, match):
    options = {"length": 10, **options}
    with pytest.raises(error, match=match):
        mackey_glass(options.pop("length"), **options)


def test_task_windows_predict_the_next_value_at_every_step():
    task = MackeyGlass(30, series_length=500)
    batch = task.sample(4, seed=0)
    assert batch.inputs.shape == batch.targets.shape == (4, 30, 1)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    assert batch.mask.all() and batch.loss == "mse" and task.needs_every_step
    series = task.series.to(batch.inputs.dtype)
    for window in batch.inputs[..., 0]:  # each window is a stretch of the pre-computed series
        starts = [o for o in range(500 - 30) if torch.equal(series[o : o + 30], window)]
        assert len(starts) == 1
    assert torch.equal(task.sample(4, seed=0).inputs, batch.inputs)
    assert not torch.equal(task.sample(4, seed=1).inputs, batch.inputs)


def test_baseline_is_the_persistence_forecast_and_correct_needs_a_small_nrmse():
    task = MackeyGlass(50)
    x = task.series
    assert task.baseline_loss == pytest.approx(float((x[1:] - x[:-1]).square().mean()))
    assert 5e-4 < task.baseline_loss < 2e-3
    batch = task.sample(6, seed=2)
    persistence = batch.inputs[None].expand(2, -1, -1, -1)  # x̂_{t+1} = x_t, two members
    scores = task.score(persistence, batch)
    torch.testing.assert_close(scores["task/loss"].double(), torch.full((2,), task.baseline_loss, dtype=F64),
                               rtol=0.5, atol=0)
    assert not task.correct(persistence, batch).any()
    perfect = batch.targets[None] + 0.01 * x.std().float()  # NRMSE 0.01
    assert task.correct(perfect, batch).all()


def test_task_is_registered_and_validates_its_fields():
    assert TASKS["mackey_glass"] is MackeyGlass
    assert make_task("mackey_glass", length=20, tau=30) == MackeyGlass(20, tau=30)
    with pytest.raises(ValueError, match=r"`series_length` must be at least 101, got 100"):
        MackeyGlass(100, series_length=100)
    with pytest.raises(ValueError, match=r"`tau` must be greater than 0"):
        MackeyGlass(10, tau=-1.0)


def test_nrmse_of_simple_cases():
    target = torch.tensor([[0.0], [2.0]])
    assert float(nrmse(target, target)) == 0.0
    assert float(nrmse(torch.ones(2, 1), target)) == pytest.approx(1.0)  # predicting the mean
    members = torch.stack([target + 0.5, target - 1.0])  # (K, T, O) against a shared (T, O) target
    torch.testing.assert_close(nrmse(members, target), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"`prediction` \(3, 1\) and `target` \(2, 1\) do not broadcast"):
        nrmse(torch.zeros(3, 1), target)
    with pytest.raises(ValueError, match=r"`target` must be a tensor of shape \(\.\.\., T, O\)"):
        nrmse(torch.zeros(3, 1), torch.zeros(3))


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(0.01, 100.0), shift=st.floats(-10.0, 10.0), seed=st.integers(0, 1000))
def test_nrmse_ignores_the_units_and_the_offset_of_the_series(scale, shift, seed):
    generator = torch.Generator().manual_seed(seed)
    target, prediction = torch.randn(2, 20, 2, generator=generator, dtype=F64).unbind(0)
    moved = nrmse(prediction * scale + shift, target * scale + shift)
    assert math.isclose(float(moved), float(nrmse(prediction, target)), rel_tol=1e-9)
