"""RayExecutor: a study's runs as Ray tasks, stored by the driver with the local executor's numbers; faults keep
what finished."""

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.errors import NonFiniteError, RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import (
    STUDIES,
    ExecutorError,
    LocalExecutor,
    Outcome,
    RayExecutor,
    RunSpec,
    Study,
    run_study,
)
from gradtrace.studies import executors as executors_module

ray = pytest.importorskip("ray")  # the ray extra

# The studies below live in a test module that Ray's workers cannot import by name: send them by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster of 2 CPUs for the whole file (it takes seconds to start); shut down after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # a test run reports nothing anywhere
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        try:
            yield
        finally:
            ray.shutdown()


class Tiny(Study):
    """Seeded random arrays with NaN and infinities where the draw says: what the store must keep bit for bit."""

    name, title, description = "tiny", "Tiny", "Random arrays, some non-finite."
    default_seeds = 2

    def plan(self, *, quick, seeds):
        return [RunSpec(f"run{i}", 1, self._runner(i, seeds)) for i in range(4)]

    def _runner(self, index, seeds):
        def execute(callback):
            generator = torch.Generator().manual_seed(index)
            values = torch.randn(seeds, 7, generator=generator, dtype=torch.float64)
            values[values > 1.0] = float("nan")
            values[values < -1.5] = float("inf")
            return Outcome({"values": values.numpy(), "steps": np.arange(index + 1)},
                           {"index": index}, {"mean": float(values.nanmean())})

        return execute


class Scripted(Study):
    """Runs that finish, raise, kill their worker or sleep, as ``how`` says (name -> behavior)."""

    name, title, description = "scripted", "Scripted", "Runs that fail on purpose."
    default_seeds = 1

    def __init__(self, how, folder):
        self.how, self.folder = dict(how), str(folder)

    def plan(self, *, quick, seeds):
        return [RunSpec(name, 1, self._runner(name, behavior)) for name, behavior in self.how.items()]

    def _runner(self, name, behavior):
        folder = self.folder

        def execute(callback):
            mark = Path(folder) / f"{name}.{os.getpid()}"
            first = not list(Path(folder).glob(f"{name}.*"))
            mark.touch()
            if behavior == "raise":
                raise ValueError("this run cannot converge")
            if behavior == "die" or (behavior == "die once" and first):
                os.kill(os.getpid(), signal.SIGKILL)
            if behavior == "sleep":
                time.sleep(60)
            if behavior.startswith("after "):  # finish once the named run has started
                deadline = time.monotonic() + 30
                while not list(Path(folder).glob(f"{behavior[6:]}.*")) and time.monotonic() < deadline:
                    time.sleep(0.02)
            return Outcome({"x": np.full(3, len(name))}, {"name": name}, {})

        return execute


def _assert_same_stores(study, one, two):
    assert sorted(one.names(study)) == sorted(two.names(study))
    for name in one.names(study):
        first, second = one.get(study, name), two.get(study, name)
        assert (first.status, first.config, first.summary) == (second.status, second.config, second.summary)
        assert first.arrays.keys() == second.arrays.keys()
        for key in first.arrays:
            a, b = first.arrays[key], second.arrays[key]
            assert a.dtype == b.dtype and a.shape == b.shape, (name, key)
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (name, key)
            if a.dtype.kind == "f":
                assert np.array_equal(np.isnan(a), np.isnan(b)), (name, key)


def test_every_built_in_quick_plan_survives_rays_pickling():
    for name, study_class in STUDIES.items():
        for spec in study_class().plan(quick=True, seeds=2):
            back = ray.cloudpickle.loads(ray.cloudpickle.dumps(spec))
            assert (back.name, back.steps) == (spec.name, spec.steps), name
            assert callable(back.execute)


