"""Le, Jaitly & Hinton 2015: ReLU units with an identity recurrent matrix (IRNN) on the adding problem.

An IRNN starts as h_t = relu(h_{t−1} + W_in x_t): with W_rec = I and small inputs the Jacobian
∂h_t/∂h_{t−1} is the identity on the active units, so the error at the last step reaches the first
marker undiminished, where a tanh RNN's default start shrinks it step after step. This study trains the
IRNN, a tanh RNN with its default initialization and an LSTM on ``Adding(T, variant="sum")`` and draws
their held-out MSE against the baseline 1/6 of always answering 1.

References:
    Le, Jaitly & Hinton 2015, "A simple way to initialize recurrent networks of rectified linear units",
    arXiv:1504.00941.
"""

from __future__ import annotations

import numpy as np

from gradtrace.errors import RunInterrupted, check_choice, check_int, check_real
from gradtrace.models import LSTM, ElmanRNN
from gradtrace.models.initialization import initialize
from gradtrace.remedies import clip_by_global_norm
from gradtrace.studies.base import TRAINING_KEYS, Outcome, RunSpec, StepCallback, Study, StudyConfig, run_arrays
from gradtrace.studies.claims import Claim
from gradtrace.studies.le2015.claims import claims as build_claims
from gradtrace.studies.stats import nan_quantiles, wilson_interval
from gradtrace.tasks import Adding
from gradtrace.train import OPTIMIZERS, fit

__all__ = ["LE2015_MODELS", "PAPER", "QUICK", "Le2015", "Le2015Config"]

#: The three networks of the comparison.
LE2015_MODELS: tuple[str, ...] = ("irnn", "tanh", "lstm")


class Le2015Config(StudyConfig):
    """Sizes of the Le, Jaitly & Hinton 2015 study (the defaults take about 3 minutes on one core).

    Raises:
        ValueError: for an unknown model, a model without a learning rate, a length below 2, or a
            non-positive size, step count, learning rate, clipping norm or margin.
    """

    models: tuple[str, ...] = ("irnn", "tanh", "lstm")
    lengths: tuple[int, ...] = (150,)  # the shortest length of the paper's adding experiment
    # The paper's 100 units (as a third-party reproduction states) cost an LSTM step about 4 times as
    # much at T = 150; 32 units buy 4 times as many updates in the same time.
    hidden_size: int = 32
    steps: int = 1500
    batch_size: int = 16
    # The paper used SGD with gradient clipping and tuned the learning rate per model; at our budget
    # of updates SGD leaves every model on the baseline, so Adam, with rates per model.
    optimizer: str = "adam"
    lrs: tuple[tuple[str, float], ...] = (("irnn", 2e-3), ("tanh", 2e-3), ("lstm", 1e-2))
    clip_norm: float = 1.0    # clip_by_global_norm per member: an IRNN's gradient can explode
    lstm_forget_bias: float = 1.0  # the usual LSTM practice (Gers et al. 2000)
    # The standard deviation of the IRNN's input and output weights (its W_rec is I, its biases 0).
    irnn_std: float = 0.001
    # A seed "beats the baseline" when its held-out MSE is below margin × 1/6: a constant answer
    # scores 1/6 ± about 0.015 on 256 held-out sequences, never half of it.
    margin: float = 0.5
    eval_every: int = 25
    eval_batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("`models` must name at least one model, got ().")
        for model in self.models:
            check_choice("models", model, LE2015_MODELS, what="model")
        rates = dict(self.lrs)
        for model in self.models:
            if model not in rates:
                raise ValueError(f"`lrs` has no learning rate for model {model!r}; got {self.lrs!r}.")
            check_real(f"lrs[{model!r}]", rates[model], minimum=0.0, exclusive_minimum=True)
        if not self.lengths:
            raise ValueError("`lengths` must hold at least one length, got ().")
        for length in self.lengths:
            check_int("lengths", length, minimum=2, maximum=100_000)
        check_int("hidden_size", self.hidden_size, minimum=1)
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, what="optimizer")
        check_real("clip_norm", self.clip_norm, minimum=0.0, exclusive_minimum=True)
        check_real("lstm_forget_bias", self.lstm_forget_bias)
        check_real("irnn_std", self.irnn_std, minimum=0.0, exclusive_minimum=True)
        check_real("margin", self.margin, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        check_int("eval_every", self.eval_every, minimum=1)
        check_int("eval_batch_size", self.eval_batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)

    def lr(self, model: str) -> float:
        """Return the learning rate of ``model``."""
        return dict(self.lrs)[check_choice("model", model, self.models, what="model")]


#: A smoke-test version: a second or two.
QUICK = Le2015Config(lengths=(10,), hidden_size=4, steps=6, batch_size=4, eval_every=2, eval_batch_size=16)

#: ``--budget paper``: the paper's 100 units, batches of 16, clipping and the IRNN's start (W_rec = I, biases 0,
#: input and output weights N(0, 0.001²)) at T = 150, for 12,000 updates. Plain SGD left every IRNN on the
#: baseline for 3,000 updates at rates 0.001 to 0.1 here (the paper trained far longer), and Adam moves every
#: entry of W_rec by about the rate on its first steps, so it keeps the identity only at small rates: Adam at
#: 2e-4, where the IRNN left the baseline after about 5,000 updates. The LSTM is left out: at 100 units one of
#: its updates costs about 0.5 s here, over 1.5 hours for this budget. Measured on one shared core: 32 minutes
#: (IRNN 47 ms, tanh RNN 114 ms per update with the held-out checks).
PAPER = Le2015Config(models=("irnn", "tanh"), hidden_size=100, steps=12_000,
                     lrs=(("irnn", 2e-4), ("tanh", 2e-4), ("lstm", 2e-4)), eval_every=250, eval_batch_size=1000)


class Le2015(Study):
    """IRNN, tanh RNN and LSTM ensembles on ``Adding(T, variant="sum")`` against the baseline MSE 1/6.

    Args:
        config: sizes and budget; default :class:`Le2015Config` (or ``QUICK`` when quick).
    """

    name = "le2015"
    config_class = Le2015Config
    quick_config = QUICK
    paper_config = PAPER
    title = "Le, Jaitly & Hinton 2015: IRNN on the adding problem"
    description = ("ReLU RNNs started at the identity (IRNN), tanh RNNs and LSTMs on the adding problem at "
                   "T = 150: held-out MSE during training against the baseline 1/6 of always answering 1.")
    text = {
        "title": {"en": title, "pt": "Le, Jaitly & Hinton 2015: IRNN no problema da soma"},
        "question": {
            "en": "Started with W_rec at the identity, does a ReLU RNN (IRNN) get below the baseline on the adding "
                  "problem at T = 150, next to a tanh RNN and an LSTM?",
            "pt": "Começando com W_rec na identidade, uma RNN ReLU (IRNN) fica abaixo da referência no problema da "
                  "soma com T = 150, ao lado de uma RNN tanh e de uma LSTM?",
        },
        "description": {
            "en": description,
            "pt": "RNNs ReLU iniciadas na identidade (IRNN), RNNs tanh e LSTMs no problema da soma com T = 150: MSE "
                  "em dados separados ao longo do treino contra a referência 1/6 de responder sempre 1.",
        },
    }

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(f"{model}-T{length}", config.steps, _executor(config, model, length, seeds))
                for length in config.lengths for model in config.models]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """The IRNN gets clearly below the baseline at T = 150; the tanh RNN stays on it (see the claims module)."""
        config = self.resolve(quick)
        return build_claims(config.models, config.lengths, config.margin)


