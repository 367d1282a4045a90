"""Figures of the pascanu2013 study: success per init, algorithm and length beside the paper's claims."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _band, _png, _runs, _size, plt
from gradtrace.store import Store
from gradtrace.studies.pascanu2013 import ALGORITHMS, INITS
from gradtrace.studies.published import get_published

__all__ = ["draw"]

_STYLE = {"MSGD": "#d62728", "MSGD-C": "#1f77b4", "MSGD-CR": "#2ca02c"}
# The one success rate the paper states in its text (published.py, claims[0]): MSGD-CR from the basic
# tanh start, trained on lengths drawn from [50, 200], succeeded for 5 of 5 seeds.
_PUBLISHED_CR_BASIC = (5, 5)
_FLOOR = 1e-30


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the pascanu2013 study: success rates, loss curves, gradient norms, Ω and final profiles."""
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
        _success(by_key, inits, algorithms, lengths, config),
        _loss_curves(by_key, inits, algorithms, lengths),
        _over_training(by_key, inits, algorithms, longest, "grad/norm", config,
                       "Gradient norm before clipping",
                       "‖∂L/∂θ‖ of each update before any remedy (median over seeds of 50-update bins, min–max "
                       f"band, log scale), at T = {longest}. The dashed line is the clipping threshold "
                       f"{config['clip_threshold']:g}: above it MSGD-C and MSGD-CR rescale the step, MSGD takes it "
                       "whole, so at the study's learning rate a gradient of norm 10 moves it by 1. Read it "
                       "beside the loss curves: a gradient that rises above the threshold as a run starts to "
                       "learn is what clipping bounds; one that stays small while the loss stays at ln 4 has "
                       "vanished before reaching the first symbol."),
    ]
    if any("omega" in r.arrays for r in runs):
        figures.append(_over_training(
            by_key, inits, algorithms, longest, "omega", config, "Ω along training",
            f"Pascanu's regularizer Ω = mean over sequences and steps of (‖g_t ∂h_t/∂h_(t−1)‖ / ‖g_t‖ − 1)², at "
            f"T = {longest} (median over seeds of 50-update bins, min–max band). Ω = 0 means every step back "
            "keeps the gradient's norm. MSGD-CR descends α·Ω as well as the loss; MSGD and MSGD-C show Ω only "
            "when the study measured it (measure_omega)."))
    figures.append(_profiles(by_key, inits, algorithms, longest))
    return figures, [_comparison(by_key, inits, algorithms, lengths, config),
                     _diagnostics(by_key, inits, algorithms, lengths, config)]


def _budget(config) -> str:
    return (f"{config['steps']:,} updates × {config['batch_size']} sequences, lr {config['lr']:g} "
            "(Pascanu: up to 5M updates, lr 0.01)")


def _form(config) -> str:
    # Stores written before Ω had two forms took Eq. 9's ratio of norms.
    if config.get("penalty_form", "norm") == "squared":
        return ", in the authors' form: a ratio of squared norms (Eq. 10, their code)"
    return ", as a ratio of norms (Eq. 9) where the code takes a ratio of squared norms"


def _deviations(config) -> str:
    lengths = ", ".join(str(t) for t in sorted({config["length"]} | set(config["lengths"])))
    return (f"Deviations from the paper's protocol: lengths T = {lengths} instead of 50 and more; "
            f"{config['steps']:,} updates at learning rate {config['lr']:g} instead of up to 5,000,000 at 0.01; "
            f"{config['eval_batch_size']} held-out sequences per seed instead of 10,000, with success counted "
            "at the last evaluation (the paper stopped each run at its first success; the table gives that "
            "count too); Ω averaged over sequences and non-vanished steps (the released code's normalization) "
            f"with weight α = {config['penalty_weight']:g} from the text (the code's default is 2){_form(config)}. "
            "Same as the paper: "
            f"{config['hidden_size']} units, plain SGD with minibatches of {config['batch_size']}, clipping of the "
            f"whole gradient's norm at {config['clip_threshold']:g} after adding α∂Ω/∂W_rec (as the code does), "
            "and the three initializations with all biases 0. The larger learning rate also enlarges every "
            "unclipped MSGD step, so MSGD's results here say how it fares at that rate, not at the paper's.")


