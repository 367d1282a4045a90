"""Training jobs of the playground: one :func:`gradtrace.fit` per job, in a worker thread, and the slots they wait for.

Why threads and not processes: a job is small by construction (see :mod:`gradtrace.web.settings`), so its
cost is dominated by torch's kernels, which release the GIL; a thread starts at once (no second import of
torch, so the first frame comes within a fraction of a second of "play"), shares the one copy of torch's
code and memory (twenty visitors do not cost twenty interpreters), and stops at its next step when the
visitor leaves. Each job runs with one torch thread, and at most ``max_jobs`` (by default one per core) run
at once; further ones wait in a bounded queue or are refused. The price: the Python part of concurrent
jobs' steps shares one interpreter lock, so two jobs on two cores train at somewhat less than twice the
speed of one.

A :class:`Job` drives ``fit`` through its ``callback``: after each step it records the loss, the gradient
norm and whether a clip fired; at most ``max_fps`` times a second (and at every step while stepping or
paused) it measures the current model with :func:`gradtrace.trace` on a fixed probe batch and emits a
frame. So the numbers on the page are gradtrace's own: the trace of the model after that many steps of
``fit``, on the batch ``task.sample(batch_size, seed=seed + PROBE_SEED_OFFSET)``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from gradtrace.web.settings import PlaygroundSettings, build

__all__ = ["MAX_FPS", "PAUSE_TIMEOUT", "PROBE_SEED_OFFSET", "Job", "JobStopped", "Slots", "probe_batch"]

#: Frames per second at most: more than a browser redraws usefully, and each costs one trace.
MAX_FPS = 20.0
#: A job paused this many seconds is stopped, so a forgotten tab does not hold a slot for ever.
PAUSE_TIMEOUT = 600.0
#: The probe batch that every frame traces is drawn with seed ``seed + PROBE_SEED_OFFSET``: a fixed
#: batch apart from the training stream, so the profile changes only because the model does.
PROBE_SEED_OFFSET = 7919


class JobStopped(Exception):
    """Raised inside ``fit``'s callback to end a job that was stopped, reset or abandoned."""


def probe_batch(settings: PlaygroundSettings, task: Any):
    """Return the fixed batch every frame of a job with ``settings`` traces."""
    return task.sample(settings.batch_size, seed=settings.seed + PROBE_SEED_OFFSET)


def _finite(value: float) -> float | None:
    # JSON has no NaN or infinity: a diverged member's reading is sent as null and drawn as a gap.
    return value if math.isfinite(value) else None


def _positive(value: float) -> float | None:
    # a log axis cannot place 0 (a gradient that underflowed): a gap too
    return value if math.isfinite(value) and value > 0 else None


