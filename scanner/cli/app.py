"""The `scanner` Typer app and what every command shares: consoles, option parsing, and the
one place where the library's exceptions become exit codes.

Exit codes: 0 the command ran (whatever the scan found), 1 a finding at or above --fail-on,
2 usage or environment error (any `ScannerError`), 130 the scan was interrupted (its tables
hold what completed; --resume continues it).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import importlib
import inspect
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core
import typer.main

# typer 0.28 vendors click: its usage errors and parameters are these, not click's.
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError

from scanner.errors import ScannerError, UsageError
from scanner.inputs import options as parse
from scanner.model.types import Severity
from scanner.present.escape import terminal

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

if TYPE_CHECKING:
    from rich.console import Console

# Every command, in the order `--help` lists them, and the module that defines it. A module is
# imported only when its command runs (or for the top-level `--help`): `scanner check` in a
# shell loop pays for check alone, not for the scan runner, pandas or the lab.
COMMANDS = {
    "check": "scanner.cli.check",
    "metrics": "scanner.cli.metrics",
    "scan": "scanner.cli.scan",
    "demo": "scanner.cli.demo",
    "summary": "scanner.cli.reports",
    "diff": "scanner.cli.reports",
    "report": "scanner.cli.reports",
    "forecast": "scanner.cli.forecast",  # (issue 21)
    "trend": "scanner.cli.trend",
}
_apps: dict[str, typer.Typer] = {}  # filled by @command as the modules are imported


@functools.cache
def out_console() -> Console:
    """The console for results on stdout (rich is imported on first use)."""
    from rich.console import Console

    return Console(highlight=False)


@functools.cache
def err_console() -> Console:
    """The console for progress, warnings and errors on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


_own_process = False  # set by `scanner.cli.main`: this process is the `scanner` command


def own_process() -> None:
    """The entry point's mark: this process runs one command and ends (not a test or a notebook
    running commands), so `settle` may freeze what it has built."""
    global _own_process
    _own_process = True


def settle() -> None:
    """A long command calls this once its imports are done. In the `scanner` process itself,
    everything built so far (pandas, pyarrow, the runner, the trust store) lives as long as the
    process: frozen out of the collector's way, a scan's full collections stop walking it
    again and again (about 100,000 instructions per host at C=200, by callgrind). Elsewhere
    nothing happens: a frozen object's cycles would never be collected.

    Arrow's buffers there come from the C allocator, not its default mimalloc pool: mimalloc
    keeps its own segments, so the end of a scan (merge, summary, CSV) added 50 MiB of peak
    RSS on top of what the scan's Python heap had freed (issue 17)."""
    if _own_process:
        pyarrow = sys.modules.get("pyarrow")
        if pyarrow is not None and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
            pyarrow.set_memory_pool(pyarrow.system_memory_pool())
        gc.freeze()


def print_error(message: str) -> None:
    err_console().print(f"[bold red]error:[/] {terminal(message)}", soft_wrap=True)


def print_warning(message: str) -> None:
    err_console().print(f"[bold yellow]warning:[/] {terminal(message)}", soft_wrap=True)


def usage_error_line(e: ClickUsageError, where: str) -> str:
    """A click usage error (unknown option or command, bad or missing value) as the one line
    every other error is: what was wrong, naming the option, and where the help is (`where`,
    the command's path, when the error does not know it)."""
    message = " ".join(e.format_message().split()).rstrip(".")  # click's hints: own lines
    if e.ctx is not None and e.ctx.parent is not None:
        where = e.ctx.command_path
    return f"{message}; see '{where} --help'"


def _usage_exit(e: ClickUsageError, where: str) -> typer.Exit:
    # click, not rich: a mistyped `scanner check` in a loop stays as cheap as a correct one.
    label = "error:" if "NO_COLOR" in os.environ else typer.style("error:", fg="red", bold=True)
    typer.echo(f"{label} {terminal(usage_error_line(e, where))}", err=True)
    return typer.Exit(EXIT_USAGE)


