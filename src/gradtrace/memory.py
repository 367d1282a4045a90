"""What a size asks of memory, and refusing a size that cannot fit before anything is allocated.

A size that cannot fit (``num_models=10**7`` members of a large network, a batch of a billion
sequences) would otherwise reach torch's allocator, which reports it in its own words, or not at
all: the CPU allocator may grant the address space and the machine then swaps. The checks here
compare the bytes a request needs with the memory the device has in all, so they refuse only what
can never fit; a request that fits the device but not what is free at the moment is left to the
allocator (and to ``fit``'s out-of-memory handling).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

import torch

__all__ = ["check_fits", "format_bytes", "memory_capacity", "return_free_memory"]

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def format_bytes(count: int | float) -> str:
    """Return ``count`` bytes in binary units with one decimal, e.g. ``"1.2 TiB"``.

    Example:
        >>> format_bytes(1536), format_bytes(3 * 2**40 // 2), format_bytes(12)
        ('1.5 KiB', '1.5 TiB', '12 bytes')
    """
    value = float(count)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{int(count)} bytes" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


def memory_capacity(device: torch.device | str | None = None) -> tuple[int, str] | None:
    """Return the memory ``device`` has in all, in bytes, and words naming it; None when unknown.

    Args:
        device: where the tensors would live; None is torch's default device (where ``torch.empty``
            allocates without a ``device``).

    Returns:
        ``(bytes, "this machine's memory")`` for the CPU: the physical memory, or the process's
        address-space limit (``ulimit -v``) when that is lower; ``(bytes, "the memory of cuda:0")``
        for a CUDA device; None for a device whose memory cannot be queried portably.
    """
    device = torch.device(device) if device is not None else torch.get_default_device()
    if device.type == "cuda":
        _, total = torch.cuda.mem_get_info(device)
        return int(total), f"the memory of {device}"
    if device.type != "cpu":
        return None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None
    where = "this machine's memory"
    limit = _address_space_limit()
    if limit is not None and limit < total:
        total, where = limit, "this process's address-space limit (ulimit -v)"
    return int(total), where


def _address_space_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def check_fits(nbytes: int, what: str, sizes: Mapping[str, object], *,
               device: torch.device | str | None = None) -> None:
    """Raise ``ValueError`` when ``nbytes`` exceed the memory of ``device``, naming the sizes to shrink.

    Args:
        nbytes: what the request needs, in bytes (a Python int: it does not overflow).
        what: what needs it, e.g. ``"The parameters of ElmanRNN"``.
        sizes: the arguments that set the size, by name, to quote with their values.
        device: where it would be allocated; None is torch's default device.

    Raises:
        ValueError: e.g. "The parameters of ElmanRNN (`num_models`=10000, `hidden_size`=100000, ...)
            would need 1.5 TiB, more than this machine's memory (23.4 GiB)".
    """
    capacity = memory_capacity(device)
    if capacity is None:
        return
    limit, where = capacity
    if nbytes <= limit:
        return
    quoted = ", ".join(f"`{name}`={value}" for name, value in sizes.items())
    raise ValueError(f"{what} ({quoted}) would need {format_bytes(nbytes)}, more than {where} "
                     f"({format_bytes(limit)}).")


def _malloc_trim():
    """Return glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def return_free_memory() -> None:
    """Hand the memory the C allocator holds free back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    A long training run allocates and frees the same step buffers thousands of times; glibc keeps much of what
    was freed, scattered between live blocks, so the process's resident memory grows with the steps although
    nothing is live: 0.5 MiB a step for a 100-unit RNN at T = 150, 6 GiB over 12,000 steps. ``fit`` calls this
    after each evaluation (a few milliseconds), which keeps such a run flat.
    """
    if _TRIM is not None:
        _TRIM(0)
