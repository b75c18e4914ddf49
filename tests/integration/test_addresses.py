"""Every address of a name (`--addresses all`), for real: a name of three lab listeners on
127.0.0.1-3 (one with another certificate), `first` against `all`, the input's `ip` meaning
"only this address", a name with one address down, a name that does not resolve, the summary
counts, and a killed scan resumed without losing or doubling an address."""

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

import anyio
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.net.resolve import DnsResolver
from scanner.testing.lab import LOOPBACK, Lab, _tls_handler, free_port

Cli = Callable[[Sequence[str]], Result]
POOL = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
FIELDS = ["host", "port", "ip", "case"]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: "" if v is None else str(v) for k, v in r.items()} for r in rows)
    return path


def scan(
    cli: Cli, args: list[str], folder: Path, rows: list[dict[str, Any]], *extra: str
) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "out"
    result = cli(["scan", write_csv(folder / "in.csv", rows), "--out", out, *args, *extra])
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    return hosts, json.loads((out / "scan.json").read_text()), out


def prober_aside(codes: list[str]) -> list[str]:
    """The codes but the ClientHello prober's `no_pq_kex` (every lab server, --protocols)."""
    return [c for c in codes if c != "no_pq_kex"]


def without(args: list[str], option: str) -> list[str]:
    """The lab's scan options without `option` and its value."""
    i = args.index(option)
    return args[:i] + args[i + 2 :]


@pytest.fixture(scope="module")
def pool(lab: Lab) -> Any:
    return lab.scenario("inconsistent_backends")


