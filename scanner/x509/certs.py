"""Parsing certificates and reading their facts, signatures between two certificates, and the
trust store. Pure and uncached: a scan remembers repeated work in `scanner.x509.memo.Memo`."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from scanner.errors import TrustStoreError
from scanner.model.types import CertInfo

_SHA256 = hashes.SHA256()
# What cryptography raises for a certificate it cannot read or a field it cannot represent (a
# year-0 date, a duplicate extension...). Anything else is a bug of ours and must surface.
MALFORMED: tuple[type[Exception], ...] = (
    ValueError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
    UnsupportedAlgorithm,
)

# cryptography 51 warns on every read of the name `dsa.DSAPublicKey` (an isinstance test
# included): read once, quietly, here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    DSA_PUBLIC_KEY = dsa.DSAPublicKey


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """cryptography's deprecation warnings (a DSA key, a non-positive serial) silenced while
    the scanner reads a certificate: what they say is a finding (`dsa_key`...), never a line on
    the user's terminal, and under `-W error` never an exception that changes a verdict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes:
    """The certificate's public key (cryptography 51 warns on every DSA key it reads)."""
    with quiet():
        return cert.public_key()


def parse(der: bytes) -> x509.Certificate:
    """Parse DER; raises ValueError (or another cryptography error) for a malformed one."""
    # Deprecation warnings (a negative serial...) would print once per odd certificate of the
    # fleet, and under `-W error` turn a parseable certificate into an unparseable one.
    # A name attribute of the wrong length (a 2-letter country of 8) is a UserWarning in
    # cryptography: here it makes the certificate malformed, whatever the warning filters say.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        # After (so before, in the filter list): a deprecation is a UserWarning subclass.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            cert = x509.load_der_x509_certificate(der)
            # Touch the fields every later step uses, so a malformed certificate fails here.
            _ = cert.subject, cert.issuer
            try:
                _ = cert.extensions
            except TypeError as e:
                # cryptography 50 and 51 raise TypeError building an extension it decoded but
                # cannot represent (name constraints holding an IPAddress that is not a
                # network, x509-limbo rfc5280::nc::invalid-ipv4-address): malformed. Only
                # here: a TypeError anywhere else is a bug of ours and must surface.
                raise ValueError(f"unrepresentable extension: {e}") from None
        except UserWarning as w:
            raise ValueError(str(w)) from None
    return cert


def try_parse(der: bytes) -> x509.Certificate | None:
    try:
        return parse(der)
    except MALFORMED:  # the caller records unparseable_certificate
        return None


def validity(cert: x509.Certificate) -> tuple[dt.datetime | None, dt.datetime | None, str | None]:
    """(notBefore, notAfter, why one is missing): a date Python cannot hold (year 0, as in
    BoringSSL's test data) is None with the reason, never an exception."""
    bounds: list[dt.datetime | None] = []
    problems = []
    for field in ("notBefore", "notAfter"):
        try:
            if field == "notBefore":
                bounds.append(cert.not_valid_before_utc)
            else:
                bounds.append(cert.not_valid_after_utc)
        except ValueError as e:
            bounds.append(None)
            problems.append(f"{field} cannot be represented ({e})")
    return bounds[0], bounds[1], "; ".join(problems) or None


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except MALFORMED:  # a malformed attribute value; keep something readable
        return repr(name)


def key_facts(cert: x509.Certificate) -> tuple[str | None, int | None]:
    try:
        key = public_key(cert)
    except MALFORMED:
        return None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}", key.curve.key_size
    if isinstance(key, DSA_PUBLIC_KEY):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


def signature_hash(cert: x509.Certificate) -> str | None:
    try:
        h = cert.signature_hash_algorithm
    except MALFORMED:
        return None
    return None if h is None else h.name


def sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(dNSNames, iPAddresses) of the subjectAltName, or None when there is no such extension."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    assert isinstance(value, x509.SubjectAlternativeName)
    dns = tuple(value.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in value.get_values_for_type(x509.IPAddress))
    return dns, ips


