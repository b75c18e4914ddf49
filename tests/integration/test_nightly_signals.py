"""What a nightly job meets around the scan itself: an unwritable --metrics path refused before
the first connection, signals at the edges of a scan (during the scan, twice, and just after
the tables are written), a checkpoint on the clock while no host finishes, and scan.json's
paths all absolute. Real scans of the lab's loopback servers."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from typer.testing import Result

from scanner.testing.lab import Lab
from tests.conftest import Child, scan_args

AS_OF = "2026-06-01T00:00:00+00:00"


def established_to(port: int) -> int:
    """Established TCP connections whose local end is 127.0.0.1:`port` (the server's side),
    from the kernel's table (Linux)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for line in lines
        if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "01"
    )


def write_rows(path: Path, lab: Lab, scenarios: Sequence[str]) -> Path:
    rows = []
    for i, name in enumerate(scenarios):
        s = lab.scenario(name)
        rows.append(f"{name}{i}.fleet.test,{s.port},127.0.0.1")
    path.write_text("host,port,ip\n" + "\n".join(rows) + "\n")
    return path


def test_unwritable_metrics_path_is_refused_before_scanning(
    tmp_path: Path, lab: Lab, lab_files: Any, cli: Any
) -> None:
    inp = write_rows(tmp_path / "hosts.csv", lab, ["valid"])
    out = tmp_path / "out"
    for metrics in (tmp_path / "missing" / "tls.prom", tmp_path):
        result: Result = cli(
            [
                "scan",
                *scan_args(inp, out, AS_OF, lab_files.ca),
                "--quiet",
                "--metrics",
                metrics,
            ]
        )
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --metrics"), result.stderr
        assert not out.exists()  # nothing scanned, nothing written


def test_sigterm_twice_says_what_it_does_and_names_the_abandoned_hosts(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    inp = write_rows(tmp_path / "silent.csv", lab, ["timeout"] * 8)
    out = tmp_path / "out"
    child = Child(
        [
            "scan",
            *scan_args(inp, out, AS_OF, lab_files.ca),
            "--timeout",
            "60",
            "--concurrency",
            "3",
            "--progress-every",
            "0.2",
        ]
    )
    child.wait_for(r"^progress: 0/8")
    # The first signal must find the three hosts in flight: wait until the silent server holds
    # their connections (a progress line can come before the workers have connected).
    silent = lab.scenario("timeout").port
    deadline = time.monotonic() + 60
    while established_to(silent) < 3:
        assert time.monotonic() < deadline, "the three hosts never connected"
        time.sleep(0.05)
    child.proc.send_signal(signal.SIGTERM)
    child.wait_for(r"interrupted: no new host")
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 130, child.text
    first = next(line for _, line in child.lines if "interrupted: no new host" in line)
    assert "Ctrl-C again" not in first and "SIGTERM again" in first, first
    second = next(line for _, line in child.lines if "abandoned" in line)
    assert "abandoned 3 host(s)" in second, second
    assert re.search(r"timeout\d\.fleet\.test", second), second
    assert json.loads((out / "scan.json").read_text())["interrupted"] is True


def test_sigterm_just_after_the_tables_are_written_ends_consistently(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    """The signal arrives while the parts are merged into the tables (the scan is complete):
    the scan ends normally, and scan.json says it was not interrupted. It used to die with
    143 and `interrupted: false`."""
    inp = write_rows(tmp_path / "hosts.csv", lab, ["valid", "expired"])
    out = tmp_path / "out"
    args = ["scan", str(inp), "--out", str(out), "--as-of", AS_OF, "--ca-bundle", str(lab_files.ca)]
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from scanner.store import parts

        merge = parts.merge

        def merge_then_signal(*args, **kwargs):
            tables = merge(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # just after the tables are written
            return tables

        parts.merge = merge_then_signal
        sys.argv = ["scanner", *{[*args, "--quiet"]!r}]
        from scanner.cli.main import main
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "SIGTERM: every host is done" in proc.stderr
    meta = json.loads((out / "scan.json").read_text())
    assert meta["interrupted"] is False and meta["counts"]["targets"] == 2


def test_checkpoint_fires_on_the_clock_while_no_host_finishes(
    tmp_path: Path, lab: Lab, lab_files: Any
) -> None:
    """One host answers at once, the other is silent until --timeout: the first one's row is
    checkpointed while the second is still in flight, not only when a result arrives."""
    import datetime as dt

    from scanner.run.options import ScanOptions
    from scanner.run.runner import run_scan

    inp = write_rows(tmp_path / "hosts.csv", lab, ["valid", "timeout"])
    out = tmp_path / "out"
    options = ScanOptions(
        input=inp,
        out=out,
        as_of=dt.datetime.fromisoformat(AS_OF),
        ca_bundle=lab_files.ca,
        timeout=30.0,
        concurrency=2,
        checkpoint_seconds=0.2,
    )
    worker = threading.Thread(target=run_scan, args=(options,), daemon=True)
    worker.start()
    parts = out / ".parts"
    seen: list[int] = []
    while worker.is_alive() and not seen:
        found = sorted(parts.glob("hosts-*.parquet")) if parts.exists() else []
        seen = [pq.read_metadata(p).num_rows for p in found]
        time.sleep(0.05)
    assert seen == [1] and worker.is_alive()  # the valid host, while the silent one waits
    worker.join(timeout=120)
    meta = json.loads((out / "scan.json").read_text())
    assert meta["counts"]["targets"] == 2


def test_scan_json_paths_are_absolute(
    tmp_path: Path, lab: Lab, lab_files: Any, cli: Any, monkeypatch: Any
) -> None:
    inp = write_rows(tmp_path / "hosts.csv", lab, ["valid"])
    (tmp_path / "ca.pem").write_bytes(lab_files.ca.read_bytes())
    monkeypatch.chdir(tmp_path)
    result = cli(
        ["scan", inp.name, "--out", "out", "--as-of", AS_OF, "--ca-bundle", "ca.pem", "--quiet"]
        + ["--trust-store", "second=ca.pem"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "scan.json").read_text())
    paths = [s["path"] for s in meta["trust_stores"]]
    assert paths == [str(tmp_path / "ca.pem")] * 2
    assert meta["trust_store"]["path"] == str(tmp_path / "ca.pem")
    assert meta["input"] == str(tmp_path / "hosts.csv")
