"""Function fitting: targets f(x), the [−1, 1] input map, grid, variance baseline, tolerance, checks."""

import math

import pytest
import torch

from gradtrace.tasks import FIT_FUNCTIONS, TASKS, FunctionFit, make_task, member_loss

FUNCTIONS = {"square": torch.square, "reciprocal": torch.reciprocal, "sin": torch.sin}


def _variance_of_sin(low, high):
    width = high - low
    mean = (math.cos(low) - math.cos(high)) / width
    mean_square = 0.5 - (math.sin(2 * high) - math.sin(2 * low)) / (4 * width)
    return mean_square - mean**2


def test_default_domains_are_the_course_notes_examples():
    assert FIT_FUNCTIONS == {"square": (-1.0, 1.0), "reciprocal": (1.0, 100.0), "sin": (1.0, 2 * math.pi)}
    assert FunctionFit().domain == (-1.0, 1.0)
    assert FunctionFit("sin", low=0.0).domain == (0.0, 2 * math.pi)


@pytest.mark.parametrize("function", sorted(FIT_FUNCTIONS))
def test_raw_inputs_are_uniform_on_the_domain_and_targets_are_f_of_x(function):
    task = FunctionFit(function, normalize=False)
    batch = task.sample(2000, seed=0)
    assert (task.input_size, task.output_size, task.max_length) == (1, 1, 1)
    assert batch.inputs.shape == batch.targets.shape == (2000, 1, 1) and batch.inputs.dtype == torch.float32
    assert batch.mask.shape == (2000, 1) and bool(batch.mask.all()) and batch.loss == "mse"
    x = batch.inputs[:, 0, 0]
    low, high = task.domain
    assert low <= float(x.min()) < low + 0.01 * (high - low) and high - 0.01 * (high - low) < float(x.max()) <= high
    assert torch.equal(task.raw_x(batch), x)
    assert torch.equal(batch.targets[:, 0, 0], FUNCTIONS[function](x))


@pytest.mark.parametrize("function", sorted(FIT_FUNCTIONS))
def test_normalize_maps_the_domain_onto_minus_one_one_and_keeps_raw_targets(function):
    raw, fed = FunctionFit(function, normalize=False), FunctionFit(function)
    batch_raw, batch = raw.sample(500, seed=1), fed.sample(500, seed=1)
    low, high = fed.domain
    expected = 2 * (batch_raw.inputs - low) / (high - low) - 1
    torch.testing.assert_close(batch.inputs, expected)
    assert float(batch.inputs.min()) >= -1 and float(batch.inputs.max()) <= 1
    assert torch.equal(batch.targets, batch_raw.targets)
    torch.testing.assert_close(fed.raw_x(batch), batch_raw.inputs[:, 0, 0])


def test_same_seed_same_batch_other_seed_other_batch():
    task = FunctionFit("sin")
    first = task.sample(32, seed=7)
    again = task.sample(32, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, task.sample(32, seed=8).inputs)


@pytest.mark.parametrize("normalize", [True, False])
def test_grid_is_evenly_spaced_over_the_domain(normalize):
    task = FunctionFit("reciprocal", low=2.0, high=4.0, normalize=normalize)
    batch = task.grid(5)
    x = task.raw_x(batch)
    torch.testing.assert_close(x, torch.tensor([2.0, 2.5, 3.0, 3.5, 4.0]))
    torch.testing.assert_close(batch.targets[:, 0, 0], 1 / x)
    if normalize:
        torch.testing.assert_close(batch.inputs[:, 0, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))


@pytest.mark.parametrize(
    ("task", "variance"),
    [
        (FunctionFit("square"), 1 / 5 - 1 / 9),
        (FunctionFit("square", low=0.0, high=2.0), 16 / 5 - 16 / 9),
        (FunctionFit("reciprocal"), (1 - 1 / 100) / 99 - (math.log(100) / 99) ** 2),
        (FunctionFit("sin"), _variance_of_sin(1.0, 2 * math.pi)),
        (FunctionFit("sin", low=-3.0, high=0.5), _variance_of_sin(-3.0, 0.5)),
    ],
    ids=["square", "square_on_0_2", "reciprocal", "sin", "sin_on_-3_0.5"],
)
def test_baseline_is_the_variance_of_f_over_the_domain(task, variance):
    assert task.baseline_loss == pytest.approx(variance, rel=1e-8)
    batch = task.sample(20_000, seed=3)
    mean = torch.full((1, 20_000, 1), float(batch.targets.mean()))
    assert float(member_loss(mean, batch)[0]) == pytest.approx(variance, rel=0.05)


