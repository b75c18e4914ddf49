"""The `summary`, `diff` and `report` commands, registered on `scanner.cli.app`: read scan
folders, call the pure summaries, print or write them.

Exit codes: 0 done, 1 `--fail-on` matched, 2 usage or environment error.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import pandas as pd
import pyarrow.parquet as pq
import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from scanner import diff as diffs
from scanner import report as reports
from scanner.api import LoadError, ScanTables, load
from scanner.cli import app, err_console, fail, out_console
from scanner.models import Severity
from scanner.parts import partial_path
from scanner.storage import csv_cell
from scanner.summary import FleetSummary, fleet_summary, hosts_at_or_above


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


class SummaryTable(StrEnum):
    """The table `summary --format csv` prints (CSV holds one table)."""

    COUNTS = "counts"
    FIXES = "fixes"
    INTERMEDIATES = "intermediates"
    CALENDAR = "calendar"


FailOn = Annotated[
    Severity | None,
    typer.Option(
        "--fail-on",
        case_sensitive=False,
        help="Exit 1 when any host has a finding at or above this severity.",
    ),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", "-f", case_sensitive=False, help="table (terminal), csv, json or markdown."
    ),
]


# --- plain values for every format ----------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready value: NA -> None, timestamps -> ISO 8601 UTC, numpy scalars -> Python."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(df.columns)
    return [
        {str(c): _plain(v) for c, v in zip(cols, values, strict=True)}
        for values in df.itertuples(index=False)
    ]


def safe(value: Any) -> str:
    """Untrusted text for the terminal: no control characters, no rich markup."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return rich_escape("".join(ch if ch.isprintable() else "?" for ch in str(value)))


