"""The `scanner check` command: a saved chain diagnosed offline, printed for people or as one
JSON object with the hosts.parquet columns. Registered on `scanner.cli.app`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from scanner.analysis.severity import any_at_or_above
from scanner.cli.app import (
    EXIT_FINDINGS,
    AsOf,
    TrustStores,
    WarnDays,
    as_of_option,
    command,
    fail,
    out_console,
    trust_store_options,
)
from scanner.errors import HostError
from scanner.model.timefmt import utc_z
from scanner.model.types import Severity
from scanner.present.escape import terminal

if TYPE_CHECKING:
    from scanner.run.check import CheckReport

MAX_CHAIN_FILE = 16 * 1024 * 1024


def _print_report(report: CheckReport, as_of: dt.datetime) -> None:
    row, d = report.row, report.diagnosis
    say = out_console.print
    say(f"[bold]{terminal(report.host)}[/]  as of {as_of.isoformat()}", soft_wrap=True)
    say(f"chain: {len(report.chain)} certificate(s)")
    if row["subject"] is not None:
        say(f"subject: {terminal(row['subject'])}", soft_wrap=True)
        say(f"issuer:  {terminal(row['issuer'])}", soft_wrap=True)
        names = [*row["san_dns"], *row["san_ip"]]
        say(f"names:   {terminal(', '.join(names) or 'none')}", soft_wrap=True)
        start, end = (
            utc_z(t) if t else "unreadable" for t in (row["not_before"], row["not_after"])
        )
        left = row["days_remaining"]
        say(f"valid:   {start} to {end}" + (f" ({left} day(s) left)" if left is not None else ""))
    from scanner.model.columns import VERDICT_COLUMNS

    true = [c for c in VERDICT_COLUMNS if c != "trusted" and row[c]]
    verdict = "[green]trusted[/]" if row["trusted"] else "[red]not trusted[/]"
    say(f"verdict: {verdict}" + (f" ({', '.join(true)})" if true else ""))
    say(f"trusted by: {terminal(', '.join(row['trusted_by']) or 'no store')}")
    say(f"grade:   {row['grade']} (from the {row['grade_basis']})")
    source = f" ({row['revocation_source']})" if row["revocation_source"] else ""
    say(f"revocation: {row['revocation']}{source}")
    for f in d.findings:
        say(f"  {escape(f'[{f.severity.value}]')} {f.code}: {terminal(f.message)}", soft_wrap=True)
        say(f"      fix: {terminal(f.remedy)}", soft_wrap=True)


@command("check")
def check_command(
    chain: Annotated[
        Path, typer.Argument(help="PEM (or DER, or PKCS#7) file: the leaf first, then the chain.")
    ],
    host: Annotated[str, typer.Option(help="The name (or IP) a client would connect to.")],
    ca_bundle: Annotated[
        Path | None, typer.Option(help="PEM trust store; default Mozilla's roots (certifi).")
    ] = None,
    trust_store: TrustStores = None,
    as_of: AsOf = None,
    expiry_warn_days: WarnDays = 30,
    crl: Annotated[
        list[Path] | None,
        typer.Option(
            help="A CRL file (DER or PEM) to check the chain's certificates against "
            "(repeatable); the only revocation source, since check never fetches."
        ),
    ] = None,
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
    missing intermediates are not fetched, and revocation is judged only against --crl files).
    Exit 0 when it ran, 1 for a finding at or above --fail-on, 2 for a usage error.

    Example: scanner check chain.pem --host www.example.com --as-of 2026-11-26
    """
    from scanner.run.check import check, json_row
    from scanner.store.trust import load_named, load_trust
    from scanner.x509.chainfile import load_chain

    when = as_of_option(as_of)
    try:
        with open(chain, "rb") as f:
            data = f.read(MAX_CHAIN_FILE + 1)  # never more than the cap
    except OSError as e:
        raise fail(f"cannot read {chain}: {e.strerror or e}") from None
    if len(data) > MAX_CHAIN_FILE:
        raise fail(f"{chain}: larger than {MAX_CHAIN_FILE // (1024 * 1024)} MiB; not a chain")
    certificates = load_chain(data, str(chain))
    trust = load_trust(ca_bundle)
    stores = load_named(trust_store_options(trust_store))
    from scanner.store.crlfiles import load_crl_files

    crls = load_crl_files(crl or ())
    try:
        report = check(
            certificates,
            host=host,
            trust=trust,
            as_of=when,
            checked_at=dt.datetime.now(dt.UTC),
            warn_days=expiry_warn_days,
            stores=stores,
            crls=crls,
        )
    except HostError as e:
        raise fail(f"--host: {e}") from None
    if as_json:
        out_console.file.write(json.dumps(json_row(report.row), ensure_ascii=False) + "\n")
    else:
        _print_report(report, when)
    if fail_on is not None and any_at_or_above([report.row["severity"]], fail_on):
        raise typer.Exit(EXIT_FINDINGS)
