"""Shared fixtures: the lab (real TLS servers on 127.0.0.1 with certificates dated from a fixed
instant), one scan of the whole lab through the CLI, and a record of where sockets went."""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from scanner.cli.app import app
from scanner.testing.lab import Lab

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
LAB_TIMEOUT = 1.5  # per host; the lab's silent server costs exactly this much per scan


# --- where sockets go ---------------------------------------------------------------------


class NetworkAudit:
    """Every socket connect/sendto/getaddrinfo of this process (CPython audit events), so
    tests can insist that nothing but loopback is ever contacted and no name is looked up
    by the system resolver."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            self.events.append((event, args[1]))
        elif event == "socket.getaddrinfo":
            self.events.append((event, args[0]))

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[tuple[str, Any]]:
        return self.events[mark:]

    @staticmethod
    def is_local(address: Any, allowed: Sequence[str] = ()) -> bool:
        """A (host, port, ...) socket address on loopback, or one of `allowed`."""
        if not isinstance(address, tuple) or not address:
            return True  # AF_UNIX paths and the like: not the network
        host = str(address[0]).split("%", 1)[0]
        return host in allowed or ipaddress.ip_address(host).is_loopback

    @staticmethod
    def is_numeric(host: Any) -> bool:
        """A getaddrinfo host that needs no resolver (an IP literal, or none)."""
        if host is None:
            return True
        text = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return False
        return True


_AUDIT = NetworkAudit()
sys.addaudithook(_AUDIT.hook)  # audit hooks cannot be removed; this one only appends


@pytest.fixture(scope="session")
def network_audit() -> NetworkAudit:
    return _AUDIT


# --- the CLI ------------------------------------------------------------------------------


def invoke(args: Sequence[str]) -> Result:
    """`scanner ARGS` in-process; exceptions other than exits propagate (they are bugs)."""
    runner = CliRunner(env={"COLUMNS": "200"})  # help text unabridged
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def scan_args(inp: Path, out: Path, as_of: str, ca: Path) -> list[str]:
    """What most scans start with: the input, the output folder, the instant, the trust store."""
    return [str(inp), "--out", str(out), "--as-of", as_of, "--ca-bundle", str(ca)]


@pytest.fixture(scope="session")
def cli() -> Callable[[Sequence[str]], Result]:
    return invoke


# --- the CLI in a child process -------------------------------------------------------------


class Child:
    """`python -m scanner ARGS` with stderr read line by line as it comes, time-stamped."""

    def __init__(self, args: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern: str, limit: float = 120) -> float:
        """When the first line matching `pattern` came; kills the child if none by `limit` s."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for when, line in list(self.lines):
                if re.search(pattern, line):
                    return when
            time.sleep(0.02)
        self.proc.kill()
        self.finish()
        raise AssertionError(f"no {pattern!r} in {self.lines}")

    def finish(self) -> int:
        code = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


# --- the lab ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fixed() -> dt.datetime:
    return FIXED


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with Lab.start(as_of=FIXED, timeout=LAB_TIMEOUT) as running:
        yield running


@dataclass(frozen=True)
class LabFiles:
    csv: Path  # the lab's rows (two invalid at the end) plus one duplicate row
    ca: Path  # the lab root CA, the trust store of every lab scan
    rows: list[dict[str, str]]  # rows as written, the duplicate included
    unique_targets: int


DUPLICATE_OF = "valid"


@pytest.fixture(scope="session")
def lab_files(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    folder = tmp_path_factory.mktemp("lab-inputs")
    csv_path, ca_path = lab.write_inputs(folder)
    rows = lab.rows()
    # The valid host again, written differently: the same target, scanned and reported once.
    original = next(r for r in rows if r["scenario"] == DUPLICATE_OF)
    duplicate = {**original, "host": original["host"].upper() + ".", "scenario": "duplicate"}
    with open(csv_path, "a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=list(original)).writerow(duplicate)
    return LabFiles(csv=csv_path, ca=ca_path, rows=[*rows, duplicate], unique_targets=len(rows))


def lab_scan_args(
    lab: Lab, ca: Path, *, as_of: dt.datetime = FIXED, browsers: bool = False
) -> list[str]:
    """Options for scanning lab hosts: fixed instant, lab CA, lab DNS, short timeout, protocol
    probes and the lab's second trust store (written beside the CA); `browsers`: its root
    programs and CT log list too (every lab leaf is logged; a leaf a test mints is not)."""
    host, port = lab.dns_address
    stores = [f"--trust-store={name}={path}" for name, path in lab.write_stores(ca.parent)]
    programs, log_list = lab.write_programs(ca.parent)
    judged = [f"--root-program={name}={path}" for name, path in programs] if browsers else []
    return [
        "--protocols",
        *stores,
        *judged,
        *([f"--ct-logs={log_list}"] if browsers else []),
        "--as-of",
        as_of.isoformat(),
        "--ca-bundle",
        str(ca),
        "--nameserver",
        f"{host}:{port}",
        "--timeout",
        str(LAB_TIMEOUT),
        "--aia-timeout",
        "2",
        "--allow-private-fetch",  # the lab's AIA and CRL servers are on loopback
        "--addresses",
        "all",  # the lab's round-robin name is scanned on each of its addresses
        "--quiet",
    ]


@pytest.fixture(scope="session")
def scan_lab_args(lab: Lab, lab_files: LabFiles) -> Callable[..., list[str]]:
    def make(*, as_of: dt.datetime = FIXED, browsers: bool = False) -> list[str]:
        return lab_scan_args(lab, lab_files.ca, as_of=as_of, browsers=browsers)

    return make


@dataclass(frozen=True)
class LabScan:
    out: Path
    result: Result
    hosts: pa.Table
    findings: pa.Table
    certificates: pa.Table
    network: list[tuple[str, Any]]  # socket events during the scan

    def by_scenario(self) -> dict[str, dict[str, Any]]:
        """The row of each scenario (the first, for a name scanned on several addresses)."""
        rows = sorted(self.hosts.to_pylist(), key=lambda r: r["connected_ip"] or "")
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            out.setdefault(r["scenario"], r)
        assert len(out) == len(rows) - sum(len(self.rows_of(name)) - 1 for name in out), (
            "one row per scenario and address"
        )
        return out

    def rows_of(self, scenario: str) -> list[dict[str, Any]]:
        """Every row of a scenario, by address."""
        rows = [r for r in self.hosts.to_pylist() if r["scenario"] == scenario]
        return sorted(rows, key=lambda r: r["connected_ip"] or "")

    def findings_of(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [f for f in self.findings.to_pylist() if f["input_line"] == row["input_line"]]


@pytest.fixture(scope="session")
def lab_scan(lab: Lab, lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory) -> LabScan:
    """One scan of the whole lab through the CLI; many tests read its output folder."""
    out = tmp_path_factory.mktemp("lab-scan") / "out"
    mark = _AUDIT.mark()
    args = lab_scan_args(lab, lab_files.ca, browsers=True)
    result = invoke(["scan", lab_files.csv, "--out", out, *args])
    network = _AUDIT.since(mark)
    assert result.exit_code == 0, result.output
    return LabScan(
        out=out,
        result=result,
        hosts=pq.read_table(out / "hosts.parquet"),
        findings=pq.read_table(out / "findings.parquet"),
        certificates=pq.read_table(out / "certificates.parquet"),
        network=network,
    )
