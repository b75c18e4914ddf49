"""A CRL that cryptography accepts but the fast entry reader did not expect: an entry extension
whose value ends in the reasonCode OID's bytes. `check --crl` and a scan fetching the CRL from
a loopback HTTP server both read it (falling back to cryptography's entries) and find the
revocation with its reason; and an internal error inside a fetch is counted in scan.json."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier
from typer.testing import Result

from scanner.testing.lab import DAY, LOOPBACK, Issued, Pki
from scanner.testing.responders import RevocationServer
from scanner.x509.revocation import parse_crl
from tests.conftest import scan_args

Cli = Callable[[Sequence[str]], Result]
REASON_OID_DER = b"\x06\x03\x55\x1d\x15"  # 2.5.29.21, id-ce-cRLReasons, as DER
# A private extension whose value's last bytes are the reasonCode OID.
ODD = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.7"), b"odd" + REASON_OID_DER)


def odd_crl(pki: Pki, revoked: Issued, other: int, when: dt.datetime) -> bytes:
    """The intermediate's CRL: `revoked` with an odd extension then its reason, and `other`
    with only the odd extension (the fast reader's IndexError)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.intermediate.cert.subject)
        .last_update(when - 10 * DAY)
        .next_update(when + 10 * DAY)
        .add_extension(x509.CRLNumber(7), critical=False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked.cert.serial_number)
            .revocation_date(when - 2 * DAY)
            .add_extension(ODD, critical=False)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(other)
            .revocation_date(when - DAY)
            .add_extension(ODD, critical=False)
            .build()
        )
    )
    crl = builder.sign(pki.intermediate.key, hashes.SHA256())
    der = crl.public_bytes(Encoding.DER)
    assert len(list(x509.load_der_x509_crl(der))) == 2  # cryptography reads every entry
    return der


@dataclass(frozen=True)
class Setup:
    server: RevocationServer
    pki: Pki
    leaf: Issued
    port: int
    folder: Path
    ca: Path


@pytest.fixture(scope="module")
def setup(fixed: dt.datetime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("odd-crl")
    with RevocationServer.start() as server:
        pki = Pki.create(fixed, crl_base=server.url("/crl"))
        leaf = pki.leaf(["odd-crl.rev.test"], crl_url=server.url("/odd.crl"))
        server.files["/odd.crl"] = odd_crl(pki, leaf, 0x1234, fixed)
        server.files["/crl/intermediate.crl"] = pki.crl(pki.intermediate).public_bytes(Encoding.DER)
        server.files["/crl/root.crl"] = pki.crl(pki.root).public_bytes(Encoding.DER)
        port = server.tls([leaf, pki.intermediate], str(folder))
        ca = folder / "ca.pem"
        ca.write_bytes(pki.root.pem)
        yield Setup(server, pki, leaf, port, folder, ca)


def test_the_entries_are_read_with_their_reasons(setup: Setup, fixed: dt.datetime) -> None:
    crl = parse_crl(setup.server.files["/odd.crl"])
    assert crl.unusable is None
    assert crl.lookup(setup.leaf.cert.serial_number) == (fixed - 2 * DAY, "key_compromise")
    assert crl.lookup(0x1234) == (fixed - DAY, None)


def test_check_with_the_crl_file_finds_the_revocation(
    setup: Setup, cli: Cli, fixed: dt.datetime
) -> None:
    chain, crl = setup.folder / "chain.pem", setup.folder / "odd.crl"
    chain.write_bytes(setup.leaf.pem + setup.pki.intermediate.pem)
    crl.write_bytes(setup.server.files["/odd.crl"])
    args = ["--host", "odd-crl.rev.test", "--ca-bundle", setup.ca, "--as-of", fixed.isoformat()]
    result = cli(["check", chain, *args, "--crl", crl, "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["revocation"], row["revoked"]) == ("revoked", True)


def scan(setup: Setup, cli: Cli, fixed: dt.datetime, out: Path) -> dict[str, Any]:
    inp = setup.folder / "in.csv"
    inp.write_text(f"host,port,ip\nodd-crl.rev.test,{setup.port},{LOOPBACK}\n")
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), setup.ca),
            "--timeout",
            "5",
            "--aia-timeout",
            "2",
            "--allow-private-fetch",
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    meta: dict[str, Any] = json.loads((out / "scan.json").read_text())
    return meta


def test_a_scan_fetching_the_crl_finds_the_revocation(
    setup: Setup, cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    meta = scan(setup, cli, fixed, tmp_path / "out")
    (row,) = pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()
    assert (row["revocation"], row["revocation_source"], row["revoked"]) == (
        "revoked",
        "crl",
        True,
    )
    findings = pq.read_table(tmp_path / "out" / "findings.parquet").to_pylist()
    (revoked,) = [f for f in findings if f["code"] == "revoked"]
    assert "key_compromise" in revoked["message"]
    assert not any("internal error" in (f["message"] or "") for f in findings)
    assert meta["internal_errors"] == 0


def test_an_internal_error_in_a_fetch_is_counted(
    setup: Setup,
    cli: Cli,
    fixed: dt.datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug of ours inside a CRL fetch (here the parser raising what it never should) becomes
    an info finding saying "internal error", and scan.json counts it: never 0 beside it."""

    def broken(data: bytes) -> Any:
        raise IndexError("index out of range")

    monkeypatch.setattr("scanner.net.revocation.parse_crl", broken)
    meta = scan(setup, cli, fixed, tmp_path / "out")
    findings = pq.read_table(tmp_path / "out" / "findings.parquet").to_pylist()
    internal = [f for f in findings if "internal error" in (f["message"] or "")]
    assert internal and all(f["code"] == "revocation_unknown" for f in internal)
    assert meta["internal_errors"] == len(internal)


def test_an_internal_error_in_an_aia_fetch_is_counted(
    setup: Setup,
    cli: Cli,
    fixed: dt.datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leaf = setup.pki.leaf(["odd-aia.rev.test"], aia_url=setup.server.url("/inter.der"))
    setup.server.files["/inter.der"] = setup.pki.intermediate.der
    port = setup.server.tls([leaf], str(setup.folder))  # the intermediate left out

    def broken(data: bytes) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr("scanner.net.aia.parse_issuers", broken)
    inp, out = tmp_path / "in.csv", tmp_path / "out"
    inp.write_text(f"host,port,ip\nodd-aia.rev.test,{port},{LOOPBACK}\n")
    args = ["--as-of", fixed.isoformat(), "--ca-bundle", setup.ca, "--allow-private-fetch"]
    result = cli(["scan", inp, "--out", out, *args, "--no-revocation", "--quiet"])
    assert result.exit_code == 0, result.output
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    internal = [f for f in findings if "internal error" in (f["message"] or "")]
    assert [f["code"] for f in internal] == ["aia_fetch_failed"]
    assert json.loads((out / "scan.json").read_text())["internal_errors"] == 1
