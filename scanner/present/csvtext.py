"""CSV as every output writes it (hosts.csv, summary.csv, `--format csv`): one writer, column
by column with pyarrow compute. Cells are `csv_cell`'s text (lists joined with '; ', timestamps
ISO 8601 UTC, formulas neutralised; on stdout `csv_stdout`'s, control characters replaced),
quoted as the csv module's QUOTE_MINIMAL, and lines end in LF, as pyarrow's own CSV writer ends
them (no CR reaches a terminal from stdout)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from scanner.present.escape import FORMULA_START, csv_cell, plain, stdout_cell

if TYPE_CHECKING:
    import pandas as pd

LINE_END = "\n"
_UNCONVERTIBLE = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def write_csv(
    stream: IO[str], names: Sequence[str], batches: Iterable[pa.RecordBatch | pa.Table]
) -> None:
    """The header `names`, then the rows of each Arrow batch (its columns in that order)."""
    _header(stream, names)
    for batch in batches:
        columns = [batch.column(i) for i in range(batch.num_columns)]
        plain = [_never_quoted(c.type) for c in columns]
        _write(stream, [_cells(c) for c in columns], plain=plain)


def write_rows(stream: IO[str], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Python rows (tuples in `names` order), as `write_csv` writes a table."""
    _header(stream, names)
    _write(stream, [_values(list(c)) for c in zip(*rows, strict=True)])


def write_frame(stream: IO[str], df: pd.DataFrame, *, terminal: bool = False) -> None:
    """A pandas frame (any dtypes; object columns of mixed values too). `terminal`: for
    stdout, every cell's control characters replaced (`csv_stdout`)."""
    _header(stream, [str(c) for c in df.columns], terminal=terminal)
    _write(stream, [_values(df.iloc[:, i]) for i in range(df.shape[1])], terminal=terminal)


def _values(values: Any) -> pa.Array:
    """The cells of a column of Python or pandas values; a column Arrow cannot hold as one type
    (mixed values) cell by cell."""
    try:
        column = pa.array(values, from_pandas=True)
    except _UNCONVERTIBLE:
        return pa.array([csv_cell(plain(v)) for v in values], pa.string())
    return _cells(column)


def _header(stream: IO[str], names: Sequence[str], *, terminal: bool = False) -> None:
    cells = _escape_formulas(pa.array(names, pa.string()))
    stream.write(",".join(_quote(_printable(cells) if terminal else cells).to_pylist()) + LINE_END)


def _never_quoted(t: pa.DataType) -> bool:
    """Cells of this type are never quoted: no comma, quote, CR or LF in their text."""
    return bool(pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_timestamp(t))


def _write(
    stream: IO[str],
    cells: Sequence[pa.Array],
    *,
    terminal: bool = False,
    plain: Sequence[bool] = (),
) -> None:
    if not cells or not len(cells[0]):
        return
    plain = plain or [False] * len(cells)
    quoted = [
        pc.fill_null(c, "") if bare else _quote(_printable(c) if terminal else c)
        for c, bare in zip(cells, plain, strict=True)
    ]
    lines = pc.binary_join_element_wise(*quoted, ",").to_pylist()
    stream.write("".join(line + LINE_END for line in lines))


def _printable(cells: pa.Array) -> pa.Array:
    """`stdout_cell` over a column (cell by cell: a terminal's output is small)."""
    texts = pc.fill_null(cells, "").to_pylist()
    return pa.array([stdout_cell(t) for t in texts], pa.string())


def _quote(cells: pa.Array) -> pa.Array:
    """The csv module's QUOTE_MINIMAL: quote a cell holding a comma, a quote, CR or LF."""
    cells = pc.fill_null(cells, "")
    needs = pc.match_substring_regex(cells, '[,"\r\n]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(cells, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, cells)


def _escape_formulas(strings: pa.Array) -> pa.Array:
    """csv_cell's apostrophe before text a spreadsheet would run as a formula."""
    # Built per call: an Arrow array made at import would import pandas (scan start-up).
    first = pa.array(FORMULA_START)
    risky = pc.is_in(pc.utf8_slice_codeunits(strings, 0, 1), value_set=first)
    return pc.if_else(risky, pc.binary_join_element_wise("'", strings, ""), strings)


def _cells(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """csv_cell over a whole column: a string array (nulls are empty cells)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):  # pandas' string dtype
        t = pa.string()
        col = col.cast(t)
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
        pa.types.is_large_string(t.value_type) or pa.types.is_string(t.value_type)
    ):
        t = pa.list_(pa.string())
        col = col.cast(t)
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string())
    if pa.types.is_string(t):
        return _escape_formulas(col)
    if (
        pa.types.is_timestamp(t)
        and t.tz is not None
        and not pc.any(
            pc.less(pc.year(col), 1000)  # datetime.strftime does not pad such years; Arrow does
        ).as_py()
    ):
        # Whole seconds (floored, as strftime drops microseconds) in UTC, ISO 8601 with a T.
        seconds = pc.cast(pc.floor_temporal(col, unit="second"), pa.timestamp("s", tz="UTC"))
        return pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T", max_replacements=1)
    if pa.types.is_list(t) and pa.types.is_string(t.value_type):
        items = _escape_formulas(pc.fill_null(col.values, ""))
        joined = pc.binary_join(pa.ListArray.from_arrays(col.offsets, items), "; ")
        return pc.if_else(pc.is_null(col), None, _escape_formulas(joined))
    # anything else (floats, binary, lists of numbers...): cell by cell
    return pa.array([csv_cell(v) for v in col.to_pylist()], pa.string())
