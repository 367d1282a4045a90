"""Published figures: every entry is well-formed, cites its source, and holds the numbers we read."""

import math

import pytest

from gradtrace.studies.published import PUBLISHED, Y_KINDS, Series, get_published

KEYS = ("pascanu2013", "hochreiter1997", "le2015", "jaeger2001", "jaeger2004", "bengio1994")


def test_every_requested_paper_has_an_entry_under_its_key():
    assert set(KEYS) <= set(PUBLISHED)
    for key, result in PUBLISHED.items():
        assert result.key == key


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_each_entry_cites_its_source_and_states_its_protocol(key):
    result = PUBLISHED[key]
    citation = result.citation
    assert citation.authors and citation.title and citation.venue and citation.locator
    assert 1950 < citation.year < 2100
    assert result.source.strip() and citation.title in result.source and str(citation.year) in result.source
    if citation.arxiv is not None:
        assert f"arXiv:{citation.arxiv}" in result.source
    assert result.task.strip() and result.protocol.strip()
    assert all(text.strip() for text in result.claims + result.unconfirmed)
    # Without a confirmed line, the entry must say what it could not confirm.
    if not any(s.confirmed for s in result.series):
        assert result.unconfirmed


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_each_series_is_drawable(key):
    for series in PUBLISHED[key].series:
        assert series.label and series.x_name and series.y_name and series.locator
        assert series.y_kind in Y_KINDS
        assert series.points and all(len(p) == 2 for p in series.points)
        xs, ys = series.xs, series.ys
        assert all(math.isfinite(v) for v in xs + ys)
        assert list(xs) == sorted(set(xs)), "lengths strictly ascending"
        if series.y_kind in ("success_rate", "accuracy", "error_rate"):
            assert all(0.0 <= y <= 1.0 for y in ys)
        if not series.confirmed:
            assert series.note, "an unconfirmed series names where its numbers came from"


def test_settings_are_read_only():
    with pytest.raises(TypeError):
        get_published("pascanu2013").settings["lr"] = 1.0


def test_numbers_read_in_the_papers():
    pascanu = get_published("pascanu2013").settings
    assert (pascanu["hidden_size"], pascanu["lr"], pascanu["batch_size"]) == (50, 0.01, 20)
    assert (pascanu["clip_threshold"], pascanu["penalty_weight"]) == (1.0, 4.0)
    assert (pascanu["max_updates"], pascanu["success_max_error"]) == (5_000_000, 0.01)
    lstm = get_published("hochreiter1997")
    assert lstm.series_named("LSTM: training sequences to success").points == (
        (100, 74_000), (500, 209_000), (1000, 853_000))
    assert lstm.settings["correct_abs_error"] == 0.04 and lstm.settings["test_sequences"] == 2560
    esn = get_published("jaeger2001")
    assert esn.series_named("ESN, tau=17: NRMSE84").points == ((3000, 0.00028), (21000, 0.00012))
    assert esn.settings["reservoir_size"] == 400


def test_unknown_keys_and_labels_list_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown published result 'lstm' for `key`\. Available: 'pascanu2013'"):
        get_published("lstm")
    with pytest.raises(ValueError, match=r"Available: 'LSTM: training sequences to success'"):
        get_published("hochreiter1997").series_named("nope")


@pytest.mark.parametrize(
    ("points", "y_kind", "match"),
    [
        ((), "count", r"has no points"),
        (((200, 0.5), (100, 0.5)), "success_rate", r"strictly ascending x"),
        (((100, 0.5), (100, 0.6)), "success_rate", r"strictly ascending x"),
        (((100, 1.5),), "success_rate", r"outside \[0, 1\]"),
        (((100, math.nan),), "count", r"non-finite point"),
        (((100, 1.0),), "percent", r"Unknown y kind 'percent'"),
    ],
)
def test_malformed_series_are_refused(points, y_kind, match):
    with pytest.raises(ValueError, match=match):
        Series("s", "T", "y", y_kind, points, "Fig. 1")
