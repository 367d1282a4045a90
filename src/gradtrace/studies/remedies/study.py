"""Every remedy of the seeds on the long-range tasks where the plain tanh RNN fails, over seeds."""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.instruments import trace
from gradtrace.models import ESN, GRU, LSTM, ElmanRNN, RecurrentModel
from gradtrace.models.initialization import initialize
from gradtrace.remedies import chain, clip_by_global_norm, pascanu_penalty
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.stats import wilson_interval
from gradtrace.tasks import Adding, Batch, Task, TemporalOrder
from gradtrace.train import fit

__all__ = ["REMEDY_SETUPS", "Remedies", "RemediesConfig", "fit_esn_readout"]

#: The configurations compared, in the order the report shows them, with their labels.
REMEDY_SETUPS = {
    "tanh": "tanh RNN",
    "clip": "+ clipping",
    "clip_omega": "+ clipping + Ω",
    "tbptt": "+ truncated BPTT",
    "irnn": "IRNN (ReLU, W_rec = I)",
    "orthogonal": "orthogonal W_rec",
    "esn": "echo state network",
    "lstm": "LSTM",
    "gru": "GRU",
}


class RemediesConfig(StudyConfig):
    """Sizes of the remedies study (the defaults take about five minutes on 2 CPU cores)."""

    setups: tuple[str, ...] = tuple(REMEDY_SETUPS)
    # Lengths at which the plain tanh RNN solved 0 of 5 seeds in the long-range study's budget.
    adding_length: int = 40
    temporal_order_length: int = 60
    tasks: tuple[str, ...] = ("adding", "temporal_order")
    hidden_size: int = 32
    steps: int = 800
    lr: float = 1e-2             # Adam for every trained setup, as in the long-range study
    max_norm: float = 1.0        # clipping threshold (Pascanu et al. 2013)
    omega_weight: float = 2.0    # α of Ω with the mean reduction (the authors' code default)
    truncation_fraction: float = 0.5  # TBPTT windows of half the sequence: k1 = k2 = T/2
    reservoir_size: int = 200    # an ESN is only as good as its reservoir is large; untrained, so cheap
    esn_leak_rate: float = 0.2   # slow units integrate the markers over many steps
    esn_spectral_radius: float = 0.95
    esn_ridge: float = 1e-4
    esn_train_sequences: int = 4000
    lstm_forget_bias: float = 1.0
    batch_size: int = 32
    eval_batch_size: int = 256
    seed: int = 0


# A first look in well under a minute (the default `gradtrace run` includes it): shorter sequences,
# fewer units and steps; the ordering of the setups already shows.
QUICK = RemediesConfig(adding_length=20, temporal_order_length=30, hidden_size=16, steps=250,
                       eval_batch_size=128, reservoir_size=100, esn_train_sequences=1000)


def _make_task(name: str, config: RemediesConfig) -> Task:
    if name == "adding":
        return Adding(config.adding_length, variant="sum")
    return TemporalOrder(config.temporal_order_length)


def _make_model(setup: str, task: Task, config: RemediesConfig, seeds: int) -> RecurrentModel:
    size = (task.input_size, config.hidden_size, task.output_size)
    options = {"readout": "last", "num_models": seeds, "seed": config.seed}
    if setup == "irnn":
        return initialize(ElmanRNN(*size, activation="relu", **options), "identity")
    if setup == "orthogonal":
        return initialize(ElmanRNN(*size, **options), "orthogonal")
    if setup == "esn":
        return ESN(task.input_size, config.reservoir_size, task.output_size, leak_rate=config.esn_leak_rate,
                   spectral_radius=config.esn_spectral_radius, ridge=config.esn_ridge, **options)
    if setup == "lstm":
        return initialize(LSTM(*size, **options), "lstm_forget_bias", value=config.lstm_forget_bias)
    if setup == "gru":
        return GRU(*size, **options)
    return ElmanRNN(*size, **options)


def _remedy(setup: str, config: RemediesConfig):
    if setup == "clip":
        return clip_by_global_norm(config.max_norm)
    if setup == "clip_omega":
        # Pascanu et al.'s MSGD-CR: the gradient of E + αΩ, then clipped.
        return chain(pascanu_penalty(config.omega_weight), clip_by_global_norm(config.max_norm))
    return None


