"""Claims: verdicts computed from a store, that hold on data supporting them and fail on data that does not."""

import json
import math

import numpy as np
import pytest

from gradtrace.report.html import _claims_html
from gradtrace.store import Store
from gradtrace.studies import (
    Claim,
    Exploding,
    LongRange,
    Results,
    ThroughDepth,
    ThroughTime,
    Vanishing,
    Verdict,
    evaluate_claims,
    summarize,
    write_summary,
)
from gradtrace.studies.exploding.config import CURES, L2, OMEGA, PLAIN, TBPTT_LONG

K = 5


def _loss_claim(threshold=0.1):
    def evaluate(results):
        loss = results.summary("a")["loss"]
        return loss < threshold, {"loss": loss}

    return Claim("small-loss", {"en": "The loss is small.", "pt": "A perda é pequena."},
                 {"en": "Loss {loss:.2f}.", "pt": "Perda {loss:.2f}."}, evaluate, requires=("a",))


def test_a_claim_holds_on_data_that_supports_it_and_fails_on_data_that_does_not(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "a", {}, config={}, summary={"loss": 0.05})
    held = _loss_claim().check(Results(store, "demo"))
    store.put("demo", "a", {}, config={}, summary={"loss": 0.25})
    failed = _loss_claim().check(Results(store, "demo"))
    assert (held.verdict, held.sentence) == ("held", {"en": "Loss 0.05.", "pt": "Perda 0,05."})
    assert (failed.verdict, failed.held, failed.values) == ("not held", False, {"loss": 0.25})


def test_a_claim_whose_runs_are_missing_is_not_held_and_says_it_was_not_measured(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "b", {}, config={}, summary={})
    store.put("demo", "a", {}, config={}, summary={"loss": 0.0}, status="interrupted")
    verdict = _loss_claim().check(Results(store, "demo"))
    assert not verdict.held and not verdict.measured
    assert verdict.sentence["en"].startswith("Not measured: run(s) a of study demo")
    assert verdict.sentence["pt"].startswith("Não medido:")
    assert verdict.to_dict()["measured"] is False and "a" in verdict.to_dict()["reason"]["en"]


def test_a_damaged_run_leaves_its_claims_unmeasured(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "a", {"x": np.arange(3)}, config={}, summary={"loss": 0.0})
    (tmp_path / "arrays" / "demo" / "a.npz").write_bytes(b"damaged")
    assert not _loss_claim().check(Results(store, "demo")).measured


def test_a_run_lacking_a_value_the_claim_reads_leaves_it_unmeasured(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "a", {}, config={}, summary={"accuracy": 1.0})  # as an older gradtrace might have stored it
    verdict = _loss_claim().check(Results(store, "demo"))
    assert not verdict.measured and "lack a value the claim reads" in verdict.reason["en"]
    assert Results(store, "demo").summary("a").get("loss", 7) == 7


def test_nan_shows_as_not_available_and_is_null_in_json(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "a", {}, config={}, summary={"loss": float("nan")})
    verdict = _loss_claim().check(Results(store, "demo"))
    assert verdict.sentence == {"en": "Loss n/a.", "pt": "Perda n/d."} and not verdict.held
    assert verdict.to_dict()["values"] == {"loss": None}


def test_a_claim_needs_a_sentence_in_every_language():
    with pytest.raises(ValueError, match="`sentence` must have an entry for each of en, pt; pt missing"):
        Claim("x", {"en": "", "pt": ""}, {"en": "x"}, lambda results: (True, {}))


def test_results_are_read_only(tmp_path):
    store = Store(tmp_path)
    store.put("demo", "a", {"x": np.arange(3)}, config={"n": 1}, summary={"loss": 0.0})
    results = Results(store, "demo")
    with pytest.raises(TypeError):
        results.summary("a")["loss"] = 1.0
    with pytest.raises(ValueError):
        results.array("a", "x")[0] = 7
    assert results.names() == ("a",) and "a" in results and "b" not in results


def _exploding_store(tmp_path):
    """An exploding study's store whose plain run diverges and whose cures train (every claim holds)."""
    store = Store(tmp_path)
    store.set_meta("study/exploding", {"quick": False, "seeds": K})
    for cure in CURES:
        diverged = K if cure in (PLAIN, TBPTT_LONG, OMEGA, L2) else 0
        losses = np.full(K, np.inf if diverged else 0.001)
        store.put("exploding", cure, {"test/loss": losses}, config={}, summary={
            "seeds": K, "diverged": diverged, "first_divergence": 27 if diverged else -1, "max_grad_norm": 1e19,
            "below_baseline": 0 if diverged else K, "baseline_loss": 0.02})
    return store


def _verdicts(store, study):
    return {v.name: v for v in evaluate_claims(store, study)}




def _long_range_store(tmp_path, successes):
    store = Store(tmp_path)
    store.set_meta("study/long-range", {"quick": False, "seeds": K})
    for (model, length), solved in successes.items():
        store.put("long-range", f"{model}-T{length}", {}, config={}, summary={
            "successes": solved, "seeds": K, "final/horizon": float(length if model != "elman" else length // 2)})
    return store


def _grid(elman, lstm, gru):
    return {**{("elman", t): elman for t in (10, 30, 60)}, **{("lstm", t): lstm for t in (10, 30, 60)},
            **{("gru", t): gru for t in (10, 30, 60)}}


def test_gated_cells_claim_holds_at_a_length_the_tanh_rnn_fails(tmp_path):
    verdict = _verdicts(_long_range_store(tmp_path, _grid(0, 4, 5)), "long-range")["gated-cells-solve-where-tanh-fails"]
    assert verdict.held and verdict.values == {"T": 60, "K": 5, "elman": 0, "lstm": 4, "gru": 5}


@pytest.mark.parametrize(("elman", "lstm", "gru"), [(2, 5, 5), (0, 3, 5), (0, 5, 3)])
def test_gated_cells_claim_fails_when_tanh_solves_or_a_gated_cell_does_not(tmp_path, elman, lstm, gru):
    verdict = _verdicts(_long_range_store(tmp_path, _grid(elman, lstm, gru)), "long-range")[
        "gated-cells-solve-where-tanh-fails"]
    assert not verdict.held




def test_every_default_study_states_claims_with_both_languages():
    for study in (ThroughTime(), LongRange(), Exploding(), ThroughDepth(), Vanishing()):
        for quick in (False, True):
            claims = study.claims(quick=quick, seeds=K)
            assert claims, (study.name, quick)
            assert len({c.name for c in claims}) == len(claims)


def test_summary_json_round_trips_with_every_study_and_claim(tmp_path):
    store = _exploding_store(tmp_path)
    store.put("demo", "a", {}, config={}, summary={})
    path = write_summary(store)
    assert path == tmp_path / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps(summarize(store) | {"written": summary["written"]}))
    assert {"gradtrace", "torch", "python", "written", "wall_seconds", "run_seconds", "claims", "studies"} <= set(
        summary)
    exploding, demo = summary["studies"]
    assert (exploding["name"], demo["name"], demo["claims"]) == ("exploding", "demo", [])
    assert {"title", "quick", "seeds", "runs", "seconds", "sizes", "claims"} <= set(exploding)
    assert exploding["runs"] == {"finished": 9, "planned": 9, "damaged": []} and exploding["seeds"] == K
    claim = exploding["claims"][0]
    assert set(claim) == {"name", "sentence", "verdict", "values"} and set(claim["sentence"]) == {"en", "pt"}
    assert summary["claims"] == {"held": sum(c["verdict"] == "held" for c in exploding["claims"]), "total": 6}
    assert "NaN" not in path.read_text(encoding="utf-8")


def test_a_quick_study_says_its_verdicts_are_not_meaningful(tmp_path):
    store = _exploding_store(tmp_path)
    store.set_meta("study/exploding", {"quick": True, "seeds": K})
    (entry,) = summarize(store)["studies"]
    assert entry["quick"] is True and "not meaningful" in entry["note"]["en"]


def test_the_report_marks_each_claim_held_or_not():
    verdicts = [Verdict("a", True, {"en": "It held.", "pt": "Valeu."}, {}),
                Verdict("b", False, {"en": "It did <not>.", "pt": "Não."}, {"x": math.nan})]
    shown = _claims_html(verdicts, quick=True)
    assert "✓ held</span> It held." in shown and "✗ not held</span> It did &lt;not&gt;." in shown
    assert "not meaningful" in shown and _claims_html([]) == ""
    assert "Valeu." in _claims_html(verdicts, lang="pt")
