"""Universal approximation as the slides show it: XOR, circles, spirals and three functions fitted by MLPs.

A network with one hidden layer of enough units can approximate any continuous function on a
compact set (Cybenko 1989; Hornik, Stinchcombe & White 1989). The theorem says such weights exist,
not that gradient descent finds them: the 2-2-1 XOR network has local minima that some seeds fall
into, and a function that turns sharply on a small part of its domain (1/x near x = 1) is fitted
last. This study measures both sides, over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.stats import wilson_interval
from gradtrace.tasks import XOR, Batch, Circles, FunctionFit, Spiral, Task
from gradtrace.train import Run, fit

__all__ = ["PROBLEMS", "Approximation", "ApproximationConfig", "network_label"]

#: The problems of the study, in the order the report shows them, with their labels.
PROBLEMS = {
    "xor-sigmoid": "XOR",
    "xor-tanh": "XOR",
    "circles": "circles",
    "spiral": "two spirals",
    "square": "x² on [−1, 1]",
    "reciprocal": "1/x on [1, 100]",
    "sin": "sin x on [1, 2π]",
}
#: The problems whose inputs are points of the plane (a decision surface is drawn for them).
PLANE_PROBLEMS = ("xor-sigmoid", "xor-tanh", "circles", "spiral")
#: The function-fitting problems (a fitted curve is drawn for them).
FUNCTION_PROBLEMS = ("square", "reciprocal", "sin")
# Seed offset of the held-out points of the 2-D tasks: apart from the training streams (seed + k)
# and from fit's evaluation batches (seed + k + 1_000_003).
_TEST_SEED_OFFSET = 7919
# Margin around the held-out points of the plane drawn as the decision surface, as a fraction of
# their extent: the boundary's shape away from the data is part of what a network learned.
_PLANE_MARGIN = 0.25


class ApproximationConfig(StudyConfig):
    """Sizes of the approximation study (the defaults take about a minute on 2 idle CPU cores).

    Every network trains with Adam on a fixed set of examples per member, in epochs; members differ
    in their initialization and their draw of the examples (member k from seed + k).
    """

    problems: tuple[str, ...] = tuple(PROBLEMS)
    # XOR: the 2-2-1 network of Rumelhart, Hinton & Williams (1986). Measured with 50 seeds, every
    # member that solves it has done so by step ~300; those that have not are in a local minimum
    # (loss 1/8 or 1/6) and still there at step 5000, so more steps would not change the count.
    xor_steps: int = 1000
    xor_lr: float = 0.05
    xor_examples: int = 64          # draws of the four points, about 16 each; full-batch descent on them
    # Circles: four tanh units are enough to close a boundary around the inner circle.
    circles_hidden: tuple[int, ...] = (4,)
    circles_steps: int = 1000
    # Spiral: a boundary that winds 1.5 times around the origin needs many more units, in two layers.
    spiral_hidden: tuple[int, ...] = (32, 32)
    spiral_steps: int = 1500
    plane_activation: str = "tanh"
    plane_lr: float = 0.01
    plane_examples: int = 2000      # per member; the spiral's arms need the density to be traced
    plane_batch_size: int = 200
    # Functions: one hidden layer, the form of the theorem.
    function_hidden: tuple[int, ...] = (32,)
    function_activation: str = "tanh"
    function_steps: int = 1500
    function_lr: float = 0.01
    function_examples: int = 1000   # uniform on the domain: only 1 % of them fall where 1/x drops from 1 to 1/2
    function_batch_size: int = 100
    test_points: int = 2000         # held-out points of the 2-D tasks, shared by all members
    plane_grid: int = 81            # the decision surface is evaluated on plane_grid × plane_grid points
    curve_points: int = 401         # task.grid(curve_points) for the fitted curves and their errors
    eval_batch_size: int = 256      # fit's held-out batch, evaluated during training
    seed: int = 0


# A first look in seconds: a few hundred steps in all and smaller nets; XOR keeps its 2-2-1 network.
# The 2-D nets and the functions are far from fitted at this budget.
QUICK = ApproximationConfig(xor_steps=150, circles_steps=100, spiral_hidden=(16,), spiral_steps=100,
                            plane_examples=400, plane_batch_size=100, function_hidden=(16,), function_steps=100,
                            function_examples=200, test_points=300, plane_grid=31, curve_points=101,
                            eval_batch_size=64)


class _Setup(NamedTuple):
    """How one problem is trained."""

    task: Task
    hidden: tuple[int, ...]
    activation: str
    steps: int
    lr: float
    examples: int
    batch_size: int


def _setup(problem: str, config: ApproximationConfig) -> _Setup:
    if problem.startswith("xor-"):
        # Full batch: the classic experiment is gradient descent on the whole truth table.
        return _Setup(XOR(), (2,), problem.removeprefix("xor-"), config.xor_steps, config.xor_lr,
                      config.xor_examples, config.xor_examples)
    if problem == "circles":
        return _Setup(Circles(), config.circles_hidden, config.plane_activation, config.circles_steps,
                      config.plane_lr, config.plane_examples, config.plane_batch_size)
    if problem == "spiral":
        return _Setup(Spiral(), config.spiral_hidden, config.plane_activation, config.spiral_steps,
                      config.plane_lr, config.plane_examples, config.plane_batch_size)
    return _Setup(FunctionFit(problem), config.function_hidden, config.function_activation, config.function_steps,
                  config.function_lr, config.function_examples, config.function_batch_size)


def network_label(input_size: int, hidden: tuple[int, ...], output_size: int, activation: str) -> str:
    """Return the course notes' name of an MLP, e.g. ``"2-2-1 sigmoid"``.

    Example:
        >>> network_label(2, (32, 32), 2, "tanh")
        '2-32-32-2 tanh'
    """
    return "-".join(str(n) for n in (input_size, *hidden, output_size)) + f" {activation}"


class Approximation(Study):
    """XOR, circles, two spirals and x², 1/x, sin x, each learned by an MLP ensemble of seeds.

    XOR by the 2-2-1 network (sigmoid and tanh), circles by 4 hidden units, the two spirals by two
    layers of 32, and the three functions by one hidden layer of 32 tanh units. For the 2-D tasks a
    run keeps each member's decision surface on a grid over the plane with the held-out points, and
    its accuracy on them; for the functions, each member's fitted curve on an even grid of the
    domain against the truth, with the largest and the root-mean-square error. Success per member:
    all four XOR points right; ≥ 99 % of held-out points right (circles, spirals); ≥ 99 % of the grid
    within 5 % of the function's range (functions). The success rate over seeds comes with its
    Wilson interval.
    """

    name = "approximation"
    config_class = ApproximationConfig
    quick_config = QUICK
    title = "Universal approximation: XOR, circles, spirals and three functions"
    description = ("MLP ensembles on XOR (the 2-2-1 net, sigmoid and tanh), circles (4 hidden units), two spirals "
                   "(32-32) and x², 1/x, sin x (one hidden layer of 32 tanh units): decision boundaries, fitted "
                   "curves against the truth, errors, and the success rate over seeds with a 95% Wilson interval "
                   "(the 2-2-1 net gets stuck in a local minimum for some seeds). Adam, about a thousand steps each.")
    # Cheap networks; enough seeds for XOR's success rate to mean something.
    default_seeds = 20

    summary_columns = (("network", "network", ""), ("solved", "successes", "d"), ("of", "seeds", "d"),
                       ("95% low", "success_low", ".0%"), ("95% high", "success_high", ".0%"),
                       ("accuracy", "accuracy", ".1%"), ("RMSE", "rmse", ".4f"), ("max |error|", "max_error", ".4f"),
                       ("steps", "steps", "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        unknown = [problem for problem in config.problems if problem not in PROBLEMS]
        if unknown:
            raise ValueError(f"Unknown problem(s) {unknown} in the approximation study. "
                             f"Available: {', '.join(PROBLEMS)}.")
        return [RunSpec(problem, _setup(problem, config).steps, _executor(config, problem, seeds))
                for problem in config.problems]


def _executor(config: ApproximationConfig, problem: str, seeds: int) -> Callable[[StepCallback | None], Outcome]:
    def execute(callback: StepCallback | None) -> Outcome:
        setup = _setup(problem, config)
        task = setup.task
        model = MLP(task.input_size, setup.hidden, task.output_size, activation=setup.activation,
                    num_models=seeds, seed=config.seed)
        network = network_label(task.input_size, setup.hidden, task.output_size, setup.activation)
        run_config = {**config.model_dump(), "problem": problem, "label": PROBLEMS[problem], "task": task.describe(),
                      "network": network, "hidden": list(setup.hidden), "activation": setup.activation,
                      "train_steps": setup.steps, "lr": setup.lr, "examples": setup.examples,
                      "batch_size": setup.batch_size, "seeds": seeds}
        try:
            run = fit(model, task, steps=setup.steps, lr=setup.lr, batch_size=setup.batch_size,
                      dataset_size=setup.examples, seed=config.seed, eval_batch_size=config.eval_batch_size,
                      callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(_training_arrays(error.partial), run_config, {},
                                                             "interrupted")) from None
        arrays = _training_arrays(run)
        model.eval()
        if problem in PLANE_PROBLEMS:
            measured, summary = _plane(model, task, config)
        else:
            measured, summary = _curve(model, task, config)
        arrays.update(measured)
        success = arrays["success"]
        successes = int(success.sum())
        low, high = wilson_interval(successes, seeds)
        summary = {
            "problem": problem, "network": network, "seeds": seeds, "successes": successes,
            "success_rate": successes / seeds, "success_low": low, "success_high": high, **summary,
            "steps": setup.steps, "baseline_loss": task.baseline_loss,
            "solved_at": _median_or_nan(arrays["solved_at"][arrays["solved_at"] >= 0]),
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _training_arrays(run: Run) -> dict[str, np.ndarray]:
    """The held-out loss during training and when each member first met the task's criterion."""
    steps, success = run.history["eval/step"], run.history["task/success"]
    solved = success == 1  # NaN for a diverged member counts as not solved
    first = np.where(solved.any(0), steps[np.argmax(solved, axis=0)] if len(steps) else -1, -1)
    return {
        "eval/step": steps,
        "task/loss": run.history["task/loss"],
        "solved_at": first.astype(np.int64),
        "diverged_at": run.diverged_at,
    }


