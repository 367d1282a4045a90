"""The gradient through depth: ‖∂L/∂h_l‖ layer by layer for activations, inits, batch norm and skips.

An MLP of M hidden layers back-propagates the error through one Jacobian diag(φ′(z_l)) W_l per
layer, so what reaches the first layer is the product of M − 1 of them. σ′ ≤ 1/4 makes a sigmoid
network's share shrink like 0.25^(M−1) unless the weights make up for it; an initialization scaled
to the activation (Glorot's for tanh and sigmoid, He's for rectifiers) keeps the weights' part of
each factor near 1, batch normalization re-scales every layer, and a skip connection adds the
identity to every Jacobian — both can make the gradient grow towards the input instead. The study
measures the profile at initialization and after training, how it changes with M, and how fast the
first layer learns compared with the last.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch

from gradtrace.activations import ACTIVATIONS
from gradtrace.errors import RunInterrupted, check_choice, check_int, check_real
from gradtrace.instruments import DepthTrace, trace_depth
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.claims import Claim, Results
from gradtrace.tasks import Circles
from gradtrace.train import OPTIMIZERS, fit

__all__ = ["SENSIBLE_INIT", "VARIANTS", "ThroughDepth", "ThroughDepthConfig"]

#: How each run departs from a plain MLP with the activation's own initialization: "standard_init"
#: uses torch's and Glorot & Bengio's "standard" U[±1/√fan_in] instead, "batch_norm" normalizes every
#: hidden pre-activation, "residual" adds h_(l−1) to every hidden layer after the first.
VARIANTS = ("plain", "standard_init", "batch_norm", "residual")

#: The initialization scaled to each activation: Glorot & Bengio's normalized one keeps the variance
#: of a tanh (or sigmoid) network's signals from layer to layer; He et al.'s doubles it for
#: rectifiers, which zero half their inputs.
SENSIBLE_INIT = MappingProxyType({
    "sigmoid": "xavier_uniform", "tanh": "xavier_uniform", "linear": "xavier_uniform",
    "relu": "kaiming_uniform", "leaky_relu": "kaiming_uniform", "prelu": "kaiming_uniform",
    "gelu": "kaiming_uniform",
})

# Offset of the fixed batch the traces are taken on, apart from fit's data streams.
_PROBE_SEED_OFFSET = 7919


class ThroughDepthConfig(StudyConfig):
    """The grid of the through-depth study; the defaults take about two minutes on 2 CPU cores.

    Raises:
        ValueError: for an unknown activation, variant, optimizer, an empty grid or a size out of range.
        TypeError: for a value of the wrong type.
    """

    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")
    variants: tuple[str, ...] = VARIANTS
    # 0.25^19 ≈ 4e-12: the sigmoid's bound at this depth is far below anything a first layer can use.
    depth: int = 20
    width: int = 32
    # Depths of the sweep at initialization (no training, so deep nets cost little); 50 takes the
    # sigmoid's ratio to ~1e-30, which float64 still resolves.
    sweep_depths: tuple[int, ...] = (2, 5, 10, 20, 30, 50)
    # (activation, variant) pairs of the depth sweep.
    sweep: tuple[tuple[str, str], ...] = (("sigmoid", "plain"), ("tanh", "plain"), ("relu", "plain"),
                                          ("relu", "batch_norm"), ("relu", "residual"))
    # Circles: no line separates the classes, so the hidden layers must learn. Measured at this depth
    # and width: 150 steps take the networks whose gradient reaches the first layer to 86–100 %
    # held-out accuracy, while those whose gradient vanishes stay at chance.
    steps: int = 150
    # Adam, as practitioners train: it rescales each weight's step by its gradient's RMS, which hides
    # a small gradient unless it falls under Adam's ε = 1e-8 — then that layer stops learning.
    optimizer: str = "adam"
    # Measured over 150 steps: 1e-3 leaves residual ReLU nets (whose activations grow with depth) at
    # chance, 3e-3 unsettles tanh with and without batch norm; 2e-3 trains both.
    lr: float = 2e-3
    batch_size: int = 64
    probe_batch_size: int = 256     # the fixed batch of the traces at initialization and after training
    eval_batch_size: int = 256
    trace_snapshots: int = 30       # profiles kept during training, for the heat maps
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("activations", "variants", "sweep_depths", "sweep"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(set(value)) != len(value):
                raise ValueError(f"`{name}` must be a tuple without repeats, got {value!r}.")
        if not self.activations and not self.sweep:
            raise ValueError("The through-depth study needs `activations` or `sweep` to have an entry; both are empty.")
        for activation in self.activations:
            check_choice("activations", activation, SENSIBLE_INIT, what="activation")
        for variant in self.variants:
            check_choice("variants", variant, VARIANTS, what="variant")
        for pair in self.sweep:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ValueError(f"Each `sweep` entry must be an (activation, variant) pair, got {pair!r}.")
            check_choice("sweep", pair[0], SENSIBLE_INIT, what="activation")
            check_choice("sweep", pair[1], VARIANTS, what="variant")
        check_int("depth", self.depth, minimum=2)
        check_int("width", self.width, minimum=1)
        for depth in self.sweep_depths:
            check_int("sweep_depths", depth, minimum=2)
        if self.sweep and not self.sweep_depths:
            raise ValueError("`sweep_depths` must name at least one depth when `sweep` is not empty.")
        check_int("steps", self.steps, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, what="optimizer")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("probe_batch_size", self.probe_batch_size, minimum=2)  # batch norm needs 2 examples
        check_int("eval_batch_size", self.eval_batch_size, minimum=1)
        check_int("trace_snapshots", self.trace_snapshots, minimum=1)
        check_int("seed", self.seed, minimum=0)


#: The first look of the default ``gradtrace run``: the same depth 20, so its ratios are the ones
#: the full study reports, for the four networks the story turns on, a narrower width and a short
#: training.
QUICK = ThroughDepthConfig(activations=("sigmoid", "relu"), width=16, sweep_depths=(2, 5, 10, 20),
                           sweep=(("sigmoid", "plain"), ("relu", "plain"), ("relu", "batch_norm"),
                                  ("relu", "residual")),
                           steps=30, batch_size=32, probe_batch_size=64, eval_batch_size=64, trace_snapshots=15)


class ThroughDepth(Study):
    """Deep MLPs of several activations, with and without batch norm and skips, traced through depth.

    Every (activation, variant) pair is an ensemble of seeds, traced on a fixed batch of the circles
    task at initialization and after a short training: ‖∂L/∂h_l‖ per hidden layer, its ratio first
    over last layer, its factor per layer, and ‖∂L/∂W_l‖; the profile is also kept during training.
    How fast each layer learned is its relative weight change ‖W_l(end) − W_l(0)‖ / ‖W_l(0)‖. A
    sweep over the depth M traces a few networks at initialization only, to set the measured ratio
    beside the sigmoid's 0.25^(M−1).

    Example:
        >>> [spec.name for spec in ThroughDepth().plan(quick=False, seeds=1)][:4]
        ['sigmoid-plain', 'sigmoid-standard_init', 'sigmoid-batch_norm', 'sigmoid-residual']

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural
        networks", AISTATS; He, Zhang, Ren & Sun 2015, arXiv:1502.01852 (He init), 2016,
        arXiv:1512.03385 (residual); Ioffe & Szegedy 2015, arXiv:1502.03167 (batch norm); Yang,
        Pennington, Rao, Sohl-Dickstein & Schoenholz 2019, "A mean field theory of batch
        normalization", ICLR (the gradient of a batch-normalized net grows towards the input at init).
    """

    name = "through-depth"
    config_class = ThroughDepthConfig
    quick_config = QUICK
    title = "The gradient through depth: activations, initialization, batch norm and skip connections"
    description = ("‖∂L/∂h_l‖ layer by layer in 20-layer MLPs (sigmoid, tanh, ReLU, leaky ReLU, GELU; the "
                   "activation's own init or the standard U[±1/√n]; plain, with batch norm, with residual "
                   "connections), at initialization and after a short training on the circles task; the "
                   "ratio first/last layer against depth beside the sigmoid's 0.25^(M−1); how fast the "
                   "first layer learns compared with the last.")

    summary_columns = (("first/last, init", "init/first_last_ratio", ".2e"),
                       ("first/last, trained", "trained/first_last_ratio", ".2e"),
                       ("factor per layer, init", "init/decay_rate", ".3f"),
                       ("learning speed first/last", "learning_speed_ratio", ".2e"),
                       ("accuracy", "task/accuracy", ".2f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        specs = [RunSpec(f"{activation}-{variant}", config.steps, _train_executor(config, activation, variant, seeds))
                 for activation in config.activations for variant in config.variants]
        specs += [RunSpec(f"depth-{activation}-{variant}", 1, _sweep_executor(config, activation, variant, seeds))
                  for activation, variant in config.sweep]
        return specs


    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Sigmoid's σ′ ≤ 1/4 bounds its gradient through depth; ReLU's init and batch norm keep it; what trains.

        Each claim is made only where the config has the runs it reads.
        """
        config = self.resolve(quick)
        trained = {(a, v) for a in config.activations for v in config.variants}
        claims = []
        if ("sigmoid", "plain") in trained:
            claims.append(_sigmoid_bound_claim(config.depth))
        if ("sigmoid", "plain") in config.sweep and len(config.sweep_depths) > 1:
            claims.append(_sigmoid_sweep_claim(config.sweep_depths))
        kept = [v for v in ("plain", "batch_norm", "residual") if ("relu", v) in trained]
        if kept:
            claims.append(_relu_kept_claim(config.depth, kept))
        if {("sigmoid", "plain"), ("relu", "plain")} <= trained:
            claims.append(_vanished_cannot_learn_claim(config.depth))
        claims += [_remedy_trains_sigmoid_claim(config.depth, v) for v in ("batch_norm", "residual")
                   if {("sigmoid", "plain"), ("sigmoid", v)} <= trained]
        return claims


