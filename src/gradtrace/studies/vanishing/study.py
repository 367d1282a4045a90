"""The cures for the vanishing gradient, side by side, on a task whose answer lies at the first step.

A tanh RNN with the default start cannot learn the latch task at T = 100: its gradient falls more than six
orders of magnitude before it reaches the first inputs, the only ones that matter. Each cure keeps a path
along which the gradient survives (or, for the echo state network, needs none): an identity W_rec with ReLU
units (IRNN), an orthogonal W_rec, a fixed reservoir with a readout fitted in closed form, the LSTM's cell
state and the GRU's update gate.
"""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.instruments import trace
from gradtrace.models import ESN, GRU, LSTM, ElmanRNN, RecurrentModel
from gradtrace.models.initialization import initialize
from gradtrace.remedies import clip_by_global_norm
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, median_horizon, run_arrays
from gradtrace.studies.claims import Claim
from gradtrace.studies.stats import wilson_interval
from gradtrace.studies.vanishing import claims as vanishing_claims
from gradtrace.studies.vanishing.config import (
    ACCURACY,
    BASELINE,
    BASELINE_LOSS,
    CURES,
    EVAL_STEP,
    FINAL_PROFILE,
    HELD_OUT_LOSS,
    INIT_FIRST_RATIO,
    INIT_HORIZON_MAX,
    INIT_HORIZON_MIN,
    INIT_PROFILE,
    LENGTH,
    LOSS,
    MODELS,
    QUICK,
    SEEDS,
    SUCCESS_HIGH,
    SUCCESS_LOW,
    SUCCESSES,
    VanishingConfig,
)
from gradtrace.tasks import Batch, Latch, Task
from gradtrace.train import fit

__all__ = ["CURES", "MODELS", "QUICK", "Vanishing", "VanishingConfig", "build_model", "fit_esn_readout"]

# The probe batch the gradient profiles are measured on, at initialization and after training: drawn from
# seed + this, apart from every member's training data (seed + k) and held-out data (seed + k + 1000003).
_PROBE_SEED = 7919
# The held-out data of member k, as fit() draws it: the ESN is scored on the same sequences as the others.
_HELD_OUT_SEED = 1_000_003


