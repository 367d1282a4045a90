"""Vanilla RNN against LSTM and GRU on the adding problem as the dependency gets longer."""

from __future__ import annotations

import numpy as np

from gradtrace.errors import RunInterrupted
from gradtrace.instruments import trace
from gradtrace.models import make_model
from gradtrace.models.initialization import lstm_forget_bias_
from gradtrace.studies.base import (
    TRAINING_KEYS,
    Outcome,
    RunSpec,
    StepCallback,
    Study,
    StudyConfig,
    median_horizon,
    run_arrays,
)
from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.stats import wilson_interval
from gradtrace.tasks import Adding
from gradtrace.train import fit

__all__ = ["LongRange", "LongRangeConfig"]


class LongRangeConfig(StudyConfig):
    """Sizes of the long-range study (the defaults take about two minutes on 2 CPU cores)."""

    models: tuple[str, ...] = ("elman", "lstm", "gru")
    lengths: tuple[int, ...] = (10, 30, 60)
    hidden_size: int = 32
    steps: int = 800
    lr: float = 1e-2          # Adam; the same for every model
    lstm_forget_bias: float = 1.0  # the usual LSTM practice (Gers 2000); 0.5-ish gates forget fast
    batch_size: int = 32
    eval_batch_size: int = 256  # held-out sequences per seed: 99 % accuracy means ≤ 2 wrong
    seed: int = 0


QUICK = LongRangeConfig(lengths=(5, 10), hidden_size=8, steps=10, batch_size=8, eval_batch_size=16)


