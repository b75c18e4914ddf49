"""Scan folders on object storage: a real S3 API server (moto's standalone server) on
127.0.0.1, started here, with credentials and endpoint given through the standard AWS
environment for this module only. Scan, kill -9 and --resume, SIGTERM and --resume, summary,
diff, report, metrics and `scanner.load` all on s3://, compared with the same scans on disk."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

import scanner
from scanner.testing.lab import UNREACHABLE_IP, Lab

Cli = Callable[[Sequence[Any]], Result]
BUCKET = "fleet-scans"
TIMEOUT = 1.0


def keys(fs: Any, prefix: str) -> list[str]:
    """Every object under s3://BUCKET/prefix, relative to it."""
    base = f"{BUCKET}/{prefix}"
    return sorted(k[len(base) + 1 :] for k in fs.find(base))


def read_table(fs: Any, key: str) -> pa.Table:
    with fs.open(f"{BUCKET}/{key}", "rb") as f:
        return pq.read_table(f)


def comparable(hosts: pa.Table, findings: pa.Table, certs: pa.Table) -> dict[str, Any]:
    """The tables in a canonical order, without the per-run `scanned_at` and error detail
    (which names elapsed times)."""
    return {
        "hosts": hosts.drop(["scanned_at", "error_detail"])
        .sort_by([("input_line", "ascending"), ("connected_ip", "ascending")])  # per address
        .to_pylist(),
        "findings": findings.sort_by(
            [
                ("input_line", "ascending"),
                ("connected_ip", "ascending"),
                ("code", "ascending"),
                ("message", "ascending"),
            ]
        ).to_pylist(),
        "certificates": certs.sort_by("sha256").to_pylist(),
    }


def local_tables(out: Path) -> dict[str, Any]:
    return comparable(*(pq.read_table(out / f"{n}.parquet") for n in TABLES))


def s3_tables(fs: Any, prefix: str) -> dict[str, Any]:
    return comparable(*(read_table(fs, f"{prefix}/{n}.parquet") for n in TABLES))


TABLES = ("hosts", "findings", "certificates")
FINAL = sorted(
    [
        ".scan-state.json",
        "certificates.parquet",
        "findings.parquet",
        "hosts.csv",
        "hosts.parquet",
        "scan.json",
        "summary.csv",
    ]
)


def assert_loopback_only(network_audit: Any, mark: int) -> None:
    for event, address in network_audit.since(mark):
        if event == "socket.getaddrinfo":
            assert network_audit.is_numeric(address), address
        else:
            # The lab's unreachable scenario: a multicast address no connect reaches.
            assert network_audit.is_local(address, allowed=[UNREACHABLE_IP]), (event, address)


def test_scan_reports_and_load_on_s3(
    s3: Any,
    cli: Cli,
    lab_files: Any,
    lab_scan: Any,
    scan_lab_args: Callable[..., list[str]],
    network_audit: Any,
    tmp_path: Path,
) -> None:
    mark = network_audit.mark()
    s3.put(str(lab_files.csv), f"{BUCKET}/inputs/lab.csv")
    url = f"s3://{BUCKET}/scans/lab"
    result = cli(
        ["scan", f"s3://{BUCKET}/inputs/lab.csv", "--out", url, *scan_lab_args(browsers=True)]
    )
    assert result.exit_code == 0, result.output
    # The final files only: no checkpoints, temporary names or write probe left behind.
    assert keys(s3, "scans/lab") == FINAL
    assert s3_tables(s3, "scans/lab") == local_tables(lab_scan.out)
    meta = json.loads(s3.cat(f"{BUCKET}/scans/lab/scan.json"))
    assert meta["counts"]["targets"] == lab_files.unique_targets
    assert meta["input"] == f"s3://{BUCKET}/inputs/lab.csv"

    loaded = scanner.load(url)
    assert loaded.folders == (url,)
    assert len(loaded.hosts) == lab_files.unique_targets + 2  # the round-robin name: 3 rows
    assert loaded.as_of == scanner.load(lab_scan.out).as_of
    assert sorted(loaded.hosts["input_line"]) == sorted(lab_scan.hosts["input_line"].to_pylist())

    summary = cli(["summary", url, "--format", "json"])
    assert summary.exit_code == 0, summary.output
    local_summary = cli(["summary", lab_scan.out, "--format", "json"])
    assert json.loads(summary.stdout)["counts"] == json.loads(local_summary.stdout)["counts"]

    # A parent "folder" of shard folders reads as one scan too.
    assert scanner.load(f"s3://{BUCKET}/scans").folders == (url,)

    report = cli(["report", url])
    assert report.exit_code == 0, report.output
    page = s3.cat(f"{BUCKET}/scans/lab/report.html").decode()
    assert page.lower().startswith("<!doctype html>") and "valid.lab.test" in page

    local_changes = tmp_path / "changes.parquet"
    assert cli(["diff", lab_scan.out, url, "--out", local_changes]).exit_code == 0
    diff = cli(["diff", lab_scan.out, url])
    assert diff.exit_code == 0, diff.output
    changes = read_table(s3, "scans/lab/changes.parquet")
    assert changes.to_pylist() == pq.read_table(local_changes).to_pylist()

    metrics = cli(["metrics", url])
    assert metrics.exit_code == 0 and "tls_scanner_certificate_trusted{" in metrics.stdout

    # A non-empty --out is refused the same way on object storage; --overwrite replaces it.
    again = cli(["scan", lab_files.csv, "--out", url, *scan_lab_args(browsers=True)])
    assert again.exit_code == 2 and "not empty" in again.output
    replaced = cli(
        ["scan", lab_files.csv, "--out", url, *scan_lab_args(browsers=True), "--overwrite"]
    )
    assert replaced.exit_code == 0, replaced.output
    # As on disk, --overwrite removes what a scan writes and nothing else.
    assert keys(s3, "scans/lab") == sorted([*FINAL, "changes.parquet", "report.html"])
    assert_loopback_only(network_audit, mark)


