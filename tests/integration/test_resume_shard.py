"""Interrupted scans lose nothing (kill -9 and SIGTERM, then --resume), shards split a fleet
exactly, and --per-ip caps connections to one address. Real scans of lab servers."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.errors import UsageError
from scanner.inputs.targets import Shard
from scanner.testing.lab import Lab, _Loop

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
AS_OF_TEXT = AS_OF.isoformat()
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab.start(as_of=AS_OF, timeout=TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def ca(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(lab.ca_pem)
    return path


def write_fleet(path: Path, lab: Lab, *, fast: int, slow: int) -> int:
    """`fast` names on the valid server, `slow` on the silent one (each costs a timeout),
    interleaved, plus one invalid row. Returns the number of targets."""
    valid, silent = lab.scenario("valid"), lab.scenario("timeout")
    rows = []
    step = (fast + slow) // slow if slow else 0
    for i in range(fast + slow):
        server = silent if slow and i % step == 0 and i // step < slow else valid
        rows.append(
            {
                "host": f"h{i:04d}.fleet.test",
                "port": server.port,
                "ip": "127.0.0.1",
                "owner": f"team-{i % 3}",
            }
        )
    rows.append({"host": "not a host", "port": 443, "ip": "", "owner": "team-0"})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "owner"])
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def scan_args(inp: Path, out: Path, ca: Path, *extra: str) -> list[str]:
    return [
        "scan",
        str(inp),
        "--out",
        str(out),
        "--as-of",
        AS_OF_TEXT,
        "--ca-bundle",
        str(ca),
        "--timeout",
        str(TIMEOUT),
        "--allow-private-fetch",
        "--quiet",
        *extra,
    ]


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def start_subprocess(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_checkpoints(out: Path, proc: subprocess.Popen[bytes], n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        hosts_parts = list((out / ".parts").glob("hosts-*.parquet")) if out.exists() else []
        if len(hosts_parts) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no checkpoint appeared")


def comparable(out: Path) -> dict[str, list[dict[str, Any]]]:
    """The three tables in a canonical order, without the per-run `scanned_at`."""
    hosts = pq.read_table(out / "hosts.parquet").drop(["scanned_at"]).sort_by("input_line")
    findings = pq.read_table(out / "findings.parquet").sort_by(
        [("input_line", "ascending"), ("code", "ascending"), ("message", "ascending")]
    )
    certs = pq.read_table(out / "certificates.parquet").sort_by("sha256")
    return {
        "hosts": hosts.to_pylist(),
        "findings": findings.to_pylist(),
        "certificates": certs.to_pylist(),
    }


@pytest.fixture(scope="module")
def fleet(lab: Lab, ca: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Path]:
    """A fleet and its uninterrupted scan, the reference for resumed ones."""
    folder = tmp_path_factory.mktemp("fleet")
    inp = folder / "fleet.csv"
    targets = write_fleet(inp, lab, fast=150, slow=12)
    reference = folder / "reference"
    result = run_cli(*scan_args(inp, reference, ca, "--concurrency", "20"))
    assert result.exit_code == 0, result.output
    return inp, targets, reference


def test_reference_scan_is_whole(fleet: tuple[Path, int, Path]) -> None:
    _, targets, reference = fleet
    hosts = pq.read_table(reference / "hosts.parquet")
    assert hosts.num_rows == targets
    errors = hosts.column("error").to_pylist()
    assert errors.count("timeout") == 12 and errors.count("invalid_input") == 1
    assert not (reference / ".parts").exists()
    assert not list(reference.glob(".*.partial"))


def test_kill_9_then_resume_gives_the_uninterrupted_tables(
    fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path
) -> None:
    inp, targets, reference = fleet
    out = tmp_path / "killed"
    proc = start_subprocess(
        scan_args(inp, out, ca, "--concurrency", "4", "--checkpoint-rows", "10")
    )
    wait_for_checkpoints(out, proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "hosts.parquet").exists()  # nothing final, only checkpoints
    recorded = sum(pq.read_metadata(p).num_rows for p in (out / ".parts").glob("hosts-*.parquet"))
    assert 0 < recorded < targets

    result = run_cli(*scan_args(inp, out, ca, "--concurrency", "20", "--resume"))
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet")
    lines = hosts.column("input_line").to_pylist()
    assert len(lines) == len(set(lines)) == targets
    assert comparable(out) == comparable(reference)
    assert not (out / ".parts").exists()


def test_sigterm_writes_what_completed_then_resume_finishes(
    fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path
) -> None:
    inp, targets, reference = fleet
    out = tmp_path / "stopped"
    proc = start_subprocess(
        scan_args(inp, out, ca, "--concurrency", "2", "--checkpoint-rows", "10")
    )
    wait_for_checkpoints(out, proc, 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    meta = (out / "scan.json").read_text()
    assert '"interrupted": true' in meta
    partial = pq.read_table(out / "hosts.parquet")
    lines = partial.column("input_line").to_pylist()
    assert 0 < len(lines) < targets and len(set(lines)) == len(lines)

    refused = run_cli(*scan_args(inp, out, ca))
    assert refused.exit_code == 2  # a non-empty --out needs --resume or --overwrite

    result = run_cli(*scan_args(inp, out, ca, "--concurrency", "20", "--resume"))
    assert result.exit_code == 0, result.output
    assert '"interrupted": false' in (out / "scan.json").read_text()
    assert comparable(out) == comparable(reference)


def test_resume_refuses_a_changed_input(
    fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path, lab: Lab
) -> None:
    inp, _, reference = fleet
    out = tmp_path / "again"
    assert run_cli(*scan_args(inp, out, ca, "--concurrency", "20")).exit_code == 0
    changed = tmp_path / "changed.csv"
    write_fleet(changed, lab, fast=10, slow=0)
    result = run_cli(*scan_args(changed, out, ca, "--resume"))
    assert result.exit_code == 2
    assert "input file changed" in result.output


def test_shards_split_the_fleet_exactly_and_read_as_one_dataset(
    fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path
) -> None:
    inp, targets, reference = fleet
    folders = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard-{k}"
        result = run_cli(*scan_args(inp, out, ca, "--concurrency", "20", "--shard", f"{k}/3"))
        assert result.exit_code == 0, result.output
        folders.append(out)
    sizes = [pq.read_metadata(f / "hosts.parquet").num_rows for f in folders]
    assert all(s > 0 for s in sizes) and sum(sizes) == targets
    dataset = ds.dataset([str(f / "hosts.parquet") for f in folders], format="parquet")
    table = dataset.to_table()
    assert table.num_rows == targets
    assert sorted(table.column("input_line").to_pylist()) == sorted(
        pq.read_table(reference / "hosts.parquet").column("input_line").to_pylist()
    )
    schemas = {pq.read_schema(f / "hosts.parquet") for f in folders}
    assert len(schemas) == 1
    assert dataset.schema.field("owner").type == pa.string()


def test_shard_is_stable_and_partitions() -> None:
    from scanner.model.types import Target

    shards = [Shard(k, 4) for k in range(1, 5)]
    for i in range(500):
        t = Target(row=i + 2, host=f"h{i}.example", port=443, ip=None, is_ip=False)
        assert sum(s.contains(t) for s in shards) == 1
        again = Target(row=999, host=f"h{i}.example", port=443, ip="10.0.0.1", is_ip=False)
        assert [s.contains(t) for s in shards] == [s.contains(again) for s in shards]
    with pytest.raises(UsageError, match="K must be between 1 and N"):
        Shard.parse("0/4")
    with pytest.raises(UsageError, match="K must be between 1 and N"):
        Shard.parse("5/4")
    with pytest.raises(UsageError, match="is not K/N"):
        Shard.parse("2-4")
    assert Shard.parse("2/4") == Shard(2, 4)


class CountingServer:
    """Accepts TCP, never speaks, and records the most connections it held at once."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self.current -= 1
            writer.close()


