"""The two browser tests' shared pieces: an app served by uvicorn in a thread, and Debian's chromium."""

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    """Return Debian's chromium, or None where it is not installed (the browser tests then skip)."""
    return shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)


@contextmanager
def serving(app, **options):
    """Serve ``app`` on a free loopback port in a thread; yield its URL; stop it on exit."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def launched(sync_api):
    """Launch chromium through Playwright's sync API; yield the browser; close it on exit."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
