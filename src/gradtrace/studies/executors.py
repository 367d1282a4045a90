"""Executors: where a study's runs execute — in this process, in forked workers, or on a Ray cluster.

Whatever runs them, one process alone writes the run store: the one that called
:func:`~gradtrace.studies.base.run_study` (the driver). An executor hands each outcome back to it as the
run finishes, and the driver writes it at once, so a crashed worker or a killed driver loses at most the
runs in flight, and running the study again resumes from the store. Every run seeds itself, so its numbers
do not depend on the executor that ran it.

The executors know nothing of stores or studies: :func:`~gradtrace.studies.base.run_study` gives them the
runs to do and a :class:`RunSink` that writes, reports progress and words the errors.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import torch

from gradtrace.errors import GradtraceError, RunInterrupted, check_choice, check_int, check_real, describe

if TYPE_CHECKING:  # the run and its outcome are defined by the studies' base, which imports this module
    from gradtrace.studies.base import Outcome, RunSpec

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "MissingRayError",
    "RAY_INSTALL",
    "RayExecutor",
    "RunSink",
    "available_cores",
    "check_address",
    "make_executor",
]

#: The executors ``run_study(executor=...)`` and ``gradtrace run --executor`` take by name.
EXECUTORS = ("local", "ray")
#: What pip needs to run studies on Ray.
RAY_INSTALL = 'pip install "gradtrace[ray]"'
#: The most worker processes the local executor runs side by side (far beyond any machine's useful count).
MAX_WORKERS = 256
#: The most torch threads one run takes on Ray (a run is one task; more threads than a node's cores never start).
MAX_THREADS = 256


class ExecutorError(GradtraceError):
    """A study's runs could not be executed: the cluster is unreachable or was lost, or a worker died mid-run."""


class MissingRayError(ExecutorError, ImportError):
    """Ray, the ``ray`` extra, is not installed."""


class RunSink(Protocol):
    """What an executor hands each run's events and outcome to, in the driver (the studies' base writes the store).

    ``step`` is the per-step callback a run in this process reports to (None: no step progress).
    """

    step: Callable[[int, dict], None] | None

    def run_started(self, spec: RunSpec) -> None:
        """A run starts in this process (executors that run elsewhere never call it)."""

    def run_finished(self, spec: RunSpec, outcome: Outcome, seconds: float) -> None:
        """Store a finished run's outcome; ``seconds`` is the run's own time, where it ran."""

    def run_interrupted(self, spec: RunSpec, partial: Any, seconds: float) -> None:
        """Keep what a run interrupted by Ctrl-C produced so far (``partial``: an Outcome, or None)."""

    def interrupted(self, during: str | None) -> RunInterrupted:
        """Return the error that stops the study on Ctrl-C, naming the run it stopped, if one."""

    def failed(self, spec: RunSpec, error: BaseException, others: list[str]) -> BaseException:
        """Return ``error``, raised by the run, worded to name it (and ``others`` that failed too)."""

    def lost(self, spec: RunSpec, detail: str, others: list[str]) -> ExecutorError:
        """Return the error for a run whose worker died (``detail`` says how), naming it and ``others``."""


class Executor(ABC):
    """Runs a study's pending runs and hands each outcome to the driver as it finishes.

    An executor is a context manager: what it acquires to run on (a Ray session) is released when the
    outermost ``with`` around it is left. :func:`~gradtrace.studies.base.run_study` enters it around each
    study; enter it yourself around several studies to share one session (the CLI does).
    """

    #: How the executor is named in messages and ``--executor``.
    name: str = ""

    def __init__(self) -> None:
        self._depth = 0

    def check(self) -> None:  # noqa: B027 - optional: most executors have nothing to check
        """Raise if the executor cannot run: called before anything is written (a no-op where nothing can fail)."""

    def __enter__(self) -> Executor:
        self._depth += 1
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._close()

    def _close(self) -> None:  # noqa: B027 - optional: most executors acquire nothing
        """Release what the executor acquired to run on."""

    @abstractmethod
    def execute(self, todo: list[RunSpec], sink: RunSink) -> None:
        """Run every spec in ``todo``, handing each outcome to ``sink`` in this process as it finishes.

        Raises:
            RunInterrupted: on Ctrl-C (``sink.interrupted``), after the finished runs were handed over.
        """


