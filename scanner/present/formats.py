"""Output formats of the report commands, in one place: a command builds a `Document` (a
heading, lines of text, warnings, titled tables, a JSON object, the table CSV holds) and
`render` writes it as a terminal table, CSV, JSON or Markdown.

Every cell goes through `scanner.present.escape` for its destination."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

from scanner.present.escape import (
    joined,
    json_text,
    markdown,
    plain,
    printable,
    terminal,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text


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
    # Terminal only: columns left out, in this order, while the table cannot fit the terminal
    # with every word whole (low-value columns first; the caption names them).
    drop: tuple[str, ...] = ()
    # Terminal only: columns whose words (host names) are cut last, if nothing else makes the
    # table fit.
    whole: tuple[str, ...] = ()
    # Terminal only: columns printed under their row (indented, wrapped at spaces) instead of
    # in a column of their own, when the table cannot fit the terminal with every word whole;
    # always with `under_always`. A long message or list of host names then never squeezes
    # the table into a character a line (what cron mails is 80 columns wide).
    under: tuple[str, ...] = ()
    under_always: bool = False
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
    """CSV for stdout, written as the output files are (scanner.present.csvtext: cells
    through `csv_cell`, formulas neutralised, lists joined, LF line ends), and control
    characters replaced as `csv_stdout` does."""
    from scanner.present import csvtext

    csvtext.write_frame(stream, df, terminal=True)


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


MIN_COLUMN = 8  # a column is never squeezed below this to fit the terminal


def _min_width(name: str, cells: list[list[str]], wrap: bool) -> int:
    """The narrowest a column can be with no word (wrap) or no line of a cell (no wrap) cut."""
    from rich.cells import cell_len

    texts = [name, *(line for cell in cells for line in cell)]
    if wrap:
        return max((cell_len(w) for t in texts for w in t.split()), default=1)
    return max((cell_len(t) for t in texts), default=1)


def _numeric(column: pd.Series[Any]) -> bool:
    """Numbers are right-aligned (booleans are not numbers here)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column))


def _notes(section: Section, dropped: list[str]) -> list[str]:
    """The caption under a terminal table: the section's own, rows left out, columns dropped."""
    df = section.frame
    notes = [section.caption] if section.caption else []
    if section.limit is not None and len(df) > section.limit:
        notes.append(f"{len(df) - section.limit} more not shown (--limit, or --format csv/json)")
    if dropped:
        notes.append(
            f"not shown at this width: {', '.join(dropped)} (a wider terminal, or --format "
            "markdown)"
        )
    return notes


