"""Files: the input CSV (streamed), the output folder, CSV and JSON copies written atomically
(temporary file, then rename; on object storage one upload). The Parquet tables are
checkpointed by `parts`. Paths may be local or URLs (`scanner.store.location`)."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

import pyarrow.parquet as pq

from scanner.errors import InputError, OutputError
from scanner.inputs.targets import Deduper, Header, Shard, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.present import csvtext
from scanner.store import tables
from scanner.store.atomic import partial_path
from scanner.store.location import Location
from scanner.store.parts import MERGED_DIR, PARTS_DIR

# Rows per slice where a scan's end reads its own tables (the summary fold, the CSV copies):
# small, since what they hold in flight is what the end of a scan adds to its peak (issue 17:
# 2,000-row slices cost 5 MiB more than these).
BATCH_ROWS = 500
WHOLE = Shard(1, 1)
OUTPUT_FILES = (
    "hosts.parquet",
    "findings.parquet",
    "certificates.parquet",
    "ciphers.parquet",  # --ciphers
    "ciphers.csv",
    "hosts.csv",
    "summary.csv",
    "scan.json",
)


@contextmanager
def open_input(path: Path | str, encoding: str = "utf-8") -> Iterator[Iterator[str]]:
    """The input's lines as text. UTF-8 (the default) is decoded line by line so that a bad
    byte is reported on its own line; another `encoding` (`--encoding cp1252`) through a text
    layer."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"--encoding {encoding}: not an encoding Python knows") from None
    try:
        f = Location.of(path).open_read()
    except OSError as e:
        raise InputError(f"cannot read it: {e.strerror or e}") from None
    with f:
        if codec == "utf-8":
            yield _utf8_lines(f)
        else:
            yield _decoded_lines(f, codec)


def _utf8_lines(f: BinaryIO | IO[bytes]) -> Iterator[str]:
    """The file's lines as text, decoded one by one so that a byte that is not UTF-8 is
    reported on its own line (a text layer decodes ahead in chunks). A BOM is dropped; \n,
    \r\n and \r end lines, as with newline=""."""
    number = 0
    for chunk in f:
        for raw in chunk.splitlines(keepends=True):
            number += 1
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"line {number}: not UTF-8 text ({e.reason} at byte {e.start + 1} of the "
                    "line); save the file as UTF-8, or pass its --encoding (for example "
                    "--encoding cp1252 for a Windows file)"
                ) from None


def _decoded_lines(f: BinaryIO | IO[bytes], codec: str) -> Iterator[str]:
    number = 0
    text = io.TextIOWrapper(f, encoding=codec, newline="")
    try:
        for number, line in enumerate(text, 1):  # noqa: B007 - read after the loop
            yield line
    except UnicodeDecodeError as e:
        raise InputError(
            f"after line {number}: not {codec} text ({e.reason}); pass the file's --encoding"
        ) from None
    finally:
        text.detach()


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Location.of(path).open_read() as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _selected(items: Iterator[Any], shard: Shard, dedupe: Deduper) -> Iterator[Any]:
    return (item for item in items if shard.contains(item) and dedupe.is_new(item))


def inspect_input(
    path: Path | str, shard: Shard = WHOLE, encoding: str = "utf-8"
) -> tuple[Header, int, Deduper]:
    """First pass over the input: (header, targets of this shard, the duplicates dropped and
    the blank and comment lines skipped, `Deduper.skipped`).

    Reading the whole file before scanning means a file that stops being CSV on line 900,000
    is refused before any connection, and the progress bar knows its total."""
    with open_input(path, encoding) as f:
        dedupe = Deduper(track=True)
        header, items = read_targets(f, HOST_COLUMNS, dedupe.skipped)
        count = sum(1 for _ in _selected(items, shard, dedupe))
    return header, count, dedupe


def iter_input(
    path: Path | str,
    shard: Shard = WHOLE,
    skip_lines: Container[int] = frozenset(),
    encoding: str = "utf-8",
    dedupe: Deduper | None = None,
) -> Iterator[Any]:
    """Second pass: the targets of this shard, de-duplicated, without the lines already
    recorded by an earlier run, read lazily. `dedupe` is the first pass's `replay()` (which
    keeps nothing per target), else a new one."""
    with open_input(path, encoding) as f:
        _, items = read_targets(f, HOST_COLUMNS)
        for item in _selected(items, shard, dedupe or Deduper()):
            if item.row not in skip_lines:
                yield item


STATE_FILE = ".scan-state.json"
# What marks a folder as a scan's: only such a folder may be cleared by --overwrite.
SCAN_MARKERS = (STATE_FILE, "scan.json")


def is_scan_folder(out: Path | Location) -> bool:
    """Whether `out` holds a scan this tool wrote (its state file or its scan.json)."""
    out = Location.of(out)
    return any((out / marker).is_file() for marker in SCAN_MARKERS)


def _same_file(a: Location, b: Path | str) -> bool:
    other = Location.of(b)
    if a.local != other.local:
        return False
    if a.local:
        return a.local_path.resolve() == other.local_path.resolve()
    return bool(a.path == other.path and type(a.fs) is type(other.fs))


