"""The playground's HTTP routes and websocket: limits, errors, control, disconnects and the queue."""

import json
import threading
import time

import numpy as np
import pytest
import tomllib

import gradtrace as gt
from gradtrace.web.jobs import Slots
from gradtrace.web.playground import MAX_MESSAGE_BYTES, parse_message
from gradtrace.web.recipes import export
from gradtrace.web.settings import LIMITS, MAX_STATE_NUMBERS, build, check_settings

pytest.importorskip("fastapi")  # the web extra
pytest.importorskip("httpx")  # the web-test extra: FastAPI's TestClient

# Starlette's TestClient announces, on import, that it will move from httpx to another client: a notice
# about the test tool, not about gradtrace.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

TINY = {"length": 10, "hidden_size": 4, "steps": 3, "batch_size": 4}


@pytest.fixture
def client_of(tmp_path):
    from fastapi.testclient import TestClient

    from gradtrace.web import create_app

    clients = []

    def make(**options):
        client = TestClient(create_app(tmp_path, **options))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def receive_until(ws, kind, limit=500):
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if message["type"] == kind:
            return message, seen
        assert message["type"] != "error", message
    raise AssertionError(f"no {kind} among {[m['type'] for m in seen]}")


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# -- settings and exports ---------------------------------------------------------------------------------

def test_settings_name_the_limit_and_the_unknown_key():
    with pytest.raises(ValueError, match=r"`length`: .*less than or equal to 300 .*got 5000"):
        check_settings({"length": 5000})
    with pytest.raises(ValueError, match=r"Unknown setting `colour`; valid settings: network, "):
        check_settings({"colour": "red"})
    with pytest.raises(ValueError, match="at most 4,194,304"):
        check_settings({"members": 8, "batch_size": 128, "length": 300, "hidden_size": 128})
    with pytest.raises(ValueError, match="has no time axis"):
        check_settings({"task": "xor"})
    assert MAX_STATE_NUMBERS < 8 * 128 * 300 * 128
    assert LIMITS["steps"][1] == 5000


def test_toml_export_follows_the_study_schema():
    settings = check_settings({"clip_norm": 1.0, "truncation": 20, "spectral_radius": 1.5})
    study = tomllib.loads(export(settings, "toml"))
    assert study["name"] == "playground-tanh-elman-adding-t100"
    assert study["train"] == {"steps": 500, "optimizer": "adam", "lr": 0.001, "batch_size": 32, "trace_every": 50,
                              "eval_every": 50, "truncation": [20, 20]}
    assert study["models"]["elman"] == {"type": "elman", "hidden_size": 32, "readout": "last", "activation": "tanh",
                                        "init": {"scheme": "orthogonal"}, "spectral_radius": 1.5}
    assert study["tasks"]["adding"] == {"type": "adding", "length": 100}
    assert study["remedies"]["clip_by_global_norm"] == {"type": "clip_by_global_norm", "max_norm": 1.0}
    assert study["grid"] == {"model": ["elman"], "task": ["adding"], "remedy": ["clip_by_global_norm"]}
    assert study["seeds"] == 1 and study["seed"] == 0
    mlp = tomllib.loads(export(check_settings({"network": "mlp", "task": "xor", "init": "kaiming_normal"}), "toml"))
    assert mlp["models"]["mlp"] == {"type": "mlp", "depth": 10, "width": 32, "activation": "tanh",
                                    "init": "kaiming_normal"}
    with pytest.raises(ValueError, match="export format"):
        export(settings, "yaml")


def test_python_export_reruns_the_settings(capsys):
    settings = check_settings({**TINY, "network": "lstm", "clip_value": 0.5})
    exec(compile(export(settings, "python"), "exported.py", "exec"), {})
    printed = capsys.readouterr().out
    assert "loss at the last step" in printed and "‖∂L/∂h‖ along the gradient path" in printed


# -- HTTP ---------------------------------------------------------------------------------------------------

