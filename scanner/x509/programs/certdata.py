"""Mozilla's root store in NSS's `certdata.txt` (nss lib/ckfw/builtins/certdata.txt): PKCS#11
objects after `BEGINDATA`, one attribute a line (`CKA_X TYPE VALUE`, or `MULTILINE_OCTAL` lines
of `\\ooo` up to `END`). A certificate object (CKO_CERTIFICATE) is paired with its trust object
(CKO_NSS_TRUST, or PKCS#11 3.2's CKO_TRUST) by CKA_ISSUER + CKA_SERIAL_NUMBER; it is a TLS
anchor when that trust object's CKA_TRUST_SERVER_AUTH is a trusted delegator."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from cryptography import x509

from scanner.x509 import certs as certs_
from scanner.x509.programs.model import Anchor, ProgramKind, RootProgram, RootProgramError

# CKA_TRUST_SERVER_AUTH values that make an anchor (NSS's and PKCS#11 3.2's names).
_TRUSTED = {"CKT_NSS_TRUSTED_DELEGATOR", "CKT_TRUST_ANCHOR"}
_OCTAL_LINE = re.compile(r"(?:\\[0-3][0-7]{2})+")  # a byte each: \000 to \377
_ATTR = re.compile(r"(CKA_[A-Z0-9_]+)\s+([A-Z0-9_]+)(?:\s+(.*))?")


def looks_like(text: str) -> bool:
    return re.search(r"(?m)^BEGINDATA\s*$", text) is not None and "CKA_CLASS" in text


@dataclass(slots=True)
class _Object:
    line: int
    attrs: dict[str, tuple[str, str | bytes]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        v = self.attrs.get(name)
        return v[1] if v is not None and isinstance(v[1], str) else None

    def octets(self, name: str) -> bytes | None:
        v = self.attrs.get(name)
        return v[1] if v is not None and isinstance(v[1], bytes) else None


def _utf8(body: str) -> str:
    """A UTF8 value as certdata.txt writes it: non-ASCII bytes as \\xNN escapes."""
    raw = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), body.encode())
    return raw.decode("utf-8", "replace")


def _fail(source: str, line: int, why: str) -> RootProgramError:
    return RootProgramError(f"{source}: not a usable Mozilla certdata.txt: line {line}: {why}")


def _objects(text: str, source: str) -> list[_Object]:
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "BEGINDATA") + 1
    except StopIteration:
        raise RootProgramError(f"{source}: no BEGINDATA line (not a certdata.txt)") from None
    objects: list[_Object] = []
    i = start
    while i < len(lines):
        line, lineno = lines[i].strip(), i + 1
        i += 1
        if not line or line.startswith("#"):
            continue
        m = _ATTR.fullmatch(line)
        if m is None:
            raise _fail(source, lineno, f"expected an attribute line, found {line[:60]!r}")
        name, kind, rest = m.group(1), m.group(2), (m.group(3) or "").strip()
        value: str | bytes
        if kind == "MULTILINE_OCTAL":
            chunks: list[bytes] = []
            while True:
                if i >= len(lines):
                    raise _fail(source, lineno, f"{name}: MULTILINE_OCTAL without END")
                body = lines[i].strip()
                i += 1
                if body == "END":
                    break
                if not _OCTAL_LINE.fullmatch(body):
                    raise _fail(source, i, f"{name}: not an octal line: {body[:60]!r}")
                chunks.append(bytes(int(o, 8) for o in body.split("\\")[1:]))
            value = b"".join(chunks)
        elif kind == "UTF8":
            if len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
                raise _fail(source, lineno, f"{name}: UTF8 value not in quotes")
            value = _utf8(rest[1:-1])
        else:
            value = rest
        if name == "CKA_CLASS":
            objects.append(_Object(lineno))
        elif not objects:
            raise _fail(source, lineno, f"{name} before any CKA_CLASS")
        objects[-1].attrs[name] = (kind, value)
    return objects


def _asn1_time(raw: bytes, source: str, line: int) -> dt.datetime:
    """CKA_NSS_SERVER_DISTRUST_AFTER: a UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime as bytes."""
    text = raw.decode("ascii", "replace")
    for fmt, size in (("%y%m%d%H%M%SZ", 13), ("%Y%m%d%H%M%SZ", 15)):
        if len(text) == size:
            try:
                when = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                break
            # RFC 5280 4.1.2.5.1: UTCTime YY >= 50 is 19YY (strptime's %y pivots at 69).
            if size == 13 and when.year >= 2050:
                when = when.replace(year=when.year - 100)
            return when
    raise _fail(source, line, f"CKA_NSS_SERVER_DISTRUST_AFTER is not a UTCTime: {text!r}")


def _trust_key(obj: _Object) -> tuple[bytes, ...] | None:
    """How a trust object names its certificate: issuer + serial (CKO_NSS_TRUST, CKO_TRUST),
    else PKCS#11 3.2's CKA_HASH_OF_CERTIFICATE under CKM_SHA256."""
    issuer, serial = obj.octets("CKA_ISSUER"), obj.octets("CKA_SERIAL_NUMBER")
    if issuer is not None and serial is not None:
        return (issuer, serial)
    digest = obj.octets("CKA_HASH_OF_CERTIFICATE")
    if digest is not None and obj.text("CKA_NAME_HASH_ALGORITHM") == "CKM_SHA256":
        return (digest,)
    return None


