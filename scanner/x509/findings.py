"""Findings as diagnosis builds them: a catalogue entry with a host-specific message, and the
certificate or URL it is about."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from scanner.model.catalogue import CATALOGUE, Code
from scanner.model.types import Finding
from scanner.x509.certs import name_text


def make(
    code: Code,
    message: str | None = None,
    remedy: str | None = None,
    *,
    certificate: x509.Certificate | None = None,
    url: str | None = None,
    named: tuple[str, str] | None = None,
) -> Finding:
    """`named`: the certificate's (SHA-256 hex, subject) when the caller has them already."""
    spec = CATALOGUE[code]
    if named is None and certificate is not None:
        named = identity(certificate)
    return Finding(
        code=code.value,
        severity=spec.severity,
        message=message or spec.meaning,
        remedy=remedy or spec.remedy,
        certificate_sha256=named[0] if named else None,
        certificate_subject=named[1] if named else None,
        url=url,
    )


def identity(certificate: x509.Certificate) -> tuple[str, str]:
    """(SHA-256 hex, subject as RFC 4514 text): how findings name a certificate."""
    return certificate.fingerprint(hashes.SHA256()).hex(), name_text(certificate.subject)
