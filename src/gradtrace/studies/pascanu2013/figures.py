"""Figures of the pascanu2013 study: success per init, algorithm and length beside the paper's claims."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, number
from gradtrace.store import Store
from gradtrace.studies.pascanu2013 import ALGORITHMS, INITS
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_STYLE = {"MSGD": PALETTE["red"], "MSGD-C": PALETTE["blue"], "MSGD-CR": PALETTE["green"]}
# The one success rate the paper states in its text (published.py, claims[0]): MSGD-CR from the basic
# tanh start, trained on lengths drawn from [50, 200], succeeded for 5 of 5 seeds.
_PUBLISHED_CR_BASIC = (5, 5)
_FLOOR = 1e-30

_T = Catalog({
    # English names the starts as the paper and INITS do; Portuguese translates them.
    "init.sigmoid": {"en": "sigmoid", "pt": "sigmoide"},
    "init.basic_tanh": {"en": "basic tanh", "pt": "tanh básica"},
    "init.smart_tanh": {"en": "smart tanh", "pt": "tanh inteligente"},
    "panel": {"en": "{init}, T = {length}", "pt": "{init}, T = {length}"},
    "setting": {"en": "{init}, {algorithm}, T = {length}", "pt": "{init}, {algorithm}, T = {length}"},
    "update": {"en": "update", "pt": "atualização"},
    "budget": {"en": "{steps} updates × {batch} sequences, lr {lr} (Pascanu: up to 5M updates, lr 0.01)",
               "pt": "{steps} atualizações × {batch} sequências, taxa de aprendizado {lr} (Pascanu: até 5M "
                     "atualizações, taxa 0,01)"},
    "form.squared": {"en": ", in the authors' form: a ratio of squared norms (Eq. 10, their code)",
                     "pt": ", na forma dos autores: uma razão de normas ao quadrado (Eq. 10, o código deles)"},
    "form.norm": {"en": ", as a ratio of norms (Eq. 9) where the code takes a ratio of squared norms",
                  "pt": ", como razão de normas (Eq. 9), onde o código usa uma razão de normas ao quadrado"},
    "omega.squared": {"en": "(‖g_t ∂h_t/∂h_(t−1)‖² / ‖g_t‖² − 1)²", "pt": "(‖g_t ∂h_t/∂h_(t−1)‖² / ‖g_t‖² − 1)²"},
    "omega.norm": {"en": "(‖g_t ∂h_t/∂h_(t−1)‖ / ‖g_t‖ − 1)²", "pt": "(‖g_t ∂h_t/∂h_(t−1)‖ / ‖g_t‖ − 1)²"},
    "deviations": {
        "en": "Deviations from the paper's protocol: lengths T = {lengths} instead of 50 and more; {steps} updates "
              "at learning rate {lr} instead of up to 5,000,000 at 0.01; {eval} held-out sequences per seed instead "
              "of 10,000, with success counted at the last evaluation (the paper stopped each run at its first "
              "success; the table gives that count too); Ω averaged over sequences and non-vanished steps (the "
              "released code's normalization) with weight α = {alpha} from the text (the code's default is "
              "2){form}. Same as the paper: {hidden} units, plain SGD with minibatches of {batch}, clipping of the "
              "whole gradient's norm at {clip} after adding α∂Ω/∂W_rec (as the code does), and the three "
              "initializations with all biases 0. The larger learning rate also enlarges every unclipped MSGD "
              "step, so MSGD's results here say how it fares at that rate, not at the paper's.",
        "pt": "Diferenças em relação ao protocolo do artigo: comprimentos T = {lengths} em vez de 50 ou mais; {steps} "
              "atualizações com taxa de aprendizado {lr} em vez de até 5.000.000 com 0,01; {eval} sequências "
              "separadas por semente em vez de 10.000, com o sucesso contado na última avaliação (o artigo parava "
              "cada execução no seu primeiro sucesso; a tabela também dá essa contagem); Ω tomado como média sobre "
              "sequências e sobre os passos cujo gradiente não desapareceu (a normalização do código publicado), "
              "com peso α = {alpha} do texto (o padrão do código é 2){form}. Igual ao artigo: {hidden} unidades, "
              "SGD simples com minilotes de {batch}, poda da norma do gradiente inteiro em {clip} depois de somar "
              "α∂Ω/∂W_rec (como faz o código) e as três inicializações com todos os vieses em 0. A taxa de "
              "aprendizado maior também aumenta cada passo do MSGD sem poda, então o que o MSGD mostra aqui vale "
              "para essa taxa, não para a do artigo.",
    },
    "ours": {"en": "{algorithm} (ours)", "pt": "{algorithm} (nosso)"},
    "published_cr": {"en": "published (Pascanu 2013): MSGD-CR,\n{successes}/{seeds} seeds trained on T ∈ [50, 200]",
                     "pt": "publicado (Pascanu 2013): MSGD-CR,\n{successes}/{seeds} sementes treinadas com "
                           "T ∈ [50, 200]"},
    "solved_axis": {"en": "fraction of seeds that solved it", "pt": "fração de sementes que resolveram"},
    "success_title": {"en": "Success rate per initialization, length and algorithm",
                      "pt": "Taxa de sucesso por inicialização, comprimento e algoritmo"},
    # The paper's claims (published.py's claims 0, 1 and 3), quoted in English and said in our words in Portuguese.
    "success_caption": {
        "en": "Fraction of {seeds} seeds whose held-out accuracy reached 99% (Pascanu's < 1% error), with the 95% "
              "Wilson interval, per initialization (panel), length and algorithm. Within a panel and length the "
              "three algorithms start from the same weights and see the same batches. Published: Figure 7 of the "
              "paper gives these rates only as an image and no value was transcribed; the one rate stated in the "
              "text is drawn dashed: \"{stated}\" Other published claims: {others}",
        "pt": "Fração das {seeds} sementes cuja acurácia em dados separados chegou a 99% (o erro < 1% de Pascanu), "
              "com o intervalo de Wilson de 95%, por inicialização (painel), comprimento e algoritmo. Num mesmo "
              "painel e comprimento, os três algoritmos partem dos mesmos pesos e veem os mesmos lotes. Publicado: "
              "a Figura 7 do artigo dá essas taxas só como imagem e nenhum valor foi transcrito; a única taxa dita "
              "no texto aparece tracejada: treinada com comprimentos aleatórios em [50, 200] (MSGD-CR, 50 unidades "
              "tanh, inicialização tanh básica), 5 de 5 sementes tiveram sucesso, cada uma com 0 sequências mal "
              "classificadas em 10.000. Outras afirmações do artigo: o regularizador sem a poda geralmente falha "
              "porque os gradientes explodem (nota de rodapé 4); a poda importa mais à medida que as sequências "
              "ficam mais longas (Figura 7).",
    },
    "chance": {"en": "chance (ln 4)", "pt": "acaso (ln 4)"},
    "cross_entropy_axis": {"en": "held-out cross-entropy", "pt": "entropia cruzada em dados separados"},
    "loss_title": {"en": "Loss curves", "pt": "Curvas de perda"},
    "loss_caption": {
        "en": "Held-out cross-entropy during training, median over seeds with the min–max band. The dotted line "
              "is ln 4, the loss of guessing among the four orders: a curve that stays on it has not found the "
              "two symbols.",
        "pt": "Entropia cruzada em dados separados durante o treino, mediana entre sementes com a faixa mín–máx. A "
              "linha pontilhada é ln 4, a perda de chutar entre as quatro ordens: uma curva que fica nela não "
              "encontrou os dois símbolos.",
    },
    "norm_title": {"en": "Gradient norm before clipping", "pt": "Norma do gradiente antes da poda"},
    "norm_caption": {
        "en": "‖∂L/∂θ‖ of each update before any remedy (median over seeds of 50-update bins, min–max band, log "
              "scale), at T = {length}. The dashed line is the clipping threshold {clip}: above it MSGD-C and "
              "MSGD-CR rescale the step, MSGD takes it whole (a step of {lr} × ‖∂L/∂θ‖). Read it beside the loss "
              "curves and the profiles: a gradient that rises above the threshold as a run starts to learn is what "
              "clipping bounds; a small one while the loss stays at ln 4 is what a gradient that vanishes before "
              "the first symbol looks like.",
        "pt": "‖∂L/∂θ‖ de cada atualização antes de qualquer remédio (mediana entre sementes de blocos de 50 "
              "atualizações, faixa mín–máx, escala logarítmica), com T = {length}. A linha tracejada é o limiar da "
              "poda, {clip}: acima dele MSGD-C e MSGD-CR reescalam o passo, e o MSGD o dá inteiro (um passo de "
              "{lr} × ‖∂L/∂θ‖). Leia ao lado das curvas de perda e dos perfis: um gradiente que sobe acima do "
              "limiar quando a execução começa a aprender é o que a poda limita; um pequeno enquanto a perda fica "
              "em ln 4 é a cara de um gradiente que desaparece antes do primeiro símbolo.",
    },
    "omega_title": {"en": "Ω along training", "pt": "Ω ao longo do treino"},
    "omega_caption": {
        "en": "Pascanu's regularizer Ω = mean over sequences and steps of {omega}, at T = {length} (median over seeds "
              "of 50-update bins, min–max band). Ω = 0 means every step back keeps the gradient's norm. MSGD-CR "
              "descends α·Ω as well as the loss; MSGD and MSGD-C show Ω only when the study measured it "
              "(measure_omega).",
        "pt": "O regularizador de Pascanu, Ω = média sobre sequências e passos de {omega}, com T = {length} "
              "(mediana entre sementes de blocos de 50 atualizações, faixa mín–máx). Ω = 0 significa que cada "
              "passo para trás mantém a norma do gradiente. O MSGD-CR desce α·Ω junto com a perda; MSGD e MSGD-C "
              "só mostram Ω quando o estudo o mediu (measure_omega).",
    },
    "clip_line": {"en": "clip threshold", "pt": "limiar da poda"},
    "norm_axis": {"en": "‖∂L/∂θ‖ before remedies", "pt": "‖∂L/∂θ‖ antes dos remédios"},
    "time_step": {"en": "time step t", "pt": "passo de tempo t"},
    "profile_axis": {"en": r"$\|\partial L/\partial h_t\|$ after training",
                     "pt": r"$\|\partial L/\partial h_t\|$ depois do treino"},
    "profile_title": {"en": "‖∂L/∂h_t‖ along the sequence after training (T = {length})",
                      "pt": "‖∂L/∂h_t‖ ao longo da sequência depois do treino (T = {length})"},
    "profile_caption": {
        "en": "The gradient reaching the hidden state at each time step, on held-out sequences after training "
              "(median over seeds, min–max band). The error enters at the last step; the shaded windows are where "
              "the two symbols may stand. A profile that falls by orders of magnitude before the first window "
              "leaves little gradient to learn that symbol from (vanishing); one that rises going back is an "
              "exploding gradient, which clipping bounds.",
        "pt": "O gradiente que chega ao estado oculto em cada passo de tempo, em sequências separadas depois do "
              "treino (mediana entre sementes, faixa mín–máx). O erro entra no último passo; as janelas sombreadas "
              "são onde os dois símbolos podem estar. Um perfil que cai ordens de grandeza antes da primeira janela "
              "deixa pouco gradiente para aprender aquele símbolo (o gradiente que desaparece); um que sobe indo "
              "para trás é um gradiente que explode, e a poda o limita.",
    },
    "ever": {"en": "; {ever}/{seeds} at some evaluation", "pt": "; {ever}/{seeds} em alguma avaliação"},
    "published_rate": {
        "en": "{successes}/{seeds} seeds (trained on T ∈ [50, 200], < 1% error on 10,000 sequences at every test "
              "length; Section 4.1.1)",
        "pt": "{successes}/{seeds} sementes (treinadas com T ∈ [50, 200], erro < 1% em 10.000 sequências em todo "
              "comprimento de teste; Seção 4.1.1)",
    },
    "figure7": {"en": "Figure 7 (image only; not transcribed)", "pt": "Figura 7 (só imagem; não transcrita)"},
    "comparison_title": {"en": "Pascanu, Mikolov & Bengio 2013: published vs ours",
                         "pt": "Pascanu, Mikolov & Bengio 2013: publicado e nosso"},
    "comparison_columns": {"en": "setting|published|ours|budget", "pt": "configuração|publicado|nosso|orçamento"},
    "comparison_caption": {
        "en": "Ours: seeds whose held-out accuracy was ≥ 99% at the last evaluation, with the 95% Wilson interval. "
              "The published rates per length and algorithm (Figure 7) were not transcribed, so only the one rate "
              "stated in the text is shown, and its protocol (mixed lengths 50–200, up to 5M updates) differs from "
              "ours. {deviations}",
        "pt": "Nosso: sementes cuja acurácia em dados separados era ≥ 99% na última avaliação, com o intervalo de "
              "Wilson de 95%. As taxas publicadas por comprimento e algoritmo (Figura 7) não foram transcritas, "
              "então só aparece a única taxa dita no texto, e o seu protocolo (comprimentos misturados de 50 a "
              "200, até 5M atualizações) é diferente do nosso. {deviations}",
    },
    "diagnostics_title": {"en": "Clipping, Ω and the gradient after training",
                          "pt": "Poda, Ω e o gradiente depois do treino"},
    "diagnostics_columns": {
        "en": "setting|updates with ‖g‖ > threshold|clipping fired|Ω first → last 10% of updates|factor per step "
              "back, trained|held-out loss (median)|first success at update (median)|diverged seeds",
        "pt": "configuração|atualizações com ‖g‖ > limiar|poda agiu|Ω, primeiros → últimos 10% das "
              "atualizações|fator por passo para trás, treinado|perda em dados separados (mediana)|primeiro "
              "sucesso na atualização (mediana)|sementes divergentes",
    },
    "diagnostics_caption": {
        "en": "‖g‖ > threshold: share of updates whose loss gradient exceeded {clip} (median over seeds), whether or "
              "not the algorithm clips; clipping fired: share it rescaled (under MSGD-CR the clip sees the gradient "
              "with α∂Ω/∂W_rec added). Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against t on held-out "
              "sequences, median over seeds; below 1 the gradient vanishes going back, above 1 it grows. Held-out "
              "loss against ln 4 = {chance} for guessing.",
        "pt": "‖g‖ > limiar: parcela das atualizações cujo gradiente da perda passou de {clip} (mediana entre "
              "sementes), o algoritmo podando ou não; poda agiu: parcela que ela reescalou (no MSGD-CR a poda vê o "
              "gradiente já somado a α∂Ω/∂W_rec). Fator por passo para trás: exp(−inclinação) de log‖∂L/∂h_t‖ em "
              "função de t em sequências separadas, mediana entre sementes; abaixo de 1 o gradiente desaparece "
              "indo para trás, acima de 1 ele cresce. Perda em dados separados contra ln 4 = {chance}, a de "
              "chutar.",
    },
})


def _init(init: str, lang: str) -> str:
    key = f"init.{init}"
    return _T(key, lang) if key in _T.messages else INITS.get(init, init)


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the pascanu2013 study: success rates, loss curves, gradient norms, Ω and final profiles.

    Args:
        store: a run store holding runs of the ``pascanu2013`` study.
        lang: the language of the figures' text ("en" or "pt").
    """
    runs = [r for r in _runs(store, "pascanu2013") if "train/loss" in r.arrays]
    if not runs:
        return [], []
    inits = [i for i in INITS if any(r.config["init"] == i for r in runs)]
    algorithms = [a for a in ALGORITHMS if any(r.config["algorithm"] == a for r in runs)]
    lengths = sorted({r.config["length"] for r in runs})
    by_key = {(r.config["init"], r.config["algorithm"], r.config["length"]): r for r in runs}
    config = runs[0].config
    longest = lengths[-1]
    figures = [
        _success(by_key, inits, algorithms, lengths, config, lang),
        _loss_curves(by_key, inits, algorithms, lengths, lang),
        _over_training(by_key, inits, algorithms, longest, "grad/norm", config, _T("norm_title", lang),
                       _T("norm_caption", lang, length=longest, clip=number(config["clip_threshold"], "g", lang),
                          lr=number(config["lr"], "g", lang)), lang),
    ]
    if any("omega" in r.arrays for r in runs):
        # Stores written before Ω had two forms took Eq. 9's ratio of norms.
        form = config.get("penalty_form", "norm")
        figures.append(_over_training(
            by_key, inits, algorithms, longest, "omega", config, _T("omega_title", lang),
            _T("omega_caption", lang, omega=_T(f"omega.{form}", lang), length=longest), lang))
    figures.append(_profiles(by_key, inits, algorithms, longest, lang))
    return figures, [_comparison(by_key, inits, algorithms, lengths, config, lang),
                     _diagnostics(by_key, inits, algorithms, lengths, config, lang)]


