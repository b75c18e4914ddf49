"""Failures of the environment met inside a scan's task groups (the input gone between its two
readings, object storage unreachable or without credentials, a --dask address that cannot
work) end as one `error:` line and exit 2, never an ExceptionGroup traceback with exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.errors import InputError, ScannerError
from scanner.run.options import ScanOptions
from scanner.run.runner import run_scan
from scanner.testing.lab import Lab

FIXED_AS_OF = "2026-06-01T00:00:00+00:00"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def fleet(tmp_path: Path, lab: Lab) -> Path:
    valid = lab.scenario("valid")
    path = tmp_path / "hosts.csv"
    rows = [f"h{i}.fleet.test,{valid.port},127.0.0.1" for i in range(6)]
    path.write_text("host,port,ip\n" + "\n".join(rows) + "\n")
    return path


def options(inp: Path, out: Path, ca: Path) -> ScanOptions:
    import datetime as dt

    return ScanOptions(
        input=inp,
        out=out,
        as_of=dt.datetime.fromisoformat(FIXED_AS_OF),
        ca_bundle=ca,
        timeout=2.0,
        allow_private_fetch=True,
    )


def test_input_that_vanishes_between_the_readings_is_named(
    fleet: Path, tmp_path: Path, lab_files: Any
) -> None:
    def vanish(done: int, total: int, failed: int) -> None:
        fleet.unlink(missing_ok=True)  # first called after the first reading, before the second

    with pytest.raises(InputError) as raised:
        run_scan(options(fleet, tmp_path / "out", lab_files.ca), vanish)
    message = str(raised.value)
    assert str(fleet) in message and "vanished" in message
    assert "writing to" not in message


def test_input_that_changes_between_the_readings_is_named(
    fleet: Path, tmp_path: Path, lab_files: Any
) -> None:
    def shorten(done: int, total: int, failed: int) -> None:
        if done == 0 and fleet.read_text().count("\n") > 3:
            fleet.write_text("host,port,ip\nonly.fleet.test,443,127.0.0.1\n")

    with pytest.raises(InputError) as raised:
        run_scan(options(fleet, tmp_path / "out", lab_files.ca), shorten)
    assert "changed" in str(raised.value) and "writing to" not in str(raised.value)


@pytest.fixture
def no_store() -> Iterator[dict[str, str]]:
    """An S3 environment whose endpoint is a closed loopback port (nothing leaves the
    machine)."""
    yield {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }


def test_object_storage_down_is_one_error_line(
    no_store: dict[str, str], lab_files: Any, scan_lab_args: Any
) -> None:
    url = "s3://fleet-scans/nightly"
    line = one_error_line(
        run(["scan", str(lab_files.csv), "--out", url, *scan_lab_args()], no_store)
    )
    assert url in line
    for command in (["summary", url], ["report", url, "--out", "/dev/null"]):
        line = one_error_line(run(command, no_store))
        assert url in line, command
    with pytest.raises(ScannerError):
        _load_in(no_store, url)


def _load_in(env: dict[str, str], url: str) -> None:
    """`scanner.load` in a process with `env`: raises the ScannerError it raised there."""
    code = (
        "import scanner, sys\n"
        "from scanner.errors import ScannerError\n"
        "try:\n"
        f"    scanner.load({url!r})\n"
        "except ScannerError as e:\n"
        "    print(type(e).__name__, e); sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **env},
    )
    if proc.returncode == 3:
        raise ScannerError(proc.stdout)
    raise AssertionError(proc.stderr)


def test_object_storage_without_credentials_is_one_error_line(
    no_store: dict[str, str], lab_files: Any, scan_lab_args: Any
) -> None:
    env = {**no_store, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    url = "s3://fleet-scans/nightly"
    line = one_error_line(run(["scan", str(lab_files.csv), "--out", url, *scan_lab_args()], env))
    assert url in line


@pytest.mark.parametrize("scheme", ["tcp", "http"])
def test_dask_address_that_cannot_work_fails_at_once(
    scheme: str, lab_files: Any, scan_lab_args: Any, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    address = f"{scheme}://127.0.0.1:{closed_port()}"
    args = ["scan", str(lab_files.csv), "--out", str(tmp_path / "out"), *scan_lab_args()]
    line = one_error_line(run([*args, "--dask", address, "--shards", "2"]))
    assert address in line
    # Refused by a check before the client is made, not after the client's 30 s timeout.
    assert ("cannot reach the scheduler" if scheme == "tcp" else "not a scheduler address") in line
