"""Exploding gradients: a W_rec with spectral radius above 1 diverges under plain SGD; clipping trains it."""

from __future__ import annotations

import numpy as np

from gradtrace.errors import RunInterrupted
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.models import ElmanRNN
from gradtrace.remedies import GradientTransform, adaptive_clip, clip_by_global_norm, clip_by_value
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.claims import Claim, Results
from gradtrace.tasks import Adding
from gradtrace.train import fit

__all__ = ["CLIPS", "Exploding", "ExplodingConfig"]

#: The clipping variants compared, by the name used in run names and figures.
CLIPS = ("none", "global_norm", "value", "adaptive")


class ExplodingConfig(StudyConfig):
    """Sizes of the exploding study (the defaults take about half a minute on 2 CPU cores)."""

    radii: tuple[float, ...] = (1.5, 3.0)  # both > 1: a tanh RNN's gradient can grow along time
    clips: tuple[str, ...] = CLIPS
    length: int = 50
    hidden_size: int = 32
    steps: int = 300
    # Plain SGD, as in Pascanu et al. 2013: Adam would divide the explosion away and hide it.
    lr: float = 0.1
    max_norm: float = 1.0        # Pascanu et al.'s threshold on the temporal order problem
    max_value: float = 0.1       # per component: with ~3,000 weights, norms of a few units
    agc_ratio: float = 0.05      # Brock et al. 2021 use 0.01–0.16 depending on batch size
    batch_size: int = 32
    eval_batch_size: int = 256
    seed: int = 0


QUICK = ExplodingConfig(radii=(3.0,), clips=("none", "global_norm"), length=20, hidden_size=8, steps=30,
                        batch_size=8, eval_batch_size=16)


def make_clip(name: str, config: ExplodingConfig) -> GradientTransform | None:
    """Return the clipping transform called ``name`` with the config's threshold."""
    return {
        "none": lambda: None,
        "global_norm": lambda: clip_by_global_norm(config.max_norm),
        "value": lambda: clip_by_value(-config.max_value, config.max_value),
        "adaptive": lambda: adaptive_clip(config.agc_ratio),
    }[name]()


