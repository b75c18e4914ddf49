"""Checkpointed output: results go to numbered part files as hosts finish, so a killed scan
keeps everything up to its last checkpoint; `merge` turns the parts into the final tables.

A checkpoint N is the files findings-N, certificates-N, ciphers-N (with --ciphers, when it
has rows), hosts-N, each written under a temporary name and renamed; hosts-N is renamed last,
so it marks checkpoint N complete.
Parts without their hosts file are debris from a crash and are removed on recovery.

On object storage (no rename; an object appears only when its upload is complete) each part
is uploaded once under its final name, in the same order, and `merge` uploads the final
tables (hosts last) and then deletes the parts. Recovery there keeps one invariant: the parts
and the final tables together hold every recorded row, and the parts alone unless the final
hosts table has rows no part has (then the parts left are a subset of it, and it is copied
back into a part).
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import re
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from scanner.errors import OutputError
from scanner.model.types import ScanResult
from scanner.store import rows, tables
from scanner.store.atomic import partial_path
from scanner.store.heap import release_free_memory
from scanner.store.hello_rows import cipher_rows
from scanner.store.location import Location

PARTS_DIR = ".parts"
MERGED_DIR = ".parts.merged"  # exists only between the commit point of `merge` and its end
TABLES = ("findings", "certificates", "ciphers", "hosts")  # rename order: hosts last
_PART = re.compile(r"^(findings|certificates|ciphers|hosts)-(\d{6})\.parquet$")
CIPHERS = "ciphers"  # ciphers.parquet: written with --ciphers only (issue 19)


def _write_parquet(path: Location, table: pa.Table) -> None:
    path.write(lambda f: pq.write_table(table, f, compression="zstd"))


def _read_column(path: Location, column: str) -> list[Any]:
    with path.arrow_source() as source:
        values: list[Any] = pq.read_table(source, columns=[column]).column(column).to_pylist()
    return values


def _parts(folder: Path | Location) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for p in Location.of(folder).children():
        m = _PART.match(p.name)
        if m:
            found.setdefault(int(m.group(2)), set()).add(m.group(1))
    return found


class Lines:
    """A set of input lines in 8 bytes a line (a resumed scan of a million hosts skips most of
    them, and a set of ints costs about 70 bytes each): gathered in an array, then sorted
    and de-duplicated once, looked up by bisection."""

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value like a set

    def __init__(self, values: Iterable[int] = ()) -> None:
        self._values = array("q", values)
        self._settled = False

    def update(self, values: Iterable[int]) -> None:
        self._values.extend(values)
        self._settled = False

    def _settle(self) -> array[int]:
        if not self._settled:
            self._values = array("q", sorted(set(self._values)))
            self._settled = True
        return self._values

    def __contains__(self, line: object) -> bool:
        values = self._settle()
        if not isinstance(line, int):
            return False
        i = bisect.bisect_left(values, line)
        return i < len(values) and values[i] == line

    def __len__(self) -> int:
        return len(self._settle())

    def __iter__(self) -> Iterator[int]:
        return iter(self._settle())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lines):
            return self._settle() == other._settle()
        if isinstance(other, (set, frozenset)):
            return len(self) == len(other) and all(x in self for x in other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Lines({list(self._settle())!r})"


@dataclass(slots=True)
class Recovered:
    """What earlier runs already recorded in a folder's parts."""

    lines: Lines = field(default_factory=Lines)  # input_line of every recorded host row
    failed: int = 0  # of those, rows with status=error (so progress counts them as failed)
    certificates: set[str] = field(default_factory=set)
    next_seq: int = 1


def recover(out: Path | Location) -> Recovered:
    """Bring a folder left by an interrupted or killed run to a clean set of checkpoints (the
    final tables of an interrupted run become one), and read what is already recorded."""
    loc = Location.of(out)
    if loc.local:
        _settle_local(loc.local_path)
    else:
        _settle_remote(loc)
    folder = loc / PARTS_DIR
    rec = Recovered()
    for seq, names in sorted(_parts(folder).items()):
        if "hosts" not in names:
            for name in names:
                (folder / f"{name}-{seq:06d}.parquet").unlink()
            continue
        rec.next_seq = max(rec.next_seq, seq + 1)
        hosts = folder / f"hosts-{seq:06d}.parquet"
        rec.lines.update(_read_column(hosts, "input_line"))
        rec.failed += _read_column(hosts, "status").count("error")
        if "certificates" in names:
            certs = _read_column(folder / f"certificates-{seq:06d}.parquet", "sha256")
            rec.certificates.update(certs)
    return rec


