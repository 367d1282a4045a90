"""Figures of the vanishing study: success per model, held-out loss against the tanh RNN, gradient profiles over t."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator

from gradtrace.instruments import HORIZON_THRESHOLD
from gradtrace.report.figures import (
    PALETTE,
    Figure,
    Table,
    _band,
    _png,
    _runs,
    _size,
    plt,
)
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import RunRecord, Store
from gradtrace.studies.vanishing.claims import FAILS, SOLVES, power_of_ten
from gradtrace.studies.vanishing.config import (
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
    LABELS,
    LOSS,
    MODELS,
    SEEDS,
    SUCCESS_HIGH,
    SUCCESS_LOW,
    SUCCESSES,
    TRAINED_CURES,
)

__all__ = ["COLORS", "draw"]

#: One color per model, from the report's palette: the failing baseline in red, each cure in its own hue.
COLORS = {"tanh": PALETTE["red"], "irnn": PALETTE["blue"], "orthogonal": PALETTE["sky"], "esn": PALETTE["orange"],
          "lstm": PALETTE["green"], "gru": PALETTE["purple"]}

_T = Catalog({
    "success_title": {"en": "Seeds that solve the latch task", "pt": "Sementes que resolvem a tarefa do trinco"},
    "success_axis": {"en": "fraction of seeds that solve it", "pt": "fração de sementes que a resolvem"},
    "solves_line": {"en": "solves: ≥ {level}", "pt": "resolve: ≥ {level}"},
    "fails_line": {"en": "fails: ≤ {level}", "pt": "falha: ≤ {level}"},
    "success_caption": {
        "en": "One point per model: the fraction of its {seeds} seeds that answer at least 99% of the held-out "
              "sequences with the right sign after training (T = {length}). Bars: 95% Wilson interval. Dashed "
              "lines: the thresholds of the claims, at least {solves} of the seeds to solve the task and at "
              "most {fails} to fail it.",
        "pt": "Um ponto por modelo: a fração das suas {seeds} sementes que acertam o sinal de pelo menos 99% das "
              "sequências separadas depois do treino (T = {length}). Barras: intervalo de Wilson de 95%. Linhas "
              "tracejadas: os limiares das afirmações, pelo menos {solves} das sementes para resolver a tarefa "
              "e no máximo {fails} para falhar.",
    },
    "loss_title": {"en": "Held-out loss of each cure against the tanh RNN",
                   "pt": "Perda em dados separados de cada cura contra a RNN tanh"},
    "loss_axis": {"en": "held-out loss (MSE)", "pt": "perda em dados separados (MSE)"},
    "step_axis": {"en": "training step", "pt": "passo de treino"},
    "blind": {"en": "always answering 0", "pt": "responder sempre 0"},
    "fitted": {"en": "fitted in closed form", "pt": "ajustada em forma fechada"},
    "loss_caption": {
        "en": "One panel per cure: its held-out loss during training (median over {seeds} seeds, min–max band) "
              "beside the tanh RNN's, trained with the same optimizer, learning rate, clipping and steps; log "
              "scale. The echo state network is not trained step by step: its readout is fitted once, and its "
              "held-out loss is drawn as a horizontal line across the panel. Dotted: the loss {blind} of "
              "always answering 0, the best answer that ignores the first inputs.",
        "pt": "Um painel por cura: a sua perda em dados separados durante o treino (mediana entre {seeds} "
              "sementes, faixa mín–máx) ao lado da perda da RNN tanh, treinada com o mesmo otimizador, a mesma "
              "taxa de aprendizado, a mesma poda e os mesmos passos; escala logarítmica. A rede de estado de eco "
              "não é treinada passo a passo: a sua leitura é ajustada uma vez, e a sua perda em dados separados "
              "aparece como uma linha horizontal no painel. Pontilhada: a perda {blind} de responder sempre 0, "
              "a melhor resposta que ignora as primeiras entradas.",
    },
    "profile_title": {"en": "Gradient along time, ‖∂L/∂h_t‖", "pt": "O gradiente ao longo do tempo, ‖∂L/∂h_t‖"},
    "at_init": {"en": "At initialization", "pt": "Na inicialização"},
    "trained": {"en": "After training", "pt": "Depois do treino"},
    "t_axis": {"en": "time step t", "pt": "passo de tempo t"},
    "profile_axis": {"en": "‖∂L/∂h_t‖ / its peak over t", "pt": "‖∂L/∂h_t‖ / o seu pico em t"},
    "threshold": {"en": "horizon threshold", "pt": "limiar do horizonte"},
    "profile_caption": {
        "en": "The norm of the loss's gradient with respect to each hidden state h_t, over the {probe} sequences of "
              "one probe batch, divided by its largest value over t (median over {seeds} seeds, min–max band; log "
              "scale), left at initialization and right after training. The loss is read at the last step, "
              "t = {length}; the answer depends on the first three. Dotted: {threshold} of the peak, where "
              "gradtrace's horizon ends. Values below {floor}, including those that underflow float32 to "
              "zero, are drawn at {floor}. The echo state network is not drawn: it trains only its readout, "
              "so no gradient goes back through time.",
        "pt": "A norma do gradiente da perda em relação a cada estado oculto h_t, sobre as {probe} sequências de "
              "um lote de sondagem, dividida pelo seu maior valor em t (mediana entre {seeds} sementes, faixa "
              "mín–máx; escala logarítmica), à esquerda na inicialização e à direita depois do treino. A perda é "
              "lida no último passo, t = {length}; a resposta depende dos três primeiros. Pontilhada: {threshold} "
              "do pico, onde termina o horizonte do gradtrace. Valores abaixo de {floor}, incluindo os que "
              "caem a zero no float32, aparecem em {floor}. A rede de estado de eco não aparece: ela treina só "
              "a sua leitura, e nenhum gradiente volta no tempo.",
    },
    "table": {"en": "Success, loss and gradient horizon per model",
              "pt": "Sucesso, perda e horizonte do gradiente por modelo"},
    "columns": {
        "en": "model|seeds solved|95% interval|held-out loss (median)|horizon at init (steps, min–max)|"
              "‖∂L/∂h_1‖ / peak at init (worst seed)",
        "pt": "modelo|sementes resolvidas|intervalo de 95%|perda em dados separados (mediana)|horizonte na "
              "inicialização (passos, mín–máx)|‖∂L/∂h_1‖ / pico na inicialização (pior semente)",
    },
    "no_gradient": {"en": "none through time", "pt": "nenhum no tempo"},
    "underflow": {"en": "0 (below float32)", "pt": "0 (abaixo do float32)"},
    "table_caption": {
        "en": "Latch task, T = {length}, {seeds} seeds per model. Trained models: {hidden} units, Adam at lr "
              "{lr}, gradient clipped to norm {max_norm}, {steps} steps of {batch} sequences. IRNN: W_in, "
              "W_out ~ N(0, {std}²); LSTM forget-gate and GRU update-gate bias {gate}. Echo state network: "
              "{reservoir} units, leak rate {leak}, ρ(W_rec) = {rho}, ridge {ridge}, readout fitted on "
              "{sequences} sequences per seed. Horizon: steps back from the last before ‖∂L/∂h_t‖ falls below "
              "{threshold} of its peak.",
        "pt": "Tarefa do trinco, T = {length}, {seeds} sementes por modelo. Modelos treinados: {hidden} unidades, "
              "Adam com taxa de aprendizado {lr}, gradiente podado à norma {max_norm}, {steps} passos de "
              "{batch} sequências. IRNN: W_in, W_out ~ N(0, {std}²); viés {gate} na porta de esquecimento da "
              "LSTM e na de atualização da GRU. Rede de estado de eco: {reservoir} unidades, taxa de vazamento "
              "{leak}, ρ(W_rec) = {rho}, ridge {ridge}, leitura ajustada em {sequences} sequências por "
              "semente. Horizonte: passos antes do último até ‖∂L/∂h_t‖ cair abaixo de {threshold} do seu pico.",
    },
})

# The lowest ratio a profile is drawn at: float32 underflows the tanh RNN's gradient to zero long before t = 1.
_PROFILE_FLOOR = 1e-25


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the vanishing study: success per model, loss curves, gradient profiles and the summary table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The figures and the table; nothing when no run has finished.
    """
    runs = {r.name: r for r in _runs(store, "vanishing") if r.status == "finished" and r.summary}
    models = [model for model in MODELS if model in runs]
    if not models:
        return [], []
    config = runs[models[0]].config
    figures = [_success(runs, models, config, lang)]
    cures = [model for model in models if model in CURES]
    if cures:
        figures.append(_losses(runs, cures, config, lang))
    traced = [model for model in models if model == BASELINE or model in TRAINED_CURES]
    figures.append(_profiles(runs, traced, config, lang))
    return figures, [_table(runs, models, config, lang)]


