"""`scan --dask`: a LocalCluster with 2 worker processes scans the lab into a local folder and
into the S3 server on loopback; a worker killed mid-scan loses nothing (its shard is run again
and resumes), and the tables equal an uninterrupted scan's."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

import scanner
from scanner.testing.lab import Lab
from tests.conftest import FIXED

Cli = Callable[[Sequence[Any]], Result]
BUCKET = "fleet-scans"
# Fresh worker processes on a loaded machine can take longer than the lab's 1.5 s for a first
# handshake; a longer deadline (the last --timeout given wins) keeps their rows those of the
# reference scan. Only the silent server costs it in full.
SLACK = ["--timeout", "6", "--aia-timeout", "4"]


@pytest.fixture(scope="module")
def cluster(s3: Any) -> Iterator[Any]:
    """A scheduler here and 2 worker processes (started after the S3 environment is set, so
    they inherit it)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as running,
        Client(running) as client,
    ):
        yield client


def comparable(hosts: pa.Table, findings: pa.Table, certs: pa.Table) -> dict[str, Any]:
    """Tables in a canonical order, without `scanned_at` and error details (elapsed times);
    certificates once each (each shard lists those it saw)."""
    certs = certs.sort_by("sha256").to_pylist()
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
        "certificates": list({c["sha256"]: c for c in certs}.values()),
    }


def shard_tables(paths: Sequence[str], filesystem: Any = None) -> dict[str, Any]:
    """The shard folders' tables read as one dataset each."""
    return comparable(
        *(
            ds.dataset(
                [f"{p}/{name}.parquet" for p in paths], format="parquet", filesystem=filesystem
            ).to_table()
            for name in ("hosts", "findings", "certificates")
        )
    )


def folder_tables(out: Path) -> dict[str, Any]:
    return comparable(
        *(pq.read_table(out / f"{n}.parquet") for n in ("hosts", "findings", "certificates"))
    )


