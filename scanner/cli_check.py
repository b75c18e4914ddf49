"""The `scanner check` command: a saved chain diagnosed offline, printed for people or as one
JSON object with the hosts.parquet columns. Registered on `scanner.cli.app`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scanner.check import ChainFileError, CheckReport, check, json_row, load_chain
from scanner.cli import app, fail, out_console, parse_as_of
from scanner.hostnames import HostError
from scanner.models import Severity
from scanner.runner import EnvironmentProblem, load_trust
from scanner.summary import any_at_or_above
from scanner.tables import VERDICT_COLUMNS

MAX_CHAIN_FILE = 16 * 1024 * 1024


def _safe(text: object) -> str:
    """Untrusted certificate text for the terminal: no control characters, no rich markup."""
    return escape("".join(ch if ch.isprintable() else "?" for ch in str(text)))


def _print_report(report: CheckReport, as_of: dt.datetime) -> None:
    row, d = report.row, report.diagnosis
    say = out_console.print
    say(f"[bold]{_safe(report.host)}[/]  as of {as_of.isoformat()}", soft_wrap=True)
    say(f"chain: {len(report.chain)} certificate(s)")
    if row["subject"] is not None:
        say(f"subject: {_safe(row['subject'])}", soft_wrap=True)
        say(f"issuer:  {_safe(row['issuer'])}", soft_wrap=True)
        names = [*row["san_dns"], *row["san_ip"]]
        say(f"names:   {_safe(', '.join(names) or 'none')}", soft_wrap=True)
        say(
            f"valid:   {row['not_before']:%Y-%m-%d %H:%M:%S}Z to "
            f"{row['not_after']:%Y-%m-%d %H:%M:%S}Z ({row['days_remaining']} day(s) left)"
        )
    true = [c for c in VERDICT_COLUMNS if c != "trusted" and row[c]]
    verdict = "[green]trusted[/]" if row["trusted"] else "[red]not trusted[/]"
    say(f"verdict: {verdict}" + (f" ({', '.join(true)})" if true else ""))
    for f in d.findings:
        say(f"  {escape(f'[{f.severity.value}]')} {f.code}: {_safe(f.message)}", soft_wrap=True)
        say(f"      fix: {_safe(f.remedy)}", soft_wrap=True)


@app.command("check")
def check_command(
    chain: Annotated[
        Path, typer.Argument(help="PEM (or DER, or PKCS#7) file: the leaf first, then the chain.")
    ],
    host: Annotated[str, typer.Option(help="The name (or IP) a client would connect to.")],
    ca_bundle: Annotated[
        Path | None, typer.Option(help="PEM trust store; default Mozilla's roots (certifi).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Judge validity at this ISO 8601 instant (UTC unless given); default now."
        ),
    ] = None,
    expiry_warn_days: Annotated[
        int, typer.Option(min=0, help="Days before notAfter that count as expiring soon.")
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the hosts.parquet columns.")
    ] = False,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            case_sensitive=False,
            help="Exit 1 when the chain has a finding at or above this severity.",
        ),
    ] = None,
) -> None:
    """Diagnose a saved certificate chain offline, with the same rules as `scan` (no network:
    missing intermediates are not fetched). Exit 0 when it ran, 1 for a finding at or above
    --fail-on, 2 for a usage error.

    Example: scanner check chain.pem --host www.example.com --as-of 2026-11-26
    """
    when = parse_as_of(as_of)
    try:
        data = chain.read_bytes()[: MAX_CHAIN_FILE + 1]
    except OSError as e:
        raise fail(f"cannot read {chain}: {e.strerror or e}") from None
    if len(data) > MAX_CHAIN_FILE:
        raise fail(f"{chain}: larger than {MAX_CHAIN_FILE // (1024 * 1024)} MiB; not a chain")
    try:
        certificates = load_chain(data, str(chain))
        trust = load_trust(ca_bundle)
        report = check(
            certificates,
            host=host,
            trust=trust,
            as_of=when,
            checked_at=dt.datetime.now(dt.UTC),
            warn_days=expiry_warn_days,
        )
    except (ChainFileError, EnvironmentProblem) as e:
        raise fail(str(e)) from None
    except HostError as e:
        raise fail(f"--host: {e}") from None
    if as_json:
        out_console.file.write(json.dumps(json_row(report.row), ensure_ascii=False) + "\n")
    else:
        _print_report(report, when)
    if fail_on is not None and any_at_or_above([report.row["severity"]], fail_on):
        raise typer.Exit(1)