def fit_esn_readout(esn: ESN, task: Task, sequences: int, *, seed: int) -> ESN:
    """Fit an ESN's readout in closed form to a many-to-one task's last-step targets.

    Class targets are one-hot encoded, so the readout's outputs serve as logits for scoring.

    Args:
        esn: the echo state network (readout "last").
        task: the task; only the last step of each sequence is regressed.
        sequences: training sequences per member.
        seed: data seed of member 0 (member k uses seed + k, as in :func:`~gradtrace.train.fit`).
    """
    batches = [task.sample(sequences, seed=seed + k) for k in range(esn.num_models)]
    inputs = torch.stack([b.inputs for b in batches])
    targets = torch.stack([b.targets for b in batches])
    if task.loss_kind == "cross_entropy":
        targets = torch.nn.functional.one_hot(targets, task.output_size).to(inputs.dtype)
    steps = inputs.shape[-2]
    return esn.fit_readout(inputs, targets, washout=steps - 1)


class Remedies(Study):
    """The remedies of the seeds side by side, each over an ensemble of seeds, on two long-range tasks.

    A tanh RNN, the same with clipping, with clipping and Pascanu's Ω, with truncated BPTT; an IRNN;
    an orthogonally initialized tanh RNN; an echo state network with a ridge readout; an LSTM and a
    GRU. Reports the success rate with its interval, the loss curves, and each setup's gradient
    profile ‖∂L/∂h_t‖ after training.
    """

    name = "remedies"
    config_class = RemediesConfig
    quick_config = QUICK
    title = "Remedies for the vanishing gradient, side by side"
    description = ("Tanh RNN, + clipping, + clipping + Ω, + truncated BPTT, IRNN, orthogonal init, echo state "
                   "network, LSTM and GRU on the adding and temporal order problems at lengths where the tanh "
                   "RNN fails: success rate over seeds with a 95% interval, loss curves and gradient profiles.")

    summary_columns = (("solved", "successes", "d"), ("of", "seeds", "d"), ("95% low", "success_low", ".0%"),
                       ("95% high", "success_high", ".0%"), ("held-out loss", "task/loss", ".4f"),
                       ("baseline", "baseline_loss", ".4f"), ("horizon", "final/horizon", ".0f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        unknown = sorted(set(config.setups) - set(REMEDY_SETUPS))
        if unknown:
            raise ValueError(f"Unknown setup(s) {unknown} in the remedies study. Available: "
                             f"{', '.join(REMEDY_SETUPS)}.")
        unknown = sorted(set(config.tasks) - {"adding", "temporal_order"})
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown} in the remedies study. Available: adding, temporal_order.")
        return [RunSpec(f"{task}-{setup}", 1 if setup == "esn" else config.steps,
                        _executor(config, task, setup, seeds))
                for task in config.tasks for setup in config.setups]


    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """The tanh RNN fails each task; each cure of the vanishing gradient solves it; those of exploding do not.

        Clipping, Ω and truncation treat exploding gradients: the course expects them to fail here, and says why.
        """
        config = self.resolve(quick)
        if "tanh" not in config.setups:
            return []
        lengths = {"adding": config.adding_length, "temporal_order": config.temporal_order_length}
        claims = [_tanh_fails_claim(task, lengths[task]) for task in config.tasks]
        claims += [_cure_claim(task, lengths[task], setup) for task in config.tasks for setup in _VANISHING_CURES
                   if setup in config.setups]
        exploding = [setup for setup in _EXPLODING_CURES if setup in config.setups]
        if exploding:
            claims.append(_not_for_vanishing_claim(config.tasks, exploding))
        return claims


# Of K seeds: "solves" is at least 4 in 5, "fails" at most 1 in 5.
_SOLVES, _FAILS = 0.8, 0.2
_VANISHING_CURES = ("irnn", "orthogonal", "esn", "lstm", "gru")
_EXPLODING_CURES = ("clip", "clip_omega", "tbptt")
# Portuguese contracts the article with the preposition: "do problema" (of), "no problema" (in).
_TASK_WORDS = {"adding": {"en": "the adding problem", "pt": "o problema da adição",
                          "pt_of": "do problema da adição", "pt_in": "no problema da adição"},
               "temporal_order": {"en": "the temporal order problem", "pt": "o problema da ordem temporal",
                                  "pt_of": "do problema da ordem temporal", "pt_in": "no problema da ordem temporal"}}
_SETUP_WORDS = {"irnn": {"en": "The IRNN (ReLU, W_rec = I)", "pt": "A IRNN (ReLU, W_rec = I)"},
                "orthogonal": {"en": "The tanh RNN with orthogonal W_rec", "pt": "A RNN tanh com W_rec ortogonal"},
                "esn": {"en": "The echo state network", "pt": "A rede de estado de eco"},
                "lstm": {"en": "The LSTM", "pt": "A LSTM"},
                "gru": {"en": "The GRU", "pt": "A GRU"}}


def _fails(summary) -> bool:
    return summary["successes"] <= _FAILS * summary["seeds"]


def _tanh_fails_claim(task: str, length: int) -> Claim:
    run = f"{task}-tanh"

    def evaluate(results: Results):
        summary = results.summary(run)
        return _fails(summary), {"T": length, "n": summary["successes"], "K": summary["seeds"],
                                 "loss": summary["task/loss"], "baseline": summary["baseline_loss"]}

    words = _TASK_WORDS[task]
    return Claim(
        f"tanh-fails-{task.replace('_', '-')}",
        {"en": f"The tanh RNN fails {words['en']} at this length: at most 1 of 5 seeds solve it.",
         "pt": f"A RNN tanh falha {words['pt_in']} neste comprimento: no máximo 1 de 5 sementes o resolvem."},
        {"en": f"At T = {{T}} the tanh RNN solves {{n}}/{{K}} seeds of {words['en']} (held-out loss {{loss:.3f}}, "
               "baseline {baseline:.3f}).",
         "pt": f"Com T = {{T}} a RNN tanh resolve {{n}}/{{K}} sementes {words['pt_of']} (perda de validação "
               "{loss:.3f}, referência {baseline:.3f})."},
        evaluate, requires=(run,))


def _cure_claim(task: str, length: int, setup: str) -> Claim:
    run, tanh = f"{task}-{setup}", f"{task}-tanh"

    def evaluate(results: Results):
        cure, plain = results.summary(run), results.summary(tanh)
        held = _fails(plain) and cure["successes"] >= _SOLVES * cure["seeds"]
        return held, {"T": length, "n": cure["successes"], "K": cure["seeds"], "n_tanh": plain["successes"],
                      "accuracy": cure["task/accuracy"]}

    words, who = _TASK_WORDS[task], _SETUP_WORDS[setup]
    return Claim(
        f"{setup}-solves-{task.replace('_', '-')}",
        {"en": f"{who['en']} solves {words['en']} (at least 4 of 5 seeds) at a length where the tanh RNN fails.",
         "pt": f"{who['pt']} resolve {words['pt']} (pelo menos 4 de 5 sementes) num comprimento em que a RNN tanh "
               "falha."},
        {"en": f"At T = {{T}} {who['en'][0].lower()}{who['en'][1:]} solves {{n}}/{{K}} seeds of {words['en']} "
               "(median accuracy {accuracy:.0%}); the plain tanh RNN {n_tanh}/{K}.",
         "pt": f"Com T = {{T}} {who['pt'][0].lower()}{who['pt'][1:]} resolve {{n}}/{{K}} sementes {words['pt_of']} "
               "(acurácia mediana {accuracy:.0%}); a RNN tanh simples, {n_tanh}/{K}."},
        evaluate, requires=(run, tanh))


def _not_for_vanishing_claim(tasks: tuple[str, ...], setups: list[str]) -> Claim:
    runs = [f"{task}-{setup}" for task in tasks for setup in setups]

    def evaluate(results: Results):
        summaries = [results.summary(run) for run in runs]
        solved = sum(s["successes"] for s in summaries)
        return all(_fails(s) for s in summaries), {"solved": solved, "trials": sum(s["seeds"] for s in summaries),
                                                   "runs": len(runs)}

    return Claim(
        "exploding-cures-do-not-cure-vanishing",
        {"en": "Clipping, Pascanu's Ω and truncated BPTT treat exploding gradients, not vanishing ones: each leaves "
               "the tanh RNN failing (at most 1 of 5 seeds).",
         "pt": "A poda, o Ω de Pascanu e a BPTT truncada tratam o gradiente que explode, não o que desaparece: com "
               "cada um a RNN tanh continua falhando (no máximo 1 de 5 sementes)."},
        {"en": "With clipping, clipping + Ω or truncated BPTT the tanh RNN solves {solved} of {trials} seeds over "
               "{runs} runs: they do not bring back a gradient that vanished.",
         "pt": "Com poda, poda + Ω ou BPTT truncada a RNN tanh resolve {solved} de {trials} sementes em {runs} "
               "execuções: não trazem de volta um gradiente que desapareceu."},
        evaluate, requires=tuple(runs))


def _executor(config: RemediesConfig, task_name: str, setup: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = _make_task(task_name, config)
        model = _make_model(setup, task, config, seeds)
        remedy = _remedy(setup, config)
        truncation = None
        if setup == "tbptt":
            k = max(1, round(config.truncation_fraction * task.max_length))
            truncation = (k, k)
        run_config = {**config.model_dump(), "setup": setup, "label": REMEDY_SETUPS[setup], "task": task.describe(),
                      "task_name": task_name, "seeds": seeds,
                      "remedy": remedy.describe() if remedy is not None else None, "truncation": truncation}
        if setup == "esn":
            arrays = _esn_arrays(model, task, config, callback)
        else:
            try:
                run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                          seed=config.seed, eval_batch_size=config.eval_batch_size, remedies=remedy,
                          truncation=truncation, callback=callback)
            except RunInterrupted as error:
                raise RunInterrupted(str(error), partial=Outcome(_arrays(error.partial), run_config, {},
                                                                 "interrupted")) from None
            arrays = _arrays(run)
        probe = task.sample(config.eval_batch_size, seed=config.seed + 7919)
        final = trace(model, probe, jacobian_steps=0)
        arrays["final/grad_norms"] = final.grad_norms.numpy()
        arrays["final/horizon"] = final.horizon.numpy()
        success = arrays["task/success"][-1]
        successes = int(np.sum(success == 1))
        low, high = wilson_interval(successes, seeds)
        summary = {
            "setup": setup, "task": task_name, "length": task.max_length, "seeds": seeds,
            "successes": successes, "success_rate": successes / seeds, "success_low": low, "success_high": high,
            "task/loss": float(np.nanmedian(arrays["task/loss"][-1])),
            "task/accuracy": float(np.nanmedian(arrays["task/accuracy"][-1])),
            "baseline_loss": task.baseline_loss,
            "final/horizon": float(np.median(arrays["final/horizon"])),
            "diverged": int((arrays["diverged_at"] >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _esn_arrays(esn: ESN, task: Task, config: RemediesConfig, callback: StepCallback | None) -> dict:
    fit_esn_readout(esn, task, config.esn_train_sequences, seed=config.seed)
    evaluation = [task.sample(config.eval_batch_size, seed=config.seed + k + 1_000_003) for k in range(esn.num_models)]
    batch = Batch.stack(evaluation)
    with torch.no_grad():
        metrics = task.score(esn(batch.inputs).outputs, batch)
    if callback is not None:
        callback(0, {"train/loss": metrics["task/loss"].double()})
    as_row = {key: metrics[key].double().numpy()[None] for key in ("task/loss", "task/accuracy", "task/success")}
    return {"train/loss": np.zeros((0, esn.num_models)), "eval/step": np.array([config.steps - 1]), **as_row,
            "trace/steps": np.zeros(0, dtype=np.int64),
            "trace/grad_norms": np.zeros((0, esn.num_models, task.max_length)),
            "diverged_at": np.full(esn.num_models, -1)}


def _arrays(run) -> dict[str, np.ndarray]:
    return {
        "train/loss": run.history["train/loss"],
        "eval/step": run.history["eval/step"],
        "task/loss": run.history["task/loss"],
        "task/accuracy": run.history["task/accuracy"],
        "task/success": run.history["task/success"],
        "trace/steps": run.trace_steps,
        "trace/grad_norms": run.trace_grad_norms,
        "diverged_at": run.diverged_at,
    }
