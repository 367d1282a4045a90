"""One network of the depth studies: build the MLP, trace it at initialization, train it, trace it again.

Sections 5 (through-depth) and 7 (depth-cures) run the same measurement on different networks, so it
lives here once, with the keys under which it stores its numbers: figures and claims of both
studies import the keys instead of spelling them again.

A network is named by what departs from a plain MLP: its activation, its initialization and, in
depth-cures, the cure added to it (batch norm, residual connections, residual connections whose
branches are scaled down). Every random draw derives from the config's seed: member k of the ensemble
is built from ``seed + k``, ``fit`` draws member k's batches from ``seed + k``, and the fixed batch the
traces are taken on from ``seed + PROBE_SEED_OFFSET``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from gradtrace.errors import RunInterrupted, check_choice, check_int, check_real
from gradtrace.instruments import DepthTrace, trace_depth
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, StepCallback, StudyConfig
from gradtrace.tasks import Blobs
from gradtrace.train import OPTIMIZERS, fit

__all__ = [
    "ACCURACY",
    "ACTIVATIONS",
    "CURES",
    "DEPTHS",
    "GRAD_NORMS",
    "HISTORY_ACCURACY",
    "HISTORY_STEP",
    "INITS",
    "LEARNING_SPEED",
    "RATIO",
    "SWEEP_RATIO",
    "WEIGHT_CHANGE",
    "DepthRunConfig",
    "Network",
    "run_network",
]

#: The activations of the depth studies: the seeds' sigmoid and tanh, whose derivatives are at most 1/4
#: and 1, and the ReLU that replaced them.
ACTIVATIONS = ("sigmoid", "tanh", "relu")

#: Initializations by the course's name, with the MLP's name for each. "standard" is torch.nn.Linear's
#: default and Glorot & Bengio's (2010) "standard" start, weights and biases ~ U[±1/√fan_in]; "xavier"
#: is Glorot & Bengio's normalized init, U[±√(6/(fan_in + fan_out))], which keeps a tanh network's
#: signals at the same variance from layer to layer; "he" doubles the variance for the ReLU, which
#: zeroes half its inputs (He et al. 2015).
INITS = MappingProxyType({"standard": "uniform", "xavier": "xavier_uniform", "he": "kaiming_uniform"})

#: What is added to the plain MLP: nothing, batch normalization of every hidden pre-activation,
#: a residual connection h_l = h_(l−1) + φ(·) around every hidden layer after the first, or the same
#: with every branch multiplied by 1/√M (M hidden layers).
CURES = ("plain", "batch_norm", "residual", "scaled_residual")

# The fixed batch of the traces is drawn from seed + this, apart from fit's streams (seed + k).
PROBE_SEED_OFFSET = 7919

# Keys of the arrays and summaries every run stores, shared with the studies' claims and figures.
#: (K, M) ‖∂L/∂h_l‖ per member and hidden layer, under "init/" and "trained/".
GRAD_NORMS = "grad_norms"
#: (K,) ‖∂L/∂h_1‖ / ‖∂L/∂h_M‖, under "init/" and "trained/"; in the summary, its median (and _min, _max).
RATIO = "first_last_ratio"
#: (K, M + 1) ‖W_l(end) − W_l(0)‖ / ‖W_l(0)‖ for W_1 … W_M and W_out.
WEIGHT_CHANGE = "relative_weight_change"
#: (K,) the relative weight change of W_1 over that of W_M: how fast the first layer learned against the last.
LEARNING_SPEED = "learning_speed_ratio"
#: (K,) held-out accuracy after training; in the summary, its median (and _min, _max). History: (evals, K).
ACCURACY = "task/accuracy"
#: (E,) the training steps after which the held-out accuracy was measured, and (E, K) that accuracy.
HISTORY_STEP = "history/step"
HISTORY_ACCURACY = "history/accuracy"
#: (D,) the depths of a run's sweep at initialization, and (K, D) the ratio at each.
DEPTHS = "sweep/depths"
SWEEP_RATIO = "sweep/first_last_ratio"


#: How sentences and captions name each optimizer.
_OPTIMIZER_NAMES = MappingProxyType({"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"})


def optimizer_name(optimizer: str) -> str:
    """Return the optimizer as a sentence names it: "Adam" for "adam"."""
    return _OPTIMIZER_NAMES.get(optimizer, optimizer)


def phase_key(phase: str, key: str) -> str:
    """Return the key of ``key`` measured at ``phase`` ("init" or "trained"), e.g. "init/first_last_ratio"."""
    return f"{phase}/{key}"


def sweep_grad_norms_key(depth: int) -> str:
    """Return the key of the (K, depth) profile of the sweep's network of ``depth`` hidden layers."""
    return f"sweep/grad_norms/M{depth}"


