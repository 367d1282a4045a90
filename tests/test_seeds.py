"""Every public seed is checked against what torch's generators take: [0, 2**63 − 1 − (K − 1)] for K members."""

import pytest
import torch

import gradtrace as gt
from gradtrace.errors import MAX_SEED, check_seed
from gradtrace.init import orthogonal_, xavier_uniform_
from gradtrace.instruments import autonomous_trajectory
from gradtrace.studies.descent import dataset_of
from gradtrace.tasks import mackey_glass, price_series

HUGE = 2**70
TOO_LARGE = rf"`seed` must be at most \d+, got {HUGE}; the valid range is \[0, \d+\]"

SEEDED = {
    "ElmanRNN": lambda seed: gt.ElmanRNN(2, 3, 1, num_models=2, seed=seed),
    "LSTM": lambda seed: gt.LSTM(2, 3, 1, seed=seed),
    "GRU": lambda seed: gt.GRU(2, 3, 1, seed=seed),
    "ESN": lambda seed: gt.ESN(2, 3, 1, connectivity=1.0, seed=seed),
    "MLP": lambda seed: gt.MLP(2, [3], seed=seed),
    "xavier_uniform_": lambda seed: xavier_uniform_(torch.empty(2, 3, 3), seed=seed),
    "orthogonal_": lambda seed: orthogonal_(torch.empty(3, 3), seed=seed),
    "sample": lambda seed: gt.Adding(5).sample(2, seed=seed),
    "mackey_glass": lambda seed: mackey_glass(10, seed=seed),
    "price_series": lambda seed: price_series(10, seed=seed),
    "Forecast": lambda seed: gt.Forecast(seed=seed),
    "dataset_of": lambda seed: dataset_of(gt.FunctionFit("sin"), 4, 2, seed),
    "autonomous_trajectory": lambda seed: autonomous_trajectory(torch.eye(3)[None].repeat(2, 1, 1), 3, seed=seed),
}


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_a_seed_beyond_64_bits_is_refused_naming_seed_and_the_range(name):
    with pytest.raises(ValueError, match=TOO_LARGE):
        SEEDED[name](HUGE)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_a_negative_seed_is_refused_naming_seed(name):
    with pytest.raises(ValueError, match=r"`seed` must be at least 0, got -1; the valid range is \[0, \d+\]"):
        SEEDED[name](-1)


@pytest.mark.parametrize("name", ["ElmanRNN", "xavier_uniform_", "autonomous_trajectory", "dataset_of"])
def test_the_largest_seed_leaves_room_for_every_member(name):
    # Two members: seeds s and s + 1 must both fit.
    SEEDED[name](MAX_SEED - 1)
    with pytest.raises(ValueError, match=rf"at most {MAX_SEED - 1}, got {MAX_SEED}; .*2\*\*63 - 1 less 1, as "
                                         r"member k of 2 draws from `seed` \+ k"):
        SEEDED[name](MAX_SEED)


def test_the_largest_seed_of_a_single_model_is_accepted():
    assert gt.LSTM(2, 3, 1, seed=MAX_SEED).seed == MAX_SEED


@pytest.mark.parametrize("seed", [1.5, "0", None])
def test_a_seed_that_is_not_an_integer_is_a_type_error(seed):
    with pytest.raises(TypeError, match="`seed` must be an integer"):
        check_seed(seed)
