"""The run browser's plots: a report figure's matplotlib artists read back as series, marks and fallbacks."""

import numpy as np
import pytest

from gradtrace.report.figures import _band, _png, keeping_figures, plt
from gradtrace.web.plots import MAX_POINTS, plain_text, plot_of


def _kept(draw):
    with keeping_figures() as kept:
        fig = draw()
        png = _png(fig)
    return kept[png]


def test_lines_bands_errorbars_and_reference_lines_are_read_with_their_values():
    values = np.array([[1.0, 0.5, 0.25, 0.125], [2.0, 1.0, 0.5, 0.25], [4.0, 2.0, 1.0, 0.5]])

    def draw():
        fig, (left, right) = plt.subplots(1, 2)
        _band(left, np.arange(4), values, "#0072b2", r"median $\|\partial L/\partial h_t\|$")
        left.plot(np.arange(4), 2.0 ** -np.arange(4), "--", color="#0072b2")  # unlabeled: named after its color
        left.axhline(0.3, color="#7f7f7f", linestyle=":", label="floor")
        left.set_yscale("log")
        for x, (y, low, high) in enumerate(((0.5, 0.4, 0.6), (0.7, 0.5, 0.8))):  # one point per model, as studies do
            right.errorbar([x], [y], yerr=[[y - low], [high - y]], fmt="o", color="#d55e00")
        right.set_xticks([0, 1], ["first", "second"])
        return fig

    plot, reason = plot_of(_kept(draw))
    assert reason == "" and (plot["rows"], plot["cols"]) == (1, 2)
    left, right = plot["panels"]
    assert left["ylog"] and left["x"] == [0, 1, 2, 3]
    median, envelope = left["series"]
    assert median["label"] == "median ‖∂L/∂h_t‖" and median["y"] == [2.0, 1.0, 0.5, 0.25]
    assert median["lo"] == [1.0, 0.5, 0.25, 0.125] and median["hi"] == [4.0, 2.0, 1.0, 0.5]
    assert envelope["label"] == median["label"] and envelope["dash"] and "lo" not in envelope
    assert left["hlines"] == [{"y": 0.3, "color": "#7f7f7f", "alpha": 1.0, "dash": [1.5, 3], "width": 1.5,
                               "label": "floor"}]
    # Error bars become each point's range; a single point at a named tick is named by it.
    assert [s["label"] for s in right["series"]] == ["first", "second"]
    assert right["series"][1]["y"] == [None, 0.7]
    assert right["series"][1]["lo"] == [None, 0.5] and right["series"][1]["hi"] == [None, 0.8]
    assert right["series"][0]["absent"] == [1] and right["xticks"] == [[0, "first"], [1, "second"]]


def test_a_heat_map_is_not_a_line_plot():
    def draw():
        fig, ax = plt.subplots()
        ax.imshow(np.eye(3))
        return fig

    plot, reason = plot_of(_kept(draw))
    assert plot is None and "heat map" in reason


def test_nan_breaks_a_line_and_a_log_axis_drops_what_is_not_positive():
    def draw():
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3, 4], [1.0, np.nan, 0.0, 2.0])
        ax.set_yscale("log")
        return fig

    plot, _ = plot_of(_kept(draw))
    assert plot["panels"][0]["series"][0]["y"] == [1.0, None, None, 2.0]


def test_a_long_curve_is_thinned_keeping_its_ends():
    def draw():
        fig, ax = plt.subplots()
        ax.plot(np.arange(3 * MAX_POINTS), np.arange(3 * MAX_POINTS) * 0.5)
        return fig

    x = plot_of(_kept(draw))[0]["panels"][0]["x"]
    assert len(x) == MAX_POINTS and x[0] == 0 and x[-1] == 3 * MAX_POINTS - 1


def test_nothing_is_kept_outside_the_context():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    with keeping_figures() as kept:
        pass
    _png(fig)
    assert kept == {}


@pytest.mark.parametrize("tex, shown", [
    (r"$\sigma_{max}(W_{rec})$ (envelope)", "σ_max(W_rec) (envelope)"),
    (r"$\|W_{rec}^\top(\tanh'_{t+1} \odot \delta_{t+1})\|$", "‖W_recᵀ(tanh'_(t+1) ⊙ δ_(t+1))‖"),
    ("no math here", "no math here"),
])
def test_mathtext_is_written_in_plain_unicode(tex, shown):
    assert plain_text(tex) == shown
