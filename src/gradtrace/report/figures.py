"""The report kit every study's figures share (each study draws its own, in ``gradtrace.studies.<study>.figures``):
the font sizes, the figure sizes that keep text legible at the report's width, and the one palette of the report.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import Formatter, MaxNLocator, ScalarFormatter  # noqa: E402

from gradtrace.report.i18n import number  # noqa: E402
from gradtrace.store import RunRecord, Store  # noqa: E402
from gradtrace.studies.stats import nan_quantiles  # noqa: E402

__all__ = ["DPI", "MAX_FIGURE_WIDTH", "MIN_FONT_PX", "PALETTE", "REPORT_WIDTH_PX", "Figure", "Table",
           "keeping_figures", "ordered_colors", "spread"]

#: The widest an image is shown in the report (CSS pixels): the page's content width. A wider PNG is scaled down.
REPORT_WIDTH_PX = 1100
#: The smallest text a reader should meet on screen (CSS pixels), once an image is scaled to the report's width.
MIN_FONT_PX = 10
#: Pixels per inch of the PNGs.
DPI = 110
# The smallest font any figure uses (points): tick labels and legends.
_SMALLEST_FONT_PT = 10
#: The widest figure (inches) whose smallest text still shows at MIN_FONT_PX once scaled to REPORT_WIDTH_PX: a
#: font of f points on a figure W inches wide shows at f · REPORT_WIDTH_PX / (72 · W) pixels. A little margin is
#: kept for what bbox_inches="tight" adds (a legend outside the axes).
MAX_FIGURE_WIDTH = 0.9 * _SMALLEST_FONT_PT * REPORT_WIDTH_PX / (72 * MIN_FONT_PX)

# Font sizes set once, for every figure of the report; modules pass no fontsize of their own below these.
plt.rcParams.update({
    "font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "figure.titlesize": 12,
    "xtick.labelsize": _SMALLEST_FONT_PT, "ytick.labelsize": _SMALLEST_FONT_PT,
    "legend.fontsize": _SMALLEST_FONT_PT, "legend.title_fontsize": _SMALLEST_FONT_PT,
    "legend.framealpha": 0.9,
})

#: The report's one palette: every categorical color of every figure comes from here (colorblind-safe Okabe–Ito
#: hues, plus black and grey for references).
PALETTE = {
    "red": "#d55e00", "blue": "#0072b2", "green": "#009e73", "orange": "#e69f00", "purple": "#8e44ad",
    "sky": "#56b4e9", "pink": "#cc79a7", "brown": "#8c564b", "olive": "#7f7f00", "grey": "#7f7f7f",
    "black": "#000000",
}
# An ordered parameter (ρ, a gain, a depth) is drawn with this sequential map, cut before its palest end so no
# line fades into the white background.
_SEQUENTIAL, _SEQUENTIAL_RANGE = "plasma", (0.0, 0.85)

# The figures kept by keeping_figures() in this context, by PNG; None: none are kept (the report's case).
_KEPT: ContextVar[dict[bytes, Any] | None] = ContextVar("gradtrace_kept_figures", default=None)

# Gradients beyond these are off any useful scale; clip so one exploded member does not flatten
# every other curve.
_FLOOR, _CEILING = 1e-30, 1e30


def ordered_colors(values: Iterable[float]) -> dict[float, tuple]:
    """Return a color per value, darkest for the smallest, so the colors read in the order of the values.

    Example:
        >>> colors = ordered_colors([1.2, 0.5, 0.8])
        >>> list(colors)
        [0.5, 0.8, 1.2]
    """
    ordered = sorted(set(values))
    low, high = _SEQUENTIAL_RANGE
    shades = plt.get_cmap(_SEQUENTIAL)(np.linspace(low, high, max(len(ordered), 2)))
    return {value: tuple(shade) for value, shade in zip(ordered, shades)}


def _size(width: float, height: float) -> tuple[float, float]:
    """Return a figsize no wider than MAX_FIGURE_WIDTH, the height shrunk in proportion (text stays legible)."""
    if width <= MAX_FIGURE_WIDTH:
        return width, height
    return MAX_FIGURE_WIDTH, height * MAX_FIGURE_WIDTH / width


def _integer_ticks(*axes_x) -> None:
    """Put only whole numbers on the x axis of each axes: layers and lags have no 2.5."""
    for ax in axes_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its title, what to read in it, and the PNG bytes."""

    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    """A table for the report: column names and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@contextmanager
def keeping_figures() -> Iterator[dict[bytes, Any]]:
    """Keep every matplotlib figure a study draws in this context, keyed by the PNG bytes it was rendered to.

    A study's ``draw`` renders each figure to PNG and closes it; inside this context the closed figure is kept
    too, its artists and their data intact, so a caller can read what a :class:`Figure` shows (its ``png`` is the
    key). The run browser turns those lines into interactive plots: it shows what the report draws without a
    second copy of any study's figure code. The context is the caller's own (a :class:`~contextvars.ContextVar`):
    threads and other requests drawing at the same time keep nothing.

    Example:
        >>> with keeping_figures() as kept:
        ...     fig, ax = plt.subplots()
        ...     _ = ax.plot([1, 2], [3, 4])
        ...     png = _png(fig)
        >>> kept[png].axes[0].lines[0].get_ydata().tolist()
        [3, 4]
    """
    kept: dict[bytes, Any] = {}
    token = _KEPT.set(kept)
    try:
        yield kept
    finally:
        _KEPT.reset(token)


def _png(fig, lang: str = "en") -> bytes:
    """Render ``fig`` as PNG bytes and close it; in Portuguese, tick labels get a decimal comma."""
    if lang == "pt":
        for ax in fig.axes:
            _comma_ticks(ax)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    png = buffer.getvalue()
    kept = _KEPT.get()
    if kept is not None:
        kept[png] = fig
    return png


def _comma_ticks(ax) -> None:
    """Write the numbers of ``ax``'s linear axes with a decimal comma (log axes show powers of ten, no decimals)."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "linear" or not isinstance(axis.get_major_formatter(), ScalarFormatter):
            continue
        axis.set_major_formatter(_CommaFormatter(axis.get_major_formatter()))


