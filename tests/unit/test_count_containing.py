"""files.count_containing: scan.json's count of fetch internal errors, read in Arrow."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scanner.net.fetch import INTERNAL_ERROR
from scanner.store import files


def test_counts_rows_holding_the_text_across_batches_and_row_groups(tmp_path: Path) -> None:
    messages = [
        f"AIA fetch failed: {INTERNAL_ERROR}: ValueError: x",
        "CRL fetch timed out",
        None,
        f"{INTERNAL_ERROR}: KeyError",
        "internal error",  # not the marker
        f"OCSP: {INTERNAL_ERROR}",
        "",
    ] * 3
    path = tmp_path / "findings.parquet"
    pq.write_table(pa.table({"message": pa.array(messages, pa.string())}), path, row_group_size=4)
    expected = sum(1 for m in messages if m is not None and INTERNAL_ERROR in m)
    assert expected == 9
    assert files.count_containing(path, "message", INTERNAL_ERROR, batch_rows=5) == expected
    assert files.count_containing(path, "message", INTERNAL_ERROR) == expected
    assert files.count_containing(path, "message", "no such text") == 0


def test_an_empty_table_counts_zero(tmp_path: Path) -> None:
    path = tmp_path / "findings.parquet"
    pq.write_table(pa.table({"message": pa.array([], pa.string())}), path)
    assert files.count_containing(path, "message", INTERNAL_ERROR) == 0
