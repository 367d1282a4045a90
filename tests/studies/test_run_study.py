"""run_study: runs a plan into the store, resumes where it stopped, keeps what Ctrl-C left."""

import numpy as np
import pytest

from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import Outcome, RunSpec, Study, StudyResult, run_study


class Toy(Study):
    """A study of runs that record their calls; ``interrupt`` maps a run name to how it stops."""

    name = "toy"
    title = "Toy"
    description = "A study for tests."
    default_seeds = 3

    def __init__(self, names=("a", "b", "c"), interrupt=None):
        self.names = list(names)
        self.interrupt = dict(interrupt or {})
        self.calls = []
        self.planned = []

    def plan(self, *, quick, seeds):
        self.planned.append((quick, seeds))
        return [RunSpec(name, 2, self._executor(name, seeds)) for name in self.names]

    def _executor(self, name, seeds):
        def execute(callback):
            self.calls.append(name)
            how = self.interrupt.pop(name, None)
            if callback is not None:
                callback(0, {"train/loss": np.zeros(seeds)})
            if how == "ctrl-c":
                raise KeyboardInterrupt
            partial = Outcome({"loss": np.zeros(1)}, {"name": name}, {}, "interrupted")
            if how == "partial":
                raise RunInterrupted("stopped", partial=partial)
            return Outcome(
                {"loss": np.full((2, seeds), len(self.calls))},
                {"name": name, "seeds": seeds},
                {"seeds": seeds},
            )

        return execute


class Recorder:
    def __init__(self):
        self.events = []

    def study_started(self, study, total_runs, skipped):
        self.events.append(("study", study, total_runs, skipped))

    def run_started(self, name, steps):
        self.events.append(("start", name, steps))

    def run_step(self, step, metrics):
        self.events.append(("step", step))

    def run_finished(self, name, seconds):
        assert seconds >= 0
        self.events.append(("done", name))


def test_runs_every_planned_run_into_the_store(tmp_path):
    store, study = Store(tmp_path), Toy()
    result = run_study(study, store, quick=True, seeds=2)
    assert isinstance(result, StudyResult)
    assert (result.study, result.ran, result.skipped) == ("toy", ["a", "b", "c"], [])
    assert result.seconds >= 0
    assert study.planned == [(True, 2)]
    assert store.finished("toy") == {"a", "b", "c"}
    assert store.names("toy") == ["a", "b", "c"]
    record = store.get("toy", "b")
    assert (record.status, record.config, record.summary) == (
        "finished",
        {"name": "b", "seeds": 2},
        {"seeds": 2},
    )
    np.testing.assert_array_equal(record.arrays["loss"], np.full((2, 2), 2))
    assert store.meta("study/toy") == {"quick": True, "budget": "quick", "seeds": 2, "runs": ["a", "b", "c"]}


def test_seeds_default_to_the_study_default_and_are_validated(tmp_path):
    study = Toy()
    run_study(study, Store(tmp_path))
    assert study.planned == [(False, 3)]
    with pytest.raises(ValueError, match="`seeds` must be at least 1, got 0"):
        run_study(Toy(), Store(tmp_path / "other"), seeds=0)
    with pytest.raises(TypeError, match="`seeds` must be an integer"):
        run_study(Toy(), Store(tmp_path / "other"), seeds=1.5)


def test_a_second_call_resumes_and_skips_the_finished_runs(tmp_path):
    store, study = Store(tmp_path), Toy()
    run_study(study, store, seeds=2)
    again = run_study(study, store, seeds=2)
    assert (again.ran, again.skipped) == ([], ["a", "b", "c"])
    assert study.calls == ["a", "b", "c"]


def test_a_keyboard_interrupt_keeps_the_finished_runs_and_resumes_with_the_rest(tmp_path):
    store, study = Store(tmp_path), Toy(interrupt={"b": "ctrl-c"})
    with pytest.raises(RunInterrupted, match=r"during run 'b': 1 of 3 runs are finished") as error:
        run_study(study, store, seeds=2)
    partial = error.value.partial
    assert isinstance(partial, StudyResult) and (partial.ran, partial.skipped) == (["a"], [])
    assert store.finished("toy") == {"a"} and store.names("toy") == ["a"]
    resumed = run_study(study, store, seeds=2)
    assert (resumed.ran, resumed.skipped) == (["b", "c"], ["a"])
    assert study.calls == ["a", "b", "b", "c"]
    assert store.finished("toy") == {"a", "b", "c"}