class _CommaFormatter(Formatter):
    """Write what ``inner`` writes with a decimal comma.

    It hands ``inner`` the tick locations too: a ScalarFormatter that was never given them writes every
    label as an empty string (a plain FuncFormatter around one left Portuguese figures without numbers).
    """

    def __init__(self, inner: Formatter):
        self.inner = inner

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x, pos=None) -> str:
        return self.inner(x, pos).replace(".", ",")

    def get_offset(self) -> str:
        return self.inner.get_offset().replace(".", ",")


def _band(ax, x, values, color, label, axis=0, linestyle="-"):
    """Median line with a min–max band over ``axis`` (the ensemble members)."""
    low, mid, high = nan_quantiles(values, axis)
    ax.plot(x, mid, color=color, label=label, linestyle=linestyle, linewidth=1.6)
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)


def spread(values, lang: str = "en") -> str:
    """Return "median [min, max]" of ``values`` (NaN left out), three significant digits, in ``lang``'s decimals."""
    low, mid, high = nan_quantiles(np.asarray(values, dtype=np.float64)[None], 1)[:, 0]
    # Portuguese writes a decimal comma: its interval is split by a semicolon, "0,48 [0,46; 0,49]".
    separator = ";" if lang == "pt" else ","
    return " ".join((number(mid, ".3g", lang), f"[{number(low, '.3g', lang)}{separator}",
                     f"{number(high, '.3g', lang)}]"))


def _runs(store: Store, study: str) -> list[RunRecord]:
    return [store.get(study, name) for name in store.names(study)]