def test_dask_local_cluster_scans_the_lab_into_a_folder(
    cli: Cli,
    lab_files: Any,
    lab_scan: Any,
    scan_lab_args: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    out = tmp_path / "dask"
    result = cli(
        [
            *("scan", lab_files.csv, "--out", out, *scan_lab_args(browsers=True), *SLACK),
            *("--dask", "local", "--shards", "2"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "shard-1-of-2", "shard-2-of-2"]
    shards = [str(out / "shard-1-of-2"), str(out / "shard-2-of-2")]
    assert shard_tables(shards) == folder_tables(lab_scan.out)
    for shard, k in zip(shards, (1, 2), strict=True):
        meta = json.loads(Path(shard, "scan.json").read_text())
        assert meta["options"]["shard"] == f"{k}/2"
    assert "ERROR" not in result.output
    loaded = scanner.load(out)
    assert len(loaded.hosts) == lab_files.unique_targets + 2  # the round-robin name: 3 rows


def test_a_quiet_dask_scan_prints_each_warning_once(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """Three years on every lab certificate has expired: each shard's own clock check fires,
    worded with its own counts. The scan says it once, over every shard's hosts; the input's
    duplicate-row warnings (each shard reads the whole input) once too. With --quiet nothing
    else: no `Wrote report.html`, no log line of the LocalCluster's."""
    from scanner.analysis.summary import skew_counts

    out = tmp_path / "later"
    later = scan_lab_args(as_of=FIXED + dt.timedelta(days=3 * 365))
    assert "--quiet" in later
    result = cli(
        ["scan", lab_files.csv, "--out", out, *later, *SLACK, "--dask", "local", "--shards", "3"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [x for x in lines if not x.startswith("warning: ")] == [], result.stderr
    assert len(lines) == len(set(lines)), result.stderr
    clock = [x for x in lines if "check the scanning machine's clock" in x]
    whole = skew_counts(scanner.load(out).hosts)
    assert whole.total > 3 * 5  # each shard has enough hosts for its own check to fire
    assert clock == [clock[0]] and f" {whole.expired} of {whole.total} hosts " in clock[0]
    assert len([x for x in lines if "duplicate row(s) of a target" in x]) == 1
    assert (out / "report.html").is_file()


def test_dask_usage_errors(cli: Cli, lab_files: Any, tmp_path: Path) -> None:
    """Refused before anything is scanned or written."""
    out = tmp_path / "x"
    no_shards = cli(["scan", lab_files.csv, "--out", out, "--dask", "local", "--quiet"])
    assert no_shards.exit_code == 2 and "--shards" in no_shards.output
    both = cli(
        ["scan", lab_files.csv, "--out", out, "--dask", "local", "--shards", "2", "--shard", "1/2"]
    )
    assert both.exit_code == 2
    alone = cli(["scan", lab_files.csv, "--out", out, "--shards", "2"])
    assert alone.exit_code == 2 and "--dask" in alone.output
    assert not out.exists()


def test_without_dask_the_option_says_how_to_install_it(
    cli: Cli, lab_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    out = tmp_path / "x"
    result = cli(["scan", lab_files.csv, "--out", out, "--dask", "local", "--shards", "2"])
    assert result.exit_code == 2
    assert "pip install 'tls-fleet-scanner[dask]'" in result.output
    assert not out.exists()


def test_dask_cluster_scans_the_lab_into_s3(
    s3: Any,
    cluster: Any,
    cli: Cli,
    lab_files: Any,
    lab_scan: Any,
    scan_lab_args: Callable[..., list[str]],
) -> None:
    address = cluster.scheduler.address
    url = f"s3://{BUCKET}/dask-lab"
    result = cli(
        [
            *("scan", lab_files.csv, "--out", url, *scan_lab_args(browsers=True), *SLACK),
            *("--dask", address, "--shards", "3"),
        ]
    )
    assert result.exit_code == 0, result.output
    listed = sorted(k.rsplit("/", 1)[-1] for k in s3.ls(f"{BUCKET}/dask-lab"))
    assert listed == ["report.html", "shard-1-of-3", "shard-2-of-3", "shard-3-of-3"]
    shards = [f"{BUCKET}/dask-lab/shard-{k}-of-3" for k in (1, 2, 3)]
    assert shard_tables(shards, filesystem=s3) == folder_tables(lab_scan.out)
    loaded = scanner.load(url)
    assert len(loaded.hosts) == lab_files.unique_targets + 2  # the round-robin name: 3 rows
    # --fail-on over all shards: the lab has critical findings.
    again = cli(
        [
            "scan",
            lab_files.csv,
            "--out",
            f"{url}-2",
            *scan_lab_args(),
            "--dask",
            address,
            "--shards",
            "2",
            "--fail-on",
            "critical",
        ]
    )
    assert again.exit_code == 1, again.output


# --- a worker killed mid-scan -----------------------------------------------------------


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


def fleet_args(inp: Path, out: Path, ca: Path, *extra: str) -> list[str]:
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
        "4",
        *extra,
    ]


def test_a_worker_killed_mid_scan_loses_nothing(
    cluster: Any, cli: Cli, lab: Lab, lab_files: Any, tmp_path: Path
) -> None:
    inp = tmp_path / "fleet.csv"
    targets = write_fleet(inp, lab, fast=100, slow=8)
    reference = tmp_path / "reference"
    done = cli(fleet_args(inp, reference, lab_files.ca, "--concurrency", "20", "--quiet"))
    assert done.exit_code == 0, done.output

    out = tmp_path / "killed"
    args = fleet_args(inp, out, lab_files.ca, "--concurrency", "2", "--checkpoint-rows", "5")
    args += ["--dask", cluster.scheduler.address, "--shards", "2", "--progress-every", "0.5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    parts = out / "shard-1-of-2" / ".parts"
    deadline = time.monotonic() + 120
    while len(list(parts.glob("hosts-*.parquet")) if parts.is_dir() else []) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    running = {
        worker: key
        for worker, keys in cluster.processing().items()
        for key in keys
        if str(key).startswith("scan-shard-1-of-2")
    }
    assert len(running) == 1, cluster.processing()
    (worker,) = running
    pid = cluster.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr.decode()
    log = stderr.decode()
    assert "shard 1/2 done" in log and "shard 2/2 done" in log
    assert "progress:" in log
    # Said once, as the shard starts again: which shard, that its worker died, the retry.
    retried = [x for x in log.splitlines() if x.startswith("warning: shard 1/2:")]
    assert len(retried) == 1, log
    assert "the worker running it died (attempt 1)" in retried[0]
    assert "running it again (attempt 2), resuming from its checkpoints" in retried[0]
    assert "shard 2/2:" not in log.replace("shard 2/2 done", "")
    etas = re.findall(r"^progress: .* ETA (\S+)$", log, re.MULTILINE)
    assert len(set(etas)) > 2, log  # the ETA moves as the shards report

    shards = [str(out / "shard-1-of-2"), str(out / "shard-2-of-2")]
    hosts = ds.dataset([f"{s}/hosts.parquet" for s in shards]).to_table()
    lines = hosts.column("input_line").to_pylist()
    assert len(lines) == len(set(lines)) == targets
    assert shard_tables(shards) == folder_tables(reference)