# The ratio first/last at or above which the gradient counts as kept: within an order of magnitude.
_KEPT = 0.1
# Held-out accuracy on circles (two balanced classes): "at chance" is at most this, "trained" at least that.
_CHANCE, _TRAINED = 0.6, 0.9
_VARIANT_WORDS = {
    "plain": {"en": "He init", "pt": "inicialização de He"},
    "batch_norm": {"en": "He init + batch norm", "pt": "inicialização de He + normalização em lote"},
    "residual": {"en": "He init + residual connections", "pt": "inicialização de He + conexões residuais"},
}


def _sigmoid_bound_claim(depth: int) -> Claim:
    def evaluate(results: Results):
        ratios = results.array("sigmoid-plain", "init/first_last_ratio")
        bound = 0.25 ** (depth - 1)
        under = int((ratios <= bound).sum())
        return under == ratios.size > 0, {
            "M": depth, "exponent": depth - 1, "n": under, "K": int(ratios.size), "bound": bound,
            "ratio_max": float(np.nanmax(ratios)), "ratio": float(np.median(ratios))}

    return Claim(
        "sigmoid-under-its-bound",
        {"en": "Through a deep sigmoid network the gradient shrinks at least as fast as σ′ ≤ 1/4 allows: the ratio "
               "first/last layer is at most 0.25^(M−1) in every member.",
         "pt": "Numa rede sigmoide profunda o gradiente encolhe pelo menos tão rápido quanto σ′ ≤ 1/4 permite: a "
               "razão primeira/última camada é no máximo 0,25^(M−1) em todos os membros."},
        {"en": "In the {M}-layer sigmoid network ‖∂L/∂h_1‖/‖∂L/∂h_M‖ at initialization is at most 0.25^{exponent} = "
               "{bound:.1e} in {n} of {K} members (largest {ratio_max:.1e}, median {ratio:.1e}).",
         "pt": "Na rede sigmoide de {M} camadas ‖∂L/∂h_1‖/‖∂L/∂h_M‖ na inicialização é no máximo 0,25^{exponent} = "
               "{bound:.1e} em {n} de {K} membros (maior {ratio_max:.1e}, mediana {ratio:.1e})."},
        evaluate, requires=("sigmoid-plain",))


