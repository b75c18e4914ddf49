"""Handing the C heap's free pages back to the system (issue 17: flat memory).

A scan frees as much as it allocates, but glibc's malloc keeps freed pages (in every thread's
arena) for reuse, and Arrow's checkpoint buffers, OpenSSL's handshakes and the end-of-scan
work do not always fit back into the same holes: the process's RSS crept up with the number
of hosts. `malloc_trim(0)` returns every free page of every arena. Elsewhere (no glibc) it
does nothing."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable


def _trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _trim()


def release_free_memory(*, collect: bool = False) -> None:
    """Return the free pages of the C heap to the system (a few milliseconds at most);
    `collect` first frees Python's unreachable cycles (between the scan and its end)."""
    if collect:
        gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
