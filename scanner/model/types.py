"""Value types that travel between the pipeline stages.

Enum values are the exact strings written to disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from scanner.model.grade import Grade, GradeBasis
from scanner.model.probed import HelloReport


class ErrorCode(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TLS = "tls"
    # The server answered in its protocol but refused or did not offer the upgrade to TLS.
    STARTTLS = "starttls"
    INVALID_INPUT = "invalid_input"
    # A bug of ours: an exception no mapping rule covers. Counted in scan.json.
    INTERNAL = "internal"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Stage(StrEnum):
    """Where in a host's exchange a failure happened (for error_detail)."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    STARTTLS = "starttls"
    HANDSHAKE = "handshake"


class Revocation(StrEnum):
    """hosts.parquet `revocation`: the built path's status at as-of."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


class RevocationSource(StrEnum):
    """hosts.parquet `revocation_source`: what vouched for the verdict."""

    CRL = "crl"
    OCSP = "ocsp"
    CRL_FILE = "crl_file"


class StartTls(StrEnum):
    """Protocols whose connection starts in the clear and is upgraded to TLS (the `protocol`
    column holds one of these, or `tls` for TLS from the first byte)."""

    SMTP = "smtp"  # RFC 3207
    IMAP = "imap"  # RFC 3501
    POP3 = "pop3"  # RFC 2595
    FTP = "ftp"  # RFC 4217
    LDAP = "ldap"  # RFC 4511
    XMPP = "xmpp"  # RFC 6120
    POSTGRES = "postgres"  # PostgreSQL protocol, SSLRequest


DIRECT_TLS = "tls"  # the `protocol` of a host that speaks TLS at once
# Values of the `starttls` input column and the --starttls option: by port, direct TLS, or one.
STARTTLS_CHOICES = ("auto", "none", *(p.value for p in StartTls))


class Addresses(StrEnum):
    """Which addresses of a name are scanned (`--addresses`)."""

    FIRST = "first"  # the first that accepts a connection: one row per target
    ALL = "all"  # every address: one row per (target, address)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One valid input row: what to connect to and which name to check."""

    row: int  # 1-based line number of the row in the input file
    host: str  # normalised: lower-case A-label DNS name, or compressed IP literal
    port: int
    ip: str | None  # connect-to address from the input (normalised), or None
    is_ip: bool  # host is an IP literal: no SNI, match iPAddress SANs
    extra: tuple[str, ...] = ()  # carried input columns, in header order
    # The row's `starttls` cell: "auto", "none" or a StartTls value; None when blank (then
    # the --starttls option decides).
    starttls: str | None = None

    @property
    def sni(self) -> str | None:
        return None if self.is_ip else self.host

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.ip or "")


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidTarget:
    """An input row that cannot be scanned; it becomes an error row, never a connection."""

    row: int
    host: str  # the raw cell text (untrusted)
    port: int | None
    ip: str | None
    detail: str
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Handshake:
    """What the server sent: the chain exactly as sent, and the session parameters."""

    chain: tuple[bytes, ...]  # DER, in the order the server sent them
    tls_version: str
    cipher: str
    address: str  # the address actually connected
    protocol: str = DIRECT_TLS  # `tls`, or the StartTls protocol spoken before the handshake
    budget_left: float = 0.0  # seconds of the host's --timeout not yet used (AIA may use them)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureFailure:
    error: ErrorCode
    detail: str
    address: str | None = None
    protocol: str | None = None  # what was spoken (null when no connection was made)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    code: str
    severity: Severity
    message: str
    remedy: str
    # The certificate (other than the leaf) and the URL a finding is about, when it is about
    # one: the missing intermediate and its caIssuers URL, the untrusted root, a weak one...
    certificate_sha256: str | None = None
    certificate_subject: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertInfo:
    """Parsed facts of one certificate, as written to certificates.parquet."""

    sha256: str
    der: bytes
    subject: str | None
    issuer: str | None
    serial: str | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    key_type: str | None
    key_size: int | None
    signature_algorithm: str | None
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    is_ca: bool | None = None
    self_issued: bool | None = None
    parse_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdicts:
    trusted: bool
    expired: bool | None
    not_yet_valid: bool | None
    expiring_soon: bool | None
    hostname_mismatch: bool | None
    self_signed: bool | None
    untrusted_root: bool | None
    incomplete_chain: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis:
    """Everything diagnosis concludes about one host's chain."""

    leaf: CertInfo | None
    certificates: tuple[CertInfo, ...]  # sent, then fetched from AIA
    verdicts: Verdicts
    findings: tuple[Finding, ...]
    days_remaining: int | None
    # caIssuers URLs that could complete the path and were not fetched yet: fetch them and
    # diagnose again with the results.
    aia_wanted: tuple[str, ...] = ()
    # The built path (DER, leaf first, ending at the anchor or where building stopped), for
    # revocation checking, and its outcome (set by the run after diagnosis).
    path: tuple[bytes, ...] = ()
    revocation: Revocation = Revocation.NOT_CHECKED
    revocation_source: RevocationSource | None = None
    # The leaf on its own clock (issue 21): null without readable dates.
    lifetime_used: float | None = None  # fraction of notBefore..notAfter passed at as-of
    short_lived: bool | None = None  # Baseline Requirements' short-lived certificate
    path_not_afters: tuple[dt.datetime, ...] = ()  # of the built path's CA certificates

    @property
    def severity(self) -> Severity | None:
        return worst(f.severity for f in self.findings)

    @property
    def codes(self) -> tuple[str, ...]:
        """Each finding code once, in order (the findings table keeps one row per
        certificate; a host counts once per code)."""
        return tuple(dict.fromkeys(f.code for f in self.findings))


