"""The web application behind ``gradtrace serve``: the live playground at ``/`` and the run browser at ``/runs``.

FastAPI and uvicorn come with the ``web`` extra; they are imported when an app is made, so the rest of
gradtrace (and ``gradtrace --help``) works without them.

Routes of the playground:
    ``GET /``                          the playground page (``?lang=pt`` for Portuguese; its settings ride in the URL)
    ``GET /static/...``                its scripts and styles, and the vendored uPlot: nothing from a CDN
    ``GET /api/playground/options``    the choices, bounds and defaults of every setting
    ``POST /api/playground/export``    ``{"settings": {...}, "format": "toml" | "python"}`` → ``{"text": ...}``
    ``GET /api/health``                jobs running and waiting
    ``WS /api/playground/ws``          training, live (protocol in :mod:`gradtrace.web.playground`)
"""

# No `from __future__ import annotations`: FastAPI reads the route functions' annotations (WebSocket, the
# request body) as objects, and they are imported inside create_app.
import concurrent.futures
import json
import socket
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gradtrace.web.jobs import MAX_FPS, Slots

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LOOPBACK_HOSTS", "MAX_BODY_BYTES", "MissingExtraError", "create_app",
           "serve"]

STATIC = Path(__file__).parent / "static"
#: Where ``gradtrace serve`` listens unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: The largest request body accepted, in bytes (an export request takes about 600).
MAX_BODY_BYTES = 16 * 1024
#: Open playground connections at most; further ones are told the server is full.
MAX_CONNECTIONS = 200
_INSTALL = 'pip install "gradtrace[web]"'


class MissingExtraError(ImportError):
    """The ``web`` extra (FastAPI, uvicorn) is not installed; the message gives the command that installs it."""


def _require() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as error:
        raise MissingExtraError(f"gradtrace serve needs the web extra ({error.name} is missing): {_INSTALL}") from None


def default_max_jobs() -> int:
    """One training job per core this process may use."""
    from gradtrace.studies.executors import available_cores

    return max(1, available_cores())


class _BodyLimit:
    """ASGI middleware: refuse a request whose body is longer than ``limit`` bytes with 413, naming the limit."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        received = 0
        state = {"over": False, "answered": False}

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                state["over"] = True
                raise _TooLarge
            return message

        async def answer(message):
            # A body sent in chunks, with no length announced, is over the limit only once read: FastAPI turns
            # the error of reading it into its own 400, which is replaced here by the 413 that names the limit.
            if not state["over"]:
                return await send(message)
            if not state["answered"]:
                state["answered"] = True
                await self._refuse(send)

        try:
            return await self.app(scope, counted, answer)
        except _TooLarge:
            if not state["answered"]:
                state["answered"] = True
                await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps({"detail": f"The request body may hold at most {self.limit} bytes."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


#: The names a server listening on a loopback address answers to (:func:`serve` passes them as ``allowed_hosts``).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class _SameOrigin:
    """ASGI middleware: refuse a websocket that a page of another site opens, and a Host not in ``hosts``.

    Browsers let any page open a websocket to any address, this machine's included, and send its own Origin: a
    page elsewhere could otherwise train on this server while its visitor reads it. A Host header outside
    ``hosts`` (None: any) is a name that was made to point at this machine (DNS rebinding) to read its run folders.
    """

    def __init__(self, app, hosts: tuple[str, ...] | None):
        self.app = app
        self.hosts = None if hosts is None else {host.lower() for host in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin")
        if self.hosts is not None and (urlsplit("//" + host).hostname or "") not in self.hosts:
            message = f"This server answers to {', '.join(sorted(self.hosts))} only, not to the host {host[:80]!r}."
        elif scope["type"] == "websocket" and origin is not None and urlsplit(origin.decode("latin-1")).netloc != host:
            message = "The playground's websocket is opened by its own page only."
        else:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # closed before it is accepted: the client sees HTTP 403
            return await send({"type": "websocket.close", "code": 1008, "reason": message})
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _warm_up() -> None:
    """Train a tiny network for one step, so that the first visitor does not wait for torch's lazy imports."""
    from gradtrace.web.jobs import Job
    from gradtrace.web.settings import PlaygroundSettings

    Job(PlaygroundSettings(length=10, hidden_size=2, steps=1, batch_size=1), lambda message: True).run()


