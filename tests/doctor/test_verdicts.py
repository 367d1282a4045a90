"""The doctor's verdicts on given readings: the thresholds at their boundaries, and how batches combine."""

import math

import pytest

from gradtrace.doctor.verdicts import (
    DEAD_UNITS_FRACTION,
    DEPTH_EXPLODING_RATIO,
    DEPTH_VANISHING_RATIO,
    EXPLODING_GROWTH,
    KINDS,
    MIN_DEPTH,
    Verdict,
    combine,
    judge_depth,
    judge_time,
)


@pytest.mark.parametrize("profile, horizon, kind", [
    ([1.0, 2.0, EXPLODING_GROWTH], 3, "exploding"),  # growth exactly at the limit
    ([1.0, 2.0, 0.999 * EXPLODING_GROWTH], 3, "healthy"),
    ([1.0, 1e-3, 1e-7], 2, "vanishing"),
    ([1.0, 0.5, 0.25], 3, "healthy"),  # horizon == steps: it reaches the first step
    ([1.0, float("nan")], 1, "non-finite"),
    ([], -1, "non-finite"),
])
def test_judge_time(profile, horizon, kind):
    verdict = judge_time("lstm layer 0", profile, 0.5, horizon, finite=True)
    assert verdict.kind == kind and verdict.where == "lstm layer 0"
    assert verdict.evidence.startswith("lstm layer 0: ")
    assert verdict.measured["horizon"] == horizon and verdict.measured["steps"] == len(profile)


def test_judge_time_reports_a_non_finite_layer_whatever_its_profile():
    assert judge_time("rnn", [1.0, 0.5], 0.5, 2, finite=False).kind == "non-finite"


def test_judge_time_evidence_quotes_its_numbers():
    verdict = judge_time("rnn", [2.0, 1.0, 1e-9, 1e-12], 0.01, 2, finite=True)
    assert verdict.kind == "vanishing"
    assert "after 2 of 4 steps back (×0.01 per step)" in verdict.evidence
    assert verdict.measured["last_over_first"] == 1e-12 / 2.0
    assert math.isnan(judge_time("rnn", [0.0, 0.0], float("nan"), 2, finite=True).measured["growth"])


def _layers(*norms):
    return [(f"layer{i}", n) for i, n in enumerate(norms)]


@pytest.mark.parametrize("norms, kind", [
    ((0.99 * DEPTH_VANISHING_RATIO, 1.0, 1.0), "vanishing"),
    ((DEPTH_VANISHING_RATIO, 1.0, 1.0), "healthy"),
    ((1.01 * DEPTH_EXPLODING_RATIO, 1.0, 1.0), "exploding"),
    ((1e-9, 1.0), "healthy"),  # fewer than MIN_DEPTH layers: not judged
    ((1.0, 1.0, 0.0), "healthy"),  # the ratio is not measurable
])
def test_judge_depth_ratio(norms, kind):
    (verdict,) = judge_depth(_layers(*norms), {}, None, True, None)
    assert (verdict.kind, verdict.where) == (kind, "depth")
    if len(norms) < MIN_DEPTH:
        assert "not a deep path" in verdict.evidence


def test_judge_depth_dead_units_come_with_the_ratio_verdict():
    found = judge_depth(_layers(1e-6, 1.0, 1.0), {"relu1": DEAD_UNITS_FRACTION, "relu2": 0.49}, 0.25**2, True,
                        None)
    assert [v.kind for v in found] == ["vanishing", "dead units"]
    assert found[1].measured["dead"] == {"relu1": DEAD_UNITS_FRACTION}
    assert "`relu1` 50%" in found[1].evidence and "relu2" not in found[1].evidence
    assert "0.25^2 = 0.062" in found[0].evidence and found[0].measured["sigmoid_bound"] == 0.0625


def test_judge_depth_non_finite_names_the_module():
    (verdict,) = judge_depth(_layers(1.0, 1.0, 1.0), {}, None, False, "body.log")
    assert verdict.kind == "non-finite" and "`body.log`" in verdict.evidence


def _v(kind, where="depth"):
    return Verdict(kind, where, f"{where} {kind}")


def test_combine_keeps_what_a_majority_of_batches_found():
    verdicts = combine([[_v("exploding"), _v("dead units")], [_v("exploding")], [_v("healthy")], [_v("healthy")]])
    # 2 of 4 is half: kept; 1 of 4 is not
    assert [(v.kind, v.found_in) for v in verdicts] == [("exploding", (2, 4))]
    assert verdicts[0].evidence == "depth exploding"


def test_combine_falls_back_to_healthy_then_to_the_most_severe():
    healthy = combine([[_v("vanishing", "rnn")], [_v("healthy", "rnn")], [_v("healthy", "rnn")]])
    assert [(v.kind, v.found_in) for v in healthy] == [("healthy", (2, 3))]
    severe = combine([[_v("vanishing", "rnn")], [_v("non-finite", "loss")], [_v("dead units", "rnn")]])
    assert {(v.where, v.kind, v.found_in) for v in severe} == {("rnn", "vanishing", (1, 3)),
                                                               ("loss", "non-finite", (1, 3))}


def test_verdict_to_dict_writes_non_finite_numbers_as_text():
    data = Verdict("exploding", "rnn", "", {"growth": math.inf, "rate": float("nan"), "steps": 3}).to_dict()
    assert data["measured"] == {"growth": "inf", "rate": "nan", "steps": 3}
    assert data["found_in"] == [1, 1]
    assert KINDS[0] == "non-finite" and KINDS[-1] == "healthy"