def worst(severities: object) -> Severity | None:
    best: Severity | None = None
    for s in severities:  # type: ignore[attr-defined]
        if best is None or s.rank > best.rank:
            best = s
    return best


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOk:
    """An answering host, assembled once by the run (scanner.run.assemble): the diagnosis with
    every finding (revocation, stores, probes, backends), and the grade computed from it."""

    target: Target
    handshake: Handshake
    diagnosis: Diagnosis
    protocols: ProtocolSupport | None = None  # with --protocols
    stores: tuple[StoreVerdict, ...] = ()  # the --trust-store stores, in option order
    hello: HelloReport | None = None  # with --protocols: the ClientHello prober's report
    browser: BrowserView | None = None  # CT, lifetime and --root-program verdicts (issue 20)
    grade: Grade
    grade_basis: GradeBasis
    outlook: Outlook | None = None  # when the host breaks, --ari and --caa (issue 21)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outlook:
    """What lies ahead for an answering host: the CA's suggested renewal window (--ari),
    the name's CAA records and whether they permit the issuing CA (--caa), and the first date
    on which it stops being trusted with nothing changed, and why. Null where not known."""

    ari_start: dt.datetime | None = None
    ari_end: dt.datetime | None = None
    ari_explanation: str | None = None
    caa: tuple[str, ...] | None = None  # the relevant record set as text; null: not looked up
    caa_permits_issuer: bool | None = None
    breaks_on: dt.datetime | None = None
    breaks_because: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanFailed:
    target: Target | InvalidTarget
    error: ErrorCode
    detail: str
    address: str | None = None
    protocol: str | None = None


ScanResult = ScanOk | ScanFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class AiaResult:
    """Outcome of fetching one caIssuers URL: certificates, or why there are none."""

    url: str
    certificates: tuple[bytes, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class ScanCounts:
    """Totals of a scan held in memory (`scanner.scan`); `scanner scan` counts from its files."""

    targets: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    severities: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    internal_errors: int = 0

    def add(self, result: ScanResult) -> None:
        self.targets += 1
        match result:
            case ScanOk(diagnosis=d):
                self.ok += 1
                for code in d.codes:
                    self.findings[code] = self.findings.get(code, 0) + 1
                sev = d.severity
                if sev is not None:
                    self.severities[sev] = self.severities.get(sev, 0) + 1
            case ScanFailed(error=e):
                self.errors[e] = self.errors.get(e, 0) + 1
                if e is ErrorCode.INTERNAL:
                    self.internal_errors += 1


# --- as each client sees it: protocol versions, several trust stores (issue 12) ---------------


class TlsVersion(StrEnum):
    """Protocol versions `--protocols` probes; values are the hosts.parquet column names."""

    TLS1_0 = "tls1_0"
    TLS1_1 = "tls1_1"
    TLS1_2 = "tls1_2"
    TLS1_3 = "tls1_3"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolSupport:
    """What the version probes of one host found. True: accepted; False: refused; None: not
    probed, or the probe failed for another reason (timeout, reset before the hello...)."""

    accepted: dict[TlsVersion, bool | None]
    # False: a handshake offering only static-RSA key exchange suites (TLS 1.0-1.2) succeeded.
    forward_secrecy_only: bool | None
    failures: tuple[str, ...] = ()  # why a probe gave no answer, for error_detail-like notes

    def get(self, version: TlsVersion) -> bool | None:
        return self.accepted.get(version)


DEFAULT_STORE = "default"  # the --ca-bundle store's name in `trusted_by`


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreVerdict:
    """One named trust store's verdict on a host's chain; `reason` says why it does not
    trust it (root absent, and what the path reached)."""

    name: str
    trusted: bool
    reason: str | None = None


# --- trust the way browsers decide it (issue 20) -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramVerdict:
    """One --root-program's verdict on a host's path: trusted as a named store would be, then
    its constraints applied (`distrusted`: the path ends at one of its roots, and a rule of the
    program on that root rejects the leaf)."""

    name: str
    kind: str  # scanner.x509.programs.ProgramKind's value
    trusted: bool
    anchored: bool  # the path ends at one of the program's roots
    requires_ct: bool  # the program enforces CT (Chrome)
    reason: str | None = None  # why not trusted
    distrusted: bool = False
    rule: str | None = None  # the program's rule that distrusts the leaf
    cutoff: str | None = None  # its cutoff as the file states it (ISO 8601 for a date)
    # The cutoff as an instant, for date rules (a date a future analysis can forecast from).
    cutoff_at: dt.datetime | None = None
    leaf_date: dt.datetime | None = None  # the leaf's date compared with it


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserView:
    """A host's CT and lifetime columns and its root programs' verdicts. CT counts are None
    where not measured (no parseable leaf; sct_valid, sct_operators, ct_compliant without a
    log list)."""

    programs: tuple[ProgramVerdict, ...] = ()
    sct_count: int | None = None
    sct_valid: int | None = None
    sct_operators: int | None = None
    ct_compliant: bool | None = None
    lifetime_days: float | None = None

    @property
    def distrusted_by(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.programs if p.distrusted)