def is_ca(cert: x509.Certificate) -> bool | None:
    try:
        bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(bc, x509.BasicConstraints)
    return bc.ca


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    except x509.ExtensionNotFound:
        return ()
    assert isinstance(aia, x509.Extension)
    value = aia.value
    assert isinstance(value, x509.AuthorityInformationAccess)
    return tuple(
        d.access_location.value
        for d in value
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches and the issuer's key verifies the child's signature.

    Verified by hand rather than with `verify_directly_issued_by`, which refuses SHA-1: a
    SHA-1-signed chain must still be built so that `weak_signature` can name it. (A scan
    remembers the answer per pair in its `Memo`.)"""
    if child.issuer != issuer.subject:
        return False
    try:
        key = public_key(issuer)
        tbs, sig = child.tbs_certificate_bytes, child.signature
        params = child.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            h = child.signature_hash_algorithm
            if params is None and h is not None:
                # md5WithRSAEncryption: cryptography names no padding; it is PKCS #1 v1.5
                # (RFC 3279 2.2.1), so an MD5-signed chain is still built and can be named.
                params = padding.PKCS1v15()
            if not isinstance(params, padding.PKCS1v15 | padding.PSS) or h is None:
                return False  # the child's algorithm is not an RSA one
            key.verify(sig, tbs, params, h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return False
            key.verify(sig, tbs, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        elif isinstance(key, DSA_PUBLIC_KEY):
            h = child.signature_hash_algorithm
            if h is None:
                return False
            with quiet():
                key.verify(sig, tbs, h)
        else:
            return False
    except InvalidSignature:
        return False
    except MALFORMED:  # a key or algorithm cryptography cannot use
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and signed_by(cert, cert)


def serial_hex(cert: x509.Certificate) -> str:
    with quiet():  # a non-positive serial warns on every read
        return format(cert.serial_number, "x")


def info(der: bytes, cert: x509.Certificate | None = None) -> CertInfo:
    """Facts for certificates.parquet (`cert`: the parsed `der`, when the caller has it); a
    certificate that will not parse keeps its DER and the parser's reason."""
    digest = sha256_hex(der)
    if cert is None:
        try:
            cert = parse(der)
        except MALFORMED as e:  # the message is the data we keep
            return CertInfo(
                sha256=digest,
                der=der,
                subject=None,
                issuer=None,
                serial=None,
                not_before=None,
                not_after=None,
                key_type=None,
                key_size=None,
                signature_algorithm=None,
                parse_error=f"{type(e).__name__}: {e}"[:300],
            )
    key_type, key_size = key_facts(cert)
    names = sans(cert) or ((), ())
    not_before, not_after, _ = validity(cert)
    return CertInfo(
        sha256=digest,
        der=der,
        subject=name_text(cert.subject),
        issuer=name_text(cert.issuer),
        serial=serial_hex(cert),
        not_before=not_before,
        not_after=not_after,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=signature_algorithm(cert),
        san_dns=names[0],
        san_ip=names[1],
        is_ca=is_ca(cert),
        self_issued=cert.subject == cert.issuer,
    )


@dataclass(frozen=True, slots=True)
class TrustStore:
    path: str
    sha256: str
    roots: tuple[x509.Certificate, ...]
    store: verification.Store
    by_subject: dict[x509.Name, tuple[x509.Certificate, ...]]
    fingerprints: frozenset[bytes]

    def issuers_of(self, cert: x509.Certificate) -> tuple[x509.Certificate, ...]:
        return self.by_subject.get(cert.issuer, ())

    def contains(self, cert: x509.Certificate) -> bool:
        return cert.fingerprint(_SHA256) in self.fingerprints


def load_trust_store(pem: bytes, path: str) -> TrustStore:
    try:
        with quiet():
            roots = tuple(x509.load_pem_x509_certificates(pem))
    except MALFORMED as e:
        raise TrustStoreError(f"{path}: not a PEM bundle of certificates ({e})") from None
    if not roots:
        raise TrustStoreError(f"{path}: no certificates in the bundle")
    return store_of(roots, path=path, sha256=hashlib.sha256(pem).hexdigest())


def store_of(roots: tuple[x509.Certificate, ...], *, path: str, sha256: str) -> TrustStore:
    """A trust store of `roots` (at least one), named `path`, identified by `sha256`."""
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for r in roots:
        by_subject.setdefault(r.subject, []).append(r)
    return TrustStore(
        path=path,
        sha256=sha256,
        roots=roots,
        store=verification.Store(list(roots)),
        by_subject={k: tuple(v) for k, v in by_subject.items()},
        fingerprints=frozenset(r.fingerprint(_SHA256) for r in roots),
    )
