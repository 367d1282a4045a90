"""Glorot & Bengio 2010: a deep tanh network at initialization, with their standard and normalized inits.

Five tanh layers of 1000 units, read before any training: the spread of each layer's activations,
of the back-propagated gradient ∂L/∂z_l, and the average singular value of each layer Jacobian
∂h_l/∂h_(l−1) = diag(tanh′(z_l)) W_l. The "standard" init U[±1/√n] gives n·Var[W] = 1/3, so in the
linear regime every layer shrinks the activations' and the gradients' variance by 3 (the paper's
eq. 15); the "normalized" init U[±√6/√(n_in + n_out)] gives n·Var[W] = 1 and keeps both.

A square matrix of i.i.d. entries of variance σ² has singular values spread by the quarter-circle
law on [0, 2σ√n], of mean (8 / 3π)·σ√n ≈ 0.85·σ√n: ≈ 0.49 for the standard init and ≈ 0.85 for the
normalized one before tanh′ ≤ 1 lowers them — the paper's ≈ 0.5 and ≈ 0.8.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gradtrace.errors import check_choice, check_int
from gradtrace.instruments import trace_depth
from gradtrace.models import MLP
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.published import Citation, PublishedResult
from gradtrace.tasks import Batch, member_loss

__all__ = ["INITS", "INPUT_KINDS", "PUBLISHED", "QUARTER_CIRCLE_MEAN", "Glorot2010", "Glorot2010Config"]

#: Glorot & Bengio's two initializations, by their names, and the MLP init that draws each.
INITS = ("standard", "normalized")
_MLP_INIT = {"standard": "uniform", "normalized": "xavier_uniform"}
#: Inputs the network is read on: "uniform" pixels in [0, 1] like a grey image, or "normal" N(0, 1).
INPUT_KINDS = ("uniform", "normal")
#: Mean of the quarter-circle law on [0, 2]: the average singular value of an n×n matrix of i.i.d.
#: entries of variance 1/n, for large n.
QUARTER_CIRCLE_MEAN = 8.0 / (3.0 * math.pi)

# Offset of the inputs' seed from the weights' seeds, so the two never share a stream.
_DATA_SEED_OFFSET = 104_729

#: What Glorot & Bengio report about these networks at initialization.
PUBLISHED = PublishedResult(
    key="glorot2010",
    citation=Citation(
        authors="Glorot & Bengio",
        year=2010,
        title="Understanding the difficulty of training deep feedforward neural networks",
        venue="AISTATS 2010, JMLR W&CP 9:249-256",
        locator="Section 4.2.2 (singular values, text); Figures 6-8 (histograms); Section 4.3",
    ),
    task=("Shapeset-3x2: 32x32 grey images of one or two shapes (triangle, parallelogram, ellipse), 9 classes "
          "of which shapes are present."),
    protocol=(
        "Feed-forward networks of one to five hidden layers of 1000 units with a softmax output and the negative "
        "log-likelihood, trained by SGD on mini-batches of 10. Standard init: biases 0 and weights U[-1/sqrt(n), "
        "1/sqrt(n)], n the size of the previous layer (eq. 1); normalized init: U[+-sqrt(6)/sqrt(n_j + n_(j+1))] "
        "(eq. 16). Section 4.2.2 reads histograms of activations, weight gradients and back-propagated gradients "
        "at initialization on Shapeset-3x2, and the singular values of the layer Jacobians J^i = dz^(i+1)/dz^i."
    ),
    settings={
        "hidden_layers": 5,
        "hidden_size": 1000,
        "activation": "tanh",
        "input_size": 32 * 32,
        "classes": 9,
        "batch_size": 10,
        "standard_n_var_w": 1 / 3,
        "mean_jacobian_singular_value": {"standard": 0.5, "normalized": 0.8},
    },
    claims=(
        "With the normalized initialization the average singular value of the layer Jacobians is around 0.8; "
        "with the standard initialization it drops down to 0.5 (Section 4.2.2).",
        "After the standard initialization the variance of the back-propagated gradients gets smaller as it is "
        "propagated downwards; with the normalized initialization it does not (Section 4.3, Figure 7).",
        "Even with the standard initialization the weight gradients do not get smaller towards the input "
        "(Figure 8), as eq. 14 predicts.",
        "With the standard initialization the activations' histograms of the upper layers peak more and more "
        "at 0 (Figure 6).",
    ),
    unconfirmed=(
        "The numbers were read in a public transcription of the paper's text, not in the published PDF.",
        "The paper gives the singular values as 'around 0.8' and 'drops down to 0.5' for the whole network; "
        "which layers and examples it averaged over is not said, and no per-layer value is given.",
        "Figures 6-8 exist only as histograms; no value was transcribed from them.",
    ),
)


class Glorot2010Config(StudyConfig):
    """The protocol of the study; the defaults take about a minute on 2 CPU cores.

    Raises:
        ValueError: for an unknown init or input kind, or a size out of range.
        TypeError: for a value of the wrong type.
    """

    inits: tuple[str, ...] = INITS
    depth: int = 5              # the paper's deepest network
    width: int = 1000           # the paper's hidden layers
    input_size: int = 32 * 32   # a 32×32 image, the size of the paper's Shapeset-3×2 inputs
    classes: int = 9            # Shapeset-3×2's classes: the softmax output and its loss
    # Random inputs stand in for Shapeset-3×2, which is not shipped: grey pixels U[0, 1].
    inputs: str = "uniform"
    examples: int = 300         # the fixed set of test examples the paper's statistics are read on
    # Each 1000×1000 SVD takes about a second; the mean of 1000 singular values varies little between
    # examples, so two per member suffice.
    jacobian_examples: int = 2
    bins: int = 60              # histogram bins of the activations and back-propagated gradients
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.inits, tuple) or not self.inits or len(set(self.inits)) != len(self.inits):
            raise ValueError(f"`inits` must be a non-empty tuple without repeats, got {self.inits!r}.")
        for init in self.inits:
            check_choice("inits", init, INITS, what="initialization")
        check_choice("inputs", self.inputs, INPUT_KINDS, what="input kind")
        check_int("depth", self.depth, minimum=2)  # a layer Jacobian needs two hidden layers
        check_int("width", self.width, minimum=1)
        check_int("input_size", self.input_size, minimum=1)
        check_int("classes", self.classes, minimum=2)
        check_int("examples", self.examples, minimum=1)
        check_int("jacobian_examples", self.jacobian_examples, minimum=1, maximum=self.examples)
        check_int("bins", self.bins, minimum=2)
        check_int("seed", self.seed, minimum=0)


#: Narrow layers and few examples: seconds, same five layers and both inits.
QUICK = Glorot2010Config(width=64, examples=64)


class Glorot2010(Study):
    """Glorot & Bengio's 5 × 1000 tanh network at initialization, standard against normalized init.

    Each init is an ensemble of seeds read on one fixed batch of random inputs with random class
    labels: at initialization the labels only set the output error that travels back, so any will
    do. Per hidden layer: the activations' mean, spread, saturated fraction and histogram; the
    back-propagated gradient ∂L/∂z_l, its standard deviation over examples and units and its
    histogram (relative to the top layer's spread); ‖∂L/∂W_l‖; and the singular values of each layer
    Jacobian ∂h_l/∂h_(l−1), whose mean the paper quotes.

    Example:
        >>> round(QUARTER_CIRCLE_MEAN / 3 ** 0.5, 2), round(QUARTER_CIRCLE_MEAN, 2)  # n·Var[W] = 1/3 and 1
        (0.49, 0.85)
        >>> PUBLISHED.settings["mean_jacobian_singular_value"]
        {'standard': 0.5, 'normalized': 0.8}

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural
        networks", AISTATS, JMLR W&CP 9:249–256.
    """

    name = "glorot2010"
    config_class = Glorot2010Config
    quick_config = QUICK
    title = "Glorot & Bengio 2010: a deep tanh network at initialization, standard vs normalized init"
    description = ("Five tanh layers of 1000 units at initialization with the standard U[±1/√n] and the normalized "
                   "(Xavier) init: per-layer activation spread, back-propagated gradient, and the average singular "
                   "value of the layer Jacobians beside the paper's ≈0.5 and ≈0.8.")
    text = {
        "title": {"en": title, "pt": "Glorot & Bengio 2010: uma rede tanh profunda na inicialização, padrão e "
                                     "normalizada"},
        "question": {
            "en": "At initialization, how do the spread of a deep tanh network's activations and gradients and its "
                  "layer Jacobians' singular values compare, layer by layer, under the standard and the normalized "
                  "init, beside the paper's numbers?",
            "pt": "Na inicialização, como se comparam, camada a camada, a dispersão das ativações e dos gradientes "
                  "de uma rede tanh profunda e os valores singulares das jacobianas das suas camadas, com a "
                  "inicialização padrão e com a normalizada, ao lado dos números do artigo?",
        },
        "description": {
            "en": description,
            "pt": "Cinco camadas tanh de 1000 unidades na inicialização, com a inicialização padrão U[±1/√n] e a "
                  "normalizada (Xavier): dispersão das ativações por camada, o gradiente retropropagado e o valor "
                  "singular médio das jacobianas das camadas, ao lado dos ≈0,5 e ≈0,8 do artigo.",
        },
    }
    default_seeds = 3  # each seed costs 2 × 4 SVDs of 1000×1000; the mean of 1000 values barely moves

    summary_columns = (("mean singular value", "mean_singular_value", ".3f"),
                       ("published", "published_singular_value", ".1f"),
                       ("quarter-circle, linear regime", "linear_prediction", ".3f"),
                       ("activation std, layer 1", "activation_std/first", ".3f"),
                       ("activation std, last layer", "activation_std/last", ".3f"),
                       ("∂L/∂z std, layer 1 / last", "backprop_std_ratio", ".3f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(init, 1, _executor(config, init, seeds)) for init in config.inits]


def _batch(config: Glorot2010Config) -> Batch:
    generator = torch.Generator().manual_seed(config.seed + _DATA_SEED_OFFSET)
    shape = (config.examples, 1, config.input_size)
    draw = torch.rand if config.inputs == "uniform" else torch.randn
    inputs = draw(shape, generator=generator)
    labels = torch.randint(0, config.classes, (config.examples, 1), generator=generator)
    return Batch(inputs, labels, torch.ones(config.examples, 1, dtype=torch.bool), loss="cross_entropy")


def _model(config: Glorot2010Config, init: str, seeds: int) -> MLP:
    model = MLP(config.input_size, depth=config.depth, width=config.width, output_size=config.classes,
                activation="tanh", init=_MLP_INIT[init], num_models=seeds, seed=config.seed)
    if init == "standard":
        # Glorot & Bengio start every bias at 0; "uniform" draws them like torch.nn.Linear does.
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.startswith("b_"):
                    param.zero_()
    return model


def _histograms(layers: list[torch.Tensor], edges: np.ndarray) -> np.ndarray:
    """Return (M, bins) densities of every layer's values, pooled over members, examples and units."""
    return np.stack([np.histogram(values.detach().double().flatten().numpy(), bins=edges, density=True)[0]
                     for values in layers])


def _executor(config: Glorot2010Config, init: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        batch = _batch(config)
        model = _model(config, init, seeds)
        measured = trace_depth(model, batch, jacobian_examples=config.jacobian_examples)
        # The instruments give norms; the paper's Figures 6–7 show the distributions themselves.
        with torch.enable_grad():
            trajectory = model(batch.inputs, probe=True)
            losses = member_loss(trajectory.outputs, batch)
            backprop = torch.autograd.grad(losses.sum(), trajectory.preactivation_probes)
        backprop_std = torch.stack([g.double().flatten(1).std(1) for g in backprop], -1)  # (K, M)
        top_std = backprop_std[:, -1:].clamp_min(torch.finfo(torch.float64).tiny)
        activation_edges = np.linspace(-1.0, 1.0, config.bins + 1)
        # In units of the top layer's spread, so both inits share the axis and the narrowing shows.
        gradient_edges = np.linspace(-4.0, 4.0, config.bins + 1)
        weights = model.weights()
        weight_rms = torch.stack([n / math.sqrt(w[0].numel()) for n, w in
                                  zip(measured.weight_grad_norms.unbind(-1), weights)], -1)
        # σ√n of each square hidden-to-hidden W_l (l = 2..M): the quarter-circle law's scale.
        weight_scale = torch.stack([w.detach().double().flatten(1).var(1).mul(w.shape[-1]).sqrt()
                                    for w in weights[1:-1]], -1)
        singular = measured.mean_jacobian_singular_value.double()          # (K, M − 1)
        arrays = {
            "activation_mean": measured.activation_mean.double().numpy(),
            "activation_std": measured.activation_std.double().numpy(),
            "saturated_fraction": measured.saturated_fraction.double().numpy(),
            "backprop_std": backprop_std.numpy(),
            "backprop_norms": measured.preactivation_grad_norms.double().numpy(),
            "state_grad_norms": measured.grad_norms.double().numpy(),
            "weight_grad_norms": measured.weight_grad_norms.double().numpy(),
            "weight_grad_rms": weight_rms.double().numpy(),
            "weight_scale": weight_scale.numpy(),
            "singular_values": measured.jacobian_singular_values.double().numpy(),   # (K, M − 1, n)
            "mean_singular_value": singular.numpy(),
            "loss": measured.loss.double().numpy(),
            "activation_edges": activation_edges,
            "activation_histogram": _histograms(trajectory.states, activation_edges),
            "gradient_edges": gradient_edges,
            "gradient_histogram": _histograms([g / top_std[:, None, :1].to(g.dtype) for g in backprop],
                                              gradient_edges),
        }
        per_member = singular.mean(-1).numpy()
        first_last = (backprop_std[:, 0] / backprop_std[:, -1]).numpy()
        summary = {
            "init": init,
            "mlp_init": _MLP_INIT[init],
            "seeds": seeds,
            "mean_singular_value": float(np.median(per_member)),
            "mean_singular_value_min": float(per_member.min()),
            "mean_singular_value_max": float(per_member.max()),
            **{f"singular_value/J{layer}": float(np.median(singular[:, layer - 2].numpy()))
               for layer in range(2, config.depth + 1)},
            "published_singular_value": PUBLISHED.settings["mean_jacobian_singular_value"][init],
            "linear_prediction": float(QUARTER_CIRCLE_MEAN * np.median(weight_scale.mean(-1).numpy())),
            "activation_std/first": float(np.median(arrays["activation_std"][:, 0])),
            "activation_std/last": float(np.median(arrays["activation_std"][:, -1])),
            "backprop_std_ratio": float(np.median(first_last)),
            # Per entry, as the paper's Figure 8 compares them: W_1 has more entries than W_M.
            "weight_grad_rms_ratio": float(np.median((weight_rms[:, 0] / weight_rms[:, -2]).double().numpy())),
            "saturated_fraction": float(np.median(arrays["saturated_fraction"].mean(-1))),
            "loss": float(np.median(arrays["loss"])),
        }
        run_config = {**config.model_dump(), "init": init, "mlp_init": _MLP_INIT[init], "seeds": seeds,
                      "published": PUBLISHED.source}
        return Outcome(arrays, run_config, summary)

    return execute
