"""The forecast study's config, its course size, and the keys its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_int, check_real
from gradtrace.studies.base import StudyConfig
from gradtrace.tasks import FORECAST_SERIES

__all__ = ["MODELS", "QUICK", "SERIES", "ForecastConfig", "Key", "run_name"]

#: The forecasters compared, in the order the report shows them.
MODELS = ("mlp", "elman", "lstm", "esn")
#: The series forecast: chaotic Mackey-Glass (τ = 17) and a synthetic price (a random walk with a small seasonal term).
SERIES = FORECAST_SERIES


def run_name(series: str, model: str) -> str:
    """Return the name of the run of ``model`` on ``series``, e.g. ``"price-lstm"``."""
    return f"{series}-{model}"


class Key:
    """Names of the arrays and summary values a forecast run stores, defined once for the study, claims and figures."""

    # Arrays: test targets in order (N of them), values in the series' standardized units.
    TEST_POSITION = "test/position"          # (N,) time step of each test target
    TEST_TRUTH = "test/truth"                # (N,) x_j
    TEST_PERSISTENCE = "test/persistence"    # (N,) x_{j−1}
    TEST_PREDICTION = "test/prediction"      # (K, N) each member's forecast of x_j
    TEST_RMSE = "test/rmse"                  # (K,)
    TRAIN_RMSE = "train/rmse"                # (K,) over every window of the train part
    TRAINING_STEP = "eval/step"              # (m,) steps of the held-out evaluations during training
    TRAINING_LOSS = "task/loss"              # (m, K) the MSE of those evaluations (train part)
    # Summary values.
    SERIES = "series"
    MODEL = "model"
    SEEDS = "seeds"
    RMSE = "test/rmse"                       # median over the members
    PERSISTENCE_RMSE = "persistence_rmse"
    RATIO = "rmse_vs_persistence"            # median member's RMSE over persistence's, below 1 where it beats it
    RATIO_MIN = "rmse_vs_persistence_min"
    RATIO_MAX = "rmse_vs_persistence_max"
    BEATS = "beats_persistence"              # members whose RMSE is below persistence's
    TRAIN_RATIO = "train_rmse_vs_persistence"
    ORACLE_RATIO = "oracle_vs_persistence"   # price only: the forecaster that knows the seasonal term
    MEDIAN_MEMBER = "median_member"


class ForecastConfig(StudyConfig):
    """Sizes of the forecast study; the defaults are the course's (about 16 CPU seconds on one core).

    The series derive from ``seed`` too (Mackey-Glass's initial history, the price's noise), so another seed is
    another series as well as other starting weights.
    """

    series: tuple[str, ...] = SERIES
    models: tuple[str, ...] = MODELS
    window: int = 5                 # the course notes' window of the last five values
    length: int = 2000              # points per series: 1600 to train on, 400 to test (train_fraction 0.8)
    train_fraction: float = 0.8
    mlp_hidden: tuple[int, ...] = (32,)  # the window flattened into 5 inputs, one hidden layer
    hidden_size: int = 32           # Elman RNN and LSTM, fed the window one value per step
    activation: str = "tanh"
    # Adam on windows drawn afresh from the train part every step. 800 steps leave every trained model within a
    # few percent of persistence on the price and far below it on Mackey-Glass (the ESN's closed-form readout does
    # better still there); 1000 or 1500 changed neither, at up to twice the time.
    steps: int = 800
    lr: float = 5e-3
    batch_size: int = 64
    eval_batch_size: int = 256      # fit's held-out batch, from the train part, during training
    # ESN: an untrained reservoir, so a large one is cheap; inputs of unit variance would saturate tanh with
    # input_scaling 1, 0.5 keeps the units near their linear range.
    reservoir_size: int = 200
    esn_spectral_radius: float = 0.9
    esn_leak_rate: float = 1.0      # five steps from the zero state: no slow units needed
    esn_input_scaling: float = 0.5
    esn_ridge: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        for field, known in (("series", SERIES), ("models", MODELS)):
            chosen = getattr(self, field)
            unknown = [name for name in chosen if name not in known]
            if unknown or not chosen:
                raise ValueError(f"Unknown or no {field} {unknown or list(chosen)} in `{field}` of the forecast study. "
                                 f"Available: {', '.join(known)}.")
        check_int("window", self.window, minimum=1)
        check_int("length", self.length, minimum=4)
        fraction = check_real("train_fraction", self.train_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"`train_fraction` must lie in (0, 1), got {fraction}.")
        for field in ("hidden_size", "steps", "batch_size", "eval_batch_size", "reservoir_size"):
            check_int(field, getattr(self, field), minimum=1)
        if not self.mlp_hidden or any(width < 1 for width in self.mlp_hidden):
            raise ValueError(f"`mlp_hidden` must be one or more positive widths, got {list(self.mlp_hidden)}.")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_real("esn_ridge", self.esn_ridge, minimum=0.0)


#: A smoke test of a few seconds: the same models, far fewer steps and units.
QUICK = ForecastConfig(length=400, mlp_hidden=(16,), hidden_size=16, steps=60, reservoir_size=50, eval_batch_size=64)
