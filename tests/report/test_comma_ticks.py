"""Portuguese figures write their tick labels with a decimal comma, and write them at all."""

from gradtrace.report.figures import _comma_ticks, plt


def test_portuguese_tick_labels_are_written_with_a_decimal_comma():
    # Regression: the labels of every linear axis came out blank in Portuguese.
    fig, ax = plt.subplots()
    ax.plot([0.0, 1.5], [0.25, 0.75])
    _comma_ticks(ax)
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_xticklabels() + ax.get_yticklabels()]
    plt.close(fig)
    assert all(labels) and "0,5" in labels and not any("." in label for label in labels)
