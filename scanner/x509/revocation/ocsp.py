"""OCSP (RFC 6960): the request for one certificate, and whether a response counts: it names
the serial and issuer, is signed by the issuer or a delegated responder, and is current. Pure."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
)

from scanner.x509 import certs
from scanner.x509.revocation.verdict import Source, Status, Verdict, ts

MAX_OCSP_URLS = 2
OCSP_CONTENT_TYPE = "application/ocsp-request"  # RFC 6960 A.1
OCSP_LEEWAY = dt.timedelta(minutes=5)  # clock skew allowed, as OpenSSL's default
UNKNOWN_TO_RESPONDER = "(status unknown)"  # the end of `why` for a certStatus of unknown


def ocsp_urls(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        d.access_location.value
        for d in ext.value
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.lower().startswith(("http://", "https://"))
    )


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """The DER OCSPRequest for `cert` (CertID with SHA-1, as RFC 5019 2.1.1 and every public
    responder expect)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    return builder.build().public_bytes(Encoding.DER)


def check_ocsp(
    data: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    as_of: dt.datetime,
    *,
    url: str,
) -> Verdict:
    """RFC 6960 3.2: the response names this serial and issuer, is signed by the issuer or by
    a responder certificate the issuer signed with the OCSP-signing EKU, and is current."""

    def unknown(why: str) -> Verdict:
        return Verdict(status=Status.UNKNOWN, source=Source.OCSP, url=url, why=f"{url}: {why}")

    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as e:
        return unknown(f"not an OCSP response ({e})"[:300])
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return unknown(f"the responder answered {response.response_status.name.lower()}")
    single = None
    for r in response.responses:
        if r.serial_number == cert.serial_number and names_issuer(r, issuer):
            single = r
            break
    if single is None:
        return unknown(f"the response does not name serial {certs.serial_hex(cert)} of this issuer")
    signer = _ocsp_signer(response, issuer, as_of)
    if signer is None:
        return unknown(
            "signed by a key that is neither the issuer's nor an OCSP responder certificate "
            "the issuer signed"
        )
    if not _verify(
        certs.public_key(signer), response.signature, response.tbs_response_bytes, response
    ):
        return unknown("bad signature on the response")
    # Responders stamp answers with their own clock: allow OpenSSL's OCSP_check_validity
    # leeway either side (RFC 6960 4.2.2.1 leaves the local tolerance to the client).
    if as_of + OCSP_LEEWAY < single.this_update_utc:
        return unknown(f"not yet valid: thisUpdate {ts(single.this_update_utc)}")
    if single.next_update_utc is not None and as_of - OCSP_LEEWAY > single.next_update_utc:
        return unknown(f"stale response: nextUpdate {ts(single.next_update_utc)}")
    match single.certificate_status:
        case ocsp.OCSPCertStatus.GOOD:
            return Verdict(status=Status.GOOD, source=Source.OCSP, url=url)
        case ocsp.OCSPCertStatus.REVOKED:
            reason = single.revocation_reason
            return Verdict(
                status=Status.REVOKED,
                source=Source.OCSP,
                url=url,
                revoked_at=single.revocation_time_utc,
                reason=reason.name if reason is not None else None,
            )
    return unknown(f"the responder does not know the certificate {UNKNOWN_TO_RESPONDER}")


def names_issuer(r: ocsp.OCSPSingleResponse, issuer: x509.Certificate) -> bool:
    try:
        h = r.hash_algorithm
    except UnsupportedAlgorithm:  # a CertID hash cryptography does not know names nothing
        return False
    name_hash = _digest(h, issuer.subject.public_bytes())
    return r.issuer_name_hash == name_hash and r.issuer_key_hash == _digest(h, _key_bits(issuer))


def _digest(h: hashes.HashAlgorithm, data: bytes) -> bytes:
    ctx = hashes.Hash(h)
    ctx.update(data)
    return ctx.finalize()


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents, which RFC 6960 4.1.1's issuerKeyHash and
    ResponderID byKey hash."""
    spki = certs.public_key(cert).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    _, i = _der_length(spki, 1)  # inside SubjectPublicKeyInfo
    alg_len, j = _der_length(spki, i + 1)  # AlgorithmIdentifier
    k = j + alg_len
    if spki[k] != 0x03:
        raise ValueError("subjectPublicKey is not a BIT STRING")
    bits_len, m = _der_length(spki, k + 1)
    return spki[m + 1 : m + bits_len]  # without the unused-bits octet


def _der_length(data: bytes, i: int) -> tuple[int, int]:
    """(length, index of the contents) of the DER element whose length byte is at `i`."""
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    return int.from_bytes(data[i + 1 : i + 1 + n], "big"), i + 1 + n


def _responder_is(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_key_hash is not None:
        return response.responder_key_hash == hashlib.sha1(_key_bits(cert)).digest()  # noqa: S324
    return response.responder_name == cert.subject


def _ocsp_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, as_of: dt.datetime
) -> x509.Certificate | None:
    """The issuer itself, or a delegated responder (RFC 6960 4.2.2.2): a certificate in the
    response, issued by the issuer, with id-kp-OCSPSigning, valid at as-of."""
    if _responder_is(response, issuer):
        return issuer
    for cand in response.certificates:
        if not _responder_is(response, cand) or not certs.signed_by(cand, issuer):
            continue
        try:
            eku = cand.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        try:
            if cand.not_valid_before_utc <= as_of <= cand.not_valid_after_utc:
                return cand
        except ValueError:  # an unrepresentable validity (year 0): not a usable responder
            continue
    return None


def _verify(key: object, signature: bytes, data: bytes, response: ocsp.OCSPResponse) -> bool:
    try:
        h = response.signature_hash_algorithm
    except UnsupportedAlgorithm:  # a signature algorithm cryptography does not know
        return False
    try:
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        elif isinstance(key, rsa.RSAPublicKey) and h is not None:
            key.verify(signature, data, padding.PKCS1v15(), h)
        elif isinstance(key, ec.EllipticCurvePublicKey) and h is not None:
            key.verify(signature, data, ec.ECDSA(h))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