class Exploding(Study):
    """A tanh Elman RNN whose W_rec starts at spectral radius ρ > 1, trained by SGD with and without clipping.

    Without clipping the gradient's norm reaches 10¹⁰ and more within a few dozen steps; one step
    along it throws the weights out of range and the loss turns NaN: each member's divergence is
    recorded (the member is frozen, the others train on). With clipping the same start trains.
    """

    name = "exploding"
    config_class = ExplodingConfig
    quick_config = QUICK
    title = "Exploding gradients and clipping"
    description = ("Elman RNNs started at ρ(W_rec) > 1 and trained by plain SGD on the adding problem, "
                   "without clipping and with clipping by norm, by value and unit-wise: the gradient norm "
                   "before clipping, where members diverge, how often each clip fired.")

    summary_columns = (("diverged", "diverged", "d"), ("of", "seeds", "d"), ("first at step", "first_divergence", "d"),
                       ("largest norm", "max_grad_norm", ".2e"), ("clipped", "fired_fraction", ".0%"),
                       ("held-out loss", "task/loss", ".4f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        unknown = sorted(set(config.clips) - set(CLIPS))
        if unknown:
            raise ValueError(f"Unknown clip(s) {unknown} in the exploding study. Available: {', '.join(CLIPS)}.")
        return [RunSpec(f"rho{radius:g}-{clip}", config.steps, _executor(config, radius, clip, seeds))
                for radius in config.radii for clip in config.clips]


    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """At the largest ρ: plain SGD diverges and clipping by norm prevents it; the clipped start then learns.

        "Diverges" counts members whose loss turned NaN or infinite; "learns" means a held-out loss below
        the task's trivial baseline (predicting the mean), so a clipped run that merely survives does not count.
        """
        config = self.resolve(quick)
        radius = max(config.radii)
        claims = []
        if "none" in config.clips and "global_norm" in config.clips:
            claims.append(_clipping_claim(radius))
        if "global_norm" in config.clips:
            claims.append(_learns_claim(radius))
        others = [clip for clip in config.clips if clip not in ("none", "global_norm")]
        if others:
            claims.append(_every_clip_claim(radius, others))
        return claims


def _run_name(radius: float, clip: str) -> str:
    return f"rho{radius:g}-{clip}"


# Of K members: "most" diverge means at least 4 in 5, "few" at most 1 in 5.
_MOST, _FEW = 0.8, 0.2

_CLIP_WORDS = {"value": {"en": "by value", "pt": "por valor"},
               "adaptive": {"en": "unit-wise (adaptive)", "pt": "por unidade (adaptativa)"}}


def _clipping_claim(radius: float) -> Claim:
    plain, clipped = _run_name(radius, "none"), _run_name(radius, "global_norm")

    def evaluate(results: Results):
        without, with_ = results.summary(plain), results.summary(clipped)
        members = without["seeds"]
        held = without["diverged"] >= _MOST * members and with_["diverged"] <= _FEW * with_["seeds"]
        first = without["first_divergence"]
        return held, {"rho": radius, "K": members, "n_div": without["diverged"],
                      "step": first if first >= 0 else None, "norm": without["max_grad_norm"],
                      "n_div_clip": with_["diverged"], "K_clip": with_["seeds"]}

    return Claim(
        "clipping-prevents-divergence",
        {"en": "Started with a large W_rec, plain SGD diverges in at least 4 of 5 members; clipping the gradient by "
               "its norm keeps at least 4 of 5 from diverging.",
         "pt": "Partindo de uma W_rec grande, o SGD simples diverge em pelo menos 4 de 5 membros; a poda do "
               "gradiente pela norma impede a divergência em pelo menos 4 de 5."},
        {"en": "Without clipping {n_div}/{K} members diverge at ρ = {rho:g} (first at step {step}; largest gradient "
               "norm {norm:.1e}); with clipping by norm {n_div_clip}/{K_clip}.",
         "pt": "Sem poda {n_div}/{K} membros divergem com ρ = {rho:g} (o primeiro no passo {step}; maior norma "
               "do gradiente {norm:.1e}); com poda pela norma, {n_div_clip}/{K_clip}."},
        evaluate, requires=(plain, clipped))


def _learns_claim(radius: float) -> Claim:
    clipped = _run_name(radius, "global_norm")

    def evaluate(results: Results):
        summary = results.summary(clipped)
        loss, baseline = summary["task/loss"], summary["baseline_loss"]
        return bool(loss < baseline), {"rho": radius, "loss": loss, "baseline": baseline}

    return Claim(
        "clipped-start-learns",
        {"en": "The same large-W_rec start, clipped by norm, does not just survive: it learns the task.",
         "pt": "O mesmo início com W_rec grande, podado pela norma, não apenas sobrevive: aprende a tarefa."},
        {"en": "With clipping by norm at ρ = {rho:g} the held-out loss ends at {loss:.4f}, against {baseline:.4f} for "
               "always predicting the mean.",
         "pt": "Com poda pela norma e ρ = {rho:g} a perda de validação termina em {loss:.4f}, contra {baseline:.4f} "
               "de prever sempre a média."},
        evaluate, requires=(clipped,))


def _every_clip_claim(radius: float, clips: list[str]) -> Claim:
    names = [_run_name(radius, clip) for clip in clips]

    def evaluate(results: Results):
        summaries = [results.summary(name) for name in names]
        held = all(s["diverged"] <= _FEW * s["seeds"] for s in summaries)
        values = {"rho": radius, "K": summaries[0]["seeds"]}
        for clip, summary in zip(clips, summaries):
            values[f"n_div_{clip}"] = summary["diverged"]
        return held, values

    def listed(lang: str) -> str:
        joiner = " and " if lang == "en" else " e "
        return joiner.join(f"{_CLIP_WORDS[clip][lang]} {{n_div_{clip}}}/{{K}}" for clip in clips)

    return Claim(
        "every-clip-prevents-divergence",
        {"en": "The other ways of clipping prevent the divergence too (at most 1 of 5 members diverges).",
         "pt": "As outras formas de poda também impedem a divergência (no máximo 1 de 5 membros diverge)."},
        {"en": "At ρ = {rho:g} the other clips keep the start from diverging too: " + listed("en") + " diverge.",
         "pt": "Com ρ = {rho:g} as outras podas também impedem a divergência: " + listed("pt") + " divergem."},
        evaluate, requires=tuple(names))


def _executor(config: ExplodingConfig, radius: float, clip: str, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(config.length, variant="sum")
        model = ElmanRNN(task.input_size, config.hidden_size, task.output_size, readout="last",
                         num_models=seeds, seed=config.seed)
        scale_to_spectral_radius_(model.W_rec.data, radius)
        remedy = make_clip(clip, config)
        run_config = {**config.model_dump(), "radius": radius, "clip": clip, "seeds": seeds, "task": task.describe(),
                      "remedy": remedy.describe() if remedy is not None else None}
        try:
            run = fit(model, task, steps=config.steps, optimizer="sgd", lr=config.lr,
                      batch_size=config.batch_size, seed=config.seed, eval_batch_size=config.eval_batch_size,
                      remedies=remedy, on_nonfinite="record", callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(_arrays(error.partial), run_config, {},
                                                             "interrupted")) from None
        arrays = _arrays(run)
        diverged = run.diverged_at >= 0
        fired = run.history.get(f"{remedy.name}/fired") if remedy is not None else None
        summary = {
            "radius": radius,
            "clip": clip,
            "seeds": seeds,
            "diverged": int(diverged.sum()),
            "first_divergence": int(run.diverged_at[diverged].min()) if diverged.any() else -1,
            # Updates dropped for a NaN or infinity under on_nonfinite="skip", summed over members: a
            # member can fail every step without ever counting as diverged.
            "skipped_steps": int(run.skipped_steps.sum()),
            "max_grad_norm": float(np.nanmax(np.where(np.isfinite(run.history["grad/norm"]),
                                                      run.history["grad/norm"], np.nan))),
            "fired_fraction": float(np.nanmean(fired)) if fired is not None else 0.0,
            "task/loss": float(np.nanmedian(run.final["task/loss"])) if not diverged.all() else float("nan"),
            "baseline_loss": task.baseline_loss,
            "steps_done": run.steps_done,
        }
        return Outcome(arrays, run_config, summary)

    return execute


def _arrays(run) -> dict[str, np.ndarray]:
    arrays = {
        "step": run.history["step"],
        "train/loss": run.history["train/loss"],
        "grad/norm": run.history["grad/norm"],
        "eval/step": run.history["eval/step"],
        "task/loss": run.history["task/loss"],
        "diverged_at": run.diverged_at,
        "skipped_steps": run.skipped_steps,
    }
    for key, value in run.history.items():
        if key.endswith("/fired"):
            arrays["clip/fired"] = value
    return arrays
