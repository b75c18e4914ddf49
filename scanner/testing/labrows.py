"""The lab's row types: what a lab host's server sends (a `Leaf`, the CAs after it, protocol
versions, faults) and what a correct scan says about it (`Scenario`). The rows themselves are
in `scenarios` (and `hello_hosts`, `browser_rows`, `scenarios_ahead` for issues 19 to 21)."""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass
from typing import Literal

from scanner.model.types import StartTls
from scanner.testing.arilab import Ari
from scanner.testing.pki import CaName
from scanner.testing.servers import LOOPBACK

JAVA_STORE = "java"  # the lab's named trust store: an older client's roots
BOTH_STORES = ("default", JAVA_STORE)
TLS = ssl.TLSVersion
Protocols = tuple[bool | None, ...]  # tls1_0, tls1_1, tls1_2, tls1_3, forward_secrecy_only
# What a lab server speaks unless told otherwise: TLS 1.2 and 1.3, forward secrecy only. The
# scenarios' tls1_0, tls1_1, tls1_2, tls1_3, forward_secrecy_only under --protocols.
MODERN: Protocols = (False, False, True, True, True)
NOT_PROBED: Protocols = (None, None, None, None, None)
# The ClientHello prober's codes: the server's configuration, not its chain (still trusted).
HELLO_CODES = (
    "ssl2",
    "ssl3",
    "export_cipher",
    "null_cipher",
    "anon_cipher",
    "rc4_cipher",
    "des_cipher",
    "3des_cipher",
    "no_pq_kex",
    "large_hello_intolerant",
    "must_staple_not_stapled",
    "no_server_preference",
)
# Findings that leave the default store's verdict `trusted`.
STILL_TRUSTED = frozenset(
    {
        "expiring_soon",
        *HELLO_CODES,
        "not_trusted_by",
        "legacy_protocol",
        "no_modern_protocol",
        "no_tls13",
        "rsa_key_exchange",
        # How browsers decide (issue 20): the default store's verdict stands.
        "distrusted_by_program",
        "ct_noncompliant",
        "invalid_sct",
        "lifetime_over_limit",
        # Issue 21: what lies ahead, and untidy chains that still build.
        "renewal_overdue",
        "ari_renew_now",
        "caa_forbids_current_ca",
        "chain_order",
        "duplicate_in_chain",
        "root_in_chain",
        "unrelated_in_chain",
        "expired_in_chain",
        "intermediate_expires_first",
    }
)
REVOKED_DAYS_AGO = 2  # when the lab's CRL says a `revoked` leaf was revoked