class LocalExecutor(Executor):
    """Run a study on this machine: one run after another in this process, or side by side in forked workers.

    The built-in runs are small networks that one core runs as fast as two; with ``workers`` > 1 they run in
    that many forked worker processes, each on one torch thread, and the driver stores each outcome as it
    arrives. Workers need the ``fork`` start method (Linux); elsewhere the runs go one after another. A worker
    ends with its driver, even when the driver is killed outright (``kill -9``).

    Args:
        workers: processes that run the runs side by side (1: in this process, with step progress and, on
            Ctrl-C, the interrupted run's partial results kept).

    Raises:
        TypeError, ValueError: if ``workers`` is not an integer in [1, 256].
    """

    name = "local"

    def __init__(self, workers: int = 1):
        super().__init__()
        self.workers = check_int("workers", workers, minimum=1, maximum=MAX_WORKERS)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def execute(self, todo: list[RunSpec], sink: RunSink) -> None:
        """Run ``todo`` here, or in forked workers; see the class."""
        if self.workers > 1 and len(todo) > 1 and "fork" in multiprocessing.get_all_start_methods():
            _run_in_workers(todo, min(self.workers, len(todo)), sink)
            return
        for spec in todo:
            sink.run_started(spec)
            begun = time.perf_counter()
            try:
                outcome = spec.execute(sink.step)
            except (RunInterrupted, KeyboardInterrupt) as error:
                sink.run_interrupted(spec, getattr(error, "partial", None), time.perf_counter() - begun)
                raise sink.interrupted(spec.name) from None
            sink.run_finished(spec, outcome, time.perf_counter() - begun)


# The plan a forked worker runs from: set in the driver just before the fork, so a worker reads the
# run specs (closures, which the standard pickle cannot carry) from its copy of the driver's memory.
_WORKER_PLAN: list[RunSpec] = []