class LongRange(Study):
    """Elman (tanh), LSTM and GRU ensembles trained on ``Adding("sum")`` at several lengths.

    Records loss curves against the task's baseline, the success rate per length (a member
    succeeds when ≥ 99 % of held-out sequences are within the tolerance), and the profile
    ‖∂L/∂h_t‖ along training, to show where the vanilla RNN's gradient stops reaching the markers.
    """

    name = "long-range"
    config_class = LongRangeConfig
    quick_config = QUICK
    title = "Long-range dependencies: vanilla RNN against LSTM and GRU"
    description = ("Ensembles of each model trained on the adding problem at increasing lengths: loss "
                   "against the baseline, success rate with a 95% interval, and ‖∂L/∂h_t‖ along training.")
    text = {
        "title": {"en": title, "pt": "Dependências de longo alcance: RNN simples contra LSTM e GRU"},
        "question": {
            "en": "As the adding problem's sequences grow, where does the tanh RNN stop learning, and do LSTM and "
                  "GRU still learn there?",
            "pt": "À medida que as sequências do problema da soma crescem, onde a RNN tanh deixa de aprender, e a "
                  "LSTM e a GRU ainda aprendem ali?",
        },
        "description": {
            "en": description,
            "pt": "Conjuntos de cada modelo treinados no problema da soma com sequências cada vez mais longas: a "
                  "perda contra a referência, a taxa de sucesso com intervalo de 95% e ‖∂L/∂h_t‖ ao longo do "
                  "treino.",
        },
    }

    summary_columns = (("solved", "successes", "d"), ("of", "seeds", "d"), ("95% low", "success_low", ".0%"),
                       ("95% high", "success_high", ".0%"), ("held-out loss", "task/loss", ".4f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(f"{model}-T{length}", config.steps, _executor(config, model, length, seeds))
                for length in config.lengths for model in config.models]


    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """The gated cells solve a length the tanh RNN cannot, and their gradient reaches back through it."""
        config = self.resolve(quick)
        gated = [model for model in config.models if model != "elman"]
        if "elman" not in config.models or not gated:
            return []
        return [_solves_claim(config.lengths, gated), _reach_claim(max(config.lengths), gated)]


# Of K seeds: a model "solves" a length when at least 4 in 5 succeed, and "fails" it at most 1 in 5.
_SOLVES, _FAILS = 0.8, 0.2
_LABELS = {"lstm": "LSTM", "gru": "GRU"}


def _label(model: str) -> str:
    return _LABELS.get(model, model)


def _solves_claim(lengths: tuple[int, ...], gated: list[str]) -> Claim:
    def evaluate(results: Results):
        shown = None
        for length in sorted(lengths, reverse=True):
            summaries = {model: results.summary(f"{model}-T{length}") for model in ("elman", *gated)}
            held = (summaries["elman"]["successes"] <= _FAILS * summaries["elman"]["seeds"]
                    and all(summaries[m]["successes"] >= _SOLVES * summaries[m]["seeds"] for m in gated))
            if held or shown is None:  # the longest length where it holds; else the longest one
                shown = (held, length, summaries)
            if held:
                break
        held, length, summaries = shown
        values = {"T": length, "K": summaries["elman"]["seeds"], "elman": summaries["elman"]["successes"]}
        values.update({model: summaries[model]["successes"] for model in gated})
        return held, values

    def listed(lang: str) -> str:
        joiner = " and " if lang == "en" else " e "
        return joiner.join(f"{_label(m)} {{{m}}}/{{K}}" for m in gated)

    names = " and ".join(_label(m) for m in gated)
    return Claim(
        "gated-cells-solve-where-tanh-fails",
        {"en": f"{names} solve at least 4 of 5 seeds at a length where the tanh RNN solves at most 1 of 5.",
         "pt": f"{names.replace(' and ', ' e ')} resolvem pelo menos 4 de 5 sementes num comprimento em que a RNN "
               "tanh resolve no máximo 1 de 5."},
        {"en": "At T = {T} the tanh RNN solves {elman}/{K} seeds of the adding problem; " + listed("en") + ".",
         "pt": "Com T = {T} a RNN tanh resolve {elman}/{K} sementes do problema da soma; " + listed("pt") + "."},
        evaluate, requires=tuple(f"{model}-T{length}" for model in ("elman", *gated) for length in lengths))


def _reach_claim(length: int, gated: list[str]) -> Claim:
    runs = {model: f"{model}-T{length}" for model in ("elman", *gated)}

    def evaluate(results: Results):
        horizons = {model: results.summary(name)["final/horizon"] for model, name in runs.items()}
        held = horizons["elman"] < length and all(horizons[m] >= length for m in gated)
        return held, {"T": length, **{model: horizons[model] for model in runs}}

    def listed(lang: str) -> str:
        joiner = " and " if lang == "en" else " e "
        return joiner.join(f"{_label(m)} {{{m}:.0f}}" for m in gated)

    return Claim(
        "gated-gradient-reaches-back",
        {"en": "After training, the tanh RNN's gradient fades out before the start of the longest sequence; the "
               "gated cells' reaches all of it.",
         "pt": "Depois do treino, o gradiente da RNN tanh se apaga antes do início da sequência mais longa; o das "
               "células com portas alcança-a inteira."},
        {"en": "At T = {T}, after training, ‖∂L/∂h_t‖ stays above 10⁻⁶ of its peak for {elman:.0f} steps back in the "
               "tanh RNN (median seed), against " + listed("en") + ".",
         "pt": "Com T = {T}, depois do treino, ‖∂L/∂h_t‖ fica acima de 10⁻⁶ do seu pico por {elman:.0f} passos para "
               "trás na RNN tanh (semente mediana), contra " + listed("pt") + "."},
        evaluate, requires=tuple(runs.values()))


def _executor(config: LongRangeConfig, model_name: str, length: int, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(length, variant="sum")
        model = make_model(model_name, task.input_size, config.hidden_size, task.output_size,
                           readout="last", num_models=seeds, seed=config.seed)
        if model_name == "lstm":
            lstm_forget_bias_(model, config.lstm_forget_bias)
        run_config = {**config.model_dump(), "model": model_name, "length": length, "seeds": seeds,
                      "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, eval_batch_size=config.eval_batch_size, callback=callback)
        except RunInterrupted as error:
            partial = error.partial
            raise RunInterrupted(str(error), partial=Outcome(_arrays(partial), run_config, {}, "interrupted")
                                 ) from None
        final_trace = trace(model, task.sample(config.eval_batch_size, seed=config.seed + 7919), jacobian_steps=0)
        arrays = _arrays(run)
        arrays["final/horizon"] = final_trace.horizon.numpy()
        arrays["final/decay_rate"] = final_trace.decay_rate.numpy()
        successes = int(np.sum(run.final["task/success"] == 1))
        low, high = wilson_interval(successes, seeds)
        summary = {
            "model": model_name,
            "length": length,
            "baseline_loss": task.baseline_loss,
            "successes": successes,
            "seeds": seeds,
            "success_rate": successes / seeds,
            "success_low": low,
            "success_high": high,
            "task/loss": np.nanmedian(run.final["task/loss"]),
            "task/accuracy": np.nanmedian(run.final["task/accuracy"]),
            "final/horizon": median_horizon(arrays["final/horizon"]),
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _arrays(run) -> dict[str, np.ndarray]:
    return run_arrays(run, TRAINING_KEYS, trace=True)