def _sigmoid_sweep_claim(depths: tuple[int, ...]) -> Claim:
    def evaluate(results: Results):
        summary = results.summary("depth-sigmoid-plain")
        ratios = [summary[f"ratio/M{m}"] for m in depths]
        under = sum(ratio <= 0.25 ** (m - 1) for ratio, m in zip(ratios, depths))
        deepest = max(depths)
        return under == len(depths), {"n": under, "D": len(depths), "M": deepest,
                                      "ratio": summary[f"ratio/M{deepest}"], "bound": 0.25 ** (deepest - 1),
                                      "depths": list(depths), "ratios": ratios}

    return Claim(
        "sigmoid-bound-at-every-depth",
        {"en": "At every depth M of the sweep the sigmoid network's ratio first/last layer is at most 0.25^(M−1).",
         "pt": "Em cada profundidade M da varredura a razão primeira/última camada da rede sigmoide é no máximo "
               "0,25^(M−1)."},
        {"en": "The sigmoid network's median ratio first/last layer is under 0.25^(M−1) at {n} of {D} depths; at "
               "M = {M} it is {ratio:.1e} against {bound:.1e}.",
         "pt": "A razão mediana primeira/última camada da rede sigmoide fica abaixo de 0,25^(M−1) em {n} de {D} "
               "profundidades; com M = {M} vale {ratio:.1e} contra {bound:.1e}."},
        evaluate, requires=("depth-sigmoid-plain",))


