"""TLS fleet scanner. For notebooks and scripts: `load` a scan's tables (scanner.store.load),
`scan` or `await scan_async` a fleet from Python (scanner.run.api).

Imported on first use, so `import scanner` and `scanner.load` stay light: no network stack."""

from importlib import import_module
from typing import Any

__all__ = ["load", "scan", "scan_async"]
_HOMES = {"load": "scanner.store.load", "scan": "scanner.run.api", "scan_async": "scanner.run.api"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'scanner' has no attribute {name!r}")
    return getattr(import_module(home), name)
