"""``gradtrace serve``: the live playground and the run browser, served by FastAPI (the ``web`` extra).

Only :mod:`gradtrace.web.app` needs FastAPI, and it imports it when an app is made; the playground's
settings, jobs and exports are plain gradtrace.
"""

from gradtrace.web.app import MissingExtraError, create_app, serve

__all__ = ["MissingExtraError", "create_app", "serve"]
