"""Checkpointed output: results go to numbered part files as hosts finish, so a killed scan
keeps everything up to its last checkpoint; `merge` turns the parts into the final tables.

A checkpoint N is the three files findings-N, certificates-N, hosts-N, each written under a
temporary name and renamed; hosts-N is renamed last, so it marks checkpoint N complete.
Parts without their hosts file are debris from a crash and are removed on recovery.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scanner.model.types import ScanResult
from scanner.store import rows, tables
from scanner.store.atomic import partial_path, write_atomic

PARTS_DIR = ".parts"
MERGED_DIR = ".parts.merged"  # exists only between the commit point of `merge` and its end
TABLES = ("findings", "certificates", "hosts")  # rename order: hosts last
_PART = re.compile(r"^(findings|certificates|hosts)-(\d{6})\.parquet$")


def _write_parquet(path: Path, table: pa.Table) -> None:
    write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def _parts(folder: Path) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            m = _PART.match(p.name)
            if m:
                found.setdefault(int(m.group(2)), set()).add(m.group(1))
    return found


@dataclass(slots=True)
class Recovered:
    """What earlier runs already recorded in a folder's parts."""

    lines: set[int] = field(default_factory=set)  # input_line of every recorded host row
    failed: int = 0  # of those, rows with status=error (so progress counts them as failed)
    certificates: set[str] = field(default_factory=set)
    next_seq: int = 1


def recover(out: Path) -> Recovered:
    """Bring a folder left by an interrupted or killed run to a clean set of checkpoints (the
    final tables of an interrupted run become one), and read what is already recorded."""
    finish_merge(out)
    for name in TABLES:  # a merge that died before its commit point
        partial_path(out / f"{name}.parquet").unlink(missing_ok=True)
    folder = out / PARTS_DIR
    folder.mkdir(exist_ok=True)
    for p in folder.iterdir():
        if p.name.endswith(".partial"):
            p.unlink()
    adopt_final_tables(out, max(_parts(folder), default=0) + 1)
    rec = Recovered()
    for seq, names in sorted(_parts(folder).items()):
        if "hosts" not in names:
            for name in names:
                (folder / f"{name}-{seq:06d}.parquet").unlink()
            continue
        rec.next_seq = max(rec.next_seq, seq + 1)
        hosts = pq.read_table(folder / f"hosts-{seq:06d}.parquet", columns=["input_line", "status"])
        rec.lines.update(hosts.column("input_line").to_pylist())
        rec.failed += hosts.column("status").to_pylist().count("error")
        if "certificates" in names:
            certs = pq.read_table(folder / f"certificates-{seq:06d}.parquet", columns=["sha256"])
            rec.certificates.update(certs.column("sha256").to_pylist())
    return rec


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
        out: Path,
        extra_names: Sequence[str],
        *,
        rows: int = 2000,
        seconds: float = 5.0,
        recovered: Recovered | None = None,
    ) -> None:
        rec = recovered or Recovered()
        self.folder = out / PARTS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.extra_names = tuple(extra_names)
        self.schemas = {
            "hosts": tables.hosts_schema(extra_names),
            "findings": tables.FINDINGS_SCHEMA,
            "certificates": tables.CERTIFICATES_SCHEMA,
        }
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


def _part_files(folder: Path, name: str) -> Iterator[Path]:
    for seq, names in sorted(_parts(folder).items()):
        if name in names and "hosts" in names:
            yield folder / f"{name}-{seq:06d}.parquet"


def merge(out: Path, extra_names: Sequence[str]) -> dict[str, int]:
    """Merge the checkpoints into the final tables (one part in memory at a time) and remove
    the parts. Returns the row count of each table."""
    folder = out / PARTS_DIR
    schemas = {
        "hosts": tables.hosts_schema(extra_names),
        "findings": tables.FINDINGS_SCHEMA,
        "certificates": tables.CERTIFICATES_SCHEMA,
    }
    counts: dict[str, int] = {}
    for name in TABLES:
        tmp = partial_path(out / f"{name}.parquet")
        n = 0
        with pq.ParquetWriter(tmp, schemas[name], compression="zstd") as writer:
            for part in _part_files(folder, name):
                table = pq.read_table(part, schema=schemas[name])
                writer.write_table(table, row_group_size=64 * 1024)
                n += table.num_rows
        counts[name] = n
    folder.mkdir(exist_ok=True)
    os.replace(folder, out / MERGED_DIR)  # the commit point: the partial finals are complete
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
