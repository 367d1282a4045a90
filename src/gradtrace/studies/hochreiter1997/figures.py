"""Figures of the Hochreiter & Schmidhuber 1997 study: sequences until solved, beside Table 7."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import PALETTE, Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.report.i18n import Catalog, interval, number
from gradtrace.store import Store
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_COLORS = {"lstm": PALETTE["blue"], "elman": PALETTE["red"]}
_COUNT_SERIES = "LSTM: training sequences to success"
_ERROR_SERIES = "LSTM: wrong test predictions"

_T = Catalog({
    "model.lstm": {"en": "LSTM", "pt": "LSTM"},
    "model.elman": {"en": "Elman RNN, tanh", "pt": "RNN de Elman, tanh"},
    "ours": {"en": "{model} (ours)", "pt": "{model} (nossa)"},
    "published": {"en": "published (Hochreiter & Schmidhuber 1997)", "pt": "publicado (Hochreiter & Schmidhuber 1997)"},
    "deviations": {
        "en": "Deviations from the paper: {optimizer} with learning rate {lr} on batches of {batch} sequences for "
              "{steps} updates ({budget} sequences) instead of plain gradient descent with learning rate 0.5 on one "
              "sequence at a time until the stopping criterion; a modern LSTM with {hidden} cells, per-cell gates, a "
              "forget gate whose bias starts at {forget} (the 1997 LSTM had no forget gate: its cells never forget) "
              "and {init}, instead of 2 blocks of 2 cells with input-gate biases −3 and −6 and weights in "
              "[−0.1, 0.1]; the stopping criterion (mean training error < 0.01 and the last 2000 "
              "training sequences correct) is replaced by a held-out check every {every} updates: solved once at "
              "least 99% of {eval} held-out sequences have absolute error below 0.04 (the paper tested on 2560). "
              "Our count is a median over seeds; the paper's is a mean of 10 trials, all of which reached its "
              "criterion.",
        "pt": "Diferenças em relação ao artigo: {optimizer} com taxa de aprendizado {lr} em lotes de {batch} "
              "sequências por {steps} atualizações ({budget} sequências), em vez de descida do gradiente simples "
              "com taxa 0,5, uma sequência por vez, até o critério de parada; uma LSTM moderna com {hidden} "
              "células, portas por célula, uma porta de esquecimento cujo viés começa em {forget} (a LSTM de 1997 "
              "não tinha porta de esquecimento: suas células nunca esquecem) e {init}, em vez de 2 "
              "blocos de 2 células com vieses das portas de entrada −3 e −6 e pesos em [−0,1, 0,1]; o critério de "
              "parada (erro médio de treino < 0,01 e as últimas 2000 sequências de treino corretas) é trocado por "
              "uma verificação em dados separados a cada {every} atualizações: resolvido quando pelo menos 99% de "
              "{eval} sequências separadas têm erro absoluto abaixo de 0,04 (o artigo testou em 2560). Nossa "
              "contagem é uma mediana entre sementes; a do artigo é a média de 10 tentativas, todas as quais "
              "chegaram ao seu critério.",
    },
    "init.default": {"en": "default initialization", "pt": "a inicialização padrão"},
    "init.input": {"en": "default weights with input-gate biases {biases} in {blocks} blocks of cells",
                   "pt": "pesos padrão com vieses das portas de entrada {biases} em {blocks} blocos de células"},
    "one_seed": {"en": "{model}: one seed", "pt": "{model}: uma semente"},
    "median_range": {"en": "{model}: median (range of solved seeds)",
                     "pt": "{model}: mediana (faixa das sementes que resolveram)"},
    "unsolved": {"en": "{model}: not solved in budget", "pt": "{model}: não resolveu no orçamento"},
    "published_mean": {"en": "{published}: LSTM, mean of 10", "pt": "{published}: LSTM, média de 10"},
    "our_budget": {"en": "our budget (sequences)", "pt": "nosso orçamento (sequências)"},
    "length_axis": {"en": "minimal sequence length T (steps)", "pt": "comprimento mínimo da sequência T (passos)"},
    "count_axis": {"en": "training sequences until solved", "pt": "sequências de treino até resolver"},
    "counts_title": {"en": "Training sequences until solved, beside Table 7",
                     "pt": "Sequências de treino até resolver, ao lado da Tabela 7"},
    "counts_caption": {
        "en": "Each dot is one seed: the training sequences it had seen when it first solved the task. The open "
              "circle with a bar is the median over seeds with its range (drawn only when most seeds solved); a "
              "triangle on the dotted budget line counts the seeds that did not solve it. The dashed black line is "
              "Table 7 of the paper (T = 100, 500, 1000).",
        "pt": "Cada ponto é uma semente: as sequências de treino que ela tinha visto quando resolveu a tarefa pela "
              "primeira vez. O círculo vazado com barra é a mediana entre sementes com sua faixa (desenhado só "
              "quando a maioria das sementes resolveu); um triângulo na linha pontilhada do orçamento conta as "
              "sementes que não resolveram. A linha preta tracejada é a Tabela 7 do artigo (T = 100, 500, 1000).",
    },
    "mean_to_solve": {"en": "{published}: mean to solve", "pt": "{published}: média até resolver"},
    "solved_line": {"en": "solved (99% correct)", "pt": "resolvido (99% corretas)"},
    "seen_axis": {"en": "training sequences seen", "pt": "sequências de treino vistas"},
    "accuracy_axis": {"en": "held-out fraction with |error| < 0.04", "pt": "fração separada com |erro| < 0,04"},
    "accuracy_title": {"en": "Held-out accuracy during training", "pt": "Acurácia em dados separados durante o treino"},
    "accuracy_caption": {
        "en": "Fraction of held-out sequences answered within 0.04, median over seeds with the min–max band. A "
              "curve that stays near the bottom has not found the marked values; guessing 0.5 is within 0.04 for "
              "only about one sequence in seven. The dashed line is the paper's mean number of sequences to its "
              "stopping criterion where it reported one (T = 100).",
        "pt": "Fração das sequências separadas respondidas com erro menor que 0,04, mediana entre sementes com a "
              "faixa mín–máx. Uma curva que fica perto do fundo não encontrou os valores marcados; responder 0,5 "
              "fica a menos de 0,04 da resposta em só cerca de uma sequência a cada sete. A linha tracejada é o "
              "número médio de sequências até o critério de parada do artigo, onde ele o relata (T = 100).",
    },
    "count.median": {"en": "median {count} sequences", "pt": "mediana de {count} sequências"},
    "count.beyond": {"en": "median > {budget} sequences (the budget)",
                     "pt": "mediana > {budget} sequências (o orçamento)"},
    "count.one": {"en": "; the solved seed: {count}", "pt": "; a semente que resolveu: {count}"},
    "count.range": {"en": "; solved seeds {low}–{high}", "pt": "; sementes que resolveram: {low}–{high}"},
    "count.more": {"en": ", {count} more > {budget}", "pt": ", mais {count} > {budget}"},
    "shown.table7": {"en": "{count} sequences (mean of 10 trials)",
                     "pt": "{count} sequências (média de 10 tentativas)"},
    "shown.wrong": {"en": "; {wrong} of 2560 test sequences wrong",
                    "pt": "; {wrong} de 2560 sequências de teste erradas"},
    "shown.not_run": {"en": "not run (Table 7: T = 100, 500, 1000)", "pt": "não rodado (Tabela 7: T = 100, 500, 1000)"},
    "shown.not_lstm": {"en": "not in Table 7 (the paper reports LSTM only on this task)",
                       "pt": "fora da Tabela 7 (o artigo só relata a LSTM nesta tarefa)"},
    "ours_cell": {
        "en": "{count}; solved {solved}/{seeds} (95% interval [{low}, {high}]); final held-out accuracy {accuracy} "
              "{range}",
        "pt": "{count}; resolveram {solved}/{seeds} (intervalo de 95% [{low}, {high}]); acurácia final em dados "
              "separados {accuracy} {range}",
    },
    "budget_cell": {
        "en": "{steps} updates × {batch} sequences = {total} sequences (Hochreiter: online updates until the "
              "criterion)",
        "pt": "{steps} atualizações × {batch} sequências = {total} sequências (Hochreiter: atualizações online "
              "até o critério)",
    },
    "setting": {"en": "{model}, T = {length}", "pt": "{model}, T = {length}"},
    "table": {"en": "Hochreiter & Schmidhuber 1997: published vs ours",
              "pt": "Hochreiter & Schmidhuber 1997: publicado e nosso"},
    "columns": {"en": "setting|published|ours|budget", "pt": "configuração|publicado|nosso|orçamento"},
    "table_caption": {
        "en": "Ours: training sequences seen until solved, the median over all seeds (an unsolved seed counts as "
              "beyond the budget) and the range of the seeds that solved it; solved seeds with the 95% Wilson "
              "interval; final accuracy on the held-out sequences, median [min, max]. {deviations} Source: "
              "{source}.",
        "pt": "Nosso: sequências de treino vistas até resolver, a mediana entre todas as sementes (uma semente que "
              "não resolveu conta como além do orçamento) e a faixa das sementes que resolveram; sementes que "
              "resolveram, com o intervalo de Wilson de 95%; acurácia final nas sequências separadas, mediana "
              "[mín, máx]. {deviations} Fonte: {source}.",
    },
    "locator": {"en": "Section 5.4, Table 7 (adding); Section 5.3, Table 4 (2-sequence)",
                "pt": "Seção 5.4, Tabela 7 (problema da soma); Seção 5.3, Tabela 4 (problema das 2 sequências)"},
})


def _model(model: str, lang: str) -> str:
    key = f"model.{model}"
    return _T(key, lang) if key in _T.messages else model


def _ours(model: str, lang: str) -> str:
    return _T("ours", lang, model=_model(model, lang))


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the hochreiter1997 study: sequences to success against T, and accuracy during training.

    Args:
        store: a run store holding runs of the ``hochreiter1997`` study.
        lang: the language of the figures' text ("en" or "pt").

    Returns:
        The figures and the table "Hochreiter & Schmidhuber 1997: published vs ours"; empty lists when
        the store holds no run of the study.
    """
    runs = [r for r in _runs(store, "hochreiter1997") if "task/accuracy" in r.arrays]
    if not runs:
        return [], []
    published = get_published("hochreiter1997")
    models = list(dict.fromkeys(r.config["model"] for r in runs))
    lengths = sorted({r.config["length"] for r in runs})
    by_key = {(r.config["model"], r.config["length"]): r for r in runs}
    config = runs[0].config
    deviations = _deviations(config, lang)
    figures = [_counts_figure(by_key, models, lengths, published, deviations, lang),
               _accuracy_figure(by_key, models, lengths, published, lang)]
    return figures, [_table(by_key, models, lengths, published, deviations, lang)]


