"""The run browser: the run folders under a folder, each study's section with interactive figures, comparisons.

:func:`install` adds to a FastAPI app:

=======================================  ==========================================================================
``GET /runs``                            the list of run folders (page)
``GET /runs/{folder}``                   one run folder, a study at a time (page); ``?with=other`` (repeatable)
                                         compares it with other run folders side by side
``GET /runs/{folder}/report``            the static HTML report, rendered in memory (``?lang=pt``)
``GET /api/runs``                        the run folders with their state, studies and claims' tally (JSON)
``GET /api/runs/{folder}``               one folder's overview (JSON)
``GET /api/runs/{folder}/studies/{s}``   one study's section: claims, notes, figures as plot data, tables (JSON)
``/static/runs/…``, ``/static/vendor/…``  the pages' script and style, and uPlot
=======================================  ==========================================================================

Every route takes ``?lang=en|pt``. A folder is a path relative to the browsed folder, at most two names deep; every
one goes through :func:`~gradtrace.web.folders.resolve_folder`, which refuses anything outside it (``..``, absolute
paths, symbolic links out, backslashes, NUL, names encoded twice) with a JSON ``{"detail": ...}`` and status 400 or
404. Requests carry no body and their URL is bounded. Nothing is written to a run folder: stores are opened
read-only in intent (``create=False``), never locked, and the report is rendered in memory.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path
from typing import Any

from gradtrace.errors import StoreError
from gradtrace.report.html import render_report
from gradtrace.report.i18n import LANGUAGES, MESSAGES, Catalog
from gradtrace.store import Store
from gradtrace.web.folders import MAX_SCANNED, FolderRefused, Memo, discover, resolve_folder, signature
from gradtrace.web.sections import DRAWING, overview, studies_of, study_section, writer

__all__ = ["MAX_COMPARED", "MAX_URL", "install"]

_INSTALL = 'pip install "gradtrace[web]"'
try:
    from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles
except ImportError as error:  # pragma: no cover - the extra is missing
    _MISSING: ImportError | None = error
else:
    _MISSING = None
    # ?with=other&with=another: the run folders compared with the one in the path
    _WITH = Query([], alias="with")

#: The most run folders one comparison shows side by side.
MAX_COMPARED = 4
#: The longest URL (path and query, characters) the browser's routes answer.
MAX_URL = 4096
# Responses larger than this are sent gzip-compressed to a client that accepts it: plot data compresses well.
_GZIP_FROM = 16 * 1024

_STATIC = Path(__file__).parent / "static"

# The pages' words; the report's own (claims' verdicts, notes, the overview line) come from report.i18n.
_UI = Catalog({
    "runs_title": {"en": "Run folders", "pt": "Pastas de execuções"},
    "runs_intro": {"en": "The run folders in {root}. Open one to read its studies, or tick two or more and compare "
                         "them side by side.",
                   "pt": "As pastas de execuções em {root}. Abra uma para ler os seus estudos, ou marque duas ou mais "
                         "e compare-as lado a lado."},
    "none": {"en": "No run folder in {root} yet: `gradtrace run --out {root}/first` writes one.",
             "pt": "Ainda não há pasta de execuções em {root}: `gradtrace run --out {root}/primeira` escreve uma."},
    "col.compare": {"en": "compare", "pt": "comparar"},
    "col.folder": {"en": "run folder", "pt": "pasta"},
    "col.written": {"en": "last written", "pt": "última escrita"},
    "col.studies": {"en": "studies", "pt": "estudos"},
    "col.claims": {"en": "claims held", "pt": "afirmações confirmadas"},
    "col.wall": {"en": "wall time", "pt": "duração"},
    "col.mode": {"en": "mode", "pt": "modo"},
    "col.state": {"en": "state", "pt": "estado"},
    "state.ok": {"en": "complete", "pt": "completa"},
    "state.writing": {"en": "being written", "pt": "em escrita"},
    "state.damaged": {"en": "damaged", "pt": "danificada"},
    "state.empty": {"en": "no runs yet", "pt": "ainda sem execuções"},
    "writer": {"en": "Being written by {writer}: what is finished is shown, and this page follows it.",
               "pt": "Em escrita por {writer}: o que terminou aparece aqui, e esta página acompanha."},
    "mode.quick": {"en": "quick", "pt": "rápido"},
    "mode.full": {"en": "full", "pt": "completo"},
    "compare": {"en": "Compare the ticked folders", "pt": "Comparar as pastas marcadas"},
    "compare_hint": {"en": "Tick two to {count} folders.", "pt": "Marque de duas a {count} pastas."},
    "all_folders": {"en": "All run folders", "pt": "Todas as pastas"},
    "playground": {"en": "Live playground", "pt": "Laboratório ao vivo"},
    "download": {"en": "Download the report (HTML)", "pt": "Baixar o relatório (HTML)"},
    "studies": {"en": "Studies", "pt": "Estudos"},
    "loading": {"en": "Loading…", "pt": "Carregando…"},
    "drawing": {"en": "Drawing the figures…", "pt": "Desenhando as figuras…"},
    "hint": {"en": "Hover a plot to read its values in the legend; drag across it to zoom in, double-click to zoom "
                   "out; click a legend entry to hide or show its curve.",
             "pt": "Passe o mouse sobre um gráfico para ler os valores na legenda; arraste sobre ele para ampliar, "
                   "clique duas vezes para voltar; clique numa entrada da legenda para esconder ou mostrar a curva."},
    "static": {"en": "As in the report (not interactive): a line plot cannot show this figure ({reason}).",
               "pt": "Como no relatório (não interativa): um gráfico de linhas não mostra esta figura ({reason})."},
    "absent": {"en": "This study is not in this run folder.", "pt": "Este estudo não está nesta pasta."},
    "failed": {"en": "Could not load it: {message}", "pt": "Não foi possível carregar: {message}"},
    "compared": {"en": "Comparing {count} run folders", "pt": "Comparando {count} pastas"},
    "claim": {"en": "claim", "pt": "afirmação"},
    "claims_tally": {"en": "{held} of {total} claims held", "pt": "{held} de {total} afirmações confirmadas"},
    "minutes": {"en": "{minutes} min", "pt": "{minutes} min"},
    "range": {"en": "range", "pt": "faixa"},
    "language": {"en": "Português", "pt": "English"},
})


def _words(lang: str) -> dict[str, str]:
    """Return the pages' words in ``lang``, templates with their {names} unfilled (the script fills them)."""
    words = {key: templates[lang] for key, templates in _UI.messages.items()}
    for key in ("overview", "overview.wall", "claim.held", "claim.not_held", "claims.quick"):
        words[key] = MESSAGES.messages[key][lang]
    return words