def test_a_quick_study_run_by_the_cli_on_ray_stores_the_local_numbers(cluster, tmp_path):
    from gradtrace.studies import ThroughTime
    from gradtrace.studies.through_time import QUICK

    local = Store(tmp_path / "local")
    run_study(ThroughTime(QUICK), local, seeds=1)
    result = CliRunner().invoke(app, ["run", "through-time", "--quick", "--seeds", "1", "--executor", "ray",
                                      "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    remote = Store(tmp_path / "ray")
    assert remote.finished("through-time") == {"rho=0.5", "rho=1.5"}
    _assert_same_stores("through-time", local, remote)
    assert ray.is_initialized()  # a session it did not start is left running


def test_non_finite_arrays_are_stored_bit_for_bit_by_every_executor(cluster, tmp_path):
    stores = {name: Store(tmp_path / name) for name in ("one", "forked", "ray")}
    run_study(Tiny(), stores["one"])
    run_study(Tiny(), stores["forked"], workers=2)
    run_study(Tiny(), stores["ray"], executor=RayExecutor())
    values = stores["ray"].get("tiny", "run0").arrays["values"]
    assert np.isnan(values).any() and np.isinf(values).any()  # the test compares what it means to
    _assert_same_stores("tiny", stores["one"], stores["ray"])
    _assert_same_stores("tiny", stores["forked"], stores["ray"])


def test_a_run_that_raises_is_named_and_the_others_are_stored(cluster, tmp_path):
    store = Store(tmp_path / "runs")
    study = Scripted({"a": "finish", "bad": "raise", "c": "finish"}, tmp_path)
    with pytest.raises(ValueError, match=r"Run 'bad' of study 'scripted' failed: this run cannot converge \(2 of 3 "
                                         r"runs are finished and kept in .*running the study again resumes"):
        run_study(study, store, executor="ray")
    assert store.finished("scripted") == {"a", "c"}
    assert len(list(tmp_path.glob("bad.*"))) == 1  # an error in the run is not retried


def test_an_error_with_keywords_comes_back_whole(cluster, tmp_path):
    def diverge(callback):
        raise NonFiniteError("the loss became NaN", step=3, members=[1])

    class Diverging(Study):
        name, title, description = "diverging", "Diverging", "A run that raises under on_nonfinite='raise'."

        def plan(self, *, quick, seeds):
            return [RunSpec("nan", 1, diverge)]

    with pytest.raises(NonFiniteError, match=r"Run 'nan' of study 'diverging' failed: the loss became NaN") as caught:
        run_study(Diverging(), tmp_path / "runs", executor="ray")
    assert (caught.value.step, caught.value.members) == (3, [1])


def test_a_killed_worker_is_retried_once_then_named_and_a_rerun_resumes(cluster, tmp_path):
    store, marks = Store(tmp_path / "runs"), tmp_path / "marks"
    marks.mkdir()
    study = Scripted({"a": "finish", "dies": "die", "dies-once": "die once", "d": "finish"}, marks)
    with pytest.raises(ExecutorError, match=r"Run 'dies' of study 'scripted' was lost: its worker died "
                                            r"\(WorkerCrashedError: .*; tried 2 times\)\. 3 of 4 runs are finished"):
        run_study(study, store, executor="ray")
    assert store.finished("scripted") == {"a", "dies-once", "d"}
    assert len(list(marks.glob("dies.*"))) == 2 and len(list(marks.glob("dies-once.*"))) == 2
    result = run_study(Scripted({**study.how, "dies": "finish"}, marks), store, executor="ray")
    assert (result.ran, sorted(result.skipped)) == (["dies"], ["a", "d", "dies-once"])


class StopAfterFirst:
    """A progress reporter that presses Ctrl-C when the first run is stored."""

    def study_started(self, study, total_runs, skipped):
        pass

    def run_started(self, name, steps):
        raise AssertionError("runs on Ray report only their end")

    def run_step(self, step, metrics):
        raise AssertionError("runs on Ray report only their end")

    def run_finished(self, name, seconds):
        raise KeyboardInterrupt


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_keeps_the_finished_runs_and_cancels_those_in_flight(cluster, tmp_path):
    store, marks = Store(tmp_path / "runs"), tmp_path / "marks"
    marks.mkdir()
    study = Scripted({"slow": "sleep", "fast": "after slow"}, marks)
    begun = time.monotonic()
    with pytest.raises(RunInterrupted, match=r"interrupted: 1 of 2 runs are finished") as caught:
        run_study(study, store, executor="ray", progress=StopAfterFirst())
    assert time.monotonic() - begun < 30
    assert caught.value.partial.ran == ["fast"]
    assert store.finished("scripted") == {"fast"}
    (slow,) = [int(path.suffix[1:]) for path in marks.glob("slow.*")]
    deadline = time.monotonic() + 10
    while _alive(slow) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(slow), "the run in flight was not cancelled"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NoSession:
    """Stands in for the ``ray`` module with no session, refusing to start one."""

    def is_initialized(self):
        return False

    def init(self, **options):
        raise AssertionError(f"ray.init must not be called, got {options}")


def test_an_unreachable_address_is_named_at_once_and_nothing_is_written(tmp_path):
    port = _free_port()
    executor = RayExecutor(f"127.0.0.1:{port}", timeout=2)
    executor.ray = NoSession()
    begun = time.monotonic()
    with pytest.raises(ExecutorError, match=rf"No Ray cluster answers at '127\.0\.0\.1:{port}' .*nothing was run"):
        run_study(Tiny(), tmp_path / "runs", executor=executor)
    assert time.monotonic() - begun < 3
    assert Store(tmp_path / "runs").names("tiny") == []


@pytest.fixture
def listener():
    """Start TCP servers on localhost, each answering every connection with its ``reply`` (b"": never answers)."""
    sockets = []

    def serve(reply):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        sockets.append(server)

        def loop():
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:  # closed at teardown
                    return
                sockets.append(connection)
                if reply:
                    connection.sendall(reply)

        threading.Thread(target=loop, daemon=True).start()
        return f"127.0.0.1:{server.getsockname()[1]}"

    yield serve
    for each in sockets:
        each.close()


def test_a_service_that_is_not_ray_or_never_answers_is_named(listener):
    executor = RayExecutor(listener(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    executor.ray = NoSession()
    with pytest.raises(ExecutorError, match=r"Something answers at '127\.0\.0\.1:\d+', but not as Ray does"):
        executor.check()
    silent = RayExecutor(listener(b""), timeout=0.3)
    silent.ray = NoSession()
    with pytest.raises(ExecutorError, match=r"No Ray cluster answers at '127\.0\.0\.1:\d+' \(no answer in 0\.3 s\)"):
        silent.check()


def test_the_check_knows_a_ray_head_node(cluster):
    executor = RayExecutor(ray.get_runtime_context().gcs_address)
    executor.ray = NoSession()
    executor.check()  # raises if the cluster's own GCS port does not pass


@pytest.mark.parametrize("address", ["localhost", "host:port", ":6379", "10.0.0.5:0", "10.0.0.5:70000", ""])
def test_a_malformed_address_is_refused(address):
    with pytest.raises(ValueError, match=rf"`address` must be HOST:PORT .*got '{address}'"):
        RayExecutor(address)


def test_without_ray_the_message_gives_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    with pytest.raises(ImportError, match=r'needs Ray .*pip install "gradtrace\[ray\]"'):
        run_study(Tiny(), tmp_path / "runs", executor="ray")
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(app, ["run", "through-time", "--quick", "--executor", "ray",
                                      "--out", str(tmp_path / "cli")])
    assert result.exit_code == 1, result.output
    assert 'pip install "gradtrace[ray]"' in result.output
    assert not (tmp_path / "cli").exists()


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"executor": "ray", "workers": 2}, ValueError, r"`workers` is for executor='local'.*got workers=2"),
    ({"address": "10.0.0.5:6379"}, ValueError, r"`address` is for executor='ray', got address='10\.0\.0\.5:6379'"),
    ({"executor": "dask"}, ValueError, r"Unknown executor 'dask' for `executor`\. Available: 'local', 'ray'\."),
    ({"executor": 2}, TypeError, r"`executor` must be 'local', 'ray' or an Executor, got 2\."),
    ({"executor": LocalExecutor(), "workers": 2}, ValueError, r"configure an executor by name; the executor "
                                                              r"LocalExecutor\(workers=1\) was given"),
])
def test_run_study_refuses_executor_options_that_do_not_go_together(tmp_path, options, error, message):
    with pytest.raises(error, match=message):
        run_study(Tiny(), tmp_path / "runs", **options)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--address", "10.0.0.5:6379"], "`--address` is for `--executor ray`"),
    (["--executor", "dask"], "Unknown executor 'dask' for `--executor`. Available: 'local', 'ray'."),
    (["--executor", "ray", "--workers", "2"], "`--workers` is for the local executor"),
    (["--executor", "ray", "--address", "nowhere"], "`--address` must be HOST:PORT"),
])
def test_the_cli_refuses_options_that_do_not_go_together(tmp_path, arguments, message):
    result = CliRunner().invoke(app, ["run", "through-time", "--quick", "--out", str(tmp_path / "runs"), *arguments])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()


def test_the_cli_names_an_unreachable_address_before_making_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(executors_module, "_import_ray", NoSession)
    port = _free_port()
    result = CliRunner().invoke(app, ["run", "through-time", "--quick", "--executor", "ray", "--address",
                                      f"127.0.0.1:{port}", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    assert f"No Ray cluster answers at '127.0.0.1:{port}'" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()
