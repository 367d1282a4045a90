"""Forecasting: the price equation, window layout, split, standardization, persistence baseline, checks."""

import math

import pytest
import torch

from gradtrace.tasks import FORECAST_SERIES, TASKS, Forecast, mackey_glass, make_task, member_loss, price_series

F64 = torch.float64
SMALL = {"length": 300, "window": 6}  # Mackey-Glass integration stays cheap at this length


def test_price_series_follows_its_equation():
    drift, volatility, amplitude, period = 1e-3, 0.02, 0.1, 20.0
    price = price_series(50, drift=drift, volatility=volatility, amplitude=amplitude, period=period,
                         initial=10.0, seed=3)
    assert price.shape == (50,) and price.dtype == F64 and float(price[0]) == 10.0
    t = torch.arange(50, dtype=F64)
    seasonal = amplitude * torch.sin(2 * math.pi * t / period)
    noise = ((price.log() - seasonal).diff() - (drift - volatility**2 / 2)) / volatility
    expected = torch.randn(49, generator=torch.Generator().manual_seed(3), dtype=F64)
    torch.testing.assert_close(noise, expected)


def test_price_series_is_deterministic_and_pure_gbm_without_volatility_or_season():
    assert torch.equal(price_series(100, seed=1), price_series(100, seed=1))
    assert not torch.equal(price_series(100, seed=1), price_series(100, seed=2))
    assert price_series(10, dtype=torch.float32).dtype == torch.float32
    steady = price_series(5, drift=0.01, volatility=0.0, amplitude=0.0)
    torch.testing.assert_close(steady, 100 * torch.exp(0.01 * torch.arange(5, dtype=F64)))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"length": 0}, ValueError, r"`length` must be at least 1, got 0"),
        ({"volatility": -0.1}, ValueError, r"`volatility` must be at least 0\.0"),
        ({"amplitude": -1.0}, ValueError, r"`amplitude` must be at least 0\.0"),
        ({"period": 0.0}, ValueError, r"`period` must be greater than 0\.0"),
        ({"initial": 0.0}, ValueError, r"`initial` must be greater than 0\.0"),
        ({"drift": float("nan")}, ValueError, r"`drift` must be finite"),
        ({"seed": -1}, ValueError, r"`seed` must be at least 0"),
        ({"dtype": torch.int32}, TypeError, r"`dtype` must be a floating torch\.dtype"),
    ],
)
def test_invalid_price_arguments_raise(options, error, match):
    options = {"length": 10, **options}
    with pytest.raises(error, match=match):
        price_series(options.pop("length"), **options)


@pytest.mark.parametrize("series", FORECAST_SERIES)
def test_series_is_standardized_with_the_train_part(series):
    task = Forecast(series, **SMALL)
    x = task.series_values()
    raw = price_series(300, seed=0) if series == "price" else mackey_glass(300, seed=0)
    train = raw[:240]
    torch.testing.assert_close(x, (raw - train.mean()) / train.std(correction=0))
    assert x.dtype == F64 and x.shape == (300,)


@pytest.mark.parametrize("series", FORECAST_SERIES)
@pytest.mark.parametrize("split", ["train", "test"])
def test_windows_hold_the_last_values_and_target_the_next_one_in_the_split(series, split):
    task = Forecast(series, split=split, **SMALL)
    batch = task.sample(200, seed=0)
    assert (task.input_size, task.output_size, task.max_length) == (1, 1, 6)
    assert batch.inputs.shape == batch.targets.shape == (200, 6, 1) and batch.inputs.dtype == torch.float32
    expected_mask = torch.zeros(200, 6, dtype=torch.bool)
    expected_mask[:, -1] = True
    assert torch.equal(batch.mask, expected_mask) and batch.loss == "mse" and not task.needs_every_step
    assert torch.equal(batch.targets[:, :-1], torch.zeros(200, 5, 1))
    x = task.series_values().float()
    stretches = x.unfold(0, 7, 1)  # every run of window + 1 consecutive values
    sequences = torch.cat([batch.inputs[..., 0], batch.targets[:, -1]], dim=1)
    matches = (sequences[:, None] == stretches[None]).all(-1)  # (B, positions)
    assert bool(matches.any(1).all()), "every window is followed by its target in the series"
    positions = matches.float().argmax(1) + 6  # index j of the target x_j
    first, stop = (6, 240) if split == "train" else (240, 300)
    assert first <= int(positions.min()) and int(positions.max()) < stop