def create_app(root: Path | None = None, *, max_jobs: int | None = None, max_queue: int | None = None,
               max_fps: float = MAX_FPS, max_connections: int = MAX_CONNECTIONS,
               allowed_hosts: tuple[str, ...] | None = None) -> "FastAPI":
    """Make the web application.

    Args:
        root: the run store the run browser shows (default ``runs/``).
        max_jobs: training jobs at once, ≥ 1 (default: one per core).
        max_queue: jobs that may wait for a slot, ≥ 0 (default: 4 × max_jobs); more are refused.
        max_fps: frames per second sent to a page at most.
        max_connections: playground connections open at once.
        allowed_hosts: the host names requests may carry (None: any); :func:`serve` gives
            :data:`LOOPBACK_HOSTS` when it listens on a loopback address. A websocket opened by a page of
            another origin is refused either way.

    Returns:
        A FastAPI application; run it with uvicorn, or :func:`serve`.

    Raises:
        MissingExtraError: without the ``web`` extra.
        ValueError: for a bound out of its range.
    """
    _require()
    from fastapi import FastAPI, HTTPException, WebSocket
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    from gradtrace.errors import check_int, check_real
    from gradtrace.web.playground import MAX_MESSAGE_BYTES, Session
    from gradtrace.web.recipes import EXPORT_FORMATS, export
    from gradtrace.web.runs import install as install_run_browser
    from gradtrace.web.settings import (
        LIMITS,
        MLP_INITS,
        NETWORKS,
        RECURRENT_INITS,
        TASKS,
        PlaygroundSettings,
        check_settings,
    )

    max_jobs = check_int("max_jobs", default_max_jobs() if max_jobs is None else max_jobs, minimum=1, maximum=256)
    max_queue = check_int("max_queue", 4 * max_jobs if max_queue is None else max_queue, minimum=0, maximum=10_000)
    max_fps = check_real("max_fps", max_fps, minimum=0.1, maximum=120.0)
    max_connections = check_int("max_connections", max_connections, minimum=1, maximum=100_000)
    if root is None:  # where `gradtrace run` writes; a fresh clone has none yet, and the browser then lists nothing
        root = Path("runs")
        root.mkdir(parents=True, exist_ok=True)
    root = Path(root)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="gradtrace-job")

    @asynccontextmanager
    async def lifespan(app):
        # torch's optimizers import their compiler on first use (seconds): done now, so "play" answers at once
        threading.Thread(target=_warm_up, name="gradtrace-warm-up", daemon=True).start()
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="gradtrace", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.slots = slots = Slots(max_jobs, max_queue)
    app.state.connections = 0
    app.state.root = root
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(_SameOrigin, hosts=None if allowed_hosts is None else tuple(allowed_hosts))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def playground_page() -> Any:
        return FileResponse(STATIC / "playground" / "index.html", media_type="text/html")

    @app.get("/api/playground/options")
    def options() -> dict[str, Any]:
        return {"networks": list(NETWORKS), "tasks": list(TASKS), "recurrent_inits": list(RECURRENT_INITS),
                "mlp_inits": list(MLP_INITS), "limits": {name: list(bounds) for name, bounds in LIMITS.items()},
                "defaults": PlaygroundSettings().model_dump(), "export_formats": list(EXPORT_FORMATS),
                "max_jobs": max_jobs, "max_queue": max_queue, "max_message_bytes": MAX_MESSAGE_BYTES}

    @app.post("/api/playground/export")
    def export_study(request: dict[str, Any]) -> dict[str, str]:
        unknown = sorted(set(request) - {"settings", "format"})
        if unknown:
            raise HTTPException(422, f"Unknown field(s) {unknown}; an export request holds settings and format.")
        try:
            settings = check_settings(request.get("settings", {}))
            fmt = request.get("format", "toml")
            return {"format": fmt, "text": export(settings, fmt)}
        except (ValueError, TypeError) as error:
            raise HTTPException(422, str(error)) from None

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "running": slots.running, "waiting": len(slots.waiting), "max_jobs": max_jobs,
                "max_queue": max_queue, "served": slots.served, "refused": slots.refused,
                "connections": app.state.connections}

    @app.websocket("/api/playground/ws")
    async def playground_socket(websocket: WebSocket) -> None:
        if app.state.connections >= max_connections:
            await websocket.accept()
            await websocket.send_json({"type": "refused", "code": "connections", "message":
                                       f"The server holds {max_connections} playground connections already "
                                       "(its limit). Try again in a minute."})
            await websocket.close(code=1013)
            return
        app.state.connections += 1
        try:
            await Session(websocket, slots, executor, max_fps=max_fps).serve()
        finally:
            app.state.connections -= 1

    install_run_browser(app, root)
    return app


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(root: Path | None = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          max_jobs: int | None = None, on_listening: Callable[[str], Any] | None = None) -> None:
    """Serve the playground and the run browser until interrupted (uvicorn, websockets size-limited).

    Args:
        root, max_jobs: as in :func:`create_app`.
        host, port: where to listen (port 0: one the system picks).
        on_listening: called with the playground's URL once the port is bound, before serving.

    Raises:
        MissingExtraError: without the ``web`` extra.
        ValueError: for a port out of 0–65535 or a bad bound.
        OSError: if the address cannot be bound (the port is taken, the address is not this machine's).
    """
    from gradtrace.errors import check_int

    _require()
    import uvicorn

    port = check_int("port", port, minimum=0, maximum=65535)
    from gradtrace.web.playground import MAX_MESSAGE_BYTES

    # on this machine only, the names of this machine only; a server open to the network answers to any name
    allowed = (*LOOPBACK_HOSTS, host.strip("[]")) if is_loopback(host) else None
    app = create_app(root, max_jobs=max_jobs, allowed_hosts=allowed)
    # bound here, not by uvicorn, so a taken port is an OSError the caller can word (uvicorn would exit)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    if on_listening is not None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # a wildcard is reached on this machine's loopback
        on_listening(f"http://{f'[{shown}]' if ':' in shown else shown}:{listener.getsockname()[1]}/")
    config = uvicorn.Config(app, ws_max_size=MAX_MESSAGE_BYTES, log_level="warning",
                            limit_concurrency=MAX_CONNECTIONS + 50, timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[listener])
