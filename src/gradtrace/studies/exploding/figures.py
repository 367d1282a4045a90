"""Figures of the exploding study: the gradient norm before clipping, divergences, clip activity."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store

__all__ = ["draw"]

_CLIP_COLORS = {"none": PALETTE["red"], "global_norm": PALETTE["blue"], "value": PALETTE["green"],
                "adaptive": PALETTE["purple"]}

_T = Catalog({
    "clip.none": {"en": "no clipping", "pt": "sem poda"},
    "clip.global_norm": {"en": "clip by global norm", "pt": "poda pela norma global"},
    "clip.value": {"en": "clip by value", "pt": "poda por valor"},
    "clip.adaptive": {"en": "adaptive (unit-wise) clip", "pt": "poda adaptativa (por unidade)"},
    "norm_axis": {"en": "gradient norm before clipping", "pt": "norma do gradiente antes da poda"},
    "norm_title": {"en": "Gradient norm before clipping", "pt": "Norma do gradiente antes da poda"},
    "norm_caption": {
        "en": "‖∂L/∂θ‖ of each training step, before any clip acts (median over seeds, min–max band, log scale). A "
              "× on the top edge marks the step at which a member's loss or gradient turned NaN or infinite: that "
              "member is frozen there and the others train on. Clipping does not lower this curve — it bounds the "
              "step taken along it.",
        "pt": "‖∂L/∂θ‖ em cada passo de treino, antes de qualquer poda agir (mediana entre sementes, faixa mín–máx, "
              "escala logarítmica). Um × na borda de cima marca o passo em que a perda ou o gradiente de um membro "
              "virou NaN ou infinito: esse membro fica congelado ali e os outros continuam treinando. A poda não "
              "abaixa esta curva — ela limita o passo dado ao longo dela.",
    },
    "loss_axis": {"en": "training loss (MSE)", "pt": "perda de treino (MSE)"},
    "loss_title": {"en": "Training loss", "pt": "Perda de treino"},
    "loss_caption": {
        "en": "Loss of each training batch (median over seeds, min–max band). Without clipping one step along an "
              "exploded gradient throws the weights out of range; with it, the same start trains. The dotted line "
              "is the baseline of always answering 1.",
        "pt": "Perda de cada lote de treino (mediana entre sementes, faixa mín–máx). Sem poda, um passo ao longo "
              "de um gradiente que explodiu joga os pesos para fora do alcance; com ela, o mesmo ponto de partida "
              "treina. A linha pontilhada é a referência de sempre responder 1.",
    },
    "baseline": {"en": "baseline", "pt": "referência"},
    "panel": {"en": "ρ(W_rec) = {radius:g} at start", "pt": "ρ(W_rec) = {radius:g} no início"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "fired_axis": {"en": "fraction of seeds clipped", "pt": "fração de sementes podadas"},
    "fired_title": {"en": "How often each clip acted", "pt": "Com que frequência cada poda agiu"},
    "fired_caption": {
        "en": "Fraction of seeds whose gradient the clip changed at each step (moving average). Clipping acts most "
              "at the start, when ρ(W_rec) > 1 lets the gradient grow along time, and less as training shrinks "
              "W_rec.",
        "pt": "Fração de sementes cujo gradiente a poda alterou em cada passo (média móvel). A poda age mais no "
              "início, quando ρ(W_rec) > 1 deixa o gradiente crescer ao longo do tempo, e menos à medida que o "
              "treino encolhe W_rec.",
    },
    "first": {"en": " (first at step {step})", "pt": " (a primeira no passo {step})"},
    "skipped": {"en": "; {count} step(s) skipped", "pt": "; {count} passo(s) pulado(s)"},
    "all_diverged": {"en": "all diverged", "pt": "todas divergiram"},
    "table": {"en": "Divergence with and without clipping", "pt": "Divergência com e sem poda"},
    "columns": {
        "en": "ρ(W_rec) at start|clipping|members diverged|largest gradient norm|steps clipped|held-out loss "
              "(median)|baseline",
        "pt": "ρ(W_rec) no início|poda|membros divergentes|maior norma do gradiente|passos podados|perda em dados "
              "separados (mediana)|referência",
    },
    "table_caption": {
        "en": "Elman RNN (tanh, {hidden} units), adding problem T = {length}, plain SGD at lr {lr:g} for {steps} "
              "steps, {seeds} seeds per row. Thresholds: global norm {max_norm:g}, value ±{max_value:g}, "
              "adaptive ratio {agc:g}.",
        "pt": "RNN de Elman (tanh, {hidden} unidades), problema da soma com T = {length}, SGD simples com taxa de "
              "aprendizado {lr:g} por {steps} passos, {seeds} sementes por linha. Limiares: norma global "
              "{max_norm:g}, valor ±{max_value:g}, razão adaptativa {agc:g}.",
    },
})


def _clip_label(clip: str, lang: str) -> str:
    key = f"clip.{clip}"
    return _T(key, lang) if key in _T.messages else clip


def _after_divergence_hidden(values: np.ndarray, diverged_at: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Blank each member's values after its divergence step (a frozen member measures nothing)."""
    values = np.array(values, dtype=float)
    for k, at in enumerate(diverged_at):
        if at >= 0:
            values[steps > at, k] = np.nan
    return values


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the exploding study: gradient norms, losses, clip activity and the divergence table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "exploding") if "grad/norm" in r.arrays]
    if not runs:
        return [], []
    radii = sorted({r.config["radius"] for r in runs})
    clips = list(dict.fromkeys(r.config["clip"] for r in runs))
    by_key = {(r.config["radius"], r.config["clip"]): r for r in runs}
    figures = [
        _curves(by_key, radii, clips, "grad/norm", "norm", lang),
        _curves(by_key, radii, clips, "train/loss", "loss", lang),
        _fired(by_key, radii, clips, lang),
    ]
    rows = []
    for radius in radii:
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            first = _T("first", lang, step=s["first_divergence"]) if s["diverged"] else ""
            # Stores written before skipped steps were counted have no such key.
            if s.get("skipped_steps", 0):
                first += _T("skipped", lang, count=s["skipped_steps"])
            loss = s["task/loss"]
            rows.append([
                f"{radius:g}", _clip_label(clip, lang), f"{s['diverged']}/{s['seeds']}{first}",
                f"{s['max_grad_norm']:.2e}", f"{s['fired_fraction']:.0%}" if clip != "none" else "—",
                _T("all_diverged", lang) if loss != loss else f"{loss:.4f}", f"{s['baseline_loss']:.4f}",
            ])
    config = runs[0].config
    table = Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, hidden=config["hidden_size"], length=config["length"], lr=config["lr"],
           steps=config["steps"], seeds=config["seeds"], max_norm=config["max_norm"], max_value=config["max_value"],
           agc=config["agc_ratio"]),
    )
    return figures, [table]


