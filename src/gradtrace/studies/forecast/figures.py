"""Figures of the forecast study: test predictions against the truth, test error per model, a table."""

from __future__ import annotations

import numpy as np

from gradtrace.report.figures import Figure, Table, _png, _runs, _size, plt
from gradtrace.store import RunRecord, Store

__all__ = ["draw"]

_MODEL_STYLE = {
    "mlp": ("#ff7f0e", "MLP"),
    "elman": ("#d62728", "Elman RNN"),
    "lstm": ("#1f77b4", "LSTM"),
    "esn": ("#2ca02c", "echo state network"),
}
_SERIES_LABELS = {"mackey_glass": "Mackey-Glass (τ = 17)", "price": "synthetic price"}
# Test steps drawn in the prediction figure: enough for a few Mackey-Glass oscillations, few enough
# that the lines stay apart.
_STRETCH = 120


def draw(store: Store, lang: str = "en") -> tuple[list[Figure], list[Table]]:
    """Draw the forecast study."""
    runs = [r for r in _runs(store, "forecast") if r.status == "finished" and r.summary]
    if not runs:
        return [], []
    series = list(dict.fromkeys(r.summary["series"] for r in runs))
    by_series = {name: [r for r in runs if r.summary["series"] == name] for name in series}
    return [_predictions(by_series), _errors(by_series)], [_table(runs)]


def _style(run: RunRecord) -> tuple[str, str]:
    return _MODEL_STYLE.get(run.summary["model"], ("gray", run.summary["model"]))


def _predictions(by_series: dict[str, list[RunRecord]]) -> Figure:
    fig, axes = plt.subplots(2, len(by_series), figsize=_size(6.2 * len(by_series), 6.4), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1.2]}, sharex="col")
    for top, bottom, (series, runs) in zip(axes[0], axes[1], by_series.items()):
        first = runs[0].arrays
        steps = first["test/position"][:_STRETCH]
        truth = first["test/truth"][:_STRETCH]
        persistence = first["test/persistence"][:_STRETCH]
        top.plot(steps, truth, color="black", linewidth=2.0, label="truth")
        top.plot(steps, persistence, color="gray", linestyle="--", linewidth=1.0, label="persistence")
        bottom.plot(steps, persistence - truth, color="gray", linestyle="--", linewidth=1.0)
        for run in runs:
            color, label = _style(run)
            member = run.summary["median_member"]
            prediction = run.arrays["test/prediction"][member, :_STRETCH]
            top.plot(steps, prediction, color=color, linewidth=1.1, alpha=0.9, label=f"{label} (seed {member})")
            bottom.plot(steps, prediction - truth, color=color, linewidth=1.0, alpha=0.9)
        bottom.axhline(0.0, color="black", linewidth=0.8)
        highest = runs[0].summary["train_max"]
        if truth.max() > highest:
            top.axhline(highest, color="black", linestyle=":", linewidth=1.0, label="highest value in the train part")
        top.set_title(f"{_SERIES_LABELS.get(series, series)}: first {len(steps)} test steps")
        top.set_ylabel("value (standardized by the train part)")
        bottom.set_ylabel("prediction − truth")
        bottom.set_xlabel("time step of the series")
        top.legend(loc="best")
        top.grid(True, alpha=0.3)
        bottom.grid(True, alpha=0.3)
    return Figure(
        "Test-set predictions against the truth",
        "Each model's next-step prediction from the last 5 values, on the start of the test part (never "
        "trained on), for the seed whose test MSE is the median; below, its error. The gray dashed line is "
        "persistence, which repeats the last value: it lags the truth by one step. On Mackey-Glass the models "
        "follow the truth closely; on the price, compare each error with persistence's: a model that beats it must "
        "do better than repeating the last price. A dotted line marks the highest value of the train part where the "
        "test values rise above it: beyond it a model has seen no example.",
        _png(fig),
    )


