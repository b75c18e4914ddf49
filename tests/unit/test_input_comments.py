"""Comment lines are decided on the raw line (docs/guide/input.md): a line whose first non-blank
character is `#` is skipped and counted; a quoted `"#payments"` cell is data; a skipped line
shaped like a row (as many fields as the header) is named so it is not lost without a trace."""

from __future__ import annotations

import io

from scanner.inputs.targets import SkippedLines, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.model.types import InvalidTarget, Target


def read(text: str) -> tuple[list[Target | InvalidTarget], SkippedLines]:
    skipped = SkippedLines()
    _, items = read_targets(io.StringIO(text, newline=""), HOST_COLUMNS, skipped)
    return list(items), skipped


def test_a_quoted_hash_cell_in_the_first_column_is_data() -> None:
    rows, skipped = read('owner,host\n"#payments",a.example\nweb,b.example\n')
    assert [(r.row, r.host, r.extra) for r in rows] == [
        (2, "a.example", ("#payments",)),
        (3, "b.example", ("web",)),
    ]
    assert skipped.count == 0


def test_comment_lines_are_counted_and_row_shaped_ones_named() -> None:
    text = (
        "# fleet of 2026-06\n"  # before the header: counted, never row-shaped
        "owner,host\n"
        "#payments,a.example\n"  # a comment by the documented rule, but shaped like a row
        "   # a note, with, more fields than the header\n"
        "\n"
        "web,b.example\n"
    )
    rows, skipped = read(text)
    assert [(r.row, r.host) for r in rows] == [(6, "b.example")]
    assert (skipped.count, skipped.comments, skipped.row_shaped) == (4, 3, 1)
    assert skipped.lines == [3]
    warning = skipped.warning("hosts.csv")
    assert warning is not None and "line 3 " in warning and "\n" not in warning


def test_a_quoted_cell_spanning_lines_keeps_a_line_starting_with_hash() -> None:
    rows, skipped = read('host,note\na.example,"first\n#second"\nb.example,x\n')
    assert [(r.row, r.extra) for r in rows] == [(2, ("first\n#second",)), (4, ("x",))]
    assert skipped.count == 0


def test_line_numbers_count_the_skipped_lines() -> None:
    rows, skipped = read("host\n#x\n#y\nbad host\n\nc.example\n")
    assert [r.row for r in rows] == [4, 6]
    assert isinstance(rows[0], InvalidTarget) and skipped.count == 3
    assert skipped.lines == [2, 3] and skipped.warning("f") is not None
