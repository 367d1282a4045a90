"""Interactive plots read from the report's own figures: what each matplotlib figure draws, as JSON for uPlot.

A study's figures module draws with matplotlib and renders to PNG (``gradtrace.report.figures._png``); inside
:func:`~gradtrace.report.figures.keeping_figures` the drawn figure is kept, and :func:`plot_of` reads its
artists back: each axes becomes a panel, each line a series on one shared x, a ``fill_between`` band the range
of the line of its color, error bars that line's range, bars and histograms a series of bar tops, reference
lines (``axhline``, ``axvline``) and shaded spans (``axvspan``) marks drawn behind the data. So the run browser
shows the same data as the report, with no second copy of any study's figure code.

A figure that holds what a line plot cannot show (an image, a contour map, a colorbar) is not converted:
:func:`plot_of` says why, and the browser shows the report's PNG instead.

The JSON of a figure::

    {"rows": 1, "cols": 2, "panels": [{"row": 0, "col": 0, "rowspan": 1, "colspan": 1, "title": ..., "xlabel": ...,
     "ylabel": ..., "xlog": false, "ylog": true, "xlim": [a, b], "ylim": [a, b], "xticks": [[value, label]] | null,
     "yticks": ..., "legend_title": ..., "x": [...], "series": [{"label", "color", "alpha", "dash", "width",
     "line", "points", "marker", "y", "absent", "lo", "hi", "bars"}], "hlines": [...], "vlines": [...], "spans": [...],
     "texts": [...], "clouds": [...]}]}

Numbers are kept to :data:`DIGITS` significant digits; NaN, infinities and, on a logarithmic axis, values that
are not positive, are ``null`` (a gap).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib.collections import FillBetweenPolyCollection, LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_hex, to_rgba
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation
from matplotlib.ticker import FixedLocator

__all__ = ["DIGITS", "MAX_POINTS", "plot_of", "plain_text"]

#: Significant digits kept of every number: more than the hover legend shows (4), far fewer bytes than float64's 17.
DIGITS = 6
#: The most points a panel's shared x keeps; a longer one is thinned evenly, its first and last points kept. A
#: training curve of many thousand steps reads the same at the width of a page.
MAX_POINTS = 4000

# matplotlib's named line styles as canvas dash patterns (CSS pixels): solid is [].
_DASHES = {"-": [], "solid": [], "--": [6, 4], "dashed": [6, 4], ":": [1.5, 3], "dotted": [1.5, 3],
           "-.": [7, 3, 1.5, 3], "dashdot": [7, 3, 1.5, 3]}
# Scales a uPlot scale draws: linear, log (distr 3) and symlog (asinh, distr 4: linear near 0, logarithmic beyond).
_SCALES = ("linear", "log", "symlog")
_NO_LINE = ("None", "none", " ", "", None)
_NO_MARKER = ("None", "none", " ", "", None, ",")


class Unconvertible(Exception):
    """A figure holds something no line plot can show; its message says what."""


def plot_of(fig: Any) -> tuple[dict[str, Any] | None, str]:
    """Return the JSON description of a matplotlib figure's plots, or None and why it cannot be one.

    Args:
        fig: a matplotlib Figure, drawn (and rendered, so its limits are final) by a study's figures module.

    Returns:
        ``(plot, "")`` when every axes could be read; ``(None, reason)`` when the figure holds an image, a
        contour map, a colorbar or another artist no line plot shows (the caller shows the PNG instead).
    """
    colors = _legend_names(fig)
    panels = []
    try:
        for ax in fig.axes:
            panel = _panel(ax, colors)
            if panel is not None:
                panels.append(panel)
    except Unconvertible as error:
        return None, str(error)
    if not panels:
        return None, "no axes with data"
    rows = max(p["row"] + p["rowspan"] for p in panels)
    cols = max(p["col"] + p["colspan"] for p in panels)
    return {"rows": rows, "cols": cols, "panels": panels}, ""


def _legend_names(fig: Any) -> dict[tuple[str, str], str]:
    """Return the legend's words by (color, dash) and by (color, "") for every labeled artist and legend entry.

    An unlabeled line (the dashed envelope beside a labeled median) is named after the labeled one of its color;
    legends drawn with proxy handles name lines that carry no label of their own.
    """
    names: dict[tuple[str, str], str] = {}

    def add(color: Any, dash: str, label: str) -> None:
        if not label or label.startswith("_"):
            return
        try:
            hexed = to_hex(color)
        except (TypeError, ValueError):
            return
        names.setdefault((hexed, dash), plain_text(label))
        names.setdefault((hexed, ""), plain_text(label))

    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    for legend in (entry for entry in legends if isinstance(entry, Legend)):
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if isinstance(handle, Line2D):
                add(handle.get_color(), str(handle.get_linestyle()), text.get_text())
            elif handle is not None and hasattr(handle, "get_facecolor"):
                face = handle.get_facecolor()
                add(face[0] if np.ndim(face) == 2 and len(face) else face, "", text.get_text())
    for ax in fig.axes:
        for line in ax.lines:
            add(line.get_color(), str(line.get_linestyle()), line.get_label())
    return names


def _panel(ax: Any, names: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    """Read one axes; None for an axes that shows nothing (switched off, or a legend's holder)."""
    if not ax.get_visible():
        return None
    if getattr(ax, "name", "rectilinear") != "rectilinear":
        raise Unconvertible(f"a {ax.name} axes")
    if ax.images:
        raise Unconvertible("an image (a heat map)")
    if any(type(c).__name__ in ("QuadMesh", "QuadContourSet", "ContourSet", "TriMesh", "PolyQuadMesh")
           for c in ax.collections):
        raise Unconvertible("a contour map or color mesh")
    if hasattr(ax, "_colorbar"):
        raise Unconvertible("a colorbar")
    xlog, ylog = ax.get_xscale() == "log", ax.get_yscale() == "log"
    if ax.get_xscale() not in _SCALES or ax.get_yscale() not in _SCALES:
        raise Unconvertible(f"a {ax.get_xscale()}/{ax.get_yscale()} scale")
    reader = _Reader(ax, names, xlog, ylog)
    reader.read()
    if not reader.series and not reader.clouds and not reader.hlines and not reader.vlines:
        return None
    geometry = _geometry(ax)
    legend = ax.get_legend()
    title = legend.get_title().get_text() if legend is not None else ""
    panel = {
        **geometry,
        "title": plain_text(ax.get_title() or ax.get_title(loc="left") or ax.get_title(loc="right")),
        "title_color": _hex(ax.title.get_color()),
        "xlabel": plain_text(ax.get_xlabel()),
        "ylabel": plain_text(ax.get_ylabel()),
        "xlog": xlog,
        "ylog": ylog,
        "xsymlog": _linear_threshold(ax.xaxis),
        "ysymlog": _linear_threshold(ax.yaxis),
        "xlim": _limits(ax.get_xlim()),
        "ylim": _limits(ax.get_ylim()),
        "xticks": _ticks(ax.xaxis),
        "yticks": _ticks(ax.yaxis),
        "legend_title": plain_text(title),
    }
    panel.update(reader.finish())
    return panel


def _linear_threshold(axis: Any) -> float | None:
    """Return a symlog axis's linear threshold (uPlot's asinh scale draws it alike), else None."""
    if axis.get_scale() != "symlog":
        return None
    return _round(float(getattr(axis.get_transform(), "linthresh", 1.0)))


def _geometry(ax: Any) -> dict[str, int]:
    spec = ax.get_subplotspec()
    if spec is None:
        return {"row": 0, "col": 0, "rowspan": 1, "colspan": 1}
    return {"row": spec.rowspan.start, "col": spec.colspan.start, "rowspan": len(spec.rowspan),
            "colspan": len(spec.colspan)}


def _limits(pair: Iterable[float]) -> list[float]:
    low, high = (float(v) for v in pair)
    return [_round(min(low, high)), _round(max(low, high))]


def _ticks(axis: Any) -> list[list[Any]] | None:
    """Return ``[[value, label], ...]`` where the figure set its ticks (categories, the ρ of each run), else None."""
    if not isinstance(axis.get_major_locator(), FixedLocator):
        return None
    labels = [" ".join(plain_text(t.get_text()).split()) for t in axis.get_ticklabels()]
    values = [float(v) for v in axis.get_ticklocs()]
    return [[_round(v), label] for v, label in zip(values, labels)]


class _Reader:
    """Collects one axes' series on a shared x, and its marks."""

    def __init__(self, ax: Any, names: dict[tuple[str, str], str], xlog: bool, ylog: bool):
        self.ax, self.names, self.xlog, self.ylog = ax, names, xlog, ylog
        self.series: list[dict[str, Any]] = []  # each with "xs", "ys" (numpy), "lo", "hi" by x, later aligned
        self.hlines: list[dict[str, Any]] = []
        self.vlines: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.texts: list[dict[str, Any]] = []
        self.clouds: list[dict[str, Any]] = []
        self.line_notes: dict[float, str] = {}

    def read(self) -> None:
        ax = self.ax
        skipped: set[int] = set()
        for container in ax.containers:
            if isinstance(container, ErrorbarContainer):
                skipped.update(self._errorbar(container))
            elif isinstance(container, BarContainer):
                skipped.update(id(p) for p in container.patches)
                self._bars(container)
        for line in ax.lines:
            if id(line) not in skipped:
                self._line(line)
        bands = []
        for collection in ax.collections:
            if id(collection) in skipped:
                continue
            if isinstance(collection, FillBetweenPolyCollection) or (
                    isinstance(collection, PolyCollection) and type(collection) is PolyCollection):
                bands.append(collection)
            elif isinstance(collection, PathCollection):
                self._scatter(collection)
            elif isinstance(collection, LineCollection):
                raise Unconvertible("a collection of line segments")
            else:
                raise Unconvertible(f"a {type(collection).__name__}")
        for band in bands:
            self._band(band)
        for patch in ax.patches:
            if id(patch) in skipped:
                continue
            if isinstance(patch, Rectangle):
                self._span(patch)
            else:
                raise Unconvertible(f"a {type(patch).__name__} patch")
        for text in ax.texts:
            self._text(text)

    # -- artists ------------------------------------------------------------------------------------------------

    def _name(self, label: str, color: str, dash: str) -> str:
        if label and not label.startswith("_"):
            return plain_text(label)
        return self.names.get((color, dash)) or self.names.get((color, "")) or ""

    def _style(self, artist: Any, color: Any) -> dict[str, Any]:
        rgba = to_rgba(color)
        alpha = artist.get_alpha()
        return {"color": to_hex(rgba), "alpha": _round(rgba[3] * (1.0 if alpha is None else alpha))}

    def _line(self, line: Line2D) -> None:
        transform = line.get_transform()
        ax = self.ax
        dash = str(line.get_linestyle())
        style = {**self._style(line, line.get_color()), "dash": _DASHES.get(dash, []),
                 "width": _round(min(max(line.get_linewidth(), 0.5), 4.0))}
        label = self._name(line.get_label(), style["color"], dash)
        if transform == ax.get_yaxis_transform():  # axhline: x spans the axes, y is data
            value = _finite(np.asarray(line.get_ydata(), dtype=float))
            if value.size and np.all(value == value[0]):
                self.hlines.append({"y": _round(float(value[0])), **style, "label": _own_label(line)})
                return
        if transform == ax.get_xaxis_transform():  # axvline
            value = _finite(np.asarray(line.get_xdata(), dtype=float))
            if value.size and np.all(value == value[0]):
                self.vlines.append({"x": _round(float(value[0])), **style, "label": _own_label(line)})
                return
        if transform != ax.transData:
            raise Unconvertible("a line not drawn in data coordinates")
        xs, ys = _numbers(line.get_xdata()), _numbers(line.get_ydata())
        if xs is None or ys is None or xs.shape != ys.shape:
            raise Unconvertible("a line whose data are not numbers")
        marker = line.get_marker()
        shows_marker = marker not in _NO_MARKER
        size = _round(min(max(line.get_markersize(), 3.0), 14.0))
        if dash in _NO_LINE and shows_marker and _repeats(xs):  # a strip of points (seeds at one x)
            self._cloud(xs, ys, {**style, "label": label, "size": size})
            return
        self._add(xs, ys, {**style, "label": label, "line": dash not in _NO_LINE,
                           "points": bool(shows_marker), "marker": _marker(marker), "size": size})

    def _errorbar(self, container: ErrorbarContainer) -> set[int]:
        data_line, caplines, barlinecols = container.lines
        used = {id(c) for c in caplines} | {id(c) for c in barlinecols}
        if data_line is None:
            return used
        used.add(id(data_line))
        before = len(self.series)
        label = container.get_label()
        if label and not label.startswith("_"):
            data_line.set_label(label)
        self._line(data_line)
        if len(self.series) == before:
            return used
        series = self.series[-1]
        ranges: dict[float, tuple[float, float]] = {}
        for collection in barlinecols:
            for segment in collection.get_segments():
                (x0, y0), (x1, y1) = segment[0], segment[-1]
                if x0 == x1 and y0 != y1:  # vertical bars only: the y range at x
                    ranges[float(x0)] = (min(y0, y1), max(y0, y1))
        if ranges:
            series["lo"] = {x: r[0] for x, r in ranges.items()}
            series["hi"] = {x: r[1] for x, r in ranges.items()}
        return used

    def _bars(self, container: BarContainer) -> None:
        patches = [p for p in container.patches if p.get_visible()]
        if not patches:
            return
        if getattr(container, "orientation", "vertical") != "vertical":
            raise Unconvertible("horizontal bars")
        first = patches[0]
        style = self._style(first, first.get_facecolor())
        label = self._name(container.get_label(), style["color"], "")
        xs = np.array([p.get_x() + p.get_width() / 2 for p in patches], dtype=float)
        bottoms = np.array([p.get_y() for p in patches], dtype=float)
        tops = bottoms + np.array([p.get_height() for p in patches], dtype=float)
        widths = np.array([p.get_width() for p in patches], dtype=float)
        self._add(xs, tops, {**style, "label": label, "dash": [], "width": 1, "line": False, "points": False,
                             "marker": "o", "size": 4},
                  bars={"bottom": dict(zip(xs.tolist(), bottoms.tolist())),
                        "width": dict(zip(xs.tolist(), widths.tolist()))})

    def _scatter(self, collection: PathCollection) -> None:
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if offsets.ndim != 2 or not len(offsets):
            return
        if collection.get_transform() != self.ax.transData and collection.get_offset_transform() != self.ax.transData:
            raise Unconvertible("points not drawn in data coordinates")
        faces = collection.get_facecolors()
        edges = collection.get_edgecolors()
        color = faces[0] if len(faces) and faces[0][3] > 0 else (edges[0] if len(edges) else (0, 0, 0, 1))
        style = self._style(collection, color)
        label = self._name(collection.get_label(), style["color"], "")
        sizes = collection.get_sizes()
        size = _round(min(max(math.sqrt(float(sizes[0])) if len(sizes) else 5.0, 3.0), 12.0))
        xs, ys = offsets[:, 0], offsets[:, 1]
        if _repeats(xs):
            self._cloud(xs, ys, {**style, "label": label, "size": size})
        else:
            self._add(xs, ys, {**style, "label": label, "dash": [], "width": 1, "line": False, "points": True,
                               "marker": "o", "size": size})

    def _cloud(self, xs: np.ndarray, ys: np.ndarray, style: dict[str, Any]) -> None:
        """Keep points that share an x (seeds at one length): no series holds them, so they are drawn, not hovered."""
        keep = np.isfinite(xs) & np.isfinite(ys)
        self.clouds.append({**style, "x": [_round(v) for v in xs[keep]], "y": [_round(v) for v in ys[keep]]})

    def _band(self, collection: PolyCollection) -> None:
        xs, lows, highs = [], [], []
        for path in collection.get_paths():
            vertices = np.asarray(path.vertices, dtype=float)
            count = (len(vertices) - 3) // 2
            if count < 1 or len(vertices) != 2 * count + 3:
                raise Unconvertible("a filled polygon that is not a band")
            forward, backward = vertices[1:count + 1], vertices[count + 2:2 * count + 2][::-1]
            if not np.array_equal(forward[:, 0], backward[:, 0]):
                raise Unconvertible("a filled polygon that is not a band")
            xs.append(forward[:, 0])
            lows.append(np.minimum(forward[:, 1], backward[:, 1]))
            highs.append(np.maximum(forward[:, 1], backward[:, 1]))
        if not xs:
            return
        x, low, high = np.concatenate(xs), np.concatenate(lows), np.concatenate(highs)
        faces = collection.get_facecolors()
        color = to_hex(faces[0]) if len(faces) else "#000000"
        # The band of a median line (report.figures._band) has its color: it becomes that line's range.
        for series in self.series:
            if series["color"] == color and series["line"] and "lo" not in series and set(x.tolist()) <= set(
                    series["xs"].tolist()):
                series["lo"] = dict(zip(x.tolist(), low.tolist()))
                series["hi"] = dict(zip(x.tolist(), high.tolist()))
                series["band_alpha"] = _round(float(faces[0][3]) if len(faces) else 0.2)
                return
        style = self._style(collection, faces[0] if len(faces) else "#000000")
        self._add(x, np.full_like(x, np.nan), {**style, "label": self._name(collection.get_label(), color, ""),
                                               "dash": [], "width": 1, "line": False, "points": False,
                                               "marker": "o", "size": 4})
        self.series[-1].update(lo=dict(zip(x.tolist(), low.tolist())), hi=dict(zip(x.tolist(), high.tolist())),
                               band_alpha=style["alpha"])

    def _span(self, patch: Rectangle) -> None:
        transform = patch.get_data_transform()
        style = self._style(patch, patch.get_facecolor())
        label = _own_label(patch)
        x0, y0 = patch.get_x(), patch.get_y()
        x1, y1 = x0 + patch.get_width(), y0 + patch.get_height()
        if transform == self.ax.get_xaxis_transform():  # axvspan
            self.spans.append({"axis": "x", "from": _round(x0), "to": _round(x1), **style, "label": label})
        elif transform == self.ax.get_yaxis_transform():  # axhspan
            self.spans.append({"axis": "y", "from": _round(y0), "to": _round(y1), **style, "label": label})
        else:
            raise Unconvertible("a rectangle that is not a shaded span")

    def _text(self, text: Any) -> None:
        """Keep a text written at a data point (a label beside a curve); others (axes fractions) are dropped."""
        words = plain_text(text.get_text())
        if not words:
            return
        if isinstance(text, Annotation):
            coords = text.xycoords
            x, y = text.xy
            if coords == ("axes fraction", "data"):
                self.line_notes[_round(float(y))] = words  # a reference line's name, written at its end
                return
        else:
            coords = "data" if text.get_transform() == self.ax.transData else "other"
            x, y = text.get_position()
        if coords != "data":
            return
        self.texts.append({"x": _round(float(x)), "y": _round(float(y)), "text": words,
                           "color": _hex(text.get_color())})

    # -- alignment ----------------------------------------------------------------------------------------------

    def _add(self, xs: np.ndarray, ys: np.ndarray, style: dict[str, Any], bars: dict | None = None) -> None:
        keep = np.isfinite(xs)
        if self.xlog:
            keep &= xs > 0
        xs, ys = xs[keep], ys[keep]
        if not xs.size:
            return
        # One value per x: a line that doubles back on x (a closed shape) is no series.
        unique, first = np.unique(xs, return_index=True)
        if unique.size != xs.size:
            raise Unconvertible("a line with several values at one x")
        self.series.append({**style, "xs": xs, "ys": ys, "bars": bars})

    def finish(self) -> dict[str, Any]:
        """Align every series on the union of their x, thinned to MAX_POINTS; return the panel's data."""
        if self.series:
            x = np.unique(np.concatenate([s["xs"] for s in self.series]))
        else:
            x = np.zeros(0)
        if x.size > MAX_POINTS:
            x = x[np.unique(np.linspace(0, x.size - 1, MAX_POINTS).round().astype(int))]
        position = {value: i for i, value in enumerate(x.tolist())}
        series = []
        for s in self.series:
            y = [None] * x.size
            present = [False] * x.size
            for xv, yv in zip(s["xs"].tolist(), s["ys"].tolist()):
                i = position.get(xv)
                if i is not None:
                    y[i] = self._y(yv)
                    present[i] = True
            entry = {key: value for key, value in s.items() if key not in ("xs", "ys", "lo", "hi", "bars")}
            entry["y"] = y
            # Where the series has no point (another series' x), the line goes on; where its value is NaN (null in
            # "y"), the line breaks, as matplotlib draws it.
            absent = [i for i, here in enumerate(present) if not here]
            if absent:
                entry["absent"] = absent
            for key in ("lo", "hi"):
                if key in s:
                    values = [None] * x.size
                    for xv, yv in s[key].items():
                        i = position.get(xv)
                        if i is not None:
                            values[i] = self._y(yv)
                    entry[key] = values
            if s.get("bars"):
                entry["bars"] = {key: [_round(s["bars"][key][xv]) if xv in s["bars"][key] else None
                                       for xv in x.tolist()] for key in ("bottom", "width")}
            series.append(entry)
        for line in self.hlines:
            line["label"] = line["label"] or self.line_notes.get(line["y"], "")
        ticks = dict((value, label) for value, label in (_ticks(self.ax.xaxis) or []))
        unnamed = []
        for entry in series:
            if entry["label"]:
                continue
            shown = [x[i] for i, value in enumerate(entry["y"]) if value is not None]
            # One point at a named tick (a model, a ρ): the tick names it.
            if len(shown) == 1 and ticks.get(_round(shown[0])):
                entry["label"] = ticks[_round(shown[0])]
            else:
                unnamed.append(entry)
        for number, entry in enumerate(unnamed, start=1):
            entry["label"] = plain_text(self.ax.get_ylabel()) or "y"
            if len(unnamed) > 1:
                entry["label"] += f" ({number})"
        return {"x": [_round(v) for v in x.tolist()], "series": series, "hlines": self.hlines,
                "vlines": self.vlines, "spans": self.spans, "texts": self.texts, "clouds": self.clouds}

    def _y(self, value: float) -> float | None:
        if value is None or not math.isfinite(value) or (self.ylog and value <= 0):
            return None
        return _round(value)


def _own_label(artist: Any) -> str:
    label = artist.get_label()
    return "" if not label or label.startswith("_") else plain_text(label)


def _numbers(values: Any) -> np.ndarray | None:
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return None


def _repeats(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return len(np.unique(finite)) < len(finite)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _marker(marker: Any) -> str:
    return {"s": "square", "^": "triangle", "v": "triangle", "x": "cross", "+": "cross", "*": "star",
            "D": "diamond", "d": "diamond"}.get(str(marker), "circle")


def _hex(color: Any) -> str:
    try:
        return to_hex(color)
    except (TypeError, ValueError):
        return "#000000"


def _round(value: float) -> float | None:
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


# -- text ----------------------------------------------------------------------------------------------------------

# The mathtext the figures' labels use, written in plain Unicode: a browser shows "‖∂L/∂h_t‖", not TeX.
_SYMBOLS = {
    r"\partial": "∂", r"\|": "‖", r"\sigma": "σ", r"\rho": "ρ", r"\lambda": "λ", r"\alpha": "α", r"\beta": "β",
    r"\gamma": "γ", r"\delta": "δ", r"\Delta": "Δ", r"\eta": "η", r"\theta": "θ", r"\mu": "μ", r"\nu": "ν",
    r"\tau": "τ", r"\phi": "φ", r"\varphi": "φ", r"\epsilon": "ε", r"\varepsilon": "ε", r"\omega": "ω",
    r"\Omega": "Ω", r"\pi": "π", r"\xi": "ξ", r"\chi": "χ", r"\psi": "ψ", r"\kappa": "κ", r"\zeta": "ζ",
    r"\odot": "⊙", r"\cdot": "·", r"\times": "×", r"\approx": "≈", r"\leq": "≤", r"\geq": "≥", r"\le": "≤",
    r"\ge": "≥", r"\neq": "≠", r"\pm": "±", r"\infty": "∞", r"\sqrt": "√", r"\sum": "Σ", r"\prod": "Π",
    r"\to": "→", r"\rightarrow": "→", r"\leftarrow": "←", r"\top": "ᵀ", r"\prime": "′", r"\ell": "ℓ",
    r"\nabla": "∇", r"\log": "log", r"\exp": "exp", r"\max": "max", r"\min": "min", r"\tanh": "tanh",
    r"\langle": "⟨", r"\rangle": "⟩", r"\mid": "|", r"\in": "∈", r"\sim": "~", r"\propto": "∝",
    r"\,": " ", r"\ ": " ", r"\;": " ", r"\!": "", r"\quad": "  ", r"\%": "%", r"\{": "{", r"\}": "}",
    r"\left": "", r"\right": "", r"\big": "", r"\Big": "", r"\mathrm": "", r"\mathbf": "", r"\mathit": "",
    r"\mathcal": "", r"\text": "", r"\operatorname": "", r"\boldsymbol": "", r"\hat": "", r"\tilde": "",
    r"\frac": "",
}
# Binary operators read better with a space each side, whatever spacing the TeX source had.
_OPERATORS = "⊙·×≈≤≥≠→∝∈"
# Accents: the next letter (or group) takes a combining mark, \hat y → ŷ.
_ACCENT = re.compile(r"\\(hat|tilde|bar|vec|dot)\s*(\{([^{}]*)\}|([A-Za-z]))")
_MARKS = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304", "vec": "\u20d7", "dot": "\u0307"}
_COMMAND = re.compile(r"(\\[A-Za-z]+) ?|(\\[,;! %{}|])")
_SUPERSCRIPTS = str.maketrans("0123456789+-−()niTk", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁽⁾ⁿⁱᵀᵏ")
_GROUP = re.compile(r"([_^])(\{([^{}]*)\}|(\\[A-Za-z]+|.))")


def plain_text(text: str) -> str:
    r"""Return a figure's label with its mathtext (``$...$``) written in plain Unicode.

    Example:
        >>> plain_text(r"$\|\partial L/\partial h_{T-k}\|$ / $\sigma_{max}^k$")
        '‖∂L/∂h_(T-k)‖ / σ_maxᵏ'
        >>> plain_text(r"$W_{out}^\top \partial L/\partial \hat y_t$, $\tanh'_t \odot \delta_t$")
        "W_outᵀ∂L/∂ŷ_t, tanh'_t ⊙ δ_t"
    """
    if "$" not in text:
        return text.strip()
    parts = text.split("$")
    out = []
    for index, part in enumerate(parts):
        out.append(_math(part) if index % 2 else part)
    return "".join(out).strip()


def _math(text: str) -> str:
    text = _ACCENT.sub(lambda m: (m.group(3) if m.group(3) is not None else m.group(4)) + _MARKS[m.group(1)], text)
    def command(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return _SYMBOLS.get(name, name[1:])

    text = _COMMAND.sub(command, text)

    def group(match: re.Match) -> str:
        mark, body = match.group(1), match.group(3) if match.group(3) is not None else match.group(4)
        if mark == "^":
            lifted = body.translate(_SUPERSCRIPTS)
            return lifted if all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿⁱᵀᵏ′ᵀ" for ch in lifted) else f"^{body}"
        # As the captions write them: h_t, σ_max, h_(t−1).
        return f"_{body}" if body.isalnum() or len(body) <= 1 else f"_({body})"

    previous = None
    while previous != text:  # nested groups, innermost first
        previous, text = text, _GROUP.sub(group, text)
    text = text.replace("{", "").replace("}", "")
    for operator in _OPERATORS:
        text = text.replace(operator, f" {operator} ")
    text = re.sub(r"\s{2,}", " ", text).replace("( ", "(").replace(" )", ")")
    return unicodedata.normalize("NFC", text)  # y + combining circumflex → ŷ
