"""TLS fleet scanner. For notebooks and scripts: `load` a scan's tables, `scan` or
`await scan_async` a fleet from Python (see scanner.api)."""

from typing import Any

__all__ = ["load", "scan", "scan_async"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `scanner scan` and `python -m scanner` then start without it.
    if name in __all__:
        from scanner import api

        return getattr(api, name)
    raise AttributeError(f"module 'scanner' has no attribute {name!r}")
