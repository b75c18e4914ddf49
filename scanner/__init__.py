"""TLS fleet scanner. For notebooks and scripts: `load` a scan's tables, `scan` or
`await scan_async` a fleet from Python (see scanner.api)."""

from scanner.api import load, scan, scan_async

__all__ = ["load", "scan", "scan_async"]
