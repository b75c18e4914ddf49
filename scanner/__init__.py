"""TLS fleet scanner, for notebooks and scripts:

- `load(folders)`: a scan's tables (scanner.store.load)
- `scan(rows, ...)` / `await scan_async(rows, ...)`: a fleet scanned from Python (scanner.run.api)
- `check(chain, host=...)`: a saved chain diagnosed offline, as a hosts row (scanner.run.check)
- `ScanTables`, and the exceptions of `scanner.errors`

`import scanner` stays light (no pandas, no network stack): the functions and `ScanTables`
are imported on first use. Type checkers and IDEs read the imports below instead, so they see
the real signatures (the package ships `py.typed`)."""

from __future__ import annotations

import os as _os
from importlib import import_module
from typing import TYPE_CHECKING

from scanner.errors import (
    ChainFileError,
    HostError,
    InputError,
    OutputError,
    ResourceError,
    ScanFolderError,
    ScannerError,
    TrustStoreError,
    UsageError,
)

if TYPE_CHECKING:
    from scanner.run.api import scan, scan_async
    from scanner.run.check import check_frame as check
    from scanner.store.load import ScanTables, load

__all__ = [
    "ChainFileError",
    "HostError",
    "InputError",
    "OutputError",
    "ResourceError",
    "ScanFolderError",
    "ScanTables",
    "ScannerError",
    "TrustStoreError",
    "UsageError",
    "check",
    "load",
    "scan",
    "scan_async",
]
# name -> (module, attribute): what is imported on first use.
_LAZY = {
    "load": ("scanner.store.load", "load"),
    "ScanTables": ("scanner.store.load", "ScanTables"),
    "scan": ("scanner.run.api", "scan"),
    "scan_async": ("scanner.run.api", "scan_async"),
    "check": ("scanner.run.check", "check_frame"),
}

if not TYPE_CHECKING:  # hidden from type checkers, so `scanner.typo` is an error, not Any

    def __getattr__(name: str) -> object:
        home = _LAZY.get(name)
        if home is None:
            raise AttributeError(f"module 'scanner' has no attribute {name!r}")
        value = getattr(import_module(home[0]), home[1])
        globals()[name] = value  # looked up once
        return value


def __dir__() -> list[str]:
    """What tab completion offers: the public names (the lazy ones too) and submodules."""
    loaded = [n for n, v in globals().items() if n[0] != "_" and type(v) is type(_os)]
    loaded += [n for n in globals() if n.startswith("__")]
    return sorted({*__all__, *loaded})
