"""Figures of the bengio1994 study: how often a bit is latched, and how far the gradient reaches, against T."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.published import get_published
from gradtrace.studies.stats import nan_quantiles

__all__ = ["draw"]

_OURS = PALETTE["blue"]
_INIT = PALETTE["grey"]
_FLOOR = 1e-30

_T = Catalog({
    "protocol": {
        "en": "One tanh unit with a trained input weight, bias and linear read-out (hidden_size = {hidden}), weights "
              "from U(−1, 1); the first {latch} inputs are ±1 (the bit), the rest Gaussian noise of variance "
              "{variance}; target ±{target} at the last step, cost ½(y_T − d)²; plain gradient descent, lr {lr}, "
              "{steps} updates of {batch} sequences; a seed succeeds when ≥ 99% of {eval} held-out sequences give "
              "an output of the right sign.",
        "pt": "Uma unidade tanh com peso de entrada, viés e leitura linear treinados (hidden_size = {hidden}), pesos "
              "de U(−1, 1); as primeiras {latch} entradas valem ±1 (o bit), as demais são ruído gaussiano de "
              "variância {variance}; alvo ±{target} no último passo, custo ½(y_T − d)²; descida do gradiente "
              "simples, taxa de aprendizado {lr}, {steps} atualizações de {batch} sequências; uma semente tem "
              "sucesso quando ≥ 99% de {eval} sequências separadas dão uma saída com o sinal certo.",
    },
    "deviations": {
        "en": "Deviations from the paper, as far as we know it (its text was not available to us): the bit is "
              "given as input rather than learned as the first L inputs; the unit has a linear read-out; every "
              "sequence has exactly T steps (Bengio et al. also drew lengths down to T/2); L, the noise level, "
              "the initialization, the learning rate and the number of trials are ours.",
        "pt": "Diferenças em relação ao artigo, até onde o conhecemos (não tivemos acesso ao seu texto): o bit é "
              "dado como entrada em vez de aprendido como as primeiras L entradas; a unidade tem uma leitura "
              "linear; toda sequência tem exatamente T passos (Bengio et al. também sorteavam comprimentos até "
              "T/2); L, o nível de ruído, a inicialização, a taxa de aprendizado e o número de tentativas são "
              "nossos.",
    },
    # The paper's claim, quoted from published.py in English and said in our own words in Portuguese.
    "published_note": {
        "en": "Published: the paper reports the frequency of successful training against T in a figure whose "
              "values were not transcribed (published.py holds no series for bengio1994), so no published point "
              "is drawn. Its claim: \"{claim}\"",
        "pt": "Publicado: o artigo mostra a frequência de treinos bem-sucedidos em função de T numa figura cujos "
              "valores não foram transcritos, então nenhum ponto publicado é desenhado. O artigo afirma (Seção "
              "II) que guardar o bit de forma robusta (atratores hiperbólicos contrativos) e aprendê-lo "
              "eficientemente pelo gradiente estão em conflito: o gradiente vindo do instante T decai "
              "exponencialmente com o atraso.",
    },
    "wilson": {"en": "95% Wilson interval", "pt": "intervalo de Wilson de 95%"},
    "latched_line": {"en": "ours: seeds that latch the bit", "pt": "nosso: sementes que guardam o bit"},
    "bistable_line": {"en": "ours: seeds with ρ(W_rec) > 1 after training",
                      "pt": "nosso: sementes com ρ(W_rec) > 1 depois do treino"},
    "length_axis": {"en": "sequence length T (steps)", "pt": "comprimento da sequência T (passos)"},
    "seeds_axis": {"en": "fraction of seeds", "pt": "fração de sementes"},
    "frequency_title": {"en": "Success frequency against the sequence length",
                        "pt": "Frequência de sucesso em função do comprimento da sequência"},
    "frequency_caption": {
        "en": "Fraction of the {seeds} seeds per length that learned to latch the bit, with the 95% Wilson "
              "interval (band), and the fraction whose recurrent weight ended above 1 in magnitude — for one unit "
              "the condition for two stable states, without which no bit can be held.",
        "pt": "Fração das {seeds} sementes por comprimento que aprenderam a guardar o bit (travamento), com o "
              "intervalo de Wilson de 95% (faixa), e a fração cujo peso recorrente terminou acima de 1 em módulo — "
              "para uma unidade, a condição para ter dois estados estáveis, sem os quais nenhum bit pode ser "
              "guardado.",
    },
    "phase.init": {"en": "at initialization", "pt": "na inicialização"},
    "phase.final": {"en": "after training", "pt": "depois do treino"},
    "factor_axis": {"en": "factor per step back", "pt": "fator por passo para trás"},
    "decay_title": {"en": "Decay of ‖∂L/∂h_t‖ per step", "pt": "Decaimento de ‖∂L/∂h_t‖ por passo"},
    "reaches_start": {"en": "T (reaches the start)", "pt": "T (alcança o início)"},
    "steps_back": {"en": "steps back", "pt": "passos para trás"},
    "horizon_title": {"en": "Gradient horizon (10⁻⁶ of its peak)", "pt": "Horizonte do gradiente (10⁻⁶ do pico)"},
    "reach_title": {"en": "Gradient reaching the bit", "pt": "Gradiente que chega ao bit"},
    "gradient_title": {"en": "How far back the gradient reaches", "pt": "Até onde o gradiente alcança para trás"},
    "gradient_caption": {
        "en": "Measured with one backward pass on held-out sequences, at initialization and after training; median "
              "over seeds with the min–max range. Left: exp(−slope) of log‖∂L/∂h_t‖ against t, the factor the "
              "gradient is multiplied by per step back (below 1: it vanishes geometrically). Middle: steps back "
              "from the last before the gradient falls 10⁻⁶ below its peak; where it stops growing with T, the "
              "first steps receive nothing. Right: the gradient at the last step carrying the bit relative to the "
              "read-out step, T − {latch} steps later: the signal that must teach the unit to latch. The paper "
              "argues that a latched unit is saturated (tanh′ small), so the better it holds the bit, the less "
              "gradient crosses the noise — falling to nothing as T grows.",
        "pt": "Medido com uma única passagem para trás em sequências separadas, na inicialização e depois do "
              "treino; mediana entre sementes com a faixa mín–máx. À esquerda: exp(−inclinação) de log‖∂L/∂h_t‖ "
              "em função de t, o fator pelo qual o gradiente é multiplicado a cada passo para trás (abaixo de 1, o "
              "gradiente desaparece geometricamente). No meio: quantos passos para trás, a partir do último, até o "
              "gradiente cair 10⁻⁶ abaixo do seu pico; onde isso para de crescer com T, os primeiros passos não "
              "recebem nada. À direita: o gradiente no último passo que carrega o bit em relação ao passo da "
              "leitura, T − {latch} passos depois: o sinal que precisa ensinar a unidade a guardar o bit. O artigo "
              "argumenta que uma unidade travada está saturada (tanh′ pequena), então quanto melhor ela guarda o "
              "bit, menos gradiente atravessa o ruído — até nada, à medida que T cresce.",
    },
    "failed": {"en": "after training, failed", "pt": "depois do treino, falhou"},
    "latched": {"en": "after training, latched", "pt": "depois do treino, guardou o bit"},
    "weights_title": {"en": "Recurrent weight of every seed", "pt": "Peso recorrente de cada semente"},
    "weights_caption": {
        "en": "Spectral radius of W_rec (for one unit, |w|) of each seed before (grey, left) and after training, "
              "green where the seed latched the bit and red where it did not. Above the dotted line at 1 the unit "
              "has two stable states. No seed starts there (the weights start in U(−1, 1)): gradient descent must "
              "carry w across 1, and it can only do so while the gradient still reaches the bit.",
        "pt": "Raio espectral de W_rec (para uma unidade, |w|) de cada semente antes (cinza, à esquerda) e depois "
              "do treino, em verde onde a semente guardou o bit e em vermelho onde não guardou. Acima da linha "
              "pontilhada em 1 a unidade tem dois estados estáveis. Nenhuma semente começa ali (os pesos começam "
              "em U(−1, 1)): a descida do gradiente precisa levar w para além de 1, e só consegue isso enquanto o "
              "gradiente ainda chega ao bit.",
    },
    "baseline": {"en": "baseline (answer 0)", "pt": "referência (responder 0)"},
    "latch_axis": {"en": "fraction of seeds that latch", "pt": "fração de sementes que guardam o bit"},
    "mse_axis": {"en": "held-out MSE (median over seeds)", "pt": "MSE em dados separados (mediana entre sementes)"},
    "update": {"en": "update", "pt": "atualização"},
    "losses_title": {"en": "Learning curves", "pt": "Curvas de aprendizado"},
    "losses_caption": {
        "en": "Left: fraction of seeds that have latched the bit (≥ 99% of held-out sequences of the right sign) "
              "along training. Right: held-out mean squared error at the last step, median over seeds; the dotted "
              "line is the loss of answering 0, which ignores the bit. A fraction still rising when training ends "
              "has not settled within the budget.",
        "pt": "À esquerda: fração de sementes que já guardaram o bit (≥ 99% das sequências separadas com o sinal "
              "certo) ao longo do treino. À direita: erro quadrático médio no último passo em dados separados, "
              "mediana entre sementes; a linha pontilhada é a perda de responder 0, que ignora o bit. Uma fração "
              "que ainda sobe quando o treino acaba não se estabilizou dentro do orçamento.",
    },
    "setting": {
        "en": "T = {length} (L = {latch}, noise variance {variance}, {hidden} tanh unit{plural})",
        "pt": "T = {length} (L = {latch}, variância do ruído {variance}, {hidden} unidade{plural} tanh)",
    },
    "not_transcribed": {"en": "not transcribed (claim: success frequency falls as T grows)",
                        "pt": "não transcrito (afirmação: a frequência de sucesso cai à medida que T cresce)"},
    "budget": {
        "en": "{steps} updates × {batch} sequences, gradient descent lr {lr} (Bengio et al.: not known to us)",
        "pt": "{steps} atualizações × {batch} sequências, descida do gradiente com taxa de aprendizado {lr} "
              "(Bengio et al.: desconhecido para nós)",
    },
    "comparison_title": {"en": "Bengio, Simard & Frasconi 1994: published vs ours",
                         "pt": "Bengio, Simard & Frasconi 1994: publicado e nosso"},
    "comparison_columns": {"en": "setting|published|ours|budget", "pt": "configuração|publicado|nosso|orçamento"},
    "comparison_caption": {
        "en": "Ours: seeds that latched the bit (≥ 99% of held-out sequences of the right sign), with the 95% Wilson "
              "interval.",
        "pt": "Nosso: sementes que guardaram o bit (≥ 99% das sequências separadas com o sinal certo), com o "
              "intervalo de Wilson de 95%.",
    },
    "loss_cell": {"en": "{loss} (baseline {baseline})", "pt": "{loss} (referência {baseline})"},
    "diagnostics_title": {"en": "Gradient decay and horizon per length",
                          "pt": "Decaimento e horizonte do gradiente por comprimento"},
    "diagnostics_columns": {
        "en": "length T|factor per step back, init / trained|horizon init / trained (steps)|seeds with ρ(W_rec) > 1|"
              "held-out loss (median)|diverged seeds",
        "pt": "comprimento T|fator por passo para trás, inicial / treinado|horizonte inicial / treinado (passos)|"
              "sementes com ρ(W_rec) > 1|perda em dados separados (mediana)|sementes divergentes",
    },
    "diagnostics_caption": {
        "en": "Medians over seeds. Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t; horizon: steps back "
              "before the gradient falls 10⁻⁶ below its peak (T means it reaches the first step).",
        "pt": "Medianas entre sementes. Fator por passo para trás: exp(−inclinação) de log‖∂L/∂h_t‖ em função de t; "
              "horizonte: passos para trás até o gradiente cair 10⁻⁶ abaixo do seu pico (T significa que ele chega "
              "ao primeiro passo).",
    },
})


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the bengio1994 study: success frequency, gradient decay and horizon, recurrent weights, losses.

    Args:
        store: a run store holding runs of the ``bengio1994`` study.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = sorted((r for r in _runs(store, "bengio1994") if "train/loss" in r.arrays),
                  key=lambda r: r.config["length"])
    if not runs:
        return [], []
    finished = [r for r in runs if r.status == "finished"]
    config = runs[0].config
    figures = []
    if finished:
        figures += [_frequency(finished, config, lang), _gradient(finished, config, lang), _weights(finished, lang)]
    figures.append(_losses(runs, lang))
    return figures, [_comparison(finished, lang), _diagnostics(finished, lang)]


def _protocol(config, lang: str) -> str:
    return _T("protocol", lang, hidden=config["hidden_size"], latch=config["latch_steps"],
              variance=number(config["noise"] ** 2, ".2g", lang), target=number(config["target"], "g", lang),
              lr=number(config["lr"], "g", lang), steps=number(config["steps"], ",", lang),
              batch=config["batch_size"], eval=config["eval_batch_size"])


def _published_note(lang: str) -> str:
    return _T("published_note", lang, claim=get_published("bengio1994").claims[0])


def _frequency(runs, config, lang: str) -> Figure:
    lengths = np.array([r.config["length"] for r in runs], dtype=float)
    rates = np.array([r.summary["success_rate"] for r in runs])
    low = np.array([r.summary["success_low"] for r in runs])
    high = np.array([r.summary["success_high"] for r in runs])
    seeds = np.array([r.summary["seeds"] for r in runs])
    bistable = np.array([r.summary["radius_above_one"] for r in runs]) / seeds
    fig, ax = plt.subplots(figsize=_size(6.4, 3.9))
    ax.fill_between(lengths, low, high, color=_OURS, alpha=0.18, linewidth=0, label=_T("wilson", lang))
    ax.plot(lengths, rates, color=_OURS, marker="o", linewidth=1.8, label=_T("latched_line", lang))
    ax.plot(lengths, bistable, color=PALETTE["orange"], marker="s", linestyle="--", linewidth=1.2,
            label=_T("bistable_line", lang))
    ax.set_xscale("log")
    ax.set_xticks(lengths, [f"{t:g}" for t in lengths])
    ax.minorticks_off()
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(_T("length_axis", lang))
    ax.set_ylabel(_T("seeds_axis", lang))
    ax.grid(True, alpha=0.3)
    ax.legend()
    caption = " ".join((_T("frequency_caption", lang, seeds=int(seeds[0])), _published_note(lang),
                        _protocol(config, lang), _T("deviations", lang)))
    return Figure(_T("frequency_title", lang), caption, _png(fig, lang))


def _spread(ax, x, values, color, label, marker="o", linestyle="-"):
    """Median over seeds with min–max error bars; values (len(x), K)."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=float), 1)
    ax.errorbar(x, mid, yerr=[mid - low, high - mid], color=color, marker=marker, linestyle=linestyle,
                capsize=3, linewidth=1.4, label=label)