def _curves(by_key, radii, clips, key, name, lang) -> Figure:
    fig, axes = plt.subplots(1, len(radii), figsize=_size(5.2 * len(radii), 3.8), squeeze=False, sharey=True)
    for ax, radius in zip(axes[0], radii):
        baseline = None
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None:
                continue
            color, label = _CLIP_COLORS.get(clip, PALETTE["grey"]), _clip_label(clip, lang)
            steps = run.arrays["step"]
            values = _after_divergence_hidden(run.arrays[key], run.arrays["diverged_at"], steps)
            shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            if np.isfinite(shown).any():
                _band(ax, steps, shown, color, label, axis=1)
            for at in run.arrays["diverged_at"]:
                if at >= 0:
                    ax.plot([at], [1.0], marker="x", color=color, markersize=8, transform=ax.get_xaxis_transform(),
                            clip_on=False, linestyle="none")
            baseline = run.summary.get("baseline_loss", baseline)
        if key == "train/loss" and baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("baseline", lang))
        ax.set_yscale("log")
        ax.set_title(_T("panel", lang, radius=radius))
        ax.set_xlabel(_T("training_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T(f"{name}_axis", lang))
    # Off the data: beside the last panel.
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T(f"{name}_title", lang), _T(f"{name}_caption", lang), _png(fig))


def _fired(by_key, radii, clips, lang) -> Figure:
    fig, axes = plt.subplots(1, len(radii), figsize=_size(5.2 * len(radii), 3.4), squeeze=False, sharey=True)
    for ax, radius in zip(axes[0], radii):
        for clip in clips:
            run = by_key.get((radius, clip))
            if run is None or "clip/fired" not in run.arrays:
                continue
            color, label = _CLIP_COLORS.get(clip, PALETTE["grey"]), _clip_label(clip, lang)
            fired = np.nanmean(run.arrays["clip/fired"], axis=1)
            window = max(1, len(fired) // 30)
            smooth = np.convolve(fired, np.ones(window) / window, mode="same")
            ax.plot(run.arrays["step"], smooth, color=color, label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(_T("panel", lang, radius=radius))
        ax.set_xlabel(_T("training_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("fired_axis", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("fired_title", lang), _T("fired_caption", lang), _png(fig))
