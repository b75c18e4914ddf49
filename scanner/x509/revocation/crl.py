"""CRLs (RFC 5280 5, 6.3): parsed once into what lookups need (the revoked serials as
integers, with time and reason), then checked for one certificate: issuer, signature, scope,
currency at as-of. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import (
    CRLEntryExtensionOID,
    ExtensionOID,
)

from scanner.x509 import certs
from scanner.x509.revocation.verdict import Source, Status, Verdict, ts

# URLs tried per certificate: a certificate naming hundreds must not buy hundreds of fetches.
MAX_CRL_URLS = 3
# RFC 5280 5.3.1 CRLReason codes, by cryptography's flag.
REASON_CODES: dict[x509.ReasonFlags, int] = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}
REASON_NAMES = {code: flag.name for flag, code in REASON_CODES.items()}
_REMOVE_FROM_CRL = 8
# Entry extensions a CRL may mark critical that we understand (RFC 5280 5.3); an unknown
# critical one makes the CRL unusable (5.3: "MUST NOT use the list").
_ENTRY_EXTENSIONS = {
    CRLEntryExtensionOID.CRL_REASON,
    CRLEntryExtensionOID.INVALIDITY_DATE,
}
_CRL_EXTENSIONS = {
    ExtensionOID.CRL_NUMBER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.ISSUING_DISTRIBUTION_POINT,
}


# --- CRLs: what lookups need, not the parsed object ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Signature:
    """A signature checkable later against any key: the TBS pre-hashed (EdDSA keeps the TBS,
    which cannot be pre-hashed)."""

    value: bytes
    hash: hashes.HashAlgorithm | None
    params: object
    digest: bytes
    tbs: bytes | None

    def verified_by(self, key: object) -> bool:
        try:
            if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
                if self.tbs is None:
                    return False
                key.verify(self.value, self.tbs)
                return True
            if self.hash is None:
                return False
            pre = Prehashed(self.hash)
            if isinstance(key, rsa.RSAPublicKey):
                pad = self.params
                if not isinstance(pad, padding.PKCS1v15 | padding.PSS):
                    return False
                key.verify(self.value, self.digest, pad, pre)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(self.value, self.digest, ec.ECDSA(pre))
            elif isinstance(key, certs.DSA_PUBLIC_KEY):
                key.verify(self.value, self.digest, pre)
            else:
                return False
        except (InvalidSignature, ValueError, TypeError):  # TypeError: key and params mismatch
            return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """The Issuing Distribution Point of a CRL (RFC 5280 5.2.5): which certificates it covers."""

    names: frozenset[str]  # distributionPoint fullName URIs; empty: any
    only_user: bool = False
    only_ca: bool = False
    only_attribute: bool = False
    some_reasons: bool = False
    indirect: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Crl:
    """One CRL as its lookups need it: the revoked serials (integers) with their time and
    reason packed into one int, the scope, the dates and a signature checkable later."""

    issuer: x509.Name
    this_update: dt.datetime
    next_update: dt.datetime | None
    scope: Scope | None
    signature: _Signature
    # serial -> the entry's revocationDate element (DER) as an integer << 4 | reason code + 1
    entries: Mapping[int, int] = field(repr=False)
    unusable: str | None = None  # why the CRL cannot be used at all
    # Whether each issuer (of the few that ask) verifies the signature: checked once per run,
    # by object (hashing a certificate costs its whole DER); the object is kept with its answer
    # so that its id is not reused.
    _verified: dict[int, tuple[x509.Certificate, bool]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def signed_by(self, issuer: x509.Certificate) -> bool:
        known = self._verified.get(id(issuer))
        if known is None or known[0] is not issuer:
            known = (issuer, self.signature.verified_by(certs.public_key(issuer)))
            self._verified[id(issuer)] = known
        return known[1]

    def lookup(self, serial: int) -> tuple[dt.datetime, str | None] | None:
        packed = self.entries.get(serial)
        if packed is None:
            return None
        code = (packed & 0xF) - 1
        element = (packed >> 4).to_bytes(((packed >> 4).bit_length() + 7) // 8, "big")
        return _der_time(element), (REASON_NAMES.get(code) if code >= 0 else None)


def parse_crl(data: bytes) -> Crl:
    """A CRL in DER or PEM as `Crl`; raises ValueError for what is not a CRL."""
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        crl = x509.load_pem_x509_crl(stripped)
        der = crl.public_bytes(Encoding.DER)
    else:
        crl = x509.load_der_x509_crl(data)
        der = data
    # The TBSCertList as sent (cryptography's tbs_certlist_bytes encodes it afresh each time).
    _, start, _ = _tlv(der, 0)
    tbs = der[start : _tlv(der, start)[2]]
    unusable = None
    scope = None
    for ext in crl.extensions:
        if ext.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            unusable = "it is a delta CRL (only complete CRLs are used)"
        elif ext.oid == ExtensionOID.ISSUING_DISTRIBUTION_POINT:
            scope = _scope(ext.value)
        elif ext.critical and ext.oid not in _CRL_EXTENSIONS:
            unusable = f"it has an unsupported critical extension {ext.oid.dotted_string}"
    entries, careful = _entries(tbs, crl)
    if careful:  # some entry has an extension to look at closely (rare)
        unusable = unusable or _entry_problem(crl)
    if scope is not None and scope.indirect:
        unusable = "it is an indirect CRL (RFC 5280 5.2.5), which the scanner does not use"
    try:
        h = crl.signature_hash_algorithm
    except UnsupportedAlgorithm:  # cryptography cannot verify it: the CRL is not used
        h = None
        oid = crl.signature_algorithm_oid.dotted_string
        unusable = unusable or f"its signature algorithm {oid} is not supported"
    digest = b""
    if h is not None:
        ctx = hashes.Hash(h)
        ctx.update(tbs)
        digest = ctx.finalize()
    return Crl(
        issuer=crl.issuer,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        scope=scope,
        signature=_Signature(
            value=crl.signature,
            hash=h,
            params=crl.signature_algorithm_parameters,
            digest=digest,
            tbs=tbs if h is None else None,
        ),
        entries=entries,
        unusable=unusable,
    )


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start, end of the contents) of the DER element at `i`."""
    tag, first = data[i], data[i + 1]
    if first < 0x80:
        return tag, i + 2, i + 2 + first
    n = first & 0x7F
    return tag, i + 2 + n, i + 2 + n + int.from_bytes(data[i + 2 : i + 2 + n], "big")