def _start_worker(threads: int, parent: int) -> None:
    # Ctrl-C is the driver's to handle: it stops the pool and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    torch.set_num_threads(threads)


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """End this worker as soon as ``parent`` dies, even by ``kill -9`` (which runs no cleanup there).

    Linux delivers SIGKILL to the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
    daemon thread polls the parent's PID. A parent that died before either was set up is caught by
    comparing ``os.getppid()`` to the PID the parent passed in: the worker has been adopted by then.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):  # no libc prctl (e.g. musl without it): the thread below
            armed = False
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="gradtrace-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def _run_in_worker(index: int) -> tuple[int, Outcome | None, float, BaseException | None]:
    begun = time.perf_counter()
    try:
        return index, _WORKER_PLAN[index].execute(None), time.perf_counter() - begun, None
    except Exception as error:  # noqa: BLE001 - handed to the driver, which raises it
        return index, None, time.perf_counter() - begun, error


def _run_in_workers(todo: list[RunSpec], workers: int, sink: RunSink) -> None:
    """Run ``todo`` in forked workers; hand each outcome to ``sink`` as it arrives, in the driver."""
    global _WORKER_PLAN
    _WORKER_PLAN = todo
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker, initargs=(1, os.getpid()))
    try:
        for index, outcome, seconds, error in pool.imap_unordered(_run_in_worker, range(len(todo))):
            if error is not None:
                raise error
            sink.run_finished(todo[index], outcome, seconds)
        pool.close()
    except KeyboardInterrupt:
        raise sink.interrupted(None) from None
    finally:
        pool.terminate()
        pool.join()
        _WORKER_PLAN = []


class RayExecutor(Executor):
    """Run a study's runs as Ray tasks, on this machine or on a cluster, when one machine is not enough.

    Each run is one task that asks Ray for ``threads`` CPUs and runs on that many torch threads; the driver
    (this process) submits them all, stores each outcome as it arrives and draws progress per finished run.
    Every run seeds itself, so the stored numbers are bit-identical to :class:`LocalExecutor`'s.

    Faults:

    - A run that raises: the runs still going finish and are stored, then the error is raised again with
      the run's name (a failed run is not retried: it would fail the same way).
    - A worker that dies mid-run (killed, out of memory, its node lost): Ray runs the task again up to
      ``max_retries`` times, once by default, since a run seeds itself and gives the same numbers on any
      worker, and a lost node is worth one retry; a run that kills its worker every time then costs one
      retry, not Ray's default three. If it dies again the other runs finish and are stored, then
      :class:`ExecutorError` names the run; running the study again resumes.
    - Ctrl-C: the tasks in flight are cancelled; every finished run is already in the store.

    The session: if Ray is initialized in this process (``ray.is_initialized()``), it is used and left as it
    is. Otherwise the executor calls ``ray.init`` when it first has runs to do (a study that is all finished
    starts nothing) and ``ray.shutdown`` when the outermost ``with`` around it is left: with
    ``address`` (or the ``RAY_ADDRESS`` environment variable) it connects to that cluster; with neither it
    starts a local one with a CPU per core, no dashboard, quiet logging and Ray's usage statistics off unless
    ``RAY_USAGE_STATS_ENABLED`` says otherwise (gradtrace sends nothing anywhere). Before connecting, the
    address is checked (:meth:`check`, at most ``timeout`` seconds): Ray itself would keep retrying an
    address where nothing answers for minutes. Every node of a cluster needs gradtrace installed, the same
    version as the driver's. The studies run one after another; a study's runs run side by side.

    Args:
        address: the cluster, ``"HOST:PORT"`` of its head node (Ray's GCS port, 6379 by default),
            ``"ray://HOST:PORT"`` for Ray Client (which needs ``ray[client]``), or ``"auto"`` (a cluster started
            with ``ray start`` on this machine); None: ``RAY_ADDRESS`` if set, else a new local cluster.
        threads: CPUs each run asks for and torch threads it runs on.
        max_retries: how many times Ray runs a task again when its worker dies (not when the run raises).
        timeout: seconds to wait for the cluster's port to answer.

    Raises:
        MissingRayError: if Ray is not installed (the message gives the install command).
        TypeError, ValueError: for an ``address`` that is not ``HOST:PORT``, ``ray://HOST:PORT`` or ``"auto"``,
            or out-of-range numbers.

    Example:
        One session for two studies, on a running cluster (not run here: it needs one)::

            from gradtrace.studies import RayExecutor, run_study

            with RayExecutor("10.0.0.5:6379") as executor:
                for name in ("through-time", "exploding"):
                    run_study(name, "runs/cluster", executor=executor)
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, threads: int = 1, max_retries: int = 1,
                 timeout: float = 5.0):
        super().__init__()
        self.ray = _import_ray()
        if address is not None:
            address = check_address("address", address)
        self.address = address
        self.threads = check_int("threads", threads, minimum=1, maximum=MAX_THREADS)
        self.max_retries = check_int("max_retries", max_retries, minimum=0, maximum=100)
        self.timeout = check_real("timeout", timeout, minimum=0.01, maximum=600.0)
        self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, threads={self.threads}, max_retries={self.max_retries})"

    def target(self) -> str | None:
        """Return the address the executor connects to: ``address``, else ``RAY_ADDRESS``, else None (a new cluster)."""
        if self.address is not None:
            return self.address
        if os.environ.get("RAY_ADDRESS"):
            return check_address("RAY_ADDRESS", os.environ["RAY_ADDRESS"])
        return None

    def check(self) -> None:  # noqa: B027 - optional: most executors have nothing to check
        """Raise unless a Ray server answers at the address (nothing to check for a new local cluster or a session).

        Ray's head node (its GCS) and Ray Client both speak gRPC, over HTTP/2: the check opens a TCP connection,
        sends HTTP/2's connection preface and reads the server's first frame, which must be its SETTINGS. An
        address where nothing listens fails at once, one that does not answer after ``timeout`` seconds, and a
        port that is not Ray's (the dashboard's 8265, say) as soon as it replies.

        Raises:
            ExecutorError: naming the address, if nothing answers there as a gRPC server within ``timeout`` seconds.
        """
        if self.ray.is_initialized():
            return
        target = self.target()
        if target is None or target == "auto":  # Ray itself finds (or refuses at once) a cluster on this machine
            return
        host, port = _host_port(target)
        hint = ("Start one with `ray start --head` there, or check the address (the head node's GCS port, 6379 by "
                "default); nothing was run.")
        try:
            reply = _http2_hello(host, port, self.timeout)
        except OSError as error:
            why = f"no answer in {self.timeout:g} s" if isinstance(error, TimeoutError) else (
                error.strerror or str(error))
            raise ExecutorError(f"No Ray cluster answers at {target!r} ({why}). {hint}") from None
        if len(reply) < 9 or reply[3] != _HTTP2_SETTINGS:
            raise ExecutorError(f"Something answers at {target!r}, but not as Ray does (gRPC): another service, or "
                                f"the dashboard's port rather than the GCS port? {hint}")

    def _connect(self) -> None:
        """Start or join the Ray session, unless one is there (called when there are runs to do, not before)."""
        ray = self.ray
        if ray.is_initialized():
            return
        self.check()
        target = self.target()
        options: dict[str, Any] = {"logging_level": logging.ERROR, "include_dashboard": False}
        if target is None:
            # Ray reports usage to its makers from clusters it starts unless told not to; a user's choice stands.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            options["num_cpus"] = available_cores()
        else:
            options["address"] = target
        try:
            ray.init(**options)
        except Exception as error:  # noqa: BLE001 - Ray's own kinds vary by version; all mean "no session"
            raise ExecutorError(f"Ray could not {'connect to ' + repr(target) if target else 'start a local cluster'}"
                                f": {type(error).__name__}: {error}") from error
        self._started = True
        try:
            cpus = ray.cluster_resources().get("CPU", 0)
        except Exception:  # noqa: BLE001 - a cluster that cannot say: let Ray schedule as it can
            cpus = None
        if cpus is not None and cpus < self.threads:
            self._close()
            raise ExecutorError(f"The Ray cluster at {target or 'this machine'} has {cpus:g} CPUs; a run asks for "
                                f"`threads` = {self.threads} and would never start.")

    def _close(self) -> None:
        if self._started:
            self._started = False
            self.ray.shutdown()

    def execute(self, todo: list[RunSpec], sink: RunSink) -> None:
        """Run ``todo`` as Ray tasks; see the class.

        Raises:
            ExecutorError: if a run's worker died more than ``max_retries`` times (after the others finished),
                or the cluster was lost.
            Exception: what a run raised, naming it (after the others finished).
            RunInterrupted: on Ctrl-C, with the tasks in flight cancelled.
        """
        if not todo:
            return
        ray = self.ray
        with self:
            self._connect()
            remote = ray.remote(_run_in_ray_worker).options(num_cpus=self.threads, max_retries=self.max_retries,
                                                             retry_exceptions=False)
            pending = {remote.remote(spec, self.threads): spec for spec in todo}
            failures: list[tuple[RunSpec, BaseException | None, str]] = []
            try:
                while pending:
                    # A short timeout keeps Ctrl-C prompt: the wait is a call into Ray, which signals cannot cut.
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                    for ref in ready:
                        spec = pending.pop(ref)
                        try:
                            outcome, seconds, error, where = ray.get(ref)
                        except ray.exceptions.RayTaskError as task_error:  # the task's own code failed outside the run
                            failures.append((spec, task_error.cause or task_error, ""))
                            continue
                        except ray.exceptions.RayError as ray_error:  # the worker or its node died, retries spent
                            failures.append((spec, None, f"{type(ray_error).__name__}: {_first_line(ray_error)}"))
                            continue
                        if error is not None:
                            failures.append((spec, error, where))
                        else:
                            sink.run_finished(spec, outcome, seconds)
            except KeyboardInterrupt:
                _cancel(ray, pending)
                raise sink.interrupted(None) from None
            except ray.exceptions.RayError as error:  # the wait itself failed: the cluster is gone
                _cancel(ray, pending)
                raise ExecutorError(f"The Ray cluster was lost ({type(error).__name__}: {_first_line(error)}) with "
                                    f"{len(pending)} runs in flight; every finished run is stored. Run the study "
                                    "again to resume.") from None
            finally:
                _cancel(ray, pending)
            if failures:
                spec, error, detail = failures[0]
                others = [other.name for other, _, _ in failures[1:]]
                if error is None:
                    tries = self.max_retries + 1
                    raise sink.lost(spec, f"{detail}; tried {tries} time{'s' if tries > 1 else ''}", others)
                if detail and hasattr(error, "add_note"):  # the worker's traceback, which pickling dropped
                    error.add_note(f"In the Ray worker:\n{detail}")
                raise sink.failed(spec, error, others) from error


