"""Sizes of the approximation study, its run names and the keys its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import ConfigError
from gradtrace.studies.base import StudyConfig

__all__ = [
    "CIRCLES",
    "CIRCLES_FEW",
    "FUNCTION_PROBLEMS",
    "PLANE_PROBLEMS",
    "PROBLEMS",
    "QUICK",
    "RECIPROCAL_LINEAR",
    "RECIPROCAL_LOG",
    "SIN",
    "SPIRAL",
    "SQUARE",
    "XOR_PROBLEMS",
    "XOR_SIGMOID",
    "XOR_TANH",
    "ApproximationConfig",
]

# Run names, one per problem.
XOR_SIGMOID = "xor-sigmoid"
XOR_TANH = "xor-tanh"
CIRCLES_FEW = "circles-few-units"  # too few hidden units to close a boundary: the contrast
CIRCLES = "circles"
SPIRAL = "spiral"
SQUARE = "square"
SIN = "sin"
RECIPROCAL_LINEAR = "reciprocal-linear"  # 1/x fed x on a linear scale: the setup that fails
RECIPROCAL_LOG = "reciprocal-log"  # 1/x fed ln x, trained on points even in ln x: what it took

#: Every problem, in the order the report shows them.
PROBLEMS = (XOR_SIGMOID, XOR_TANH, CIRCLES_FEW, CIRCLES, SPIRAL, SQUARE, SIN, RECIPROCAL_LINEAR, RECIPROCAL_LOG)
#: The XOR problems: the 2-2-1 network with each activation.
XOR_PROBLEMS = (XOR_SIGMOID, XOR_TANH)
#: The problems whose inputs are points of the plane (a decision surface is drawn for them).
PLANE_PROBLEMS = (XOR_SIGMOID, XOR_TANH, CIRCLES_FEW, CIRCLES, SPIRAL)
#: The function-fitting problems (a fitted curve is drawn for them).
FUNCTION_PROBLEMS = (SQUARE, SIN, RECIPROCAL_LINEAR, RECIPROCAL_LOG)

# Summary keys.
NETWORK = "network"
SEEDS = "seeds"
SUCCESSES = "successes"
SUCCESS_LOW = "success_low"
SUCCESS_HIGH = "success_high"
STEPS = "steps"
BASELINE_LOSS = "baseline_loss"
SOLVED_AT = "solved_at"
STALLED = "stalled"
ACCURACY = "accuracy"  # median over seeds
ACCURACY_MIN = "accuracy_min"
ACCURACY_MAX = "accuracy_max"
MEDIAN_MEMBER = "median_member"
RMSE = "rmse"  # median over seeds
MAX_ERROR = "max_error"  # median over seeds of each seed's largest |error| on the grid
WORST_MAX_ERROR = "worst_max_error"
WORST_AT = "worst_at"  # x where the median seed's largest error lies
TOLERANCE = "tolerance"

# Array keys.
EVAL_STEP = "eval/step"  # (T,) steps at which fit evaluated a held-out batch
EVAL_LOSS = "task/loss"  # (T, K) held-out loss of each seed during training
SOLVED_STEP = "solved_at"  # (K,) first evaluation at which a seed met its task's criterion, −1 never
DIVERGED_AT = "diverged_at"  # (K,)
SUCCESS = "success"  # (K,) the study's criterion, per seed
TEST_LOSS = "test/loss"  # (K,)
TEST_ACCURACY = "test/accuracy"  # (K,)
GRID_X = "grid/x"  # (G,)
GRID_Y = "grid/y"  # (G,)
GRID_VALUE = "grid/value"  # (K, G, G): ŷ for XOR, P(class 1) for the classifiers
POINTS_INPUTS = "points/inputs"  # (N, 2) the held-out points (XOR: the four of the truth table)
POINTS_LABEL = "points/label"  # (N,)
XOR_OUTPUTS = "xor/outputs"  # (K, 4) ŷ on 00, 01, 10, 11
XOR_STALLED = "xor/stalled"  # (K,) not fitted, on a plateau of the loss
CURVE_X = "curve/x"  # (n,) an even grid of the domain
CURVE_TRUTH = "curve/truth"  # (n,)
CURVE_FIT = "curve/fit"  # (K, n)
ERROR_MAX = "error/max"  # (K,)
ERROR_RMSE = "error/rmse"  # (K,)


class ApproximationConfig(StudyConfig):
    """Sizes of the approximation study (the defaults run in about 30 CPU seconds).

    Every network trains with Adam on a fixed set of examples per seed, in epochs; seeds differ in their
    initialization and their draw of the examples (seed k of a run from ``seed + k``). XOR runs its own number
    of seeds, ``xor_seeds``: its success rate is the point, and a 2-2-1 network costs nothing per seed. The
    other problems run as many seeds as the study is asked for.

    Raises:
        ConfigError: for a problem not in :data:`PROBLEMS`.
    """

    problems: tuple[str, ...] = PROBLEMS
    # XOR: the 2-2-1 network of Rumelhart, Hinton & Williams (1986). 100 seeds pin its success rate within
    # about ±8 % (95 %). Seeds that fit it do so within a few hundred steps; the others sit on a plateau of
    # the loss that they do not leave in the last stall_steps.
    xor_seeds: int = 100
    xor_steps: int = 1000
    xor_lr: float = 0.05
    xor_examples: int = 64  # 16 draws of each point: full-batch descent on the truth table
    xor_margin: float = 0.1  # a seed fits XOR when every output is within this of its label
    # A seed stalls when it ends above this loss (1/8 is two points answered 1/2; 1/4 the best constant)
    # and its loss moved less than stall_change over the last stall_steps steps: a plateau that long. A run
    # shorter than stall_steps calls no seed stalled.
    plateau_loss: float = 0.1
    stall_change: float = 0.01
    stall_steps: int = 500
    # Circles: 4 tanh units close a boundary around the inner circle, as in the course notes; 2 units draw
    # at most two lines' worth of boundary, which cannot enclose it.
    circles_hidden: int = 4
    circles_few_hidden: int = 2
    circles_steps: int = 1000
    circles_lr: float = 0.03
    # Spiral: a boundary that winds 1.5 turns around the origin, learned by two layers. Noise 0.03 (the task's
    # default is 0.05) keeps the best possible accuracy near 100 %, so 99 % measures the network, not the noise.
    spiral_hidden: tuple[int, ...] = (32, 32)
    spiral_noise: float = 0.03
    spiral_steps: int = 1500
    spiral_lr: float = 0.01
    plane_activation: str = "tanh"
    plane_examples: int = 2000  # per seed; the spiral's arms need the density to be traced
    plane_batch_size: int = 200
    # Functions: one hidden layer, the form of the theorem (Cybenko 1989; Hornik et al. 1989).
    function_hidden: int = 32
    function_activation: str = "tanh"
    function_steps: int = 3000
    function_lr: float = 0.01
    function_examples: int = 1000
    function_batch_size: int = 100
    test_points: int = 2000  # held-out points of the 2-D tasks, shared by all seeds
    plane_grid: int = 81  # the decision surface is evaluated on plane_grid × plane_grid points
    curve_points: int = 401  # even grid of each function's domain: the fitted curves and their errors
    eval_batch_size: int = 256  # fit's held-out batch, evaluated during training
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [problem for problem in self.problems if problem not in PROBLEMS]
        if unknown:
            raise ConfigError(f"Unknown problem(s) {unknown} in the approximation study. "
                              f"Available: {', '.join(PROBLEMS)}.")


# A smoke test in seconds: every problem, a few seeds, a few hundred steps. Nothing is fitted at this size.
QUICK = ApproximationConfig(xor_seeds=8, xor_steps=150, circles_steps=100, spiral_hidden=(16,), spiral_steps=100,
                            plane_examples=400, plane_batch_size=100, function_hidden=16, function_steps=100,
                            function_examples=200, test_points=300, plane_grid=31, curve_points=101,
                            eval_batch_size=64)