def test_per_ip_caps_connections_to_one_address(ca: Path, tmp_path: Path) -> None:
    counting = CountingServer()
    loop = _Loop()
    loop.start()
    try:
        port = loop.run(loop.serve(counting.handler))
        inp = tmp_path / "lb.csv"
        inp.write_text(
            "host,port,ip\n" + "".join(f"n{i}.lb.test,{port},127.0.0.1\n" for i in range(9))
        )
        out = tmp_path / "out"
        result = run_cli(
            "scan",
            str(inp),
            "--out",
            str(out),
            "--as-of",
            AS_OF_TEXT,
            "--ca-bundle",
            str(ca),
            "--timeout",
            "0.4",
            "--concurrency",
            "9",
            "--per-ip",
            "3",
            "--quiet",
        )
        assert result.exit_code == 0, result.output
    finally:
        loop.stop()
    hosts = pq.read_table(out / "hosts.parquet")
    # Waiting for a slot does not eat a host's deadline: all nine reach the server.
    assert hosts.column("error").to_pylist() == ["timeout"] * 9
    assert counting.peak == 3


def test_resume_without_as_of_judges_at_the_recorded_instant(
    ca: Path, tmp_path: Path, lab: Lab
) -> None:
    """A nightly job's retry repeats its command line, often without --as-of: the resume
    judges at the instant recorded at the start; only an explicit different --as-of is
    refused."""
    inp = tmp_path / "small.csv"
    write_fleet(inp, lab, fast=6, slow=0)
    out = tmp_path / "out"
    assert run_cli(*scan_args(inp, out, ca)).exit_code == 0
    (out / "scan.json").unlink()  # as if killed before the end

    args = scan_args(inp, out, ca, "--resume")
    i = args.index("--as-of")
    without = args[:i] + args[i + 2 :]
    result = run_cli(*without)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "scan.json").read_text())
    assert meta["as_of"] == AS_OF_TEXT
    assert pq.read_table(out / "hosts.parquet").num_rows == 7

    other = (AS_OF + dt.timedelta(days=1)).isoformat()
    refused = run_cli(*[*without, "--as-of", other])
    assert refused.exit_code == 2
    assert "--as-of was" in refused.output


