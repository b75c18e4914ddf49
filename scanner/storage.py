"""Files: the input CSV (streamed), and the output tables written as hosts finish, each into a
temporary file renamed into place at the end, so a crash never leaves a half file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from scanner import tables
from scanner.models import ScanResult
from scanner.targets import Deduper, Header, InputError, read_targets

BATCH_ROWS = 2000
OUTPUT_FILES = (
    "hosts.parquet",
    "findings.parquet",
    "certificates.parquet",
    "hosts.csv",
    "summary.csv",
    "scan.json",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputError(Exception):
    """The output folder cannot be used (environment error)."""


@contextmanager
def open_input(path: Path) -> Iterator[TextIO]:
    try:
        f = open(path, encoding="utf-8-sig", newline="", errors="strict")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    with f:
        yield f


def inspect_input(path: Path) -> tuple[Header, int, int]:
    """First pass over the input: (header, targets to scan, duplicates dropped).

    Reading the whole file before scanning means a file that stops being CSV on line 900,000
    is refused before any connection, and the progress bar knows its total."""
    with open_input(path) as f:
        header, items = read_targets(f, tables.HOST_COLUMNS)
        dedupe = Deduper()
        count = sum(1 for item in items if dedupe.is_new(item))
    return header, count, dedupe.duplicates


def iter_input(path: Path) -> tuple[Header, Iterator[Any], Deduper]:
    """Second pass: the targets, de-duplicated, read lazily."""
    f = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by the generator
    header, items = read_targets(f, tables.HOST_COLUMNS)
    dedupe = Deduper()

    def gen() -> Iterator[Any]:
        with f:
            for item in items:
                if dedupe.is_new(item):
                    yield item

    return header, gen(), dedupe


def prepare_output(out: Path, *, overwrite: bool) -> None:
    """Refuse a non-empty folder unless told to overwrite; then make sure it is writable."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(
                f"{out} is not empty; pass --overwrite to replace its scan, or choose another --out"
            )
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"cannot write to {out}: {e.strerror or e}") from None


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


class _TableWriter:
    """Rows buffered into record batches, appended to a Parquet file as row groups."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._rows: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(partial_path(path), schema, compression="zstd")
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_batch(pa.RecordBatch.from_pylist(self._rows, schema=self.schema))
            self.count += len(self._rows)
            self._rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def commit(self) -> None:
        os.replace(partial_path(self.path), self.path)

    def discard(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - already failing; the partial file goes anyway
            pass
        partial_path(self.path).unlink(missing_ok=True)


class ResultWriter:
    """Streams results into hosts, findings and certificates tables as they arrive."""

    def __init__(self, out: Path, extra_names: Sequence[str]) -> None:
        self.out = out
        self.extra_names = tuple(extra_names)
        self.hosts = _TableWriter(out / "hosts.parquet", tables.hosts_schema(extra_names))
        self.findings = _TableWriter(out / "findings.parquet", tables.FINDINGS_SCHEMA)
        self.certificates = _TableWriter(
            out / "certificates.parquet", tables.CERTIFICATES_SCHEMA
        )
        self._seen_certs: set[str] = set()

    def add(self, result: ScanResult, scanned_at: dt.datetime) -> None:
        self.hosts.add(tables.host_row(result, self.extra_names, scanned_at))
        for row in tables.finding_rows(result):
            self.findings.add(row)
        for info in tables.result_certificates(result):
            if info.sha256 not in self._seen_certs:
                self._seen_certs.add(info.sha256)
                self.certificates.add(tables.certificate_row(info))

    def close(self) -> None:
        """Finish the Parquet files (still under their temporary names)."""
        for t in (self.hosts, self.findings, self.certificates):
            t.close()

    def commit(self) -> None:
        for t in (self.hosts, self.findings, self.certificates):
            t.commit()

    def discard(self) -> None:
        for t in (self.hosts, self.findings, self.certificates):
            t.discard()


def _nullable_type(t: pa.DataType) -> object:
    return _NULLABLE.get(t)


_NULLABLE: dict[pa.DataType, object] = {}


def read_table_pandas(path: Path, columns: Sequence[str] | None = None) -> Any:
    """A Parquet table as pandas with nullable integer and boolean columns (a port stays an
    integer even when some rows have none)."""
    import pandas as pd

    if not _NULLABLE:
        _NULLABLE.update(
            {
                pa.int32(): pd.Int32Dtype(),
                pa.int64(): pd.Int64Dtype(),
                pa.bool_(): pd.BooleanDtype(),
            }
        )
    table = pq.read_table(path, columns=list(columns) if columns else None)
    return table.to_pandas(types_mapper=_nullable_type)


def csv_cell(value: Any) -> str:
    """Text for a CSV cell: lists joined with '; ', timestamps in ISO 8601, and any text that a
    spreadsheet would run as a formula prefixed with an apostrophe (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        value = "; ".join(csv_cell(v) for v in value)
    elif isinstance(value, bytes):
        value = value.hex()
    elif not isinstance(value, str):
        return str(value)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    tmp = partial_path(path)
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([csv_cell(h) for h in header])
        for row in rows:
            w.writerow([csv_cell(v) for v in row])
    os.replace(tmp, path)


def parquet_to_csv(parquet: Path, path: Path, *, skip: Callable[[str], bool] = lambda _: False) -> None:
    """A CSV copy of a Parquet table, streamed batch by batch."""
    pf = pq.ParquetFile(parquet)
    names = [n for n in pf.schema_arrow.names if not skip(n)]

    def rows() -> Iterator[list[Any]]:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=names):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield from (list(r) for r in zip(*columns, strict=True))

    write_csv_atomic(path, names, rows())


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = partial_path(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
