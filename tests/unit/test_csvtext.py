"""The one CSV writer (scanner.present.csvtext): the text the csv module gives for `csv_cell`'s
cells, with LF line ends, whatever the columns hold (Arrow batches, Python rows, pandas
frames of mixed values), formulas neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from scanner.present import csvtext
from scanner.present.escape import csv_cell, csv_stdout, plain

AT = dt.datetime(2026, 6, 1, 12, 30, 5, 999_000, tzinfo=dt.UTC)
COLUMNS = ["name", "n", "share", "ok", "when", "sans", "mixed"]
ROWS: list[tuple[Any, ...]] = [
    ('=HYPERLINK("x")', 1, 0.25, True, AT, ["a.test", "-b"], "text"),
    ('a,b "quoted"\nnext line', -5, None, False, None, [], 7),
    (None, None, float("nan"), None, AT - dt.timedelta(days=400), None, None),
    ("@sum", 0, 1.0, True, AT, ["+x", None], ["list", "in", "mixed"]),
]


def reference(
    names: list[str], rows: list[tuple[Any, ...]], cell: Callable[[Any], str] = csv_cell
) -> str:
    """What the csv module writes for the same cells (the writers this one replaced), lines
    ended by LF; a cell holding CR or LF is quoted, as the csv module does for CRLF lines."""

    def line(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(cells)
        return buffer.getvalue().removesuffix("\r\n") + "\n"

    return line([cell(n) for n in names]) + "".join(
        line([cell(plain(v)) for v in row]) for row in rows
    )


def test_python_rows_match_the_csv_module() -> None:
    out = io.StringIO()
    csvtext.write_rows(out, COLUMNS, ROWS)
    assert out.getvalue() == reference(COLUMNS, ROWS)
    assert out.getvalue().startswith(
        'name,n,share,ok,when,sans,mixed\n"\'=HYPERLINK(""x"")",1,0.25,true,'
    )
    assert ",2026-06-01T12:30:05Z," in out.getvalue()  # floored to the second, UTC, a T


def test_a_pandas_frame_matches_the_csv_module() -> None:
    df = pd.DataFrame(ROWS, columns=COLUMNS)
    df["category"] = pd.Categorical(["x", "=y", "x", "z"])
    df["strings"] = pd.array(["=1", None, "plain", "-2"], dtype="string")
    out = io.StringIO()
    csvtext.write_frame(out, df)
    rows = [tuple(r) for r in df.itertuples(index=False)]
    assert out.getvalue() == reference([str(c) for c in df.columns], rows)


def test_on_stdout_control_characters_are_replaced() -> None:
    rows: list[tuple[Any, ...]] = [
        ("\x1b[31mred\x07", "tab\there", "cr\rlf\n"),
        ("\r=x", "\x9b", None),
    ]
    df = pd.DataFrame(rows, columns=["a\x1b", "b", "c"])
    out = io.StringIO()
    csvtext.write_frame(out, df, terminal=True)
    assert out.getvalue() == reference(["a\x1b", "b", "c"], rows, csv_stdout)
    assert "\x1b" not in out.getvalue() and "\x9b" not in out.getvalue()
    assert "'?=x" in out.getvalue()  # the formula guard first, then the CR replaced


def test_arrow_batches_and_an_empty_table() -> None:
    table = pa.table({"host": ["-x.test", "ok.test"], "findings": [["=a", "b"], None]})
    out = io.StringIO()
    csvtext.write_csv(out, table.column_names, table.to_batches(max_chunksize=1))
    assert out.getvalue() == "host,findings\n'-x.test,'=a; b\nok.test,\n"
    empty = io.StringIO()
    csvtext.write_rows(empty, ["a", "b"], [])
    assert empty.getvalue() == "a,b\n"


@given(st.lists(st.tuples(st.text(), st.integers(-(2**63), 2**63 - 1) | st.none()), max_size=5))
def test_any_text_matches_the_csv_module(rows: list[tuple[str, int | None]]) -> None:
    out = io.StringIO()
    csvtext.write_rows(out, ["text", "number"], rows)
    assert out.getvalue() == reference(["text", "number"], rows)
