"""Output formats of the report commands, in one place: a command builds a `Document` (a
heading, lines of text, warnings, titled tables, a JSON object, the table CSV holds) and
`render` writes it as a terminal table, CSV, JSON or Markdown.

Every cell goes through `scanner.present.escape` for its destination."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

from scanner.present.escape import csv_cell, markdown, plain, terminal

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str
    frame: pd.DataFrame
    limit: int | None = None  # rows shown in table and Markdown output (CSV and JSON: all)
    # Terminal only: columns whose cells may wrap at word boundaries; others never break.
    wrap: tuple[str, ...] = ()
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    title: str  # the Markdown heading
    lines: tuple[str, ...] = ()  # plain text (already safe for the terminal and Markdown)
    warnings: tuple[str, ...] = ()
    sections: tuple[Section, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # the JSON object
    csv: pd.DataFrame | None = None  # the table CSV holds (CSV holds one)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [str(c) for c in df.columns]
    return [
        {c: plain(v) for c, v in zip(cols, values, strict=True)}
        for values in df.itertuples(index=False)
    ]


def write_csv(df: pd.DataFrame, stream: TextIO) -> None:
    """CSV with every cell through `csv_cell` (formulas neutralised, lists joined)."""
    w = csv.writer(stream, lineterminator="\n")
    w.writerow([csv_cell(str(c)) for c in df.columns])
    for row in records(df):
        w.writerow([csv_cell(v) for v in row.values()])


def markdown_table(df: pd.DataFrame, limit: int | None = None) -> str:
    shown = df if limit is None else df.head(limit)
    lines = [
        "| " + " | ".join(markdown(c) for c in df.columns) + " |",
        "|" + "---|" * len(df.columns),
    ]
    lines += ["| " + " | ".join(markdown(v) for v in r.values()) + " |" for r in records(shown)]
    if limit is not None and len(df) > limit:
        lines.append(f"\n({len(df) - limit} more rows not shown)")
    return "\n".join(lines)


def rich_table(section: Section) -> Table:
    """A terminal table. Cells of `wrap` columns wrap at spaces; every other cell keeps its
    words whole (a long name is cut with an ellipsis, never split mid-word)."""
    import pandas as pd
    from rich.table import Table

    df = section.frame
    table = Table(title=terminal(section.title), title_justify="left")
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        table.add_column(
            terminal(c),
            justify="right" if numeric else "left",
            overflow="fold" if c in section.wrap else "ellipsis",
            no_wrap=c not in section.wrap,
            min_width=min(len(str(c)), 12),
        )
    shown = df if section.limit is None else df.head(section.limit)
    for r in records(shown):
        table.add_row(*(terminal(v) for v in r.values()))
    caption = section.caption
    if section.limit is not None and len(df) > section.limit:
        more = f"{len(df) - section.limit} more not shown (--limit, or --format csv/json)"
        caption = f"{caption}; {more}" if caption else more
    table.caption = terminal(caption) if caption else None
    return table


def render(
    doc: Document, fmt: OutputFormat, stream: TextIO, console: Console, err: Console
) -> None:
    """Write `doc` in `fmt`: JSON and CSV to `stream`, Markdown to `stream`, tables to
    `console`; warnings go to `err` (stderr) in every format."""
    for w in doc.warnings:
        err.print(f"[bold yellow]warning:[/] {terminal(w)}", soft_wrap=True)
    match fmt:
        case OutputFormat.JSON:
            json.dump(doc.data, stream, indent=2, default=str)
            stream.write("\n")
        case OutputFormat.CSV:
            if doc.csv is not None:
                write_csv(doc.csv, stream)
        case OutputFormat.MARKDOWN:
            out = [f"# {markdown(doc.title)}", ""]
            out += [markdown(line) + "\n" for line in doc.lines]
            out += [f"> **Warning:** {markdown(w)}\n" for w in doc.warnings]
            for s in doc.sections:
                out += [f"## {markdown(s.title)}", "", markdown_table(s.frame, s.limit), ""]
            stream.write("\n".join(out).rstrip("\n") + "\n")
        case OutputFormat.TABLE:
            for line in doc.lines:
                console.print(terminal(line), soft_wrap=True)
            for s in doc.sections:
                console.print(rich_table(s))