_REASON_OID = b"\x55\x1d\x15"  # id-ce-cRLReasons (RFC 5280 5.3.1), the OID's contents


class _Unusual(Exception):
    """DER the fast entry reader does not expect: cryptography's entries are read instead."""


def _entries(tbs: bytes, crl: x509.CertificateRevocationList) -> tuple[dict[int, int], bool]:
    """The revokedCertificates as {serial: packed}, and whether some entry has an extension
    other than a non-critical reason code (then `_entry_problem` looks closely). Read from
    the DER directly, twice as fast as cryptography's objects (a 20 MiB CRL); anything the
    fast reader does not expect falls back to cryptography's entries, which accepted them."""
    try:
        return _entries_fast(tbs)
    except (_Unusual, IndexError, ValueError):
        pass
    try:
        return _entries_slow(crl), True
    except (ValueError, x509.DuplicateExtension) as e:
        raise ValueError(f"an entry cannot be read: {e}") from None


def _entries_fast(tbs: bytes) -> tuple[dict[int, int], bool]:
    """The revokedCertificates of a TBSCertList (RFC 5280 5.1), read from the DER cryptography
    has already parsed. Raises _Unusual (or IndexError) on anything unexpected."""
    _, i, end = _tlv(tbs, 0)
    tag, _, e = _tlv(tbs, i)
    if tag == 0x02:  # version
        i = e
    for _ in range(3):  # signature, issuer, thisUpdate
        i = _tlv(tbs, i)[2]
    tag, s, e = _tlv(tbs, i) if i < end else (0, 0, 0)
    if tag in (0x17, 0x18):  # nextUpdate
        i = e
        tag, s, e = _tlv(tbs, i) if i < end else (0, 0, 0)
    entries: dict[int, int] = {}
    careful = False
    if tag != 0x30:
        return entries, careful
    if e > end:
        raise _Unusual
    from_bytes = int.from_bytes
    i, stop = s, e
    while i < stop:
        # Short-form lengths inline (an entry is ~40 bytes): half a million entries per 20 MiB.
        n = tbs[i + 1]
        if n < 0x80:
            s, e = i + 2, i + 2 + n
        else:
            _, s, e = _tlv(tbs, i)
        if tbs[i] != 0x30 or e > stop:
            raise _Unusual
        i = e
        n = tbs[s + 1]
        if n < 0x80:
            ss, se = s + 2, s + 2 + n
        else:
            _, ss, se = _tlv(tbs, s)
        if tbs[s] != 0x02 or se >= e:
            raise _Unusual
        serial = from_bytes(tbs[ss:se], "big", signed=True)  # RFC 5280 4.1.2.2: an INTEGER
        ts, te = se + 2, se + 2 + tbs[se + 1]  # UTCTime or GeneralizedTime: 13 to 23 bytes
        if tbs[se] not in (0x17, 0x18) or te > e:
            raise _Unusual
        code = 0
        if te < e:
            code, other = _entry_extensions(tbs, te, e)
            careful = careful or other
        entries[serial] = from_bytes(tbs[ts - 2 : te], "big") << 4 | code
    return entries, careful