def _settle_local(out: Path) -> None:
    finish_merge(out)
    for name in TABLES:  # a merge that died before its commit point
        partial_path(out / f"{name}.parquet").unlink(missing_ok=True)
    folder = out / PARTS_DIR
    folder.mkdir(exist_ok=True)
    for p in folder.iterdir():
        if p.name.endswith(".partial"):
            p.unlink()
    adopt_final_tables(out, max(_parts(folder), default=0) + 1)


def _settle_remote(out: Location) -> None:
    """Object storage: leave only parts. Final tables whose rows all are in parts are a merge
    the run did not get to clean up after (or an adoption half done): removed. Final tables
    with rows no part has are a finished merge whose parts were (partly) deleted: the parts
    left are removed and the tables copied back into one part (hosts last), then removed."""
    folder = out / PARTS_DIR
    found = _parts(folder)
    for seq, names in found.items():  # debris: a checkpoint whose hosts part never arrived
        if "hosts" not in names:
            for name in names:
                (folder / f"{name}-{seq:06d}.parquet").unlink()
    complete = sorted(seq for seq, names in found.items() if "hosts" in names)
    finals = {name: out / f"{name}.parquet" for name in TABLES}
    if not finals["hosts"].is_file():
        for name in TABLES:  # the start of a merge that died before its hosts table
            finals[name].unlink()
        return
    in_parts: dict[int, set[int]] = {
        seq: set(_read_column(folder / f"hosts-{seq:06d}.parquet", "input_line"))
        for seq in complete
    }
    in_finals = set(_read_column(finals["hosts"], "input_line"))
    if not in_finals <= set().union(*in_parts.values()):
        if not all(lines <= in_finals for lines in in_parts.values()):
            raise OutputError(
                f"{out}: the final tables and the checkpoints in {PARTS_DIR} hold different "
                "hosts; the folder was changed by hand or by two scans at once"
            )
        for seq in complete:
            for name in TABLES:
                (folder / f"{name}-{seq:06d}.parquet").unlink()
        for name in TABLES:  # hosts last: it marks the part complete
            if finals[name].is_file():
                out.fs.copy(finals[name].path, (folder / f"{name}-000001.parquet").path)
    for name in reversed(TABLES):  # hosts first: without it the others are debris
        finals[name].unlink()


def adopt_final_tables(out: Path, seq: int) -> int:
    """Turn the final tables of an interrupted run back into checkpoint `seq`, so that a resumed
    run merges them with its own. Returns the next free sequence number."""
    finals = {name: out / f"{name}.parquet" for name in TABLES}
    if not finals["hosts"].exists():
        return seq
    folder = out / PARTS_DIR
    folder.mkdir(exist_ok=True)
    for name in TABLES:  # hosts last, as for any checkpoint
        if finals[name].exists():
            os.replace(finals[name], folder / f"{name}-{seq:06d}.parquet")
    return seq + 1


class PartWriter:
    """Buffers result rows; `checkpoint` writes them as numbered part files."""

    def __init__(
        self,
        out: Path | Location,
        extra_names: Sequence[str],
        *,
        rows: int = 2000,
        seconds: float = 5.0,
        recovered: Recovered | None = None,
    ) -> None:
        rec = recovered or Recovered()
        self.folder = Location.of(out) / PARTS_DIR
        self.folder.mkdir()
        self.extra_names = tuple(extra_names)
        self.schemas = _schemas(extra_names)
        self._buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self._seen_certs = set(rec.certificates)
        self._seq = rec.next_seq
        self._rows = rows
        self._seconds = seconds
        self._last = time.monotonic()

    def add(self, result: ScanResult, scanned_at: dt.datetime) -> None:
        """Buffer one result's rows (no I/O; `checkpoint` writes them when `due`)."""
        self._buffers["hosts"].append(rows.host_row(result, self.extra_names, scanned_at))
        self._buffers["findings"].extend(rows.finding_rows(result))
        self._buffers[CIPHERS].extend(cipher_rows(result))
        for info in rows.result_certificates(result):
            if info.sha256 not in self._seen_certs:
                self._seen_certs.add(info.sha256)
                self._buffers["certificates"].append(rows.certificate_row(info))

    @property
    def due(self) -> bool:
        """Whether `rows` hosts or `seconds` seconds have gathered since the last checkpoint."""
        return (
            len(self._buffers["hosts"]) >= self._rows
            or time.monotonic() - self._last >= self._seconds
        )

    def checkpoint(self) -> None:
        """Write the buffered rows as the next checkpoint (blocking: call it off the loop)."""
        self._last = time.monotonic()
        if not self._buffers["hosts"]:
            return
        for name in TABLES:
            rows = self._buffers[name]
            if rows or name == "hosts":
                table = pa.Table.from_pylist(rows, schema=self.schemas[name])
                _write_parquet(self.folder / f"{name}-{self._seq:06d}.parquet", table)
            rows.clear()
        self._seq += 1
        # The rows just written and the hosts since the last checkpoint are freed: hand their
        # pages back, or RSS creeps with the number of hosts (issue 17).
        release_free_memory()