@dataclass(frozen=True)
class Network:
    """One MLP of the depth studies, named ``activation-init`` or ``activation-init-cure``.

    Attributes:
        activation: one of :data:`ACTIVATIONS`.
        init: one of :data:`INITS` ("standard", "xavier", "he").
        cure: one of :data:`CURES`.

    Raises:
        ValueError: for an activation, init or cure not listed.
    """

    activation: str
    init: str
    cure: str = "plain"

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, ACTIVATIONS, what="activation")
        check_choice("init", self.init, INITS, what="initialization")
        check_choice("cure", self.cure, CURES, what="cure")

    @property
    def name(self) -> str:
        """The run's name: "relu-he", "sigmoid-standard-batch_norm"."""
        base = f"{self.activation}-{self.init}"
        return base if self.cure == "plain" else f"{base}-{self.cure}"

    def residual_scale(self, depth: int) -> float:
        """Return the factor of every residual branch: 1/√depth for "scaled_residual", else 1."""
        return 1.0 / math.sqrt(depth) if self.cure == "scaled_residual" else 1.0

    def build(self, input_size: int, output_size: int, *, depth: int, width: int, seeds: int, seed: int) -> MLP:
        """Return the ensemble of ``seeds`` members of this network, member k built from ``seed + k``.

        float64: a sigmoid network's gradient at the first of 50 layers is ~1e-30 of the last's.
        """
        residual = self.cure in ("residual", "scaled_residual")
        return MLP(input_size, depth=depth, width=width, output_size=output_size, activation=self.activation,
                   init=INITS[self.init], batch_norm=self.cure == "batch_norm", residual=residual,
                   residual_scale=self.residual_scale(depth) if residual else 1.0, num_models=seeds, seed=seed,
                   dtype=torch.float64)


class DepthRunConfig(StudyConfig):
    """What the depth studies share: the network's size, the task, the training and the traces.

    The task is :class:`~gradtrace.tasks.Blobs`: three Gaussian blobs on the unit circle, which a
    network of one or two sigmoid layers separates in a few dozen Adam steps. Whether a deep network
    trains is then a question of depth alone: if the input's signal dies on the way up and the
    error's on the way down, even this task stays at chance (1/3).

    Raises:
        ValueError: for a size out of range or an unknown optimizer.
        TypeError: for a value of the wrong type.
    """

    # 0.25^19 ≈ 3.6e-12: the sigmoid's share at this depth is far below anything a first layer can use.
    depth: int = 20
    width: int = 32
    # Measured at depth 20 and width 32 on offsets 0, 1000 and 2000: 150 steps take every member of every
    # network whose gradient reaches the first layer to 98–100 % held-out accuracy; 100 steps leave a
    # residual sigmoid member at 71 %.
    steps: int = 150
    # Adam, as practitioners train: it rescales each weight's step by its gradient's RMS, which hides a
    # small gradient unless it falls under Adam's ε = 1e-8 — then that layer stops learning.
    optimizer: str = "adam"
    lr: float = 2e-3
    batch_size: int = 64
    probe_batch_size: int = 256   # the fixed batch of the traces at initialization and after training
    eval_batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("depth", self.depth, minimum=2)
        check_int("width", self.width, minimum=1)
        check_int("steps", self.steps, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, what="optimizer")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_int("batch_size", self.batch_size, minimum=2)          # batch norm needs 2 examples
        check_int("probe_batch_size", self.probe_batch_size, minimum=2)
        check_int("eval_batch_size", self.eval_batch_size, minimum=1)