def _gradient(runs, config, lang: str) -> Figure:
    lengths = np.array([r.config["length"] for r in runs], dtype=float)
    latch = config["latch_steps"]
    fig, axes = plt.subplots(1, 3, figsize=_size(14.5, 3.9), constrained_layout=True)
    for phase, color, marker, linestyle in (("init", _INIT, "s", "--"), ("final", _OURS, "o", "-")):
        label = _T(f"phase.{phase}", lang)
        _spread(axes[0], lengths, [r.arrays[f"{phase}/decay_rate"] for r in runs], color, label, marker, linestyle)
        _spread(axes[1], lengths, [r.arrays[f"{phase}/horizon"] for r in runs], color, label, marker, linestyle)
        # Gradient at the bit's last step relative to the read-out step, per seed.
        reach = []
        for r in runs:
            norms = np.asarray(r.arrays[f"{phase}/grad_norms"], dtype=float)
            ratio = norms[:, latch - 1] / np.where(norms[:, -1] > 0, norms[:, -1], np.nan)
            reach.append(np.where(np.isfinite(ratio) & (ratio > 0), np.maximum(ratio, _FLOOR), np.nan))
        _spread(axes[2], lengths, reach, color, label, marker, linestyle)
    axes[0].axhline(1.0, color="black", linestyle=":", linewidth=1)
    axes[0].set_ylabel(_T("factor_axis", lang))
    axes[0].set_title(_T("decay_title", lang))
    axes[1].plot(lengths, lengths, color="black", linestyle=":", linewidth=1, label=_T("reaches_start", lang))
    axes[1].set_ylabel(_T("steps_back", lang))
    axes[1].set_title(_T("horizon_title", lang))
    axes[2].set_yscale("log")
    axes[2].set_ylabel(r"$\|\partial L/\partial h_L\| \ /\ \|\partial L/\partial h_T\|$")
    axes[2].set_title(_T("reach_title", lang))
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(lengths, [f"{t:g}" for t in lengths])
        ax.minorticks_off()
        ax.set_xlabel(_T("length_axis", lang))
        ax.grid(True, alpha=0.3)
    axes[1].legend()
    return Figure(_T("gradient_title", lang), _T("gradient_caption", lang, latch=latch), _png(fig, lang))