def _check_input_apart(out: Location, input: Path | str | None) -> None:
    """The input must not be a file the scan writes (or clears) in `out`."""
    if input is None:
        return
    for name in (*OUTPUT_FILES, STATE_FILE):
        if _same_file(out / name, input):
            raise OutputError(
                f"the input {input} is where the scan writes its {name} in {out}; move the "
                "input or choose another --out"
            )


def prepare_output(
    out: Path | Location,
    *,
    overwrite: bool,
    resume: bool,
    input: Path | str | None = None,
) -> dict[str, Any] | None:
    """Make `out` ready. A non-empty folder is refused unless `overwrite` and it holds a scan
    (that scan's files are removed, nothing else) or `resume` (its state, returned, must
    exist). The `input` is never among the files removed or written. Returns the state to
    resume, else None."""
    out = Location.of(out)
    if out.is_file():
        raise OutputError(f"{out} exists and is not a folder")
    state = None
    nonempty = any(out.children())
    if resume:
        _check_input_apart(out, input)
        try:
            state = json.loads((out / STATE_FILE).read_text())
        except (OSError, ValueError):
            raise OutputError(f"{out} holds no scan to resume (no readable {STATE_FILE})") from None
    elif nonempty:
        if not is_scan_folder(out):
            raise OutputError(
                f"{out} is not empty and holds no scan (no {STATE_FILE} or scan.json), so "
                "nothing in it is replaced; choose another --out (an empty or new folder)"
            )
        if not overwrite:
            raise OutputError(
                f"{out} is not empty; pass --resume to continue its scan, --overwrite to replace "
                "it, or choose another --out"
            )
        _check_input_apart(out, input)
        remove_scan(out)
    try:
        out.mkdir()
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"cannot write to {out}: {e.strerror or e}") from None
    except Exception as e:  # an object store's client: no credentials, no such bucket...
        raise OutputError(f"cannot write to {out}: {type(e).__name__}: {e}") from None
    return state


def remove_scan(out: Path | Location) -> None:
    """Remove what a scan writes in `out` (and nothing else)."""
    out = Location.of(out)
    for name in (*OUTPUT_FILES, STATE_FILE):
        (out / name).unlink()
        if out.local:
            partial_path((out / name).local_path).unlink(missing_ok=True)
    for d in (PARTS_DIR, MERGED_DIR):
        folder = out / d
        if folder.is_dir():
            for p in folder.children():
                p.unlink()
            folder.rmdir()


def iter_table_pandas(
    path: Path | Location, columns: Sequence[str], batch_rows: int = 5_000
) -> Iterator[Any]:
    """A Parquet table as pandas slices, in bounded memory, with nullable integers and booleans.
    Small slices: a list column (findings, trusted_by) becomes one numpy array per row."""
    with Location.of(path).arrow_source() as source:
        pf = pq.ParquetFile(source)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(columns)):
            yield batch.to_pandas(types_mapper=tables.nullable_dtype)


def iter_table_lists(
    path: Path | Location, columns: Sequence[str], batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[dict[str, list[Any]], list[bool]]]:
    """A Parquet table as slices of plain Python lists (no pandas), with, per row, whether its
    `not_after` is set (read as a validity mask, not as datetimes)."""
    import pyarrow.compute as pc

    with Location.of(path).arrow_source() as source:
        pf = pq.ParquetFile(source)
        wanted = [*dict.fromkeys(columns), "not_after"]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted):
            lists = {name: batch.column(name).to_pylist() for name in columns}
            yield lists, pc.is_valid(batch.column("not_after")).to_pylist()


def count_containing(
    path: Path | Location, column: str, text: str, batch_rows: int = BATCH_ROWS
) -> int:
    """Rows of a Parquet table whose string `column` holds `text`, batch by batch in Arrow
    (no pandas: a column of Python strings would cost more than the table's own bytes)."""
    import pyarrow.compute as pc

    n = 0
    with Location.of(path).arrow_source() as source:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_rows, columns=[column]):
            n += pc.sum(pc.match_substring(batch.column(0), text)).as_py() or 0
    return n


@contextmanager
def _text(stream: IO[bytes]) -> Iterator[IO[str]]:
    """UTF-8 text over a binary stream, line ends written as given (newline="")."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    try:
        yield text
    finally:
        text.flush()
        text.detach()  # the caller closes the binary stream


def write_csv_atomic(
    path: Path | Location, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    def write(stream: IO[bytes]) -> None:
        with _text(stream) as f:
            csvtext.write_rows(f, header, rows)

    Location.of(path).write(write)


def parquet_to_csv(
    parquet: Path | Location,
    path: Path | Location,
    *,
    skip: Callable[[str], bool] = lambda _: False,
) -> None:
    """A CSV copy of a Parquet table, streamed batch by batch (scanner.present.csvtext)."""
    with Location.of(parquet).arrow_source() as source:
        pf = pq.ParquetFile(source)
        names = [n for n in pf.schema_arrow.names if not skip(n)]

        def write(stream: IO[bytes]) -> None:
            with _text(stream) as f:
                csvtext.write_csv(f, names, pf.iter_batches(batch_size=BATCH_ROWS, columns=names))

        Location.of(path).write(write)


def write_json_atomic(path: Path | Location, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    Location.of(path).write_text(text)
