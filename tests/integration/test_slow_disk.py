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
HOSTS = 20


def scan(inp: Path, ca: Path, out: Path, timeout: float) -> tuple[list[dict[str, object]], bool]:
    report = run_scan(
        ScanOptions(
            input=inp,
            out=out,
            as_of=AS_OF,
            ca_bundle=ca,
            timeout=timeout,
            concurrency=10,
            checkpoint_rows=5,
        )
    )
    return pq.read_table(out / "hosts.parquet").to_pylist(), report.interrupted


def test_a_slow_disk_does_not_turn_healthy_hosts_into_timeouts(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valid = lab.scenario("valid")
    inp = tmp_path / "fleet.csv"
    lines = ["host,port,ip"] + [f"h{i}.fleet.test,{valid.port},127.0.0.1" for i in range(HOSTS)]
    inp.write_text("\n".join(lines) + "\n")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(lab.ca_pem)

    # The deadline comes from a measurement, not a fixed margin: the same scan on a fast disk,
    # now, on this machine (loaded or not). A host's deadline is twice that whole scan; each
    # checkpoint then stalls three deadlines, so a write on the event loop would time out the
    # hosts in flight, while writes off the loop cost throughput only.
    started = time.monotonic()
    rows, _ = scan(inp, ca, tmp_path / "fast", timeout=60)
    timeout = max(0.5, 2 * (time.monotonic() - started))
    stall = 3 * timeout
    assert [r["status"] for r in rows] == ["ok"] * HOSTS

    original = parts.PartWriter.checkpoint
    stalls: list[float] = []

    def slow_checkpoint(self: parts.PartWriter) -> None:
        began = time.monotonic()
        time.sleep(stall)  # a disk that blocks, as a full NFS mount does
        original(self)
        stalls.append(time.monotonic() - began)

    monkeypatch.setattr(parts.PartWriter, "checkpoint", slow_checkpoint)
    rows, interrupted = scan(inp, ca, tmp_path / "out", timeout=timeout)
    assert len(stalls) >= 3, "the writer stalled several times during the scan"
    assert len(rows) == HOSTS and not interrupted
    errors = [(r["host"], r["error"], r["error_detail"]) for r in rows if r["status"] != "ok"]
    assert errors == []
