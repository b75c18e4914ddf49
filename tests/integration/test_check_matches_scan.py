"""`scanner check` of a chain file says what `scanner scan` says of a real server sending the
same chain: every hosts.parquet column but those of the connection and the clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from typer.testing import Result

from scanner.testing.lab import DAY, Pki, _hold_open, _Loop, server_context

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CONNECTION = {"port", "ip", "input_line", "connected_ip", "tls_version", "cipher", "scanned_at"}


def test_check_and_scan_agree_on_the_same_chains(
    cli: Callable[[Sequence[Any]], Result], tmp_path: Path
) -> None:
    pki = Pki.create(FIXED)
    chains = {
        "valid.check.test": pki.leaf(["valid.check.test"]),
        "expired.check.test": pki.leaf(
            ["expired.check.test"], not_before=FIXED - 90 * DAY, not_after=FIXED - 3 * DAY
        ),
        "www.mismatch.check.test": pki.leaf(["mismatch.check.test"]),
    }
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.root.pem)
    common = ["--as-of", FIXED.isoformat(), "--ca-bundle", ca]
    loop = _Loop()
    loop.start()
    try:
        lines = ["host,port,ip"]
        for host, leaf in chains.items():
            pem = leaf.pem + pki.intermediate.pem
            (tmp_path / f"{host}.pem").write_bytes(pem)
            port = loop.run(loop.serve(_hold_open, server_context(pem, leaf.key, tmp_path)))
            lines.append(f"{host},{port},127.0.0.1")
        inp = tmp_path / "in.csv"
        inp.write_text("\n".join(lines) + "\n")
        # check judges revocation only against --crl files (it never fetches): without them
        # its counterpart is a scan with --no-revocation (test_revocation.py compares the two
        # with CRL files).
        scan = cli(
            ["scan", inp, "--out", tmp_path / "out", *common, "--timeout", "3", "--quiet"]
            + ["--no-revocation"]
        )
    finally:
        loop.stop()
    assert scan.exit_code == 0, scan.output
    scanned = {r["host"]: r for r in pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()}
    assert set(scanned) == set(chains)
    for host in chains:
        checked = cli(["check", tmp_path / f"{host}.pem", "--host", host, *common, "--json"])
        assert checked.exit_code == 0, checked.output
        row = json.loads(checked.stdout)
        want = {k: v for k, v in scanned[host].items() if k not in CONNECTION}
        got = {k: v for k, v in row.items() if k not in CONNECTION}
        for k in ("not_before", "not_after", "breaks_on"):
            if want[k] is not None:
                want[k] = want[k].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert got == want, host
    assert scanned["expired.check.test"]["findings"] == ["expired"]
    assert scanned["www.mismatch.check.test"]["findings"] == ["hostname_mismatch"]
    assert scanned["valid.check.test"]["trusted"] is True