def _relu_kept_claim(depth: int, variants: list[str]) -> Claim:
    def evaluate(results: Results):
        lows = {v: float(np.nanmin(results.array(f"relu-{v}", "init/first_last_ratio"))) for v in variants}
        return all(low >= _KEPT for low in lows.values()), {"M": depth, **{f"low_{v}": lows[v] for v in variants}}

    def listed(lang: str) -> str:
        return "; ".join(f"{_VARIANT_WORDS[v][lang]} {{low_{v}:.2g}}" for v in variants)

    return Claim(
        "relu-keeps-the-gradient",
        {"en": "ReLU with He initialization, alone or with batch norm or residual connections, keeps the gradient "
               "at the first layer at least a tenth of the last's in every member.",
         "pt": "A ReLU com inicialização de He, sozinha ou com normalização em lote ou conexões residuais, mantém o "
               "gradiente da primeira camada em pelo menos um décimo do da última em todos os membros."},
        {"en": "In {M}-layer ReLU networks the smallest ratio first/last layer over the members at initialization "
               "is: " + listed("en") + " (claimed: at least 0.1).",
         "pt": "Em redes ReLU de {M} camadas a menor razão primeira/última camada entre os membros na inicialização "
               "é: " + listed("pt") + " (afirmado: pelo menos 0,1)."},
        evaluate, requires=tuple(f"relu-{v}" for v in variants))


def _vanished_cannot_learn_claim(depth: int) -> Claim:
    def evaluate(results: Results):
        sigmoid, relu = results.summary("sigmoid-plain"), results.summary("relu-plain")
        held = sigmoid["task/accuracy"] <= _CHANCE and relu["task/accuracy"] >= _TRAINED
        return held, {"M": depth, "sigmoid": sigmoid["task/accuracy"], "relu": relu["task/accuracy"],
                      "speed": sigmoid["learning_speed_ratio"], "speed_relu": relu["learning_speed_ratio"]}

    return Claim(
        "vanished-gradient-cannot-train",
        {"en": "Where the gradient vanishes through depth the network cannot train: plain sigmoid stays at chance "
               "(at most 60 %) on the circles task, while ReLU with He init trains (at least 90 %).",
         "pt": "Onde o gradiente desaparece com a profundidade a rede não treina: a sigmoide simples fica no acaso "
               "(no máximo 60 %) no problema dos círculos, enquanto a ReLU com inicialização de He treina (pelo "
               "menos 90 %)."},
        {"en": "With {M} layers plain sigmoid reaches {sigmoid:.0%} held-out accuracy, its first layer moving "
               "{speed:.1e} times as fast as its last; ReLU with He init reaches {relu:.0%} (first layer "
               "{speed_relu:.2f} times as fast).",
         "pt": "Com {M} camadas a sigmoide simples chega a {sigmoid:.0%} de acurácia de validação, e sua primeira "
               "camada se move {speed:.1e} vezes a velocidade da última; a ReLU com inicialização de He chega a "
               "{relu:.0%} (primeira camada {speed_relu:.2f} vezes)."},
        evaluate, requires=("sigmoid-plain", "relu-plain"))


