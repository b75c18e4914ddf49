"""The `scanner` entry point: the app with every command registered."""

from __future__ import annotations

from scanner.cli import check, demo, metrics, reports, scan  # noqa: F401  (each registers its commands)
from scanner.cli.app import app


def main() -> None:
    app()
