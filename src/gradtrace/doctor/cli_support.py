"""What ``gradtrace doctor`` does, importable: load a model, its loss and its data from import paths,
diagnose, treat, and write the report and the JSON.

The command in :mod:`gradtrace.cli` only parses options and prints; everything it does happens in
:func:`run_doctor`, which a script or a notebook can call as well. Every mistake in what the user passed
raises :class:`DoctorUsageError` (a ``ValueError``) whose one-line message names the option and says what
was expected, before any long work starts where it can be found out that early.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradtrace import __version__
from gradtrace.doctor.diagnose import LossFunctionError, diagnose
from gradtrace.doctor.diagnosis import Diagnosis
from gradtrace.doctor.remedies import REMEDY_NAMES
from gradtrace.doctor.report import write_doctor_report
from gradtrace.doctor.treat import Treatment, treat
from gradtrace.doctor.verdicts import KINDS
from gradtrace.errors import GradtraceError, check_int, check_real, describe

__all__ = ["DoctorResult", "DoctorUsageError", "load_object", "parse_fail_on", "parse_remedies", "run_doctor"]

#: The diagnosis modes, as ``--mode`` spells them.
MODES = ("train", "eval", "as-is")
#: The defaults of the options that only apply with ``--treat``.
TREAT_DEFAULTS = {"steps": 100, "seeds": 5, "lr": 0.01}
#: The most seeds ``--seeds`` takes: each one trains every remedy once more.
MAX_SEEDS = 1000
_PATH_FORM = "'package.module:attribute' or 'path/to/file.py:attribute'"


class DoctorUsageError(GradtraceError, ValueError):
    """What was passed to the doctor cannot be used; the message names the option and what it expects."""


@dataclass
class DoctorResult:
    """What :func:`run_doctor` did.

    Attributes:
        diagnosis: the diagnosis of the model on every batch.
        treatment: the treatment, when one was asked for.
        html: the report written.
        json: the JSON written.
        failed: the verdict kinds named in ``fail_on`` that the diagnosis found (the command exits 3).
    """

    diagnosis: Diagnosis
    treatment: Treatment | None
    html: Path
    json: Path
    failed: list[str] = field(default_factory=list)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _raised(what: str, error: BaseException) -> str:
    return f"{what} raised {type(error).__name__}: {_one_line(str(error))}".rstrip(": ")


def load_object(spec: str, option: str) -> Any:
    """Import what ``spec`` names: ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``.

    The attribute may be dotted (``"module:Class.factory"``). A module is looked up on ``sys.path`` and in
    the current folder (as ``python -m`` does, also when the console script runs); a file is run as a
    module whose folder goes on ``sys.path``, so that it imports its neighbours as a script would.

    Args:
        spec: the import path.
        option: the option it came from, named in error messages (``"MODEL"``, ``"--loss"``).

    Raises:
        DoctorUsageError: no colon, no such module or file, importing it raised, or no such attribute.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise DoctorUsageError(f"`{option}` must be an import path {_PATH_FORM}, got {spec!r} (no colon).")
    source, _, attribute = spec.rpartition(":")
    if not source or not attribute or not all(part.isidentifier() for part in attribute.split(".")):
        raise DoctorUsageError(f"`{option}` must be an import path {_PATH_FORM}, got {spec!r}.")
    module = _load_file(source, spec, option) if _is_file(source) else _load_module(source, spec, option)
    value: Any = module
    for index, part in enumerate(attribute.split(".")):
        if not hasattr(value, part):
            owner = f"module {module.__name__!r}" if index == 0 else repr(".".join(attribute.split(".")[:index]))
            public = _offered(value)
            close = difflib.get_close_matches(part, public, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            available = ", ".join(public[:12]) + (", …" if len(public) > 12 else "") if public else "none"
            raise DoctorUsageError(f"`{option}`: {owner} has no attribute {part!r} (in {spec!r}).{hint} "
                                   f"Available: {available}")
        value = getattr(value, part)
    return value


def _offered(value: Any) -> list[str]:
    """The public names a module defines itself (not what it imports, such as ``F`` or ``Callable``)."""
    names = getattr(value, "__all__", None)
    if names is None:
        home = getattr(value, "__name__", None)
        names = [n for n in dir(value) if not n.startswith("_")
                 and getattr(getattr(value, n), "__module__", home) == home]
    return sorted(names)


def _is_file(source: str) -> bool:
    return source.endswith(".py") or "/" in source or os.sep in source


def _load_module(name: str, spec: str, option: str):
    folder = os.getcwd()
    if folder not in sys.path and "" not in sys.path:
        sys.path.append(folder)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise DoctorUsageError(
                f"`{option}`: no module named {name!r} (in {spec!r}). Expected a module importable from the "
                "current folder or PYTHONPATH, or give the file: 'path/to/file.py:attribute'.") from None
        raise DoctorUsageError(f"`{option}`: {_raised(f'importing {name!r}', error)}.") from None
    except Exception as error:  # the user's module failed while it ran: say so, without a traceback
        raise DoctorUsageError(f"`{option}`: {_raised(f'importing {name!r}', error)}.") from None


def _load_file(source: str, spec: str, option: str):
    path = Path(source)
    if not path.is_file():
        raise DoctorUsageError(f"`{option}`: no such file {source!r} (in {spec!r}). Expected {_PATH_FORM}.")
    name = "_gradtrace_doctor_" + re.sub(r"\W", "_", path.stem)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise DoctorUsageError(f"`{option}`: {source!r} cannot be imported as Python (in {spec!r}).")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name while it runs
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # the user's file failed while it ran
        sys.modules.pop(name, None)
        raise DoctorUsageError(f"`{option}`: {_raised(f'running {source!r}', error)}.") from None
    return module


def _name(value: Any) -> str:
    return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type(value).__name__


def load_model(spec: str, option: str = "MODEL") -> nn.Module:
    """The model ``spec`` names: an ``nn.Module``, or a callable (a class, a factory) that returns one."""
    value = load_object(spec, option)
    if isinstance(value, nn.Module):
        return value
    if not callable(value):
        raise DoctorUsageError(f"`{option}` must name a torch.nn.Module or a callable that returns one, got "
                               f"{describe(value)} (in {spec!r}).")
    try:
        model = value()
    except Exception as error:  # the user's factory failed
        raise DoctorUsageError(f"`{option}`: {_raised(f'{_name(value)}()', error)} (in {spec!r}).") from None
    if not isinstance(model, nn.Module):
        raise DoctorUsageError(f"`{option}`: {_name(value)}() returned {describe(model)}; expected a "
                               f"torch.nn.Module (in {spec!r}).")
    return model


def load_loss(spec: str, option: str = "--loss") -> Callable:
    """The loss function ``spec`` names, called as ``loss_fn(model, batch)``."""
    value = load_object(spec, option)
    # An nn.Module such as nn.MSELoss() is callable, but as criterion(input, target), not (model, batch).
    if not callable(value) or isinstance(value, (nn.Module, type)):
        raise DoctorUsageError(f"`{option}` must name a function loss_fn(model, batch) that runs the model on the "
                               f"batch and returns the scalar loss, got {describe(value)} (in {spec!r}).")
    return value


def load_data(spec: str, option: str = "--data") -> list:
    """The batches ``spec`` names: a list (any iterable) of batches, or a callable that returns one."""
    value = load_object(spec, option)
    source = f"{spec!r}"
    if callable(value) and not isinstance(value, (list, tuple, torch.Tensor)):
        function = value
        try:
            value = function()
        except Exception as error:  # the user's data function failed
            raise DoctorUsageError(f"`{option}`: {_raised(f'{_name(function)}()', error)} (in {spec!r}).") from None
        source = f"what {spec!r} returned"
    if isinstance(value, (torch.Tensor, str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise DoctorUsageError(f"`{option}` must give a list of batches, each passed to loss_fn(model, batch) as "
                               f"it is; {source} is {describe(value)}. For one batch, wrap it in a list.")
    try:
        batches = list(value)
    except Exception as error:  # a loader that fails while it iterates
        raise DoctorUsageError(f"`{option}`: {_raised(f'iterating {source}', error)}.") from None
    if not batches:
        raise DoctorUsageError(f"`{option}`: {source} holds no batch; expected at least one.")
    return batches


def _normal(kind: str) -> str:
    return " ".join(kind.strip().lower().replace("-", " ").replace("_", " ").split())


def parse_fail_on(text: str | Iterable[str] | None) -> list[str]:
    """The verdict kinds ``--fail-on`` names, comma-separated; ``dead-units``, ``dead_units``, ``dead units``.

    Example:
        >>> parse_fail_on("exploding, Dead-Units,non-finite")
        ['exploding', 'dead units', 'non-finite']
    """
    if text is None:
        return []
    names = text.split(",") if isinstance(text, str) else list(text)
    known = {_normal(kind): kind for kind in KINDS}
    spelled = ", ".join(kind.replace(" ", "-") for kind in KINDS)
    kinds = []
    for name in names:
        if _normal(name) not in known:
            shown = f"unknown verdict kind {name.strip()!r}" if name.strip() else "an empty verdict kind"
            raise DoctorUsageError(f"`--fail-on`: {shown}. Expected a comma-separated list of: {spelled}.")
        if known[_normal(name)] not in kinds:
            kinds.append(known[_normal(name)])
    return kinds


def parse_remedies(text: str | None) -> str | list[str]:
    """``"auto"`` or the remedy names ``--remedies`` lists, comma-separated, each checked.

    Example:
        >>> parse_remedies("clip-norm, lower-lr")
        ['clip-norm', 'lower-lr']
    """
    if text is None or text.strip().lower() == "auto":
        return "auto"
    names = [name.strip().lower() for name in text.split(",")]
    for name in names:
        if name not in REMEDY_NAMES:
            shown = f"unknown remedy {name!r}" if name else "an empty remedy name"
            raise DoctorUsageError(f"`--remedies`: {shown}. Expected 'auto' or a comma-separated list of: "
                                   f"{', '.join(REMEDY_NAMES)}.")
    return list(dict.fromkeys(names))


def _check_output(text: str | os.PathLike, option: str) -> Path:
    """Refuse, before any work, a file that cannot be written; its missing folders are made when written."""
    path = Path(text)
    if not str(text) or path.is_dir():
        raise DoctorUsageError(f"`{option}` must be a file to write, got {str(text)!r}"
                               + (", which is a folder." if str(text) else "."))
    existing = path.resolve().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise DoctorUsageError(f"`{option}`: {str(text)!r} cannot be written ({existing} is not a writable "
                               "folder).")
    return path


def _jsonable(value: Any) -> Any:
    """``value`` with every non-finite float as a string ("inf", "nan"), tuples as lists: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    return value


def _write(path: Path, option: str, write: Callable[[Path], Any]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
    except OSError as error:
        raise DoctorUsageError(f"`{option}`: cannot write {str(path)!r}: {error.strerror or error}.") from None
    return path


def run_doctor(model: str, loss: str, data: str, *, treat_it: bool = False, steps: int | None = None,
               seeds: int | None = None, lr: float | None = None, remedies: str | None = None,
               mode: str = "train", recurrent: str | None = None, out: str | os.PathLike = "doctor-report.html",
               json_path: str | os.PathLike | None = None, fail_on: str | Iterable[str] | None = None,
               echo: Callable[[str], Any] | None = None,
               working: Callable[[str], contextlib.AbstractContextManager] | None = None) -> DoctorResult:
    """Diagnose (and treat) the model ``model`` names; write the HTML report and the JSON.

    Args:
        model: ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``: an ``nn.Module`` or a
            callable that returns one.
        loss: the same form: ``loss_fn(model, batch)`` that returns the scalar loss.
        data: the same form: a list of batches, or a callable that returns one (all are diagnosed).
        treat_it: also try the remedies on copies of the model (:func:`~gradtrace.doctor.treat`).
        steps: training steps per remedy and seed (default 100); only with ``treat_it``.
        seeds: seeds per remedy (default 5); only with ``treat_it``.
        lr: the learning rate of plain SGD (default 0.01); only with ``treat_it``.
        remedies: ``"auto"`` or comma-separated names of ``REMEDY_NAMES``; only with ``treat_it``.
        mode: ``"train"``, ``"eval"`` or ``"as-is"`` (the modules' own flags) during the diagnosis.
        recurrent: comma-separated qualified names of step modules the model's own loop calls once per
            time step, traced through time like ``nn.LSTMCell``.
        out: the HTML report to write; missing folders are made.
        json_path: the JSON to write; default ``out`` with the suffix ``.json``.
        fail_on: verdict kinds (comma-separated or a list) that make :attr:`DoctorResult.failed` non-empty.
        echo: called with the diagnosis's table, then the treatment's, as soon as each is ready.
        working: ``working(message)`` returns a context manager held during the long steps (a spinner).

    Returns:
        A :class:`DoctorResult`.

    Raises:
        DoctorUsageError: a bad option, import path, model factory, data or loss function (its message
            names the option).
    """
    failing = parse_fail_on(fail_on)
    chosen = parse_remedies(remedies)
    given = {"--steps": steps, "--seeds": seeds, "--lr": lr, "--remedies": remedies}
    if not treat_it and any(value is not None for value in given.values()):
        named = ", ".join(name for name, value in given.items() if value is not None)
        raise DoctorUsageError(f"`{named}` only apply to the remedies `--treat` tries: add --treat, or leave "
                               f"{'it' if named.count(',') == 0 else 'them'} out.")
    try:
        steps = check_int("--steps", TREAT_DEFAULTS["steps"] if steps is None else steps, minimum=1)
        seeds = check_int("--seeds", TREAT_DEFAULTS["seeds"] if seeds is None else seeds, minimum=1,
                          maximum=MAX_SEEDS)
        lr = check_real("--lr", TREAT_DEFAULTS["lr"] if lr is None else lr, minimum=0.0, exclusive_minimum=True)
    except (TypeError, ValueError) as error:
        raise DoctorUsageError(str(error)) from None
    if mode not in MODES:
        raise DoctorUsageError(f"`--mode` must be one of {', '.join(MODES)}, got {mode!r}.")
    html_path = _check_output(out, "--out")
    json_file = _check_output(json_path if json_path is not None else html_path.with_suffix(".json"), "--json")
    if json_file.resolve() == html_path.resolve():
        raise DoctorUsageError(f"`--json` and `--out` name the same file {str(json_file)!r}: give them different "
                               "names.")
    steps_named = [name.strip() for name in (recurrent or "").split(",") if name.strip()]
    network = load_model(model)
    known = {name for name, _ in network.named_modules() if name}
    unknown = [name for name in steps_named if name not in known]
    if unknown:
        raise DoctorUsageError(f"`--recurrent` names {', '.join(map(repr, unknown))}, not modules of the model. "
                               f"Available: {', '.join(sorted(known)) or 'none'}.")
    loss_fn = load_loss(loss)
    batches = load_data(data)
    echo = echo or (lambda text: None)
    working = working or (lambda message: contextlib.nullcontext())
    try:
        with working(f"Diagnosing {type(network).__name__} on {len(batches)} batch(es)…"):
            diagnosis = diagnose(network, loss_fn, batches=batches, mode=mode, recurrent=steps_named)
        echo(diagnosis.table())
    except LossFunctionError as error:
        raise DoctorUsageError(f"`--loss` ({loss!r}): {_one_line(str(error))}") from None
    about = {"model": model, "loss": loss, "data": f"{data} ({len(batches)} batch(es))", "mode": mode}
    treatment = None
    if treat_it:
        try:
            with working(f"Trying remedies on copies of the model: {steps} steps × {seeds} seed(s) each…"):
                treatment = treat(network, loss_fn, batches, steps=steps, remedies=chosen, lr=lr, seeds=seeds,
                                  diagnosis=diagnosis)
        except LossFunctionError as error:  # the diagnosis is done: keep it before saying what failed
            _write_results(diagnosis, None, html_path, json_file, about, model, loss, data, mode, failing)
            raise DoctorUsageError(f"`--loss` ({loss!r}) failed while training a copy of the model: "
                                   f"{_one_line(str(error))} The diagnosis alone is in {str(html_path)!r}.") from None
        echo(treatment.table())
    return _write_results(diagnosis, treatment, html_path, json_file, about, model, loss, data, mode, failing)


def _write_results(diagnosis, treatment, html_path, json_file, about, model, loss, data, mode,
                   failing) -> DoctorResult:
    _write(html_path, "--out", lambda path: write_doctor_report(diagnosis, path, treatment=treatment, about=about))
    document = {"gradtrace": __version__, "model": model, "loss": loss, "data": data, "mode": mode,
                **diagnosis.to_dict(), "treatment": treatment.to_dict() if treatment is not None else None,
                "fail_on": failing, "failed": [kind for kind in failing if kind in diagnosis.kinds]}
    text = json.dumps(_jsonable(document), indent=1, allow_nan=False, ensure_ascii=False)
    _write(json_file, "--json", lambda path: path.write_text(text + "\n", encoding="utf-8"))
    return DoctorResult(diagnosis, treatment, html_path, json_file, document["failed"])
