"""Universal approximation as the course notes show it: XOR, circles, spirals and three functions fitted by MLPs.

A network with one hidden layer of enough units can approximate any continuous function on a compact set
(Cybenko 1989; Hornik, Stinchcombe & White 1989). The theorem says such weights exist, not that gradient
descent finds them: the 2-2-1 XOR network stalls on a plateau of its loss for some seeds, too few units cannot
draw the boundary at all, and a function whose change is packed into a small part of its domain (1/x near
x = 1) is only fitted once the network sees x on the scale where the function changes evenly (ln x). This
study measures each side, over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import MLP
from gradtrace.studies.approximation import config as keys
from gradtrace.studies.approximation.claims import approximation_claims
from gradtrace.studies.approximation.config import (
    CIRCLES,
    CIRCLES_FEW,
    QUICK,
    RECIPROCAL_LINEAR,
    RECIPROCAL_LOG,
    SIN,
    SPIRAL,
    SQUARE,
    XOR_PROBLEMS,
    ApproximationConfig,
)
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, run_arrays
from gradtrace.studies.claims import Claim
from gradtrace.studies.stats import wilson_interval
from gradtrace.tasks import XOR, Batch, Circles, FunctionFit, Spiral, Task
from gradtrace.train import Run, fit

__all__ = ["Approximation", "ApproximationConfig", "network_label"]

# Seed offset of the held-out points of the 2-D tasks: apart from the training streams (seed + k)
# and from fit's evaluation batches (seed + k + 1_000_003).
_TEST_SEED_OFFSET = 7919
# Margin around the held-out points of the plane drawn as the decision surface, as a fraction of
# their extent: the boundary's shape away from the data is part of what a network learned.
_PLANE_MARGIN = 0.25


class _Setup(NamedTuple):
    """How one problem is trained."""

    task: Task
    hidden: tuple[int, ...]
    activation: str
    steps: int
    lr: float
    examples: int
    batch_size: int
    seeds: int


def _setup(problem: str, config: ApproximationConfig, seeds: int) -> _Setup:
    if problem in XOR_PROBLEMS:
        # Full batch: the classic experiment is gradient descent on the whole truth table.
        return _Setup(XOR(), (2,), problem.removeprefix("xor-"), config.xor_steps, config.xor_lr,
                      config.xor_examples, config.xor_examples, config.xor_seeds)
    plane = (config.plane_activation, config.plane_examples, config.plane_batch_size, seeds)
    if problem in (CIRCLES, CIRCLES_FEW):
        hidden = config.circles_hidden if problem == CIRCLES else config.circles_few_hidden
        return _Setup(Circles(), (hidden,), plane[0], config.circles_steps, config.circles_lr, *plane[1:])
    if problem == SPIRAL:
        return _Setup(Spiral(noise=config.spiral_noise), config.spiral_hidden, plane[0], config.spiral_steps,
                      config.spiral_lr, *plane[1:])
    function, scale = {SQUARE: ("square", "linear"), SIN: ("sin", "linear"),
                       RECIPROCAL_LINEAR: ("reciprocal", "linear"), RECIPROCAL_LOG: ("reciprocal", "log")}[problem]
    return _Setup(FunctionFit(function, scale=scale), (config.function_hidden,), config.function_activation,
                  config.function_steps, config.function_lr, config.function_examples, config.function_batch_size,
                  seeds)


def network_label(input_size: int, hidden: tuple[int, ...], output_size: int, activation: str) -> str:
    """Return the course notes' name of an MLP, e.g. ``"2-2-1 sigmoid"``.

    Example:
        >>> network_label(2, (32, 32), 2, "tanh")
        '2-32-32-2 tanh'
    """
    return "-".join(str(n) for n in (input_size, *hidden, output_size)) + f" {activation}"


class Approximation(Study):
    """XOR, circles, two spirals and x², sin x, 1/x, each learned by an MLP ensemble of seeds.

    XOR by the 2-2-1 network (sigmoid and tanh); circles by 4 hidden units, against 2; the two spirals by two
    layers of 32; the three functions by one hidden layer of 32 tanh units, 1/x twice: fed x on a linear scale,
    and fed ln x with training points spread evenly in ln x. For the 2-D tasks a run keeps each seed's decision
    surface on a grid over the plane with the held-out points, and its accuracy on them; for the functions,
    each seed's fitted curve on an even grid of the domain against the truth, with the largest and the
    root-mean-square error. A seed succeeds when every XOR output is within ``xor_margin`` of its label,
    when ≥ 99 % of the held-out points are right (circles, spirals), or when its largest error on the grid is
    within 5 % of the function's range (functions). The success rate over seeds comes with its Wilson interval.
    """

    name = "approximation"
    config_class = ApproximationConfig
    quick_config = QUICK
    title = "Universal approximation: XOR, circles, spirals and three functions"
    description = ("MLP ensembles on XOR (the 2-2-1 net, sigmoid and tanh), circles (4 hidden units against 2), two "
                   "spirals (32-32) and x², sin x and 1/x on [1, 100] (one hidden layer of 32 tanh units; 1/x fed x "
                   "and fed ln x): decision boundaries, fitted curves against the truth, errors, and the success "
                   "rate over seeds with a 95% Wilson interval.")
    text: ClassVar[dict[str, dict[str, str]]] = {
        "title": {"en": title,
                  "pt": "Aproximação universal: XOR, círculos, espirais e três funções"},
        "question": {
            "en": "A network with one hidden layer of enough units can approximate any continuous function: does "
                  "gradient descent find those weights, and what does it take when it does not?",
            "pt": "Uma rede com uma camada oculta de unidades suficientes aproxima qualquer função contínua: o "
                  "gradiente descendente encontra esses pesos, e o que é preciso quando não encontra?"},
        "description": {
            "en": description,
            "pt": "Conjuntos de MLPs no XOR (a rede 2-2-1, sigmoide e tanh), nos círculos concêntricos (4 unidades "
                  "ocultas contra 2), em duas espirais (32-32) e em x², sen x e 1/x em [1, 100] (uma camada oculta "
                  "de 32 unidades tanh; 1/x recebendo x e recebendo ln x): fronteiras de decisão, curvas ajustadas "
                  "contra a verdadeira, erros e a taxa de sucesso entre sementes com o intervalo de Wilson de 95%."},
    }
    # The seeds of every problem but XOR (which runs config.xor_seeds).
    default_seeds = 20

    summary_columns = (("network", keys.NETWORK, ""), ("solved", keys.SUCCESSES, "d"), ("of", keys.SEEDS, "d"),
                       ("95% low", keys.SUCCESS_LOW, ".0%"), ("95% high", keys.SUCCESS_HIGH, ".0%"),
                       ("accuracy", keys.ACCURACY, ".1%"), ("max |error|", keys.MAX_ERROR, ".4f"),
                       ("tolerance", keys.TOLERANCE, ".4f"), ("steps", keys.STEPS, "d"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(problem, _setup(problem, config, seeds).steps, _executor(config, problem, seeds))
                for problem in config.problems]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """What the runs of :meth:`plan` show (see :mod:`gradtrace.studies.approximation.claims`)."""
        return approximation_claims(self.resolve(quick))


def _executor(config: ApproximationConfig, problem: str, seeds: int) -> Callable[[StepCallback | None], Outcome]:
    def execute(callback: StepCallback | None) -> Outcome:
        setup = _setup(problem, config, seeds)
        task = setup.task
        model = MLP(task.input_size, setup.hidden, task.output_size, activation=setup.activation,
                    num_models=setup.seeds, seed=config.seed)
        network = network_label(task.input_size, setup.hidden, task.output_size, setup.activation)
        run_config = {**config.model_dump(), "problem": problem, "task": task.describe(), keys.NETWORK: network,
                      "hidden": list(setup.hidden), "activation": setup.activation, "train_steps": setup.steps,
                      "lr": setup.lr, "examples": setup.examples, "batch_size": setup.batch_size,
                      keys.SEEDS: setup.seeds}
        try:
            run = fit(model, task, steps=setup.steps, lr=setup.lr, batch_size=setup.batch_size,
                      dataset_size=setup.examples, seed=config.seed, eval_batch_size=config.eval_batch_size,
                      callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(_training_arrays(error.partial), run_config, {},
                                                             "interrupted")) from None
        arrays = _training_arrays(run)
        model.eval()
        if problem in XOR_PROBLEMS:
            measured, summary = _xor(model, task, config, arrays)
        elif isinstance(task, FunctionFit):
            measured, summary = _curve(model, task, config)
        else:
            measured, summary = _plane(model, task, config)
        arrays.update(measured)
        successes = int(arrays[keys.SUCCESS].sum())
        low, high = wilson_interval(successes, setup.seeds)
        summary = {
            "problem": problem, keys.NETWORK: network, keys.SEEDS: setup.seeds, keys.SUCCESSES: successes,
            "success_rate": successes / setup.seeds, keys.SUCCESS_LOW: low, keys.SUCCESS_HIGH: high, **summary,
            keys.STEPS: setup.steps, keys.BASELINE_LOSS: task.baseline_loss,
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _training_arrays(run: Run) -> dict[str, np.ndarray]:
    """The held-out loss of each seed during training."""
    return run_arrays(run, renamed={"eval/step": keys.EVAL_STEP, "task/loss": keys.EVAL_LOSS})


def _median_member(losses: np.ndarray) -> int:
    """Return the member whose loss is the median (the lower one for an even count), NaN last."""
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return int(order[(len(order) - 1) // 2])


def _xor(model: MLP, task: XOR, config: ApproximationConfig,
         training: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Score XOR on its four points: fitted seeds, stalled seeds, and the decision surface of each.

    A seed has fitted XOR when every output is within ``xor_margin`` of its label. It has stalled when it has
    not, ends at a loss ≥ ``plateau_loss``, and its held-out loss moved by less than ``stall_change`` over the
    last ``stall_steps`` steps: it sits on a plateau, not on its way down. A run shorter than ``stall_steps``
    cannot tell a plateau from a slow start, and calls no seed stalled.
    """
    arrays, summary = _plane(model, task, config)
    points = task.points()
    with torch.no_grad():
        outputs = model(points.inputs).outputs[..., 0].double().numpy()  # (K, 4)
    labels = points.targets[:, 0, 0].double().numpy()
    fitted = (np.abs(outputs - labels) <= config.xor_margin).all(axis=1)
    steps, losses = training[keys.EVAL_STEP], training[keys.EVAL_LOSS]
    if steps[-1] - steps[0] >= config.stall_steps:
        start = int(np.searchsorted(steps, steps[-1] - config.stall_steps))
        moved = np.abs(losses[start:] - losses[-1]).max(axis=0)
        stalled = ~fitted & (losses[-1] >= config.plateau_loss) & (moved < config.stall_change)
    else:
        stalled = np.zeros_like(fitted)
    arrays.update({keys.XOR_OUTPUTS: outputs, keys.SUCCESS: fitted, keys.XOR_STALLED: stalled})
    summary[keys.STALLED] = int(stalled.sum())
    return arrays, summary


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
        keys.GRID_X: axes[0], keys.GRID_Y: axes[1],
        keys.GRID_VALUE: value.reshape(-1, config.plane_grid, config.plane_grid).float().numpy(),
        keys.POINTS_INPUTS: points, keys.POINTS_LABEL: labels.long().numpy(),
        keys.TEST_LOSS: loss, keys.TEST_ACCURACY: accuracy, keys.SUCCESS: metrics["task/success"].numpy(),
    }
    summary = {keys.ACCURACY: float(np.median(accuracy)), keys.ACCURACY_MIN: float(np.min(accuracy)),
               keys.ACCURACY_MAX: float(np.max(accuracy)), "test_points": int(test.batch_size),
               keys.MEDIAN_MEMBER: _median_member(loss)}
    return arrays, summary


