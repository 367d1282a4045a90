"""The live playground's websocket: one connection per open page, at most one training job per connection.

Protocol (JSON text frames; every client message is validated, and one longer than
:data:`MAX_MESSAGE_BYTES`, not JSON, or not one of these gets an ``error`` frame — the connection stays open):

Client → server
    ``{"type": "start", "settings": {...}}``
        Train with these :class:`~gradtrace.web.settings.PlaygroundSettings` (unknown or out-of-bounds
        settings are refused, naming the limit). A job this connection is running is stopped first.
    ``{"type": "pause"}``, ``{"type": "resume"}``, ``{"type": "stop"}``
    ``{"type": "step", "count": 1}``
        Train ``count`` (1–100) more steps, sending a frame after each, then pause.
    ``{"type": "set", "spectral_radius": 1.5}``
        Rescale the running network's W_rec to this spectral radius before its next step.

Server → client
    ``{"type": "hello", "limits": {...}, "max_jobs": n, "max_queue": n, "max_fps": f, "max_message_bytes": n}``
        On connecting.
    ``{"type": "queued", "position": p}``
        Every slot is busy; this job is p-th in the queue (sent again each time it moves up).
    ``{"type": "refused", "code": "busy", "message": "...", "running": n, "max_jobs": n, "max_queue": n}``
        The queue is full too: try again later.
    ``{"type": "started", "axis": "time" | "depth", "path_length": n, "settings": {...}}``
    ``{"type": "frame", "step": s, "steps": [...], "loss": [...], "grad_norm": [...], "clipped": [...],
    "profile": [...], "decay_rate": r, "horizon": h, "spectral_radius": ρ}``
        At most ``max_fps`` a second. ``steps``/``loss``/``grad_norm``/``clipped`` hold every step since the
        previous frame (so no step's loss is lost); ``profile`` is ‖∂L/∂h_t‖ for t = 1…T (or per layer) of the
        model after step ``s`` (−1: before training) from :func:`gradtrace.trace`, null where it is 0 or not
        finite. ``clipped`` is true where a clipping remedy acted on some member.
    ``{"type": "paused", "step": s}``
    ``{"type": "finished", "status": "finished" | "stopped", "step": n, ...}``
        ``final`` (the held-out loss, accuracy and success) when training ran to the end.
    ``{"type": "error", "code": "message" | "too_large" | "settings" | "training" | "no_job", "message": "..."}``

A connection that closes stops its job at the job's next step, or takes it out of the queue; a client that
reads no frame for :data:`STALL_TIMEOUT` seconds has its job stopped too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gradtrace.web.jobs import MAX_FPS, Job, Slots
from gradtrace.web.settings import LIMITS, check_settings, validation_message

__all__ = ["MAX_MESSAGE_BYTES", "STALL_TIMEOUT", "ClientMessage", "Session", "parse_message"]

#: The longest client message accepted, in bytes (settings take about 500).
MAX_MESSAGE_BYTES = 8192
#: Frames waiting to be sent to a slow client before its job waits for it.
OUTBOX_FRAMES = 64
#: Seconds a job waits for a client that reads none of its frames before it is stopped: a page that stopped
#: reading (or a client that never does) must not hold a training slot for ever.
STALL_TIMEOUT = 60.0


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Message):
    type: Literal["start"]
    settings: dict[str, Any]


class Pause(_Message):
    type: Literal["pause"]


class Resume(_Message):
    type: Literal["resume"]


class Stop(_Message):
    type: Literal["stop"]


class Step(_Message):
    type: Literal["step"]
    count: int = Field(1, ge=1, le=100)


class Set(_Message):
    type: Literal["set"]
    spectral_radius: float = Field(ge=LIMITS["spectral_radius"][0], le=LIMITS["spectral_radius"][1])


#: A client message, told apart by its ``type``.
ClientMessage = Annotated[Start | Pause | Resume | Stop | Step | Set, Field(discriminator="type")]
_MESSAGES: dict[str, type[_Message]] = {"start": Start, "pause": Pause, "resume": Resume, "stop": Stop, "step": Step,
                                        "set": Set}


def parse_message(text: str) -> Start | Pause | Resume | Stop | Step | Set:
    """Return the client message ``text`` holds.

    Raises:
        ValueError: for text that is too long, not JSON, or not a message of the protocol (the message
            names what was wrong and the valid types).
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise ValueError(f"A message may hold at most {MAX_MESSAGE_BYTES} bytes, got {len(text.encode()):,}.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"A message must be JSON: {error.msg} at character {error.pos}.") from None
    if not isinstance(data, dict) or data.get("type") not in _MESSAGES:
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"A message must be an object whose `type` is one of start, pause, resume, stop, step, "
                         f"set; got {got!r}.")
    try:
        return _MESSAGES[data["type"]].model_validate(data)
    except ValidationError as error:
        kind = _MESSAGES[data["type"]]
        raise ValueError(validation_message(error, kind, f"field of a {data['type']} message")) from None


