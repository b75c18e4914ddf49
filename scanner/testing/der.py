"""Certificates and OCSP responses `cryptography` refuses to produce, made by editing DER: SHA-1
and MD5 signatures, a year-0 validity, a UTCTime without seconds, single extensions (stapled
SCTs). Each is re-signed by its issuer."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scanner.testing.pki import Issued, Pki, PrivateKey

_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")
_MD5_RSA = bytes.fromhex("06092a864886f70d010104")


def resign_sha1(issued: Issued, issuer: Issued) -> Issued:
    """The same certificate signed with SHA-1, which cryptography refuses to produce: swap the
    signature algorithm OID (same length) in the TBS and outside it, then sign the new TBS."""
    return _resign(issued, issuer, _SHA1_RSA, hashes.SHA1())  # noqa: S303


def resign_md5(issued: Issued, issuer: Issued) -> Issued:
    """The same certificate signed with MD5 (md5WithRSAEncryption), as `resign_sha1`."""
    return _resign(issued, issuer, _MD5_RSA, hashes.MD5())  # noqa: S303


def _resign(issued: Issued, issuer: Issued, oid: bytes, algorithm: hashes.HashAlgorithm) -> Issued:
    assert issued.der.count(_SHA256_RSA) == 2, "expected a sha256WithRSAEncryption certificate"
    return _patch(issued, issuer, _SHA256_RSA, oid, algorithm)


def patch_and_resign(issued: Issued, issuer: Issued, old: bytes, new: bytes) -> Issued:
    """The same certificate with `old` bytes of its TBS replaced by `new` (same length) and
    signed again by `issuer` (RSA): for fields cryptography refuses to produce, such as a
    validity in year 0."""
    tbs = issued.cert.tbs_certificate_bytes
    assert tbs.count(old) == 1, "the bytes to patch must appear once in the TBS"
    assert issued.der.count(old) == 1, "the bytes to patch must not appear outside the TBS"
    return _patch(issued, issuer, old, new, hashes.SHA256())


def _patch(
    issued: Issued, issuer: Issued, old: bytes, new: bytes, algorithm: hashes.HashAlgorithm
) -> Issued:
    """`issued` with `old` replaced by `new` (same length) outside its signature, signed again
    by `issuer` (RSA, PKCS #1 v1.5) with `algorithm`."""
    assert isinstance(issuer.key, rsa.RSAPrivateKey), "re-signing needs an RSA issuer"
    assert len(old) == len(new)
    tbs = issued.cert.tbs_certificate_bytes.replace(old, new)
    signature = issuer.key.sign(tbs, padding.PKCS1v15(), algorithm)
    der, unsigned = issued.der, issued.cert.signature
    assert len(signature) == len(unsigned) and der.endswith(unsigned)
    body = der[: -len(unsigned)].replace(old, new)
    return Issued(x509.load_der_x509_certificate(body + signature), issued.key)


def year_zero_leaf(pki: Pki, dns_name: str) -> Issued:
    """A leaf whose notBefore is 0000-01-01 (GeneralizedTime), as in BoringSSL's test data:
    valid DER that Python's datetime cannot hold."""
    leaf = pki.leaf(
        [dns_name],
        not_before=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    )
    return patch_and_resign(leaf, pki.intermediate, b"20990101000000Z", b"00000101000000Z")


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def der_children(tlv: bytes) -> list[bytes]:
    """The TLVs inside one constructed TLV (definite lengths only)."""
    start = 2 + (tlv[1] & 0x7F if tlv[1] & 0x80 else 0)
    body, out, i = tlv[start:], [], 0
    while i < len(body):
        length, j = body[i + 1], i + 2
        if length & 0x80:
            k = length & 0x7F
            length, j = int.from_bytes(body[j : j + k], "big"), j + k
        out.append(body[i : j + length])
        i = j + length
    return out


def unparseable_certificate(issued: Issued, issuer: Issued) -> bytes:
    """`issued` re-signed by `issuer` with a notBefore UTCTime that has no seconds
    (`YYMMDDhhmmZ`): OpenSSL loads and sends it, cryptography's DER parser rejects it
    (RFC 5280 4.1.2.5.1 requires the seconds)."""
    fields = der_children(der_children(issued.der)[0])
    _, not_after = der_children(fields[4])
    not_before = issued.cert.not_valid_before_utc.strftime("%y%m%d%H%MZ").encode()
    fields[4] = der_tlv(0x30, der_tlv(0x17, not_before) + not_after)
    # The signature algorithm appears in the TBS and outside it; both name the issuer's.
    fields[2] = signature_algorithm(issuer.key)
    tbs = der_tlv(0x30, b"".join(fields))
    return der_tlv(0x30, tbs + fields[2] + der_tlv(0x03, b"\x00" + sign(issuer.key, tbs)))


OCSP_SCT_OID = "1.3.6.1.4.1.11129.2.4.5"  # RFC 6962 3.3: SCTs in an OCSP single extension


def ocsp_with_scts(response: bytes, signer: PrivateKey, sct_list: bytes) -> bytes:
    """`response` with the SignedCertificateTimestampList `sct_list` in its SingleResponse's
    extensions (the extnValue holds an OCTET STRING of the list, RFC 6962 3.3)."""
    return with_single_extension(response, signer, OCSP_SCT_OID, der_tlv(0x04, sct_list))


def with_single_extension(response: bytes, signer: PrivateKey, oid: str, value: bytes) -> bytes:
    """A successful OCSP response (RFC 6960 4.2.1) whose first SingleResponse gains the
    singleExtensions [1] with one extension (`oid`, extnValue `value`), its tbsResponseData
    signed again by `signer` with SHA-256: cryptography's OCSPResponseBuilder adds none."""
    status, wrapped = der_children(response)
    (response_bytes,) = der_children(wrapped)
    kind, octets = der_children(response_bytes)
    tbs, _algorithm, _signature, *certs = der_children(_contents(octets))
    fields = der_children(tbs)
    at = next(i for i, f in enumerate(fields) if f[0] == 0x18) + 1  # after producedAt
    single, *others = der_children(fields[at])
    parts = der_children(single)
    assert all(p[0] != 0xA1 for p in parts[3:]), "the SingleResponse already has extensions"
    extension = der_tlv(0x30, _oid(oid) + der_tlv(0x04, value))
    parts.append(der_tlv(0xA1, der_tlv(0x30, extension)))
    fields[at] = der_tlv(0x30, der_tlv(0x30, b"".join(parts)) + b"".join(others))
    tbs = der_tlv(0x30, b"".join(fields))
    bit_string = der_tlv(0x03, b"\x00" + sign(signer, tbs))
    basic = der_tlv(0x30, tbs + signature_algorithm(signer) + bit_string + b"".join(certs))
    response_bytes = der_tlv(0x30, kind + der_tlv(0x04, basic))
    return der_tlv(0x30, status + der_tlv(0xA0, response_bytes))


def _contents(tlv: bytes) -> bytes:
    return tlv[2 + (tlv[1] & 0x7F if tlv[1] & 0x80 else 0) :]


def _oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER's DER (X.690 8.19)."""
    first, second, *rest = map(int, dotted.split("."))
    body = bytearray([40 * first + second])
    for n in rest:
        chunk = [n & 0x7F]
        while n := n >> 7:
            chunk.append(0x80 | (n & 0x7F))
        body += bytes(reversed(chunk))
    return der_tlv(0x06, bytes(body))


def signature_algorithm(key: PrivateKey) -> bytes:
    """The AlgorithmIdentifier (DER) of SHA-256 with `key`: sha256WithRSAEncryption (with its
    NULL parameters) or ecdsa-with-SHA256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return der_tlv(0x30, der_tlv(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00")
    return der_tlv(0x30, der_tlv(0x06, bytes.fromhex("2a8648ce3d040302")))


def sign(key: PrivateKey, tbs: bytes) -> bytes:
    """`tbs` signed with SHA-256 by `key` (RSA PKCS #1 v1.5 or ECDSA), as `signature_algorithm`
    names it."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(tbs, ec.ECDSA(hashes.SHA256()))


def pem(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )
