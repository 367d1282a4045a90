"""The built-in studies: their plans, the arrays and summaries they store, the science they show."""

import pytest

from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import (
    STUDIES,
    LongRange,
    LongRangeConfig,
    ThroughTime,
    ThroughTimeConfig,
    get_study,
    run_study,
)
from gradtrace.studies.course import COURSE as DEFAULT_STUDY

SEEDS = 2


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("quick"))
    for name in (*DEFAULT_STUDY, "long-range"):
        run_study(get_study(name), store, quick=True, seeds=SEEDS)
    return store


def test_the_registry_names_the_built_in_studies():
    assert {"through-time", "long-range", "exploding", "vanishing"} <= set(STUDIES)
    assert set(DEFAULT_STUDY) <= set(STUDIES) and "exploding" in DEFAULT_STUDY
    for name, cls in STUDIES.items():
        study = get_study(name)
        assert isinstance(study, cls) and study.name == name and study.title and study.description
    with pytest.raises(
        ValueError, match="Unknown study 'nosuch' for `study`. Available: 'gradient-path', 'through-time'"
    ):
        get_study("nosuch")


def test_full_plans_are_larger_than_quick_ones():
    for cls in STUDIES.values():
        quick, full = cls().plan(quick=True, seeds=1), cls().plan(quick=False, seeds=1)
        assert len(full) >= len(quick)
        # Steps are training steps; a closed-form study (jaeger2001) grows in data, not in steps.
        assert max(s.steps for s in full) >= max(s.steps for s in quick)
    assert [s.name for s in ThroughTime().plan(quick=False, seeds=1)] == [
        "rho=0.5",
        "rho=0.8",
        "rho=1",
        "rho=1.2",
        "rho=1.5",
        "rho=2",
        "rho=3",
    ]
    assert [s.name for s in LongRange().plan(quick=True, seeds=1)] == [
        "elman-T5",
        "lstm-T5",
        "gru-T5",
        "elman-T10",
        "lstm-T10",
        "gru-T10",
    ]


def test_quick_long_range_stores_curves_success_and_gradient_profiles(quick_store):
    names = quick_store.names("long-range")
    assert names == ["elman-T5", "lstm-T5", "gru-T5", "elman-T10", "lstm-T10", "gru-T10"]
    for name in names:
        record = quick_store.get("long-range", name)
        model, length = record.config["model"], record.config["length"]
        assert name == f"{model}-T{length}" and record.status == "finished"
        a = record.arrays
        assert set(a) == {
            "train/loss",
            "eval/step",
            "task/loss",
            "task/accuracy",
            "task/success",
            "trace/steps",
            "trace/grad_norms",
            "diverged_at",
            "final/horizon",
            "final/decay_rate",
        }
        evaluations = len(a["eval/step"])
        assert a["train/loss"].shape == (10, SEEDS)
        for key in ("task/loss", "task/accuracy", "task/success"):
            assert a[key].shape == (evaluations, SEEDS), key
        assert a["trace/grad_norms"].shape == (len(a["trace/steps"]), SEEDS, length)
        assert (
            a["final/horizon"].shape
            == a["final/decay_rate"].shape
            == a["diverged_at"].shape
            == (SEEDS,)
        )
        s = record.summary
        assert set(s) == {
            "model",
            "length",
            "baseline_loss",
            "successes",
            "seeds",
            "success_rate",
            "success_low",
            "success_high",
            "task/loss",
            "task/accuracy",
            "final/horizon",
            "diverged",
        }
        assert (s["model"], s["length"], s["seeds"]) == (model, length, SEEDS)
        assert 0 <= s["successes"] <= SEEDS and s["success_rate"] == s["successes"] / SEEDS
        assert 0.0 <= s["success_low"] <= s["success_rate"] <= s["success_high"] <= 1.0
        assert 1 <= s["final/horizon"] <= length


def test_a_custom_long_range_config_runs_only_what_it_names(tmp_path):
    config = LongRangeConfig(
        models=("lstm",), lengths=(4,), hidden_size=4, steps=2, batch_size=4, eval_batch_size=8
    )
    store = Store(tmp_path)
    result = run_study(LongRange(config), store, seeds=1)
    assert result.ran == ["lstm-T4"]
    record = store.get("long-range", "lstm-T4")
    assert record.config["hidden_size"] == 4 and record.config["steps"] == 2
    assert record.arrays["task/success"].shape[1] == 1


@pytest.mark.parametrize("study_name", ["through-time", "long-range"])
def test_ctrl_c_during_training_stores_the_partial_run_and_resume_finishes_it(tmp_path, study_name, interrupt_at):
    study = {
        "through-time": ThroughTime(
            ThroughTimeConfig(
                radii=(0.5, 1.5), length=6, hidden_size=4, steps=4, batch_size=2, probe_batch_size=2
            )
        ),
        "long-range": LongRange(
            LongRangeConfig(
                models=("elman",),
                lengths=(3, 4),
                hidden_size=4,
                steps=4,
                batch_size=2,
                eval_batch_size=4,
            )
        ),
    }[study_name]
    store = Store(tmp_path)
    with pytest.raises(RunInterrupted, match="1 of 2 runs are finished"):
        run_study(study, store, seeds=1, progress=interrupt_at(step=1, run=2))
    first, second = store.names(study_name)
    assert store.finished(study_name) == {first}
    partial = store.get(study_name, second)
    assert (partial.status, partial.summary) == ("interrupted", {})
    if study_name == "long-range":
        assert partial.arrays["train/loss"].shape == (2, 1)  # steps 0 and 1 were done
    else:
        assert "init/by_lag" in partial.arrays and "trained/by_lag" not in partial.arrays
    result = run_study(study, store, seeds=1)
    assert (result.ran, result.skipped) == ([second], [first])
    assert store.get(study_name, second).status == "finished"