def _deviations(config: dict, lang: str) -> str:
    return _T("deviations", lang, optimizer=config["optimizer"], lr=number(config["lr"], "g", lang),
              batch=config["batch_size"], steps=number(config["steps"], ",", lang),
              budget=number(config["steps"] * config["batch_size"], ",", lang), hidden=config["hidden_size"],
              forget=number(config["lstm_forget_bias"], "g", lang), every=config["eval_every"],
              eval=config["eval_batch_size"], init=_init(config, lang))


def _init(config: dict, lang: str) -> str:
    biases = config.get("lstm_input_biases") or ()  # runs stored before the field existed have none
    if not biases:
        return _T("init.default", lang)
    shown = (" e " if lang == "pt" else " and ").join(number(b, "g", lang).replace("-", "−") for b in biases)
    return _T("init.input", lang, biases=shown, blocks=len(biases))


def _fmt_count(value, lang: str) -> str:
    return number(value, ",.0f", lang) if value is not None and np.isfinite(value) else "—"


def _counts_figure(by_key, models, lengths, published, deviations, lang) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.0, 4.2))
    budget = None
    for i, model in enumerate(models):
        offset = 1.0 + 0.05 * (i - (len(models) - 1) / 2)  # side by side on the log axis
        unsolved_drawn = solved_drawn = False
        label = _ours(model, lang)
        for length in lengths:
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            counts = run.arrays["sequences_to_success"]
            budget = run.summary["budget_sequences"]
            solved = counts[np.isfinite(counts)]
            color = _COLORS.get(model, "gray")
            if solved.size:
                ax.scatter(np.full(solved.size, length * offset), solved, color=color, s=18, alpha=0.55,
                           label=None if solved_drawn else _T("one_seed", lang, model=label))
                solved_drawn = True
            summary = run.summary
            if summary["sequences_median"] is not None:
                ax.errorbar([length * offset], [summary["sequences_median"]],
                            yerr=[[summary["sequences_median"] - summary["sequences_min"]],
                                  [summary["sequences_max"] - summary["sequences_median"]]],
                            fmt="o", color=color, markersize=8, capsize=4, markerfacecolor="white",
                            label=_T("median_range", lang, model=label))
            unsolved = int(np.sum(~np.isfinite(counts)))
            if unsolved:
                ax.scatter([length * offset], [budget], marker="^", s=60, facecolors="none", edgecolors=color,
                           label=None if unsolved_drawn else _T("unsolved", lang, model=label))
                ax.annotate(f"{unsolved}/{counts.size}", (length * offset, budget), textcoords="offset points",
                            xytext=(-26 if i == 0 else 6, 5), color=color)
                unsolved_drawn = True
    series = published.series_named(_COUNT_SERIES)
    ax.plot(series.xs, series.ys, color="black", linestyle="--", marker="s", markersize=6,
            label=_T("published_mean", lang, published=_T("published", lang)))
    if budget is not None:
        ax.axhline(budget, color="gray", linestyle=":", linewidth=1, label=_T("our_budget", lang))
    ax.set_xscale("log")
    ax.set_xlim(min(lengths + [min(series.xs)]) * 0.75, max(lengths + [max(series.xs)]) * 1.3)
    ax.set_yscale("log")
    ax.set_xlabel(_T("length_axis", lang))
    ax.set_ylabel(_T("count_axis", lang))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("counts_title", lang), _T("counts_caption", lang) + " " + deviations, _png(fig, lang))