def _label(model: str, lang: str) -> str:
    return LABELS[model][lang]


def _whole_numbers(axis, bins: int) -> None:
    """Tick ``axis`` (steps, time) at about ``bins`` whole numbers, written without decimals in any language."""
    axis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))


def _success(runs: dict[str, RunRecord], models: list[str], config: dict, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.5, 3.6))
    for x, model in enumerate(models):
        s = runs[model].summary
        rate = s[SUCCESSES] / s[SEEDS]
        ax.errorbar([x], [rate], yerr=[[rate - s[SUCCESS_LOW]], [s[SUCCESS_HIGH] - rate]], color=COLORS[model],
                    marker="o", markersize=8, capsize=5, linewidth=1.6)
    for key, level in (("solves_line", SOLVES), ("fails_line", FAILS)):
        ax.axhline(level, color=PALETTE["grey"], linestyle="--", linewidth=1)
        ax.annotate(_T(key, lang, level=number(level, ".0%", lang)), (1.0, level), xycoords=("axes fraction", "data"),
                    xytext=(6, 0), textcoords="offset points", va="center", color=PALETTE["grey"])
    ax.set_xticks(range(len(models)), [textwrap.fill(_label(m, lang), 14) for m in models])
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value, ".0%", lang)))
    ax.set_ylabel(_T("success_axis", lang))
    ax.grid(True, axis="y", alpha=0.3)
    caption = _T("success_caption", lang, seeds=config["seeds"], length=config["length"],
                 solves=number(SOLVES, ".0%", lang), fails=number(FAILS, ".0%", lang))
    return Figure(_T("success_title", lang), caption, _png(fig, lang))


