"""The vanishing study's config, its smoke-test size, and the names its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_choice, check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "CURES",
    "FINAL_PROFILE",
    "LABELS",
    "INIT_PROFILE",
    "MODELS",
    "QUICK",
    "TRAINED_CURES",
    "VanishingConfig",
]

#: The plain tanh RNN, the baseline every cure is measured against; also its run's name.
BASELINE = "tanh"
#: The cures of the vanishing gradient, in the order the report shows them; each is also its run's name.
CURES: tuple[str, ...] = ("irnn", "orthogonal", "esn", "lstm", "gru")
#: Every model of the study: the baseline, then the cures.
MODELS: tuple[str, ...] = (BASELINE, *CURES)
#: The cures whose recurrent weights are trained by backpropagation through time, so whose gradient profile
#: ‖∂L/∂h_t‖ says something: the ESN trains only its readout, and no gradient travels back through its reservoir.
TRAINED_CURES: tuple[str, ...] = tuple(cure for cure in CURES if cure != "esn")

#: Each model's name in the figures and sentences, per language.
LABELS: dict[str, dict[str, str]] = {
    "tanh": {"en": "tanh RNN", "pt": "RNN tanh"},
    "irnn": {"en": "IRNN (ReLU, W_rec = I)", "pt": "IRNN (ReLU, W_rec = I)"},
    "orthogonal": {"en": "tanh RNN, orthogonal W_rec", "pt": "RNN tanh, W_rec ortogonal"},
    "esn": {"en": "echo state network", "pt": "rede de estado de eco"},
    "lstm": {"en": "LSTM", "pt": "LSTM"},
    "gru": {"en": "GRU", "pt": "GRU"},
}

# Arrays of each run, read by the claims and the figures.
#: (K, T) ‖∂L/∂h_t‖ at initialization, on the probe batch.
INIT_PROFILE = "init/grad_norms"
#: (K, T) ‖∂L/∂h_t‖ after training, on the same probe batch.
FINAL_PROFILE = "final/grad_norms"
#: (E,) the training steps at which the held-out batch was scored.
EVAL_STEP = "eval/step"
#: (E, K) held-out loss per evaluation and member.
HELD_OUT_LOSS = "task/loss"

# Summary keys of each run.
SUCCESSES = "successes"
SEEDS = "seeds"
SUCCESS_LOW = "success_low"
SUCCESS_HIGH = "success_high"
ACCURACY = "task/accuracy"
LOSS = "task/loss"
BASELINE_LOSS = "baseline_loss"
LENGTH = "length"
#: Horizons (steps back before ‖∂L/∂h_t‖ falls 10⁻⁶ below its peak) at initialization: smallest and largest member.
INIT_HORIZON_MIN = "init/horizon_min"
INIT_HORIZON_MAX = "init/horizon_max"
#: min over members of ‖∂L/∂h_1‖ / max_t ‖∂L/∂h_t‖ at initialization: how far the gradient fell by the first step.
INIT_FIRST_RATIO = "init/first_to_peak_min"


class VanishingConfig(StudyConfig):
    """Sizes of the vanishing study: the defaults are the course's (about 75 CPU seconds in all).

    Every trained model gets the same task, hidden size, optimizer (Adam), learning rate, clipping, batch size
    and number of steps; only the architecture and its initialization differ. The baseline is a tanh RNN with
    torch's default start U(±1/√H), so ρ(W_rec) ≈ 0.58 and the gradient shrinks by about that much per step.

    Raises:
        ConfigError: for an unknown key or a value of the wrong type.
        ValueError: for an unknown model, or a size, rate or bias out of its range.
    """

    models: tuple[str, ...] = MODELS
    # The latch task of Bengio et al. (1994): the answer is the sign of the first 3 inputs, the 97 after them are
    # noise, so only a gradient that travels all the way back to t = 1 can teach it. At this length the tanh
    # RNN's gradient falls more than 10⁻⁶ below its peak within about 30 steps back.
    length: int = 100
    hidden_size: int = 32
    # Enough for the slowest cure (the orthogonal start) to reach its last seed.
    steps: int = 600
    # Adam for every trained model. At 1e-2 Adam's large early steps can blow up a tanh W_rec until a seed
    # latches by chance; 3e-3 is a usual rate that leaves each model to its own gradient.
    lr: float = 3e-3
    max_norm: float = 1.0  # every trained model's gradient is clipped to this global norm, as Le et al. (2015) did
    # IRNN (Le et al. 2015): W_rec = I, ReLU units; W_in and W_out ~ N(0, std²). The paper's std 0.001 was for SGD;
    # Adam's first steps move every weight by about lr, which at 0.001 can push each unit's bias below its input
    # for good (every unit dead). 0.1, about the default start's 1/√H, keeps them alive.
    irnn_input_std: float = 0.1
    # The LSTM's forget-gate bias and the GRU's update-gate bias: σ(3) ≈ 0.95, so each gate starts keeping 95 % of
    # the state per step and the gradient along it falls to about 0.95¹⁰⁰ ≈ 0.6 % over the sequence. The usual
    # forget bias 1 (σ ≈ 0.73) loses it as fast as the tanh RNN: 0.73¹⁰⁰ ≈ 10⁻¹⁴.
    gate_bias: float = 3.0
    # The echo state network: a reservoir of slow leaky units (leak 0.05, ρ = 0.99) holds the latched sign over the
    # whole sequence; only its linear readout is fitted, by ridge regression on the last step.
    reservoir_size: int = 200
    esn_leak_rate: float = 0.05
    esn_spectral_radius: float = 0.99
    esn_ridge: float = 1e-4
    esn_train_sequences: int = 1000
    batch_size: int = 32
    eval_batch_size: int = 256  # held-out sequences per seed: solving means at most 2 of them wrong
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("`models` must name at least one model, got ().")
        for model in self.models:
            check_choice("models", model, MODELS, what="model")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"`models` names a model twice: {self.models!r}.")
        check_int("length", self.length, minimum=5, maximum=100_000)
        for name in ("hidden_size", "steps", "reservoir_size", "esn_train_sequences", "batch_size",
                     "eval_batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("lr", "max_norm", "irnn_input_std", "esn_spectral_radius"):
            check_real(name, getattr(self, name), minimum=0.0, exclusive_minimum=True)
        check_real("esn_leak_rate", self.esn_leak_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        check_real("esn_ridge", self.esn_ridge, minimum=0.0)
        check_real("gate_bias", self.gate_bias)


#: A smoke test of a few seconds: short sequences, few units and steps. Its verdicts mean nothing.
QUICK = VanishingConfig(length=10, hidden_size=4, steps=8, batch_size=4, eval_batch_size=16, reservoir_size=16,
                        esn_train_sequences=32)
