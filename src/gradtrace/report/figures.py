"""Figures of the built-in studies, drawn from the run store with matplotlib (no display needed).

Also the report kit every figure module shares: the font sizes, the figure sizes that keep text legible at the
report's width, and the one palette of the report.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from gradtrace.report.i18n import Catalog  # noqa: E402
from gradtrace.store import RunRecord, Store  # noqa: E402
from gradtrace.studies.stats import nan_quantiles  # noqa: E402

__all__ = ["DPI", "MAX_FIGURE_WIDTH", "MIN_FONT_PX", "PALETTE", "REPORT_WIDTH_PX", "Figure", "Table",
           "long_range_figures", "ordered_colors", "through_time_figures"]

#: The widest an image is shown in the report (CSS pixels): the page's content width. A wider PNG is scaled down.
REPORT_WIDTH_PX = 1100
#: The smallest text a reader should meet on screen (CSS pixels), once an image is scaled to the report's width.
MIN_FONT_PX = 10
#: Pixels per inch of the PNGs.
DPI = 110
# The smallest font any figure uses (points): tick labels and legends.
_SMALLEST_FONT_PT = 10
#: The widest figure (inches) whose smallest text still shows at MIN_FONT_PX once scaled to REPORT_WIDTH_PX: a
#: font of f points on a figure W inches wide shows at f · REPORT_WIDTH_PX / (72 · W) pixels. A little margin is
#: kept for what bbox_inches="tight" adds (a legend outside the axes).
MAX_FIGURE_WIDTH = 0.9 * _SMALLEST_FONT_PT * REPORT_WIDTH_PX / (72 * MIN_FONT_PX)

# Font sizes set once, for every figure of the report; modules pass no fontsize of their own below these.
plt.rcParams.update({
    "font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "figure.titlesize": 12,
    "xtick.labelsize": _SMALLEST_FONT_PT, "ytick.labelsize": _SMALLEST_FONT_PT,
    "legend.fontsize": _SMALLEST_FONT_PT, "legend.title_fontsize": _SMALLEST_FONT_PT,
    "legend.framealpha": 0.9,
})

#: The report's one palette: every categorical color of every figure comes from here (colorblind-safe Okabe–Ito
#: hues, plus black and grey for references).
PALETTE = {
    "red": "#d55e00", "blue": "#0072b2", "green": "#009e73", "orange": "#e69f00", "purple": "#8e44ad",
    "sky": "#56b4e9", "pink": "#cc79a7", "brown": "#8c564b", "olive": "#7f7f00", "grey": "#7f7f7f",
    "black": "#000000",
}
# An ordered parameter (ρ, a gain, a depth) is drawn with this sequential map, cut before its palest end so no
# line fades into the white background.
_SEQUENTIAL, _SEQUENTIAL_RANGE = "plasma", (0.0, 0.85)

_MODEL_COLORS = {"elman": PALETTE["red"], "lstm": PALETTE["blue"], "gru": PALETTE["green"]}
# Gradients beyond these are off any useful scale; clip so one exploded member does not flatten
# every other curve.
_FLOOR, _CEILING = 1e-30, 1e30


def ordered_colors(values: Iterable[float]) -> dict[float, tuple]:
    """Return a color per value, darkest for the smallest, so the colors read in the order of the values.

    Example:
        >>> colors = ordered_colors([1.2, 0.5, 0.8])
        >>> list(colors)
        [0.5, 0.8, 1.2]
    """
    ordered = sorted(set(values))
    low, high = _SEQUENTIAL_RANGE
    shades = plt.get_cmap(_SEQUENTIAL)(np.linspace(low, high, max(len(ordered), 2)))
    return {value: tuple(shade) for value, shade in zip(ordered, shades)}


def _size(width: float, height: float) -> tuple[float, float]:
    """Return a figsize no wider than MAX_FIGURE_WIDTH, the height shrunk in proportion (text stays legible)."""
    if width <= MAX_FIGURE_WIDTH:
        return width, height
    return MAX_FIGURE_WIDTH, height * MAX_FIGURE_WIDTH / width


def _integer_ticks(*axes_x) -> None:
    """Put only whole numbers on the x axis of each axes: layers and lags have no 2.5."""
    for ax in axes_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its title, what to read in it, and the PNG bytes."""

    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    """A table for the report: column names and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _band(ax, x, values, color, label, axis=0, linestyle="-"):
    """Median line with a min–max band over ``axis`` (the ensemble members)."""
    low, mid, high = nan_quantiles(values, axis)
    ax.plot(x, mid, color=color, label=label, linestyle=linestyle, linewidth=1.6)
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)


def _runs(store: Store, study: str) -> list[RunRecord]:
    return [store.get(study, name) for name in store.names(study)]


_T = Catalog({
    # through-time
    "tt.at_init": {"en": "At initialization", "pt": "Na inicialização"},
    "tt.trained": {"en": "After training", "pt": "Depois do treino"},
    "tt.lag": {"en": "lag k (steps back from the last step)", "pt": "atraso k (passos antes do último)"},
    "tt.legend": {"en": "solid: measured, median and\nrange over seeds; dashed: $\\sigma_{{max}}^k$",
                  "pt": "contínua: medida, mediana e\nfaixa entre sementes; tracejada: $\\sigma_{{max}}^k$"},
    "tt.title": {"en": "Gradient against lag", "pt": "O gradiente em função do atraso"},
    "tt.caption": {
        "en": "Each solid line is the median over seeds of the gradient norm k steps before the last step, relative "
              "to the last step; the band spans the seeds. The dashed line of the same color is the envelope "
              "(σ_max(W_rec) · max tanh′)^k = σ_max^k, which no profile can exceed. Colors run from dark (small ρ) "
              "to light (large ρ). With ρ < 1 the profile falls geometrically: the early steps receive no signal "
              "(vanishing gradient); a line that stops has fallen below float32's smallest number. With ρ > 1 it "
              "grows along the lag instead (exploding gradient), the faster the larger ρ; tanh saturation (tanh′ < "
              "1 where the units are driven hard) keeps it far below its envelope near ρ = 1.",
        "pt": "Cada linha contínua é a mediana, entre as sementes, da norma do gradiente k passos antes do último, "
              "relativa ao último passo; a faixa cobre as sementes. A linha tracejada da mesma cor é o envelope "
              "(σ_max(W_rec) · max tanh′)^k = σ_max^k, que nenhum perfil pode ultrapassar. As cores vão do escuro "
              "(ρ pequeno) ao claro (ρ grande). Com ρ < 1 o perfil cai geometricamente: os primeiros passos não "
              "recebem sinal (o gradiente desaparece); uma linha que termina caiu abaixo do menor número do "
              "float32. Com ρ > 1 ele cresce com o atraso (o gradiente explode), tanto mais rápido quanto maior o "
              "ρ; a saturação da tanh (tanh′ < 1 onde as unidades são muito excitadas) o mantém bem abaixo do "
              "envelope perto de ρ = 1.",
    },
    "tt.table": {"en": "Decay per step and horizon", "pt": "Decaimento por passo e horizonte"},
    "tt.columns": {
        "en": "ρ(W_rec)|σ_max at init|factor per step back, init|factor per step back, trained|horizon init / "
              "trained (steps)|held-out loss|baseline|diverged seeds",
        "pt": "ρ(W_rec)|σ_max na inicialização|fator por passo para trás, inicialização|fator por passo para trás, "
              "treinada|horizonte inicialização / treinada (passos)|perda em dados separados|referência|sementes "
              "divergentes",
    },
    "tt.table_caption": {
        "en": "Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t, median [min, max] over seeds; below 1 "
              "the gradient vanishes, above 1 it explodes. Horizon: steps back from the last before the gradient "
              "falls 10⁻⁶ below its peak (the sequence length means it reaches the start).",
        "pt": "Fator por passo para trás: exp(−inclinação) de log‖∂L/∂h_t‖ em função de t, mediana [mín, máx] entre "
              "sementes; abaixo de 1 o gradiente desaparece, acima de 1 ele explode. Horizonte: quantos passos "
              "antes do último o gradiente leva para cair 10⁻⁶ abaixo do pico (o comprimento da sequência "
              "significa que ele chega ao início).",
    },
    # long-range
    "model.elman": {"en": "Elman RNN (tanh)", "pt": "RNN de Elman (tanh)"},
    "model.lstm": {"en": "LSTM", "pt": "LSTM"},
    "model.gru": {"en": "GRU", "pt": "GRU"},
    "lr.baseline": {"en": "baseline (answer 1)", "pt": "referência (responder 1)"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "lr.mse": {"en": "held-out MSE", "pt": "MSE em dados separados"},
    "lr.loss_title": {"en": "Loss curves against the baseline", "pt": "Curvas de perda contra a referência"},
    "lr.loss_caption": {
        "en": "Held-out loss during training, median over seeds with the min–max band. A curve that stays on the "
              "dotted baseline has learned nothing about the marked numbers.",
        "pt": "Perda em dados separados durante o treino, mediana entre sementes com a faixa mín–máx. Uma curva "
              "que fica na referência pontilhada não aprendeu nada sobre os números marcados.",
    },
    "lr.solved_axis": {"en": "fraction of seeds that solved it", "pt": "fração de sementes que resolveram"},
    "lr.success_title": {"en": "Success rate per length", "pt": "Taxa de sucesso por comprimento"},
    "lr.success_caption": {
        "en": "Fraction of seeds that solved the task, with the 95% Wilson interval: with few seeds the interval is "
              "wide, and it says how much the bar can be trusted.",
        "pt": "Fração de sementes que resolveram a tarefa, com o intervalo de Wilson de 95%: com poucas sementes o "
              "intervalo é largo, e ele diz o quanto se pode confiar na barra.",
    },
    "lr.time_step": {"en": "time step t", "pt": "passo de tempo t"},
    "lr.heat_title": {"en": "‖∂L/∂h_t‖ along training (T = {length})",
                      "pt": "‖∂L/∂h_t‖ ao longo do treino (T = {length})"},
    "lr.heat_caption": {
        "en": "Each row is one training step, each column one time step of the sequence; color is the gradient "
              "reaching the hidden state at that time step (median over seeds, one log scale for all panels). The "
              "error enters at the last step (right). Dark on the left means the gradient never reaches the first "
              "marker, which lies in the first half of the sequence.",
        "pt": "Cada linha é um passo de treino, cada coluna um passo de tempo da sequência; a cor é o gradiente que "
              "chega ao estado oculto naquele passo (mediana entre sementes, uma só escala logarítmica para todos "
              "os painéis). O erro entra no último passo (à direita). Escuro à esquerda significa que o gradiente "
              "nunca chega ao primeiro marcador, que fica na primeira metade da sequência.",
    },
    "lr.table": {"en": "Success rate per model and length", "pt": "Taxa de sucesso por modelo e comprimento"},
    "lr.columns": {
        "en": "model|length T|solved|95% interval (Wilson)|held-out loss (median)|baseline|accuracy (median)|"
              "horizon after training",
        "pt": "modelo|comprimento T|resolvidas|intervalo de 95% (Wilson)|perda em dados separados (mediana)|"
              "referência|acurácia (mediana)|horizonte depois do treino",
    },
    "lr.table_caption": {
        "en": "A seed solves the task when at least 99% of 256 held-out sequences have squared error < 0.04. The "
              "baseline is the loss of always answering 1, which ignores the markers.",
        "pt": "Uma semente resolve a tarefa quando pelo menos 99% de 256 sequências separadas têm erro quadrático "
              "< 0,04. A referência é a perda de sempre responder 1, que ignora os marcadores.",
    },
})


def _model_label(model: str, lang: str) -> str:
    key = f"model.{model}"
    return _T(key, lang) if key in _T.messages else model


def through_time_figures(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the through-time study: gradient against lag, before and after training.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    # In the order of ρ, whatever order the store lists them in: the colors encode ρ.
    runs = sorted(_runs(store, "through-time"), key=lambda r: r.config["rho"])
    if not runs:
        return [], []
    finished = [r for r in runs if r.status == "finished"]
    colors = ordered_colors(r.config["rho"] for r in runs)
    fig, axes = plt.subplots(1, 2, figsize=_size(11, 4.2), sharey=True)
    measured_range = [np.inf, 0.0]
    for ax, phase, title in zip(axes, ("init", "trained"), (_T("tt.at_init", lang), _T("tt.trained", lang))):
        for run in runs:
            key = f"{phase}/by_lag"
            if key not in run.arrays:
                continue
            rho = run.config["rho"]
            color = colors[rho]
            by_lag = run.arrays[key]
            lags = np.arange(by_lag.shape[-1])
            # A gradient that underflowed to 0 (below float32's range) ends its line instead of
            # drawing a floor.
            relative = np.where(by_lag > 0, by_lag / by_lag[:, :1], np.nan)
            relative = np.where(np.isfinite(relative), np.clip(relative, _FLOOR, _CEILING), np.nan)
            if np.isfinite(relative).any():
                measured_range[0] = min(measured_range[0], np.nanmin(relative))
                measured_range[1] = max(measured_range[1], np.nanmax(relative))
            _band(ax, lags, relative, color, f"ρ = {rho:g}")
            sigma = float(np.median(run.arrays[f"{phase}/top_singular_value"]))
            envelope = np.clip(sigma ** lags.astype(float), _FLOOR, _CEILING)
            ax.plot(lags, envelope, color=color, linestyle="--", linewidth=0.9, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(_T("tt.lag", lang))
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    _integer_ticks(*axes)
    if measured_range[1] > 0:
        # Frame the measured profiles; the envelopes may leave the frame.
        axes[0].set_ylim(measured_range[0] / 10, max(measured_range[1], 1.0) * 1e3)
    axes[0].set_ylabel(r"$\|\partial L/\partial h_{T-k}\|\ /\ \|\partial L/\partial h_T\|$")
    axes[1].legend(title=_T("tt.legend", lang), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figures = [Figure(_T("tt.title", lang), _T("tt.caption", lang), _png(fig))]
    rows = []
    for run in finished:
        a = run.arrays
        rows.append([
            f"{run.config['rho']:g}",
            f"{np.median(a['init/top_singular_value']):.2f}",
            _spread(a["init/decay_rate"]),
            _spread(a["trained/decay_rate"]),
            f"{np.median(a['init/horizon']):.0f} / {np.median(a['trained/horizon']):.0f}",
            f"{run.summary['task/loss']:.3f}",
            f"{run.summary['baseline_loss']:.3f}",
            f"{run.summary['diverged']}",
        ])
    table = Table(_T("tt.table", lang), _T("tt.columns", lang).split("|"), rows, _T("tt.table_caption", lang))
    return figures, [table]


def _spread(values: np.ndarray) -> str:
    low, mid, high = nan_quantiles(np.asarray(values)[None], 1)[:, 0]
    return f"{mid:.3g} [{low:.3g}, {high:.3g}]"


def long_range_figures(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the long-range study: loss curves, success rates and gradient heatmaps.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "long-range") if "train/loss" in r.arrays]
    if not runs:
        return [], []
    models = list(dict.fromkeys(r.config["model"] for r in runs))
    lengths = sorted({r.config["length"] for r in runs})
    by_key = {(r.config["model"], r.config["length"]): r for r in runs}
    figures = [_loss_curves(by_key, models, lengths, lang), _success_rates(by_key, models, lengths, lang),
               _heatmaps(by_key, models, lengths[-1], lang)]
    rows = []
    for length in lengths:
        for model in models:
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            rows.append([
                _model_label(model, lang), str(length),
                f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%}",
                f"[{s['success_low']:.0%}, {s['success_high']:.0%}]",
                f"{s['task/loss']:.4f}", f"{s['baseline_loss']:.4f}", f"{s['task/accuracy']:.1%}",
                f"{s['final/horizon']:.0f}",
            ])
    table = Table(_T("lr.table", lang), _T("lr.columns", lang).split("|"), rows, _T("lr.table_caption", lang))
    return figures, [table]


def _loss_curves(by_key, models, lengths, lang) -> Figure:
    fig, axes = plt.subplots(1, len(lengths), figsize=_size(4 * len(lengths), 3.6), squeeze=False)
    for ax, length in zip(axes[0], lengths):
        baseline = None
        for model in models:
            run = by_key.get((model, length))
            if run is None:
                continue
            steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
            if len(steps):
                _band(ax, steps, loss, _MODEL_COLORS.get(model, PALETTE["grey"]), _model_label(model, lang), axis=1)
            baseline = run.summary.get("baseline_loss", baseline)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("lr.baseline", lang))
        ax.set_yscale("log")
        ax.set_title(f"T = {length}")
        ax.set_xlabel(_T("training_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("lr.mse", lang))
    # Off the data: beside the last panel.
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("lr.loss_title", lang), _T("lr.loss_caption", lang), _png(fig))


def _success_rates(by_key, models, lengths, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.5, 3.8))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        xs, rates, errors = [], [], [[], []]
        for j, length in enumerate(lengths):
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            rates.append(s["success_rate"])
            errors[0].append(s["success_rate"] - s["success_low"])
            errors[1].append(s["success_high"] - s["success_rate"])
        ax.bar(xs, rates, width=width * 0.9, color=_MODEL_COLORS.get(model, PALETTE["grey"]),
               label=_model_label(model, lang), alpha=0.85)
        ax.errorbar(xs, rates, yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
    ax.set_xticks(range(len(lengths)), [f"T = {t}" for t in lengths])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(_T("lr.solved_axis", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    return Figure(_T("lr.success_title", lang), _T("lr.success_caption", lang), _png(fig))


def _heatmaps(by_key, models, length, lang) -> Figure:
    present = [m for m in models if (m, length) in by_key and len(by_key[(m, length)].arrays["trace/steps"])]
    panels = max(len(present), 1)
    fig, axes = plt.subplots(1, panels, figsize=_size(3.9 * panels + 0.8, 3.6), squeeze=False,
                             constrained_layout=True)
    grids = {}
    for model in present:
        norms = np.median(by_key[(model, length)].arrays["trace/grad_norms"], axis=1)  # (snapshots, T)
        grids[model] = np.clip(np.nan_to_num(norms, nan=_FLOOR), _FLOOR, _CEILING)
    # One color scale for every model, so colors compare across panels.
    top = max((g.max() for g in grids.values()), default=1.0)
    bottom = max(min((g.min() for g in grids.values()), default=_FLOOR), top * 1e-12)
    scale = LogNorm(vmin=bottom, vmax=top)
    image = None
    for ax, model in zip(axes[0], present):
        steps = by_key[(model, length)].arrays["trace/steps"]
        image = ax.imshow(grids[model], aspect="auto", origin="lower", cmap="magma", norm=scale,
                          extent=(-0.5, grids[model].shape[1] - 0.5, steps[0], steps[-1] + 1),
                          interpolation="nearest")
        ax.set_title(_model_label(model, lang))
        ax.set_xlabel(_T("lr.time_step", lang))
        _integer_ticks(ax)
    axes[0][0].set_ylabel(_T("training_step", lang))
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label=r"$\|\partial L/\partial h_t\|$")
    return Figure(_T("lr.heat_title", lang, length=length), _T("lr.heat_caption", lang), _png(fig))
