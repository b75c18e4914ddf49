"""Certificate files and bodies: PEM, DER (one or several concatenated) and PKCS#7, as chain
files (`scanner check`) and caIssuers responses hold them. Pure: bytes in, DER out."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import warnings
from collections.abc import Iterator
from types import ModuleType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.errors import ChainFileError

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PEM_PKCS7 = re.compile(rb"-----BEGIN PKCS7-----")


@contextlib.contextmanager
def _pkcs7() -> Iterator[ModuleType]:
    """cryptography's PKCS#7 reader, imported only for a PKCS#7 body (it loads the email
    package: 13 ms of every `scanner check`). Its warning is silenced: cryptography warns
    (UserWarning, naming its own source file) when it reads PKCS#7 as BER, which is how most
    .p7b files are written; the certificates are read all the same, so the warning tells the
    user nothing."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, message=".*PKCS#?7.*")
        yield pkcs7


def parse_issuers(body: bytes) -> tuple[bytes, ...]:
    """DER certificate, PEM certificate(s), or PKCS#7 (DER or PEM) -> DER certificates.

    Raises ValueError when the body is none of these."""
    if _PEM_CERT.search(body):
        return tuple(c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(body))
    if _PEM_PKCS7.search(body):
        with _pkcs7() as pkcs7:
            loaded = pkcs7.load_pem_pkcs7_certificates(body)
        return tuple(c.public_bytes(Encoding.DER) for c in loaded)
    try:
        cert = x509.load_der_x509_certificate(body)
        return (cert.public_bytes(Encoding.DER),)
    except ValueError:
        pass
    try:
        with _pkcs7() as pkcs7:
            loaded = pkcs7.load_der_pkcs7_certificates(body)
        return tuple(c.public_bytes(Encoding.DER) for c in loaded)
    except ValueError:
        raise ValueError("the response is not a DER, PEM or PKCS#7 certificate") from None


MAX_CERTIFICATES = 100  # more than any real chain; the rest of a file is ignored
_PEM_BEGIN = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?"
    rb"CERTIFICATE-----",
    re.DOTALL,
)


def _der_items(data: bytes) -> list[bytes]:
    """Split concatenated DER values (definite lengths); ValueError if `data` is not that."""
    items, i = [], 0
    while i < len(data):
        if data[i] != 0x30 or i + 2 > len(data):
            raise ValueError("not DER")
        length, j = data[i + 1], i + 2
        if length & 0x80:
            k = length & 0x7F
            if k == 0 or k > 4 or j + k > len(data):
                raise ValueError("not DER")
            length, j = int.from_bytes(data[j : j + k], "big"), j + k
        if j + length > len(data):
            raise ValueError("truncated DER")
        items.append(data[i : j + length])
        i = j + length
    return items


def _is_pkcs7(item: bytes) -> bool:
    """A ContentInfo starts with an OID; a Certificate with its TBS SEQUENCE."""
    header = 2 + (item[1] & 0x7F if item[1] & 0x80 else 0)
    return len(item) > header and item[header] == 0x06


def _leaf_first(bag: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """PKCS#7 holds a set (DER sorts it): put first the certificate that issued no other."""
    parsed = [x509.load_der_x509_certificate(d) for d in bag]
    issuers = {c.issuer for c in parsed if c.issuer != c.subject}
    for i, c in enumerate(parsed):
        if c.subject not in issuers:
            return (bag[i],) + bag[:i] + bag[i + 1 :]
    return bag


def _truncated_block(data: bytes) -> tuple[int, int] | None:
    """(number from 1, line) of the first PEM certificate block with no END line, if any."""
    starts = [m.start() for m in _PEM_BEGIN.finditer(data)]
    complete = list(_PEM_BLOCK.finditer(data))
    bad = next((m.start() for m in complete if _PEM_BEGIN.search(m.group(1))), None)
    if bad is None:
        covered = {m.start() for m in complete}
        bad = next((s for s in starts if s not in covered), None)
    if bad is None:
        return None
    return starts.index(bad) + 1, data[:bad].count(b"\n") + 1


def load_chain(data: bytes, source: str) -> tuple[bytes, ...]:
    """Certificates as DER, leaf first, from PEM (one or more blocks), DER (one or more
    concatenated) or PKCS#7 (PEM or DER). A certificate that does not parse is kept as DER
    (diagnosis reports it); a file with no certificate at all raises ChainFileError."""
    blocks = _PEM_BLOCK.findall(data)
    truncated = _truncated_block(data)
    if truncated is not None:
        n, line = truncated
        raise ChainFileError(
            f"{source}: PEM block {n} (BEGIN CERTIFICATE on line {line}) has no END "
            "CERTIFICATE line: the file is truncated or the paste was cut short"
        )
    if blocks:
        out = []
        for n, block in enumerate(blocks[:MAX_CERTIFICATES], 1):
            try:
                out.append(base64.b64decode(b"".join(block.split()), validate=True))
            except (binascii.Error, ValueError):
                raise ChainFileError(f"{source}: PEM block {n} is not valid base64") from None
        return tuple(out)
    if _PEM_PKCS7.search(data):
        try:
            return _leaf_first(parse_issuers(data)[:MAX_CERTIFICATES])
        except ValueError as e:
            raise ChainFileError(f"{source}: unreadable PKCS#7 ({e})") from None
    try:
        items = _der_items(data)
    except ValueError:
        items = []
    if not items and data.startswith(b"\x30\x80"):
        # An indefinite length: BER, as many tools write PKCS#7 (`.p7b`); certificates are DER.
        try:
            return _leaf_first(parse_issuers(data)[:MAX_CERTIFICATES])
        except ValueError as e:
            raise ChainFileError(f"{source}: unreadable PKCS#7 ({e})") from None
    if items and _is_pkcs7(items[0]):
        try:
            return _leaf_first(parse_issuers(items[0])[:MAX_CERTIFICATES])
        except ValueError as e:
            raise ChainFileError(f"{source}: unreadable PKCS#7 ({e})") from None
    if items:
        return tuple(items[:MAX_CERTIFICATES])
    raise ChainFileError(
        f"{source}: no certificate found (expected PEM 'BEGIN CERTIFICATE' blocks, DER or PKCS#7)"
    )
