"""AIA fetching that cannot be abused: leaves whose caIssuers URL points at a real HTTP server
on 127.0.0.1 that streams forever, trickles, redirects in a loop or to another scheme, or
serves garbage. Each becomes a finding on its own row; good URLs (DER, PEM, PKCS#7) complete
the chain, fetched once per URL however many hosts need them."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID
from typer.testing import Result

from scanner.testing.hostile import AiaServer
from scanner.testing.lab import DAY, LOOPBACK, Pki
from scanner.x509.diagnose import MAX_AIA_URLS
from tests.conftest import scan_args

TIMEOUT = 2.0
AIA_TIMEOUT = 1.0
# No fixed wall-time margins (the machine is loaded): what ended a fetch is read from its
# message, and times are compared with each other or with a cost the test itself sets.
Cli = Callable[[Sequence[str]], Result]


@dataclass(frozen=True)
class Peer:
    name: str
    paths: tuple[str, ...]  # caIssuers URLs (paths on the AIA server, or whole URLs)
    finding: str  # the finding that names the outcome
    phrase: str  # ...and a phrase of its message
    hosts: int = 1


PEERS = [
    Peer("der", ("/intermediate.der",), "incomplete_chain", "was fetched from", hosts=3),
    Peer("pem", ("/intermediate.pem",), "incomplete_chain", "was fetched from"),
    Peer("p7c", ("/intermediate.p7c",), "incomplete_chain", "was fetched from"),
    Peer("stream", ("/stream",), "aia_fetch_failed", "larger than 65536 bytes"),
    Peer("trickle", ("/trickle",), "aia_fetch_failed", f"answer within {AIA_TIMEOUT:g} s"),
    Peer("loop", ("/loop",), "aia_fetch_failed", "more than 3 redirects"),
    Peer("to-ftp", ("/to-ftp",), "aia_fetch_failed", "only http(s), same scheme"),
    Peer("to-https", ("/to-https",), "aia_fetch_failed", "only http(s), same scheme"),
    Peer("garbage", ("/garbage",), "aia_fetch_failed", "not a DER, PEM or PKCS#7"),
    Peer("missing", ("/missing",), "aia_fetch_failed", "HTTP 404"),
    Peer("bad-port", ("http://127.0.0.1:99999/x",), "aia_fetch_failed", "port out of range"),
    Peer("bad-url", ("http://[::1/x",), "aia_fetch_failed", "refused URL"),
    Peer("ftp-url", ("ftp://127.0.0.1/ca.der",), "issuer_not_found", "not in the trust store"),
    Peer("many", tuple(f"/many/{i}" for i in range(20)), "aia_fetch_failed", "HTTP 404"),
]


def aia_leaf(pki: Pki, host: str, urls: Sequence[str]) -> tuple[bytes, Any]:
    """A leaf of the lab intermediate naming `urls` as caIssuers; the server sends it alone."""
    key = pki.leaf([host]).key
    a = pki.as_of
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, host)]))
        .issuer_name(pki.intermediate.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(a - DAY)
        .not_valid_after(a + 90 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
                    )
                    for u in urls
                ]
            ),
            critical=False,
        )
        .sign(pki.intermediate.key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER), key


@dataclass(frozen=True)
class Scan:
    server: AiaServer
    hosts: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    meta: dict[str, Any]
    elapsed: float
    targets: int

    def rows_of(self, peer: Peer) -> list[dict[str, Any]]:
        return [h for h in self.hosts if h["peer"] == peer.name]

    def messages(self, host: dict[str, Any], code: str) -> list[str]:
        return [
            f["message"]
            for f in self.findings
            if f["input_line"] == host["input_line"] and f["code"] == code
        ]


@pytest.fixture(scope="module")
def scan(cli: Cli, fixed: dt.datetime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scan]:
    pki = Pki.create(fixed)
    inter = pki.intermediate
    files = {
        "/intermediate.der": inter.der,
        "/intermediate.pem": inter.pem,
        "/intermediate.p7c": pkcs7.serialize_certificates([inter.cert], Encoding.DER),
        "/garbage": b"<html>not a certificate</html>",
    }
    folder = tmp_path_factory.mktemp("aia")
    with AiaServer.start(files) as server:
        rows = []
        for peer in PEERS:
            urls = [p if "://" in p else server.url(p) for p in peer.paths]
            for i in range(peer.hosts):
                host = f"{peer.name}-{i}.aia.lab.test"
                der, key = aia_leaf(pki, host, urls)
                port = server.tls([der], key)
                rows.append({"host": host, "port": str(port), "ip": LOOPBACK, "peer": peer.name})
        inp, ca, out = folder / "hosts.csv", folder / "ca.pem", folder / "out"
        with open(inp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "peer"])
            w.writeheader()
            w.writerows(rows)
        ca.write_bytes(pki.root.pem)
        started = time.monotonic()
        result = cli(
            [
                "scan",
                *scan_args(inp, out, fixed.isoformat(), ca),
                "--timeout",
                str(TIMEOUT),
                "--aia-timeout",
                str(AIA_TIMEOUT),
                "--allow-private-fetch",
                "--quiet",
            ]
        )
        elapsed = time.monotonic() - started
        assert result.exit_code == 0, result.output
        yield Scan(
            server=server,
            hosts=pq.read_table(out / "hosts.parquet").to_pylist(),
            findings=pq.read_table(out / "findings.parquet").to_pylist(),
            meta=json.loads((out / "scan.json").read_text()),
            elapsed=elapsed,
            targets=len(rows),
        )


def test_nothing_lost_and_no_internal_error(scan: Scan) -> None:
    assert sorted(h["input_line"] for h in scan.hosts) == list(range(2, scan.targets + 2))
    counts = scan.meta["counts"]
    assert counts["targets"] == scan.targets == counts["ok"]
    assert scan.meta["internal_errors"] == 0


@pytest.mark.parametrize("peer", PEERS, ids=lambda p: p.name)
def test_each_aia_server_ends_as_a_finding_on_its_row(scan: Scan, peer: Peer) -> None:
    rows = scan.rows_of(peer)
    assert len(rows) == peer.hosts
    for host in rows:
        assert host["status"] == "ok" and host["trusted"] is False
        assert peer.finding in host["findings"], host["findings"]
        messages = scan.messages(host, peer.finding)
        assert messages and all(peer.phrase in m for m in messages), messages
        if peer.finding == "incomplete_chain":
            assert host["incomplete_chain"] is True and host["untrusted_root"] is False
        else:
            assert "issuer_not_found" in host["findings"] and host["untrusted_root"] is True


def test_one_fetch_per_url_per_run(scan: Scan) -> None:
    hits = scan.server.hits
    assert hits["/intermediate.der"] == 1  # three hosts, one fetch
    for path in ("/intermediate.pem", "/intermediate.p7c", "/stream", "/trickle", "/garbage"):
        assert hits[path] == 1, path
    assert hits["/loop"] == 4  # the first request and three redirects, then refused
    assert hits["/to-ftp"] == hits["/to-https"] == 1  # the other scheme is never contacted


def test_a_certificate_naming_many_urls_buys_few_fetches(scan: Scan) -> None:
    fetched = sorted(p for p in scan.server.hits if p.startswith("/many/"))
    assert fetched == [f"/many/{i}" for i in range(MAX_AIA_URLS)]
    (host,) = scan.rows_of(PEERS[-1])
    assert len(scan.messages(host, "aia_fetch_failed")) == MAX_AIA_URLS


def test_fetches_are_bounded_in_time(scan: Scan) -> None:
    started = dt.datetime.fromisoformat(scan.meta["started"])
    (host,) = scan.rows_of(next(p for p in PEERS if p.name == "trickle"))
    took = (host["scanned_at"] - started).total_seconds()
    # The trickle never ends: its fetch was cut by --aia-timeout (the message says so), so
    # the row ended no earlier than that.
    assert took >= AIA_TIMEOUT
    messages = scan.messages(host, "aia_fetch_failed")
    assert messages and all(f"answer within {AIA_TIMEOUT:g} s" in m for m in messages)
    # The stream that never ends stops at the size cap, before the trickle's timeout cuts it.
    (stream,) = scan.rows_of(next(p for p in PEERS if p.name == "stream"))
    assert stream["scanned_at"] < host["scanned_at"]
    assert "larger than 65536 bytes" in scan.messages(stream, "aia_fetch_failed")[0]


def test_aia_fetching_spends_only_the_hosts_own_deadline(
    cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    """A generous --aia-timeout does not stretch a host past --timeout: the fetch of a URL that
    trickles forever is cut when the host's deadline runs out, and says so."""
    pki = Pki.create(fixed)
    with AiaServer.start({}) as server:
        der, key = aia_leaf(pki, "slow-aia.lab.test", [server.url("/trickle")])
        port = server.tls([der], key)
        inp, ca, out = tmp_path / "hosts.csv", tmp_path / "ca.pem", tmp_path / "out"
        inp.write_text(f"host,port,ip\nslow-aia.lab.test,{port},{LOOPBACK}\n")
        ca.write_bytes(pki.root.pem)
        started = time.monotonic()
        result = cli(
            [
                "scan",
                *scan_args(inp, out, fixed.isoformat(), ca),
                "--timeout",
                "1",
                "--aia-timeout",
                "30",
                "--allow-private-fetch",
                "--quiet",
            ]
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    (host,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert "aia_fetch_failed" in host["findings"] and host["untrusted_root"] is True
    (message,) = [
        f["message"]
        for f in pq.read_table(out / "findings.parquet").to_pylist()
        if f["code"] == "aia_fetch_failed"
    ]
    assert "no time left within the host's 1 s" in message
    # The fetch would trickle for the whole --aia-timeout (30 s) if the host's deadline did
    # not cut it: half of that is the margin, set by the test, not by the machine's speed.
    assert elapsed < 30 / 2
