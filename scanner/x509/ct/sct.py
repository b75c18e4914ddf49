"""SCTs (RFC 6962): the SignedCertificateTimestamp v1 value, read from the leaf's extension or a
stapled OCSP response's single extension (through cryptography) or from a
SignedCertificateTimestampList's bytes (TLS extension), written back, and its signature checked
over the signed data. Pure: no I/O, no clock."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import certificate_transparency as cct
from cryptography.x509 import ocsp

from scanner.x509.revocation.ocsp import names_issuer

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MS = dt.timedelta(milliseconds=1)
# RFC 5246 4.7 / RFC 6962 3.2: HashAlgorithm sha256(4); SignatureAlgorithm rsa(1), ecdsa(3).
SHA256_ID, RSA_ID, ECDSA_ID = 4, 1, 3
MAX_SCTS = 64  # per list: real certificates carry 2-5; more is hostile


class SctError(ValueError):
    """SCT bytes that do not follow RFC 6962's encoding (the message says where)."""


class SctSource(StrEnum):
    EMBEDDED = "embedded"  # X.509v3 extension 1.3.6.1.4.1.11129.2.4.2 (precertificate entry)
    TLS = "tls_extension"  # signed_certificate_timestamp extension (x509 entry)
    OCSP = "ocsp"  # OCSP single extension 1.3.6.1.4.1.11129.2.4.5 (x509 entry)


class EntryType(IntEnum):
    X509 = 0
    PRECERT = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Sct:
    """One SignedCertificateTimestamp v1 (RFC 6962 3.2)."""

    log_id: bytes  # SHA-256 of the log's public key (SubjectPublicKeyInfo DER)
    timestamp_ms: int  # milliseconds since the epoch, as signed
    extensions: bytes
    hash_alg: int
    sig_alg: int
    signature: bytes
    source: SctSource

    @property
    def timestamp(self) -> dt.datetime:
        return EPOCH + self.timestamp_ms * MS

    @property
    def entry_type(self) -> EntryType:
        return EntryType.PRECERT if self.source is SctSource.EMBEDDED else EntryType.X509


# --- parsing --------------------------------------------------------------------------------


def embedded_scts(leaf: x509.Certificate) -> tuple[Sct, ...]:
    """The SCTs embedded in the leaf (none: an empty tuple). SctError when the extension is
    there but cannot be read (cryptography refuses it)."""
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension) as e:
        raise SctError(f"the certificate's extensions cannot be read: {e}") from e
    return tuple(_from_cryptography(s, SctSource.EMBEDDED) for s in ext.value)


def ocsp_scts(response: bytes, leaf: x509.Certificate, issuer: x509.Certificate) -> tuple[Sct, ...]:
    """The SCTs in a stapled OCSP response's SingleResponse for `leaf` of `issuer` (RFC 6962
    3.3: single extension 1.3.6.1.4.1.11129.2.4.5). None (an empty tuple) for a response that
    cannot be read, is unsuccessful, names another certificate, has no such extension or an
    unreadable one. cryptography reads single extensions only of a response with one
    SingleResponse (what servers staple): a response naming several gives none. The response's
    signature is not checked here: read them only from a staple that verified."""
    try:
        r = ocsp.load_der_ocsp_response(response)
        if r.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return ()
        serial = leaf.serial_number
        if not any(s.serial_number == serial and names_issuer(s, issuer) for s in r.responses):
            return ()
        ext = r.single_extensions.get_extension_for_class(x509.SignedCertificateTimestamps)
        return tuple(_from_cryptography(s, SctSource.OCSP) for s in ext.value)
    except (ValueError, UnsupportedAlgorithm, x509.ExtensionNotFound, x509.DuplicateExtension):
        return ()


def _from_cryptography(s: cct.SignedCertificateTimestamp, source: SctSource) -> Sct:
    if s.version is not cct.Version.v1:
        raise SctError(f"SCT version {s.version} is not v1")
    when = s.timestamp
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when
    try:
        hash_alg = s.signature_hash_algorithm
    except UnsupportedAlgorithm as e:
        raise SctError(f"SCT hash algorithm not supported: {e}") from e
    return Sct(
        log_id=s.log_id,
        timestamp_ms=(when - EPOCH) // MS,
        extensions=s.extension_bytes,
        hash_alg=SHA256_ID if isinstance(hash_alg, hashes.SHA256) else 0,
        sig_alg=s.signature_algorithm.value,
        signature=s.signature,
        source=source,
    )