def prober_info(protocols: Protocols, front: str | None) -> tuple[str, ...]:
    """`no_pq_kex` where a lab host speaks TLS 1.2 or 1.3 (protocols: tls1_0..tls1_3, ...):
    no lab server selects a post-quantum group (this OpenSSL has none). Behind the
    one-segment middlebox the post-quantum hello goes unanswered: unknown, no finding."""
    speaks = bool(protocols[2] or protocols[3])
    return ("no_pq_kex",) if speaks and front != "one_segment" else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One lab host and what a correct scan says about it."""

    name: str
    host: str
    port: int
    ip: str | None
    findings: frozenset[str] = frozenset()
    error: str | None = None
    trusted: bool | None = None
    owner: str = "platform"
    note: str = ""
    # With the lab's scan options (--protocols, --trust-store java=...): the expected grade,
    # stores that trust the chain, and tls1_0..tls1_3 then forward_secrecy_only.
    grade: str | None = None
    trusted_by: tuple[str, ...] = ()
    protocols: Protocols = NOT_PROBED
    starttls: str = ""  # the row's `starttls` cell
    # The name's addresses when it has several (`--addresses all` scans each as its own row),
    # with the findings of each address's row.
    addresses: tuple[str, ...] = ()
    distrusted_by: tuple[str, ...] = ()  # the root programs whose constraints reject it
    # Other cells a correct scan writes (issue 21's columns), as (column, value).
    columns: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaf:
    """A leaf certificate the lab mints. Rows with equal leaves are served one certificate."""

    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    cn: str | None = None
    san: bool = True
    issuer: CaName | None = "intermediate"  # None: self-signed, naming no CRL
    not_before: int = -30  # days from as-of
    not_after: int = 160  # 190 days: within CA/B ballot SC-081's 200
    key: Literal["ec", "rsa1024", "rsa2048"] = "ec"
    aia: bool = False  # a caIssuers URL where the lab serves its intermediate
    signature: Literal["sha256", "sha1", "md5"] = "sha256"  # sha1/md5: re-signed by its issuer
    revoked: bool = False  # listed on its issuer's CRL (keyCompromise)
    # Embedded SCTs from the lab's CT logs (dated an hour before notBefore or as-of); the last
    # `forged_scts` of them claim their log and fail its signature. Re-signed leaves have none.
    scts: int = 3
    forged_scts: int = 0
    # notAfter one second before the day count, as CAs write an N-day certificate (the
    # Baseline Requirements count both ends: a 398-day leaf is then exactly 398 days).
    inclusive: bool = False
    must_staple: bool = False  # the TLS feature extension status_request (RFC 7633)


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """A TLS server from the first byte, sending `leaf` then the CAs of `chain`."""

    name: str
    host: str
    leaf: Leaf
    chain: tuple[CaName, ...] = ("intermediate",)
    findings: tuple[str, ...] = ()
    grade: str  # under the lab's scan options
    ip: str | None = LOOPBACK  # None: the scanner resolves `host`
    in_dns: bool = False  # the lab's DNS server answers `host` with LOOPBACK
    owner: str = "platform"
    note: str = ""
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None  # (min, max)
    static_rsa: bool = False
    protocols: Protocols = MODERN
    programs: tuple[str, ...] = ()  # the lab's root programs that trust it (after the stores)
    distrusted_by: tuple[str, ...] = ()  # those whose constraints reject it
    # Issue 21: what the lab's ARI server answers for the leaf; CAA records the lab's DNS
    # server holds, as (name, {"CAA": [...]} or {"CNAME": ...}); other cells expected.
    ari: Ari | None = None
    dns: tuple[tuple[str, dict[str, object]], ...] = ()
    columns: tuple[tuple[str, object], ...] = ()
    # The ClientHello prober's cases (issue 19): an OpenSSL cipher string, the server's own
    # order or the client's, and a front before the server (scanner.testing.fronts).
    ciphers: str | None = None
    server_order: bool = True
    front: Literal["legacy", "one_segment"] | None = None

    def scenario(self, port: int) -> Scenario:
        trusted = all(f in STILL_TRUSTED for f in self.findings)
        stores: tuple[str, ...] = ("default",) if "not_trusted_by" in self.findings else BOTH_STORES
        stores = (*stores, *self.programs)
        pq = prober_info(self.protocols, self.front)
        return Scenario(
            name=self.name,
            host=self.host,
            port=port,
            ip=self.ip,
            findings=frozenset(self.findings + pq),
            trusted=trusted,
            owner=self.owner,
            note=self.note,
            grade=self.grade,
            trusted_by=stores if trusted else (),
            protocols=self.protocols,
            distrusted_by=self.distrusted_by,
            columns=self.columns,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTlsHost:
    """A trusted chain behind SMTP STARTTLS (graded on the certificate alone: --protocols does
    not probe STARTTLS)."""

    name: str
    host: str
    leaf: Leaf
    note: str

    def scenario(self, port: int) -> Scenario:
        return Scenario(
            name=self.name,
            host=self.host,
            port=port,
            ip=LOOPBACK,
            trusted=True,
            starttls=StartTls.SMTP.value,
            note=self.note,
            grade="A",
            trusted_by=BOTH_STORES,
            protocols=NOT_PROBED,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """A name in the lab's DNS with several addresses, one server (and leaf) on each, all on
    one port; the leaves differ, so the name's backends are inconsistent."""

    name: str
    host: str
    backends: tuple[tuple[str, Leaf], ...]
    note: str

    def scenario(self, port: int) -> Scenario:
        return Scenario(
            name=self.name,
            host=self.host,
            port=port,
            ip=None,
            findings=frozenset({"inconsistent_backends", "no_pq_kex"}),
            trusted=True,
            addresses=tuple(ip for ip, _ in self.backends),
            note=self.note,
            grade="A",
            trusted_by=BOTH_STORES,
            protocols=MODERN,
        )


class Fault(enum.Enum):
    """What answers on a failing host's port."""

    PARKED = "parked"  # nothing listens, nothing will: refused
    SILENT = "silent"  # accepts, never speaks
    HTTP = "http"  # answers HTTP, not TLS
    NO_STARTTLS = "no_starttls"  # SMTP that does not offer STARTTLS
    NOWHERE = "nowhere"  # port 443 of a name or address nothing reaches


@dataclass(frozen=True, slots=True, kw_only=True)
class Failing:
    """A host whose scan is an error row."""

    name: str
    host: str
    error: str
    ip: str | None = LOOPBACK
    fault: Fault
    starttls: str = ""

    def scenario(self, port: int) -> Scenario:
        return Scenario(
            name=self.name,
            host=self.host,
            port=port,
            ip=self.ip,
            error=self.error,
            starttls=self.starttls,
        )


Row = Host | StartTlsHost | Pool | Failing
