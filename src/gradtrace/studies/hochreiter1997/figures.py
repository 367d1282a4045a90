"""Figures of the Hochreiter & Schmidhuber 1997 study: sequences until solved, beside Table 7."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_COLORS = {"lstm": "#1f77b4", "elman": "#d62728"}
_LABELS = {"lstm": "LSTM (ours)", "elman": "Elman RNN, tanh (ours)"}
_PUBLISHED_LABEL = "published (Hochreiter & Schmidhuber 1997)"
_COUNT_SERIES = "LSTM: training sequences to success"
_ERROR_SERIES = "LSTM: wrong test predictions"


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the hochreiter1997 study: sequences to success against T, and accuracy during training.

    Args:
        store: a run store holding runs of the ``hochreiter1997`` study.

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
    deviations = _deviations(config)
    figures = [_counts_figure(by_key, models, lengths, published, deviations),
               _accuracy_figure(by_key, models, lengths, published)]
    return figures, [_table(by_key, models, lengths, published, deviations)]


def _deviations(config: dict) -> str:
    budget = config["steps"] * config["batch_size"]
    return (
        f"Deviations from the paper: {config['optimizer']} with learning rate {config['lr']:g} on batches of "
        f"{config['batch_size']} sequences for {config['steps']:,} updates ({budget:,} sequences) instead of "
        f"plain gradient descent with learning rate 0.5 on one sequence at a time until the stopping "
        f"criterion; a modern LSTM with {config['hidden_size']} cells, per-cell gates, a forget gate whose "
        f"bias starts at {config['lstm_forget_bias']:g} (the 1997 LSTM had no forget gate: its cells never "
        "forget) and default initialization, instead of 2 blocks of 2 cells with input-gate biases −3 and −6 "
        "and weights in [−0.1, 0.1]; the stopping criterion (mean training error < 0.01 and the last 2000 "
        f"training sequences correct) is replaced by a held-out check every {config['eval_every']} updates: "
        f"solved once at least 99% of {config['eval_batch_size']} held-out sequences have absolute error "
        "below 0.04 (the paper tested on 2560). Our count is a median over seeds; the paper's is a mean of 10 "
        "trials, all of which reached its criterion."
    )


def _fmt_count(value) -> str:
    return f"{value:,.0f}" if value is not None and np.isfinite(value) else "—"


def _counts_figure(by_key, models, lengths, published, deviations) -> Figure:
    fig, ax = plt.subplots(figsize=_size(7.0, 4.2))
    budget = None
    for i, model in enumerate(models):
        offset = 1.0 + 0.05 * (i - (len(models) - 1) / 2)  # side by side on the log axis
        unsolved_drawn = solved_drawn = False
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
                           label=None if solved_drawn else f"{_LABELS.get(model, model)}: one seed")
                solved_drawn = True
            summary = run.summary
            if summary["sequences_median"] is not None:
                ax.errorbar([length * offset], [summary["sequences_median"]],
                            yerr=[[summary["sequences_median"] - summary["sequences_min"]],
                                  [summary["sequences_max"] - summary["sequences_median"]]],
                            fmt="o", color=color, markersize=8, capsize=4, markerfacecolor="white",
                            label=f"{_LABELS.get(model, model)}: median (range of solved seeds)")
            unsolved = int(np.sum(~np.isfinite(counts)))
            if unsolved:
                ax.scatter([length * offset], [budget], marker="^", s=60, facecolors="none", edgecolors=color,
                           label=None if unsolved_drawn else f"{_LABELS.get(model, model)}: not solved in budget")
                ax.annotate(f"{unsolved}/{counts.size}", (length * offset, budget), textcoords="offset points",
                            xytext=(-26 if i == 0 else 6, 5), color=color)
                unsolved_drawn = True
    series = published.series_named(_COUNT_SERIES)
    ax.plot(series.xs, series.ys, color="black", linestyle="--", marker="s", markersize=6,
            label=f"{_PUBLISHED_LABEL}: LSTM, mean of 10")
    if budget is not None:
        ax.axhline(budget, color="gray", linestyle=":", linewidth=1, label="our budget (sequences)")
    ax.set_xscale("log")
    ax.set_xlim(min(lengths + [min(series.xs)]) * 0.75, max(lengths + [max(series.xs)]) * 1.3)
    ax.set_yscale("log")
    ax.set_xlabel("minimal sequence length T (steps)")
    ax.set_ylabel("training sequences until solved")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Training sequences until solved, beside Table 7",
        "Each dot is one seed: the training sequences it had seen when it first solved the task. The open "
        "circle with a bar is the median over seeds with its range (drawn only when most seeds solved); a "
        "triangle on the dotted budget line counts the seeds that did not solve it. The dashed black line is "
        "Table 7 of the paper (T = 100, 500, 1000). " + deviations,
        _png(fig),
    )


def _accuracy_figure(by_key, models, lengths, published) -> Figure:
    fig, axes = plt.subplots(1, len(lengths), figsize=_size(4.3 * len(lengths), 3.6), squeeze=False, sharey=True)
    reference = dict(published.series_named(_COUNT_SERIES).points)
    for ax, length in zip(axes[0], lengths):
        for model in models:
            run = by_key.get((model, length))
            if run is None or not len(run.arrays["eval/step"]):
                continue
            sequences = (run.arrays["eval/step"] + 1) * run.config["batch_size"]
            _band(ax, sequences, run.arrays["task/accuracy"], _COLORS.get(model, "gray"),
                  _LABELS.get(model, model), axis=1)
        if length in reference:
            ax.axvline(reference[length], color="black", linestyle="--", linewidth=1,
                       label=f"{_PUBLISHED_LABEL}: mean to solve")
        ax.axhline(0.99, color="gray", linestyle=":", linewidth=1, label="solved (99% correct)")
        ax.set_title(f"T = {length}")
        ax.set_xlabel("training sequences seen")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("held-out fraction with |error| < 0.04")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Held-out accuracy during training",
        "Fraction of held-out sequences answered within 0.04, median over seeds with the min–max band. A "
        "curve that stays near the bottom has not found the marked values; guessing 0.5 is within 0.04 for "
        "only about one sequence in seven. The dashed line is the paper's mean number of sequences to its "
        "stopping criterion where it reported one (T = 100).",
        _png(fig),
    )


def _count_cell(s: dict) -> str:
    """The sequences-to-solved cell: median over all seeds, unsolved ones counting as beyond the budget."""
    budget, solved, seeds = s["budget_sequences"], s["solved"], s["seeds"]
    if s["sequences_median"] is not None:
        cell = f"median {_fmt_count(s['sequences_median'])} sequences"
    else:
        cell = f"median > {budget:,} sequences (the budget)"
    if solved == 1:
        cell += f"; the solved seed: {_fmt_count(s['sequences_min'])}"
    elif solved > 1:
        cell += f"; solved seeds {_fmt_count(s['sequences_min'])}–{_fmt_count(s['sequences_max'])}"
    if 0 < solved < seeds:
        cell += f", {seeds - solved} more > {budget:,}"
    return cell


def _table(by_key, models, lengths, published, deviations) -> Table:
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
                shown = f"{counts[length]:,.0f} sequences (mean of 10 trials)"
                if wrong is not None:
                    shown += f"; {wrong * 2560:.0f} of 2560 test sequences wrong"
            elif model == "lstm":
                shown = "not run (Table 7: T = 100, 500, 1000)"
            else:
                shown = "not in Table 7 (the paper reports LSTM only on this task)"
            count = _count_cell(s)
            ours = (f"{count}; solved {s['solved']}/{s['seeds']} (95% interval [{s['success_low']:.0%}, "
                    f"{s['success_high']:.0%}]); final held-out accuracy {s['final/accuracy_median']:.1%} "
                    f"[{s['final/accuracy_min']:.1%}, {s['final/accuracy_max']:.1%}]")
            config = run.config
            budget = (f"{config['steps']:,} updates × {config['batch_size']} sequences = "
                      f"{s['budget_sequences']:,} sequences (Hochreiter: online updates until the criterion)")
            rows.append([f"{_LABELS.get(model, model).replace(' (ours)', '')}, T = {length}", shown, ours, budget])
    return Table(
        "Hochreiter & Schmidhuber 1997: published vs ours",
        ["setting", "published", "ours", "budget"],
        rows,
        "Ours: training sequences seen until solved, the median over all seeds (an unsolved seed counts as "
        "beyond the budget) and the range of the seeds that solved it; solved seeds with the 95% Wilson "
        "interval; final accuracy on the held-out sequences, median [min, max]. "
        + deviations + f" Source: {published.source}.",
    )