def _part_files(folder: Location, name: str) -> Iterator[Location]:
    for seq, names in sorted(_parts(folder).items()):
        if name in names and "hosts" in names:
            yield folder / f"{name}-{seq:06d}.parquet"


def _merge_into(stream: IO[bytes] | Path, folder: Location, name: str, schema: pa.Schema) -> int:
    n = 0
    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for part in _part_files(folder, name):
            with part.arrow_source() as source:
                table = pq.read_table(source, schema=schema)
            writer.write_table(table, row_group_size=MERGE_ROW_GROUP)
            n += table.num_rows
    return n


MERGE_ROW_GROUP = 64 * 1024


def _link_single(tmp: Path, folder: Location, name: str, schema: pa.Schema) -> int | None:
    """A table of one part of at most one row group is that part as `_merge_into` would
    write it: hard-link it as the partial final table (the part stays until the commit point,
    as a copy would) instead of reading and compressing it again. The row count, or None."""
    found = list(_part_files(folder, name))
    if len(found) != 1 or not found[0].local:
        return None
    part = found[0].local_path
    try:
        meta = pq.read_metadata(part)
        if meta.num_rows > MERGE_ROW_GROUP or not meta.schema.to_arrow_schema().equals(schema):
            return None
        tmp.unlink(missing_ok=True)
        os.link(part, tmp)
    except OSError:  # no hard links here: merge as for several parts
        return None
    return int(meta.num_rows)


def _schemas(extra_names: Sequence[str]) -> dict[str, pa.Schema]:
    return {
        "hosts": tables.hosts_schema(extra_names),
        "findings": tables.FINDINGS_SCHEMA,
        "certificates": tables.CERTIFICATES_SCHEMA,
        CIPHERS: tables.CIPHERS_SCHEMA,
    }


def merge(
    out: Path | Location, extra_names: Sequence[str], *, ciphers: bool = False
) -> dict[str, int]:
    """Merge the checkpoints into the final tables (one part in memory at a time) and remove
    the parts; ciphers.parquet only with `ciphers` (--ciphers). Returns the row count of each
    table."""
    loc = Location.of(out)
    folder = loc / PARTS_DIR
    schemas = _schemas(extra_names)
    names = TABLES if ciphers else tuple(n for n in TABLES if n != CIPHERS)
    counts: dict[str, int] = {}
    if not loc.local:  # each table one upload, hosts last; then the parts go
        for name in names:

            def upload(stream: IO[bytes], name: str = name) -> None:
                counts[name] = _merge_into(stream, folder, name, schemas[name])

            (loc / f"{name}.parquet").write(upload)
        for part in folder.children():
            part.unlink()
        return counts
    out = loc.local_path
    for name in names:
        tmp = partial_path(out / f"{name}.parquet")
        single = _link_single(tmp, folder, name, schemas[name])
        counts[name] = (
            single if single is not None else _merge_into(tmp, folder, name, schemas[name])
        )
    (out / PARTS_DIR).mkdir(exist_ok=True)
    os.replace(
        out / PARTS_DIR, out / MERGED_DIR
    )  # the commit point: the partial finals are complete
    finish_merge(out)
    return counts


def finish_merge(out: Path) -> None:
    """Complete a merge that passed its commit point (also after a crash)."""
    merged = out / MERGED_DIR
    if not merged.is_dir():
        return
    for name in TABLES:
        tmp = partial_path(out / f"{name}.parquet")
        if tmp.exists():
            os.replace(tmp, out / f"{name}.parquet")
    for p in merged.iterdir():
        p.unlink()
    merged.rmdir()
