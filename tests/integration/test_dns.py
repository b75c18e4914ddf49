"""Name resolution through the lab's DNS server on 127.0.0.1 (`--nameserver`): NXDOMAIN is the
`dns` error, a name it knows is scanned, and no query ever leaves the machine."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import dns.resolver
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.net.resolve import DnsResolver
from scanner.testing.lab import LOOPBACK, Lab


@pytest.fixture(scope="module")
def dns_scan(
    lab: Lab,
    tmp_path_factory: pytest.TempPathFactory,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
    network_audit: Any,
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Any]], list[tuple[str, str]]]:
    """Two hosts without an `ip` column: one the lab's DNS server knows, one it does not."""
    known = lab.scenario("resolved_by_dns")
    folder = tmp_path_factory.mktemp("dns")
    with open(folder / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port"])
        w.writerow([known.host, known.port])
        w.writerow(["nowhere.lab.test", known.port])
    asked_before = len(lab.dns_queries)
    mark = network_audit.mark()
    result = cli(["scan", folder / "in.csv", "--out", folder / "out", *scan_lab_args()])
    network = network_audit.since(mark)
    asked = lab.dns_queries[asked_before:]
    assert result.exit_code == 0, result.output
    rows = {r["host"]: r for r in pq.read_table(folder / "out" / "hosts.parquet").to_pylist()}
    return rows, network, asked


def test_nxdomain_is_the_dns_error(dns_scan: Any) -> None:
    rows, _, _ = dns_scan
    row = rows["nowhere.lab.test"]
    assert (row["status"], row["error"]) == ("error", "dns")
    assert "does not exist" in row["error_detail"] and "nowhere.lab.test" in row["error_detail"]
    assert row["connected_ip"] is None and row["findings"] is None


def test_name_resolved_by_the_lab_is_scanned(dns_scan: Any, lab: Lab) -> None:
    rows, _, _ = dns_scan
    s = lab.scenario("resolved_by_dns")
    row = rows[s.host]
    assert (row["status"], row["error"], row["ip"]) == ("ok", None, None)
    assert row["connected_ip"] == LOOPBACK
    # (the ClientHello prober's no_pq_kex: the lab's options have --protocols)
    assert row["trusted"] is True and row["findings"] == ["no_pq_kex"]
    assert row["san_dns"] == [s.host]


def test_the_lab_server_answered_every_query(dns_scan: Any) -> None:
    _, _, asked = dns_scan
    names = {name for name, kind in asked if kind != "CAA"}
    assert names == {"dns.lab.test", "nowhere.lab.test"}
    assert ("dns.lab.test", "A") in asked and ("nowhere.lab.test", "A") in asked
    # --caa (lab scans): the answering name and its parents, through the same server
    caa = [name for name, kind in asked if kind == "CAA"]
    assert sorted(caa) == ["dns.lab.test", "lab.test", "test"]


def test_no_query_leaves_the_machine(dns_scan: Any, lab: Lab, network_audit: Any) -> None:
    _, network, _ = dns_scan
    sent = [a for e, a in network if e in ("socket.sendto", "socket.sendmsg", "socket.connect")]
    assert sent and all(network_audit.is_local(a) for a in sent), sent
    # UDP to the lab's DNS server, not port 53 anywhere
    to_dns = [a for e, a in network if e == "socket.sendto" and a == lab.dns_address]
    assert to_dns
    assert not [a for a in sent if isinstance(a, tuple) and a[1] == 53]
    lookups = [h for e, h in network if e == "socket.getaddrinfo"]
    assert all(network_audit.is_numeric(h) for h in lookups), lookups


def test_resolver_raises_nxdomain_and_returns_addresses(lab: Lab) -> None:
    """The resolver itself, against the same server: addresses for a known name, NXDOMAIN
    (not a timeout or an empty answer) for an unknown one."""

    async def resolve() -> tuple[list[str], BaseException | None]:
        resolver = DnsResolver([lab.dns_address], lifetime=2.0)
        found = await resolver.resolve("dns.lab.test", 443)
        try:
            await resolver.resolve("nowhere.lab.test", 443)
        except dns.resolver.NXDOMAIN as e:
            return found, e
        return found, None

    found, error = anyio.run(resolve)
    assert found == [LOOPBACK]
    assert isinstance(error, dns.resolver.NXDOMAIN)


def test_unknown_nameserver_syntax_is_a_usage_error(
    tmp_path: Path, cli: Callable[..., Result], lab_files: Any
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("host\ndns.lab.test\n")
    result = cli(
        [
            "scan",
            path,
            "--out",
            tmp_path / "out",
            "--nameserver",
            "dns.example:53",
            "--ca-bundle",
            lab_files.ca,
        ]
    )
    assert result.exit_code == 2
    assert "IP[:PORT]" in result.stderr
    assert not (tmp_path / "out").exists()
