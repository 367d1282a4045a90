"""Wrong arguments to the public API fail before any work, naming the argument, expected and received."""

import pytest

import gradtrace as gt
from gradtrace.studies import ThroughTime
from gradtrace.studies.base import run_study as base_run_study


def test_run_study_accepts_a_study_name_and_a_store_path(tmp_path):
    # Regression: gt.run_study("activations", store) and gt.run_study(study, "/tmp/x") raised AttributeError.
    result = gt.run_study("through-time", tmp_path / "runs", quick=True, seeds=1)
    assert result.study == "through-time" and len(result.ran) == 2
    assert gt.Store(tmp_path / "runs").finished("through-time") == set(result.ran)
    again = gt.run_study(ThroughTime(), str(tmp_path / "runs"), quick=True, seeds=1)
    assert again.ran == [] and sorted(again.skipped) == sorted(result.ran)


def test_run_study_refuses_other_types_naming_the_argument(tmp_path):
    with pytest.raises(ValueError,
                       match=r"Unknown study 'adder' for `study`. Available: 'gradient-path', 'through-time'"):
        gt.run_study("adder", tmp_path)
    with pytest.raises(TypeError, match=r"`study` must be a gradtrace Study, got 5\."):
        gt.run_study(5, tmp_path)
    with pytest.raises(TypeError, match=r"`store` must be a gradtrace Store or the path of its folder, got 3\.5\."):
        gt.run_study("through-time", 3.5)
    with pytest.raises(TypeError, match=r"got 'through-time'; for a built-in study by name, use gradtrace.run_study"):
        base_run_study("through-time", tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_fit_refuses_a_callback_that_is_not_callable_before_training():
    # Regression: fit(..., callback=5) trained the first step, then failed with "'int' object is not callable".
    calls = []

    class Counting(gt.Adding):
        def _sample(self, batch_size, generator):
            calls.append(batch_size)
            return super()._sample(batch_size, generator)

    with pytest.raises(TypeError, match=r"`callback` must be a function of \(step, metrics\) or None, got 5\."):
        gt.fit(gt.ElmanRNN(2, 4, 1, seed=0), Counting(5), steps=3, batch_size=2, callback=5)
    assert calls == []
