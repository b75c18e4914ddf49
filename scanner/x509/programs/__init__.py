"""Root programs as browsers publish them (Chrome's root_store.textproto, Mozilla's
certdata.txt), read into one `RootProgram`, and the check of a built path against one."""

from __future__ import annotations

import hashlib

from scanner.x509.programs import certdata, chrome
from scanner.x509.programs.model import (
    Anchor,
    ConstraintSet,
    ProgramKind,
    RootProgram,
    RootProgramError,
)

# The published files are about 0.1 MB (Chrome) and 1.5 MB (Mozilla).
MAX_BYTES = 16 * 1024 * 1024

__all__ = [
    "Anchor",
    "ConstraintSet",
    "ProgramKind",
    "RootProgram",
    "RootProgramError",
    "read_program",
]


def read_program(data: bytes, *, source: str) -> RootProgram:
    """The root program in `data`, its format detected from the content. RootProgramError (a
    TrustStoreError) naming `source` for anything else."""
    if len(data) > MAX_BYTES:
        raise RootProgramError(f"{source}: not a root program: larger than {MAX_BYTES} bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RootProgramError(
            f"{source}: not a root program: not UTF-8 text (byte {e.start}); expected Chrome's "
            "root_store.textproto or Mozilla's certdata.txt"
        ) from None
    if certdata.looks_like(text):
        return certdata.read(text, source=source, sha256=sha256)
    if chrome.looks_like(text):
        return chrome.read(text, source=source, sha256=sha256)
    raise RootProgramError(
        f"{source}: not a root program: neither Chrome's root_store.textproto (no trust_anchors) "
        "nor Mozilla's certdata.txt (no BEGINDATA with CKA_CLASS objects)"
    )
