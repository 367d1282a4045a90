"""run_study and the store: damaged runs are redone, one writer at a time, workers die with their parent."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gradtrace.errors import StoreError
from gradtrace.store import Store
from gradtrace.studies import Outcome, RunSpec, Study, check_resume, run_study


class Counting(Study):
    """Runs that record their calls and store their name's length."""

    name, title, description, default_seeds = "counting", "Counting", "A study for tests.", 2

    def __init__(self, names=("a", "b", "c")):
        self.names, self.calls = list(names), []

    def plan(self, *, quick, seeds):
        return [RunSpec(name, 1, self._executor(name)) for name in self.names]

    def _executor(self, name):
        def execute(callback):
            self.calls.append(name)
            return Outcome({"x": np.full(50, len(self.calls), dtype=np.float64)}, {"name": name}, {"ok": 1})

        return execute


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_resume_redoes_exactly_the_damaged_runs(tmp_path, damage):
    store, study = Store(tmp_path), Counting()
    run_study(study, store, seeds=2)
    kept = {name: store.get("counting", name).arrays["x"] for name in ("a", "c")}
    path = tmp_path / "arrays" / "counting" / "b.npz"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:-40]))
    elif damage == "flip":
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    else:
        path.unlink()
    again = run_study(study, store, seeds=2)
    assert (again.ran, again.skipped, again.redone) == (["b"], ["a", "c"], ["b"])
    assert study.calls == ["a", "b", "c", "b"]
    assert store.damaged("counting") == {}
    for name, values in kept.items():  # nothing finished is lost
        np.testing.assert_array_equal(store.get("counting", name).arrays["x"], values)


def test_a_study_is_refused_while_another_writer_holds_the_store(tmp_path):
    study = Counting()
    with Store(tmp_path).write_lock():
        with pytest.raises(StoreError, match=rf"being written by another process: PID {os.getpid()} on host"):
            run_study(study, Store(tmp_path), seeds=2)
    assert study.calls == []
    assert run_study(study, Store(tmp_path), seeds=2).ran == ["a", "b", "c"]


def test_other_options_than_a_live_writer_recorded_are_refused_before_any_run(tmp_path):
    writer, study = Store(tmp_path), Counting()
    with writer.write_lock():
        # The first writer recorded its options; none of its runs has finished yet.
        writer.set_meta("study/counting", {"quick": True, "seeds": 2, "runs": ["a", "b", "c"]})
        message = (rf"being written by another process \(PID {os.getpid()} on host .*\), which runs study "
                   r"'counting' with quick=True, seeds=2; running it with quick=True, seeds=5 would mix them")
        with pytest.raises(ValueError, match=message):
            run_study(study, Store(tmp_path), quick=True, seeds=5)
        with pytest.raises(ValueError, match=message):
            check_resume(study, Store(tmp_path), quick=True, seeds=5)
    assert study.calls == []
    # The writer is gone and left no runs: nothing to mix, so other options may start afresh.
    assert run_study(study, Store(tmp_path), quick=True, seeds=5).ran == ["a", "b", "c"]
    assert Store(tmp_path).meta("study/counting")["seeds"] == 5


def test_other_options_than_the_stored_runs_are_refused_naming_both(tmp_path):
    store = Store(tmp_path)
    run_study(Counting(names=("a",)), store, quick=True, seeds=2)
    study = Counting()
    with pytest.raises(ValueError, match=r"holds runs of study 'counting' made with quick=True, seeds=2; "
                                         r"resuming with quick=False, seeds=2 would mix them"):
        check_resume(study, store, quick=False, seeds=None)
    with pytest.raises(ValueError, match=r"quick=True, seeds=2; resuming with quick=True, seeds=3"):
        run_study(study, store, quick=True, seeds=3)
    assert study.calls == []


def test_the_lock_is_released_after_a_study_and_not_kept_by_workers(tmp_path):
    store = Store(tmp_path)
    run_study(Counting(), store, seeds=1, workers=2)
    assert store.lock_holder() is None
    with Store(tmp_path).write_lock():
        pass


_PARENT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from gradtrace.store import Store
    from gradtrace.studies import Outcome, RunSpec, Study, run_study

    pids = sys.argv[2]

    def slow(callback):
        with open(os.path.join(pids, str(os.getpid())), "w"):
            pass
        time.sleep(120)
        return Outcome({"x": np.zeros(1)}, {}, {})

    class Slow(Study):
        name, title, description = "slow", "Slow", "Runs that take minutes."

        def plan(self, *, quick, seeds):
            return [RunSpec(f"run{i}", 1, slow) for i in range(2)]

    run_study(Slow(), Store(sys.argv[1]), seeds=1, workers=2)
""")


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has died and waits for its adopter to reap it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_their_parent_on_kill_9(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path / "runs"), str(pids)],
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2:
            assert parent.poll() is None, "the parent stopped before its workers started"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert all(_alive(pid) for pid in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)]
    # With its writer and workers gone, the store is free again.
    assert Store(tmp_path / "runs").lock_holder() is None


_FORKING_PARENT = textwrap.dedent("""
    import os, sys, time
    import gradtrace.studies.executors as executors

    parent = os.getpid()
    child = os.fork()
    if child == 0:
        sys.platform = "darwin"  # no prctl there: the polling thread must do it
        executors._die_with_parent(parent)
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_without_prctl_a_thread_ends_the_worker_when_its_parent_dies(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", _FORKING_PARENT], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        child = int(parent.stdout.readline())
        time.sleep(0.2)
        assert _alive(child)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