def test_page_options_export_and_body_limit(client_of):
    client = client_of(max_jobs=1)
    page = client.get("/")
    assert page.status_code == 200 and "/static/vendor/uPlot.iife.min.js" in page.text
    assert client.get("/static/vendor/uPlot.iife.min.js").status_code == 200
    assert client.get("/static/playground/playground.js").status_code == 200
    options = client.get("/api/playground/options").json()
    assert options["limits"]["length"] == [10, 300] and options["defaults"]["network"] == "elman"
    response = client.post("/api/playground/export", json={"settings": TINY, "format": "python"})
    assert response.status_code == 200 and "gt.fit(model, task, steps=3" in response.json()["text"]
    response = client.post("/api/playground/export", json={"settings": {"depth": 999}})
    assert response.status_code == 422 and "`depth`" in response.json()["detail"]
    response = client.post("/api/playground/export", json={"settings": {}, "extra": 1})
    assert response.status_code == 422 and "Unknown field(s) ['extra']" in response.json()["detail"]
    response = client.post("/api/playground/export", content=b"{" + b" " * 20000 + b"}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and "at most 16384 bytes" in response.json()["detail"]

    def chunks():  # no content-length: the limit is found while reading
        yield b'{"settings": {}, "format": "toml", "padding": "'
        yield from (b"a" * 1000 for _ in range(20))
        yield b'"}'

    response = client.post("/api/playground/export", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "at most 16384 bytes" in response.json()["detail"]


# -- the websocket --------------------------------------------------------------------------------------------

def test_bad_messages_get_error_frames_and_the_connection_lives(client_of):
    client = client_of(max_jobs=1)
    with client.websocket_connect("/api/playground/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["max_message_bytes"] == MAX_MESSAGE_BYTES
        for text, code, words in [
            ("not json", "message", "must be JSON"),
            (json.dumps({"type": "explode"}), "message", "one of start, pause"),
            (json.dumps({"type": "start", "settings": {"length": 3}}), "settings", "`length`"),
            (json.dumps({"type": "step", "count": 10_000}), "message", "`count`"),
            (json.dumps({"type": "pause"}), "no_job", "send start first"),
            (json.dumps({"type": "start", "settings": {}, "pad": "x" * MAX_MESSAGE_BYTES}), "too_large",
             "at most 8192"),
        ]:
            ws.send_text(text)
            message = ws.receive_json()
            assert message["type"] == "error" and message["code"] == code and words in message["message"], message
        ws.send_bytes(b"\x00" * 10)
        assert ws.receive_json()["code"] == "message"
        ws.send_json({"type": "start", "settings": TINY})  # still served after all that
        finished, seen = receive_until(ws, "finished")
    assert finished["status"] == "finished" and finished["step"] == 3
    frames = [m for m in seen if m["type"] == "frame"]
    assert frames[0]["step"] == -1 and frames[-1]["step"] == 2
    assert [step for frame in frames for step in frame["steps"]] == [0, 1, 2]  # every step's loss, once
    assert len(frames[-1]["profile"]) == 10 and set(finished["final"]) == {"loss", "accuracy", "success"}


def test_parse_message_rejects_extra_fields():
    with pytest.raises(ValueError, match=r"Unknown field of a pause message `now`; valid field of a pause message"):
        parse_message(json.dumps({"type": "pause", "now": True}))
    assert parse_message('{"type": "set", "spectral_radius": 2}').spectral_radius == 2.0


def test_pause_step_resume_and_a_live_spectral_radius(client_of):
    client = client_of(max_jobs=1)
    with client.websocket_connect("/api/playground/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "start", "settings": {**TINY, "steps": 200, "spectral_radius": 0.5}})
        receive_until(ws, "started")
        ws.send_json({"type": "pause"})
        paused, _ = receive_until(ws, "paused")
        ws.send_json({"type": "set", "spectral_radius": 2.0})  # shown at once, while paused
        frame, _ = receive_until(ws, "frame")
        assert frame["step"] == paused["step"] and frame["spectral_radius"] == pytest.approx(2.0, rel=1e-4)
        ws.send_json({"type": "step", "count": 2})
        steps = [receive_until(ws, "frame")[0]["step"] for _ in range(2)]
        assert steps == [paused["step"] + 1, paused["step"] + 2]
        assert receive_until(ws, "paused")[0]["step"] == paused["step"] + 2
        ws.send_json({"type": "resume"})
        ws.send_json({"type": "stop"})
        finished, _ = receive_until(ws, "finished")
        assert finished["status"] == "stopped"


def test_an_mlp_streams_its_profile_through_depth(client_of):
    client = client_of(max_jobs=1)
    with client.websocket_connect("/api/playground/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "start", "settings": {"network": "mlp", "task": "circles", "depth": 6, "hidden_size": 8,
                                                    "steps": 2, "batch_size": 8, "init": "xavier_normal"}})
        started, _ = receive_until(ws, "started")
        assert started["axis"] == "depth" and started["path_length"] == 6
        ws.send_json({"type": "set", "spectral_radius": 1.0})
        seen = [ws.receive_json()]
        while seen[-1]["type"] != "finished":
            seen.append(ws.receive_json())
    errors = [m for m in seen if m["type"] == "error"]
    assert len(errors) == 1 and "an MLP has none" in errors[0]["message"]
    assert all(len(m["profile"]) == 6 for m in seen if m["type"] == "frame")


def test_a_disconnected_client_stops_its_job(client_of):
    client = client_of(max_jobs=1)
    slots = client.app.state.slots
    with client.websocket_connect("/api/playground/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "start", "settings": {**TINY, "steps": 5000}})
        receive_until(ws, "frame")
        assert slots.running == 1
    started = time.monotonic()
    assert wait_for(lambda: slots.running == 0), "the job kept its slot after the client left"
    assert time.monotonic() - started < 5


def test_a_second_job_waits_its_turn_and_a_third_is_refused(client_of):
    client = client_of(max_jobs=1, max_queue=1)
    slots: Slots = client.app.state.slots
    with client.websocket_connect("/api/playground/ws") as first, \
            client.websocket_connect("/api/playground/ws") as second, \
            client.websocket_connect("/api/playground/ws") as third:
        for ws in (first, second, third):
            ws.receive_json()
        first.send_json({"type": "start", "settings": {**TINY, "steps": 5000}})
        receive_until(first, "started")
        second.send_json({"type": "start", "settings": TINY})
        assert second.receive_json() == {"type": "queued", "position": 1}
        third.send_json({"type": "start", "settings": TINY})
        refused = third.receive_json()
        assert refused["type"] == "refused" and "at most 1 at once" in refused["message"]
        first.send_json({"type": "stop"})
        receive_until(first, "finished")
        finished, _ = receive_until(second, "finished")  # the queue moved: the second one trained
        assert finished["status"] == "finished"
    assert wait_for(lambda: slots.running == 0 and not slots.waiting)
    assert (slots.served, slots.refused) == (2, 1)


def test_a_queued_client_that_leaves_frees_its_place(client_of):
    client = client_of(max_jobs=1, max_queue=2)
    slots = client.app.state.slots
    with client.websocket_connect("/api/playground/ws") as first:
        first.receive_json()
        first.send_json({"type": "start", "settings": {**TINY, "steps": 5000}})
        receive_until(first, "started")
        with client.websocket_connect("/api/playground/ws") as second:
            second.receive_json()
            second.send_json({"type": "start", "settings": TINY})
            assert second.receive_json()["type"] == "queued"
        assert wait_for(lambda: not slots.waiting)
        first.send_json({"type": "stop"})
        receive_until(first, "finished")
    assert wait_for(lambda: slots.running == 0)


def test_create_app_checks_its_bounds():
    from gradtrace.web import create_app

    with pytest.raises(ValueError, match="max_jobs"):
        create_app(max_jobs=0)


@pytest.mark.parametrize("options", [
    {"clip_norm": 1.0, "omega": 0.5, "spectral_radius": 1.2},
    {"network": "lstm", "clip_value": 0.5, "truncation": 5},
    {"network": "mlp", "task": "xor", "depth": 4, "init": "kaiming_normal"},
])
def test_a_study_exported_as_toml_reruns_the_playground(tmp_path, options):
    # The file the page offers trains, through `gradtrace run FILE.toml`, exactly what the page trained.
    settings = check_settings({**TINY, "seed": 2, **options})
    path = tmp_path / "exported.toml"
    path.write_text(export(settings, "toml"), encoding="utf-8")
    study = gt.load_study(path)
    gt.run_study(study, tmp_path / "store")
    [name] = gt.Store(tmp_path / "store").names(study.name)
    stored = gt.Store(tmp_path / "store").get(study.name, name).arrays["train/loss"]
    built = build(settings)
    run = gt.fit(built.model, built.task, **built.fit_options(settings))
    np.testing.assert_array_equal(stored, run.history["train/loss"])
    if settings.recurrent:  # and it keeps the gradient profile the page drew
        assert gt.Store(tmp_path / "store").get(study.name, name).arrays["trace/grad_norms"].shape[-1] == 10


def test_a_client_that_reads_nothing_loses_its_job_and_slot():
    # A client that keeps its connection but never reads: the frames back up, and after the stall timeout the job
    # stops and frees its slot instead of waiting for ever.
    import asyncio
    import concurrent.futures

    from gradtrace.web.playground import Session

    class Unread:
        def __init__(self):
            self.inbox = asyncio.Queue()

        async def accept(self):
            pass

        async def receive(self):
            return await self.inbox.get()

        async def send_text(self, text):
            await asyncio.Event().wait()  # never delivered

    async def scenario():
        slots = Slots(1, 0)
        socket = Unread()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            session = asyncio.create_task(Session(socket, slots, pool, stall_timeout=0.5).serve())
            await socket.inbox.put({"type": "websocket.receive",
                                    "text": json.dumps({"type": "start", "settings": {**TINY, "steps": 5000}})})
            deadline = time.monotonic() + 20
            while not (slots.served == 1 and slots.running == 0) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            freed = slots.served == 1 and slots.running == 0
            await socket.inbox.put({"type": "websocket.disconnect"})
            await asyncio.wait_for(session, 10)
        return freed, time.monotonic() - deadline + 20

    freed, seconds = asyncio.run(scenario())
    assert freed and seconds < 10, "the job of a client that reads nothing kept its slot"


def test_another_sites_page_and_a_rebound_host_are_refused(tmp_path):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from gradtrace.web import create_app
    from gradtrace.web.app import LOOPBACK_HOSTS

    with TestClient(create_app(tmp_path, max_jobs=1, allowed_hosts=LOOPBACK_HOSTS),
                    base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/health").status_code == 200
        # a name made to point at this machine (DNS rebinding) reads nothing
        rebound = client.get("/api/runs", headers={"host": "attacker.example:8000"})
        assert rebound.status_code == 400 and "127.0.0.1" in rebound.json()["detail"]
        here = {"host": "127.0.0.1:8000"}  # the test client's websockets say "testserver" unless told
        with client.websocket_connect("/api/playground/ws", headers={**here, "origin": "http://127.0.0.1:8000"}) as ws:
            assert ws.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDisconnect) as refused, \
                client.websocket_connect("/api/playground/ws", headers={**here, "origin": "https://attacker.example"}):
            pass
        assert refused.value.code == 1008


def test_an_unforeseen_training_error_is_told_and_the_connection_lives(client_of, monkeypatch):
    import gradtrace.web.jobs as jobs

    def broken(settings):
        raise RuntimeError("out of memory")

    client = client_of(max_jobs=1)
    # the server's warm-up builds a network too: it is left to finish first
    assert wait_for(lambda: not any(t.name == "gradtrace-warm-up" for t in threading.enumerate()), 60)
    with client.websocket_connect("/api/playground/ws") as ws:
        ws.receive_json()
        monkeypatch.setattr(jobs, "build", broken)
        ws.send_json({"type": "start", "settings": TINY})
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == "training" and "RuntimeError: out of memory" in \
            error["message"]
        monkeypatch.undo()
        ws.send_json({"type": "start", "settings": TINY})
        finished, _ = receive_until(ws, "finished")
        assert finished["status"] == "finished"
    assert client.app.state.slots.running == 0