def _curve(model: MLP, task: FunctionFit, config: ApproximationConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Evaluate each member on an even grid of the domain: the fitted curve, its errors, the criterion.

    The grid is even in x whatever scale the network was fed, so every fit is judged at the same points.
    """
    grid: Batch = task.grid(config.curve_points)
    with torch.no_grad():
        outputs = model(grid.inputs).outputs
    fitted = outputs[..., 0].double().numpy()  # (K, n)
    truth = grid.targets[:, 0, 0].double().numpy()
    x = task.raw_x(grid).double().numpy()
    error = np.abs(fitted - truth)
    rmse = np.sqrt(np.mean(error**2, axis=1))
    largest = np.max(error, axis=1)
    arrays = {
        keys.CURVE_X: x, keys.CURVE_TRUTH: truth, keys.CURVE_FIT: fitted,
        keys.ERROR_RMSE: rmse, keys.ERROR_MAX: largest, keys.SUCCESS: largest <= task.tolerance,
    }
    summary = {keys.RMSE: float(np.median(rmse)), keys.MAX_ERROR: float(np.median(largest)),
               keys.WORST_MAX_ERROR: float(np.max(largest)), keys.TOLERANCE: task.tolerance,
               keys.WORST_AT: float(np.median(x[np.argmax(error, axis=1)])),
               "baseline_rmse": float(np.sqrt(task.baseline_loss)), keys.MEDIAN_MEMBER: _median_member(rmse)}
    return arrays, summary
