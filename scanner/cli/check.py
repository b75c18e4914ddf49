"""The `scanner check` command: a saved chain diagnosed offline, printed for people or as one
JSON object with the hosts.parquet columns. Registered on `scanner.cli.app`. Plain click
output, no rich: people run `check` in loops, and rich costs 40 ms to import."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanner.analysis.severity import any_at_or_above
from scanner.cli.app import (
    EXIT_FINDINGS,
    AsOf,
    TrustStores,
    WarnDays,
    as_of_option,
    command,
    fail,
    trust_store_options,
)
from scanner.errors import HostError
from scanner.model.timefmt import utc_z
from scanner.model.types import Severity
from scanner.present.escape import json_text, printable

if TYPE_CHECKING:
    from scanner.model.types import Finding
    from scanner.run.check import CheckReport

MAX_CHAIN_FILE = 16 * 1024 * 1024

# How browsers decide (issue 20): the options `scan` declares in scanner.run.options.
RootPrograms = Annotated[
    list[str] | None,
    typer.Option(
        "--root-program",
        metavar="NAME=FILE",
        help="Also judge trust with this browser root program, named NAME in trusted_by and "
        "distrusted_by: Chrome's root_store.textproto or Mozilla's certdata.txt, detected from "
        "the content; its constraints (distrust dates) apply (repeatable).",
    ),
]
CtLogs = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Verify SCTs against this CT log list (Chrome's log_list.json, v3 schema) and "
        "judge Chrome's CT policy (ct_compliant); without it SCTs are only counted.",
    ),
]


def _root_programs(values: list[str] | None) -> tuple[tuple[str, Path], ...]:
    from scanner.errors import UsageError
    from scanner.store.programs import parse_root_program

    try:
        return tuple(parse_root_program(v) for v in values or ())
    except UsageError as e:
        raise typer.BadParameter(str(e), param_hint="--root-program") from None


def _style(text: str, **style: Any) -> str:
    # Colour as rich would show it: none when NO_COLOR is set (click.echo strips it when
    # stdout is not a terminal).
    return text if "NO_COLOR" in os.environ else typer.style(text, **style)


def worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by severity, critical first; the diagnosis' order within one severity."""
    return sorted(findings, key=lambda f: -f.severity.rank)


def _json_row(report: CheckReport) -> dict[str, Any]:
    """The hosts.parquet columns, the finding codes worst first (as the text lists them)."""
    from scanner.run.check import json_row

    row = json_row(report.row)
    row["findings"] = list(dict.fromkeys(f.code for f in worst_first(report.diagnosis.findings)))
    return row


def _report_lines(report: CheckReport, as_of: dt.datetime) -> Iterator[str]:
    row, d = report.row, report.diagnosis
    yield f"{_style(printable(report.host), bold=True)}  as of {as_of.isoformat()}"
    yield f"chain: {len(report.chain)} certificate(s)"
    if row["subject"] is not None:
        yield f"subject: {printable(row['subject'])}"
        yield f"issuer:  {printable(row['issuer'])}"
        names = [*row["san_dns"], *row["san_ip"]]
        yield f"names:   {printable(', '.join(names) or 'none')}"
        start, end = (
            utc_z(t) if t else "unreadable" for t in (row["not_before"], row["not_after"])
        )
        left = row["days_remaining"]
        yield f"valid:   {start} to {end}" + (f" ({left} day(s) left)" if left is not None else "")
    from scanner.model.columns import PROBLEM_VERDICTS

    true = [c for c in PROBLEM_VERDICTS if row[c]]
    verdict = _style("trusted", fg="green") if row["trusted"] else _style("not trusted", fg="red")
    yield f"verdict: {verdict}" + (f" ({', '.join(true)})" if true else "")
    yield f"trusted by: {printable(', '.join(row['trusted_by']) or 'no store')}"
    if row["distrusted_by"]:
        yield f"distrusted by: {printable(', '.join(row['distrusted_by']))}"
    if row["sct_count"] is not None:
        compliant = {True: "compliant", False: "not compliant", None: "not judged"}
        valid = "" if row["sct_valid"] is None else f", {row['sct_valid']} valid"
        yield f"CT:      {row['sct_count']} SCT(s){valid}; {compliant[row['ct_compliant']]}"
        if row["lifetime_days"] is not None:
            yield f"lifetime: {row['lifetime_days']:g} day(s)"
    yield f"grade:   {row['grade']} (from the {row['grade_basis']})"
    source = f" ({row['revocation_source']})" if row["revocation_source"] else ""
    yield f"revocation: {row['revocation']}{source}"
    for f in worst_first(d.findings):
        yield f"  [{f.severity.value}] {f.code}: {printable(f.message)}"
        yield f"      fix: {printable(f.remedy)}"


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
    root_program: RootPrograms = None,
    ct_logs: CtLogs = None,
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
    from scanner.run.check import check_files

    when = as_of_option(as_of)
    try:
        with open(chain, "rb") as f:
            data = f.read(MAX_CHAIN_FILE + 1)  # never more than the cap
    except OSError as e:
        raise fail(f"cannot read {chain}: {e.strerror or e}") from None
    if len(data) > MAX_CHAIN_FILE:
        raise fail(f"{chain}: larger than {MAX_CHAIN_FILE // (1024 * 1024)} MiB; not a chain")
    try:
        report = check_files(
            data,
            str(chain),
            host=host,
            as_of=when,
            checked_at=dt.datetime.now(dt.UTC),
            ca_bundle=ca_bundle,
            warn_days=expiry_warn_days,
            crl_files=crl or (),
            trust_stores=trust_store_options(trust_store),
            root_programs=_root_programs(root_program),
            ct_logs=ct_logs,
        )
    except HostError as e:
        raise fail(f"--host: {e}") from None
    if as_json:
        typer.echo(json_text(_json_row(report)))
    else:
        typer.echo("\n".join(_report_lines(report, when)))
    if fail_on is not None and any_at_or_above([report.row["severity"]], fail_on):
        raise typer.Exit(EXIT_FINDINGS)
