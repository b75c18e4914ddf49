"""`diff` and grades, without the network: real certificates judged by `diagnose`, probe
results as values. A grade drop between nights is `regressed`, a rise `recovered`, and grades
on different bases (with and without --protocols) are never compared."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest

from scanner.analysis.diff import diff
from scanner.model.types import Handshake, ProtocolSupport, Target, TlsVersion
from scanner.run.api import from_results
from scanner.run.assemble import Answer, assemble
from scanner.store.load import ScanTables
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "g.example.test"
V = TlsVersion
MODERN = ProtocolSupport(
    accepted={V.TLS1_0: False, V.TLS1_1: False, V.TLS1_2: True, V.TLS1_3: True},
    forward_secrecy_only=True,
)
LEGACY_TOO = ProtocolSupport(
    accepted={V.TLS1_0: True, V.TLS1_1: True, V.TLS1_2: True, V.TLS1_3: True},
    forward_secrecy_only=True,
)


@dataclass(frozen=True)
class Host:
    trust: certs.TrustStore
    chain: tuple[bytes, ...]

    def night(self, protocols: ProtocolSupport | None) -> ScanTables:
        """One night's tables for this host, probed with `protocols` (None: not probed)."""
        d = diagnose(
            self.chain,
            host=HOST,
            is_ip=False,
            ctx=DiagnosisContext(trust=self.trust, as_of=FIXED, warn_days=30),
        )
        result = assemble(
            Answer(
                target=Target(row=2, host=HOST, port=443, ip=None, is_ip=False),
                handshake=Handshake(
                    chain=self.chain, tls_version="TLSv1.3", cipher="X", address="::1"
                ),
                diagnosis=d,
                protocols=protocols,
            )
        )
        return from_results([(result, FIXED)], as_of=FIXED)


@pytest.fixture(scope="module")
def host() -> Host:
    pki = lab.Pki.create(FIXED)
    return Host(
        trust=certs.load_trust_store(pki.root.pem, "root.pem"),
        chain=(pki.leaf([HOST]).der, pki.intermediate.der),
    )


def changes(
    old: ScanTables, new: ScanTables
) -> list[tuple[str, str | None, str | None, str | None]]:
    df = diff(old.hosts, old.findings, new.hosts, new.findings)
    return [
        (
            r.change,
            None if pd.isna(r.old) else r.old,
            None if pd.isna(r.new) else r.new,
            None if pd.isna(r.code) else r.code,
        )
        for r in df.itertuples()
    ]


def test_a_grade_drop_is_regressed(host: Host) -> None:
    good, legacy = host.night(MODERN), host.night(LEGACY_TOO)
    assert (good.hosts["grade"].iloc[0], legacy.hosts["grade"].iloc[0]) == ("A", "B")
    assert changes(good, legacy) == [
        ("new_finding", None, "legacy_protocol", "legacy_protocol"),
        ("regressed", "A", "B", None),
    ]
    drop = diff(good.hosts, good.findings, legacy.hosts, legacy.findings)
    row = drop[drop["change"] == "regressed"].iloc[0]
    assert row["detail"] == "grade A -> B (certificate+protocols)"
    assert row["severity"] == "medium"  # the host's worst finding now
    assert changes(legacy, good) == [
        ("recovered", "B", "A", None),
        ("resolved_finding", "legacy_protocol", None, "legacy_protocol"),
    ]


def test_grades_on_different_bases_are_not_compared(host: Host) -> None:
    cert_only, legacy = host.night(None), host.night(LEGACY_TOO)
    assert cert_only.hosts["grade_basis"].iloc[0] == "certificate"
    assert [c[0] for c in changes(cert_only, legacy)] == ["new_finding"]
    assert [c[0] for c in changes(legacy, cert_only)] == ["resolved_finding"]
