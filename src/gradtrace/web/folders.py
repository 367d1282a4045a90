"""Run folders under the browsed folder: finding them, resolving a name a request gives safely, and their state.

Every path the run browser opens goes through :func:`resolve_folder`: a name is a relative path of at most
:data:`MAX_DEPTH` folder names, and it is resolved (symbolic links followed) and refused unless the result lies
inside the browsed folder and holds a run store's catalog. Nothing here writes, creates or locks a store.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

__all__ = ["CATALOG", "MAX_DEPTH", "MAX_NAME", "FolderRefused", "Memo", "discover", "resolve_folder", "signature"]

#: The file that makes a folder a run folder (see :mod:`gradtrace.store`).
CATALOG = "catalog.sqlite"
#: How deep run folders are looked for: ``DIR/run`` and ``DIR/group/run`` (``gradtrace run`` writes
#: ``runs/<timestamp>``, so both ``gradtrace serve runs`` and ``gradtrace serve .`` find them).
MAX_DEPTH = 2
#: The longest folder name a request may give (characters).
MAX_NAME = 512
#: The most folders :func:`discover` looks into: a huge tree is listed in part rather than scanned for minutes.
MAX_SCANNED = 5000

# Characters no folder name in a request may hold: NUL and other control characters, and the backslash (a
# Windows separator that a later join could honor).
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
# A name that still holds a percent-encoded dot, slash or backslash after the server's one decoding was encoded
# twice (%252e%252e): refused as what it tries to be.
_ENCODED = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)


class FolderRefused(Exception):
    """A folder name a request gave is refused.

    Attributes:
        status: the HTTP status that says why: 400 for a malformed name, 404 for one that names no run
            folder inside the browsed folder (including one that would lie outside it).
        message: what was wrong, for the response.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def resolve_folder(root: Path, name: str) -> Path:
    """Return the run folder ``name`` names under ``root``, resolved; refuse anything else.

    Args:
        root: the browsed folder.
        name: a relative path such as ``"2026-01-02T10-00"`` or ``"course/first"``, as a request gave it (the
            server decoded it once).

    Raises:
        FolderRefused: 400 if ``name`` is empty, too long, absolute, holds a backslash, a control character
            (NUL), a ``.`` or ``..`` part or a still-encoded dot or slash; 404 if it resolves (following
            symbolic links) outside ``root``, is deeper than :data:`MAX_DEPTH`, or holds no run store.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> try:
        ...     resolve_folder(root, "../etc")
        ... except FolderRefused as refused:
        ...     print(refused.status, refused.message[-24:])
        400 ..' parts, got '../etc'.
    """
    if not isinstance(name, str) or not name:
        raise FolderRefused(400, "A run folder name is needed, got an empty one.")
    shown = name if len(name) <= 80 else name[:80] + "…"
    if len(name) > MAX_NAME:
        raise FolderRefused(400, f"Folder names are at most {MAX_NAME} characters, got {len(name)}.")
    if _FORBIDDEN.search(name):
        raise FolderRefused(400, f"Folder names hold no backslash or control character (NUL), got {shown!r}.")
    if name.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", name):
        raise FolderRefused(400, f"Folder names are relative to the browsed folder, got the absolute path {shown!r}.")
    if _ENCODED.search(name):
        raise FolderRefused(400, f"Folder names are not percent-encoded twice, got {shown!r}.")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise FolderRefused(400, "Folder names are relative paths inside the browsed folder without '.' or '..' "
                                 f"parts, got {shown!r}.")
    missing = FolderRefused(404, f"No run folder {shown!r} in the browsed folder.")
    if len(parts) > MAX_DEPTH:
        raise missing
    base = root.resolve()
    try:
        folder = (base / name).resolve()
    except (OSError, RuntimeError):  # a symbolic link loop
        raise missing from None
    if not folder.is_relative_to(base) or not _is_run_folder(folder):
        raise missing
    return folder


def _is_run_folder(folder: Path) -> bool:
    try:
        return (folder / CATALOG).is_file()
    except OSError:
        return False


def discover(root: Path) -> list[str]:
    """Return the names of the run folders under ``root`` (at most :data:`MAX_DEPTH` deep), sorted.

    A run folder's own subfolders are not searched; hidden folders (``.git``) are skipped, and so is a symbolic
    link that leads outside ``root``. The names are the ones :func:`resolve_folder` takes back.
    """
    base = root.resolve()
    found: list[str] = []
    scanned = 0
    pending: list[tuple[Path, tuple[str, ...]]] = [(base, ())]
    while pending and scanned < MAX_SCANNED:
        folder, parts = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or _FORBIDDEN.search(entry.name) or _ENCODED.search(entry.name):
                continue
            try:
                if not entry.is_dir():
                    continue
                target = Path(entry.path).resolve()
            except (OSError, RuntimeError):
                continue
            scanned += 1
            if not target.is_relative_to(base):
                continue
            name = (*parts, entry.name)
            if _is_run_folder(target):
                found.append("/".join(name))
            elif len(name) < MAX_DEPTH:
                pending.append((target, name))
    return sorted(found)


def signature(folder: Path) -> tuple:
    """Return what changes when a run store is written: its catalog's and write-ahead log's times and sizes."""
    marks = []
    for name in (CATALOG, CATALOG + "-wal", "summary.json"):
        try:
            stat = (folder / name).stat()
            marks.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            marks.append(None)
    return tuple(marks)


class Memo:
    """A small thread-safe cache of computed views (sections, overviews), the least recently used dropped first.

    Keys include the run store's :func:`signature`, so a store written since (a live run) is computed again.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