#: HTTP/2's client connection preface, then an empty SETTINGS frame (RFC 9113, sections 3.4 and 6.5).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
#: The type of a SETTINGS frame: the first frame an HTTP/2 server sends.
_HTTP2_SETTINGS = 4


def _http2_hello(host: str, port: int, timeout: float) -> bytes:
    """Send HTTP/2's preface to ``host:port`` and return the first 9 bytes back (a frame header), or fewer."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.settimeout(timeout)
        connection.sendall(_HTTP2_PREFACE)
        reply = b""
        while len(reply) < 9:
            chunk = connection.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
        return reply


def _run_in_ray_worker(spec: RunSpec, threads: int) -> tuple[Outcome | None, float, BaseException | None, str]:
    """Run ``spec`` in a Ray worker: (outcome, seconds, error, the error's traceback) back to the driver."""
    torch.set_num_threads(threads)
    begun = time.perf_counter()
    try:
        outcome = spec.execute(None)
    except Exception as error:  # noqa: BLE001 - handed to the driver, which raises it naming the run
        return None, time.perf_counter() - begun, _portable(error), traceback.format_exc()
    return outcome, time.perf_counter() - begun, None, ""


def _portable(error: Exception) -> Exception:
    """Return ``error`` if it survives pickling, else a RuntimeError that says what it was."""
    from ray import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(error))
    except Exception as problem:  # noqa: BLE001 - any error in the round trip means it cannot travel
        return RuntimeError(f"{type(error).__name__}: {error} (the error itself could not be sent back from the "
                            f"Ray worker: {type(problem).__name__}: {problem})")
    return error