def build_model(name: str, task: Task, config: VanishingConfig, seeds: int) -> RecurrentModel:
    """Return the ensemble of ``seeds`` members called ``name``, initialized as the study starts it.

    Args:
        name: one of :data:`MODELS`.
        task: the task, for the input and output sizes.
        config: the study's config (sizes, biases, the seed of member 0).
        seeds: ensemble members K; member k is built from ``config.seed + k``.

    Raises:
        ValueError: for an unknown name, listing the models.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r} in the vanishing study. Available: {', '.join(MODELS)}.")
    size = (task.input_size, config.hidden_size, task.output_size)
    options = {"readout": "last", "num_models": seeds, "seed": config.seed}
    if name == BASELINE:
        return ElmanRNN(*size, **options)  # tanh, torch's default start U(±1/√H)
    if name == "irnn":
        return initialize(ElmanRNN(*size, activation="relu", **options), "identity", std=config.irnn_input_std)
    if name == "orthogonal":
        return initialize(ElmanRNN(*size, **options), "orthogonal")
    if name == "esn":
        return ESN(task.input_size, config.reservoir_size, task.output_size, leak_rate=config.esn_leak_rate,
                   spectral_radius=config.esn_spectral_radius, ridge=config.esn_ridge, **options)
    if name == "lstm":
        return initialize(LSTM(*size, **options), "lstm_forget_bias", value=config.gate_bias)
    model = GRU(*size, **options)  # the one name left
    hidden = config.hidden_size
    with torch.no_grad():  # gate order r, z, n: the update gate z is the second block
        model.b[:, hidden:2 * hidden].fill_(config.gate_bias)
        model.b_rec[:, hidden:2 * hidden].zero_()
    return model


def fit_esn_readout(esn: ESN, task: Task, sequences: int, *, seed: int) -> ESN:
    """Fit an ESN's readout in closed form to a many-to-one task's last-step targets.

    Class targets are one-hot encoded, so the readout's outputs serve as logits for scoring.

    Args:
        esn: the echo state network (readout "last").
        task: the task; only the last step of each sequence is regressed.
        sequences: training sequences per member.
        seed: data seed of member 0 (member k uses seed + k, as :func:`~gradtrace.train.fit` does).

    Returns:
        ``esn``, its readout fitted.
    """
    batches = [task.sample(sequences, seed=seed + k) for k in range(esn.num_models)]
    inputs = torch.stack([b.inputs for b in batches])
    targets = torch.stack([b.targets for b in batches])
    if task.loss_kind == "cross_entropy":
        targets = torch.nn.functional.one_hot(targets, task.output_size).to(inputs.dtype)
    return esn.fit_readout(inputs, targets, washout=inputs.shape[-2] - 1)


class Vanishing(Study):
    """The plain tanh RNN and five cures of the vanishing gradient on the latch task, each over K seeds.

    Every model but the ESN trains with the same optimizer, learning rate, clipping, batch size and steps;
    the ESN fits its readout in closed form. Each run records the held-out loss during training, the success
    of each seed (at least 99 % of held-out sequences answered with the right sign), and the profile
    ‖∂L/∂h_t‖ over t at initialization and after training.
    """

    name = "vanishing"
    config_class = VanishingConfig
    quick_config = QUICK
    title = "Cures for the vanishing gradient"
    description = (
        "A tanh RNN with the default start, an IRNN (ReLU, W_rec = I), a tanh RNN with orthogonal W_rec, an echo "
        "state network, an LSTM and a GRU on the latch task: the sign given by the first inputs must be read out "
        "after a long stretch of noise. Success rate over seeds with a 95% interval, held-out loss during "
        "training, and ‖∂L/∂h_t‖ over t at initialization and after training.")
    text = {
        "title": {"en": title, "pt": "Curas para o gradiente que desaparece"},
        "question": {
            "en": "The tanh RNN cannot learn what happened 100 steps ago because its gradient vanishes on the way "
                  "back. Which changes to the network let the gradient, or the memory, reach that far?",
            "pt": "A RNN tanh não aprende o que aconteceu 100 passos atrás porque o seu gradiente desaparece no "
                  "caminho de volta. Que mudanças na rede deixam o gradiente, ou a memória, chegar tão longe?"},
        "description": {
            "en": description + " The trained models share the optimizer (Adam), learning rate, gradient clipping, "
                  "batch size and number of steps; the ESN trains only its linear readout, by ridge regression, "
                  "so no gradient travels back through its reservoir. The LSTM's forget gate and the GRU's update "
                  "gate start biased towards keeping the state.",
            "pt": "Uma RNN tanh com a inicialização padrão, uma IRNN (ReLU, W_rec = I), uma RNN tanh com W_rec "
                  "ortogonal, uma rede de estado de eco (ESN), uma LSTM e uma GRU na tarefa do trinco: o sinal dado "
                  "pelas primeiras entradas deve ser lido depois de um longo trecho de ruído. Taxa de sucesso entre "
                  "sementes com intervalo de 95%, perda em dados separados durante o treino e ‖∂L/∂h_t‖ ao longo de "
                  "t na inicialização e depois do treino. Os modelos treinados compartilham o otimizador (Adam), a "
                  "taxa de aprendizado, a poda do gradiente, o tamanho do lote e o número de passos; a ESN treina "
                  "só a sua leitura linear, por regressão ridge, e nenhum gradiente volta pelo seu reservatório. A "
                  "porta de esquecimento da LSTM e a porta de atualização da GRU começam inclinadas a manter o "
                  "estado."},
    }

    summary_columns = (("solved", SUCCESSES, "d"), ("of", SEEDS, "d"), ("95% low", SUCCESS_LOW, ".0%"),
                       ("95% high", SUCCESS_HIGH, ".0%"), ("held-out loss", LOSS, ".4f"),
                       ("horizon at init", INIT_HORIZON_MIN, ".0f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        """One run per model, named by the model: a K-member ensemble trained (or, for the ESN, fitted) once."""
        config = self.resolve(quick)
        return [RunSpec(name, 1 if name == "esn" else config.steps, _executor(config, name, seeds))
                for name in config.models]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """The tanh RNN fails; each cure solves where it fails; at the start the tanh RNN's gradient vanishes and
        the trained cures' does not (see :mod:`gradtrace.studies.vanishing.claims`)."""
        return vanishing_claims.claims(self.resolve(quick))