def _budget(config, lang: str) -> str:
    return _T("budget", lang, steps=number(config["steps"], ",", lang), batch=config["batch_size"],
              lr=number(config["lr"], "g", lang))


def _deviations(config, lang: str) -> str:
    lengths = ", ".join(str(t) for t in sorted({config["length"]} | set(config["lengths"])))
    # Stores written before Ω had two forms took Eq. 9's ratio of norms.
    form = "squared" if config.get("penalty_form", "norm") == "squared" else "norm"
    return _T("deviations", lang, lengths=lengths, steps=number(config["steps"], ",", lang),
              lr=number(config["lr"], "g", lang), eval=config["eval_batch_size"],
              alpha=number(config["penalty_weight"], "g", lang), form=_T(f"form.{form}", lang),
              hidden=config["hidden_size"], batch=config["batch_size"],
              clip=number(config["clip_threshold"], "g", lang))


def _success(by_key, inits, algorithms, lengths, config, lang: str) -> Figure:
    published = get_published("pascanu2013")
    fig, axes = plt.subplots(1, len(inits), figsize=_size(4.3 * len(inits), 3.8), squeeze=False, sharey=True)
    width = 0.8 / max(len(algorithms), 1)
    for ax, init in zip(axes[0], inits):
        for i, algorithm in enumerate(algorithms):
            xs, rates, errors = [], [], [[], []]
            for j, length in enumerate(lengths):
                run = by_key.get((init, algorithm, length))
                if run is None or run.status != "finished":
                    continue
                s = run.summary
                xs.append(j + (i - (len(algorithms) - 1) / 2) * width)
                rates.append(s["success_rate"])
                errors[0].append(s["success_rate"] - s["success_low"])
                errors[1].append(s["success_high"] - s["success_rate"])
            ax.bar(xs, rates, width=width * 0.9, color=_STYLE.get(algorithm, "gray"),
                   label=_T("ours", lang, algorithm=algorithm), alpha=0.85)
            ax.errorbar(xs, rates, yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
        if init == "basic_tanh" and "MSGD-CR" in algorithms:
            successes, seeds = _PUBLISHED_CR_BASIC
            ax.axhline(successes / seeds, color=_STYLE["MSGD-CR"], linestyle="--", linewidth=1.4, marker="D",
                       markevery=[0], label=_T("published_cr", lang, successes=successes, seeds=seeds))
        ax.set_xticks(range(len(lengths)), [f"T = {t}" for t in lengths])
        ax.set_ylim(0, 1.08)
        ax.set_title(_init(init, lang))
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel(_T("solved_axis", lang))
    handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    axes[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    seeds = next(iter(by_key.values())).summary.get("seeds", "?")
    others = " ".join(f"\"{claim}\"" for claim in published.claims[1:2] + published.claims[3:])
    caption = (_T("success_caption", lang, seeds=seeds, stated=published.claims[0], others=others) + " "
               + _deviations(config, lang))
    return Figure(_T("success_title", lang), caption, _png(fig, lang))


def _loss_curves(by_key, inits, algorithms, lengths, lang: str) -> Figure:
    fig, axes = plt.subplots(len(lengths), len(inits), figsize=_size(4.2 * len(inits), 3.0 * len(lengths)),
                             squeeze=False, sharex=True, sharey=True)
    for row, length in zip(axes, lengths):
        for ax, init in zip(row, inits):
            baseline = None
            for algorithm in algorithms:
                run = by_key.get((init, algorithm, length))
                if run is None or not len(run.arrays["eval/step"]):
                    continue
                loss = np.where(run.arrays["task/loss"] > 0, run.arrays["task/loss"], np.nan)
                _band(ax, run.arrays["eval/step"], loss, _STYLE.get(algorithm, "gray"), algorithm, axis=1)
                baseline = run.summary.get("baseline_loss", baseline)
            if baseline is not None:
                ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label=_T("chance", lang))
            ax.set_yscale("log")
            ax.set_title(_T("panel", lang, init=_init(init, lang), length=length), fontsize=10)
            ax.grid(True, alpha=0.3)
        row[0].set_ylabel(_T("cross_entropy_axis", lang))
    for ax in axes[-1]:
        ax.set_xlabel(_T("update", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("loss_title", lang), _T("loss_caption", lang), _png(fig, lang))


def _binned(steps: np.ndarray, values: np.ndarray, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Average (n, K) values over consecutive bins of updates, ignoring NaN, per member."""
    size = max(1, len(steps) // bins)
    count = len(steps) // size * size
    x = steps[:count].reshape(-1, size).mean(1)
    v = values[:count].reshape(-1, size, values.shape[-1])
    finite = ~np.isnan(v)
    total = np.where(finite, v, 0.0).sum(1)
    n = finite.sum(1)
    return x, np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _over_training(by_key, inits, algorithms, length, key, config, title, caption, lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(inits), figsize=_size(4.3 * len(inits), 3.5), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        for algorithm in algorithms:
            run = by_key.get((init, algorithm, length))
            if run is None or key not in run.arrays or not len(run.arrays["step"]):
                continue
            values = np.asarray(run.arrays[key], dtype=float)
            values = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            if not np.isfinite(values).any():
                continue
            x, binned = _binned(run.arrays["step"], values)
            _band(ax, x, binned, _STYLE.get(algorithm, "gray"), algorithm, axis=1)
        if key == "grad/norm":
            ax.axhline(config["clip_threshold"], color="black", linestyle="--", linewidth=1,
                       label=_T("clip_line", lang))
        ax.set_yscale("log")
        ax.set_title(_T("panel", lang, init=_init(init, lang), length=length))
        ax.set_xlabel(_T("update", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("norm_axis", lang) if key == "grad/norm" else "Ω")
    axes[0][-1].legend()
    return Figure(title, caption, _png(fig, lang))


def _profiles(by_key, inits, algorithms, length, lang: str) -> Figure:
    fig, axes = plt.subplots(1, len(inits), figsize=_size(4.3 * len(inits), 3.5), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        for low, high in ((0.10, 0.20), (0.50, 0.60)):
            ax.axvspan(np.floor(low * length) - 0.5, np.floor(high * length) + 0.5, color="gold", alpha=0.25,
                       linewidth=0)
        for algorithm in algorithms:
            run = by_key.get((init, algorithm, length))
            if run is None or "final/grad_norms" not in run.arrays:
                continue
            norms = np.asarray(run.arrays["final/grad_norms"], dtype=float).T  # (T, K)
            norms = np.where(np.isfinite(norms) & (norms > 0), np.maximum(norms, _FLOOR), np.nan)
            if np.isfinite(norms).any():
                _band(ax, np.arange(norms.shape[0]), norms, _STYLE.get(algorithm, "gray"), algorithm, axis=1)
        ax.set_yscale("log")
        ax.set_title(_T("panel", lang, init=_init(init, lang), length=length))
        ax.set_xlabel(_T("time_step", lang))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("profile_axis", lang))
    axes[0][-1].legend()
    return Figure(_T("profile_title", lang, length=length), _T("profile_caption", lang), _png(fig, lang))


def _rate(s, lang: str) -> str:
    text = f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%} [{s['success_low']:.0%}, {s['success_high']:.0%}]"
    ever = s.get("ever_successes")
    if ever is not None and ever != s["successes"]:
        text += _T("ever", lang, ever=ever, seeds=s["seeds"])
    return text


def _comparison(by_key, inits, algorithms, lengths, config, lang: str) -> Table:
    rows = []
    for init in inits:
        for algorithm in algorithms:
            for length in lengths:
                run = by_key.get((init, algorithm, length))
                if run is None or run.status != "finished":
                    continue
                if init == "basic_tanh" and algorithm == "MSGD-CR":
                    successes, seeds = _PUBLISHED_CR_BASIC
                    published = _T("published_rate", lang, successes=successes, seeds=seeds)
                else:
                    published = _T("figure7", lang)
                rows.append([_T("setting", lang, init=_init(init, lang), algorithm=algorithm, length=length),
                             published, _rate(run.summary, lang), _budget(run.config, lang)])
    return Table(_T("comparison_title", lang), _T("comparison_columns", lang).split("|"), rows,
                 _T("comparison_caption", lang, deviations=_deviations(config, lang)))


def _percent(value) -> str:
    return "—" if value is None or value != value else f"{value:.0%}"


def _diagnostics(by_key, inits, algorithms, lengths, config, lang: str) -> Table:
    rows = []
    for length in lengths:
        for init in inits:
            for algorithm in algorithms:
                run = by_key.get((init, algorithm, length))
                if run is None or run.status != "finished":
                    continue
                s = run.summary
                omega = ("—" if s.get("omega_start") is None
                         else f"{number(s['omega_start'], '.3g', lang)} → {number(s['omega_end'], '.3g', lang)}")
                first = s.get("first_success_step")
                rows.append([
                    _T("setting", lang, init=_init(init, lang), algorithm=algorithm, length=length),
                    _percent(s["above_threshold"]), _percent(s["clip_fired"]), omega,
                    number(s["final/decay_rate"], ".3g", lang), number(s["task/loss"], ".3f", lang),
                    "—" if first is None or first != first else f"{first:.0f}",
                    str(s["diverged"]),
                ])
    return Table(_T("diagnostics_title", lang), _T("diagnostics_columns", lang).split("|"), rows,
                 _T("diagnostics_caption", lang, clip=number(config["clip_threshold"], "g", lang),
                    chance=number(np.log(4), ".3f", lang)))