def _median_or_nan(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else float("nan")


def _median_member(losses: np.ndarray) -> int:
    """Return the member whose loss is the median (the lower one for an even count), NaN last."""
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return int(order[(len(order) - 1) // 2])


def _plane(model: MLP, task: Task, config: ApproximationConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Score a 2-D task on held-out points and evaluate each member's decision surface on a grid."""
    test = task.points() if isinstance(task, XOR) else task.sample(config.test_points,
                                                                   seed=config.seed + _TEST_SEED_OFFSET)
    with torch.no_grad():
        metrics = task.score(model(test.inputs).outputs, test)
    points = test.inputs[:, 0].numpy()
    low, high = points.min(0), points.max(0)
    margin = _PLANE_MARGIN * (high - low)
    axes = [np.linspace(low[i] - margin[i], high[i] + margin[i], config.plane_grid) for i in range(2)]
    xx, yy = np.meshgrid(*axes)  # (G, G), rows along y
    grid = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], -1), dtype=test.inputs.dtype).unsqueeze(1)
    with torch.no_grad():
        outputs = model(grid).outputs  # (K, G·G, O)
    # XOR's output is ŷ itself, thresholded at 1/2; a classifier's is the probability of class 1.
    value = outputs[..., 0] if task.loss_kind == "mse" else outputs.softmax(-1)[..., 1]
    labels = test.targets[:, 0]
    if labels.is_floating_point():
        labels = labels[:, 0] > 0.5
    loss = metrics["task/loss"].double().numpy()
    accuracy = metrics["task/accuracy"].double().numpy()
    arrays = {
        "grid/x": axes[0], "grid/y": axes[1],
        "grid/value": value.reshape(-1, config.plane_grid, config.plane_grid).float().numpy(),
        "points/inputs": points, "points/label": labels.long().numpy(),
        "test/loss": loss, "test/accuracy": accuracy, "success": metrics["task/success"].numpy(),
    }
    summary = {"accuracy": float(np.median(accuracy)), "accuracy_min": float(np.min(accuracy)),
               "test/loss": float(np.nanmedian(loss)), "test_points": int(test.batch_size),
               "median_member": _median_member(loss)}
    return arrays, summary


def _curve(model: MLP, task: FunctionFit, config: ApproximationConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Evaluate each member on an even grid of the domain: the fitted curve, its errors, the criterion."""
    grid: Batch = task.grid(config.curve_points)
    with torch.no_grad():
        outputs = model(grid.inputs).outputs
        metrics = task.score(outputs, grid)
    fitted = outputs[..., 0].double().numpy()  # (K, n)
    truth = grid.targets[:, 0, 0].double().numpy()
    error = fitted - truth
    rmse = np.sqrt(np.mean(error**2, axis=1))
    largest = np.max(np.abs(error), axis=1)
    arrays = {
        "curve/x": task.raw_x(grid).double().numpy(), "curve/truth": truth, "curve/fit": fitted,
        "error/rmse": rmse, "error/max": largest, "test/accuracy": metrics["task/accuracy"].double().numpy(),
        "success": metrics["task/success"].numpy(),
    }
    summary = {"rmse": float(np.median(rmse)), "max_error": float(np.median(largest)),
               "worst_max_error": float(np.max(largest)), "tolerance": task.tolerance,
               "within_tolerance": float(np.median(arrays["test/accuracy"])),
               "baseline_rmse": float(np.sqrt(task.baseline_loss)), "median_member": _median_member(rmse)}
    return arrays, summary
