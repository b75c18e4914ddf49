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
) -> Finding:
    spec = CATALOGUE[code]
    return Finding(
        code=code.value,
        severity=spec.severity,
        message=message or spec.meaning,
        remedy=remedy or spec.remedy,
        certificate_sha256=certificate.fingerprint(hashes.SHA256()).hex() if certificate else None,
        certificate_subject=name_text(certificate.subject) if certificate else None,
        url=url,
    )