class Session:
    """The playground's side of one websocket: reads the client's messages, runs its job, sends the frames.

    Args:
        websocket: a Starlette/FastAPI WebSocket (only ``accept``, ``receive``, ``send_text`` and ``close`` are used).
        slots: the server's job slots.
        executor: the worker threads jobs train in.
        max_fps: frames per second at most.
        stall_timeout: seconds a job waits for the client to take a frame before it is stopped.
    """

    def __init__(self, websocket: Any, slots: Slots, executor: concurrent.futures.Executor, *,
                 max_fps: float = MAX_FPS, stall_timeout: float = STALL_TIMEOUT):
        self.websocket = websocket
        self.slots = slots
        self.executor = executor
        self.max_fps = max_fps
        self.stall_timeout = stall_timeout
        self.stalled = False  # the client took no frame of the current job for stall_timeout seconds
        self.job: Job | None = None
        self.task: asyncio.Task | None = None
        self.closed = False

    async def serve(self) -> None:
        """Run the connection until the client leaves; its job is stopped then."""
        self.loop = asyncio.get_running_loop()
        self.outbox: asyncio.Queue = asyncio.Queue(OUTBOX_FRAMES)
        await self.websocket.accept()
        sender = asyncio.create_task(self._send_loop())
        try:
            await self.outbox.put({"type": "hello", "limits": {name: list(bounds) for name, bounds in LIMITS.items()},
                                   "max_jobs": self.slots.max_jobs, "max_queue": self.slots.max_queue,
                                   "max_fps": self.max_fps, "max_message_bytes": MAX_MESSAGE_BYTES})
            while not self.closed:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self._handle(message)
        finally:
            self.closed = True
            await self._end_job()
            sender.cancel()

    async def _handle(self, raw: dict) -> None:
        text = raw.get("text")
        if text is None:
            size = len(raw.get("bytes") or b"")
            code = "too_large" if size > MAX_MESSAGE_BYTES else "message"
            await self._error(code, "Messages are JSON text frames, not binary ones.")
            return
        try:
            message = parse_message(text)
        except ValueError as error:
            code = "too_large" if len(text) > MAX_MESSAGE_BYTES else "message"
            await self._error(code, str(error))
            return
        if isinstance(message, Start):
            try:
                settings = check_settings(message.settings)
            except ValueError as error:
                await self._error("settings", str(error))
                return
            await self._end_job()
            self.task = asyncio.create_task(self._run(settings))
            return
        job = self.job
        if job is None:
            await self._error("no_job", f"No job is running to {message.type}: send start first.")
        elif isinstance(message, Pause):
            job.pause()
        elif isinstance(message, Resume):
            job.resume()
        elif isinstance(message, Step):
            job.step(message.count)
        elif isinstance(message, Set):
            if not job.settings.recurrent:
                await self._error("settings", "`spectral_radius` applies to W_rec; an MLP has none.")
            else:
                job.set_spectral_radius(message.spectral_radius)
        else:
            await self._end_job()

    async def _run(self, settings) -> None:
        async def tell(position: int) -> None:
            await self._put({"type": "queued", "position": position})

        if not await self.slots.acquire(tell):
            await self._put({"type": "refused", "code": "busy", "running": self.slots.running,
                             "max_jobs": self.slots.max_jobs, "max_queue": self.slots.max_queue,
                             "message": f"The server is busy: {self.slots.running} job(s) are training (at most "
                                        f"{self.slots.max_jobs} at once) and {len(self.slots.waiting)} are waiting "
                                        f"(at most {self.slots.max_queue}). Try again in a minute."})
            return
        self.stalled = False
        job = self.job = Job(settings, self._emit, max_fps=self.max_fps)
        future = self.loop.run_in_executor(self.executor, job.run)
        try:
            # shielded: a cancelled session still waits for its thread to stop before the slot is free
            await asyncio.shield(future)
        except asyncio.CancelledError:
            job.stop()
            await asyncio.wait([future])
            raise
        except Exception as error:  # noqa: BLE001 - a failure the job did not foresee: told, the connection lives
            await self._error("training", f"Training stopped on an unexpected error: {type(error).__name__}: "
                                          f"{error}")
        finally:
            self.slots.release()

    async def _end_job(self) -> None:
        task, job = self.task, self.job
        self.task = self.job = None
        if task is None:
            return
        if job is not None:
            job.stop()
        else:  # still waiting for a slot
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    def _emit(self, message: dict) -> bool:
        """Queue ``message`` from the worker thread; wait while the client lags; False once it is gone or stalled."""
        if self.closed or self.stalled:
            return False
        future = asyncio.run_coroutine_threadsafe(self.outbox.put(message), self.loop)
        deadline = time.monotonic() + self.stall_timeout
        while True:
            try:
                future.result(timeout=0.5)
                return not self.closed
            except concurrent.futures.TimeoutError:
                if self.closed or time.monotonic() > deadline:
                    # stalled: the job's last messages (its "finished") are not waited for either
                    self.stalled = not self.closed
                    future.cancel()
                    return False

    async def _put(self, message: dict) -> None:
        if not self.closed:
            await self.outbox.put(message)

    async def _error(self, code: str, message: str) -> None:
        await self._put({"type": "error", "code": code, "message": message})

    async def _send_loop(self) -> None:
        try:
            while True:
                message = await self.outbox.get()
                await self.websocket.send_text(json.dumps(message, allow_nan=False))
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-send: its job stops at its next step
            self.closed = True
