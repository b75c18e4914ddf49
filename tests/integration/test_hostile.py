"""Hostile peers (scanner.hostile, real servers on 127.0.0.1): each ends as one row with a clear
error or finding within --timeout, and the other hosts of the same scan are scanned normally,
also when 200 of them are mixed with 200 good ones.

No fixed wall-time margins (the machine is loaded): a stalling peer never ends by itself
(silent, stalled, or dripping a byte a second), so a row that ends ends by the deadline; its
time is bounded by two timeouts plus a scan of good hosts alone measured in the same test,
and parallel timeouts are told from sequential ones by their count."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.testing.hostile import LONG_CHAIN, HostileLab, Kind
from tests.conftest import scan_args

TIMEOUT = 2.0
Cli = Callable[[Sequence[str]], Result]


@pytest.fixture(scope="module")
def hostile(fixed: dt.datetime) -> Iterator[HostileLab]:
    with HostileLab.start(fixed, timeout=TIMEOUT) as lab:
        yield lab


@dataclass(frozen=True)
class Scan:
    rows: list[dict[str, Any]]  # the input rows, as written
    hosts: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    certificates: list[dict[str, Any]]
    meta: dict[str, Any]
    elapsed: float

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [h for h in self.hosts if h["kind"] == kind]


def run_scan(
    cli: Cli, hostile: HostileLab, rows: list[dict[str, str]], folder: Path, fixed: dt.datetime
) -> Scan:
    folder.mkdir(parents=True)
    inp, ca, out = folder / "hosts.csv", folder / "ca.pem", folder / "out"
    with open(inp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "kind"])
        w.writeheader()
        w.writerows(rows)
    ca.write_bytes(hostile.ca_pem)
    started = time.monotonic()
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), ca),
            "--timeout",
            str(TIMEOUT),
            "--concurrency",
            "1000",
            "--no-aia",
            "--no-revocation",  # hostile peers' certificates name no CRL; not the subject here
            "--quiet",
        ]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    scan = Scan(
        rows=rows,
        hosts=pq.read_table(out / "hosts.parquet").to_pylist(),
        findings=pq.read_table(out / "findings.parquet").to_pylist(),
        certificates=pq.read_table(out / "certificates.parquet").to_pylist(),
        meta=json.loads((out / "scan.json").read_text()),
        elapsed=elapsed,
    )
    assert_nothing_lost(scan)
    return scan


def assert_nothing_lost(scan: Scan) -> None:
    """Every input target exactly once; scan.json's counts add up; no internal error."""
    assert sorted(h["input_line"] for h in scan.hosts) == list(range(2, len(scan.rows) + 2))
    assert [(h["host"], h["kind"]) for h in sorted(scan.hosts, key=lambda h: h["input_line"])] == [
        (r["host"], r["kind"]) for r in scan.rows
    ]
    counts = scan.meta["counts"]
    assert counts["targets"] == len(scan.rows)
    assert counts["ok"] + sum(counts["errors"].values()) == counts["targets"]
    assert counts["errors"].get("internal", 0) == 0
    assert scan.meta["internal_errors"] == 0


def assert_expected(scan: Scan, hostile: HostileLab, host: dict[str, Any]) -> None:
    case = hostile.cases[Kind(host["kind"])]
    if case.error is not None:
        assert (host["status"], host["error"]) == ("error", case.error), host
        detail = host["error_detail"]
        assert case.detail in detail and "\n" not in detail and "Traceback" not in detail
        assert host["findings"] is None and host["trusted"] is None
    else:
        assert host["status"] == "ok", host
        assert case.finding in host["findings"] and host["trusted"] is False
        messages = [
            f["message"]
            for f in scan.findings
            if f["input_line"] == host["input_line"] and f["code"] == case.finding
        ]
        assert len(messages) == 1 and case.detail in messages[0]


def assert_good(host: dict[str, Any]) -> None:
    assert host["status"] == "ok", host
    assert host["trusted"] is True and host["findings"] == [] and host["severity"] is None
    assert host["chain_length"] == 2 and host["tls_version"]


@pytest.fixture(scope="module")
def good_alone(
    cli: Cli, hostile: HostileLab, fixed: dt.datetime, tmp_path_factory: pytest.TempPathFactory
) -> Scan:
    """Four good hosts alone: the machine's present cost of a whole scan (start-up, handshakes,
    writing), measured here, is the margin the hostile scan's times get over the timeout."""
    rows = hostile.good_rows(4, start=500)
    return run_scan(cli, hostile, rows, tmp_path_factory.mktemp("hostile") / "good", fixed)


@pytest.fixture(scope="module")
def one_of_each(
    cli: Cli,
    hostile: HostileLab,
    fixed: dt.datetime,
    tmp_path_factory: pytest.TempPathFactory,
    good_alone: Scan,
) -> Scan:
    """Two hosts per hostile kind and four good ones, in one scan."""
    rows = hostile.hostile_rows(2 * len(Kind)) + hostile.good_rows(4)
    return run_scan(cli, hostile, rows, tmp_path_factory.mktemp("hostile") / "each", fixed)


