"""The `summary`, `diff` and `report` commands: read scan folders, call the pure summaries,
build a `Document` and render it in the chosen format (scanner.present.formats).

Exit codes: 0 done, 1 `--fail-on` matched, 2 usage or environment error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from scanner.analysis.severity import hosts_at_or_above
from scanner.cli.app import (
    EXIT_FINDINGS,
    FailOn,
    command,
    err_console,
    fail,
    out_console,
    print_warning,
)
from scanner.model.timefmt import utc_iso
from scanner.model.types import Severity
from scanner.present.escape import terminal
from scanner.present.formats import Document, OutputFormat, Section, records, render
from scanner.store.location import Location, path_or_url

if TYPE_CHECKING:
    import pandas as pd

    from scanner.analysis.summary import FleetSummary
    from scanner.store.load import ScanTables


class SummaryTable(StrEnum):
    """The table `summary --format csv` prints (CSV holds one table)."""

    COUNTS = "counts"
    CAUSES = "causes"
    FIXES = "fixes"
    INTERMEDIATES = "intermediates"
    CALENDAR = "calendar"
    FORECAST = "forecast"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", "-f", case_sensitive=False, help="table (terminal), csv, json or markdown."
    ),
]
Folders = Annotated[
    list[str],
    typer.Argument(
        help="Scan folder(s), or a parent folder of shard folders: one scan (paths or URLs "
        "such as s3://bucket/prefix).",
        show_default=False,
    ),
]


def _emit(doc: Document, fmt: OutputFormat) -> None:
    render(doc, fmt, sys.stdout, out_console(), err_console())


def _load(paths: Sequence[str]) -> tuple[ScanTables, list[str]]:
    """The scan, and warnings about it (an interrupted scan)."""
    from scanner.store.load import load

    tables = load([path_or_url(p) for p in paths])
    tables.as_of  # noqa: B018 - raises ScanFolderError when there is no as-of at all
    notes = [
        f"{folder}: the scan was interrupted; some hosts are missing"
        for folder, meta in zip(tables.folders, tables.meta, strict=True)
        if meta.get("interrupted")
    ]
    return tables, notes


def _summarise(dirs: Sequence[str], by: str | None) -> tuple[ScanTables, FleetSummary]:
    """The prologue of `summary` and `report`: the scan read (with its warnings), `--by`
    resolved, the fleet summarised."""
    from scanner.analysis.summary import fleet_summary

    tables, notes = _load(dirs)
    column = _resolve_column(tables, by) if by is not None else None
    s = fleet_summary(
        tables.hosts,
        tables.findings,
        tables.as_of,
        by=column,
        warnings=notes,
        stores=tables.trust_store_names,
    )
    return tables, s


def _fail_on(hosts: pd.DataFrame, threshold: Severity | None) -> None:
    if threshold is not None and hosts_at_or_above(hosts, threshold):
        raise typer.Exit(EXIT_FINDINGS)


def _write_atomic(target: Location, write: Callable[[IO[bytes]], object]) -> None:
    """Locally a temporary file renamed into place; on object storage one upload."""
    try:
        target.write(write)
    except OSError as e:
        raise fail(f"cannot write {target}: {e.strerror or e}") from None


# --- summary ------------------------------------------------------------------------------


def _resolve_column(tables: ScanTables, by: str) -> str:
    """A carried column named case-insensitively, as the input's `host` header is read."""
    matches = [c for c in tables.carried_columns if c.lower() == by.lower()]
    if not matches:
        choices = ", ".join(tables.carried_columns) or "none"
        raise fail(f"--by {by}: no such column (carried input columns: {choices})")
    column = next((c for c in matches if c == by), matches[0])
    if tables.hosts[column].map(lambda v: isinstance(v, list)).any():
        raise fail(f"--by {by}: a list column cannot be a group")
    return column


def _summary_json(s: FleetSummary, tables: ScanTables) -> dict[str, Any]:
    return {
        "as_of": utc_iso(s.as_of),
        "folders": [str(f) for f in tables.folders],
        "targets": s.targets,
        "rows": s.rows,
        "ok": s.ok,
        "warnings": list(s.warnings),
        "counts": records(s.counts),
        "causes": records(s.causes),
        **({"by": {"column": s.by_column, "counts": records(s.by)}} if s.by is not None else {}),
        "fixes": records(s.leaf_fixes),
        "intermediates": records(s.intermediates),
        "calendar": records(s.calendar),
        "forecast": records(s.forecast),
        **({"forecast_by": records(s.forecast_by)} if s.forecast_by is not None else {}),
    }