def test_windows_enumerates_the_split_and_sampling_is_seeded():
    task = Forecast("price", split="test", **SMALL)
    every = task.windows()
    assert every.inputs.shape == (60, 6, 1)
    x = task.series_values().float()
    assert torch.equal(every.targets[:, -1, 0], x[240:])
    assert torch.equal(every.inputs[0, :, 0], x[234:240])
    first = task.sample(16, seed=5)
    again = task.sample(16, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, task.sample(16, seed=6).inputs)
    assert not torch.equal(Forecast("price", seed=1, **SMALL).series_values(), task.series_values())


@pytest.mark.parametrize("series", FORECAST_SERIES)
@pytest.mark.parametrize("split", ["train", "test"])
def test_baseline_is_the_persistence_forecast_on_the_split(series, split):
    task = Forecast(series, split=split, **SMALL)
    every = task.windows()
    last_seen = every.inputs[None, :, -1]  # (K=1, N, 1): predict the last value of the window
    loss = float(member_loss(last_seen.double(), every)[0])
    assert loss == pytest.approx(task.baseline_loss, rel=1e-5)  # float32 windows against float64
    x = task.series_values()
    first, stop = (6, 240) if split == "train" else (240, 300)
    assert task.baseline_loss == pytest.approx(float((x[first:stop] - x[first - 1 : stop - 1]).square().mean()))


def test_correct_within_a_tenth_of_a_standard_deviation_and_score_per_member():
    task = Forecast(**SMALL)
    batch = task.sample(40, seed=1)
    target = batch.targets[:, -1]
    outputs = torch.stack([target, target + 0.09, target - 0.11])  # K = 3, last-step readout
    scores = task.score(outputs, batch)
    assert scores["task/accuracy"].tolist() == [1.0, 1.0, 0.0]
    assert scores["task/success"].tolist() == [True, True, False]
    torch.testing.assert_close(scores["task/loss"], torch.tensor([0.0, 0.0081, 0.0121]))
    assert task.correct(batch.targets[None], batch).all()  # per-step (K, B, T, O) outputs
    constant = torch.zeros(1, 40, 1)  # the train mean
    torch.testing.assert_close(task.correct(constant, batch)[0], target[:, 0].abs() <= 0.1)


def test_registered_and_described():
    assert TASKS["forecast"] is Forecast
    assert make_task("forecast", series="price", window=3) == Forecast("price", window=3)
    assert Forecast().describe() == (
        "forecast(series='mackey_glass', window=5, length=2000, split='train', train_fraction=0.8, seed=0)"
    )


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"series": "sunspots"}, ValueError,
         r"Unknown series 'sunspots' for `series`\. Available: 'mackey_glass', 'price'\."),
        ({"split": "valid"}, ValueError, r"Unknown split 'valid' for `split`\. Available: 'train', 'test'\."),
        ({"window": 0}, ValueError, r"`window` must be at least 1, got 0"),
        ({"window": 2.0}, TypeError, r"`window` must be an integer"),
        ({"length": 3}, ValueError, r"`length` must be at least 4, got 3"),
        ({"train_fraction": 1.0}, ValueError, r"`train_fraction` must lie in \(0, 1\), got 1\.0"),
        ({"train_fraction": 0.0}, ValueError, r"`train_fraction` must lie in \(0, 1\), got 0\.0"),
        ({"seed": -2}, ValueError, r"`seed` must be at least 0, got -2"),
        ({"window": 20, "length": 100}, ValueError,
         r"`window`=20 must be less than the number of points in each part of the split, here train 80 and "
         r"test 20 \(length=100, train_fraction=0\.8\); use a window below 20\."),
        ({"window": 5, "length": 100, "train_fraction": 0.04}, ValueError, r"here train 4 and test 96"),
    ],
)
def test_invalid_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        Forecast(**params)
