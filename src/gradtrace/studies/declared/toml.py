"""Reading and writing the TOML of study files: parse errors as ``file:line:column``, and a small writer.

The standard library reads TOML (``tomllib``; ``tomli`` on Python 3.10) but does not write it; the writer here
handles what study files hold: tables, arrays of tables, strings, booleans, integers, floats (``inf`` and
``nan`` included) and arrays of them. A value TOML cannot hold (None) is refused, naming its key.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from gradtrace.errors import ConfigError, describe

__all__ = ["dumps", "loads", "read"]

# tomllib ends its messages with "(at line L, column C)", or "(at end of document)": its last line.
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def loads(text: str, *, source: str = "<string>") -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error is a :class:`ConfigError` reading ``source:line:column: message``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _POSITION.search(message)
        if found:
            where = f"{source}:{found.group(1)}:{found.group(2)}"
        else:
            where = f"{source}:{max(len(text.splitlines()), 1)}" if _AT_END.search(message) else source
        message = _AT_END.sub(" at the end of the file", _POSITION.sub("", message))
        raise ConfigError(f"{where}: invalid TOML: {message}.") from None


def read(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """Read and parse the TOML file ``path``; return its tables and its text.

    Raises:
        ValueError: if ``path`` is not a readable UTF-8 file.
        ConfigError: on a TOML syntax error (``path:line:column: message``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"No study file {str(path)!r}: no such file.") from None
    except IsADirectoryError:
        raise ValueError(f"A study file must be a .toml file, got the folder {str(path)!r}.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"The study file {str(path)!r} is not UTF-8 text ({error.reason} at byte "
                         f"{error.start}).") from None
    except OSError as error:
        raise ValueError(f"Cannot read the study file {str(path)!r}: {error.strerror or error}.") from None
    return loads(text, source=str(path)), text


def dumps(table: Mapping[str, Any]) -> str:
    """Return ``table`` as TOML text that :func:`loads` reads back equal (tuples read back as lists).

    Scalars and arrays of a table come first, then its sub-tables as ``[a.b]`` headers, then its arrays of
    tables as ``[[a]]``.

    Raises:
        ValueError: for a value TOML cannot hold (None, an object), naming its key.

    Example:
        >>> print(dumps({"study": "le2015", "config": {"lengths": (10,), "lr": 1e-05}}), end="")
        study = "le2015"
        <BLANKLINE>
        [config]
        lengths = [10]
        lr = 1e-05
    """
    lines: list[str] = []
    _table(lines, table, ())
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(lines: list[str], table: Mapping[str, Any], path: tuple[str, ...]) -> None:
    nested = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    for key, value in table.items():
        if key not in nested and key not in arrays:
            lines.append(f"{_key(key)} = {_value(value, (*path, key))}")
    for key, value in nested.items():
        inner = (*path, key)
        # A table holding only tables needs no header of its own: [models.tanh] implies [models].
        if any(not isinstance(v, Mapping) and not _is_table_array(v) for v in value.values()) or not value:
            lines += ["", "[" + ".".join(_key(k) for k in inner) + "]"]
        _table(lines, value, inner)
    for key, items in arrays.items():
        for item in items:
            lines += ["", "[[" + ".".join(_key(k) for k in (*path, key)) + "]]"]
            _table(lines, item, (*path, key))


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's (\" \\ \n \t \uXXXX ...); DEL, which JSON leaves raw, TOML refuses raw.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any, path: tuple[str, ...]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # the shortest text that reads back the same float; 'inf' and '-inf' are TOML's too
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, (*path, str(i))) for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v, (*path, k))}" for k, v in value.items()) + " }"
    raise ValueError(f"TOML cannot hold the value {describe(value)} of `{'.'.join(path)}` (TOML has no null; "
                     "leave the key out instead).")