def _summary_sections(s: FleetSummary, limit: int, *, wide: bool) -> list[Section]:
    from scanner.analysis import views

    sections = [
        Section(title="Verdicts and errors (hosts)", frame=views.counts_view(s)),
        Section(
            title="Root causes (hosts with each finding)",
            frame=views.causes_view(s),
            wrap=("meaning",),
        ),
    ]
    if s.counts["kind"].eq("grade").any():
        sections.append(Section(title="Grades (hosts)", frame=views.grades_view(s)))
        sections.append(Section(title="Trust stores (hosts trusted)", frame=views.stores_view(s)))
    if s.by is not None and s.by_column is not None:
        sections.append(
            Section(
                title=f"By {s.by_column}",
                frame=views.by_view(s),
                wrap=(s.by_column, "causes", "grades", "trusted_by"),
                under=("causes", "grades", "trusted_by"),
            )
        )
    sections.append(
        Section(
            title="Fix list: leaf certificates",
            frame=views.fix_view(s.leaf_fixes, wide=wide),
            limit=limit,
            wrap=("hosts_to_fix", "findings", "remedy", "names"),
            drop=("expires", "severity", "findings"),
            whole=("hosts_to_fix",),
            under=("hosts_to_fix", "remedy"),
        )
    )
    if wide or not s.intermediates.empty:
        sections.append(
            Section(
                title="Fix list: missing intermediates",
                frame=views.intermediates_view(s.intermediates, wide=wide),
                limit=limit,
                wrap=("intermediate", "aia_url", "hosts_to_fix", "remedy"),
                drop=("intermediate",),  # the remedy names it
                whole=("hosts_to_fix",),
            )
        )
    sections.append(
        Section(
            title="Expiry calendar: leaves expiring per week from as-of",
            frame=views.calendar_view(s.calendar),
            wrap=("examples",),
            whole=("examples",),
            under=("examples",),
        )
    )
    sections += forecast_sections(s)
    return sections


def forecast_sections(s: FleetSummary) -> list[Section]:
    """Hosts breaking per week by cause (issue 21), and per --by value where any break."""
    from scanner.analysis import views

    out = [
        Section(
            title="Forecast: hosts breaking per week from as-of, by cause",
            frame=views.forecast_view(s.forecast),
        )
    ]
    if s.forecast_by is not None and s.by_column is not None:
        out.append(
            Section(
                title=f"Forecast by {s.by_column} (weeks where a host breaks)",
                frame=views.forecast_view(s.forecast_by, by=s.by_column),
                wrap=(s.by_column,),
            )
        )
    return out