def _spread(key: str, values: np.ndarray) -> dict[str, float]:
    """Median, min and max over members of the finite ``values``, under ``key``, ``key_min`` and ``key_max``."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, mid, high = (finite.min(), np.median(finite), finite.max()) if finite.size else (np.nan,) * 3
    return {key: float(mid), f"{key}_min": float(low), f"{key}_max": float(high)}


def _trace(prefix: str, measured: DepthTrace) -> dict[str, np.ndarray]:
    return {phase_key(prefix, GRAD_NORMS): measured.grad_norms.double().numpy(),
            phase_key(prefix, RATIO): measured.first_last_ratio.double().numpy(),
            phase_key(prefix, "weight_grad_norms"): measured.weight_grad_norms.double().numpy(),
            phase_key(prefix, "activation_std"): measured.activation_std.double().numpy(),
            phase_key(prefix, "saturated_fraction"): measured.saturated_fraction.double().numpy()}


def run_network(network: Network, config: DepthRunConfig, seeds: int, *, sweep_depths: Sequence[int] = (),
                callback: StepCallback | None = None) -> Outcome:
    """Trace ``network`` at initialization (at every depth of ``sweep_depths`` too), train it, trace it again.

    Args:
        network: the MLP to run.
        config: sizes, task and training.
        seeds: ensemble size K.
        sweep_depths: depths at which the network is also built and traced at initialization only.
        callback: fit's per-step callback (progress, Ctrl-C).

    Returns:
        The :class:`~gradtrace.studies.base.Outcome`: profiles at init and after training, the ratio
        first/last layer, how far each layer's weights moved, the accuracy history; the sweep's ratios.

    Raises:
        RunInterrupted: on Ctrl-C, with the traces at initialization as its partial outcome.
    """
    task = Blobs()
    probe = task.sample(config.probe_batch_size, seed=config.seed + PROBE_SEED_OFFSET)
    sizes = {"width": config.width, "seeds": seeds, "seed": config.seed}
    arrays: dict[str, np.ndarray] = {}
    if sweep_depths:
        ratios = []
        for depth in sweep_depths:
            swept = network.build(task.input_size, task.output_size, depth=depth, **sizes)
            measured = trace_depth(swept, probe, jacobian_examples=0)
            ratios.append(measured.first_last_ratio.double().numpy())
            arrays[sweep_grad_norms_key(depth)] = measured.grad_norms.double().numpy()
        arrays[DEPTHS] = np.asarray(sweep_depths, dtype=np.int64)
        arrays[SWEEP_RATIO] = np.stack(ratios, -1)                     # (K, D)
    model = network.build(task.input_size, task.output_size, depth=config.depth, **sizes)
    arrays.update(_trace("init", trace_depth(model, probe, jacobian_examples=0)))
    start = [w.detach().clone() for w in model.weights()]
    run_config = {**config.model_dump(), "network": network.name, "activation": network.activation,
                  "init": network.init, "cure": network.cure, "residual_scale": network.residual_scale(config.depth),
                  "seeds": seeds, "task": task.describe(), "chance": 1.0 / task.classes}
    try:
        run = fit(model, task, steps=config.steps, optimizer=config.optimizer, lr=config.lr,
                  batch_size=config.batch_size, seed=config.seed, eval_batch_size=config.eval_batch_size,
                  callback=callback)
    except RunInterrupted as error:
        raise RunInterrupted(str(error), partial=Outcome(arrays, run_config, {}, "interrupted")) from None
    # fit leaves the model in eval mode; trace it in training mode, as at initialization, so a batch-normalized
    # network is read with batch statistics both times.
    model.train()
    arrays.update(_trace("trained", trace_depth(model, probe, jacobian_examples=0)))
    change = torch.stack([torch.linalg.vector_norm((w.detach() - w0).flatten(1), dim=1)
                          / torch.linalg.vector_norm(w0.flatten(1), dim=1)
                          for w, w0 in zip(model.weights(), start)], -1).double().numpy()
    accuracy = np.asarray(run.final[ACCURACY], dtype=np.float64)
    arrays.update({
        WEIGHT_CHANGE: change,
        LEARNING_SPEED: change[:, 0] / change[:, -2],
        ACCURACY: accuracy,
        HISTORY_STEP: run.history["eval/step"],
        HISTORY_ACCURACY: run.history[ACCURACY],
        "train/loss": run.history["train/loss"],
        "diverged_at": run.diverged_at,
    })
    summary = {
        "network": network.name, "activation": network.activation, "init": network.init, "cure": network.cure,
        "depth": config.depth, "seeds": seeds, "chance": 1.0 / task.classes,
        **_spread(phase_key("init", RATIO), arrays[phase_key("init", RATIO)]),
        **_spread(phase_key("trained", RATIO), arrays[phase_key("trained", RATIO)]),
        **_spread(LEARNING_SPEED, arrays[LEARNING_SPEED]),
        **_spread(ACCURACY, accuracy),
        "diverged": int((run.diverged_at >= 0).sum()),
    }
    if sweep_depths:
        summary.update({f"sweep/M{depth}": float(np.median(arrays[SWEEP_RATIO][:, i]))
                        for i, depth in enumerate(sweep_depths)})
    return Outcome(arrays, run_config, summary)
