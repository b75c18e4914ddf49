"""A scan records the blank and comment lines it skipped (scan.json `counts.skipped_lines`) and
warns, naming the line, about a comment line shaped like a row; a quoted `"#payments"` cell is
scanned as data. Every row here is invalid input, so nothing reaches the network."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import Result

from tests.conftest import FIXED


def test_scan_json_counts_skipped_lines_and_names_a_row_shaped_comment(
    tmp_path: Path, cli: Callable[[Sequence[str]], Result]
) -> None:
    source = tmp_path / "hosts.csv"
    source.write_text(
        "# nightly fleet\n"
        "owner,host\n"
        '"#payments",bad host.example\n'  # quoted: a row (invalid: white space in the name)
        "#billing,also bad.example\n"  # a comment by the documented rule, shaped like a row
        "\n"
        "web,-lead.example\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli(["scan", source, "--out", out, "--as-of", FIXED.isoformat(), "--quiet"])
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    assert sorted((h["input_line"], h["owner"]) for h in hosts) == [(3, "#payments"), (6, "web")]
    meta = json.loads((out / "scan.json").read_text())
    assert meta["counts"]["skipped_lines"] == 3
    (warning,) = [w for w in meta["warnings"] if "starting with '#'" in w]
    assert "line 4 " in warning
    assert "line 4 " in result.stderr
