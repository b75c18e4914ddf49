"""Atomic file writes: a file is written under a temporary name beside its final one and
renamed into place, so a reader (or a crash) never sees half a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def partial_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to `path`."""
    return path.with_name(f".{path.name}.partial")


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to write the whole file at a temporary path, then rename it to
    `path`. On failure the temporary file is removed and the exception re-raised."""
    tmp = partial_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
