"""Figures of the remedies study: success rates, loss curves and gradient profiles per setup."""

from __future__ import annotations

import itertools

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _integer_ticks, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog
from gradtrace.store import Store
from gradtrace.studies.remedies import REMEDY_SETUPS
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

# Ordered like REMEDY_SETUPS, one palette color each (the grey reference color is kept for baselines).
_COLORS = dict(zip(REMEDY_SETUPS, itertools.cycle(c for name, c in PALETTE.items() if name not in ("grey", "black"))))

_T = Catalog({
    "task.adding": {"en": "adding problem", "pt": "problema da soma"},
    "task.temporal_order": {"en": "temporal order", "pt": "ordem temporal"},
    "setup.tanh": {"en": "tanh RNN", "pt": "RNN tanh"},
    "setup.clip": {"en": "+ clipping", "pt": "+ poda"},
    "setup.clip_omega": {"en": "+ clipping + Ω", "pt": "+ poda + Ω"},
    "setup.tbptt": {"en": "+ truncated BPTT", "pt": "+ BPTT truncada"},
    "setup.irnn": {"en": "IRNN (ReLU, W_rec = I)", "pt": "IRNN (ReLU, W_rec = I)"},
    "setup.orthogonal": {"en": "orthogonal W_rec", "pt": "W_rec ortogonal"},
    "setup.esn": {"en": "echo state network", "pt": "rede de estado de eco"},
    "setup.lstm": {"en": "LSTM", "pt": "LSTM"},
    "setup.gru": {"en": "GRU", "pt": "GRU"},
    "closed_form": {"en": " (closed form)", "pt": " (forma fechada)"},
    "panel": {"en": "{task}, T = {length}", "pt": "{task}, T = {length}"},
    "solved_axis": {"en": "fraction of seeds that solved it", "pt": "fração de sementes que resolveram"},
    "success_title": {"en": "Which remedies solve the long-range tasks",
                      "pt": "Quais remédios resolvem as tarefas de longo alcance"},
    "success_caption": {
        "en": "Fraction of seeds that solved each task, with the 95% Wilson interval. Clipping only tames exploding "
              "gradients; truncation shortens the gradient's path on purpose, so it cannot learn a dependency "
              "longer than its window; gating (LSTM, GRU) and an untrained reservoir (ESN) change what the "
              "gradient has to travel through.",
        "pt": "Fração de sementes que resolveram cada tarefa, com o intervalo de Wilson de 95%. A poda só doma "
              "gradientes que explodem; a truncagem encurta de propósito o caminho do gradiente, então não aprende "
              "uma dependência mais longa que a sua janela; as portas (LSTM, GRU) e um reservatório não treinado "
              "(ESN) mudam aquilo que o gradiente precisa atravessar.",
    },
    "baseline": {"en": "baseline", "pt": "referência"},
    "training_step": {"en": "training step", "pt": "passo de treino"},
    "loss_axis": {"en": "held-out loss", "pt": "perda em dados separados"},
    "loss_title": {"en": "Loss curves", "pt": "Curvas de perda"},
    "loss_caption": {
        "en": "Held-out loss during training (median over seeds, min–max band); the echo state network's readout is "
              "solved in one step, so it is a dashed level. Dotted: the loss of ignoring the inputs.",
        "pt": "Perda em dados separados durante o treino (mediana entre sementes, faixa mín–máx); a leitura da rede "
              "de estado de eco é resolvida num passo só, por isso aparece como um nível tracejado. Pontilhada: a "
              "perda de ignorar as entradas.",
    },
    "lag_axis": {"en": "steps back from the last step (lag)", "pt": "passos antes do último (atraso)"},
    "profile_axis": {"en": "‖∂L/∂h_t‖ / its peak", "pt": "‖∂L/∂h_t‖ / seu pico"},
    "profile_title": {"en": "How far back the gradient reaches after training",
                      "pt": "Até onde o gradiente alcança depois do treino"},
    "profile_caption": {
        "en": "‖∂L/∂h_t‖ against the number of steps back from the scored last step, relative to its peak, median "
              "over seeds, measured after training on fresh sequences. A steep fall means the early steps receive "
              "no error signal. The echo state network has only the last step: nothing flows back through its "
              "reservoir, which is never trained, so it needs no gradient there. Truncated BPTT stops at its "
              "window by design.",
        "pt": "‖∂L/∂h_t‖ em função do número de passos antes do último passo avaliado, relativa ao seu pico, "
              "mediana entre sementes, medida depois do treino em sequências novas. Uma queda abrupta significa "
              "que os primeiros passos não recebem sinal de erro. A rede de estado de eco só tem o último passo: "
              "nada volta pelo seu reservatório, que nunca é treinado, então ele não precisa de gradiente ali. A "
              "BPTT truncada para na sua janela por construção.",
    },
    "table": {"en": "Success rate per remedy", "pt": "Taxa de sucesso por remédio"},
    "columns": {
        "en": "task|setup|solved|95% interval (Wilson)|held-out loss (median)|baseline|accuracy (median)|horizon "
              "after training",
        "pt": "tarefa|configuração|resolvidas|intervalo de 95% (Wilson)|perda em dados separados (mediana)|"
              "referência|acurácia (mediana)|horizonte depois do treino",
    },
    "table_caption": {
        "en": "{hidden} hidden units, Adam at lr {lr:g} for {steps} steps of {batch} sequences; clipping at global "
              "norm {max_norm:g}; Ω weight {omega:g} (mean over kept steps), applied before clipping; truncated "
              "BPTT with k1 = k2 = {fraction:g}·T; IRNN = ReLU units, W_rec = I, small input weights; ESN: "
              "{reservoir} leaky units (leak {leak:g}, ρ {esn_rho:g}), ridge readout fitted in closed form on "
              "{esn_sequences} sequences; LSTM forget bias {forget:g}. A seed solves the task when ≥ 99% of "
              "held-out sequences are right. The horizon is how many steps back the gradient stays above 10⁻⁶ of "
              "its peak after training.",
        "pt": "{hidden} unidades ocultas, Adam com taxa de aprendizado {lr:g} por {steps} passos de {batch} "
              "sequências; poda na norma global {max_norm:g}; peso de Ω {omega:g} (média sobre os passos "
              "mantidos), aplicado antes da poda; BPTT truncada com k1 = k2 = {fraction:g}·T; IRNN = unidades "
              "ReLU, W_rec = I, pesos de entrada pequenos; ESN: {reservoir} unidades com vazamento (taxa "
              "{leak:g}, ρ {esn_rho:g}), leitura ridge ajustada em forma fechada em {esn_sequences} sequências; "
              "viés do portão de esquecimento da LSTM {forget:g}. Uma semente resolve a tarefa quando ≥ 99% das "
              "sequências separadas estão certas. O horizonte é quantos passos para trás o gradiente fica acima "
              "de 10⁻⁶ do seu pico depois do treino.",
    },
})