def _entry_extensions(tbs: bytes, i: int, end: int) -> tuple[int, bool]:
    """(reason code + 1 or 0, whether there is any other or any critical extension) of the
    crlEntryExtensions SEQUENCE OF Extension at `i`, which must end at `end`."""
    tag, i, e = _tlv(tbs, i)
    if tag != 0x30 or e != end:
        raise _Unusual
    code, other = 0, False
    while i < end:
        tag, s, e = _tlv(tbs, i)  # Extension ::= SEQUENCE { extnID, critical, extnValue }
        if tag != 0x30 or e > end:
            raise _Unusual
        i = e
        tag, os, oe = _tlv(tbs, s)
        if tag != 0x06:
            raise _Unusual
        tag, vs, ve = _tlv(tbs, oe)
        if tag == 0x01:  # critical BOOLEAN (present only when TRUE in DER)
            other = True
            tag, vs, ve = _tlv(tbs, ve)
        if tag != 0x04 or ve != e:
            raise _Unusual
        if tbs[os:oe] != _REASON_OID:
            other = True
            continue
        value = tbs[vs:ve]  # ENUMERATED: 0a 01 NN
        if len(value) != 3 or value[:2] != b"\x0a\x01" or value[2] >= 15 or code:
            raise _Unusual
        code = value[2] + 1
    return code, other


def _entries_slow(crl: x509.CertificateRevocationList) -> dict[int, int]:
    """The entries as `_entries_fast` packs them, from cryptography's objects."""
    entries: dict[int, int] = {}
    for entry in crl:
        code = 0
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            code = REASON_CODES[reason] + 1
        except x509.ExtensionNotFound:
            pass
        element = b"\x18\x0f" + entry.revocation_date_utc.strftime("%Y%m%d%H%M%SZ").encode()
        entries[entry.serial_number] = int.from_bytes(element, "big") << 4 | code
    return entries


def _entry_problem(crl: x509.CertificateRevocationList) -> str | None:
    for entry in crl:
        for ext in entry.extensions:
            if ext.oid == CRLEntryExtensionOID.CERTIFICATE_ISSUER:
                # Entries for another CA's certificates (RFC 5280 5.3.3): indirect CRLs are
                # refused as a whole rather than half-understood.
                return "it is an indirect CRL (entries for another issuer)"
            if ext.critical and ext.oid not in _ENTRY_EXTENSIONS:
                return f"an entry has an unsupported critical extension {ext.oid.dotted_string}"
    return None