def _weights(runs, lang: str) -> Figure:
    fig, ax = plt.subplots(figsize=_size(6.4, 3.9))
    generator = np.random.default_rng(0)  # horizontal jitter only
    for i, r in enumerate(runs):
        success = np.nan_to_num(np.asarray(r.arrays["task/success"], dtype=float)[-1], nan=0.0) == 1
        start = np.asarray(r.arrays["init/spectral_radius"], dtype=float)
        end = np.asarray(r.arrays["final/spectral_radius"], dtype=float)
        x = i + generator.uniform(-0.18, 0.18, size=end.shape)
        ax.scatter(x - 0.25, start, s=10, color=_INIT, alpha=0.6, label=_T("phase.init", lang) if i == 0 else None)
        ax.scatter(x[~success], end[~success], s=16, color=PALETTE["red"], marker="x",
                   label=_T("failed", lang) if i == 0 else None)
        ax.scatter(x[success], end[success], s=16, color=PALETTE["green"], marker="o",
                   label=_T("latched", lang) if i == 0 else None)
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(runs)), [f"T = {r.config['length']}" for r in runs])
    ax.set_ylabel("ρ(W_rec)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return Figure(_T("weights_title", lang), _T("weights_caption", lang), _png(fig, lang))


def _losses(runs, lang: str) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=_size(11.5, 3.9), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(runs), 2)))
    baseline = None
    for color, r in zip(colors, runs):
        steps = r.arrays["eval/step"]
        if not len(steps):
            continue
        label = f"T = {r.config['length']}"
        latched = np.nan_to_num(np.asarray(r.arrays["task/success"], dtype=float), nan=0.0).mean(1)
        axes[0].plot(steps, latched, color=color, label=label, linewidth=1.6)
        loss = np.where(r.arrays["task/loss"] > 0, r.arrays["task/loss"], np.nan)
        axes[1].plot(steps, nan_quantiles(loss, 1)[1], color=color, label=label, linewidth=1.6)
        baseline = r.summary.get("baseline_loss", baseline)
    if baseline is not None:
        axes[1].axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("baseline", lang))
    axes[0].set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(_T("latch_axis", lang))
    axes[1].set_yscale("log")
    axes[1].set_ylabel(_T("mse_axis", lang))
    for ax in axes:
        ax.set_xlabel(_T("update", lang))
        ax.grid(True, alpha=0.3)
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("losses_title", lang), _T("losses_caption", lang), _png(fig, lang))


