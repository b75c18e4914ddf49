"""Offline diagnosis of a saved chain (`scanner check`): the diagnosis `scan` runs, on
certificates read from a file instead of a handshake. No network (no AIA fetching), no clock:
the caller passes as-of and the instant of the check."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from scanner import diagnose as dx
from scanner import tables
from scanner.aia import parse_issuers
from scanner.certs import TrustStore
from scanner.hostnames import HostError, normalise_dns_name, parse_ip
from scanner.models import Diagnosis, Handshake, ScanOk, Target

# Columns that describe a connection; an offline check has none.
NETWORK_COLUMNS = ("port", "ip", "input_line", "connected_ip", "tls_version", "cipher")
MAX_CERTIFICATES = 100  # more than any real chain; the rest of a file is ignored
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?"
    rb"CERTIFICATE-----",
    re.DOTALL,
)
_PEM_PKCS7 = b"-----BEGIN PKCS7-----"


class ChainFileError(Exception):
    """The file holds no certificate we can read (usage error: exit 2, one line)."""


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


def load_chain(data: bytes, source: str) -> tuple[bytes, ...]:
    """Certificates as DER, leaf first, from PEM (one or more blocks), DER (one or more
    concatenated) or PKCS#7 (PEM or DER). A certificate that does not parse is kept as DER
    (diagnosis reports it); a file with no certificate at all raises ChainFileError."""
    blocks = _PEM_BLOCK.findall(data)
    if blocks:
        out = []
        for n, block in enumerate(blocks[:MAX_CERTIFICATES], 1):
            try:
                out.append(base64.b64decode(b"".join(block.split()), validate=True))
            except (binascii.Error, ValueError):
                raise ChainFileError(f"{source}: PEM block {n} is not valid base64") from None
        return tuple(out)
    if _PEM_PKCS7 in data:
        try:
            return _leaf_first(parse_issuers(data)[:MAX_CERTIFICATES])
        except ValueError as e:
            raise ChainFileError(f"{source}: unreadable PKCS#7 ({e})") from None
    try:
        items = _der_items(data)
    except ValueError:
        items = []
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


def parse_host(text: str) -> tuple[str, bool]:
    """(normalised host, is an IP literal) as the input CSV would read it; HostError if not."""
    ip = parse_ip(text)
    if ip is not None:
        return str(ip), True
    return normalise_dns_name(text), False


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    host: str
    chain: tuple[bytes, ...]
    diagnosis: Diagnosis
    row: dict[str, Any]  # keyed by the hosts.parquet columns


def check(
    chain: Sequence[bytes],
    *,
    host: str,
    trust: TrustStore,
    as_of: dt.datetime,
    checked_at: dt.datetime,
    warn_days: int = 30,
) -> CheckReport:
    """Diagnose `chain` for `host`. Raises HostError for a host that is neither a DNS name nor
    an IP literal, ValueError for an empty chain or a naive as-of."""
    if not chain:
        raise ValueError("no certificate to check")
    name, is_ip = parse_host(host)
    diagnosis = dx.diagnose(
        chain, host=name, is_ip=is_ip, trust=trust, as_of=as_of, warn_days=warn_days
    )
    target = Target(row=0, host=name, port=0, ip=None, is_ip=is_ip)
    handshake = Handshake(chain=tuple(chain), tls_version="", cipher="", address="")
    result = ScanOk(target=target, handshake=handshake, diagnosis=diagnosis)
    row = tables.host_row(result, (), checked_at)
    row.update(dict.fromkeys(NETWORK_COLUMNS))
    return CheckReport(host=name, chain=tuple(chain), diagnosis=diagnosis, row=row)


def json_value(value: Any) -> Any:
    """A hosts.parquet value as JSON: timestamps in ISO 8601 UTC, tuples as lists."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json_value(row[k]) for k in tables.HOST_COLUMNS}


__all__ = [
    "ChainFileError",
    "CheckReport",
    "HostError",
    "check",
    "json_row",
    "load_chain",
    "parse_host",
]