def _losses(runs: dict[str, RunRecord], cures: list[str], config: dict, lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(cures), figsize=_size(2.9 * len(cures) + 1.5, 3.6), squeeze=False,
                             sharey=True)
    plain = runs.get(BASELINE)
    blind = runs[cures[0]].summary[BASELINE_LOSS]
    for ax, cure in zip(axes[0], cures):
        if plain is not None:
            _band(ax, plain.arrays[EVAL_STEP], plain.arrays[HELD_OUT_LOSS], COLORS[BASELINE],
                  _label(BASELINE, lang), axis=1)
        run = runs[cure]
        steps, losses = run.arrays[EVAL_STEP], run.arrays[HELD_OUT_LOSS]
        if len(steps) == 1:  # fitted once (the ESN): a level across the panel
            span = np.array([0, config["steps"]])
            _band(ax, span, np.repeat(losses, 2, axis=0), COLORS[cure], f"{_label(cure, lang)}, "
                  f"{_T('fitted', lang)}", axis=1, linestyle="--")
        else:
            _band(ax, steps, losses, COLORS[cure], _label(cure, lang), axis=1)
        ax.axhline(blind, color=PALETTE["black"], linestyle=":", linewidth=1, zorder=1)
        ax.set_yscale("log")
        ax.set_title(_label(cure, lang))
        ax.set_xlabel(_T("step_axis", lang))
        ax.grid(True, alpha=0.3)
        _whole_numbers(ax.xaxis, bins=4)
    axes[0][0].set_ylabel(_T("loss_axis", lang))
    handles = [plt.Line2D([], [], color=COLORS[model], linewidth=1.6,
                          linestyle="--" if len(runs[model].arrays[EVAL_STEP]) == 1 else "-",
                          label=_label(model, lang)) for model in [BASELINE, *cures] if model in runs]
    handles.append(plt.Line2D([], [], color=PALETTE["black"], linestyle=":", linewidth=1,
                              label=_T("blind", lang)))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=min(len(handles), 4),
               frameon=False)
    caption = _T("loss_caption", lang, seeds=config["seeds"], blind=number(blind, ".2f", lang))
    return Figure(_T("loss_title", lang), caption, _png(fig, lang))


