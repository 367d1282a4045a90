"""The compiled time loops of the hand-written BPTT: built once with the machine's C++ compiler, cached.

:mod:`gradtrace.models.bptt` runs each window's recurrence forward and backward as a loop over time.
From Python, every step costs a few operator calls of several microseconds each, more than the
step's arithmetic at the seeds' sizes. ``_native/loops.cpp`` runs the same loops in C++ through
PyTorch's extension API: the step's matrix products go straight to the CPU BLAS that ATen uses, the
transcendental functions through ATen's vectorized operators, the rest in fused loops. It gives the
same states, gradients and ∂L/∂h_t as the Python loops (to float rounding; the float64 equivalence
tests run on both).

It is built at first use with ``torch.utils.cpp_extension`` (a C++ compiler and ninja) into a cache
folder, and loaded from there by every later process without a compiler: ``$TORCH_EXTENSIONS_DIR``
when set, else ``$GRADTRACE_CACHE/native`` (default ``~/.cache/gradtrace/native``), in a subfolder
named by a hash of the source, the compiler flags, the torch and Python versions and the CPU's feature
flags (the build uses the machine's vector instructions). The build
takes tens of seconds once per machine (see :func:`native_status` for how long it took).

``GRADTRACE_NATIVE`` chooses the path: ``auto`` (the default) uses the compiled loops wherever they
apply (CPU tensors of float32 or float64) and can be built, and the Python loops elsewhere, silently
when there is no compiler and with one :class:`NativeBuildWarning` when a build fails; ``0`` always
runs the Python loops; ``1`` requires the compiled loops on the CPU and raises where they cannot be
built. Either path gives the same gradient; neither is ever chosen half-way through a window.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import threading
import time
import warnings
from pathlib import Path

import torch

__all__ = ["NATIVE_MODES", "NativeBuildWarning", "native_applies", "native_available", "native_loops", "native_status"]

#: Values of the ``GRADTRACE_NATIVE`` environment variable.
NATIVE_MODES = ("auto", "0", "1")
SOURCE = Path(__file__).with_name("_native") / "loops.cpp"
# No floating-point contraction: a fused multiply-add would round the loops' products and sums
# differently from the ATen operators they stand in for.
# -march=native on x86-64 lets the element loops use the machine's vector units (the GRU step 0.87 x); the
# build is then only good for this CPU, so its cache folder is keyed by the CPU's feature flags too.
CFLAGS = ("-O3", "-ffp-contract=off", *(("-march=native",) if platform.machine() in ("x86_64", "AMD64") else ()))
_DTYPES = (torch.float32, torch.float64)
_BUILT = "built.ok"  # written after a build succeeds: the library beside it is complete


class NativeBuildWarning(RuntimeWarning):
    """The compiled time loops could not be built or loaded; the Python loops run instead."""


_lock = threading.Lock()
_state: dict = {"ops": None, "tried": False, "reason": "not loaded yet", "build_seconds": None,
                "library": None, "loops_run": 0}


def native_mode() -> str:
    """Return ``GRADTRACE_NATIVE`` ("auto" when unset).

    Raises:
        ValueError: it holds something else than 0, 1 or auto.
    """
    value = os.environ.get("GRADTRACE_NATIVE", "auto").strip().lower() or "auto"
    if value not in NATIVE_MODES:
        raise ValueError(f"The environment variable GRADTRACE_NATIVE must be 0, 1 or auto, got {value!r}.")
    return value


def build_directory() -> Path:
    """Return the folder the compiled loops are built in and loaded from (see the module docstring)."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("GRADTRACE_CACHE", Path.home() / ".cache" / "gradtrace")) / "native"
    return base / _build_name()


def _build_name() -> str:
    key = hashlib.sha256(SOURCE.read_bytes())
    key.update(" ".join((*CFLAGS, torch.__version__, platform.python_version(), platform.machine(),
                         _cpu_features())).encode())
    return f"gradtrace_native_{key.hexdigest()[:16]}"