def _accuracy_figure(by_key, models, lengths, published, lang) -> Figure:
    fig, axes = plt.subplots(1, len(lengths), figsize=_size(4.3 * len(lengths), 3.6), squeeze=False, sharey=True)
    reference = dict(published.series_named(_COUNT_SERIES).points)
    for ax, length in zip(axes[0], lengths):
        for model in models:
            run = by_key.get((model, length))
            if run is None or not len(run.arrays["eval/step"]):
                continue
            sequences = (run.arrays["eval/step"] + 1) * run.config["batch_size"]
            _band(ax, sequences, run.arrays["task/accuracy"], _COLORS.get(model, "gray"), _ours(model, lang),
                  axis=1)
        if length in reference:
            ax.axvline(reference[length], color="black", linestyle="--", linewidth=1,
                       label=_T("mean_to_solve", lang, published=_T("published", lang)))
        ax.axhline(0.99, color="gray", linestyle=":", linewidth=1, label=_T("solved_line", lang))
        ax.set_title(f"T = {length}")
        ax.set_xlabel(_T("seen_axis", lang))
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(_T("accuracy_axis", lang))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(_T("accuracy_title", lang), _T("accuracy_caption", lang), _png(fig, lang))


def _count_cell(s: dict, lang: str) -> str:
    """The sequences-to-solved cell: median over all seeds, unsolved ones counting as beyond the budget."""
    budget, solved, seeds = number(s["budget_sequences"], ",", lang), s["solved"], s["seeds"]
    if s["sequences_median"] is not None:
        cell = _T("count.median", lang, count=_fmt_count(s["sequences_median"], lang))
    else:
        cell = _T("count.beyond", lang, budget=budget)
    if solved == 1:
        cell += _T("count.one", lang, count=_fmt_count(s["sequences_min"], lang))
    elif solved > 1:
        cell += _T("count.range", lang, low=_fmt_count(s["sequences_min"], lang),
                   high=_fmt_count(s["sequences_max"], lang))
    if 0 < solved < seeds:
        cell += _T("count.more", lang, count=seeds - solved, budget=budget)
    return cell