def _profiles(runs: dict[str, RunRecord], models: list[str], config: dict, lang: str) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=_size(11.0, 4.0), sharey=True)
    length = config["length"]
    t = np.arange(1, length + 1)
    for ax, key, title in ((axes[0], INIT_PROFILE, "at_init"), (axes[1], FINAL_PROFILE, "trained")):
        for model in models:
            profile = np.asarray(runs[model].arrays[key], dtype=np.float64)  # (K, T)
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = profile / profile.max(axis=1, keepdims=True)
            relative = np.clip(np.where(np.isfinite(relative), relative, np.nan), _PROFILE_FLOOR, None)
            _band(ax, t, relative, COLORS[model], _label(model, lang), axis=0)
        ax.axhline(HORIZON_THRESHOLD, color=PALETTE["black"], linestyle=":", linewidth=1,
                   label=_T("threshold", lang))
        ax.set_yscale("log")
        ax.set_ylim(_PROFILE_FLOOR / 3, 3.0)
        ax.set_xlim(1, length)
        ax.set_title(_T(title, lang))
        ax.set_xlabel(_T("t_axis", lang))
        ax.grid(True, alpha=0.3)
        _whole_numbers(ax.xaxis, bins=10)
    axes[0].set_ylabel(_T("profile_axis", lang))
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    caption = _T("profile_caption", lang, probe=config["eval_batch_size"], seeds=config["seeds"], length=length,
                 threshold=power_of_ten(HORIZON_THRESHOLD), floor=power_of_ten(_PROFILE_FLOOR))
    return Figure(_T("profile_title", lang), caption, _png(fig, lang))


def _ratio(value: float, lang: str) -> str:
    """A ratio of gradient norms, saying so when float32 has rounded it to zero."""
    return _T("underflow", lang) if value == 0 else number(value, ".1e", lang)


def _table(runs: dict[str, RunRecord], models: list[str], config: dict, lang: str) -> Table:
    rows = []
    for model in models:
        s = runs[model].summary
        traced = model == BASELINE or model in TRAINED_CURES
        low, high = s[INIT_HORIZON_MIN], s[INIT_HORIZON_MAX]
        rows.append([
            _label(model, lang), f"{s[SUCCESSES]}/{s[SEEDS]}",
            f"{number(s[SUCCESS_LOW], '.0%', lang)} – {number(s[SUCCESS_HIGH], '.0%', lang)}",
            number(s[LOSS], ".2e", lang),
            (f"{low}" if low == high else f"{low}–{high}") if traced else _T("no_gradient", lang),
            _ratio(s[INIT_FIRST_RATIO], lang) if traced else "—",
        ])
    shown = {key: number(config[field], "g", lang) for key, field in (
        ("lr", "lr"), ("max_norm", "max_norm"), ("std", "irnn_input_std"), ("gate", "gate_bias"),
        ("leak", "esn_leak_rate"), ("rho", "esn_spectral_radius"), ("ridge", "esn_ridge"))}
    caption = _T("table_caption", lang, length=config["length"], seeds=config["seeds"], hidden=config["hidden_size"],
                 steps=config["steps"], batch=config["batch_size"], reservoir=config["reservoir_size"],
                 sequences=config["esn_train_sequences"], threshold=power_of_ten(HORIZON_THRESHOLD), **shown)
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows, caption)
