"""The prober's facts as the rest of the scan reads them (pure): the version columns and
forward secrecy they imply, the stapled OCSP response verified against the built path exactly
as a fetched one and the SCTs it carries, and whether the leaf asks for stapling (must-staple)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from scanner.model.hello import HelloFacts
from scanner.model.probed import HelloReport, Stapled
from scanner.model.suites import Protocol, WeakClass
from scanner.model.types import ProtocolSupport, Revocation, TlsVersion
from scanner.x509 import certs, ct
from scanner.x509.revocation.judge import pairs
from scanner.x509.revocation.ocsp import UNKNOWN_TO_RESPONDER, check_ocsp

_VERSIONS = {
    TlsVersion.TLS1_0: Protocol.TLS1_0,
    TlsVersion.TLS1_1: Protocol.TLS1_1,
    TlsVersion.TLS1_2: Protocol.TLS1_2,
    TlsVersion.TLS1_3: Protocol.TLS1_3,
}
STAPLED_URL = "stapled"  # where a stapled response came from, in its verdict


def support_of(facts: HelloFacts) -> ProtocolSupport:
    """tls1_0..tls1_3 and forward_secrecy_only: False when any accepted version takes a suite
    without forward secrecy (static RSA or (EC)DH, bare PSK), True when every accepted
    version's classes are known and none does, else None."""
    accepted = {t: facts.versions.get(p) for t, p in _VERSIONS.items()}
    spoken = [p for p in Protocol if facts.versions.get(p)]
    classes = [facts.classes.get(p) for p in spoken]
    fs_only: bool | None
    if any(c is not None and WeakClass.NO_FS in c for c in classes):
        fs_only = False
    elif spoken and all(c is not None for c in classes):
        fs_only = True
    else:
        fs_only = None
    return ProtocolSupport(accepted=accepted, forward_secrecy_only=fs_only, failures=facts.failures)


def stapled_status(
    response: bytes | None, path: Sequence[bytes], as_of: dt.datetime
) -> Stapled | None:
    """The stapled response checked for the path's leaf and its issuer (RFC 6960 3.2, as
    scanner.x509.revocation checks a fetched one); None when nothing was stapled. A path
    without the leaf's issuer cannot verify it: invalid."""
    if response is None:
        return None
    leaf_pair = pairs(path)[:1]
    if not leaf_pair:
        return Stapled.INVALID
    cert, issuer = leaf_pair[0]
    v = check_ocsp(response, cert, issuer, as_of.replace(microsecond=0), url=STAPLED_URL)
    if v.status is Revocation.GOOD:
        return Stapled.GOOD
    if v.status is Revocation.REVOKED:
        return Stapled.REVOKED
    return Stapled.UNKNOWN if (v.why or "").endswith(UNKNOWN_TO_RESPONDER) else Stapled.INVALID


def stapled_scts(report: HelloReport, path: Sequence[bytes]) -> tuple[ct.Sct, ...]:
    """The SCTs in the stapled response's SingleResponse for the path's leaf (RFC 6962 3.3),
    read only from a staple that verified (`stapled_status` not invalid): a response that
    failed verification delivers none."""
    response = report.facts.ocsp_response
    if response is None or report.stapled in (None, Stapled.INVALID):
        return ()
    leaf_pair = pairs(path)[:1]
    return ct.ocsp_scts(response, *leaf_pair[0]) if leaf_pair else ()


def must_staple(leaf_der: bytes | None) -> bool:
    """The leaf carries the TLS feature extension with status_request (RFC 7633 4.2.3)."""
    cert = certs.try_parse(leaf_der) if leaf_der else None
    if cert is None:
        return False
    try:
        ext = cert.extensions.get_extension_for_class(x509.TLSFeature)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return x509.TLSFeatureType.status_request in ext.value