def took(scan: Scan, host: dict[str, Any]) -> float:
    started = dt.datetime.fromisoformat(scan.meta["started"])
    return float((host["scanned_at"] - started).total_seconds())


@pytest.mark.parametrize("kind", list(Kind))
def test_each_hostile_peer_is_one_clear_row_within_the_timeout(
    one_of_each: Scan, good_alone: Scan, hostile: HostileLab, kind: Kind
) -> None:
    hosts = one_of_each.of_kind(kind.value)
    assert len(hosts) == 2
    for host in hosts:
        assert_expected(one_of_each, hostile, host)
        # The row ended (a stalling peer never ends by itself), by one deadline: under two
        # timeouts plus what a whole scan of good hosts costs on this machine now.
        assert took(one_of_each, host) < 2 * TIMEOUT + good_alone.elapsed, kind
        if host["error"] == "timeout":  # ended by the deadline, not before it
            assert took(one_of_each, host) >= TIMEOUT, kind


def test_the_deadline_covers_the_whole_exchange_not_each_read(
    one_of_each: Scan, good_alone: Scan
) -> None:
    # The drip server sends a byte every second, for as long as its kilobytes last: a
    # per-read timeout of 2 s would never fire, and the row would end (if ever) with a chain.
    drips = one_of_each.of_kind(Kind.DRIP.value)
    assert [h["error"] for h in drips] == ["timeout", "timeout"]
    for host in drips:
        assert TIMEOUT <= took(one_of_each, host) < 2 * TIMEOUT + good_alone.elapsed
    # The six stalling peers (silent, stalled, dripping) wait side by side: the scan costs
    # one timeout over the good hosts' scan, not six in a row.
    stalls = sum(1 for h in one_of_each.hosts if h["error"] == "timeout")
    assert stalls == 6
    assert one_of_each.elapsed - good_alone.elapsed < stalls * TIMEOUT / 2


def test_good_hosts_of_the_same_scan_are_unaffected(one_of_each: Scan) -> None:
    good = one_of_each.of_kind("good")
    assert len(good) == 4
    for host in good:
        assert_good(host)


def test_unparseable_certificate_is_kept_as_raw_der(one_of_each: Scan, hostile: HostileLab) -> None:
    der = hostile.unparseable_der
    sha = hashlib.sha256(der).hexdigest()
    rows = [c for c in one_of_each.certificates if c["sha256"] == sha]
    assert len(rows) == 1
    cert = rows[0]
    assert cert["der"] == der and cert["parse_error"] and cert["subject"] is None
    for host in one_of_each.of_kind(Kind.UNPARSEABLE_CERTIFICATE.value):
        assert host["leaf_sha256"] == sha and host["chain_length"] == 2
        assert host["findings"] == ["unparseable_certificate"]
        assert host["severity"] == "high"


def test_sixty_certificate_chain_is_captured_and_judged(one_of_each: Scan) -> None:
    hosts = one_of_each.of_kind(Kind.LONG_CHAIN.value)
    assert {h["chain_length"] for h in hosts} == {LONG_CHAIN}
    chain_cas = [c for c in one_of_each.certificates if "Hostile Chain CA" in (c["subject"] or "")]
    assert len(chain_cas) == LONG_CHAIN - 1


def test_no_socket_leaves_loopback(network_audit: Any, one_of_each: Scan) -> None:
    # The audit records the whole session; every connect of any test so far went to loopback.
    from ipaddress import ip_address

    for event, address in network_audit.events:
        if event == "socket.connect" and isinstance(address, tuple):
            host = str(address[0]).split("%", 1)[0]
            assert ip_address(host).is_loopback or host == "224.0.0.1", (event, address)


def interleave(a: list[dict[str, str]], b: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for x, y in zip(a, b, strict=True):
        out += [x, y]
    return out


def test_200_hostile_among_200_good_cost_one_timeout_not_the_sum(
    cli: Cli, hostile: HostileLab, fixed: dt.datetime, tmp_path: Path
) -> None:
    good = hostile.good_rows(200)
    alone = run_scan(cli, hostile, good, tmp_path / "good", fixed)
    for host in alone.hosts:
        assert_good(host)

    mixed_rows = interleave(hostile.hostile_rows(200), hostile.good_rows(200, start=1000))
    mixed = run_scan(cli, hostile, mixed_rows, tmp_path / "mixed", fixed)
    assert len(mixed.hosts) == 400
    for host in mixed.hosts:
        if host["kind"] == "good":
            assert_good(host)
        else:
            assert_expected(mixed, hostile, host)
    assert len(mixed.of_kind("good")) == 200
    stalls = sum(1 for h in mixed.hosts if h["error"] == "timeout")
    assert stalls >= 40  # silent, stalled and dripping peers: ~50 timeouts run side by side
    # Sequential timeouts would cost stalls * TIMEOUT (100 s) over the good hosts alone, in
    # parallel about one: the margin is a count, ten times what parallel costs.
    print(f"200 good alone: {alone.elapsed:.2f} s; with 200 hostile: {mixed.elapsed:.2f} s")
    assert mixed.elapsed >= TIMEOUT
    assert mixed.elapsed - alone.elapsed < stalls * TIMEOUT / 4, (mixed.elapsed, alone.elapsed)