def _executor(config: VanishingConfig, name: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Latch(config.length)
        model = build_model(name, task, config, seeds)
        probe = task.sample(config.eval_batch_size, seed=config.seed + _PROBE_SEED)
        initial = trace(model, probe, jacobian_steps=0)
        run_config = {**config.model_dump(), "model": name, "seeds": seeds, "task": task.describe()}
        if name == "esn":
            arrays = _esn_arrays(model, task, config, callback)
        else:
            try:
                run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                          seed=config.seed, eval_batch_size=config.eval_batch_size,
                          remedies=clip_by_global_norm(config.max_norm), trace_every=config.steps,
                          callback=callback)
            except RunInterrupted as error:
                raise RunInterrupted(str(error), partial=Outcome(_arrays(error.partial), run_config, {},
                                                                 "interrupted")) from None
            arrays = _arrays(run)
        final = trace(model, probe, jacobian_steps=0)
        arrays[INIT_PROFILE] = initial.grad_norms.numpy()
        arrays[FINAL_PROFILE] = final.grad_norms.numpy()
        return Outcome(arrays, run_config, _summary(name, task, arrays, initial.horizon.numpy(), seeds))

    return execute


def _summary(name: str, task: Task, arrays: dict[str, np.ndarray], horizons: np.ndarray, seeds: int) -> dict:
    successes = int(np.sum(arrays["task/success"][-1] == 1))
    low, high = wilson_interval(successes, seeds)
    profile = arrays[INIT_PROFILE]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = profile[:, 0] / profile.max(axis=1)
    return {
        "model": name, LENGTH: task.max_length, SEEDS: seeds, SUCCESSES: successes,
        "success_rate": successes / seeds, SUCCESS_LOW: low, SUCCESS_HIGH: high,
        LOSS: float(np.nanmedian(arrays[HELD_OUT_LOSS][-1])),
        ACCURACY: float(np.nanmedian(arrays["task/accuracy"][-1])),
        BASELINE_LOSS: task.baseline_loss,
        INIT_HORIZON_MIN: int(horizons.min()), INIT_HORIZON_MAX: int(horizons.max()),
        "init/horizon": median_horizon(horizons),
        INIT_FIRST_RATIO: float(np.nanmin(ratio)) if np.isfinite(ratio).any() else float("nan"),
        "diverged": int((arrays["diverged_at"] >= 0).sum()),
    }


def _esn_arrays(esn: ESN, task: Task, config: VanishingConfig, callback: StepCallback | None) -> dict:
    fit_esn_readout(esn, task, config.esn_train_sequences, seed=config.seed)
    held_out = Batch.stack([task.sample(config.eval_batch_size, seed=config.seed + k + _HELD_OUT_SEED)
                            for k in range(esn.num_models)])
    with torch.no_grad():
        metrics = task.score(esn(held_out.inputs).outputs, held_out)
    if callback is not None:
        callback(0, {"train/loss": metrics["task/loss"].double()})
    row = {key: metrics[key].double().numpy()[None] for key in (HELD_OUT_LOSS, "task/accuracy", "task/success")}
    # Fitted once, after no training step: its one evaluation stands at step 0.
    return {"train/loss": np.zeros((0, esn.num_models)), EVAL_STEP: np.array([0]), **row,
            "diverged_at": np.full(esn.num_models, -1)}


def _arrays(run) -> dict[str, np.ndarray]:
    return run_arrays(run, ("train/loss", "task/accuracy", "task/success"),
                      renamed={"eval/step": EVAL_STEP, "task/loss": HELD_OUT_LOSS})