def test_without_fsspec_a_url_says_how_to_install_it(
    cli: Cli, lab_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec.core", None)  # as if not installed
    result = cli(["scan", lab_files.csv, "--out", "s3://bucket/x", "--quiet"])
    assert result.exit_code == 2
    assert "pip install 'tls-fleet-scanner[s3]'" in result.output


def test_missing_bucket_is_an_environment_error(
    s3: Any, cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]]
) -> None:
    out = "s3://no-such-bucket/x"
    result = cli(["scan", lab_files.csv, "--out", out, *scan_lab_args()])
    assert result.exit_code == 2
    assert "cannot write to s3://no-such-bucket/x" in result.output
    assert "no-such-bucket" not in s3.ls("")  # a scan does not create buckets
    assert cli(["summary", f"s3://{BUCKET}/nothing-here"]).exit_code == 2


# --- interrupted scans on object storage ---------------------------------------------------


def write_fleet(path: Path, lab: Lab, *, fast: int, slow: int) -> int:
    """`fast` names on the valid server, `slow` on the silent one (a timeout each)."""
    valid, silent = lab.scenario("valid"), lab.scenario("timeout")
    step = (fast + slow) // slow
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip", "owner"])
        for i in range(fast + slow):
            server = silent if i % step == 0 and i // step < slow else valid
            w.writerow([f"h{i:04d}.fleet.test", server.port, "127.0.0.1", f"team-{i % 3}"])
    return fast + slow


