"""Usage errors are one `error:` line and exit 2, like every other error (not click's block
of usage, hint and `Error:`); usage lines name arguments in capitals; `--version`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

import pytest
import typer.core
from typer.testing import Result

from scanner.cli.app import COMMANDS, click_command

Cli = Callable[[Sequence[Any]], Result]


def test_version_prints_the_installed_distribution_version(cli: Cli) -> None:
    result = cli(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"scanner {version('tls-fleet-scanner')}\n"
    assert result.stderr == ""


# (arguments, what the one line must say): each names the option or command and the fault.
USAGE_ERRORS = [
    (["scan", "in.csv", "--bogus"], ["No such option: --bogus", "scan --help'"]),
    (["scan", "in.csv", "--outt", "x"], ["--outt", "--out"]),  # click's suggestion kept
    (["scan"], ["Missing argument 'INPUT'", "scan --help'"]),
    (["scan", "in.csv", "--timeout", "abc"], ["'--timeout'", "'abc' is not a valid float"]),
    (["scan", "in.csv", "--out"], ["'--out' requires an argument", "scan --help'"]),
    (["check", "chain.pem"], ["Missing option '--host'", "check --help'"]),
    (["check", "c.pem", "--host", "h", "--as-of", "soon"], ["--as-of", "'soon'"]),
    (["diff", "old"], ["Missing argument 'NEW'", "diff --help'"]),
    (["summary", "d", "--format", "xml"], ["'--format'", "'xml' is not one of"]),
    (["nosuch"], ["No such command 'nosuch'", "see '"]),
    (["--bogus"], ["No such option: --bogus", "see '"]),
]


@pytest.mark.parametrize(("args", "says"), USAGE_ERRORS, ids=lambda v: " ".join(v))
def test_a_usage_error_is_one_error_line_and_exit_2(
    cli: Cli, args: list[str], says: list[str]
) -> None:
    result = cli(args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for words in says:
        assert words in lines[0]


def test_bare_scanner_still_shows_the_help(cli: Cli) -> None:
    result = cli([])
    assert "[OPTIONS] COMMAND [ARGS]..." in result.output
    assert "error:" not in result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_usage_lines_name_arguments_in_capitals(cli: Cli, name: str) -> None:
    """`Usage: scanner scan [OPTIONS] INPUT`, not typer 0.28's `{input}`: each argument as its
    name in capitals (`...` when it repeats), as the help's Arguments section lists it."""
    result = cli([name, "--help"])
    assert result.exit_code == 0
    usage = result.stdout.splitlines()[0].split(" ", 2)[2]  # after "Usage: PROG"
    arguments = [
        p.name.upper() + ("..." if p.nargs != 1 else "")
        for p in click_command(name).params
        if isinstance(p, typer.core.TyperArgument) and p.name
    ]
    assert usage == " ".join([name, "[OPTIONS]", *arguments])
    assert "{" not in result.stdout


def test_usage_lines_of_commands_with_arguments(cli: Cli) -> None:
    firsts = {n: cli([n, "--help"]).stdout.splitlines()[0] for n in ("scan", "check", "diff")}
    assert {n: line.split(" ", 2)[2] for n, line in firsts.items()} == {
        "scan": "scan [OPTIONS] INPUT",
        "check": "check [OPTIONS] CHAIN",
        "diff": "diff [OPTIONS] OLD NEW",
    }