def _task(task: str, lang: str) -> str:
    key = f"task.{task}"
    return _T(key, lang) if key in _T.messages else task


def _setup(setup: str, lang: str) -> str:
    key = f"setup.{setup}"
    return _T(key, lang) if key in _T.messages else REMEDY_SETUPS.get(setup, setup)


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the remedies study: success rates, loss curves, gradient profiles and the table.

    Args:
        store: the run store holding the study's runs.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "remedies") if r.summary]
    if not runs:
        return [], []
    tasks = list(dict.fromkeys(r.config["task_name"] for r in runs))
    setups = [s for s in REMEDY_SETUPS if any(r.config["setup"] == s for r in runs)]
    by_key = {(r.config["task_name"], r.config["setup"]): r for r in runs}
    lengths = {task: next(r.summary["length"] for r in runs if r.config["task_name"] == task) for task in tasks}
    figures = [_success(by_key, tasks, setups, lengths, lang), _losses(by_key, tasks, setups, lengths, lang),
               _profiles(by_key, tasks, setups, lengths, lang)]
    rows = []
    for task in tasks:
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            rows.append([
                _T("panel", lang, task=_task(task, lang), length=s["length"]), _setup(setup, lang),
                f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%}",
                f"[{s['success_low']:.0%}, {s['success_high']:.0%}]", f"{s['task/loss']:.4f}",
                f"{s['baseline_loss']:.4f}", f"{s['task/accuracy']:.1%}", f"{s['final/horizon']:.0f}",
            ])
    config = runs[0].config
    table = Table(
        _T("table", lang), _T("columns", lang).split("|"), rows,
        _T("table_caption", lang, hidden=config["hidden_size"], lr=config["lr"], steps=config["steps"],
           batch=config["batch_size"], max_norm=config["max_norm"], omega=config["omega_weight"],
           fraction=config["truncation_fraction"], reservoir=config["reservoir_size"], leak=config["esn_leak_rate"],
           esn_rho=config["esn_spectral_radius"], esn_sequences=config["esn_train_sequences"],
           forget=config["lstm_forget_bias"]),
    )
    return figures, [table]


