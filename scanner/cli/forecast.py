"""The `forecast` command: when hosts break with nothing changed (scanner.analysis.forecast),
per week from the scan's as-of, by cause, printed in the chosen format.

Exit codes: 0 done, 2 usage or environment error."""

from __future__ import annotations

from typing import Annotated

import typer

from scanner.cli.app import command
from scanner.cli.reports import Folders, FormatOption, _emit, _load, _resolve_column
from scanner.model.timefmt import utc_iso
from scanner.present.formats import Document, OutputFormat, Section, records


@command("forecast")
def forecast(
    dirs: Folders,
    weeks: Annotated[int, typer.Option(min=1, max=520, help="Weeks from the scan's as-of.")] = 13,
    by: Annotated[
        str | None,
        typer.Option(help="Break the forecast down by this input column (owner...), any case."),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Hosts that stop being trusted in each week from the scan's as-of, with nothing
    changed, by cause (breaks_because: the leaf's notAfter, a CA certificate of the path,
    a root program's distrust, the end of the CA's ARI window). Hosts already broken, or
    breaking later, are not counted.

    Example: scanner forecast reports/2026-11-26 --weeks 26 --by owner
    """
    from scanner.analysis import views
    from scanner.analysis.forecast import fleet_forecast

    tables, notes = _load(dirs)
    column = _resolve_column(tables, by) if by is not None else None
    table = fleet_forecast(tables.hosts, tables.as_of, weeks=weeks, by=column)
    title = "Hosts breaking per week, by cause" + (f", by {column}" if column else "")
    breaking = int(table["total"].sum())
    doc = Document(
        title="TLS fleet forecast",
        lines=(
            f"{breaking} hosts break within {weeks} weeks of {utc_iso(tables.as_of)} "
            f"with nothing changed",
        ),
        warnings=tuple(notes),
        sections=(Section(title=title, frame=views.forecast_view(table, by=column)),),
        data={
            "as_of": utc_iso(tables.as_of),
            "weeks": weeks,
            "by": column,
            "forecast": records(table),
        },
        csv=table,
    )
    _emit(doc, fmt)