@command("summary")
def summary(
    dirs: Folders,
    by: Annotated[
        str | None,
        typer.Option(help="Break the counts down by this input column (owner...), any case."),
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
    """Summarise a scan: hosts and share per verdict and error code, hosts per root cause
    (finding code), hosts per grade and per trust store, the fix list (one row per problem
    leaf certificate and per missing intermediate, most hosts first, with the hosts to fix
    and the remedy), the expiry calendar for the next 12 weeks from the scan's as-of, the
    forecast (hosts breaking per week for 13 weeks, by cause, and by --by), and a warning
    when the scanning clock looks wrong.

    Example: scanner summary reports/2026-11-26 --by owner --fail-on high
    """
    tables, s = _summarise(dirs, by)
    csv_tables = {
        SummaryTable.COUNTS: s.by if s.by is not None else s.counts,
        SummaryTable.CAUSES: s.causes,
        SummaryTable.FIXES: s.leaf_fixes,
        SummaryTable.INTERMEDIATES: s.intermediates,
        SummaryTable.CALENDAR: s.calendar,
        SummaryTable.FORECAST: s.forecast_by if s.forecast_by is not None else s.forecast,
    }
    as_of = utc_iso(s.as_of)
    folders = ", ".join(str(f) for f in tables.folders)
    per_address = f", {s.rows} rows (one per address)" if s.rows != s.targets else ""
    doc = Document(
        title="TLS fleet summary",
        lines=(
            f"{s.targets} targets{per_address} ({s.ok} ok, {s.rows - s.ok} errors) as of {as_of} "
            f"from {folders}",
        ),
        warnings=s.warnings,
        sections=tuple(_summary_sections(s, limit, wide=fmt is OutputFormat.MARKDOWN)),
        data=_summary_json(s, tables),
        csv=csv_tables[table or SummaryTable.COUNTS],
    )
    _emit(doc, fmt)
    _fail_on(tables.hosts, fail_on)


# --- diff ---------------------------------------------------------------------------------


def _diff_document(
    old: str,
    new: str,
    before: ScanTables,
    after: ScanTables,
    changes: Any,
    target: Location,
    limit: int,
    notes: Sequence[str],
) -> Document:
    from scanner.analysis import diff as diffs
    from scanner.analysis import views

    tally = diffs.counts(changes)
    nonzero = tally[tally["targets"] > 0]
    heading = (
        f"{old} ({before.as_of.isoformat()}) -> {new} ({after.as_of.isoformat()}): "
        f"{len(changes)} change(s), written to {target}"
    )
    view = changes.drop(columns=[c for c in changes.columns if c not in diffs.BASE_COLUMNS])
    sections = (
        (
            Section(title="Changes per kind", frame=nonzero),
            Section(
                title="Changes",
                frame=views.changes_view(view),
                limit=limit,
                wrap=("detail",),
                under=("detail",),  # a message under its row, never a character a line
                under_always=True,
            ),
        )
        if not nonzero.empty
        else ()
    )
    data = {
        "old": {"folders": [str(f) for f in before.folders], "as_of": before.as_of.isoformat()},
        "new": {"folders": [str(f) for f in after.folders], "as_of": after.as_of.isoformat()},
        "written": str(target),
        "counts": {r["change"]: r["targets"] for r in records(tally)},
        "changes": records(changes),
    }
    return Document(
        title="Changes",
        lines=(heading,),
        warnings=tuple(notes),
        sections=sections,
        data=data,
        csv=changes,
    )


@command("diff")
def diff(
    old: Annotated[
        str, typer.Argument(help="The earlier scan folder (or parent of shards), path or URL.")
    ],
    new: Annotated[
        str, typer.Argument(help="The later scan folder (or parent of shards), path or URL.")
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write changes.parquet, path or URL (default NEW/changes.parquet).",
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
    import pyarrow.parquet as pq

    from scanner.analysis import diff as diffs

    before, old_notes = _load([old])
    after, new_notes = _load([new])
    by_address, note = diffs.match_note(_addresses(before.meta), _addresses(after.meta))
    if note:
        new_notes = [*new_notes, note]
    changes = diffs.diff(
        before.hosts, before.findings, after.hosts, after.findings, by_address=by_address
    )
    target = (
        Location.of(path_or_url(out)) if out else Location.of(path_or_url(new)) / "changes.parquet"
    )
    table = diffs.changes_table(changes)
    _write_atomic(target, lambda f: pq.write_table(table, f, compression="zstd"))
    doc = _diff_document(old, new, before, after, changes, target, limit, old_notes + new_notes)
    _emit(doc, fmt)
    if fail_on is not None and diffs.new_at_or_above(changes, fail_on):
        raise typer.Exit(EXIT_FINDINGS)


def _addresses(meta: tuple[dict[str, Any], ...]) -> str:
    """`all` when every folder of a scan scanned every address of a name, else `first`."""
    modes = {m.get("options", {}).get("addresses", "first") for m in meta} or {"first"}
    return "all" if modes == {"all"} else "first"


# --- report -------------------------------------------------------------------------------


@command("report")
def report(
    dirs: Folders,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="The HTML file, path or URL (default DIR/report.html)."),
    ] = None,
    max_hosts: Annotated[
        int, typer.Option(min=1, help="Hosts listed in the host table, worst first.")
    ] = 5000,
    by: Annotated[
        str | None,
        typer.Option(
            help="Add a table of grades, trust stores and causes per value of this "
            "input column (owner...)."
        ),
    ] = None,
    fail_on: FailOn = None,
) -> None:
    """Write one self-contained HTML report (no network needed to open it): verdict, grade,
    trust-store and expiry charts, the fix list, and a sortable host table with each
    finding's explanation and remedy.

    Example: scanner report reports/2026-11-26
    """
    target, warnings, tables = write_html_report(dirs, out, max_hosts=max_hosts, by=by)
    for w in warnings:
        print_warning(w)
    out_console().print(f"Wrote {terminal(target)}", soft_wrap=True)
    _fail_on(tables.hosts, fail_on)


def write_html_report(
    dirs: Sequence[str], out: str | None, *, max_hosts: int = 5000, by: str | None = None
) -> tuple[Location, tuple[str, ...], ScanTables]:
    """The report of `report`, written, printing nothing: where it went, the summary's
    warnings (for the caller to print: `scan --dask` prints each warning once), the tables."""
    from scanner.present import html

    if out is None and len(dirs) != 1:
        raise fail("several folders: say where the report goes with --out FILE")
    tables, s = _summarise(dirs, by)
    page = html.render(
        s,
        tables.hosts,
        tables.findings,
        sources=[str(f) for f in tables.folders],
        max_hosts=max_hosts,
    )
    target = Location.of(path_or_url(out or dirs[0]))
    target = target if out else target / "report.html"
    _write_atomic(target, lambda f: f.write(page.encode("utf-8")))
    return target, s.warnings, tables
