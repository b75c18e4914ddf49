"""Running out of file descriptors is this machine's failure, never a host's: a scan raises its
soft `ulimit -n` toward the hard limit, refuses a --concurrency that cannot fit, and stops with
one error line (never `unreachable` or `tls` rows) when descriptors run out anyway. Real scans
of the lab's loopback servers in subprocesses with a low RLIMIT_NOFILE."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from scanner.testing.lab import Lab
from tests.conftest import scan_args

AS_OF = "2026-06-01T00:00:00+00:00"
HOSTS = 150
SILENT = 100
LOW = 64  # the soft limit the scans start with


def limit(soft: int, hard: int | None = None) -> Callable[[], None]:
    def apply() -> None:
        _, current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return apply


def fleet(tmp_path: Path, lab: Lab) -> Path:
    """SILENT hosts on the lab's silent server first (each holds its socket until --timeout),
    then valid ones: all in flight at once, more sockets than the starting soft limit."""
    valid, silent = lab.scenario("valid"), lab.scenario("timeout")
    path = tmp_path / "fleet.csv"
    rows = [
        f"h{i:03d}.fleet.test,{(silent if i < SILENT else valid).port},127.0.0.1"
        for i in range(HOSTS)
    ]
    path.write_text("host,port,ip\n" + "\n".join(rows) + "\n")
    return path


def scan(args: list[str], preexec: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", "scan", *args],
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=preexec,
    )


def common(inp: Path, out: Path, ca: Path) -> list[str]:
    return [
        *scan_args(inp, out, AS_OF, ca),
        "--timeout",
        "6",
        "--allow-private-fetch",
        "--quiet",
        "--concurrency",
        str(HOSTS),
    ]


def test_soft_limit_is_raised_so_every_host_is_scanned(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * HOSTS + 200:
        pytest.skip(f"the hard limit on open files here ({hard}) is too low for this test")
    out = tmp_path / "out"
    proc = scan(common(fleet(tmp_path, lab), out, lab_files.ca), limit(LOW))
    assert proc.returncode == 0, proc.stderr
    hosts = pq.read_table(out / "hosts.parquet")
    assert hosts.num_rows == HOSTS
    errors = hosts.column("error").to_pylist()
    details = set(hosts.column("error_detail").to_pylist())
    assert errors.count("timeout") == SILENT and errors.count(None) == HOSTS - SILENT, details


def test_concurrency_that_cannot_fit_is_refused_before_scanning(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    out = tmp_path / "out"
    proc = scan(common(fleet(tmp_path, lab), out, lab_files.ca), limit(LOW, LOW))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert f"--concurrency {HOSTS}" in lines[0] and "ulimit -n" in lines[0]
    assert not out.exists()


def test_descriptors_running_out_mid_scan_stop_it_instead_of_failing_hosts(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    """The limit fits the concurrency, but something else holds the descriptors: the scan
    stops with a ScannerError, and no host is recorded as failed for it."""
    valid = lab.scenario("valid")
    code = textwrap.dedent(
        f"""
        import os, sys
        import scanner
        from scanner.errors import ResourceError
        import scanner.run.pipeline  # everything the scan imports, before the limit bites

        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        for fd in held[-6:]:  # room for the event loop and the trust store, not for hosts
            os.close(fd)
        rows = [{{"host": f"h{{i}}.fleet.test", "port": {valid.port}, "ip": "127.0.0.1"}}
                for i in range(20)]
        try:
            tables = scanner.scan(rows, as_of={AS_OF!r}, ca_bundle={str(lab_files.ca)!r},
                                  concurrency=4, timeout=20, allow_private_fetch=True)
        except ResourceError as e:
            print("stopped:", e)
            sys.exit(3)
        print(tables.hosts[["error", "error_detail"]].to_string())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=limit(200, 200),
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Too many open files" in proc.stdout and "--concurrency" in proc.stdout
