"""`scanner diff` between two real scan folders (handshakes on loopback): a host unreachable in
OLD that answers in NEW is `back` with its findings listed, never a `new_finding` each (a
flapping host must not page every other night through `diff --fail-on`); and a host whose
certificate was revoked between the scans `regressed` (new `revoked`), while the
`not_trusted_by` it had does not count as resolved (issue 17 items 8 and 13)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import Result

from scanner.testing.lab import DAY, LOOPBACK, Lab, Pki
from scanner.testing.responders import RevocationServer

Cli = Callable[[Sequence[str]], Result]


def test_diff_of_two_real_scans(
    cli: Cli, lab: Lab, lab_files: Any, fixed: dt.datetime, tmp_path: Path
) -> None:
    # A host of the lab's PKI, expired (critical), whose name the lab DNS knows only in NEW.
    flapping = lab.pki.leaf(["flapping.diff.test"], not_after=fixed - DAY)
    flapping_port = lab.serve_chain([flapping, lab.pki.intermediate])
    with RevocationServer.start() as server:
        # A host of another PKI that the `java` store (the lab's root only) does not trust:
        # `not_trusted_by` in OLD; its CA revokes it before NEW.
        pki = Pki.create(fixed, crl_base=server.url("/crl"))
        leaf = pki.leaf(["revoked.diff.test"], crl_url=server.url("/leaf.crl"))
        for path, issuer in (
            ("/crl/intermediate.crl", pki.intermediate),
            ("/crl/root.crl", pki.root),
        ):
            server.files[path] = pki.crl(issuer).public_bytes(Encoding.DER)
        server.files["/leaf.crl"] = pki.crl(pki.intermediate).public_bytes(Encoding.DER)
        revoked_port = server.tls([leaf, pki.intermediate], str(tmp_path))
        ca, java = tmp_path / "ca.pem", tmp_path / "java.pem"
        ca.write_bytes(lab.ca_pem + pki.root.pem)
        java.write_bytes(lab.ca_pem)
        inp = tmp_path / "hosts.csv"
        inp.write_text(
            "host,port,ip\n"
            f"flapping.diff.test,{flapping_port},\n"
            f"revoked.diff.test,{revoked_port},{LOOPBACK}\n"
        )
        host, port = lab.dns_address
        args = [
            "--as-of",
            fixed.isoformat(),
            "--ca-bundle",
            ca,
            "--trust-store",
            f"java={java}",
            "--nameserver",
            f"{host}:{port}",
            "--timeout",
            "3",
            "--allow-private-fetch",
            "--quiet",
        ]
        old, new = tmp_path / "old", tmp_path / "new"
        assert cli(["scan", inp, "--out", old, *args]).exit_code == 0
        lab.dns_records["flapping.diff.test"] = LOOPBACK
        server.files["/leaf.crl"] = pki.crl(
            pki.intermediate,
            [(leaf.cert.serial_number, fixed - DAY, x509.ReasonFlags.key_compromise)],
        ).public_bytes(Encoding.DER)
        try:
            assert cli(["scan", inp, "--out", new, *args]).exit_code == 0
        finally:
            del lab.dns_records["flapping.diff.test"]
    olds = {r["host"]: r for r in pq.read_table(old / "hosts.parquet").to_pylist()}
    news = {r["host"]: r for r in pq.read_table(new / "hosts.parquet").to_pylist()}
    assert (olds["flapping.diff.test"]["status"], olds["flapping.diff.test"]["error"]) == (
        "error",
        "dns",
    )
    assert news["flapping.diff.test"]["findings"] == ["expired"]
    assert olds["revoked.diff.test"]["findings"] == ["not_trusted_by"]
    assert news["revoked.diff.test"]["revocation"] == "revoked"

    result = cli(["diff", old, new, "--format", "json", "--fail-on", "critical"])
    assert result.exit_code == 1, result.output  # the revocation is new and critical
    changes = json.loads(result.stdout)["changes"]
    by_host: dict[str, set[tuple[str, str | None]]] = {}
    for c in changes:
        by_host.setdefault(c["host"], set()).add((c["change"], c["code"]))
    assert by_host["flapping.diff.test"] == {("back", None)}
    assert by_host["revoked.diff.test"] == {("regressed", None), ("new_finding", "revoked")}
    (back,) = [c for c in changes if c["change"] == "back"]
    assert (back["old"], back["severity"], back["detail"]) == ("dns", "critical", "expired")
    (regressed,) = [c for c in changes if c["change"] == "regressed"]
    assert (regressed["old"], regressed["new"]) == ("trusted", "revoked")
