"""The seeds' first picture: how the gradient shrinks or grows along time as ρ(W_rec) varies."""

from __future__ import annotations

import numpy as np

from gradtrace.errors import RunInterrupted
from gradtrace.init import scale_to_spectral_radius_
from gradtrace.instruments import Trace, trace
from gradtrace.models import ElmanRNN
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig
from gradtrace.studies.claims import Claim, Results
from gradtrace.tasks import Adding
from gradtrace.train import fit

__all__ = ["ThroughTime", "ThroughTimeConfig"]


class ThroughTimeConfig(StudyConfig):
    """Sizes of the through-time study (the defaults take about a minute on 2 CPU cores)."""

    # 2 and 3 show plainly what 1.2 and 1.5 only begin: tanh saturation tempers growth near 1.
    radii: tuple[float, ...] = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)
    length: int = 100        # long enough that 0.8^k and 1.2^k part by orders of magnitude
    hidden_size: int = 64
    steps: int = 300         # enough to move the weights, not to solve the task
    lr: float = 1e-3
    batch_size: int = 32
    probe_batch_size: int = 64
    seed: int = 0


QUICK = ThroughTimeConfig(radii=(0.5, 1.5), length=20, hidden_size=8, steps=5, batch_size=8,
                          probe_batch_size=8)


def _trace_arrays(prefix: str, measured: Trace) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/by_lag": measured.by_lag.double().numpy(),
        f"{prefix}/decay_rate": measured.decay_rate.numpy(),
        f"{prefix}/horizon": measured.horizon.numpy(),
        f"{prefix}/spectral_radius": measured.spectral_radius.double().numpy(),
        f"{prefix}/top_singular_value": measured.top_singular_value.double().numpy(),
        f"{prefix}/jacobian_top_singular_value": measured.jacobian_singular_values[..., 0].double().numpy(),
    }