class Job:
    """One training run of the playground, driven from a worker thread; controlled from any thread.

    Args:
        settings: what to train.
        emit: called from the worker thread with each message (a dict, see :mod:`gradtrace.web.playground`);
            returns False when nobody is listening any more, which stops the job.
        max_fps: frames per second at most.
    """

    def __init__(self, settings: PlaygroundSettings, emit: Callable[[dict], bool], *, max_fps: float = MAX_FPS,
                 pause_timeout: float = PAUSE_TIMEOUT):
        self.settings = settings
        self.emit = emit
        self.interval = 1.0 / max_fps
        self.pause_timeout = pause_timeout
        self._lock = threading.Condition()
        self._paused = False
        self._steps_left: int | None = None  # while stepping: steps to run before pausing again
        self._stopped = False
        self._radius: float | None = None  # a ρ asked for mid-training, applied before the next step
        self._pending: dict[str, list] = {"step": [], "loss": [], "grad_norm": [], "clipped": []}
        self._last_frame = 0.0
        self.frames = 0

    # -- control, from any thread -------------------------------------------------------------------------
    def pause(self) -> None:
        """Pause after the current step (a frame of that step is sent)."""
        with self._lock:
            self._paused, self._steps_left = True, None
            self._lock.notify_all()

    def resume(self) -> None:
        """Carry on training."""
        with self._lock:
            self._paused, self._steps_left = False, None
            self._lock.notify_all()

    def step(self, count: int = 1) -> None:
        """Train ``count`` more steps, then pause (each of them sends a frame)."""
        with self._lock:
            self._paused, self._steps_left = False, count
            self._lock.notify_all()

    def stop(self) -> None:
        """End the job at its next step."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    def set_spectral_radius(self, radius: float) -> None:
        """Rescale W_rec to spectral radius ``radius`` before the next step (a recurrent network only)."""
        with self._lock:
            self._radius = radius
            self._lock.notify_all()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    # -- the worker thread --------------------------------------------------------------------------------
    def run(self) -> None:
        """Train (in the calling thread) and emit every message, ending with "finished" or "error"."""
        import torch

        from gradtrace.errors import GradtraceError
        from gradtrace.train import fit

        torch.set_num_threads(1)
        try:
            built = build(self.settings)
            self.model, self.task = built.model, built.task
            self.probe = probe_batch(self.settings, built.task)
            started = time.perf_counter()
            self._send({"type": "started", "axis": "time" if self.settings.recurrent else "depth",
                        "path_length": int(self._trace()["length"]), "settings": self.settings.model_dump()})
            self._frame(-1)  # the untrained network: the first picture, before any step
            options = built.fit_options(self.settings)
            run = fit(built.model, built.task, **options, trace_every=self.settings.steps,
                      eval_every=self.settings.steps, eval_batch_size=min(256, 4 * self.settings.batch_size),
                      callback=self._on_step)
            if self._pending["step"]:
                self._frame(run.steps_done - 1)
            final = {key.split("/")[1]: _finite(float(torch.as_tensor(value).double().mean()))
                     for key, value in run.final.items()}
            self._send({"type": "finished", "status": "finished", "step": run.steps_done,
                        "seconds": time.perf_counter() - started, "final": final})
        except JobStopped:
            self._send({"type": "finished", "status": "stopped", "step": self._pending["step"][-1]
                        if self._pending["step"] else None})
        except (ValueError, TypeError, GradtraceError) as error:
            self._send({"type": "error", "code": "training", "message": str(error)})

    def _send(self, message: dict) -> None:
        if not self.emit(message):
            self.stop()

    def _on_step(self, step: int, metrics: dict) -> None:
        clipped = [value for key, value in metrics.items() if key.endswith("/fired")]
        pending = self._pending
        pending["step"].append(step)
        pending["loss"].append(_finite(float(metrics["train/loss"].double().nanmean())))
        pending["grad_norm"].append(_finite(float(metrics["grad/norm"].double().nanmean())))
        pending["clipped"].append(bool(any(bool((value > 0).any()) for value in clipped)))
        self._apply_radius()
        with self._lock:
            if self._steps_left is not None:
                self._steps_left -= 1
                if self._steps_left <= 0:
                    self._paused, self._steps_left = True, None
            stepping = self._paused or self._steps_left is not None
        if self._stopped:
            raise JobStopped
        if stepping or time.perf_counter() - self._last_frame >= self.interval or step == self.settings.steps - 1:
            self._frame(step)
        self._wait_while_paused(step)

    def _wait_while_paused(self, step: int) -> None:
        waited_since = None
        with self._lock:
            while self._paused and not self._stopped:
                if waited_since is None:
                    waited_since = time.monotonic()
                    self._lock.release()
                    try:
                        self._send({"type": "paused", "step": step})
                    finally:
                        self._lock.acquire()
                if self._radius is not None:  # a ρ set while paused is shown at once
                    self._lock.release()
                    try:
                        self._frame(step)
                    finally:
                        self._lock.acquire()
                    continue
                if time.monotonic() - waited_since > self.pause_timeout:
                    self._stopped = True
                    break
                self._lock.wait(timeout=1.0)
            stopped = self._stopped
        if stopped:
            raise JobStopped

    def _apply_radius(self) -> None:
        with self._lock:
            radius, self._radius = self._radius, None
        if radius is not None and self.settings.recurrent:
            from gradtrace.models.initialization import initialize

            initialize(self.model, "spectral", radius=radius)

    def _trace(self) -> dict[str, Any]:
        """Trace the current model on the probe batch: the profile (geometric mean over finite members), its summary."""
        import torch

        from gradtrace.instruments import trace

        # no Jacobians: the page draws the profile, and the frame rate would pay for them
        quick = {"jacobian_steps": 0} if self.settings.recurrent else {"jacobian_examples": 0}
        measured = trace(self.model, self.probe, **quick)
        norms = measured.grad_norms.double()  # (K, path length)
        finite = torch.isfinite(norms).all(-1) & (norms > 0).any(-1)
        if bool(finite.any()):
            # geometric mean over the members: the average of the log-profiles the page draws
            profile = norms[finite].clamp_min(1e-300).log().mean(0).exp()
            profile = torch.where((norms[finite] > 0).all(0), profile, torch.zeros_like(profile))
        else:
            profile = torch.full((norms.shape[-1],), float("nan"), dtype=torch.float64)
        summary = measured.summary()

        def mean_of(key: str) -> float | None:
            value = summary.get(key)
            if value is None:
                return None
            value = value.double()
            finite = torch.isfinite(value)
            return _finite(float(value[finite].mean())) if bool(finite.any()) else None

        radius = mean_of("trace/spectral_radius")
        return {"length": norms.shape[-1], "profile": [_positive(float(v)) for v in profile],
                "decay_rate": mean_of("trace/decay_rate"), "horizon": mean_of("trace/horizon"),
                "spectral_radius": radius}

    def _frame(self, step: int) -> None:
        self._apply_radius()
        measured = self._trace()
        pending = self._pending
        frame = {"type": "frame", "step": step, "steps": pending["step"], "loss": pending["loss"],
                 "grad_norm": pending["grad_norm"], "clipped": pending["clipped"], "profile": measured["profile"],
                 "decay_rate": measured["decay_rate"], "horizon": measured["horizon"],
                 "spectral_radius": measured["spectral_radius"]}
        self._pending = {"step": [], "loss": [], "grad_norm": [], "clipped": []}
        self._last_frame = time.perf_counter()
        self.frames += 1
        self._send(frame)


class Slots:
    """At most ``max_jobs`` jobs at once; up to ``max_queue`` more wait their turn in order; the rest are refused.

    Used from the event loop only. :meth:`acquire` returns a slot at once or after waiting (calling
    ``on_position`` with the place in the queue each time it changes), or None when the queue is full.
    """

    def __init__(self, max_jobs: int, max_queue: int):
        self.max_jobs = max_jobs
        self.max_queue = max_queue
        self.running = 0
        self.waiting: list[tuple[asyncio.Future, Callable[[int], Any]]] = []
        self.served = 0
        self.refused = 0

    async def acquire(self, on_position: Callable[[int], Any]) -> bool:
        """Wait for a slot; return False at once (refused) when ``max_queue`` others are already waiting."""
        if self.running < self.max_jobs and not self.waiting:
            self.running += 1
            self.served += 1
            return True
        if len(self.waiting) >= self.max_queue:
            self.refused += 1
            return False
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, on_position))
        try:
            await on_position(len(self.waiting))
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted just as the waiter left: hand it on
                self.release()
            else:
                self._leave(future)
            raise
        self.served += 1
        return True

    def release(self) -> None:
        """Free a slot: the first in the queue takes it and the others move up."""
        while self.waiting:
            future, _ = self.waiting.pop(0)
            if not future.done():
                future.set_result(None)
                self._announce()
                return
        self.running -= 1

    def _leave(self, future: asyncio.Future) -> None:
        self.waiting = [(f, tell) for f, tell in self.waiting if f is not future]
        self._announce()

    def _announce(self) -> None:
        for position, (_, tell) in enumerate(self.waiting, start=1):
            asyncio.ensure_future(tell(position))
