"""Portuguese figures write their linear axes' numbers with a decimal comma, and still write them."""

from gradtrace.report.figures import _comma_ticks, plt


def test_linear_tick_labels_keep_their_numbers_with_a_decimal_comma():
    fig, ax = plt.subplots()
    ax.plot([0.0, 1.0], [0.5, 2.5])
    _comma_ticks(ax)
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_yticklabels()]
    plt.close(fig)
    # Regression: the wrapped ScalarFormatter never saw the tick locations and labelled every tick "".
    assert labels and all(labels), labels
    assert "0,50" in labels and not any("." in label for label in labels)
