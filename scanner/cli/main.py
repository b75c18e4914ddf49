"""The `scanner` entry point. Commands are imported when they run (`scanner.cli.app.COMMANDS`)."""

from __future__ import annotations

import gc
import warnings


def main() -> None:
    # A library's warning (cryptography's "DSA is deprecated", pandas', pyarrow's, anyio's)
    # is never a line in a cron job's mail: what matters of it is a finding (`dsa_key`).
    # Whatever -W or PYTHONWARNINGS say; the code's own local filters (a malformed name
    # attribute is an error in `certs.parse`) still apply inside their `catch_warnings`.
    warnings.simplefilter("ignore")
    # Start-up builds objects that live as long as the process (modules, classes, the click
    # commands) and frees almost none: the collector is held off while they are made, then they
    # are frozen out of its way, so no collection walks them again (about 40 ms of a `check`).
    gc.disable()
    from scanner.cli import app

    gc.freeze()
    gc.enable()
    app.own_process()
    app.app()