@pytest.mark.parametrize(
    ("function", "spread"), [("square", 1.0), ("reciprocal", 0.99), ("sin", 2.0)]
)
def test_correct_within_five_percent_of_the_range_of_f(function, spread):
    task = FunctionFit(function)
    assert task.tolerance == pytest.approx(0.05 * spread, rel=1e-6)
    batch = task.sample(50, seed=4)
    target = batch.targets[:, -1]
    outputs = torch.stack([target, target + 0.049 * spread, target - 0.051 * spread])  # K = 3
    scores = task.score(outputs, batch)
    assert scores["task/accuracy"].tolist() == [1.0, 1.0, 0.0]
    assert scores["task/success"].tolist() == [True, True, False]
    assert scores["task/loss"][0] == 0.0
    assert task.correct(batch.targets[None], batch).all()  # per-step (K, B, T, O) outputs


def test_constant_output_is_correct_only_near_the_constant():
    task = FunctionFit("square")
    batch = task.grid(201)  # x = -1, -0.99, ..., 1
    correct = task.correct(torch.zeros(1, 201, 1), batch)[0]
    x = task.raw_x(batch)
    assert torch.equal(correct, x.square() <= task.tolerance)
    assert int(correct.sum()) == 45  # |x| ≤ √0.05 ≈ 0.2236 holds for 22 grid points each side and 0


def test_registered_and_described():
    assert TASKS["function_fit"] is FunctionFit
    assert make_task("function_fit", function="sin") == FunctionFit("sin")
    assert FunctionFit("sin").describe() == ("function_fit(function='sin', low=None, high=None, normalize=True, "
                                             "scale='linear')")


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"function": "cube"}, ValueError,
         r"Unknown function 'cube' for `function`\. Available: 'square', 'reciprocal', 'sin'\."),
        ({"low": 1.0, "high": 1.0}, ValueError, r"`low` must be less than `high`, got low=1\.0 and high=1\.0"),
        ({"function": "reciprocal", "low": 200.0}, ValueError,
         r"`low` must be less than `high`, got low=200\.0 and high=100\.0"),
        ({"function": "reciprocal", "low": -1.0, "high": 1.0}, ValueError,
         r"`low`=-1\.0 and `high`=1\.0 give a domain that contains the pole of 'reciprocal' at x = 0\.0; "
         r"choose both ends on one side of it \(0\.0 < low < high or low < high < 0\.0\)"),
        ({"function": "reciprocal", "low": 0.0}, ValueError, r"contains the pole of 'reciprocal' at x = 0\.0"),
        ({"function": "reciprocal", "low": -5.0, "high": 0.0}, ValueError, r"contains the pole"),
        ({"low": float("-inf")}, ValueError, r"`low` must be finite"),
        ({"high": "2"}, TypeError, r"`high` must be a real number, got '2'"),
        ({"normalize": 1}, TypeError, r"`normalize` must be a bool, got 1"),
        ({"scale": "decibel"}, ValueError, r"Unknown scale 'decibel' for `scale`\. Available: 'linear', 'log'\."),
        ({"function": "sin", "low": -1.0, "scale": "log"}, ValueError,
         r"`scale`='log' draws x evenly in ln x, so the domain must be positive; got low=-1\.0"),
    ],
)
def test_invalid_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        FunctionFit(**params)


def test_reciprocal_left_of_the_pole_is_allowed_and_grid_checks_n():
    task = FunctionFit("reciprocal", low=-10.0, high=-1.0)
    assert float(task.grid(2).targets[0, 0, 0]) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match=r"`n` must be at least 2, got 1"):
        task.grid(1)
    with pytest.raises(TypeError, match=r"`n` must be an integer"):
        task.grid(2.5)


def test_log_scale_draws_evenly_in_ln_x_and_feeds_ln_x():
    task = FunctionFit("reciprocal", scale="log")
    batch = task.sample(20_000, seed=0)
    x = task.raw_x(batch)
    # Evenly in ln x: each decade of [1, 100] holds half of the points (uniform x would put 9 % in the first).
    assert float((x < 10).double().mean()) == pytest.approx(0.5, abs=0.02)
    fed = batch.inputs[:, 0, 0]
    torch.testing.assert_close(fed, 2 * x.log() / math.log(100.0) - 1, rtol=0, atol=1e-5)
    torch.testing.assert_close(batch.targets[:, 0, 0], 1 / x)
    # The grid stays even in x, so errors are measured where the course's plots put them.
    torch.testing.assert_close(task.raw_x(task.grid(5)), torch.linspace(1.0, 100.0, 5))


def test_log_scale_baseline_is_the_variance_under_log_uniform_x():
    task = FunctionFit("reciprocal", scale="log")
    # ln x ~ U[0, L] with L = ln 100: E[1/x] = (1 − 1/100)/L, E[1/x²] = (1 − 1/100²)/(2L).
    span = math.log(100.0)
    mean, square = 0.99 / span, 0.9999 / (2 * span)
    assert task.baseline_loss == pytest.approx(square - mean**2, rel=1e-6)
    assert task.tolerance == FunctionFit("reciprocal").tolerance  # 5 % of the same range