class ThroughTime(Study):
    """A tanh ElmanRNN on the adding problem with W_rec rescaled to each spectral radius ρ.

    For each ρ, an ensemble of seeds is traced at initialization and again after training:
    ‖∂L/∂h_{T−k}‖ against the lag k, beside the envelope (σ_max(W_rec) · max tanh′)^k = σ_max^k
    that bounds it. ρ < 1 makes the profile fall geometrically (vanishing); ρ > 1 lets it grow.
    """

    name = "through-time"
    config_class = ThroughTimeConfig
    quick_config = QUICK
    title = "The gradient through time, for several spectral radii of W_rec"
    description = ("‖∂L/∂h_{T−k}‖ against the lag k for a tanh RNN whose W_rec is rescaled to spectral "
                   "radius ρ, at initialization and after training, with the envelope σ_max^k.")

    summary_columns = (("factor per step, init", "init/decay_rate", ".3f"),
                       ("factor per step, trained", "trained/decay_rate", ".3f"),
                       ("horizon init", "init/horizon", ".0f"), ("horizon trained", "trained/horizon", ".0f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(_run_name(rho), config.steps, _executor(config, rho, seeds)) for rho in config.radii]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """Small ρ vanishes, the largest explodes, tanh saturation tempers ρ just above 1, and the factor follows ρ.

        Each is read at initialization, where W_rec is exactly the rescaled matrix the claim names.
        """
        config = self.resolve(quick)
        radii = sorted(config.radii)
        claims = []
        if radii[0] < 1:
            claims.append(_vanishing_claim(radii[0], config.length))
        if radii[-1] > 1:
            claims.append(_exploding_claim(radii[-1], config.length))
        # Between 1 and 2 the linear bound ρ^k is far from what tanh lets through (see the config).
        claims += [_tempered_claim(rho) for rho in radii[:-1] if 1 < rho < 2]
        if len(radii) > 1:
            claims.append(_ordered_claim(radii))
        return claims


def _run_name(rho: float) -> str:
    return f"rho={rho:g}"


#: How far below its peak the gradient must fall to count as vanished: the DESIGN's horizon threshold;
#: its inverse is the growth that counts as exploding.
_VANISHED = 1e-6


def _vanishing_claim(rho: float, length: int) -> Claim:
    def evaluate(results: Results):
        horizons = results.array(_run_name(rho), "init/horizon")
        vanished = int((horizons < length).sum())
        return vanished == horizons.size > 0, {
            "rho": rho, "T": length, "n": vanished, "K": int(horizons.size),
            "horizon_max": float(horizons.max()), "horizon": float(np.median(horizons)),
            "rate": results.summary(_run_name(rho))["init/decay_rate"]}

    return Claim(
        "vanishing-at-small-rho",
        {"en": "With a small W_rec the gradient vanishes along time, within the sequence, in every member.",
         "pt": "Com W_rec pequena o gradiente desaparece ao longo do tempo, dentro da sequência, em todos os "
               "membros."},
        {"en": "At ρ = {rho:g} the gradient vanishes: in {n} of {K} members ‖∂L/∂h_(T−k)‖ falls below 10⁻⁶ of its "
               "peak within the T = {T} steps, after at most {horizon_max:.0f} steps (median {horizon:.0f}; a factor "
               "{rate:.2f} per step).",
         "pt": "Com ρ = {rho:g} o gradiente desaparece: em {n} de {K} membros ‖∂L/∂h_(T−k)‖ cai abaixo de 10⁻⁶ do "
               "seu pico dentro dos T = {T} passos, em no máximo {horizon_max:.0f} passos (mediana {horizon:.0f}; "
               "um fator {rate:.2f} por passo)."},
        evaluate, requires=(_run_name(rho),))


def _exploding_claim(rho: float, length: int) -> Claim:
    def evaluate(results: Results):
        by_lag = results.array(_run_name(rho), "init/by_lag")  # (K, T): lag 0 is the last step
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = by_lag[:, -1] / by_lag[:, 0]
        grew = int((growth >= 1 / _VANISHED).sum())
        return grew == growth.size > 0, {
            "rho": rho, "lag": length - 1, "n": grew, "K": int(growth.size),
            "growth_min": float(np.nanmin(growth)) if np.isfinite(growth).any() else float("nan"),
            "rate": results.summary(_run_name(rho))["init/decay_rate"]}

    return Claim(
        "exploding-at-large-rho",
        {"en": "With a large W_rec the gradient explodes along time at initialization, in every member.",
         "pt": "Com W_rec grande o gradiente explode ao longo do tempo na inicialização, em todos os membros."},
        {"en": "At ρ = {rho:g} the gradient explodes at initialization: in {n} of {K} members ‖∂L/∂h_(T−k)‖ grows "
               "more than 10⁶-fold from k = 0 to k = {lag} (at least {growth_min:.1e}-fold; a factor {rate:.2f} per "
               "step).",
         "pt": "Com ρ = {rho:g} o gradiente explode na inicialização: em {n} de {K} membros ‖∂L/∂h_(T−k)‖ cresce "
               "mais de 10⁶ vezes de k = 0 a k = {lag} (no mínimo {growth_min:.1e} vezes; um fator {rate:.2f} por "
               "passo)."},
        evaluate, requires=(_run_name(rho),))


def _tempered_claim(rho: float) -> Claim:
    shown = {"en": f"{rho:g}", "pt": f"{rho:g}".replace(".", ",")}

    def evaluate(results: Results):
        rate = results.summary(_run_name(rho))["init/decay_rate"]
        bound = 1 + (rho - 1) / 2
        return rate < bound, {"rho": rho, "rate": rate, "bound": bound}

    return Claim(
        f"tanh-tempers-rho={rho:g}",
        {"en": f"Just above ρ = 1 (here {shown['en']}) tanh saturation keeps the gradient from growing as fast as ρ "
               "says.",
         "pt": f"Pouco acima de ρ = 1 (aqui {shown['pt']}) a saturação da tanh impede o gradiente de crescer tão "
               "rápido quanto ρ indica."},
        {"en": "At ρ = {rho:g} tanh saturation tempers the growth: at initialization the gradient changes by a "
               "median factor {rate:.3f} per step, under {bound:.2f}, halfway from 1 to ρ.",
         "pt": "Com ρ = {rho:g} a saturação da tanh modera o crescimento: na inicialização o gradiente muda por um "
               "fator mediano de {rate:.3f} por passo, abaixo de {bound:.2f}, a meio caminho entre 1 e ρ."},
        evaluate, requires=(_run_name(rho),))


def _ordered_claim(radii: list[float]) -> Claim:
    def evaluate(results: Results):
        rates = [results.summary(_run_name(rho))["init/decay_rate"] for rho in radii]
        rising = all(a < b for a, b in zip(rates, rates[1:]))
        return rising, {"rho_low": radii[0], "rho_high": radii[-1], "low": rates[0], "high": rates[-1],
                        "radii": len(radii), "rates": rates}

    return Claim(
        "factor-follows-rho",
        {"en": "The larger ρ(W_rec), the larger the gradient's factor per step along time.",
         "pt": "Quanto maior ρ(W_rec), maior o fator por passo do gradiente ao longo do tempo."},
        {"en": "The factor per step at initialization rises with ρ across all {radii} radii, from {low:.2f} at "
               "ρ = {rho_low:g} to {high:.2f} at ρ = {rho_high:g}.",
         "pt": "O fator por passo na inicialização cresce com ρ nos {radii} raios, de {low:.2f} com ρ = {rho_low:g} "
               "a {high:.2f} com ρ = {rho_high:g}."},
        evaluate, requires=tuple(_run_name(rho) for rho in radii))


def _executor(config: ThroughTimeConfig, rho: float, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        task = Adding(config.length, variant="sum")
        model = ElmanRNN(task.input_size, config.hidden_size, task.output_size, activation="tanh",
                         readout="last", num_models=seeds, seed=config.seed)
        scale_to_spectral_radius_(model.W_rec.data, rho)
        probe_batch = task.sample(config.probe_batch_size, seed=config.seed + 7919)
        arrays = _trace_arrays("init", trace(model, probe_batch))
        run_config = {**config.model_dump(), "rho": rho, "seeds": seeds, "task": task.describe()}
        try:
            run = fit(model, task, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, callback=callback)
        except RunInterrupted as error:
            raise RunInterrupted(str(error), partial=Outcome(arrays, run_config, {}, "interrupted")) from None
        arrays.update(_trace_arrays("trained", trace(model, probe_batch)))
        arrays.update({
            "train/loss": run.history["train/loss"],
            "diverged_at": run.diverged_at,
        })
        summary = {
            "rho": rho,
            "baseline_loss": task.baseline_loss,
            "init/decay_rate": np.nanmedian(arrays["init/decay_rate"]),
            "trained/decay_rate": np.nanmedian(arrays["trained/decay_rate"]),
            "init/horizon": np.median(arrays["init/horizon"]),
            "trained/horizon": np.median(arrays["trained/horizon"]),
            "task/loss": np.nanmedian(run.final["task/loss"]),
            "diverged": int((run.diverged_at >= 0).sum()),
        }
        return Outcome(arrays, run_config, summary)

    return execute