def _table(by_key, models, lengths, published, deviations, lang) -> Table:
    counts = dict(published.series_named(_COUNT_SERIES).points)
    errors = dict(published.series_named(_ERROR_SERIES).points)
    rows = []
    for length in lengths:
        for model in models:
            run = by_key.get((model, length))
            if run is None or run.status != "finished":
                continue
            s = run.summary
            if model == "lstm" and length in counts:
                wrong = errors.get(length)
                shown = _T("shown.table7", lang, count=number(counts[length], ",.0f", lang))
                if wrong is not None:
                    shown += _T("shown.wrong", lang, wrong=f"{wrong * 2560:.0f}")
            elif model == "lstm":
                shown = _T("shown.not_run", lang)
            else:
                shown = _T("shown.not_lstm", lang)
            ours = _T("ours_cell", lang, count=_count_cell(s, lang), solved=s["solved"], seeds=s["seeds"],
                      low=f"{s['success_low']:.0%}", high=f"{s['success_high']:.0%}",
                      accuracy=number(s["final/accuracy_median"], ".1%", lang),
                      range=interval(s["final/accuracy_min"], s["final/accuracy_max"], ".1%", lang))
            config = run.config
            budget = _T("budget_cell", lang, steps=number(config["steps"], ",", lang), batch=config["batch_size"],
                        total=number(s["budget_sequences"], ",", lang))
            rows.append([_T("setting", lang, model=_model(model, lang), length=length), shown, ours, budget])
    # English cites the locator as published.py holds it; the catalog's English copy only documents it.
    source = published.source if lang == "en" else published.citation.cite(_T("locator", lang))
    return Table(_T("table", lang), _T("columns", lang).split("|"), rows,
                 _T("table_caption", lang, deviations=deviations, source=source))