def _remedy_trains_sigmoid_claim(depth: int, variant: str) -> Claim:
    words = {"batch_norm": {"en": "batch normalization", "pt": "normalização em lote"},
             "residual": {"en": "residual connections", "pt": "conexões residuais"}}[variant]

    def evaluate(results: Results):
        plain, treated = results.summary("sigmoid-plain"), results.summary(f"sigmoid-{variant}")
        held = plain["task/accuracy"] <= _CHANCE and treated["task/accuracy"] >= _TRAINED
        return held, {"M": depth, "plain": plain["task/accuracy"], "treated": treated["task/accuracy"],
                      "ratio": treated["init/first_last_ratio"]}

    return Claim(
        f"{variant.replace('_', '-')}-trains-deep-sigmoid",
        {"en": f"With {words['en']} a deep sigmoid network trains (at least 90 %) where the plain one stays at "
               "chance (at most 60 %).",
         "pt": f"Com {words['pt']} uma rede sigmoide profunda treina (pelo menos 90 %) onde a simples fica no "
               "acaso (no máximo 60 %)."},
        {"en": f"With {words['en']} the {{M}}-layer sigmoid network reaches {{treated:.0%}} held-out accuracy "
               "(ratio first/last layer {ratio:.2g} at initialization); without, {plain:.0%}.",
         "pt": f"Com {words['pt']} a rede sigmoide de {{M}} camadas chega a {{treated:.0%}} de acurácia de "
               "validação (razão primeira/última camada {ratio:.2g} na inicialização); sem, {plain:.0%}."},
        evaluate, requires=("sigmoid-plain", f"sigmoid-{variant}"))


def _model(config: ThroughDepthConfig, activation: str, variant: str, depth: int, seeds: int, task) -> MLP:
    # float64: the sigmoid's gradient at the first of 50 layers is ~1e-30 of the last's.
    return MLP(task.input_size, depth=depth, width=config.width, output_size=task.output_size,
               activation=activation, init=_init(activation, variant), batch_norm=variant == "batch_norm",
               residual=variant == "residual", num_models=seeds, seed=config.seed, dtype=torch.float64)


def _init(activation: str, variant: str) -> str:
    return "uniform" if variant == "standard_init" else SENSIBLE_INIT[activation]


def _trace_arrays(prefix: str, measured: DepthTrace) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/grad_norms": measured.grad_norms.double().numpy(),
        f"{prefix}/weight_grad_norms": measured.weight_grad_norms.double().numpy(),
        f"{prefix}/first_last_ratio": measured.first_last_ratio.double().numpy(),
        f"{prefix}/decay_rate": measured.decay_rate.double().numpy(),
        f"{prefix}/activation_std": measured.activation_std.double().numpy(),
        f"{prefix}/dead_fraction": measured.dead_fraction.double().numpy(),
        f"{prefix}/saturated_fraction": measured.saturated_fraction.double().numpy(),
        f"{prefix}/loss": measured.loss.double().numpy(),
    }