def _success(by_key, inits, algorithms, lengths, config) -> Figure:
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
            ax.bar(xs, rates, width=width * 0.9, color=_STYLE.get(algorithm, "gray"), label=f"{algorithm} (ours)",
                   alpha=0.85)
            ax.errorbar(xs, rates, yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
        if init == "basic_tanh" and "MSGD-CR" in algorithms:
            successes, seeds = _PUBLISHED_CR_BASIC
            ax.axhline(successes / seeds, color=_STYLE["MSGD-CR"], linestyle="--", linewidth=1.4, marker="D",
                       markevery=[0], label="published (Pascanu 2013): MSGD-CR,\n5/5 seeds trained on T ∈ [50, 200]")
        ax.set_xticks(range(len(lengths)), [f"T = {t}" for t in lengths])
        ax.set_ylim(0, 1.08)
        ax.set_title(INITS[init])
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("fraction of seeds that solved it")
    handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    axes[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    seeds = next(iter(by_key.values())).summary.get("seeds", "?")
    caption = (
        f"Fraction of {seeds} seeds whose held-out accuracy reached 99% (Pascanu's < 1% error), with the 95% "
        "Wilson interval, per initialization (panel), length and algorithm. Within a panel and length the "
        "three algorithms start from the same weights and see the same batches. Published: Figure 7 of the "
        "paper gives these rates only as an image and no value was transcribed; the one rate stated in the "
        f"text is drawn dashed: \"{published.claims[0]}\" Other published claims: "
        + " ".join(f"\"{claim}\"" for claim in published.claims[1:2] + published.claims[3:]) + " "
        + _deviations(config)
    )
    return Figure("Success rate per initialization, length and algorithm", caption, _png(fig))


def _loss_curves(by_key, inits, algorithms, lengths) -> Figure:
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
                ax.axhline(baseline, color="black", linestyle=":", linewidth=1, label="chance (ln 4)")
            ax.set_yscale("log")
            ax.set_title(f"{INITS[init]}, T = {length}", fontsize=10)
            ax.grid(True, alpha=0.3)
        row[0].set_ylabel("held-out cross-entropy")
    for ax in axes[-1]:
        ax.set_xlabel("update")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Figure(
        "Loss curves",
        "Held-out cross-entropy during training, median over seeds with the min–max band. The dotted line "
        "is ln 4, the loss of guessing among the four orders: a curve that stays on it has not found the "
        "two symbols. Seeds leave it abruptly once the gradient links the answer to the first symbol.",
        _png(fig),
    )


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


def _over_training(by_key, inits, algorithms, length, key, config, title, caption) -> Figure:
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
            ax.axhline(config["clip_threshold"], color="black", linestyle="--", linewidth=1, label="clip threshold")
        ax.set_yscale("log")
        ax.set_title(f"{INITS[init]}, T = {length}")
        ax.set_xlabel("update")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("‖∂L/∂θ‖ before remedies" if key == "grad/norm" else "Ω")
    axes[0][-1].legend()
    return Figure(title, caption, _png(fig))


def _profiles(by_key, inits, algorithms, length) -> Figure:
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
        ax.set_title(f"{INITS[init]}, T = {length}")
        ax.set_xlabel("time step t")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(r"$\|\partial L/\partial h_t\|$ after training")
    axes[0][-1].legend()
    return Figure(
        f"‖∂L/∂h_t‖ along the sequence after training (T = {length})",
        "The gradient reaching the hidden state at each time step, on held-out sequences after training "
        "(median over seeds, min–max band). The error enters at the last step; the shaded windows are where "
        "the two symbols may stand. A profile that falls by orders of magnitude before the first window "
        "means that symbol's order cannot be learned by gradient descent from there (vanishing); a rising "
        "one is an exploding gradient that clipping must bound.",
        _png(fig),
    )


def _rate(s) -> str:
    text = f"{s['successes']}/{s['seeds']} = {s['success_rate']:.0%} [{s['success_low']:.0%}, {s['success_high']:.0%}]"
    ever = s.get("ever_successes")
    if ever is not None and ever != s["successes"]:
        text += f"; {ever}/{s['seeds']} at some evaluation"
    return text


def _comparison(by_key, inits, algorithms, lengths, config) -> Table:
    rows = []
    for init in inits:
        for algorithm in algorithms:
            for length in lengths:
                run = by_key.get((init, algorithm, length))
                if run is None or run.status != "finished":
                    continue
                if init == "basic_tanh" and algorithm == "MSGD-CR":
                    successes, seeds = _PUBLISHED_CR_BASIC
                    published = (f"{successes}/{seeds} seeds (trained on T ∈ [50, 200], < 1% error on 10,000 "
                                 "sequences at every test length; Section 4.1.1)")
                else:
                    published = "Figure 7 (image only; not transcribed)"
                rows.append([f"{INITS[init]}, {algorithm}, T = {length}", published, _rate(run.summary),
                             _budget(run.config)])
    return Table(
        "Pascanu, Mikolov & Bengio 2013: published vs ours",
        ["setting", "published", "ours", "budget"],
        rows,
        "Ours: seeds whose held-out accuracy was ≥ 99% at the last evaluation, with the 95% Wilson interval. "
        "The published rates per length and algorithm (Figure 7) were not transcribed, so only the one rate "
        "stated in the text is shown, and its protocol (mixed lengths 50–200, up to 5M updates) differs from "
        "ours. " + _deviations(config),
    )


def _percent(value) -> str:
    return "—" if value is None or value != value else f"{value:.0%}"


def _diagnostics(by_key, inits, algorithms, lengths, config) -> Table:
    rows = []
    for length in lengths:
        for init in inits:
            for algorithm in algorithms:
                run = by_key.get((init, algorithm, length))
                if run is None or run.status != "finished":
                    continue
                s = run.summary
                omega = ("—" if s.get("omega_start") is None
                         else f"{s['omega_start']:.3g} → {s['omega_end']:.3g}")
                first = s.get("first_success_step")
                rows.append([
                    f"{INITS[init]}, {algorithm}, T = {length}",
                    _percent(s["above_threshold"]), _percent(s["clip_fired"]), omega,
                    f"{s['final/decay_rate']:.3g}", f"{s['task/loss']:.3f}",
                    "—" if first is None or first != first else f"{first:.0f}",
                    str(s["diverged"]),
                ])
    return Table(
        "Clipping, Ω and the gradient after training",
        ["setting", "updates with ‖g‖ > threshold", "clipping fired", "Ω first → last 10% of updates",
         "factor per step back, trained", "held-out loss (median)", "first success at update (median)",
         "diverged seeds"],
        rows,
        f"‖g‖ > threshold: share of updates whose loss gradient exceeded {config['clip_threshold']:g} (median over "
        "seeds), whether or not the algorithm clips; clipping fired: share it rescaled (under MSGD-CR the clip "
        "sees the gradient with α∂Ω/∂W_rec added). Factor per step back: exp(−slope) of log‖∂L/∂h_t‖ against "
        "t on held-out sequences, median over seeds; below 1 the gradient vanishes going back, above 1 it "
        f"grows. Held-out loss against ln 4 = {np.log(4):.3f} for guessing.",
    )