def fleet_args(inp: Path | str, out: Path | str, ca: Path, *extra: str) -> list[str]:
    return [
        "scan",
        str(inp),
        "--out",
        str(out),
        "--as-of",
        "2026-06-01T00:00:00+00:00",
        "--ca-bundle",
        str(ca),
        "--timeout",
        str(TIMEOUT),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def fleet(
    lab: Lab, lab_files: Any, cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, Path]:
    """A fleet and its uninterrupted scan on disk, the reference for the resumed ones."""
    folder = tmp_path_factory.mktemp("s3-fleet")
    inp = folder / "fleet.csv"
    targets = write_fleet(inp, lab, fast=120, slow=10)
    reference = folder / "reference"
    result = cli(fleet_args(inp, reference, lab_files.ca, "--concurrency", "20"))
    assert result.exit_code == 0, result.output
    return inp, targets, reference


def start_scan(args: list[str]) -> subprocess.Popen[bytes]:
    # The child inherits this module's AWS_* environment (the loopback endpoint).
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for_parts(fs: Any, prefix: str, proc: subprocess.Popen[bytes], n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(1 for k in keys(fs, prefix) if k.startswith(".parts/hosts-")) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("no checkpoint appeared")


def test_kill_9_then_resume_on_s3(
    s3: Any, cli: Cli, fleet: tuple[Path, int, Path], lab_files: Any
) -> None:
    inp, targets, reference = fleet
    url = f"s3://{BUCKET}/killed"
    proc = start_scan(
        fleet_args(inp, url, lab_files.ca, "--concurrency", "4", "--checkpoint-rows", "10")
    )
    wait_for_parts(s3, "killed", proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    left = keys(s3, "killed")
    assert "hosts.parquet" not in left and "scan.json" not in left  # checkpoints only
    parts = [k for k in left if k.startswith(".parts/hosts-")]
    recorded = sum(read_table(s3, f"killed/{k}").num_rows for k in parts)
    assert 0 < recorded < targets

    result = cli(fleet_args(inp, url, lab_files.ca, "--concurrency", "20", "--resume"))
    assert result.exit_code == 0, result.output
    assert keys(s3, "killed") == FINAL
    hosts = read_table(s3, "killed/hosts.parquet")
    lines = hosts.column("input_line").to_pylist()
    assert len(lines) == len(set(lines)) == targets
    assert s3_tables(s3, "killed") == local_tables(reference)


def test_sigterm_then_resume_on_s3(
    s3: Any, cli: Cli, fleet: tuple[Path, int, Path], lab_files: Any
) -> None:
    """An interrupted scan writes its tables (and no parts); --resume copies them back into a
    checkpoint and finishes: nothing lost, nothing doubled."""
    inp, targets, reference = fleet
    url = f"s3://{BUCKET}/stopped"
    proc = start_scan(
        fleet_args(inp, url, lab_files.ca, "--concurrency", "2", "--checkpoint-rows", "10")
    )
    wait_for_parts(s3, "stopped", proc, 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    assert keys(s3, "stopped") == FINAL
    assert json.loads(s3.cat(f"{BUCKET}/stopped/scan.json"))["interrupted"] is True
    partial = read_table(s3, "stopped/hosts.parquet").num_rows
    assert 0 < partial < targets

    result = cli(fleet_args(inp, url, lab_files.ca, "--concurrency", "20", "--resume"))
    assert result.exit_code == 0, result.output
    assert json.loads(s3.cat(f"{BUCKET}/stopped/scan.json"))["interrupted"] is False
    assert s3_tables(s3, "stopped") == local_tables(reference)


def test_recovery_after_a_kill_between_merge_and_cleanup(
    s3: Any, cli: Cli, fleet: tuple[Path, int, Path], lab_files: Any
) -> None:
    """The folder states a kill can leave around a merge on object storage: final tables with
    all their checkpoints still there (the merge was not cleaned up), and final tables with
    some checkpoints already deleted. Each resumes to the uninterrupted tables."""
    from scanner.store import parts
    from scanner.store.location import Location

    inp, targets, reference = fleet
    url = f"s3://{BUCKET}/merged"
    proc = start_scan(
        fleet_args(inp, url, lab_files.ca, "--concurrency", "4", "--checkpoint-rows", "10")
    )
    wait_for_parts(s3, "merged", proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    folder = f"{BUCKET}/merged/.parts"
    saved = {k: s3.cat(k) for k in s3.find(folder)}
    extra_names = ["owner"]  # the fleet's carried column
    parts.merge(Location.of(url), extra_names)  # finals written, parts deleted
    assert keys(s3, "merged") == [".scan-state.json", *(f"{n}.parquet" for n in sorted(TABLES))]
    recorded = set(read_table(s3, "merged/hosts.parquet").column("input_line").to_pylist())
    assert 0 < len(recorded) < targets
    # State 1: every checkpoint back beside the finals (a kill before the cleanup).
    for key, data in saved.items():
        s3.pipe(key, data)
    rec = parts.recover(Location.of(url))
    assert not any(s3.exists(f"{BUCKET}/merged/{n}.parquet") for n in TABLES)
    assert rec.lines == recorded
    # State 2: the finals, and only some checkpoints left (a kill during the cleanup).
    parts.merge(Location.of(url), extra_names)
    first = sorted(saved)[:3]
    for key in first:
        s3.pipe(key, saved[key])
    rec = parts.recover(Location.of(url))
    assert rec.lines == recorded
    assert not any(s3.exists(f"{BUCKET}/merged/{n}.parquet") for n in TABLES)
    assert keys(s3, "merged/.parts") == [
        "certificates-000001.parquet",
        "findings-000001.parquet",
        "hosts-000001.parquet",
    ]
    result = cli(fleet_args(inp, url, lab_files.ca, "--concurrency", "20", "--resume"))
    assert result.exit_code == 0, result.output
    assert s3_tables(s3, "merged") == local_tables(reference)
    assert targets == read_table(s3, "merged/hosts.parquet").num_rows