def _cpu_features() -> str:
    """The CPU's feature flags (Linux's /proc/cpuinfo), so that a cache shared between machines never hands
    one CPU a build that uses instructions it lacks; the processor's name elsewhere."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def native_available() -> bool:
    """Whether the compiled loops can run here: loads them, building them first if need be (once).

    False when ``GRADTRACE_NATIVE=0``, when no C++ compiler or ninja is found and nothing is cached,
    or when the build failed; :func:`native_status` says which.

    Example:
        >>> from gradtrace.models.compiled import native_available, native_status
        >>> native_available() == native_status()["available"]
        True
    """
    return native_mode() != "0" and _load() is not None


def native_status() -> dict:
    """Return where the compiled loops stand, without building anything.

    Returns:
        ``mode`` (``GRADTRACE_NATIVE``), ``available`` (loaded in this process), ``reason`` (why not,
        else None), ``built_here`` (whether this process built them), ``build_seconds`` (how long the
        build of the loaded library took, in this process or as its cache folder recorded it),
        ``library`` (the loaded file), ``build_directory`` and ``loops_run`` (windows run forward or
        backward by the compiled loops in this process).
    """
    with _lock:
        status = {key: _state[key] for key in ("build_seconds", "library", "loops_run")}
        available = _state["ops"] is not None
        status.update(available=available, reason=None if available else _state["reason"],
                      built_here=_state["build_seconds"] is not None)
    if available and status["build_seconds"] is None:
        status["build_seconds"] = _recorded_build_seconds(Path(status["library"]).parent)
    status.update(mode=native_mode(), build_directory=str(build_directory()))
    return status


def _recorded_build_seconds(folder: Path) -> float | None:
    try:
        return float((folder / _BUILT).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def native_loops(like: torch.Tensor):
    """Return the compiled loops (``torch.ops.gradtrace_native``) for buffers like ``like``, or None.

    None means: run the Python loops. They apply to CPU tensors of float32 or float64 under
    ``GRADTRACE_NATIVE`` auto or 1.

    Raises:
        RuntimeError: ``GRADTRACE_NATIVE=1`` and the loops cannot be built or loaded.
    """
    ops = _loops_for(like)
    if ops is not None:
        _state["loops_run"] += 1
    return ops


def native_applies(like: torch.Tensor) -> bool:
    """Whether :func:`native_loops` would return the compiled loops for ``like`` (without counting a run)."""
    return _loops_for(like) is not None


def _loops_for(like: torch.Tensor):
    mode = native_mode()
    if mode == "0" or like.device.type != "cpu" or like.dtype not in _DTYPES:
        return None
    ops = _load()
    if ops is None and mode == "1":
        raise RuntimeError(f"GRADTRACE_NATIVE=1 asks for the compiled time loops, but {_state['reason']}; "
                           "unset it (or set it to auto) to run the Python loops.")
    return ops


def _load():
    """Load the compiled loops once per process, building them if no cached build exists."""
    if _state["tried"]:
        return _state["ops"]
    with _lock:
        if not _state["tried"]:
            try:
                _state["ops"] = _load_or_build()
            finally:
                _state["tried"] = True
    return _state["ops"]


def _load_or_build():
    folder = build_directory()
    library = folder / f"{folder.name}.so"
    if (folder / _BUILT).exists() and library.exists():
        try:
            torch.ops.load_library(str(library))
            _state["library"] = str(library)
            return torch.ops.gradtrace_native
        except (OSError, RuntimeError) as error:  # a cache from elsewhere: build it again below
            _state["reason"] = f"the cached build {library} did not load ({error})"
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        _state["reason"] = f"no C++ compiler ({compiler!r}) was found on PATH and nothing is cached in {folder}"
        return None
    from torch.utils import cpp_extension

    if not cpp_extension.is_ninja_available():
        _state["reason"] = f"ninja was not found (pip install ninja) and nothing is cached in {folder}"
        return None
    start = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # torch's own warnings about the compiler (ABI, version) would escape as errors under
        # `-W error`; the build either works or falls back below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpp_extension.load(name=folder.name, sources=[str(SOURCE)], extra_cflags=list(CFLAGS),
                               build_directory=str(folder), is_python_module=False, verbose=False)
        (folder / _BUILT).write_text(f"{time.perf_counter() - start:.1f} s\n")
    except Exception as error:  # noqa: BLE001 — any build failure means: run the Python loops
        message = _first_error(str(error))
        _state["reason"] = f"building them failed ({type(error).__name__}: {message})"
        warnings.warn(f"gradtrace: the compiled time loops could not be built in {folder}, so the Python "
                      f"loops run instead (the same gradients, slower): {_state['reason']}. Set "
                      "GRADTRACE_NATIVE=0 to skip the build.", NativeBuildWarning, stacklevel=4)
        return None
    _state["build_seconds"] = time.perf_counter() - start
    _state["library"] = str(library)
    return torch.ops.gradtrace_native


def _first_error(text: str) -> str:
    """The compiler's first error line in a build log, else the log's end: what a reader needs first."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = next((line for line in lines if "error:" in line), None)
    return (found or " ".join(lines)[-300:])[:300]
