"""Certificate Transparency: SCTs from every source (embedded in the leaf, the TLS extension,
stapled OCSP), their signatures checked against a `LogList` read from Chrome's log_list.json
(v3 schema), and Chrome's CT policy as a pure function of the checked SCTs, the leaf's lifetime
and the logs' states. Time is an input (`as_of`), never read from the clock."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import certificate_transparency as cct

from scanner.errors import TrustStoreError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MS = dt.timedelta(milliseconds=1)
# RFC 5246 4.7 / RFC 6962 3.2: HashAlgorithm sha256(4); SignatureAlgorithm rsa(1), ecdsa(3).
SHA256_ID, RSA_ID, ECDSA_ID = 4, 1, 3
MAX_SCTS = 64  # per list: real certificates carry 2-5; more is hostile
MAX_LOG_LIST_BYTES = 16 * 1024 * 1024


class SctError(ValueError):
    """SCT bytes that do not follow RFC 6962's encoding (the message says where)."""


class LogListError(TrustStoreError):
    """A --ct-logs file that is not a log_list.json v3 (the message names the file and why)."""


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


def _uint24_vector(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def precert_entry(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """PreCert (RFC 6962 3.2): issuer_key_hash (SHA-256 of the issuer's SubjectPublicKeyInfo)
    and the leaf's TBSCertificate without its SCT extension (what the log saw in the
    precertificate, without the poison extension)."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest() + _uint24_vector(leaf.tbs_precertificate_bytes)


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


# --- the log list -------------------------------------------------------------------------


class LogState(StrEnum):
    """log_list.json v3 states (Chrome's CT Log Lifecycle)."""

    PENDING = "pending"
    QUALIFIED = "qualified"
    USABLE = "usable"
    READONLY = "readonly"
    RETIRED = "retired"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    log_id: bytes
    description: str
    operator: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey = field(compare=False)
    state: LogState | None  # None: the list gives no state (Chrome ignores such logs)
    state_since: dt.datetime | None
    interval_start: dt.datetime | None  # temporal_interval: the notAfter range it accepts
    interval_end: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogList:
    source: str
    sha256: str  # of the file, for scan.json
    timestamp: dt.datetime | None  # log_list_timestamp
    version: str
    logs: Mapping[bytes, Log]  # by log_id


def _time(value: object, where: str, source: str) -> dt.datetime:
    if not isinstance(value, str):
        raise LogListError(f"{source}: {where}: a timestamp must be an RFC 3339 string")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LogListError(f"{source}: {where}: {value!r} is not an RFC 3339 timestamp") from None
    if when.tzinfo is None:
        raise LogListError(f"{source}: {where}: {value!r} has no time zone")
    return when.astimezone(dt.UTC)


def _b64(value: object, where: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise LogListError(f"{source}: {where}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise LogListError(f"{source}: {where}: not base64") from None


def _log(raw: object, operator: str, where: str, source: str) -> Log:
    if not isinstance(raw, dict):
        raise LogListError(f"{source}: {where}: a log must be an object")
    log_id = _b64(raw.get("log_id"), f"{where}.log_id", source)
    key_der = _b64(raw.get("key"), f"{where}.key", source)
    if len(log_id) != 32:
        raise LogListError(f"{source}: {where}.log_id: {len(log_id)} bytes, not 32")
    if hashlib.sha256(key_der).digest() != log_id:
        raise LogListError(f"{source}: {where}: log_id is not the SHA-256 of its key")
    try:
        key = serialization.load_der_public_key(key_der)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise LogListError(f"{source}: {where}.key: not a public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise LogListError(f"{source}: {where}.key: neither ECDSA nor RSA")
    state: LogState | None = None
    since: dt.datetime | None = None
    states = raw.get("state")
    if states is not None:
        if not isinstance(states, dict) or len(states) != 1:
            raise LogListError(f"{source}: {where}.state: exactly one state expected")
        ((name, body),) = states.items()
        try:
            state = LogState(name)
        except ValueError:
            raise LogListError(f"{source}: {where}.state: unknown state {name!r}") from None
        if not isinstance(body, dict):
            raise LogListError(f"{source}: {where}.state.{name}: an object expected")
        since = _time(body.get("timestamp"), f"{where}.state.{name}.timestamp", source)
    start = end = None
    interval = raw.get("temporal_interval")
    if interval is not None:
        if not isinstance(interval, dict):
            raise LogListError(f"{source}: {where}.temporal_interval: an object expected")
        start = _time(interval.get("start_inclusive"), f"{where}.temporal_interval", source)
        end = _time(interval.get("end_exclusive"), f"{where}.temporal_interval", source)
    description = raw.get("description")
    return Log(
        log_id=log_id,
        description=description if isinstance(description, str) else "",
        operator=operator,
        key=key,
        state=state,
        state_since=since,
        interval_start=start,
        interval_end=end,
    )


def read_log_list(data: bytes, *, source: str) -> LogList:
    """A log list in the log_list.json v3 schema (www.gstatic.com/ct/log_list/v3/): operators,
    each with `logs` (RFC 6962) and `tiled_logs` (static-ct-api), each log with base64 log_id
    and key, one state with its timestamp, and a temporal interval. LogListError for anything
    else, naming `source`."""
    if len(data) > MAX_LOG_LIST_BYTES:
        raise LogListError(f"{source}: larger than {MAX_LOG_LIST_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LogListError(f"{source}: not a log_list.json: not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("operators"), list):
        raise LogListError(f"{source}: not a log_list.json: no operators list")
    logs: dict[bytes, Log] = {}
    for i, op in enumerate(doc["operators"]):
        if not isinstance(op, dict) or not isinstance(op.get("name"), str):
            raise LogListError(f"{source}: operators[{i}]: an operator needs a name")
        for kind in ("logs", "tiled_logs"):
            entries = op.get(kind, [])
            if not isinstance(entries, list):
                raise LogListError(f"{source}: operators[{i}].{kind}: a list expected")
            for j, raw in enumerate(entries):
                log = _log(raw, op["name"], f"operators[{i}].{kind}[{j}]", source)
                if log.log_id in logs:
                    raise LogListError(f"{source}: operators[{i}].{kind}[{j}]: log listed twice")
                logs[log.log_id] = log
    if not logs:
        raise LogListError(f"{source}: a log_list.json with no logs")
    stamp = doc.get("log_list_timestamp")
    version = doc.get("version")
    return LogList(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        timestamp=None if stamp is None else _time(stamp, "log_list_timestamp", source),
        version=version if isinstance(version, str) else "",
        logs=logs,
    )


# --- checking SCTs ------------------------------------------------------------------------


class SctStatus(StrEnum):
    VALID = "valid"  # a known log signed it and its time is not after as-of
    NOT_CHECKED = "not_checked"  # no log list given
    UNKNOWN_LOG = "unknown_log"  # the log list does not name its log
    NO_ISSUER = "no_issuer"  # embedded, but the issuer is not known: cannot be checked
    INVALID_SIGNATURE = "invalid_signature"  # claims a known log, the signature fails
    FUTURE = "future"  # signed, but dated after as-of


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedSct:
    sct: Sct
    status: SctStatus
    log: Log | None


def check_scts(
    scts: Sequence[Sct],
    *,
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    logs: LogList | None,
    as_of: dt.datetime,
) -> tuple[CheckedSct, ...]:
    """Each SCT's status: embedded SCTs are checked over the precertificate entry (issuer key
    hash + TBS without the SCT list), TLS and OCSP ones over the leaf's DER (x509 entry).
    `issuer` is the certificate that signed the leaf (the built path's second certificate);
    None when the path has none, and embedded SCTs are then NO_ISSUER."""
    entries: dict[EntryType, bytes | None] = {}

    def entry_for(kind: EntryType) -> bytes | None:
        # Computed once per leaf; None: this leaf has no such entry (an embedded SCT given
        # for a leaf without the SCT list cannot be for it).
        if kind not in entries:
            if kind is EntryType.X509:
                entries[kind] = _uint24_vector(leaf.public_bytes(serialization.Encoding.DER))
            else:
                assert issuer is not None
                try:
                    entries[kind] = precert_entry(leaf, issuer)
                except ValueError:
                    entries[kind] = None
        return entries[kind]

    out: list[CheckedSct] = []
    for sct in scts:
        log = logs.logs.get(sct.log_id) if logs is not None else None
        status: SctStatus
        if logs is None:
            status = SctStatus.NOT_CHECKED
        elif log is None:
            status = SctStatus.UNKNOWN_LOG
        elif sct.entry_type is EntryType.PRECERT and issuer is None:
            status = SctStatus.NO_ISSUER
        else:
            entry = entry_for(sct.entry_type)
            if entry is None or not signature_valid(sct, entry, log.key):
                status = SctStatus.INVALID_SIGNATURE
            elif sct.timestamp > as_of:
                status = SctStatus.FUTURE
            else:
                status = SctStatus.VALID
        out.append(CheckedSct(sct=sct, status=status, log=log))
    return tuple(out)


def earliest_sct(checked: Sequence[CheckedSct]) -> dt.datetime | None:
    """The leaf's date for a root program's SCT constraints (Chrome's sct_not_after_sec):
    the earliest verified SCT. Without a log list nothing can be verified, and the earliest
    SCT found stands in for it; None when there is none to use (the caller falls back on
    the notBefore)."""
    valid = [c.sct.timestamp for c in checked if c.status is SctStatus.VALID]
    if valid:
        return min(valid)
    unverified = [c.sct.timestamp for c in checked if c.status is SctStatus.NOT_CHECKED]
    return min(unverified, default=None)


# --- Chrome's CT policy ---------------------------------------------------------------------

SHORT_LIFETIME = dt.timedelta(days=180)
_CURRENT = (LogState.QUALIFIED, LogState.USABLE, LogState.READONLY)


def _counts(c: CheckedSct, *, current_only: bool) -> bool:
    """Whether a valid SCT's log state lets it count towards the policy."""
    log = c.log
    if c.status is not SctStatus.VALID or log is None or log.state is None:
        return False
    if log.state in (LogState.QUALIFIED, LogState.USABLE):
        return True
    if log.state is LogState.READONLY or (log.state is LogState.RETIRED and not current_only):
        # A log that stopped (or was retired) counts for SCTs it issued before the change.
        return log.state_since is None or c.sct.timestamp < log.state_since
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class CtPolicyVerdict:
    compliant: bool
    reason: str  # why not, or which delivery satisfied the policy


def chrome_ct_policy(checked: Sequence[CheckedSct], *, lifetime: dt.timedelta) -> CtPolicyVerdict:
    """Chrome's CT policy (https://googlechrome.github.io/CertificateTransparency/ct_policy.html,
    the rules in force since 2022-04-15, wording of 2024-07-25), with log states as the log
    list gives them (the state at the time of check is the list's current state):

    Embedded SCTs comply when (1) at least one is from a log Qualified, Usable or ReadOnly,
    (2) SCTs from at least N distinct logs count, N = 2 for a lifetime of 180 days or less and
    3 beyond, where an SCT counts if its log is Qualified or Usable, or ReadOnly or Retired and
    the SCT is older than that state, and (3) among those, at least two log operators.
    SCTs delivered by TLS extension or stapled OCSP comply when at least two, from distinct
    logs Qualified, Usable or ReadOnly (ReadOnly: older than that state), come from at least
    two operators. `lifetime` is notAfter - notBefore, as Chrome computes it.

    Departures from the page: an SCT of a ReadOnly log counts only when older than the
    ReadOnly timestamp (issue 20's rule; a ReadOnly log issues no new SCTs), and "at the time
    of check" is the list's current state, as log_list.json keeps no history."""
    embedded = [c for c in checked if c.sct.source is SctSource.EMBEDDED]
    delivered = [c for c in checked if c.sct.source is not SctSource.EMBEDDED]
    required = 2 if lifetime <= SHORT_LIFETIME else 3

    counted = [c for c in embedded if _counts(c, current_only=False)]
    logs = {c.sct.log_id for c in counted}
    operators = {c.log.operator for c in counted if c.log is not None}
    current = [c for c in counted if c.log is not None and c.log.state in _CURRENT]
    if current and len(logs) >= required and len(operators) >= 2:
        return CtPolicyVerdict(compliant=True, reason="embedded SCTs")

    tls = [c for c in delivered if _counts(c, current_only=True)]
    tls_logs = {c.sct.log_id for c in tls}
    tls_operators = {c.log.operator for c in tls if c.log is not None}
    if len(tls_logs) >= 2 and len(tls_operators) >= 2:
        return CtPolicyVerdict(compliant=True, reason="SCTs delivered by TLS or OCSP")

    if not checked:
        return CtPolicyVerdict(compliant=False, reason="no SCT")
    if embedded and not delivered:
        why = (
            f"{len(logs)} distinct log(s) of {required} required "
            f"(lifetime {'<=' if required == 2 else '>'} 180 days), "
            f"{len(operators)} operator(s) of 2 required"
            + ("" if current else ", none from a qualified, usable or readonly log")
        )
    else:
        why = (
            f"embedded: {len(logs)} log(s) of {required}, {len(operators)} operator(s); "
            f"TLS/OCSP: {len(tls_logs)} log(s) of 2, {len(tls_operators)} operator(s) of 2"
        )
    return CtPolicyVerdict(compliant=False, reason=why)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtSummary:
    """The host's CT columns."""

    sct_count: int  # every SCT found, from every source
    sct_valid: int  # signed by a known log, not dated after as-of
    sct_operators: int  # distinct operators of the valid SCTs
    ct_compliant: bool | None  # None without a log list
    reason: str
    invalid: tuple[CheckedSct, ...]  # SCTs naming a known log whose signature fails


def summarize(
    checked: Sequence[CheckedSct], *, lifetime: dt.timedelta, have_log_list: bool
) -> CtSummary:
    valid = [c for c in checked if c.status is SctStatus.VALID]
    if have_log_list:
        verdict = chrome_ct_policy(checked, lifetime=lifetime)
        compliant: bool | None = verdict.compliant
        reason = verdict.reason
    else:
        compliant, reason = None, "no log list (--ct-logs): SCTs counted, not verified"
    return CtSummary(
        sct_count=len(checked),
        sct_valid=len(valid),
        sct_operators=len({c.log.operator for c in valid if c.log is not None}),
        ct_compliant=compliant,
        reason=reason,
        invalid=tuple(c for c in checked if c.status is SctStatus.INVALID_SIGNATURE),
    )