def install(app: FastAPI, root: str | Path) -> None:
    """Add the run browser's pages, JSON routes and static files to ``app``, browsing the run folders under ``root``.

    Args:
        app: the FastAPI application (``gradtrace serve`` makes one; a test may make a bare ``FastAPI()``).
        root: the folder whose run folders are browsed (``DIR/run`` and ``DIR/group/run``); it must exist.

    Raises:
        ImportError: if the ``web`` extra is not installed, naming the command that installs it.
        TypeError: if ``app`` is not a FastAPI application.
        ValueError: if ``root`` is not an existing folder.

    Example:
        >>> from fastapi import FastAPI
        >>> import tempfile
        >>> app = FastAPI()
        >>> install(app, tempfile.mkdtemp())
        >>> sorted(path for path in app.openapi()["paths"] if path.startswith("/api/runs"))
        ['/api/runs', '/api/runs/{folder}', '/api/runs/{folder}/studies/{study}']
    """
    if _MISSING is not None:
        raise ImportError(f"The run browser needs FastAPI: {_INSTALL}.") from _MISSING
    if not isinstance(app, FastAPI):
        raise TypeError(f"`app` must be a fastapi.FastAPI application, got {type(app).__name__}.")
    folder = Path(root)
    if not folder.is_dir():
        raise ValueError(f"`root` must be an existing folder of run folders, got {str(root)!r}, which "
                         f"{'is not a folder' if folder.exists() else 'does not exist'}.")
    browser = _Browser(folder.resolve())
    app.include_router(browser.router())
    mounted = {getattr(route, "path", None) for route in app.routes}
    for url, directory in (("/static/runs", _STATIC / "runs"), ("/static/vendor", _STATIC / "vendor")):
        # The same files under the same URLs: a mount the app already has (its own /static) serves them too.
        if url not in mounted and "/static" not in mounted:
            app.mount(url, StaticFiles(directory=directory), name=url.strip("/").replace("/", "-"))


def _bounded(request: Request) -> None:
    """Refuse a request whose URL is over MAX_URL characters or that carries a body (these routes read none)."""
    size = len(request.url.path) + len(request.url.query)
    if size > MAX_URL:
        raise HTTPException(414, f"The URL is {size} characters long; the run browser answers URLs of at most "
                                 f"{MAX_URL}.")
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > 0 or "transfer-encoding" in request.headers:
        raise HTTPException(413, "The run browser's routes take no request body.")


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise HTTPException(400, f"`lang` must be one of {', '.join(LANGUAGES)}, got {lang[:20]!r}.")
    return lang