def test_first_scans_one_address_and_all_scans_each(
    lab: Lab, pool: Any, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    rows = [{"host": pool.host, "port": pool.port, "ip": "", "case": "pool"}]
    (first,), meta, _ = scan(cli, without(scan_lab_args(), "--addresses"), tmp_path / "f", rows)
    assert first["status"] == "ok" and first["connected_ip"] in POOL
    assert first["findings"] in ([], None) or "inconsistent_backends" not in first["findings"]
    assert meta["options"]["addresses"] == "first"
    assert (meta["counts"]["targets"], meta["counts"]["rows"]) == (1, 1)

    # Without --protocols: the findings are the name's alone (no prober's no_pq_kex).
    no_probes = [a for a in scan_lab_args() if a != "--protocols"]
    hosts, meta, out = scan(cli, no_probes, tmp_path / "a", rows)
    assert sorted(h["connected_ip"] for h in hosts) == list(POOL)
    assert {h["input_line"] for h in hosts} == {2}
    assert all(h["status"] == "ok" and h["findings"] == ["inconsistent_backends"] for h in hosts)
    assert all(h["severity"] == "high" and h["trusted"] is True for h in hosts)
    by_ip = {h["connected_ip"]: h for h in hosts}
    assert by_ip["127.0.0.1"]["leaf_sha256"] == by_ip["127.0.0.2"]["leaf_sha256"]
    assert by_ip["127.0.0.3"]["leaf_sha256"] != by_ip["127.0.0.1"]["leaf_sha256"]
    assert meta["options"]["addresses"] == "all"
    counts = meta["counts"]
    assert (counts["targets"], counts["rows"], counts["ok"]) == (1, 3, 3)
    assert counts["names_inconsistent_backends"] == 1
    assert counts["findings"] == {"inconsistent_backends": 3}

    # The message: how many leaves, which addresses serve which, the notAfter of each.
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    assert sorted(f["connected_ip"] for f in findings) == list(POOL)
    (message,) = {f["message"] for f in findings}
    new, old = by_ip["127.0.0.1"], by_ip["127.0.0.3"]
    assert message == (
        f"2 distinct leaf certificates behind pool.lab.test:{pool.port}: "
        f"127.0.0.1, 127.0.0.2 serve leaf {new['leaf_sha256'][:16]} "
        f"(notAfter {new['not_after'].isoformat()}); "
        f"127.0.0.3 serves leaf {old['leaf_sha256'][:16]} (notAfter {old['not_after'].isoformat()})"
    )
    assert {f["remedy"] for f in findings} == {"Deploy the same certificate on every backend."}
    summary = (out / "summary.csv").read_text().splitlines()
    assert "names,inconsistent_backends,1,1.0" in summary
    assert "names,some_addresses_down,0,0.0" in summary


def test_input_ip_still_means_only_that_address(
    pool: Any, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    rows = [{"host": pool.host, "port": pool.port, "ip": "127.0.0.3", "case": "one"}]
    (row,), meta, _ = scan(cli, scan_lab_args(), tmp_path, rows)
    assert (row["connected_ip"], row["ip"], row["status"]) == ("127.0.0.3", "127.0.0.3", "ok")
    assert prober_aside(row["findings"]) == []  # one address: nothing to compare


def test_some_addresses_down_and_a_name_that_does_not_resolve(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    ctx = lab.context([lab.pki.leaf(["half.lab.test"]), lab.pki.intermediate])
    port = lab.serve_handler(_tls_handler(ctx))  # 127.0.0.1 only: nothing on 127.0.0.2
    lab.dns_records["half.lab.test"] = ("127.0.0.1", "127.0.0.2")
    rows = [
        {"host": "half.lab.test", "port": port, "ip": "", "case": "half"},
        {"host": "nowhere.lab.test", "port": port, "ip": "", "case": "dns"},
    ]
    hosts, meta, out = scan(cli, scan_lab_args(), tmp_path, rows)
    half = {h["connected_ip"]: h for h in hosts if h["case"] == "half"}
    assert half["127.0.0.1"]["status"] == "ok" and prober_aside(half["127.0.0.1"]["findings"]) == []
    assert (half["127.0.0.2"]["status"], half["127.0.0.2"]["error"]) == ("error", "refused")
    (dns,) = [h for h in hosts if h["case"] == "dns"]
    assert (dns["error"], dns["connected_ip"]) == ("dns", None)
    counts = meta["counts"]
    assert (counts["targets"], counts["rows"]) == (2, 3)
    assert counts["names_some_addresses_down"] == 1
    assert counts["names_inconsistent_backends"] == 0
    assert "names,some_addresses_down,1,0.5" in (out / "summary.csv").read_text().splitlines()


def test_dns_resolver_gives_a_and_aaaa_records_for_all(lab: Lab) -> None:
    lab.dns_records["dual.lab.test"] = ("127.0.0.1", "127.0.0.2", "::1")
    resolver = DnsResolver([lab.dns_address])

    async def both() -> tuple[list[str], list[str]]:
        first = await resolver.resolve("dual.lab.test", 443)
        every = await resolver.resolve("dual.lab.test", 443, every_family=True)
        return first, every

    first, every = anyio.run(both)
    assert sorted(first) == ["127.0.0.1", "127.0.0.2"]  # A records only: one query
    assert sorted(every) == ["127.0.0.1", "127.0.0.2", "::1"]


# --- resume per address -------------------------------------------------------------------


def test_kill_9_then_resume_loses_and_doubles_no_address(
    lab: Lab, pool: Any, scan_lab_args: Callable[..., list[str]], cli: Cli, tmp_path: Path
) -> None:
    silent = lab.scenario("timeout")
    rows = []
    for i in range(60):
        name = f"n{i:03d}.pool.lab.test"
        lab.dns_records[name] = POOL
        rows.append({"host": name, "port": pool.port, "ip": "", "case": f"n{i}"})
        if i % 6 == 0:  # a slow one now and then: the kill lands mid-scan
            lab.dns_records[f"s{i:03d}.pool.lab.test"] = LOOPBACK
            rows.append(
                {"host": f"s{i:03d}.pool.lab.test", "port": silent.port, "ip": "", "case": f"s{i}"}
            )
    inp = write_csv(tmp_path / "in.csv", rows)
    # A longer --timeout than the lab's: on a loaded machine a handshake can leave a host no
    # time for its CRL fetch (revocation_unknown), and the rows must match the reference's.
    args = [str(a) for a in scan_lab_args()] + ["--timeout", "5"]
    reference = tmp_path / "reference"
    assert cli(["scan", inp, "--out", reference, *args]).exit_code == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            str(inp),
            "--out",
            str(out),
            *args,
            "--concurrency",
            "2",
            "--checkpoint-rows",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(list((out / ".parts").glob("hosts-*.parquet")) if out.exists() else []) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    parts = [pq.read_table(p).to_pylist() for p in (out / ".parts").glob("hosts-*.parquet")]
    recorded = [r for part in parts for r in part]
    assert 0 < len(recorded) < len(rows) + 2 * 60
    for part in parts:  # a checkpoint holds every address of a name, or none of them
        lines = [r["input_line"] for r in part if r["host"].startswith("n")]
        assert all(lines.count(line) == 3 for line in lines)

    result = cli(["scan", inp, "--out", out, *args, "--resume"])
    assert result.exit_code == 0, result.output

    def rows_of(folder: Path) -> list[tuple[Any, ...]]:
        table = pq.read_table(folder / "hosts.parquet").to_pylist()
        return sorted(
            (
                r["input_line"],
                r["connected_ip"],
                r["status"],
                r["leaf_sha256"],
                tuple(r["findings"] or ()),
            )
            for r in table
        )

    got, want = rows_of(out), rows_of(reference)
    assert got == want
    assert len(got) == 60 * 3 + 10 and len(set(got)) == len(got)
    assert json.loads((out / "scan.json").read_text())["counts"]["targets"] == len(rows)


def test_per_ip_applies_per_address(
    pool: Any, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """--per-ip 1: each backend takes one connection at a time; every address is still scanned."""
    rows = [{"host": pool.host, "port": pool.port, "ip": "", "case": "pool"}]
    rows += [
        {"host": f"alias{i}.lab.test", "port": pool.port, "ip": "127.0.0.2", "case": f"a{i}"}
        for i in range(4)
    ]
    hosts, meta, _ = scan(cli, scan_lab_args(), tmp_path, rows, "--per-ip", "1")
    assert len(hosts) == 3 + 4 and all(h["status"] == "ok" for h in hosts)
    assert meta["options"]["per_ip"] == 1


def test_refused_everywhere_is_one_row_per_address(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    lab.dns_records["down.lab.test"] = ("127.0.0.1", "127.0.0.2")
    rows = [{"host": "down.lab.test", "port": free_port(), "ip": "", "case": "down"}]
    hosts, meta, _ = scan(cli, scan_lab_args(), tmp_path, rows)
    assert sorted((h["connected_ip"], h["error"]) for h in hosts) == [
        ("127.0.0.1", "refused"),
        ("127.0.0.2", "refused"),
    ]
    assert meta["counts"]["names_some_addresses_down"] == 0  # all down is not "some"