def _cancel(ray: Any, pending: dict) -> None:
    """Cancel the tasks in ``pending`` (killing their workers) and forget them."""
    for ref in list(pending):
        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - a task that finished or whose worker is gone needs no cancelling
            pass
    pending.clear()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def _import_ray() -> Any:
    """Return the ``ray`` module, or raise :class:`MissingRayError` with the install command."""
    try:
        import ray
    except ImportError as error:
        raise MissingRayError(f"Running studies on Ray needs Ray (the `ray` extra): {RAY_INSTALL}") from error
    return ray


def check_address(name: str, address: Any) -> str:
    """Return ``address`` if it is ``HOST:PORT``, ``ray://HOST:PORT`` or ``"auto"``; else raise naming ``name``.

    Raises:
        TypeError: if ``address`` is not a string.
        ValueError: if it is none of those forms, or the port is not in 1..65535.

    Example:
        >>> check_address("address", "10.0.0.5:6379")
        '10.0.0.5:6379'
    """
    if not isinstance(address, str):
        raise TypeError(f"`{name}` must be a string such as '10.0.0.5:6379', got {describe(address)}.")
    if address == "auto":
        return address
    try:
        _host_port(address)
    except ValueError:
        raise ValueError(f"`{name}` must be HOST:PORT (the Ray head node's GCS port, e.g. '10.0.0.5:6379'), "
                         f"ray://HOST:PORT or 'auto', got {address!r}.") from None
    return address


def _host_port(address: str) -> tuple[str, int]:
    """Split ``[ray://]HOST:PORT`` (IPv6 hosts in brackets); raise ValueError if it is not that."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, separator, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
        raise ValueError(address)
    return host, int(port)


def available_cores() -> int:
    """Return the CPU cores this process may run on (its affinity, where the system says; else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_executor(executor: str | Executor = "local", *, workers: int = 1, address: str | None = None) -> Executor:
    """Return the executor ``run_study(executor=..., workers=..., address=...)`` asks for.

    Args:
        executor: ``"local"``, ``"ray"``, or an :class:`Executor` (then ``workers`` and ``address`` stay unset).
        workers: the local executor's worker processes.
        address: the Ray cluster (``"ray"`` only).

    Raises:
        TypeError: if ``executor`` is neither a name nor an Executor.
        ValueError: for an unknown name, ``address`` without Ray, or ``workers`` > 1 with Ray (Ray runs as
            many runs side by side as the cluster has CPUs).
        MissingRayError: for ``"ray"`` without Ray installed.
    """
    if isinstance(executor, Executor):
        if workers != 1 or address is not None:
            raise ValueError(f"`workers` and `address` configure an executor by name; the executor {executor!r} "
                             f"was given, with workers={workers!r}, address={address!r}.")
        return executor
    if not isinstance(executor, str):
        raise TypeError(f"`executor` must be 'local', 'ray' or an Executor, got {describe(executor)}.")
    check_choice("executor", executor, EXECUTORS, what="executor")
    if executor == "local":
        if address is not None:
            raise ValueError(f"`address` is for executor='ray', got address={address!r} with executor='local'.")
        return LocalExecutor(workers)
    if workers != 1:
        raise ValueError(f"`workers` is for executor='local': Ray runs as many runs side by side as the cluster has "
                         f"CPUs, got workers={workers!r}.")
    return RayExecutor(address)