def _errors(by_series: dict[str, list[RunRecord]]) -> Figure:
    fig, axes = plt.subplots(1, len(by_series), figsize=_size(5.2 * len(by_series), 3.9), squeeze=False)
    for ax, (series, runs) in zip(axes[0], by_series.items()):
        for i, run in enumerate(runs):
            color, label = _style(run)
            mse = run.arrays["test/mse"]
            middle = np.median(mse)
            ax.bar(i, middle, color=color, alpha=0.85, width=0.7)
            ax.errorbar([i], [middle], yerr=[[middle - mse.min()], [mse.max() - middle]], fmt="none",
                        ecolor="black", capsize=4, linewidth=1)
            ax.scatter(np.full(len(mse), i), mse, s=10, color="black", zorder=3)
        ax.axhline(runs[0].summary["persistence_mse"], color="gray", linestyle="--", linewidth=1.2,
                   label="persistence")
        ax.set_xticks(range(len(runs)), [_style(r)[1] for r in runs], rotation=15)
        ax.set_yscale("log")
        ax.set_title(_SERIES_LABELS.get(series, series))
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("test MSE (standardized units)")
    price = [r for runs in by_series.values() for r in runs if r.summary["series"] == "price"]
    note = ""
    if price:
        beaten = sum(r.summary["beats_persistence"] for r in price)
        seeds = sum(r.summary["seeds"] for r in price)
        outside = price[0].summary["outside_train_range"]
        in_sample = [r.summary["train_vs_persistence"] for r in price]
        note = (f" On the price, {beaten} of {seeds} members (all models together) beat persistence on the test part; "
                f"{outside:.0%} of its test values lie outside the range of the train part, so a model of the level "
                "has to extrapolate there, while persistence does not depend on the level at all. Even on the train "
                f"windows the models' median MSE is ×{min(in_sample):.2g} to ×{max(in_sample):.2g} persistence's: "
                "the increments of a random walk leave little to predict.")
    return Figure(
        "Test error per model",
        "Test MSE over every window of the test part: bar at the median over seeds, whiskers to the best and worst "
        "seed, dots the seeds (log scale). The dashed line is the persistence forecast's MSE; a bar below it beats "
        "repeating the last value." + note,
        _png(fig),
    )


def _table(runs: list[RunRecord]) -> Table:
    rows = []
    for run in runs:
        s = run.summary
        ratio = s["vs_persistence"]
        verdict = "better" if ratio < 1 else "worse"
        rows.append([
            _SERIES_LABELS.get(s["series"], s["series"]), _style(run)[1],
            f"{s['test/mse']:.3g} [{s['test/mse_min']:.3g}, {s['test/mse_max']:.3g}]",
            f"{s['nrmse']:.3g}",
            f"×{ratio:.3g} ({verdict}; {s['beats_persistence']}/{s['seeds']} seeds below)",
            f"{s['persistence_mse']:.3g} / {s['persistence_nrmse']:.3g}",
            f"×{s['train_vs_persistence']:.3g}",
        ])
    config = runs[0].config
    mlp = "-".join(str(n) for n in (config["window"], *config["mlp_hidden"], 1))
    return Table(
        "Test error per series and model",
        ["series", "model", "test MSE median [min, max]", "NRMSE (median)", "MSE vs persistence",
         "persistence MSE / NRMSE", "train part: MSE vs persistence"],
        rows,
        f"Window of the last {config['window']} values, next-step prediction; series of {config['length']} points "
        f"standardized by the first {config['train_fraction']:.0%}, on which the models are trained; scored on every "
        "window of the rest; the last column compares the median MSE with persistence's on the train windows, "
        "where no extrapolation is needed. NRMSE: RMSE over the standard deviation of the test targets (1 is as good "
        f"as their mean). MLP {mlp}, Elman RNN and LSTM with {config['hidden_size']} units, "
        f"trained by Adam for {config['steps']} steps; the ESN ({config['reservoir_size']} units) is driven over "
        "each window from the zero state and its readout is fitted by ridge regression on the state after the window.",
    )
