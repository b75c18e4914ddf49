"""A certificate cannot steer the scanner at its own surroundings: AIA, CRL and OCSP URLs whose
address is loopback, link-local, multicast or unspecified are refused (by name, by IP, and after
a redirect), with a message that says why, unless --allow-private-fetch is given."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.net.fetch import FetchRefused, HttpFetcher, refused_address
from scanner.testing.lab import LOOPBACK, Lab
from scanner.testing.responders import RevocationServer
from tests.conftest import scan_args

Cli = Callable[[Sequence[str]], Result]
LOOPBACK_WHY = "127.0.0.1 is a loopback address (--allow-private-fetch allows it)"


def scan_without_flag(
    cli: Cli,
    lab: Lab,
    ca: Path,
    tmp_path: Path,
    rows: Sequence[tuple[str, int]],
    fixed: dt.datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    inp, out = tmp_path / "in.csv", tmp_path / "out"
    inp.write_text("host,port,ip\n" + "".join(f"{h},{p},{LOOPBACK}\n" for h, p in rows))
    dns_host, dns_port = lab.dns_address
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), ca),
            "--nameserver",
            f"{dns_host}:{dns_port}",
            "--timeout",
            "2",
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    return hosts, pq.read_table(out / "findings.parquet").to_pylist()


def test_loopback_urls_are_refused_without_the_flag(
    cli: Cli, lab: Lab, lab_files: Any, tmp_path: Path, fixed: dt.datetime, network_audit: Any
) -> None:
    """The lab's caIssuers and CRL URLs are on 127.0.0.1: refused, never connected to."""
    valid, incomplete = lab.scenario("valid"), lab.scenario("incomplete_chain")
    web_port = int(str(lab.pki.crl_base).split(":")[2].split("/")[0])
    mark = network_audit.mark()
    hosts, findings = scan_without_flag(
        cli,
        lab,
        lab_files.ca,
        tmp_path,
        [(valid.host, valid.port), (incomplete.host, incomplete.port)],
        fixed,
    )
    contacted = [a for e, a in network_audit.since(mark) if e == "socket.connect"]
    assert not any(isinstance(a, tuple) and a[1] == web_port for a in contacted), contacted
    by_host = {h["host"]: h for h in hosts}
    assert set(by_host[valid.host]["findings"]) == {"revocation_unknown"}
    assert by_host[valid.host]["revocation"] == "unknown"
    assert set(by_host[incomplete.host]["findings"]) == {"issuer_not_found", "aia_fetch_failed"}
    refused = [f for f in findings if f["code"] in ("aia_fetch_failed", "revocation_unknown")]
    assert len(refused) == 3  # the leaf's and the intermediate's CRL, the caIssuers URL
    for f in refused:
        assert LOOPBACK_WHY in f["message"], f["message"]
        assert f["url"] and f["url"].startswith(f"http://{LOOPBACK}:{web_port}/")


def test_a_name_that_resolves_to_loopback_is_refused(
    cli: Cli, lab: Lab, lab_files: Any, tmp_path: Path, fixed: dt.datetime
) -> None:
    """The check is on the resolved address (the lab's DNS server answers 127.0.0.1)."""
    lab.dns_records["metadata.aia.test"] = LOOPBACK
    web = str(lab.pki.crl_base).split("/crl")[0].replace(LOOPBACK, "metadata.aia.test")
    leaf = lab.pki.leaf(["named-aia.lab.test"], aia_url=f"{web}/intermediate.der")
    port = lab.serve_chain([leaf])
    hosts, findings = scan_without_flag(
        cli, lab, lab_files.ca, tmp_path, [("named-aia.lab.test", port)], fixed
    )
    (row,) = hosts
    assert "aia_fetch_failed" in row["findings"]
    (f,) = [f for f in findings if f["code"] == "aia_fetch_failed"]
    assert LOOPBACK_WHY in f["message"] and "metadata.aia.test" in f["url"]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_refused_addresses(address: str, kind: str) -> None:
    why = refused_address(address)
    assert why is not None and f" {kind} address" in why


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "93.184.216.34"])
def test_private_rfc1918_and_public_addresses_are_allowed(address: str) -> None:
    assert refused_address(address) is None


def test_a_redirect_to_the_metadata_service_is_refused_before_connecting(
    network_audit: Any,
) -> None:
    """Every lab address is loopback, so the first URL is allowed by a guard that lets
    127.0.0.1 through (as --allow-private-fetch would); the redirect's target is checked again
    and refused before any connection."""

    def guard(address: str) -> str | None:
        return None if address == LOOPBACK else refused_address(address)

    with RevocationServer.start() as server:
        server.redirects["/ca.der"] = "http://169.254.169.254/latest/meta-data/"
        server.redirects["/ca6.der"] = "http://[fe80::1]/x"
        fetcher = HttpFetcher(timeout=2.0, guard=guard)

        async def fetch(path: str) -> str:
            try:
                await fetcher.get(server.url(path), max_bytes=65536)
            except FetchRefused as e:
                return str(e)
            finally:
                await fetcher.aclose()
            return "fetched"

        mark = network_audit.mark()
        why = anyio.run(fetch, "/ca.der")
        why6 = anyio.run(fetch, "/ca6.der")
        contacted = [a for e, a in network_audit.since(mark) if e == "socket.connect"]
    assert "169.254.169.254 is a link-local address (--allow-private-fetch allows it)" in why
    assert "fe80::1 is a link-local address" in why6
    assert server.hits == {"/ca.der": 1, "/ca6.der": 1}
    assert all(a[0] == LOOPBACK for a in contacted if isinstance(a, tuple)), contacted


def test_a_name_that_does_not_resolve_is_a_finding_not_an_internal_error(
    cli: Cli, lab: Lab, lab_files: Any, tmp_path: Path, fixed: dt.datetime
) -> None:
    """The lab's DNS server answers NXDOMAIN for the caIssuers host: the fetch fails with the
    reason, on the host's row."""
    web_port = str(lab.pki.crl_base).split(":")[2].split("/")[0]
    leaf = lab.pki.leaf(
        ["unresolved-aia.lab.test"], aia_url=f"http://nowhere.aia.test:{web_port}/ca.der"
    )
    port = lab.serve_chain([leaf])
    inp, out = tmp_path / "in.csv", tmp_path / "out"
    inp.write_text(f"host,port,ip\nunresolved-aia.lab.test,{port},{LOOPBACK}\n")
    dns_host, dns_port = lab.dns_address
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), lab_files.ca),
            "--nameserver",
            f"{dns_host}:{dns_port}",
            "--timeout",
            "3",
            "--allow-private-fetch",
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert row["status"] == "ok" and "aia_fetch_failed" in row["findings"]
    (f,) = [
        f
        for f in pq.read_table(out / "findings.parquet").to_pylist()
        if f["code"] == "aia_fetch_failed"
    ]
    assert "nowhere.aia.test does not resolve: NXDOMAIN" in f["message"], f["message"]