class _Reader:
    """Bounded reads over TLS presentation-language bytes (RFC 5246 4)."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SctError(
                f"{self.what}: {n} bytes wanted at offset {self.pos}, "
                f"{len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, len_size: int) -> bytes:
        return self.take(self.uint(len_size))

    def done(self) -> bool:
        return self.pos == len(self.data)


def parse_sct(data: bytes, source: SctSource) -> Sct | None:
    """One serialized SCT (RFC 6962 3.2); None for a version other than v1 (RFC 6962 3.3:
    clients ignore SCTs of versions they do not know)."""
    r = _Reader(data, "SCT")
    version = r.uint(1)
    if version != 0:
        return None
    log_id = r.take(32)
    timestamp_ms = r.uint(8)
    extensions = r.vector(2)
    hash_alg, sig_alg = r.uint(1), r.uint(1)
    signature = r.vector(2)
    if not r.done():
        raise SctError(f"SCT: {len(data) - r.pos} bytes after the signature")
    return Sct(
        log_id=log_id,
        timestamp_ms=timestamp_ms,
        extensions=extensions,
        hash_alg=hash_alg,
        sig_alg=sig_alg,
        signature=signature,
        source=source,
    )


def parse_sct_list(data: bytes, source: SctSource) -> tuple[Sct, ...]:
    """A SignedCertificateTimestampList (RFC 6962 3.3), the bytes of the TLS extension or of
    the OCSP extension's OCTET STRING: `opaque SerializedSCT<1..2^16-1>` items in a
    `<1..2^16-1>` vector."""
    outer = _Reader(data, "SCT list")
    body = outer.vector(2)
    if not outer.done():
        raise SctError(f"SCT list: {len(data) - outer.pos} bytes after the list")
    if not body:
        raise SctError("SCT list: empty (RFC 6962 requires at least one SCT)")
    r = _Reader(body, "SCT list")
    out: list[Sct] = []
    while not r.done():
        if len(out) >= MAX_SCTS:
            raise SctError(f"SCT list: more than {MAX_SCTS} SCTs")
        item = r.vector(2)
        if not item:
            raise SctError("SCT list: an empty SerializedSCT")
        sct = parse_sct(item, source)
        if sct is not None:
            out.append(sct)
    return tuple(out)


def serialize_sct(sct: Sct) -> bytes:
    """The SCT's RFC 6962 encoding (for writing lists, the lab's among them)."""
    return (
        bytes([0])
        + sct.log_id
        + struct.pack(">QH", sct.timestamp_ms, len(sct.extensions))
        + sct.extensions
        + struct.pack(">BBH", sct.hash_alg, sct.sig_alg, len(sct.signature))
        + sct.signature
    )


def serialize_sct_list(scts: Sequence[Sct]) -> bytes:
    items = b"".join(struct.pack(">H", len(b)) + b for b in map(serialize_sct, scts))
    return struct.pack(">H", len(items)) + items


# --- signed data and signature ----------------------------------------------------------------


def uint24_vector(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def precert_entry(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """PreCert (RFC 6962 3.2): issuer_key_hash (SHA-256 of the issuer's SubjectPublicKeyInfo)
    and the leaf's TBSCertificate without its SCT extension (what the log saw in the
    precertificate, without the poison extension)."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest() + uint24_vector(leaf.tbs_precertificate_bytes)


def signed_data(sct: Sct, entry: bytes) -> bytes:
    """The digitally-signed struct of RFC 6962 3.2: sct_version v1(0), signature_type
    certificate_timestamp(0), timestamp, entry_type, signed_entry, extensions."""
    return (
        struct.pack(">BBQH", 0, 0, sct.timestamp_ms, sct.entry_type)
        + entry
        + struct.pack(">H", len(sct.extensions))
        + sct.extensions
    )


def signature_valid(
    sct: Sct, entry: bytes, key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
) -> bool:
    """The log's signature over `signed_data`: SHA-256 with ECDSA (P-256) or RSA PKCS#1 v1.5
    (RFC 6962 2.1.4), the algorithm named by the SCT matching the log's key."""
    if sct.hash_alg != SHA256_ID:
        return False
    data = signed_data(sct, entry)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and sct.sig_alg == ECDSA_ID:
            key.verify(sct.signature, data, ec.ECDSA(hashes.SHA256()))
            return True
        if isinstance(key, rsa.RSAPublicKey) and sct.sig_alg == RSA_ID:
            key.verify(sct.signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    return False