def _der_time(element: bytes) -> dt.datetime:
    """A DER UTCTime or GeneralizedTime element (RFC 5280 4.1.2.5) as UTC."""
    text = element[2:].decode("ascii").rstrip("Z")
    if element[0] == 0x17:  # YYMMDDHHMMSS; 50-99 are 19xx
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _scope(idp: x509.IssuingDistributionPoint) -> Scope:
    names = frozenset(
        n.value for n in idp.full_name or () if isinstance(n, x509.UniformResourceIdentifier)
    )
    return Scope(
        names=names,
        only_user=idp.only_contains_user_certs,
        only_ca=idp.only_contains_ca_certs,
        only_attribute=idp.only_contains_attribute_certs,
        some_reasons=idp.only_some_reasons is not None,
        indirect=idp.indirect_crl,
    )


def crl_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """http(s) fullName URIs of the CRL distribution points the certificate's issuer signs
    (a point with a cRLIssuer names an indirect CRL, which is not used)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return ()
    out: list[str] = []
    for dp in ext.value:
        if dp.crl_issuer:
            continue
        out.extend(
            n.value
            for n in dp.full_name or ()
            if isinstance(n, x509.UniformResourceIdentifier)
            and n.value.lower().startswith(("http://", "https://"))
        )
    return tuple(dict.fromkeys(out))


def _is_ca(cert: x509.Certificate) -> bool:
    return bool(certs.is_ca(cert))


def check_crl(
    crl: Crl,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    as_of: dt.datetime,
    *,
    source: Source,
    url: str | None,
) -> Verdict:
    """RFC 5280 6.3.3 for one complete CRL: issued and signed by the certificate's issuer,
    in scope, current at `as_of`, then the serial looked up as an integer."""
    where = url or "the supplied CRL"

    def unknown(why: str) -> Verdict:
        return Verdict(status=Status.UNKNOWN, source=source, url=url, why=f"{where}: {why}")

    if crl.unusable:
        return unknown(f"not used: {crl.unusable}")
    if crl.issuer != cert.issuer:
        return unknown(
            f"issued by {certs.name_text(crl.issuer)}, not by the certificate's issuer "
            f"{certs.name_text(cert.issuer)}"
        )
    if not crl.signed_by(issuer):
        return unknown("bad signature: the issuer's key does not verify the CRL")
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.crl_sign:
            return unknown("the issuer's key usage does not allow signing CRLs")
    except x509.ExtensionNotFound:
        pass
    scope = crl.scope
    if scope is not None:
        if scope.only_attribute or (scope.only_user and _is_ca(cert)):
            return unknown("out of scope: the CRL does not cover this kind of certificate")
        if scope.only_ca and not _is_ca(cert):
            return unknown("out of scope: the CRL covers CA certificates only")
        if scope.names and not scope.names & set(crl_urls(cert)):
            return unknown("out of scope: a partition of the CA's CRL for other certificates")
    if as_of < crl.this_update:
        return unknown(f"not yet valid: thisUpdate {ts(crl.this_update)} is after as-of")
    if crl.next_update is None:
        return unknown("stale: the CRL has no nextUpdate")
    if as_of > crl.next_update:
        return unknown(f"stale CRL: nextUpdate {ts(crl.next_update)} is before {ts(as_of)}")
    hit = crl.lookup(cert.serial_number)
    if hit is not None and hit[1] != REASON_NAMES[_REMOVE_FROM_CRL]:
        return Verdict(
            status=Status.REVOKED, source=source, url=url, revoked_at=hit[0], reason=hit[1]
        )
    if scope is not None and scope.some_reasons:
        return unknown("the CRL covers only some revocation reasons")
    return Verdict(status=Status.GOOD, source=source, url=url)