class _Browser:
    """The routes over one browsed folder, with their caches."""

    def __init__(self, root: Path):
        self.root = root
        # Room for every folder the list can show, in each language: a smaller cache, cycled through in order by
        # each listing of more folders, dropped every entry before its next use and recomputed them all each time.
        self.overviews = Memo(MAX_SCANNED * len(LANGUAGES))
        self.sections = Memo(48)

    def folder(self, name: str) -> Path:
        try:
            return resolve_folder(self.root, name)
        except FolderRefused as refused:
            raise HTTPException(refused.status, refused.message) from None

    def overview(self, name: str, lang: str) -> dict[str, Any]:
        path = self.folder(name)
        entry = dict(self.overviews.get((str(path), lang, signature(path)), lambda: overview(path, name, lang=lang)))
        holder = writer(path)
        if holder and entry["state"] != "damaged":
            entry.update(state="writing", writer=holder)
        return entry

    def router(self) -> APIRouter:
        router = APIRouter(dependencies=[Depends(_bounded)])

        @router.get("/api/runs")
        def list_folders(request: Request, lang: str = "en") -> Response:
            lang = _lang(lang)
            folders = [self.overview(name, lang) for name in discover(self.root)]
            return _json(request, {"root": self.root.name or str(self.root), "folders": folders})

        @router.get("/api/runs/{folder:path}/studies/{study}")
        def section(request: Request, folder: str, study: str, lang: str = "en") -> Response:
            lang = _lang(lang)
            path = self.folder(folder)
            key = (str(path), study, lang, signature(path))
            try:
                found = self.sections.get(key, lambda: self._section(path, folder, study, lang))
            except StoreError as error:
                raise HTTPException(409, str(error)) from None
            return _json(request, found)

        @router.get("/api/runs/{folder:path}")
        def one_folder(request: Request, folder: str, lang: str = "en") -> Response:
            return _json(request, self.overview(folder, _lang(lang)))

        @router.get("/runs", response_class=HTMLResponse)
        def list_page(lang: str = "en") -> HTMLResponse:
            return _page("list", _lang(lang), [], self.root)

        @router.get("/runs/{folder:path}/report")
        def report(folder: str, lang: str = "en") -> Response:
            lang = _lang(lang)
            try:
                path = self.folder(folder)
            except HTTPException:
                # A run folder that is itself named "report" (group/report) is a page, not a download.
                if "/" not in folder:
                    return self._page_of(f"{folder}/report", lang, [])
                raise
            try:
                with DRAWING:
                    document = render_report(Store(path, create=False), lang=lang)
            except (StoreError, ValueError) as error:
                raise HTTPException(409, str(error)) from None
            filename = re.sub(r"[^A-Za-z0-9._-]+", "-", folder).strip("-") or "run"
            return Response(document.encode("utf-8"), media_type="text/html; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="report-{filename}-{lang}.html"',
                                     "Cache-Control": "no-store"})

        @router.get("/runs/{folder:path}", response_class=HTMLResponse)
        def run_page(folder: str, lang: str = "en", with_: list[str] = _WITH) -> HTMLResponse:
            return self._page_of(folder, _lang(lang), with_)

        return router

    def _page_of(self, folder: str, lang: str, others: list[str]) -> HTMLResponse:
        if len(others) >= MAX_COMPARED:
            raise HTTPException(400, f"A comparison shows at most {MAX_COMPARED} run folders, got {len(others) + 1}.")
        folders = list(dict.fromkeys([folder, *others]))
        for name in folders:
            self.folder(name)
        return _page("run", lang, folders, self.root)

    def _section(self, path: Path, name: str, study: str, lang: str) -> dict[str, Any]:
        store = Store(path, create=False)
        if study not in studies_of(store):
            raise HTTPException(404, f"No study {study[:80]!r} in run folder {name!r}. It holds: "
                                     f"{', '.join(studies_of(store)) or 'no study yet'}.")
        return study_section(store, study, lang=lang)


def _json(request: Request, payload: Any) -> Response:
    """Return ``payload`` as JSON, gzip-compressed when it is large and the client accepts it."""
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    headers = {"Cache-Control": "no-store"}
    if len(body) >= _GZIP_FROM and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(body, media_type="application/json", headers=headers)


def _page(page: str, lang: str, folders: list[str], root: Path) -> HTMLResponse:
    """Return a page: the shell in static/runs/page.html with its configuration; the script draws the rest."""
    config = {"page": page, "lang": lang, "folders": folders, "root": root.name or str(root),
              "max_compared": MAX_COMPARED, "words": _words(lang)}
    # Inside <script>, "</" would end the element: JSON's \u003c says the same.
    data = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    title = _UI("runs_title", lang) if page == "list" else " · ".join(folders)
    shell = (_STATIC / "runs" / "page.html").read_text(encoding="utf-8")
    document = (shell.replace("{{lang}}", lang).replace("{{title}}", _escape(title))
                .replace("{{config}}", data))
    return HTMLResponse(document, headers={"Cache-Control": "no-store"})


def _escape(value: str) -> str:
    return html.escape(value, quote=True)