class ScannerGroup(typer.core.TyperGroup):
    """Maps the library's exceptions to exit 2 with one line on stderr, for every command; help
    is as wide as the terminal (`COLUMNS`), read when the command runs. Commands are loaded
    when asked for (`COMMANDS`)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return click_command(cmd_name) if cmd_name in COMMANDS else None

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        extra.setdefault("terminal_width", shutil.get_terminal_size().columns)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise  # bare `scanner`: the help, as asked for
        except ClickUsageError as e:  # an unknown or malformed option of the group itself
            raise _usage_exit(e, info_name or "scanner") from None

    def invoke(self, ctx: Any) -> Any:
        # Consoles read COLUMNS and the terminal when made: made afresh for each run (a test
        # process runs many, each with its own environment).
        out_console.cache_clear()
        err_console.cache_clear()
        given = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # the command's name first
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as e:  # a command's options (BadParameter, NoSuchOption, ...)
            name = given[0] if given else None
            where = f"{ctx.command_path} {name}" if name in COMMANDS else ctx.command_path
            raise _usage_exit(e, where) from None
        except ScannerError as e:
            print_error(str(e))
            raise typer.Exit(EXIT_USAGE) from None
        except BaseExceptionGroup as group:
            # A ScannerError raised inside a task group: still one line and exit 2.
            match, _ = group.split(ScannerError)
            if match is None:
                raise
            print_error(str(_first_leaf(match)))
            raise typer.Exit(EXIT_USAGE) from None


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


_SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    # click's plain help: option names are never cut to fit a narrow terminal (rich's table
    # shortened `--expiry-warn-days` to `--expiry-warn-…` at 80 columns).
    "rich_markup_mode": None,
}
app = typer.Typer(
    cls=ScannerGroup,
    help="Scan a fleet's TLS certificates: which hosts would a client refuse, why, and what "
    "fixes it.",
    no_args_is_help=True,
    **_SETTINGS,
)


DISTRIBUTION = "tls-fleet-scanner"


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # only when asked: start-up stays light

        typer.echo(f"scanner {version(DISTRIBUTION)}")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            expose_value=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """The group's only option is --version; its help is the app's."""


class ScannerCommand(typer.core.TyperCommand):
    """A command whose usage line names its arguments as its help does, in capitals (`INPUT`,
    `DIRS...`), not as typer 0.28 prints them (`{input}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                pieces.append(argument_usage(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def argument_usage(param: typer.core.TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


F = TypeVar("F", bound=Callable[..., Any])
_SOFT_BREAK = re.compile(r"(?<=\S)\n(?=\S)")


def command(name: str) -> Callable[[F], F]:
    """Registers the command `name` (listed in `COMMANDS`), with the docstring's hard-wrapped
    lines joined into paragraphs so that `--help` reflows them to the terminal instead of
    breaking sentences mid-line."""

    def register(fn: F) -> F:
        doc = inspect.cleandoc(fn.__doc__ or "")
        paragraphs = [_SOFT_BREAK.sub(" ", p) for p in doc.split("\n\n")]
        fn.__doc__ = "\n\n".join(paragraphs)
        one = typer.Typer(**_SETTINGS)
        one.command(name, cls=ScannerCommand)(fn)
        _apps[name] = one
        return fn

    return register


@functools.cache
def click_command(name: str) -> Any:
    """The click command `name`, its module imported and its parameters built on first use."""
    importlib.import_module(COMMANDS[name])
    built = typer.main.get_command(_apps[name])
    for param in built.params:
        if isinstance(param, typer.core.TyperArgument) and param.metavar is None:
            # In capitals, as the usage line shows it: "Missing argument 'INPUT'".
            param.metavar = (param.name or "").upper()
    return built


def command_callbacks() -> dict[str, Callable[..., Any]]:
    """Every command's function by name (each module imported)."""
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module)
    return {name: _apps[name].registered_commands[0].callback for name in COMMANDS}  # type: ignore[misc]


def fail(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(EXIT_USAGE)


def as_of_option(text: str | None) -> dt.datetime:
    try:
        return parse.parse_as_of(text, now=dt.datetime.now(dt.UTC))
    except UsageError as e:
        raise typer.BadParameter(str(e).removeprefix("as_of: "), param_hint="--as-of") from None


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
        raise typer.BadParameter(str(e), param_hint="--trust-store") from None


def option_parameters(cls: type) -> list[inspect.Parameter]:
    """The typer parameters of the options declared in `cls` (scanner.run.options), in order:
    name, type, default, help and spelling all from the declarations. Values arrive as given
    on the command line; the declarations' `parse` validates them (`parse_options`)."""
    from dataclasses import MISSING

    from scanner.run.schema import declared, surface_default

    params = []
    for f, o in declared(cls):
        if not o.cli:
            continue
        kind = o.cli_type if o.cli_type is not None else type(f.default)
        info: Any
        if o.argument:
            info = typer.Argument(help=o.help, metavar=o.metavar, show_default=False)
        else:
            switch = isinstance(f.default, bool) and o.negatable and not o.flags
            names = () if switch else o.flags or ("--" + f.name.replace("_", "-"),)
            bounds = getattr(o.parse, "bounds", None)  # as click shows a range: [x>=1]
            help = f"{o.help}  [{bounds}]" if bounds else o.help
            info = typer.Option(*names, help=help, metavar=o.metavar, hidden=o.hidden)
        default = surface_default(f, o)
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is MISSING else default,
                annotation=Annotated[list[kind] | None if o.repeatable else kind, info],  # type: ignore[valid-type]
            )
        )
    return params


def with_options(*classes: type) -> Callable[[F], F]:
    """Gives a command taking `**given` the parameters of the options declared in `classes`
    (typer reads a function's `__signature__`)."""

    def attach(fn: F) -> F:
        params = [p for cls in classes for p in option_parameters(cls)]
        fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return fn

    return attach
