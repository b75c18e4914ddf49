"""Findings from protocol probe results (pure): each written out from issue 12's rules."""

from __future__ import annotations

import pytest

from scanner.model.types import ProtocolSupport, TlsVersion
from scanner.x509.protocols import protocol_findings

V = TlsVersion


def support(
    t10: bool | None, t11: bool | None, t12: bool | None, t13: bool | None, fs: bool | None
) -> ProtocolSupport:
    return ProtocolSupport(
        accepted={V.TLS1_0: t10, V.TLS1_1: t11, V.TLS1_2: t12, V.TLS1_3: t13},
        forward_secrecy_only=fs,
    )


CASES = [
    ("modern", support(False, False, True, True, True), []),
    ("TLS 1.2 only", support(False, False, True, False, True), ["no_tls13"]),
    (
        "TLS 1.0 only",
        support(True, False, False, False, True),
        ["legacy_protocol", "no_modern_protocol", "no_tls13"],
    ),
    ("1.0 to 1.3", support(True, True, True, True, True), ["legacy_protocol"]),
    ("static RSA", support(False, False, True, True, False), ["rsa_key_exchange"]),
    # Unknown answers (failed probes) raise nothing.
    ("all unknown", support(None, None, None, None, None), []),
    ("1.2 unknown, 1.3 refused", support(False, False, None, False, True), ["no_tls13"]),
]


@pytest.mark.parametrize(("case", "p", "codes"), CASES, ids=[c[0] for c in CASES])
def test_findings(case: str, p: ProtocolSupport, codes: list[str]) -> None:
    assert [f.code for f in protocol_findings(p)] == codes


def test_messages_name_the_versions() -> None:
    legacy, modern, _ = protocol_findings(support(True, True, False, False, True))
    assert (legacy.severity.value, modern.severity.value) == ("medium", "high")
    assert "TLS 1.0 and TLS 1.1" in legacy.message
    assert "Disable TLS 1.0 and TLS 1.1" in legacy.remedy
    assert "accepts only TLS 1.0 and TLS 1.1" in modern.message
    (rsa,) = protocol_findings(support(False, False, True, True, False))
    assert rsa.severity.value == "low"
    (info,) = protocol_findings(support(False, False, True, False, True))
    assert info.severity.value == "info"
