"""parts.merge gathers many small checkpoints into few row groups, rows unchanged (issue 17)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scanner.model.types import ErrorCode, ScanFailed, Target
from scanner.store import parts

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _failed(i: int) -> ScanFailed:
    target = Target(row=i + 2, host=f"h{i:05d}.test", port=443, ip=None, is_ip=False)
    return ScanFailed(target=target, error=ErrorCode.TIMEOUT, detail=f"timeout {i}")


def test_checkpoints_are_gathered_into_row_groups_of_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts, "MERGE_GATHER", 25)
    writer = parts.PartWriter(tmp_path, [], rows=10**9, seconds=10**9)
    for i in range(103):
        writer.add(_failed(i), AT)
        if i % 7 == 6:  # a checkpoint every 7 hosts: 15 parts
            writer.checkpoint()
    writer.checkpoint()
    assert len(list((tmp_path / parts.PARTS_DIR).glob("hosts-*.parquet"))) == 15

    counts = parts.merge(tmp_path, [])

    assert counts["hosts"] == 103
    meta = pq.read_metadata(tmp_path / "hosts.parquet")
    # 7-row parts gathered until 25 rows: 28, 28, 28 and the last 19 (15 parts before)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [28, 28, 28, 19]
    table = pq.read_table(tmp_path / "hosts.parquet")
    assert table.column("host").to_pylist() == [f"h{i:05d}.test" for i in range(103)]
    assert table.column("input_line").to_pylist() == list(range(2, 105))
    assert table.schema.equals(parts.tables.hosts_schema([]))