def read(text: str, *, source: str, sha256: str) -> RootProgram:
    objects = _objects(text, source)
    certs: list[_Object] = []
    server_trust: dict[tuple[bytes, ...], str] = {}
    for obj in objects:
        cls = obj.text("CKA_CLASS")
        if cls == "CKO_CERTIFICATE":
            if obj.octets("CKA_ISSUER") is None or obj.octets("CKA_SERIAL_NUMBER") is None:
                raise _fail(source, obj.line, "a certificate without CKA_ISSUER/CKA_SERIAL_NUMBER")
            certs.append(obj)
        elif cls in ("CKO_NSS_TRUST", "CKO_TRUST"):
            key = _trust_key(obj)
            if key is None:
                raise _fail(source, obj.line, f"{cls} that names no certificate")
            server_trust[key] = obj.text("CKA_TRUST_SERVER_AUTH") or ""
        # Other classes (CKO_NSS_BUILTIN_ROOT_LIST...) say nothing about TLS trust.
    anchors: dict[str, Anchor] = {}
    dates: list[dt.datetime] = []
    for obj in certs:
        der = obj.octets("CKA_VALUE")
        label = obj.text("CKA_LABEL") or ""
        if der is None:
            raise _fail(source, obj.line, f"certificate {label!r} without CKA_VALUE")
        issuer, serial = obj.octets("CKA_ISSUER"), obj.octets("CKA_SERIAL_NUMBER")
        assert issuer is not None and serial is not None
        trust = server_trust.get((issuer, serial))
        if trust is None:
            trust = server_trust.get((hashlib.sha256(der).digest(),))
        if trust not in _TRUSTED:
            continue  # no trust object, or trusted for e-mail only, or distrusted
        try:
            with certs_.quiet():
                cert = x509.load_der_x509_certificate(der)
        except certs_.MALFORMED as e:
            raise _fail(source, obj.line, f"certificate {label!r} cannot be read: {e}") from e
        distrust: dt.datetime | None = None
        raw = obj.attrs.get("CKA_NSS_SERVER_DISTRUST_AFTER")
        if raw is not None and isinstance(raw[1], bytes):
            distrust = _asn1_time(raw[1], source, obj.line)
            dates.append(distrust)
        dates.append(cert.not_valid_before_utc)
        digest = hashlib.sha256(der).hexdigest()
        anchors[digest] = Anchor(
            sha256=digest, label=label, server_distrust_after=distrust, der=der
        )
    if not anchors:
        raise RootProgramError(f"{source}: a certdata.txt with no certificate trusted for TLS")
    return RootProgram(
        kind=ProgramKind.MOZILLA,
        source=source,
        sha256=sha256,
        anchors=anchors,
        newest_date=max(dates, default=None),
    )