def _comparison(runs, lang: str) -> Table:
    rows = []
    for r in runs:
        s = r.summary
        c = r.config
        plural = "s" if c["hidden_size"] > 1 else ""  # "units", "unidades"
        rows.append([
            _T("setting", lang, length=c["length"], latch=c["latch_steps"],
               variance=number(c["noise"] ** 2, ".2g", lang), hidden=c["hidden_size"], plural=plural),
            _T("not_transcribed", lang),
            f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%} "
            f"[{s['success_low']:.0%}, {s['success_high']:.0%}]",
            _T("budget", lang, steps=number(c["steps"], ",", lang), batch=c["batch_size"],
               lr=number(c["lr"], "g", lang)),
        ])
    caption = " ".join((_T("comparison_caption", lang), _published_note(lang), _T("deviations", lang)))
    return Table(_T("comparison_title", lang), _T("comparison_columns", lang).split("|"), rows, caption)


def _diagnostics(runs, lang: str) -> Table:
    rows = []
    for r in runs:
        s = r.summary
        rows.append([
            str(r.config["length"]),
            f"{number(s['init/decay_rate'], '.3g', lang)} / {number(s['final/decay_rate'], '.3g', lang)}",
            f"{number(s['init/horizon'], '.0f', lang)} / {number(s['final/horizon'], '.0f', lang)}",
            f"{s['radius_above_one']}/{s['seeds']}",
            _T("loss_cell", lang, loss=number(s["task/loss"], ".3f", lang),
               baseline=number(s["baseline_loss"], ".2f", lang)),
            str(s["diverged"]),
        ])
    return Table(_T("diagnostics_title", lang), _T("diagnostics_columns", lang).split("|"), rows,
                 _T("diagnostics_caption", lang))
