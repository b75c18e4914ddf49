"""The `scanner` Typer app and what every command shares: consoles, option parsing, and the
one place where the library's exceptions become exit codes.

Exit codes: 0 the command ran (whatever the scan found), 1 a finding at or above --fail-on,
2 usage or environment error (any `ScannerError`), 130 the scan was interrupted (its tables
hold what completed; --resume continues it).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console

from scanner.errors import ScannerError, UsageError
from scanner.inputs import options as parse
from scanner.model.types import Severity
from scanner.present.escape import terminal

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {terminal(message)}", soft_wrap=True)


class ScannerGroup(typer.core.TyperGroup):
    """Maps the library's exceptions to exit 2 with one line on stderr, for every command; help
    is as wide as the terminal (`COLUMNS`), read when the command runs."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        extra.setdefault("terminal_width", shutil.get_terminal_size().columns)
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ScannerError as e:
            print_error(str(e))
            raise typer.Exit(EXIT_USAGE) from None


app = typer.Typer(
    cls=ScannerGroup,
    help="Scan a fleet's TLS certificates: which hosts would a client refuse, why, and what "
    "fixes it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: option names are never cut to fit a narrow terminal (rich's table
    # shortened `--expiry-warn-days` to `--expiry-warn-…` at 80 columns).
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])
_SOFT_BREAK = re.compile(r"(?<=\S)\n(?=\S)")


def command(name: str | None = None) -> Callable[[F], F]:
    """`app.command`, with the docstring's hard-wrapped lines joined into paragraphs so that
    `--help` reflows them to the terminal instead of breaking sentences mid-line."""

    def register(fn: F) -> F:
        doc = inspect.cleandoc(fn.__doc__ or "")
        paragraphs = [_SOFT_BREAK.sub(" ", p) for p in doc.split("\n\n")]
        fn.__doc__ = "\n\n".join(paragraphs)
        app.command(name)(fn)
        return fn

    return register


def fail(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(EXIT_USAGE)


def as_of_option(text: str | None) -> dt.datetime:
    try:
        return parse.parse_as_of(text, now=dt.datetime.now(dt.UTC))
    except UsageError as e:
        raise typer.BadParameter(str(e).removeprefix("as_of: ")) from None


def nameserver_option(text: str) -> tuple[str, int]:
    try:
        return parse.parse_nameserver(text)
    except UsageError as e:
        raise typer.BadParameter(str(e)) from None


FailOn = Annotated[
    Severity | None,
    typer.Option(
        "--fail-on",
        case_sensitive=False,
        help="Exit 1 when any host has a finding at or above this severity.",
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(help="Judge validity at this ISO 8601 instant (UTC unless given); default now."),
]
WarnDays = Annotated[
    int, typer.Option(min=0, help="Days before notAfter that count as expiring soon.")
]


TrustStores = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-store",
        metavar="NAME=PEM",
        help="Also judge trust with this PEM root store, named NAME in trusted_by "
        "(repeatable; the --ca-bundle store is 'default').",
    ),
]


def trust_store_options(values: list[str] | None) -> tuple[tuple[str, Path], ...]:
    from scanner.store.trust import parse_trust_store

    try:
        return tuple(parse_trust_store(v) for v in values or ())
    except UsageError as e:
        raise typer.BadParameter(str(e)) from None
