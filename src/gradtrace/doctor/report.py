"""The doctor's HTML report: the verdicts, figures drawn from the readings, and the treatment.

One self-contained page (figures embedded as PNG, no external resource: it opens offline and can be
mailed) in the look of the course report, whose style sheet and figure kit it reuses. The figures only
draw what :func:`~gradtrace.doctor.diagnose` and :func:`~gradtrace.doctor.treat` measured; nothing is
computed here that the JSON does not hold.

English only: the doctor is for practitioners reading about their own model, and the verdicts' evidence
is written in English (the course report's Portuguese is for the course).
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import platform
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from gradtrace import __version__
from gradtrace.doctor.diagnosis import DepthReading, Diagnosis, ParameterReading, RecurrentReading
from gradtrace.doctor.treat import Treatment, Trial
from gradtrace.doctor.verdicts import DEAD_UNITS_FRACTION, KINDS, VANISHING_FLOOR, Verdict
from gradtrace.report.figures import PALETTE, Figure, Table, _integer_ticks, _png, _size, plt
from gradtrace.report.html import _STYLE, _figure_html, _table_html
from gradtrace.studies.stats import nan_quantiles

__all__ = ["KIND_COLORS", "write_doctor_report"]

#: The color of each verdict kind, from the report's one palette.
KIND_COLORS = {"non-finite": PALETTE["purple"], "exploding": PALETTE["red"], "vanishing": PALETTE["blue"],
               "dead units": PALETTE["orange"], "healthy": PALETTE["green"]}
# One color per line (a recurrent layer and direction, a remedy), in order; black is the untreated copy's.
_LINES = ("blue", "red", "green", "orange", "purple", "sky", "pink", "brown", "olive", "grey")
# Module names longer than this are shortened from the left on the depth figure's axis.
_MAX_LABEL = 28
# The depth figure names every module up to this many, else only the weighted layers up to this many.
_MAX_TICKS = 36

_DOCTOR_STYLE = """
.verdicts { list-style: none; padding-left: 0; }
.verdict { border-left: 6px solid #999; background: #fafafa; padding: 0.45em 0.9em; margin: 0.6em 0; }
.verdict .kind { color: #fff; background: #999; font-weight: bold; font-size: 0.8em; padding: 0.1em 0.5em;
                 border-radius: 3px; text-transform: uppercase; letter-spacing: 0.03em; }
.verdict .where { font-weight: bold; margin-left: 0.4em; } .verdict p { margin: 0.25em 0; }
.verdict .meta { overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid #e2e2e2; padding: 0.8em 1em; overflow-x: auto; font-size: 0.88em;
      line-height: 1.4; }
.fixed { color: #1a7f37; font-weight: bold; }
.remedies th:nth-child(2), .remedies th:nth-child(8), .gates th:nth-child(n+4) { text-align: left; }
""" + "".join(  # after .verdict, which they override
    f".v-{kind.replace(' ', '-')} {{ border-left-color: {color}; }} "
    f".v-{kind.replace(' ', '-')} .kind {{ background: {color}; }}\n" for kind, color in KIND_COLORS.items())


def write_doctor_report(diagnosis: Diagnosis, path: str | Path, *, treatment: Treatment | None = None,
                        title: str = "gradtrace doctor", about: Mapping[str, str] | None = None) -> Path:
    """Write the doctor's report of ``diagnosis`` (and of ``treatment``) as one HTML page; return its path.

    Args:
        diagnosis: what :func:`~gradtrace.doctor.diagnose` returned.
        path: the HTML file to write (its folder must exist); an existing file is replaced.
        treatment: what :func:`~gradtrace.doctor.treat` returned, to add its remedies, curves and code.
        title: the page's heading.
        about: lines shown under the heading, such as ``{"model": "mypkg.models:make"}``.

    Returns:
        The path written.

    Raises:
        TypeError: ``diagnosis`` is not a :class:`~gradtrace.doctor.Diagnosis` or ``treatment`` not a
            :class:`~gradtrace.doctor.Treatment`.
        OSError: the file cannot be written (nothing is left half-written).

    Example:
        >>> import tempfile
        >>> from gradtrace.doctor import diagnose
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> batch = (torch.randn(16, 3), torch.randn(16, 1))
        >>> diagnosis = diagnose(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), batch)
        >>> folder = tempfile.mkdtemp()
        >>> write_doctor_report(diagnosis, Path(folder) / "doctor.html").name
        'doctor.html'
    """
    if not isinstance(diagnosis, Diagnosis):
        raise TypeError(f"`diagnosis` must be a Diagnosis (what gradtrace.diagnose returns), got "
                        f"{type(diagnosis).__name__}.")
    if treatment is not None and not isinstance(treatment, Treatment):
        raise TypeError(f"`treatment` must be a Treatment (what gradtrace.treat returns) or None, got "
                        f"{type(treatment).__name__}.")
    path = Path(path)
    parts = [f"<h1>{html.escape(title)}</h1>", _header(diagnosis, about)]
    parts.append("<h2>Verdicts</h2>" + _verdicts_html(diagnosis.verdicts))
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in diagnosis.notes]
    if diagnosis.recurrent:
        parts.append("<h2>Through time</h2>")
        for reading in diagnosis.recurrent.values():
            parts += [_figure_html(_time_figure(reading, diagnosis.batches)),
                      f'<div class="gates">{_table_html(_time_table(reading))}</div>']
    parts.append("<h2>Through depth</h2>")
    depth = _depth_figure(diagnosis.depth, diagnosis.batches)
    parts.append(_figure_html(depth) if depth is not None else '<p class="note">No gradient was measured through '
                 "depth: the loss was not finite on any batch, so nothing was differentiated. The verdicts above "
                 "name the first module whose output was not finite.</p>")
    if diagnosis.parameters:
        parts.append(_table_html(_parameters_table(diagnosis.parameters, diagnosis.batches)))
    if treatment is not None:
        parts.append(_treatment_html(treatment))
    parts.append(f'<p class="meta footnote">Written by gradtrace {html.escape(__version__)} (torch '
                 f"{html.escape(torch.__version__)}, Python {platform.python_version()}) on "
                 f"{_dt.datetime.now():%Y-%m-%d %H:%M}.</p>")
    document = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f"<style>{_STYLE}{_DOCTOR_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(document, encoding="utf-8")
        temporary.replace(path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _g(value: float | None, spec: str = ".3g") -> str:
    if value is None:
        return "—"
    return format(value, spec) if math.isfinite(value) else str(value)


def _header(diagnosis: Diagnosis, about: Mapping[str, str] | None) -> str:
    finite = sorted(v for v in diagnosis.losses if math.isfinite(v))
    loss = (f"loss {_g(finite[len(finite) // 2], '.4g')}" + (" (median)" if len(finite) > 1 else "") if finite
            else "no finite loss")
    if finite and len(finite) < len(diagnosis.losses):
        loss += f", not finite on {len(diagnosis.losses) - len(finite)} batch(es)"
    line = f"{diagnosis.batches} batch(es) diagnosed, {loss}, in {diagnosis.seconds:.1f} s."
    rows = "".join(f"<tr><th>{html.escape(key)}</th><td><code>{html.escape(str(value))}</code></td></tr>"
                   for key, value in (about or {}).items())
    return f'<p class="meta">{html.escape(line)}</p>' + (f"<table>{rows}</table>" if rows else "")


def _verdicts_html(verdicts: Sequence[Verdict]) -> str:
    if not verdicts:
        return '<p class="note">No verdict: nothing was measured.</p>'
    items = []
    for verdict in sorted(verdicts, key=lambda v: KINDS.index(v.kind) if v.kind in KINDS else len(KINDS)):
        found, total = verdict.found_in
        measured = ", ".join(f"{key} {_plain(value)}" for key, value in verdict.measured.items())
        thresholds = ", ".join(f"{key} {_plain(value)}" for key, value in verdict.thresholds.items())
        details = f"found in {found} of {total} batch{'es' if total != 1 else ''}"
        details += f" · measured: {measured}" if measured else ""
        details += f" · thresholds: {thresholds}" if thresholds else ""
        kind = verdict.kind.replace(" ", "-")
        items.append(f'<li class="verdict v-{html.escape(kind)}"><span class="kind">{html.escape(verdict.kind)}</span>'
                     f'<span class="where">{html.escape(verdict.where)}</span>'
                     f"<p>{html.escape(verdict.evidence)}</p><p class=\"meta\">{html.escape(details)}</p></li>")
    return f'<ul class="verdicts">{"".join(items)}</ul>'


def _plain(value) -> str:
    if isinstance(value, float):
        return _g(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value)


def _positive(values) -> tuple[np.ndarray, bool, bool]:
    """The values a log axis can draw (others NaN), whether any was not finite, and whether any was zero."""
    array = np.asarray(values, dtype=np.float64)
    infinite = bool(np.isinf(array).any())
    zero = bool((array == 0).any())
    return np.where(np.isfinite(array) & (array > 0), array, np.nan), infinite, zero


def _log_or_empty(ax, drawn: bool, what: str) -> None:
    if drawn:
        ax.set_yscale("log")
        _whole_decades(ax)
    else:  # nothing a log axis can show: say so instead of an empty frame
        ax.text(0.5, 0.5, f"no finite, non-zero\n{what}", transform=ax.transAxes, ha="center", va="center",
                color=PALETTE["grey"])
        ax.set_yticks([])


def _whole_decades(ax) -> None:
    """Widen a log axis spanning under three decades to whole decades, so at least two ticks are labelled."""
    low, high = ax.get_ylim()
    if low > 0 and high > low and math.log10(high / low) < 3:
        ax.set_ylim(10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high)))


def _time_figure(reading: RecurrentReading, batches: int) -> Figure:
    """The lag profile and ‖∂L/∂h_t‖ of every layer and direction of one recurrent module."""
    L, D, T = reading.lag_norms.shape
    fig, (lag_ax, step_ax) = plt.subplots(1, 2, figsize=_size(11.5, 4.0))
    drawn = {"lag": False, "step": False}
    infinite = zero = False
    for layer in range(L):
        for d in range(D):
            color = PALETTE[_LINES[(layer * D + d) % len(_LINES)]]
            style = "--" if d else "-"
            label = reading.name if L == 1 and D == 1 else f"layer {layer}" + (" reverse" if d else "")
            lags, inf_lag, zero_lag = _positive(reading.lag_norms[layer, d])
            steps, inf_step, zero_step = _positive(reading.grad_norms[layer, d])
            infinite |= inf_lag or inf_step
            zero |= zero_lag or zero_step
            marker = "." if T <= 60 else None
            lag_ax.plot(np.arange(T), lags, color=color, linestyle=style, marker=marker, label=label)
            step_ax.plot(np.arange(T), steps, color=color, linestyle=style, marker=marker, label=label)
            drawn["lag"] |= bool(np.isfinite(lags).any())
            drawn["step"] |= bool(np.isfinite(steps).any())
            reach = int(reading.horizon[layer, d])
            if 0 <= reach < T:
                lag_ax.axvline(reach, color=color, linestyle=":", linewidth=1.2)
    _log_or_empty(lag_ax, drawn["lag"], "lag profile")
    _log_or_empty(step_ax, drawn["step"], r"$\|\partial L/\partial h_t\|$")
    lag_ax.set(xlabel="k: steps back from the last step", ylabel="last step's error carried back k steps",
               title="How far the last step's error travels")
    step_ax.set(xlabel="t: time step", ylabel=r"$\|\partial L/\partial h_t\|$", title="Total gradient at each step")
    _integer_ticks(lag_ax, step_ax)
    for ax in (lag_ax, step_ax):
        ax.grid(True, which="major", alpha=0.3)
    if L * D > 1 and drawn["lag"]:
        lag_ax.legend(loc="best")
    fig.tight_layout()
    caption = (f"{reading.kind}, {L} layer(s) × {D} direction(s), hidden size {reading.hidden_size}, {T} steps, "
               f"median over {reading.calls} run(s) on {batches} batch(es). Left: the error at the last step a "
               "direction processed, carried back k steps through the recurrence alone; a dotted line marks the "
               f"horizon, where it falls {VANISHING_FLOOR:.0e} below its running peak. Right: ‖∂L/∂h_t‖, the total "
               "gradient of the loss at each step (large everywhere when the loss reads every step, even if "
               "nothing travels back).")
    if infinite:
        caption += " Infinite values are not drawn."
    if zero:
        caption += " Exact zeros (no gradient at all) cannot be drawn on the log scale and are left out."
    return Figure(f"{reading.name}: the gradient through time", caption, _png(fig))


def _per_gate(values: Mapping[str, torch.Tensor], layer: int, direction: int, spec: str) -> str:
    return " · ".join(f"{gate} {_g(float(v[layer, direction]), spec)}" for gate, v in values.items()) or "—"


def _time_table(reading: RecurrentReading) -> Table:
    """Per layer and direction: the fitted factor, the horizon, and each gate's ρ, top singular value, saturation."""
    L, D, T = reading.lag_norms.shape
    rows = []
    for layer in range(L):
        for d in range(D):
            reach = int(reading.horizon[layer, d])
            rows.append([reading.place(layer, d), f"×{_g(float(reading.decay_rate[layer, d]))}",
                         f"{reach}" if 0 <= reach < T else f"never ({T})",
                         _per_gate(reading.spectral_radius, layer, d, ".3g"),
                         _per_gate(reading.top_singular_value, layer, d, ".3g"),
                         _per_gate(reading.saturation, layer, d, ".0%")])
    return Table(f"{reading.name}: per layer and direction",
                 ["layer", "factor per step back", "horizon (steps)", "spectral radius ρ of W_h per gate",
                  "top singular value per gate", "saturated per gate"], rows,
                 "Factor: fitted to the lag profile on the left (below 1: the error shrinks going back). Horizon: "
                 f"steps back before it falls {VANISHING_FLOOR:.0e} below its running peak. ρ and the top singular "
                 "value are those of the block of W_hh through which h_(t−1) enters each gate; saturated: the share "
                 "of the gate's activations whose derivative is under 5 % of its maximum (a ReLU RNN's inactive "
                 "units).")


def _label(module) -> str:
    """``"encoder.0 Linear"``, the name shortened from the left when long."""
    name = module.name or "(model)"
    name = name if len(name) <= _MAX_LABEL else "…" + name[-(_MAX_LABEL - 1):]
    return f"{name} {module.type_name}"


def _depth_figure(depth: DepthReading, batches: int) -> Figure | None:
    """‖∂L/∂output‖ of every module in the order they ran, weighted layers marked."""
    modules = depth.modules
    if not modules:
        return None
    norms, infinite, zero = _positive([m.grad_norm for m in modules])
    x = np.arange(len(modules))
    weighted = np.array([m.weighted for m in modules])
    dying = np.array([m.dead_fraction is not None and m.dead_fraction >= DEAD_UNITS_FRACTION for m in modules])
    width = min(11.5, max(7.0, 0.3 * len(modules) + 4))
    fig, ax = plt.subplots(figsize=_size(width, 4.2))
    ax.plot(x, norms, color=PALETTE["grey"], marker=".", linewidth=1.2, label="every module's output")
    if weighted.any():
        ax.plot(x[weighted], norms[weighted], "o", color=PALETTE["blue"], markersize=7, label="weighted layers")
    if dying.any():
        ax.plot(x[dying], norms[dying], "X", color=PALETTE["orange"], markersize=9,
                label=f"ReLU with ≥ {DEAD_UNITS_FRACTION:.0%} dead units")
    layers = np.flatnonzero(weighted)
    caption_bound = ""
    if depth.sigmoid_bound is not None and len(layers) >= 2 and math.isfinite(norms[layers[-1]]):
        count = len(layers)
        bound = norms[layers[-1]] * 0.25 ** np.arange(count - 1, -1, -1)
        ax.plot(layers, bound, linestyle="--", color=PALETTE["black"], linewidth=1.2,
                label=f"sigmoid bound 0.25^{count - 1} = {_g(depth.sigmoid_bound, '.2g')}")
        caption_bound = (f" The dashed line is the sigmoid bound: from the last layer's value, a factor 0.25 (the "
                         f"largest slope of a sigmoid) per layer, {_g(depth.sigmoid_bound, '.2g')} at the first; "
                         "the weights' own gains move the measured line away from it.")
    _log_or_empty(ax, bool(np.isfinite(norms).any()), "‖∂L/∂output‖")
    if len(modules) <= _MAX_TICKS:
        ax.set_xticks(x, [_label(m) for m in modules], rotation=60, ha="right", rotation_mode="anchor")
    elif len(layers) <= _MAX_TICKS:
        ax.set_xticks(layers, [_label(modules[i]) for i in layers], rotation=60, ha="right", rotation_mode="anchor")
    else:
        _integer_ticks(ax)
    ax.set(xlabel="module, in the order they ran", ylabel="‖∂L/∂output‖",
           title="The gradient at each module's output, input side on the left")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    ratio = (f" First/last weighted layer: {_g(depth.first_last_ratio, '.2g')}."
             if math.isfinite(depth.first_last_ratio) else "")
    caption = (f"{len(modules)} modules, {len(layers)} of them weighted; median over {batches} batch(es)."
               f"{ratio}{caption_bound}")
    if infinite:
        caption += " Infinite values are not drawn."
    if zero or np.isnan(np.asarray([m.grad_norm for m in modules], dtype=float)).any():
        caption += " Modules no gradient reached (zero or none) are left out of the log scale."
    return Figure("The gradient through depth", caption, _png(fig))


def _parameters_table(parameters: Sequence[ParameterReading], batches: int) -> Table:
    rows = [[p.name, "×".join(map(str, p.shape)) or "scalar", _g(p.grad_norm), _g(p.weight_norm), _g(p.ratio)]
            for p in parameters]
    return Table("Parameters", ["parameter", "shape", "‖gradient‖", "‖weight‖", "‖gradient‖ / ‖weight‖"], rows,
                 f"Median gradient norm over {batches} batch(es). The ratio is the relative size of one SGD step at "
                 "learning rate 1: a layer whose ratio is orders of magnitude below the others' barely learns.")


def _treatment_html(treatment: Treatment) -> str:
    seeds = treatment.seeds
    parts = ["<h2>Treatment</h2>",
             f"<p>Each remedy trained a copy of the model for {treatment.steps} steps on each of {seeds} seed(s), "
             "paired by seed with the untreated copy (same batch order, same dropout masks); the model itself was "
             "not trained.</p>"]
    parts.append(f'<div class="remedies">{_table_html(_remedies_table(treatment))}</div>')
    curves = _curves_figure(treatment)
    if curves is not None:
        parts.append(_figure_html(curves))
    best = treatment.best
    if best is not None:
        parts.append(f'<h3>Best remedy: <span class="fixed">{html.escape(best.name)}</span></h3>'
                     f"<p>{html.escape(best.description)}. Apply it to your model:</p>"
                     f"<pre><code>{html.escape(chr(10).join(best.code))}</code></pre>")
    elif treatment.trials:
        parts.append('<p class="note">No remedy fixed it within these steps: none beat the untreated copy on '
                     "enough seeds without diverging. More steps or seeds may tell them apart.</p>")
    else:
        parts.append(f'<p class="note">{html.escape(treatment.outcome)}</p>')
    return "\n".join(parts)


def _remedies_table(treatment: Treatment) -> Table:
    seeds = treatment.seeds
    rows = []
    for trial in (treatment.untreated, *treatment.trials):
        untreated = trial is treatment.untreated
        if trial.error and len(trial.final_losses) < seeds:
            rows.append([trial.name, f"could not run: {trial.error}", "—", "—", "—", "—", "—", "—", "—", "no"])
            continue
        after = ", ".join(sorted(trial.after.kinds)) if trial.after is not None else "—"
        loss = _g(trial.median_loss, ".4g") if math.isfinite(trial.median_loss) else "diverged"
        rows.append([trial.name, trial.description, loss, f"{trial.divergences}/{seeds}",
                     "—" if untreated else f"{trial.wins}/{seeds}", "—" if untreated else _g(trial.p_value),
                     "—" if trial.horizon is None else str(trial.horizon), after,
                     f"{statistics.median(trial.seconds):.1f}" if trial.seconds else "—",
                     "—" if untreated else ("yes" if trial.fixed else "no")])
    return Table("Remedies", ["remedy", "what it does", "final loss (median)", "diverged", "wins", "sign-test p",
                              "horizon", "verdicts after", "seconds per seed", "fixed"], rows,
                 "Final loss: the mean over the last tenth of the steps, median over seeds. Wins: seeds on which "
                 "the remedy ended below the untreated copy; p: one-sided sign test of the wins. Horizon: the "
                 "shortest over the recurrent layers after training. Fixed: never diverged, won on enough seeds for "
                 "p ≤ 0.05 (5 of 5 at least), and the untreated copy diverged or the median final loss fell by at "
                 "least 10 %.")


def _median_curve(trial: Trial, steps: int) -> np.ndarray:
    padded = np.full((max(len(trial.curves), 1), steps), np.nan)
    for row, curve in enumerate(trial.curves):
        values = np.asarray(curve[:steps], dtype=np.float64)
        padded[row, : len(values)] = np.where(np.isfinite(values), values, np.nan)
    return nan_quantiles(padded, 0, (0.5,))[0]


def _curves_figure(treatment: Treatment) -> Figure | None:
    """Training loss of the untreated copy and each remedy, median over seeds, divergences marked."""
    trials = [t for t in (treatment.untreated, *treatment.trials) if t.curves]
    if not trials:
        return None
    steps = treatment.steps
    medians = {t.name: _median_curve(t, steps) for t in trials}
    # The scale follows the copies that kept training: a copy that blew up on its first step would
    # otherwise squash every other curve into one line at the bottom.
    steady = [t for t in trials if not t.divergences] or trials
    values = np.concatenate([medians[t.name][np.isfinite(medians[t.name])] for t in steady])
    log = values.size > 0 and bool((values > 0).all())
    fig, ax = plt.subplots(figsize=_size(11.5, 4.6))
    top = ax.get_xaxis_transform()  # x in steps, y as a fraction of the axes' height
    rows = 0
    for index, trial in enumerate(trials):
        untreated = trial is treatment.untreated
        color = PALETTE["black"] if untreated else PALETTE[_LINES[(index - 1) % len(_LINES)]]
        style = "-" if untreated or index <= len(_LINES) else "--"
        label = trial.name + (" ★" if trial is treatment.best else "")
        median = medians[trial.name]
        marker = "o" if np.isfinite(median).sum() < 3 else None  # a curve of one point still shows
        ax.plot(np.arange(steps), median, color=color, linestyle=style, marker=marker,
                linewidth=2.4 if untreated else 1.5, label=label)
        stops = [step for step in trial.diverged_at if step is not None]
        if stops:  # one row of × per diverging copy along the top, at the steps its seeds diverged
            ax.plot(stops, [0.96 - 0.045 * rows] * len(stops), "x", color=color, markersize=8, markeredgewidth=2,
                    transform=top, clip_on=False)
            rows += 1
    if log:
        ax.set_yscale("log")
    if values.size:
        low, high = float(values.min()), float(values.max())
        if log:
            ax.set_ylim(low / 1.3, high * 1.3 if high > low else high * 10)
            _whole_decades(ax)
        else:
            margin = 0.08 * (high - low) or 1.0
            ax.set_ylim(low - margin, high + margin)
    if rows:
        ax.plot([], [], "x", color=PALETTE["grey"], markeredgewidth=2, label="a seed diverged here")
    ax.set(xlabel="training step", ylabel="training loss (median over seeds)",
           title="Training loss: the untreated copy (black) and each remedy")
    _integer_ticks(ax)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    caption = (f"{len(trials) - 1} remedies and the untreated copy, {steps} steps, median over "
               f"{treatment.seeds} seed(s)" + ("; ★ the best remedy" if treatment.best is not None else "") + ".")
    if rows:
        caption += (" Each row of × along the top is one copy whose seeds diverged (a loss or gradient not finite) "
                    "at those steps; after a divergence the median is over the seeds still training, and the line "
                    "ends when none is.")
        if steady is not trials:
            caption += " The scale follows the copies that never diverged; larger losses run off the top."
    if not log:
        caption += " Linear scale: some losses are zero or negative."
    return Figure("Training with each remedy", caption, _png(fig))