def _success(by_key, tasks, setups, lengths, lang) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=_size(5.8 * len(tasks), 4.2), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for i, setup in enumerate(setups):
            run = by_key.get((task, setup))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            ax.bar(i, s["success_rate"], color=_COLORS[setup], alpha=0.85)
            ax.errorbar([i], [s["success_rate"]], yerr=[[s["success_rate"] - s["success_low"]],
                                                        [s["success_high"] - s["success_rate"]]],
                        fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.set_xticks(range(len(setups)), [_setup(s, lang) for s in setups], rotation=40, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(_T("panel", lang, task=_task(task, lang), length=lengths[task]))
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel(_T("solved_axis", lang))
    return Figure(_T("success_title", lang), _T("success_caption", lang), _png(fig))


def _losses(by_key, tasks, setups, lengths, lang) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=_size(5.8 * len(tasks), 4.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        baseline = None
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None:
                continue
            steps, loss = run.arrays["eval/step"], run.arrays["task/loss"]
            if setup == "esn" and len(loss):
                level = float(nan_quantiles(loss[-1][None], 1)[1][0])
                ax.axhline(level, color=_COLORS[setup], linestyle="--", linewidth=1.4,
                           label=_setup(setup, lang) + _T("closed_form", lang))
            elif len(steps):
                _band(ax, steps, loss, _COLORS[setup], _setup(setup, lang), axis=1)
            baseline = run.summary.get("baseline_loss", baseline)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("baseline", lang))
        ax.set_yscale("log")
        ax.set_title(_T("panel", lang, task=_task(task, lang), length=lengths[task]))
        ax.set_xlabel(_T("training_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("loss_axis", lang))
    # Off the data: beside the last panel, where the lines of nine setups would hide each other.
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("loss_title", lang), _T("loss_caption", lang), _png(fig))


def _profiles(by_key, tasks, setups, lengths, lang) -> Figure:
    fig, axes = plt.subplots(1, len(tasks), figsize=_size(5.8 * len(tasks), 4.0), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for setup in setups:
            run = by_key.get((task, setup))
            if run is None or "final/grad_norms" not in run.arrays:
                continue
            norms = np.asarray(run.arrays["final/grad_norms"], dtype=float)  # (K, T)
            peak = np.nanmax(np.where(np.isfinite(norms), norms, np.nan), axis=1, keepdims=True)
            relative = norms / np.where(peak > 0, peak, np.nan)
            by_lag = relative[:, ::-1]
            shown = np.where(by_lag > 0, by_lag, np.nan)
            lags = np.arange(shown.shape[1])
            median = nan_quantiles(shown, 0)[1] if np.isfinite(shown).any() else None
            if median is not None:
                ax.plot(lags, median, color=_COLORS[setup], label=_setup(setup, lang), linewidth=1.5)
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 2)
        ax.set_title(_T("panel", lang, task=_task(task, lang), length=lengths[task]))
        ax.set_xlabel(_T("lag_axis", lang))
        _integer_ticks(ax)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("profile_axis", lang))
    # Off the data: beside the last panel, where the lines of nine setups would hide each other.
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("profile_title", lang), _T("profile_caption", lang), _png(fig))