def rich_table(section: Section, width: int | None = None) -> Table:
    """A terminal table. Cells of `wrap` columns wrap at spaces and every column is at least as
    wide as its longest word (or, not wrapping, its longest cell), so a host name is never
    split mid-word; when that cannot fit `width`, the `drop` columns are left out in order."""
    from rich.table import Table

    df = section.frame
    shown = df if section.limit is None else df.head(section.limit)
    # Each cell as its lines: a list (hosts, findings) one item a line, so each starts where
    # the eye looks for it; any other value one line (its control characters are escaped).
    rows = [
        {k: [joined(x) for x in v] if isinstance(v, list) else [joined(v)] for k, v in r.items()}
        for r in records(shown)
    ]
    columns = [str(c) for c in df.columns]
    widths = {c: _min_width(c, [r[c] for r in rows], c in section.wrap) for c in columns}
    dropped: list[str] = []

    def needed() -> int:  # cells, one space of padding each side, and the borders
        return sum(widths[c] + 3 for c in columns) + 1

    for c in section.drop:
        if width is None or needed() <= width:
            break
        if c in columns:
            columns.remove(c)
            dropped.append(c)
    while width is not None and needed() > width:
        # Still too wide: a word longer than the room left (a URL, a formula) is cut, the
        # longest first, and words of `whole` columns (host names) last.
        can = [c for c in columns if widths[c] > MIN_COLUMN]
        if not can:
            break
        widths[max(can, key=lambda c: (c not in section.whole, widths[c]))] -= 1
    # Rich shares a narrow terminal out unevenly (and then widens columns back to their
    # minimum, past the edge): give each wrapping column its minimum plus a share of the
    # room left, in proportion to how much wider its cells would like to be.
    fixed: dict[str, int] = {}
    natural = {c: _min_width(c, [r[c] for r in rows], False) for c in columns}
    if width is not None and sum(natural[c] + 3 for c in columns) + 1 > width:
        spare = max(width - needed(), 0)
        wants = {c: natural[c] - widths[c] for c in columns if c in section.wrap}
        total = sum(wants.values()) or 1
        fixed = {c: widths[c] + spare * want // total for c, want in wants.items()}
    table = Table(title=terminal(section.title), title_justify="left")
    for c in columns:
        table.add_column(
            terminal(c),
            justify="right" if _numeric(df[c]) else "left",
            overflow="fold" if c in section.wrap else "ellipsis",
            no_wrap=c not in section.wrap,
            min_width=widths[c],
            width=fixed.get(c),
        )
    for r in rows:
        table.add_row(*("\n".join(map(terminal, r[c])) for c in columns))
    notes = _notes(section, dropped)
    table.caption = terminal("; ".join(notes)) if notes else None
    return table


def _fits(section: Section, width: int | None) -> bool:
    """Whether the bordered table fits `width` with every word whole (after the drops)."""
    if width is None:
        return True
    df = section.frame
    shown = df if section.limit is None else df.head(section.limit)
    rows = [
        {k: [joined(x) for x in v] if isinstance(v, list) else [joined(v)] for k, v in r.items()}
        for r in records(shown)
    ]
    columns = [str(c) for c in df.columns]
    widths = {c: _min_width(c, [r[c] for r in rows], c in section.wrap) for c in columns}
    for c in section.drop:
        if sum(widths[c] + 3 for c in columns) + 1 <= width:
            break
        if c in columns:
            columns.remove(c)
    return sum(widths[c] + 3 for c in columns) + 1 <= width


def terminal_section(section: Section, width: int | None = None) -> RenderableType:
    """A section for the terminal: the bordered table (`rich_table`) when it fits with words
    whole, else (or always with `under_always`) a plain table with the `under` columns below
    each row."""
    if section.under and (section.under_always or not _fits(section, width)):
        return under_table(section, width)
    return rich_table(section, width)


def _under_needed(widths: dict[str, int], columns: list[str]) -> int:
    """The width of an `under_table` row: cells and two spaces between them."""
    return sum(widths[c] for c in columns) + 2 * max(len(columns) - 1, 0)


def _under_widths(
    section: Section, rows: list[dict[str, str]], columns: list[str], room: int
) -> tuple[dict[str, int], list[str]]:
    """Column widths of an `under_table` for `room`, and the columns dropped (removed from
    `columns`, `drop` in order) while a row is too wide; then the last column, then the widest
    ones are narrowed."""
    from rich.cells import cell_len

    widths = {c: max([cell_len(c), *(cell_len(r[c]) for r in rows)]) for c in columns}
    dropped: list[str] = []
    for c in section.drop:
        if _under_needed(widths, columns) <= room:
            break
        if c in columns:
            columns.remove(c)
            dropped.append(c)
    # The last column first: a longer cell of it only goes on to the next line.
    if columns and _under_needed(widths, columns) > room:
        last = columns[-1]
        widths[last] = max(cell_len(last), widths[last] - (_under_needed(widths, columns) - room))
    # Then the widest column, down to what half its cells need: a longer cell (one long
    # host name) pushes the rest of its row along instead of widening every row.
    floor = {
        c: max(cell_len(c), sorted(cell_len(r[c]) for r in rows)[len(rows) // 2] if rows else 0)
        for c in columns
    }
    while _under_needed(widths, columns) > room:
        can = [c for c in columns if widths[c] > floor[c]]
        if not can:
            break
        widths[max(can, key=lambda c: widths[c])] -= 1
    return widths, dropped


def _wrap(text: str, room: int, indent: str = "") -> list[str]:
    """Lines of at most `room` columns, broken at spaces only, continued indented."""
    import textwrap

    return textwrap.wrap(
        text,
        room,
        initial_indent=indent,
        subsequent_indent=indent or "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def under_table(section: Section, width: int | None = None) -> Text:
    """Rows of one line each, columns padded, and the `under` columns of a row wrapped at
    spaces below it, indented (labelled when there are several). Columns are left out
    (`drop`, in order) while a row is wider than `width`; then the widest columns are
    narrowed, a longer cell pushing the rest of its row along, and a row still too wide
    wraps at spaces. No word is ever broken."""
    from rich.cells import cell_len
    from rich.text import Text

    df = section.frame
    shown = df if section.limit is None else df.head(section.limit)
    rows = [{k: printable(joined(v)) for k, v in r.items()} for r in records(shown)]
    columns = [str(c) for c in df.columns if str(c) not in section.under]
    under = [str(c) for c in df.columns if str(c) in section.under]
    room = width or 10_000
    widths, dropped = _under_widths(section, rows, columns, room)
    numeric = {c for c in columns if _numeric(df[c])}

    def line(cells: dict[str, str]) -> list[str]:
        parts = [
            cells[c].rjust(widths[c]) if c in numeric else cells[c].ljust(widths[c])
            for c in columns
        ]
        text = "  ".join(parts).rstrip()
        return [text] if cell_len(text) <= room else _wrap(text, room)

    out = [
        printable(section.title),
        *line({c: c for c in columns}),
        "-" * min(_under_needed(widths, columns), room),
    ]
    for r in rows:
        out += line(r)
        for c in under:
            text = r[c] if len(under) == 1 else f"{c}: {r[c]}" if r[c] else ""
            out += _wrap(text, room, "    ")
    notes = _notes(section, dropped)
    if notes:
        out += _wrap(printable("; ".join(notes)), room)
    return Text("\n".join(out) + "\n", no_wrap=True, overflow="ignore")


def markdown_document(doc: Document) -> str:
    """`doc` as Markdown: its heading, lines, warnings quoted, a table per section."""
    out = [f"# {markdown(doc.title)}", ""]
    out += [markdown(line) + "\n" for line in doc.lines]
    out += [f"> **Warning:** {markdown(w)}\n" for w in doc.warnings]
    for s in doc.sections:
        out += [f"## {markdown(s.title)}", "", markdown_table(s.frame, s.limit), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def print_tables(doc: Document, console: Console) -> None:
    """`doc` on the terminal: its lines, then a table per section, fitted to the console."""
    import textwrap

    for line in doc.lines:  # wrapped at spaces: a path or host name stays whole
        for part in textwrap.wrap(
            line, console.width, break_long_words=False, break_on_hyphens=False
        ) or [""]:
            console.print(terminal(part), soft_wrap=True)
    for s in doc.sections:
        console.print(terminal_section(s, console.width))


def render(
    doc: Document, fmt: OutputFormat, stream: TextIO, console: Console, err: Console
) -> None:
    """Write `doc` in `fmt`: JSON and CSV to `stream`, Markdown to `stream`, tables to
    `console`; warnings go to `err` (stderr) in every format."""
    for w in doc.warnings:
        err.print(f"[bold yellow]warning:[/] {terminal(w)}", soft_wrap=True)
    match fmt:
        case OutputFormat.JSON:
            stream.write(json_text(doc.data, indent=2, default=str) + "\n")
        case OutputFormat.CSV:
            if doc.csv is not None:
                write_csv(doc.csv, stream)
        case OutputFormat.MARKDOWN:
            stream.write(markdown_document(doc))
        case OutputFormat.TABLE:
            print_tables(doc, console)
