"""Disk writes happen off the event loop: a writer that takes seconds per checkpoint slows the
scan's throughput (back-pressure), never turns a healthy host into a timeout."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scanner.run.options import ScanOptions
from scanner.run.runner import run_scan
from scanner.store import parts
from scanner.testing.lab import Lab

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
TIMEOUT = 0.5
STALL = 1.5  # seconds each checkpoint takes: three times a host's whole deadline


def test_a_slow_disk_does_not_turn_healthy_hosts_into_timeouts(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valid = lab.scenario("valid")
    hosts = 20
    inp = tmp_path / "fleet.csv"
    lines = ["host,port,ip"] + [f"h{i}.fleet.test,{valid.port},127.0.0.1" for i in range(hosts)]
    inp.write_text("\n".join(lines) + "\n")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(lab.ca_pem)

    original = parts.PartWriter.checkpoint
    stalls: list[float] = []

    def slow_checkpoint(self: parts.PartWriter) -> None:
        started = time.monotonic()
        time.sleep(STALL)  # a disk that blocks, as a full NFS mount does
        original(self)
        stalls.append(time.monotonic() - started)

    monkeypatch.setattr(parts.PartWriter, "checkpoint", slow_checkpoint)
    report = run_scan(
        ScanOptions(
            input=inp,
            out=tmp_path / "out",
            as_of=AS_OF,
            ca_bundle=ca,
            timeout=TIMEOUT,
            concurrency=10,
            checkpoint_rows=5,
        )
    )
    rows = pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()
    assert len(stalls) >= 3, "the writer stalled several times during the scan"
    assert len(rows) == hosts and not report.interrupted
    errors = [(r["host"], r["error"], r["error_detail"]) for r in rows if r["status"] != "ok"]
    assert errors == []