# --- ciphers.parquet (--ciphers) through the same checkpoints, resume and shards -------------


def _suites(out: Path) -> list[dict[str, Any]]:
    table = pq.read_table(out / "ciphers.parquet")
    return table.sort_by(
        [("input_line", "ascending"), ("version", "ascending"), ("code", "ascending")]
    ).to_pylist()


@pytest.fixture(scope="module")
def cipher_fleet(
    lab: Lab, ca: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, Path]:
    """A small fleet scanned whole with --ciphers: the reference."""
    folder = tmp_path_factory.mktemp("cipher-fleet")
    inp = folder / "fleet.csv"
    targets = write_fleet(inp, lab, fast=24, slow=2)
    reference = folder / "reference"
    result = run_cli(*scan_args(inp, reference, ca, "--concurrency", "8", "--ciphers"))
    assert result.exit_code == 0, result.output
    return inp, targets, reference


def test_ciphers_reference_has_every_answering_host(cipher_fleet: tuple[Path, int, Path]) -> None:
    _, _, reference = cipher_fleet
    rows = _suites(reference)
    hosts = pq.read_table(reference / "hosts.parquet").to_pylist()
    ok = {h["input_line"] for h in hosts if h["status"] == "ok"}
    assert len(ok) == 24 and {r["input_line"] for r in rows} == ok
    per_host = {line: sum(1 for r in rows if r["input_line"] == line) for line in ok}
    assert len(set(per_host.values())) == 1  # one server: the same suites for every name
    assert (reference / "ciphers.csv").is_file()
    assert json.loads((reference / "scan.json").read_text())["counts"]["ciphers_rows"] == len(rows)


def test_kill_9_then_resume_keeps_the_ciphers_table(
    cipher_fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path
) -> None:
    inp, _, reference = cipher_fleet
    out = tmp_path / "killed"
    args = scan_args(inp, out, ca, "--concurrency", "2", "--checkpoint-rows", "3", "--ciphers")
    proc = start_subprocess(args)
    wait_for_checkpoints(out, proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert list((out / ".parts").glob("ciphers-*.parquet"))  # checkpointed beside the hosts
    result = run_cli(*scan_args(inp, out, ca, "--concurrency", "8", "--ciphers", "--resume"))
    assert result.exit_code == 0, result.output
    assert _suites(out) == _suites(reference)
    assert not (out / ".parts").exists()


def test_shards_with_ciphers_load_as_one(
    cipher_fleet: tuple[Path, int, Path], ca: Path, tmp_path: Path
) -> None:
    import scanner

    inp, _, reference = cipher_fleet
    folders = []
    for k in (1, 2):
        out = tmp_path / f"shard-{k}"
        result = run_cli(
            *scan_args(inp, out, ca, "--concurrency", "8", "--ciphers", "--shard", f"{k}/2")
        )
        assert result.exit_code == 0, result.output
        folders.append(out)
    loaded = scanner.load(folders)
    assert loaded.ciphers is not None
    assert len(loaded.ciphers) == pq.read_metadata(reference / "ciphers.parquet").num_rows
    assert scanner.load(reference).ciphers is not None