def md_cell(value: Any) -> str:
    """Untrusted text for a Markdown table cell: HTML escaped (Markdown renders inline HTML),
    Markdown punctuation backslash-escaped, one line."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = html.escape(" ".join(str(value).split()), quote=False)
    for ch in "\\`*_[]|#!":
        text = text.replace(ch, "\\" + ch)
    return text


def write_csv(df: pd.DataFrame, stream: TextIO) -> None:
    """CSV with every cell through storage.csv_cell (formulas neutralised, lists joined)."""
    w = csv.writer(stream, lineterminator="\n")
    w.writerow([csv_cell(str(c)) for c in df.columns])
    for row in records(df):
        w.writerow([csv_cell(v) for v in row.values()])


def markdown_table(df: pd.DataFrame, limit: int | None = None) -> str:
    shown = df if limit is None else df.head(limit)
    lines = [
        "| " + " | ".join(md_cell(c) for c in df.columns) + " |",
        "|" + "---|" * len(df.columns),
    ]
    lines += ["| " + " | ".join(md_cell(v) for v in r.values()) + " |" for r in records(shown)]
    if limit is not None and len(df) > limit:
        lines.append(f"\n({len(df) - limit} more rows not shown)")
    return "\n".join(lines)


def rich_table(df: pd.DataFrame, title: str, limit: int | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        table.add_column(safe(c), justify="right" if numeric else "left", overflow="fold")
    shown = df if limit is None else df.head(limit)
    for r in records(shown):
        table.add_row(*(safe(v) for v in r.values()))
    if limit is not None and len(df) > limit:
        table.caption = f"{len(df) - limit} more not shown (--limit, or --format csv/json)"
    return table


# --- loading ------------------------------------------------------------------------------


def _load(paths: Sequence[Path]) -> tuple[ScanTables, list[str]]:
    """The scan, and warnings about it (shards judged at different instants, interrupted)."""
    try:
        tables = load(paths)
        notes = []
        if len(tables.as_of_values) > 1:
            notes.append(
                "the folders were scanned as of different instants ("
                + ", ".join(v.isoformat() for v in tables.as_of_values)
                + f"); the calendar counts from the latest, {tables.as_of.isoformat()}"
            )
        for folder, meta in zip(tables.folders, tables.meta, strict=True):
            if meta.get("interrupted"):
                notes.append(f"{folder}: the scan was interrupted; some hosts are missing")
        tables.as_of  # noqa: B018 - raises LoadError when there is no as-of at all
    except LoadError as e:
        raise fail(str(e)) from None
    return tables, notes


def _warn(notes: Sequence[str]) -> None:
    for note in notes:
        err_console.print(f"[bold yellow]warning:[/] {rich_escape(note)}", soft_wrap=True)


def _fail_on(hosts: pd.DataFrame, threshold: Severity | None) -> None:
    if threshold is not None and hosts_at_or_above(hosts, threshold):
        raise typer.Exit(1)


# --- summary ------------------------------------------------------------------------------

_COUNT_KINDS = ("verdict", "error")


def _summary_json(s: FleetSummary, tables: ScanTables) -> dict[str, Any]:
    return {
        "as_of": s.as_of.astimezone(dt.UTC).isoformat(),
        "folders": [str(f) for f in tables.folders],
        "targets": s.targets,
        "ok": s.ok,
        "warnings": list(s.warnings),
        "counts": records(s.counts),
        **({"by": {"column": s.by_column, "counts": records(s.by)}} if s.by is not None else {}),
        "fixes": records(s.leaf_fixes),
        "intermediates": records(s.intermediates),
        "calendar": records(s.calendar),
    }


def _by_view(s: FleetSummary) -> pd.DataFrame:
    """For the terminal and Markdown: one row per group with its non-zero verdicts and
    errors in one column."""
    assert s.by is not None and s.by_column is not None
    col = s.by_column
    rows = []
    for value, group in s.by.groupby(col, dropna=False, sort=False):

        def n(kind: str, name: str, g: pd.DataFrame = group) -> int:
            hit = g[(g["kind"] == kind) & (g["name"] == name)]["hosts"]
            return int(hit.iloc[0]) if len(hit) else 0

        problems = group[
            group["kind"].isin(_COUNT_KINDS)
            & (group["hosts"] > 0)
            & (group["name"] != "not_trusted")
        ]
        rows.append(
            {
                col: None if pd.isna(value) else value,
                "targets": n("status", "ok") + n("status", "error"),
                "not_trusted": n("verdict", "not_trusted"),
                "errors": n("status", "error"),
                "problems": ", ".join(f"{r.name} {r.hosts}" for r in problems.itertuples()),
            }
        )
    return pd.DataFrame(rows, columns=[col, "targets", "not_trusted", "errors", "problems"])


def _calendar_view(calendar: pd.DataFrame) -> pd.DataFrame:
    view = calendar.copy()
    view["starts"] = view["starts"].map(lambda t: pd.Timestamp(t).strftime("%Y-%m-%d"))
    view["ends"] = view["ends"].map(lambda t: pd.Timestamp(t).strftime("%Y-%m-%d"))
    return view


def _fix_view(fixes: pd.DataFrame, *, wide: bool) -> pd.DataFrame:
    """The leaf fix list for reading: short SHA-256, dates without time; `wide` keeps the
    issuer and example hosts (Markdown), the terminal shows the essentials."""
    view = pd.DataFrame(
        {
            "hosts": fixes["hosts_affected"],
            "severity": fixes["severity"],
            "findings": fixes["findings"],
            "names": [
                (list(d) + list(i)) or [s]
                for d, i, s in zip(fixes["san_dns"], fixes["san_ip"], fixes["subject"], strict=True)
            ],
            "not_after": fixes["not_after"].map(
                lambda t: "" if pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d")
            ),
            "days": fixes["days_remaining"],
            "sha256": fixes["leaf_sha256"].map(lambda v: str(v)[:12]),
        }
    )
    if wide:
        view["issuer"] = fixes["issuer"]
        view["examples"] = fixes["examples"]
    return view


def _counts_view(s: FleetSummary) -> pd.DataFrame:
    c = s.counts[s.counts["kind"].isin(_COUNT_KINDS) & (s.counts["hosts"] > 0)].copy()
    c["share"] = c["share"].map(lambda v: f"{v:.1%}")
    return c


@app.command()
def summary(
    dirs: Annotated[
        list[Path],
        typer.Argument(help="Scan folder(s), or a parent folder of shard folders: one scan."),
    ],
    by: Annotated[
        str | None, typer.Option(help="Break the counts down by this input column (owner...).")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    table: Annotated[
        SummaryTable | None,
        typer.Option(
            case_sensitive=False,
            help="With --format csv: the table to print (default counts, by --by when given).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="Rows of each list in table and markdown output.")
    ] = 20,
    fail_on: FailOn = None,
) -> None:
    """Summarise a scan: hosts and share per verdict and error code, the fix list (one row
    per problem leaf certificate and per missing intermediate, most hosts first), the expiry
    calendar for the next 12 weeks from the scan's as-of, and a warning when the scanning
    clock looks wrong.

    Example: scanner summary reports/2026-11-26 --by owner --fail-on high
    """
    tables, notes = _load(dirs)
    hosts = tables.hosts
    if by is not None:
        if by not in hosts.columns:
            choices = ", ".join(tables.carried_columns) or "none"
            raise fail(f"--by {by}: no such column (carried input columns: {choices})")
        if hosts[by].map(lambda v: isinstance(v, list)).any():
            raise fail(f"--by {by}: a list column cannot be a group")
    s = fleet_summary(hosts, tables.findings, tables.as_of, by=by, warnings=notes)
    _warn(s.warnings)
    match fmt:
        case OutputFormat.JSON:
            json.dump(_summary_json(s, tables), sys.stdout, indent=2)
            sys.stdout.write("\n")
        case OutputFormat.CSV:
            chosen = {
                SummaryTable.COUNTS: s.by if s.by is not None else s.counts,
                SummaryTable.FIXES: s.leaf_fixes,
                SummaryTable.INTERMEDIATES: s.intermediates,
                SummaryTable.CALENDAR: s.calendar,
            }[table or SummaryTable.COUNTS]
            write_csv(chosen, sys.stdout)
        case OutputFormat.MARKDOWN:
            out = [
                "# TLS fleet summary",
                "",
                f"As of {s.as_of.astimezone(dt.UTC).isoformat()}: {s.targets} targets, "
                f"{s.ok} answered, {s.targets - s.ok} errors.",
                "",
                *(f"> **Warning:** {md_cell(w)}\n" for w in s.warnings),
                "## Verdicts and errors",
                "",
                markdown_table(_counts_view(s)),
            ]
            if s.by is not None:
                out += ["", f"## By {md_cell(by)}", "", markdown_table(_by_view(s))]
            out += [
                "",
                "## Fix list: leaf certificates",
                "",
                markdown_table(_fix_view(s.leaf_fixes, wide=True), limit),
                "",
                "## Fix list: missing intermediates",
                "",
                markdown_table(s.intermediates, limit),
                "",
                "## Expiry calendar (next 12 weeks)",
                "",
                markdown_table(_calendar_view(s.calendar)),
            ]
            sys.stdout.write("\n".join(out) + "\n")
        case OutputFormat.TABLE:
            out_console.print(
                f"{s.targets} targets ({s.ok} ok, {s.targets - s.ok} errors) as of "
                f"{s.as_of.astimezone(dt.UTC).isoformat()} from "
                + ", ".join(safe(f) for f in tables.folders),
                soft_wrap=True,
            )
            out_console.print(rich_table(_counts_view(s), "Verdicts and errors"))
            if s.by is not None:
                out_console.print(rich_table(_by_view(s), f"By {safe(by)}"))
            out_console.print(
                rich_table(
                    _fix_view(s.leaf_fixes, wide=False), "Fix list: leaf certificates", limit
                )
            )
            if not s.intermediates.empty:
                out_console.print(
                    rich_table(
                        s.intermediates.loc[:, ["hosts_affected", "intermediate", "aia_url"]],
                        "Fix list: missing intermediates",
                        limit,
                    )
                )
            out_console.print(
                rich_table(_calendar_view(s.calendar), "Leaves expiring per week from as-of")
            )
    _fail_on(hosts, fail_on)


# --- diff ---------------------------------------------------------------------------------


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier scan folder (or parent of shards).")],
    new: Annotated[Path, typer.Argument(help="The later scan folder (or parent of shards).")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write changes.parquet (default NEW/changes.parquet)."
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    limit: Annotated[
        int, typer.Option(min=1, help="Changes listed in table and markdown output.")
    ] = 50,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on",
            case_sensitive=False,
            help="Exit 1 when NEW has a new finding at or above this severity.",
        ),
    ] = None,
) -> None:
    """What changed between two scans: new and resolved findings, hosts that lost or regained
    trust, rotated leaf certificates, hosts newly failing or back, targets added to or removed
    from the input. Writes changes.parquet and prints the changes.

    Example: scanner diff reports/2026-11-25 reports/2026-11-26 --fail-on critical
    """
    before, old_notes = _load([old])
    after, new_notes = _load([new])
    _warn(old_notes + new_notes)
    changes = diffs.diff(before.hosts, before.findings, after.hosts, after.findings)
    target = out or new / "changes.parquet"
    try:
        tmp = partial_path(target)
        pq.write_table(diffs.changes_table(changes), tmp, compression="zstd")
        os.replace(tmp, target)
    except OSError as e:
        raise fail(f"cannot write {target}: {e.strerror or e}") from None
    tally = diffs.counts(changes)
    match fmt:
        case OutputFormat.JSON:
            json.dump(
                {
                    "old": {
                        "folders": [str(f) for f in before.folders],
                        "as_of": before.as_of.isoformat(),
                    },
                    "new": {
                        "folders": [str(f) for f in after.folders],
                        "as_of": after.as_of.isoformat(),
                    },
                    "written": str(target),
                    "counts": {r["change"]: r["targets"] for r in records(tally)},
                    "changes": records(changes),
                },
                sys.stdout,
                indent=2,
            )
            sys.stdout.write("\n")
        case OutputFormat.CSV:
            write_csv(changes, sys.stdout)
        case OutputFormat.MARKDOWN:
            sys.stdout.write(
                "\n".join(
                    [
                        "# Changes",
                        "",
                        f"{md_cell(str(old))} ({before.as_of.isoformat()}) -> "
                        f"{md_cell(str(new))} ({after.as_of.isoformat()})",
                        "",
                        markdown_table(tally[tally["targets"] > 0]),
                        "",
                        markdown_table(changes, limit),
                    ]
                )
                + "\n"
            )
        case OutputFormat.TABLE:
            out_console.print(
                f"{safe(old)} ({before.as_of.isoformat()}) -> {safe(new)} "
                f"({after.as_of.isoformat()}): {len(changes)} change(s), written to "
                f"{safe(target)}",
                soft_wrap=True,
            )
            nonzero = tally[tally["targets"] > 0]
            if not nonzero.empty:
                out_console.print(rich_table(nonzero, "Changes per kind"))
                view = changes.drop(
                    columns=[c for c in changes.columns if c not in diffs.BASE_COLUMNS]
                )
                out_console.print(rich_table(view, "Changes", limit))
    if fail_on is not None and diffs.new_at_or_above(changes, fail_on):
        raise typer.Exit(1)


# --- report -------------------------------------------------------------------------------


@app.command()
def report(
    dirs: Annotated[
        list[Path],
        typer.Argument(help="Scan folder(s), or a parent folder of shard folders: one scan."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The HTML file (default DIR/report.html).")
    ] = None,
    max_hosts: Annotated[
        int, typer.Option(min=1, help="Hosts listed in the host table, worst first.")
    ] = reports.MAX_HOSTS,
    fail_on: FailOn = None,
) -> None:
    """Write one self-contained HTML report (no network needed to open it): verdict and
    expiry charts, the fix list, and a sortable host table with each finding's explanation
    and remedy.

    Example: scanner report reports/2026-11-26
    """
    if out is None and len(dirs) != 1:
        raise fail("several folders: say where the report goes with --out FILE")
    tables, notes = _load(dirs)
    s = fleet_summary(tables.hosts, tables.findings, tables.as_of, warnings=notes)
    _warn(s.warnings)
    page = reports.render(
        s,
        tables.hosts,
        tables.findings,
        sources=[str(f) for f in tables.folders],
        max_hosts=max_hosts,
    )
    target = out or dirs[0] / "report.html"
    try:
        tmp = partial_path(target)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:
        raise fail(f"cannot write {target}: {e.strerror or e}") from None
    out_console.print(f"Wrote {safe(target)}", soft_wrap=True)
    _fail_on(tables.hosts, fail_on)
