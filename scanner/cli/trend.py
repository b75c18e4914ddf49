"""The `trend` command: read the nights of a fleet (scanner.store.nights), count them
(scanner.analysis.trend) and print the trend in the chosen format; `--html` also writes the
page with its charts (scanner.present.trend_html).

Exit codes: 0 done, 2 usage or environment error."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from scanner.cli.app import command, err_console, fail, out_console
from scanner.present.escape import terminal
from scanner.present.formats import OutputFormat, render
from scanner.store.location import Location, path_or_url


@command("trend")
def trend(
    dirs: Annotated[
        list[str],
        typer.Argument(
            help="Scan folders of several nights, or parents holding them (reports/ with "
            "reports/night=2026-12-06/ in it; a night may be shard folders): paths or URLs "
            "such as s3://bucket/reports.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format", "-f", case_sensitive=False, help="table (terminal), csv, json or markdown."
        ),
    ] = OutputFormat.TABLE,
    nights: Annotated[
        int,
        typer.Option(
            min=1, help="The latest nights shown as columns in table and markdown output."
        ),
    ] = 7,
    limit: Annotated[
        int,
        typer.Option(min=1, help="Hosts listed (changes, breaking) in table and markdown output."),
    ] = 20,
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            help="Also write the HTML page with charts here (a path or URL).",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """How the fleet moves from night to night: for each night (told apart by the scans'
    as-of; the shards of a night are one scan), hosts per verdict, error, grade, severity,
    finding and trust store, the findings new and resolved since the night before (as
    `scanner diff` finds them), and the hosts trusted that night whose certificate expires
    within 30 days; then the latest night's changes and breaking hosts. CSV is long (one
    row per night, kind and name); JSON has every night. `--html` writes a page with a line
    per verdict, grade and severity over the nights (no network needed to open it).

    Example: scanner trend reports/ --html reports/trend.html
    """
    from scanner.present import trend as text
    from scanner.store.nights import load_trend

    t = load_trend([path_or_url(d) for d in dirs])
    doc = text.document(t, nights=nights, limit=limit, short=fmt is OutputFormat.TABLE)
    render(doc, fmt, sys.stdout, out_console(), err_console())
    if html is not None:
        from scanner.present import trend_html

        target = Location.of(path_or_url(html))
        page = trend_html.render(t)
        try:
            target.write(lambda f: f.write(page.encode("utf-8")))
        except OSError as e:
            raise fail(f"cannot write {target}: {e.strerror or e}") from None
        err_console().print(f"Wrote {terminal(target)}", soft_wrap=True)
