"""`--quiet` prints nothing but warnings and errors, on every command that has it: stdout
empty, and each stderr line a `warning:` or `error:` line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from typer.testing import Result

from scanner.cli.app import click_command

Cli = Callable[[Sequence[Any]], Result]


def only_warnings_and_errors(result: Result) -> list[str]:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [x for x in lines if not x.startswith(("warning: ", "error: "))] == [], result.stderr
    return lines


def test_the_commands_with_quiet_are_scan_and_demo() -> None:
    """The commands this file checks are all that have the option."""
    having = {
        name
        for name in ("check", "metrics", "scan", "demo", "summary", "diff", "report", "trend")
        if any("--quiet" in getattr(p, "opts", ()) for p in click_command(name).params)
    }
    assert having == {"scan", "demo"}


def test_quiet_scan(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """The lab's input repeats a row: the duplicate warnings are the only output."""
    args = scan_lab_args()
    assert "--quiet" in args
    result = cli(["scan", lab_files.csv, "--out", tmp_path / "out", *args])
    assert result.exit_code == 0, result.output
    lines = only_warnings_and_errors(result)
    assert any("duplicate row(s)" in x for x in lines)


def test_quiet_scan_error_is_one_error_line(cli: Cli, tmp_path: Path) -> None:
    result = cli(["scan", tmp_path / "missing.csv", "--out", tmp_path / "out", "--quiet"])
    assert result.exit_code == 2
    lines = only_warnings_and_errors(result)
    assert len(lines) == 1 and lines[0].startswith("error: ")


def test_quiet_demo(cli: Cli, tmp_path: Path) -> None:
    """The demo's lab, scanned and reported, without a word (its report is still written)."""
    out = tmp_path / "demo"
    result = cli(["demo", "--quiet", "--out", out, "--inputs", tmp_path / "inputs"])
    assert result.exit_code == 0, result.output
    only_warnings_and_errors(result)
    assert (out / "report.html").is_file() and (out / "hosts.parquet").is_file()
    loud = cli(["demo", "--out", tmp_path / "loud", "--inputs", tmp_path / "inputs2"])
    assert loud.exit_code == 0, loud.output
    assert "Lab:" in loud.stdout and "Wrote" in loud.stdout