def test_an_interrupted_run_keeps_its_partial_outcome_until_it_is_run_again(tmp_path):
    store, study = Store(tmp_path), Toy(interrupt={"b": "partial"})
    with pytest.raises(RunInterrupted, match="during run 'b'"):
        run_study(study, store, seeds=2)
    record = store.get("toy", "b")
    assert (record.status, record.config) == ("interrupted", {"name": "b"})
    assert store.finished("toy") == {"a"}
    run_study(study, store, seeds=2)
    assert store.get("toy", "b").status == "finished"
    assert study.calls == ["a", "b", "b", "c"]


def test_duplicate_run_names_raise_before_anything_runs(tmp_path):
    store, study = Store(tmp_path), Toy(names=("a", "b", "a"))
    with pytest.raises(
        ValueError, match=r"Study 'toy' plans duplicate run names: \['a', 'b', 'a'\]"
    ):
        run_study(study, store, seeds=1)
    assert study.calls == [] and store.studies() == [] and store.meta("study/toy") is None


def test_resuming_with_other_options_raises_instead_of_mixing_runs(tmp_path):
    store = Store(tmp_path)
    run_study(Toy(names=("a",)), store, quick=True, seeds=2)
    study = Toy()
    with pytest.raises(ValueError, match=r"quick=True, seeds=2.*quick=False, seeds=2"):
        run_study(study, store, quick=False, seeds=2)
    with pytest.raises(ValueError, match=r"quick=True, seeds=2.*quick=True, seeds=3"):
        run_study(study, store, quick=True, seeds=3)
    assert study.calls == []
    # The same options resume.
    assert run_study(study, store, quick=True, seeds=2).ran == ["b", "c"]


def test_progress_events_arrive_in_order(tmp_path):
    store, recorder = Store(tmp_path), Recorder()
    run_study(Toy(names=("a", "b")), store, seeds=1, progress=recorder)
    assert recorder.events == [
        ("study", "toy", 2, 0),
        ("start", "a", 2),
        ("step", 0),
        ("done", "a"),
        ("start", "b", 2),
        ("step", 0),
        ("done", "b"),
    ]
    recorder.events.clear()
    run_study(Toy(names=("a", "b", "c")), store, seeds=1, progress=recorder)
    assert recorder.events == [
        ("study", "toy", 3, 2),
        ("start", "c", 2),
        ("step", 0),
        ("done", "c"),
    ]


def test_workers_give_the_same_runs_as_one_process(tmp_path):
    from gradtrace.studies import ThroughTime
    from gradtrace.studies.through_time import QUICK

    stores = [Store(tmp_path / f"workers{w}") for w in (1, 2)]
    results = [run_study(ThroughTime(QUICK), store, seeds=2, workers=w) for w, store in zip((1, 2), stores)]
    assert sorted(results[0].ran) == sorted(results[1].ran) == ["rho=0.5", "rho=1.5"]
    for name in results[0].ran:
        one, two = (store.get("through-time", name) for store in stores)
        assert one.arrays.keys() == two.arrays.keys()
        for key in one.arrays:
            np.testing.assert_array_equal(one.arrays[key], two.arrays[key], err_msg=key)


def test_a_failing_run_in_a_worker_raises_in_the_caller_and_keeps_the_others(tmp_path):
    def fail(callback):
        raise ValueError("this run cannot start")

    class Broken(Study):
        name, title, description = "broken", "Broken", "One run fails."

        def plan(self, *, quick, seeds):
            fine = Outcome({"x": np.zeros(1)}, {}, {})
            return [RunSpec("ok", 1, lambda callback: fine), RunSpec("bad", 1, fail)]

    store = Store(tmp_path)
    with pytest.raises(ValueError, match="this run cannot start"):
        run_study(Broken(), store, seeds=1, workers=2)


def test_workers_below_one_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"`workers` must be at least 1, got 0"):
        run_study(Toy(), Store(tmp_path), workers=0)