def _median(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


def _spread(prefix: str, values: np.ndarray) -> dict[str, float]:
    """Median, min and max over members of the finite values, under ``prefix``, ``prefix_min``, ``prefix_max``."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, mid, high = (finite.min(), np.median(finite), finite.max()) if finite.size else (np.nan,) * 3
    return {prefix: float(mid), f"{prefix}_min": float(low), f"{prefix}_max": float(high)}


def _train_executor(config: ThroughDepthConfig, activation: str, variant: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Circles()
        model = _model(config, activation, variant, config.depth, seeds, task)
        probe = task.sample(config.probe_batch_size, seed=config.seed + _PROBE_SEED_OFFSET)
        before = trace_depth(model, probe, jacobian_examples=0)
        start = [w.detach().clone() for w in model.weights()]
        arrays = _trace_arrays("init", before)
        run_config = {**config.model_dump(), "activation": activation, "variant": variant,
                      "init": _init(activation, variant), "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, optimizer=config.optimizer, lr=config.lr,
                      batch_size=config.batch_size, seed=config.seed, eval_batch_size=config.eval_batch_size,
                      trace_every=max(1, config.steps // config.trace_snapshots), callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(arrays, run_config, {}, "interrupted")) from None
        # fit leaves the model in eval mode; trace it in training mode, as at initialization, so a
        # batch-normalized net is read with batch statistics both times.
        model.train()
        after = trace_depth(model, probe, jacobian_examples=0)
        arrays.update(_trace_arrays("trained", after))
        change = torch.stack([torch.linalg.vector_norm((w.detach() - w0).flatten(1), dim=1)
                              / torch.linalg.vector_norm(w0.flatten(1), dim=1)
                              for w, w0 in zip(model.weights(), start)], -1)
        arrays.update({
            # (K, M + 1): W_1 … W_M, W_out.
            "relative_weight_change": change.double().numpy(),
            "trace/step": run.trace_steps,
            "trace/grad_norms": run.trace_grad_norms.astype(np.float64),
            "step": run.history["step"],
            "train/loss": run.history["train/loss"],
            "eval/step": run.history["eval/step"],
            "task/loss": run.history["task/loss"],
            "task/accuracy": run.history["task/accuracy"],
            "diverged_at": run.diverged_at,
        })
        weight_norms = before.weight_grad_norms.double()
        summary = {
            "activation": activation,
            "variant": variant,
            "init": run_config["init"],
            "depth": config.depth,
            "seeds": seeds,
            **_spread("init/first_last_ratio", arrays["init/first_last_ratio"]),
            **_spread("trained/first_last_ratio", arrays["trained/first_last_ratio"]),
            "init/decay_rate": _median(arrays["init/decay_rate"]),
            "trained/decay_rate": _median(arrays["trained/decay_rate"]),
            # ‖∂L/∂W_1‖ / ‖∂L/∂W_M‖ at init: how fast plain gradient descent would move them.
            "init/weight_grad_ratio": _median((weight_norms[:, 0] / weight_norms[:, -2]).numpy()),
            **_spread("learning_speed_ratio", (change[:, 0] / change[:, -2]).double().numpy()),
            "task/loss": _median(run.final["task/loss"]),
            "task/accuracy": _median(run.final["task/accuracy"]),
            "baseline_loss": task.baseline_loss,
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _sweep_executor(config: ThroughDepthConfig, activation: str, variant: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Circles()
        probe = task.sample(config.probe_batch_size, seed=config.seed + _PROBE_SEED_OFFSET)
        depths = np.asarray(config.sweep_depths, dtype=np.int64)
        arrays: dict[str, np.ndarray] = {"depths": depths}
        ratios, rates = [], []
        for depth in config.sweep_depths:
            measured = trace_depth(_model(config, activation, variant, depth, seeds, task), probe,
                                   jacobian_examples=0)
            ratios.append(measured.first_last_ratio.double().numpy())
            rates.append(measured.decay_rate.double().numpy())
            arrays[f"grad_norms/M{depth}"] = measured.grad_norms.double().numpy()
        arrays["first_last_ratio"] = np.stack(ratios, -1)   # (K, D)
        arrays["decay_rate"] = np.stack(rates, -1)          # (K, D)
        # The activation's own share of the ratio: (max φ′)^(M − 1) over the M − 1 layer Jacobians.
        arrays["derivative_bound"] = ACTIVATIONS[activation].max_derivative ** (depths - 1.0)
        run_config = {**config.model_dump(), "activation": activation, "variant": variant,
                      "init": _init(activation, variant), "seeds": seeds, "task": task.describe()}
        summary = {
            "activation": activation,
            "variant": variant,
            "init": run_config["init"],
            "seeds": seeds,
            **{f"ratio/M{depth}": _median(arrays["first_last_ratio"][:, i])
               for i, depth in enumerate(config.sweep_depths)},
            **{f"bound/M{depth}": float(arrays["derivative_bound"][i]) for i, depth in enumerate(config.sweep_depths)},
        }
        return Outcome(arrays, run_config, summary)

    return execute