def _build(config: Le2015Config, model_name: str, task: Adding, seeds: int):
    sizes = (task.input_size, config.hidden_size, task.output_size)
    if model_name == "lstm":
        model = LSTM(*sizes, readout="last", num_models=seeds, seed=config.seed)
        return initialize(model, "lstm_forget_bias", value=config.lstm_forget_bias)
    if model_name == "irnn":
        model = ElmanRNN(*sizes, activation="relu", readout="last", num_models=seeds, seed=config.seed)
        return initialize(model, "identity", std=config.irnn_std)
    return ElmanRNN(*sizes, activation="tanh", readout="last", num_models=seeds, seed=config.seed)


def _executor(config: Le2015Config, model_name: str, length: int, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(length, variant="sum")
        model = _build(config, model_name, task, seeds)
        lr = config.lr(model_name)
        run_config = {**config.model_dump(), "model": model_name, "length": length, "seeds": seeds, "lr": lr,
                      "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, optimizer=config.optimizer, lr=lr,
                      batch_size=config.batch_size, seed=config.seed,
                      remedies=clip_by_global_norm(config.clip_norm), eval_every=config.eval_every,
                      eval_batch_size=config.eval_batch_size, callback=callback)
        except RunInterrupted as error:
            partial = error.partial
            raise RunInterrupted(str(error), partial=Outcome(_arrays(partial), run_config, {}, "interrupted")
                                 ) from None
        arrays = _arrays(run)
        return Outcome(arrays, run_config, _summary(run, task, model_name, length, seeds, config))

    return execute


def _arrays(run) -> dict[str, np.ndarray]:
    return run_arrays(run, (*TRAINING_KEYS, "grad/norm"), optional={"clip_by_global_norm/fired": "clip/fired"})


def _summary(run, task: Adding, model_name: str, length: int, seeds: int, config: Le2015Config) -> dict:
    loss = np.asarray(run.final["task/loss"], dtype=np.float64)
    low, mid, high = nan_quantiles(loss[None], 1)[:, 0]
    beats = int(np.sum(loss < config.margin * task.baseline_loss))  # NaN (diverged) never beats it
    beat_low, beat_high = wilson_interval(beats, seeds)
    successes = int(np.sum(run.final["task/success"] == 1))
    fired = run.history.get("clip_by_global_norm/fired")
    return {
        "model": model_name,
        "length": length,
        "seeds": seeds,
        "baseline_loss": task.baseline_loss,
        "task/loss": float(mid),
        "task/loss_min": float(low),
        "task/loss_max": float(high),
        "beats_baseline": beats,
        "beats_low": beat_low,
        "beats_high": beat_high,
        "successes": successes,
        "clip_fraction": float(np.nanmean(fired)) if fired is not None and np.isfinite(fired).any() else None,
        "diverged": int((run.diverged_at >= 0).sum()),
    }
