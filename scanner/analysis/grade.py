"""An SSL Labs-style letter per host, from the caps of the SSL Labs rating guide that this
scanner measures (certificate always; protocol versions and key exchange with --protocols).
Pure: a diagnosis and the probe results in, a grade out."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model.grade import Grade, GradeBasis
from scanner.model.probed import HelloReport
from scanner.model.types import Diagnosis, ProtocolSupport, TlsVersion
from scanner.x509.grading import CipherCaps, cipher_caps

__all__ = [
    "F_KEY_BITS",
    "M_CODES",
    "ORDER",
    "T_CODES",
    "Grade",
    "GradeBasis",
    "GradeFacts",
    "dropped",
    "facts",
    "grade",
    "grade_of",
]


# Best first; a drop is a move to the right (M and T are equally bad). `scanner diff` reads it.
ORDER = {Grade.A: 0, Grade.A_MINUS: 1, Grade.B: 2, Grade.C: 3, Grade.F: 4, Grade.M: 5, Grade.T: 5}

# Findings for which the default store does not trust the chain: SSL Labs caps these at T
# ("self-signed, untrusted root, issuer not found, expired, not yet valid, revoked"; SHA-1
# signatures too since 2017). `revoked` is a revocation check's finding, when one runs.
T_CODES = frozenset(
    {
        "expired",
        "not_yet_valid",
        "self_signed",
        "untrusted_root",
        "issuer_not_found",
        "intermediate_expired",
        "not_trusted",
        "revoked",
    }
)
M_CODES = frozenset({"hostname_mismatch", "no_san"})
# Keys below this many bits (RSA, DSA) cap the grade at F; below 2048 (`weak_key`) at B.
F_KEY_BITS = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class GradeFacts:
    """What the caps look at; `None` for a protocol fact that was not measured."""

    untrusted: bool = False  # a T cause
    mismatch: bool = False  # an M cause
    md5_signature: bool = False  # F
    key_under_1024: bool = False  # F
    weak_key: bool = False  # B (RSA/DSA < 2048 bits, EC < 224 bits, any DSA key)
    incomplete_chain: bool = False  # B
    protocols: bool = False  # the versions were probed (--protocols)
    tls1_0: bool | None = None
    tls1_1: bool | None = None
    tls1_2: bool | None = None
    tls1_3: bool | None = None
    forward_secrecy_only: bool | None = None
    ciphers: CipherCaps | None = None  # the prober's caps (issue 19), when it ran


def grade(f: GradeFacts) -> tuple[Grade, GradeBasis]:
    """The worst cap that applies, in the order T/M, F, C, B, A- (T before M when both)."""
    basis = GradeBasis.CERTIFICATE_PROTOCOLS if f.protocols else GradeBasis.CERTIFICATE
    c = f.ciphers
    if c is not None:
        basis = GradeBasis.CERTIFICATE_PROTOCOLS_CIPHERS
    if f.untrusted:
        return Grade.T, basis
    if f.mismatch:
        return Grade.M, basis
    if f.md5_signature or f.key_under_1024 or (c is not None and c.f):
        return Grade.F, basis
    if f.protocols and f.tls1_2 is False and f.tls1_3 is False:
        return Grade.C, basis
    if c is not None and c.c:
        return Grade.C, basis
    legacy = f.protocols and (f.tls1_0 is True or f.tls1_1 is True)
    static_rsa = f.protocols and f.forward_secrecy_only is False
    if legacy or static_rsa or f.incomplete_chain or f.weak_key or (c is not None and c.b):
        return Grade.B, basis
    if f.protocols and f.tls1_3 is False:
        return Grade.A_MINUS, basis
    return Grade.A, basis


def facts(
    d: Diagnosis, protocols: ProtocolSupport | None = None, hello: HelloReport | None = None
) -> GradeFacts:
    """The facts of one host: its findings (and the certificates they name) and its probes."""
    by_sha = {c.sha256: c for c in d.certificates}
    codes = set(d.codes)
    md5 = sha1 = small = False
    for finding in d.findings:
        cert = by_sha.get(finding.certificate_sha256 or "")
        if finding.code == "weak_signature":
            if cert is not None and "md5" in (cert.signature_algorithm or "").lower():
                md5 = True
            else:
                sha1 = True
        if (
            finding.code == "weak_key"
            and cert is not None
            and cert.key_type in ("RSA", "DSA")
            and cert.key_size is not None
            and cert.key_size < F_KEY_BITS
        ):
            small = True
    leaf_unusable = d.leaf is None or d.leaf.parse_error is not None
    p = protocols
    return GradeFacts(
        untrusted=bool(codes & T_CODES) or sha1 or leaf_unusable,
        mismatch=bool(codes & M_CODES),
        md5_signature=md5,
        key_under_1024=small,
        weak_key=bool(codes & {"weak_key", "dsa_key"}),
        incomplete_chain="incomplete_chain" in codes,
        protocols=p is not None,
        tls1_0=p.get(TlsVersion.TLS1_0) if p else None,
        tls1_1=p.get(TlsVersion.TLS1_1) if p else None,
        tls1_2=p.get(TlsVersion.TLS1_2) if p else None,
        tls1_3=p.get(TlsVersion.TLS1_3) if p else None,
        forward_secrecy_only=p.forward_secrecy_only if p else None,
        ciphers=cipher_caps(hello) if hello is not None else None,
    )


def grade_of(
    d: Diagnosis, protocols: ProtocolSupport | None = None, hello: HelloReport | None = None
) -> tuple[Grade, GradeBasis]:
    return grade(facts(d, protocols, hello))


def dropped(old: str | None, new: str | None) -> bool:
    """Whether `new` is a worse grade than `old` (unknown letters never count)."""
    try:
        return ORDER[Grade(new)] > ORDER[Grade(old)]  # type: ignore[arg-type]
    except ValueError:
        return False
