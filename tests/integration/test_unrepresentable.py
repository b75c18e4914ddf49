"""A certificate field the library cannot represent (a validity in year 0, as in BoringSSL's
test data) is data: a row with the field null and a finding naming it, never an exception,
whether a real server sends it or `scanner check` reads it from a file."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from typer.testing import Result

from scanner.testing.lab import Pki, _hold_open, _Loop, server_context, year_zero_leaf

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "zero.lab.test"
EXPECTED = "the leaf's validity cannot be read: notBefore cannot be represented"


def test_year_zero_leaf_served_by_a_real_server_is_a_row(
    cli: Callable[[Sequence[Any]], Result], tmp_path: Path
) -> None:
    pki = Pki.create(FIXED)
    leaf = year_zero_leaf(pki, HOST)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.root.pem)
    loop = _Loop()
    loop.start()
    try:
        ctx = server_context(leaf.pem + pki.intermediate.pem, leaf.key, tmp_path)
        port = loop.run(loop.serve(_hold_open, ctx))
        inp = tmp_path / "in.csv"
        inp.write_text(f"host,port,ip\n{HOST},{port},127.0.0.1\n")
        out = tmp_path / "out"
        args = ["--as-of", FIXED.isoformat(), "--ca-bundle", ca, "--timeout", "3", "--quiet"]
        result = cli(["scan", inp, "--out", out, *args])
    finally:
        loop.stop()
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert row["status"] == "ok" and row["error"] is None
    assert row["not_before"] is None and row["not_after"] == dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    assert row["expired"] is None and row["not_yet_valid"] is None and row["trusted"] is False
    assert "unparseable_certificate" in row["findings"]
    messages = [f["message"] for f in pq.read_table(out / "findings.parquet").to_pylist()]
    assert any(m.startswith(EXPECTED) and "year 0" in m for m in messages), messages
    meta = json.loads((out / "scan.json").read_text())
    assert meta["internal_errors"] == 0
    (cert,) = [
        c
        for c in pq.read_table(out / "certificates.parquet").to_pylist()
        if c["sha256"] == row["leaf_sha256"]
    ]
    assert cert["not_before"] is None and cert["subject"] == f"CN={HOST},O=Scanner Lab"


def test_year_zero_leaf_through_check(
    cli: Callable[[Sequence[Any]], Result], tmp_path: Path
) -> None:
    pki = Pki.create(FIXED)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(year_zero_leaf(pki, HOST).pem + pki.intermediate.pem)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.root.pem)
    result = cli(
        ["check", chain, "--host", HOST, "--ca-bundle", ca, "--as-of", FIXED.isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["not_before"] is None and row["trusted"] is False
    assert "unparseable_certificate" in row["findings"]
    text = cli(["check", chain, "--host", HOST, "--ca-bundle", ca, "--as-of", FIXED.isoformat()])
    assert text.exit_code == 0, text.output
    assert "notBefore cannot be represented" in text.stdout
