"""Findings from the protocol probes of one host (`--protocols`): legacy versions, no modern
version, no TLS 1.3, static-RSA key exchange. Pure: a ProtocolSupport in, findings out."""

from __future__ import annotations

from scanner.model.catalogue import Code
from scanner.model.types import Finding, ProtocolSupport, TlsVersion
from scanner.x509 import findings as F

LABELS = {
    TlsVersion.TLS1_0: "TLS 1.0",
    TlsVersion.TLS1_1: "TLS 1.1",
    TlsVersion.TLS1_2: "TLS 1.2",
    TlsVersion.TLS1_3: "TLS 1.3",
}
# The names `ssl.SSLObject.version()` reports, for the version the main handshake showed.
FROM_OPENSSL = {
    "TLSv1": TlsVersion.TLS1_0,
    "TLSv1.1": TlsVersion.TLS1_1,
    "TLSv1.2": TlsVersion.TLS1_2,
    "TLSv1.3": TlsVersion.TLS1_3,
}


def protocol_findings(p: ProtocolSupport) -> tuple[Finding, ...]:
    """A finding only for what a probe showed: a version whose probe failed (None) is neither
    accepted nor refused."""
    found: list[Finding] = []
    legacy = [LABELS[v] for v in (TlsVersion.TLS1_0, TlsVersion.TLS1_1) if p.get(v) is True]
    if legacy:
        # RFC 8996 deprecates TLS 1.0 and 1.1.
        found.append(
            F.make(
                Code.LEGACY_PROTOCOL,
                f"the server accepts {' and '.join(legacy)} (deprecated by RFC 8996)",
                f"Disable {' and '.join(legacy)} on the server; keep TLS 1.2 and 1.3.",
            )
        )
    if p.get(TlsVersion.TLS1_2) is False and p.get(TlsVersion.TLS1_3) is False:
        accepted = [LABELS[v] for v in TlsVersion if p.get(v) is True]
        found.append(
            F.make(
                Code.NO_MODERN_PROTOCOL,
                "the server refuses TLS 1.2 and TLS 1.3"
                + (f"; it accepts only {' and '.join(accepted)}" if accepted else ""),
            )
        )
    if p.get(TlsVersion.TLS1_3) is False:
        found.append(F.make(Code.NO_TLS13, "the server refuses TLS 1.3"))
    if p.forward_secrecy_only is False:
        found.append(
            F.make(
                Code.RSA_KEY_EXCHANGE,
                "the server completed a handshake offering only static-RSA key exchange suites "
                "(no forward secrecy)",
            )
        )
    return tuple(found)
