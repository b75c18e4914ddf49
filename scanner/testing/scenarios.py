"""The lab's scenarios as data: one row per host, saying what its server sends (a `Leaf` and
the CAs after it, protocol versions) and what a correct scan says about it. `lab.Lab` serves
the rows in order; a row turns into a `Scenario` once its server has a port."""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass
from typing import Literal

from scanner.model.types import StartTls
from scanner.testing.browser_rows import BROWSER_ROWS
from scanner.testing.hello_hosts import HELLO_CODES, hello_hosts, prober_info
from scanner.testing.pki import CaName
from scanner.testing.servers import LOOPBACK, UNREACHABLE_IP

JAVA_STORE = "java"  # the lab's named trust store: an older client's roots
BOTH_STORES = ("default", JAVA_STORE)
TLS = ssl.TLSVersion
Protocols = tuple[bool | None, ...]  # tls1_0, tls1_1, tls1_2, tls1_3, forward_secrecy_only
# What a lab server speaks unless told otherwise: TLS 1.2 and 1.3, forward secrecy only. The
# scenarios' tls1_0, tls1_1, tls1_2, tls1_3, forward_secrecy_only under --protocols.
MODERN: Protocols = (False, False, True, True, True)
NOT_PROBED: Protocols = (None, None, None, None, None)
# Findings that leave the default store's verdict `trusted`.
STILL_TRUSTED = frozenset(
    {
        "expiring_soon",
        "not_trusted_by",
        "legacy_protocol",
        "no_modern_protocol",
        "no_tls13",
        "rsa_key_exchange",
        *HELLO_CODES,
        # How browsers decide (issue 20): the default store's verdict stands.
        "distrusted_by_program",
        "ct_noncompliant",
        "invalid_sct",
        "lifetime_over_limit",
    }
)
REVOKED_DAYS_AGO = 2  # when the lab's CRL says a `revoked` leaf was revoked


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
    must_staple: bool = False  # the TLS feature extension status_request (RFC 7633)
    # Embedded SCTs from the lab's CT logs (dated an hour before notBefore or as-of); the last
    # `forged_scts` of them claim their log and fail its signature. Re-signed leaves have none.
    scts: int = 3
    forged_scts: int = 0


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
    # The ClientHello prober's cases (issue 19): an OpenSSL cipher string, the server's own
    # order or the client's, and a front before the server (scanner.testing.fronts).
    ciphers: str | None = None
    server_order: bool = True
    front: Literal["legacy", "one_segment"] | None = None
    programs: tuple[str, ...] = ()  # the lab's root programs that trust it (after the stores)
    distrusted_by: tuple[str, ...] = ()  # those whose constraints reject it

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

VALID = Leaf(dns_names=("valid.lab.test",))
WILDCARD = Leaf(dns_names=("*.wild.lab.test",))
LEGACY = ("legacy_protocol", "no_modern_protocol", "no_tls13")

# The lab, in the order of its input rows. Grades by the caps of the rating (worst wins: T/M,
# F, C, B, A-), applied by hand: T not trusted, M name mismatch, F MD5, C no TLS 1.2 or 1.3,
# B legacy versions, incomplete chain, weak key, static RSA, A- no TLS 1.3.
SCENARIOS: tuple[Row, ...] = (
    Host(name="valid", host="valid.lab.test", leaf=VALID, grade="A", note="trusted chain"),
    Host(
        name="revoked",
        host="revoked.lab.test",
        leaf=Leaf(dns_names=("revoked.lab.test",), revoked=True),
        findings=("revoked",),
        grade="T",  # SSL Labs: revoked is not trusted
        note="on its CA's CRL (keyCompromise)",
    ),
    Host(
        name="expired",
        host="expired.lab.test",
        leaf=Leaf(dns_names=("expired.lab.test",), not_before=-100, not_after=-10),
        findings=("expired",),
        grade="T",
        owner="payments",
    ),
    Host(
        name="not_yet_valid",
        host="future.lab.test",
        leaf=Leaf(dns_names=("future.lab.test",), not_before=2, not_after=150),
        findings=("not_yet_valid",),
        grade="T",
    ),
    Host(
        name="expiring_soon",
        host="soon.lab.test",
        leaf=Leaf(dns_names=("soon.lab.test",), not_after=10),
        findings=("expiring_soon",),
        grade="A",
        owner="00123",
    ),
    Host(
        name="wrong_host",
        host="wrong.lab.test",
        leaf=Leaf(dns_names=("other.lab.test",)),
        findings=("hostname_mismatch",),
        grade="M",
    ),
    Host(
        name="www_vs_apex",
        host="www.shop.lab.test",
        leaf=Leaf(dns_names=("shop.lab.test",)),
        findings=("hostname_mismatch",),
        grade="M",
        owner='=HYPERLINK("http://example.invalid","click")',
    ),
    Host(
        name="wildcard",
        host="api.wild.lab.test",
        leaf=WILDCARD,
        grade="A",
        note="one label under *",
    ),
    Host(
        name="wildcard_apex",
        host="wild.lab.test",
        leaf=WILDCARD,
        findings=("hostname_mismatch",),
        grade="M",
        note="* never covers the parent",
    ),
    Host(
        name="wildcard_deep",
        host="a.b.wild.lab.test",
        leaf=WILDCARD,
        findings=("hostname_mismatch",),
        grade="M",
        note="* covers exactly one label",
    ),
    Host(
        name="no_san",
        host="nosan.lab.test",
        leaf=Leaf(cn="nosan.lab.test", san=False),
        findings=("no_san",),
        grade="M",
        note="CN only",
    ),
    Host(
        name="self_signed",
        host="selfsigned.lab.test",
        leaf=Leaf(dns_names=("selfsigned.lab.test",), issuer=None, not_before=-1, not_after=300),
        chain=(),
        findings=("self_signed",),
        grade="T",
    ),
    Host(
        name="untrusted_root",
        host="untrusted.lab.test",
        leaf=Leaf(dns_names=("untrusted.lab.test",), issuer="rogue_root"),
        chain=("rogue_root",),
        findings=("untrusted_root",),
        grade="T",
    ),
    Host(
        name="incomplete_chain",
        host="incomplete.lab.test",
        leaf=Leaf(dns_names=("incomplete.lab.test",), aia=True),
        chain=(),
        findings=("incomplete_chain",),
        grade="B",
        note="intermediate only via AIA",
    ),
    Host(
        name="issuer_not_found",
        host="orphan.lab.test",
        leaf=Leaf(dns_names=("orphan.lab.test",)),
        chain=(),
        findings=("issuer_not_found",),
        grade="T",
        note="intermediate missing, no AIA",
    ),
    Host(
        name="weak_key",
        host="weakkey.lab.test",
        leaf=Leaf(dns_names=("weakkey.lab.test",), key="rsa1024"),
        findings=("weak_key",),
        grade="B",  # RSA 1024: under 2048 (B), not under 1024 (F)
    ),
    Host(
        name="weak_signature",
        host="sha1.lab.test",
        leaf=Leaf(dns_names=("sha1.lab.test",), signature="sha1"),
        findings=("weak_signature", "ct_noncompliant"),  # re-signed: no SCT
        grade="T",  # SHA-1: not trusted
    ),
    Host(
        name="intermediate_expired",
        host="oldchain.lab.test",
        leaf=Leaf(dns_names=("oldchain.lab.test",), issuer="expired_intermediate"),
        chain=("expired_intermediate",),
        findings=("intermediate_expired",),
        grade="T",
    ),
    Host(
        name="ip_san",
        host=LOOPBACK,
        leaf=Leaf(ip_addresses=(LOOPBACK,), cn=LOOPBACK),
        grade="A",
        ip=None,
        note="IP literal matched by an iPAddress SAN",
    ),
    Host(
        name="ip_as_dns_name",
        host=LOOPBACK,
        leaf=Leaf(dns_names=(LOOPBACK,)),
        findings=("hostname_mismatch",),
        grade="M",
        ip=None,
        note="an IP written as a dNSName does not count",
    ),
    # As each client sees it: protocol versions and a second trust store.
    Host(
        name="tls1_0_only",
        host="tls10.lab.test",
        leaf=Leaf(dns_names=("tls10.lab.test",)),
        findings=LEGACY,
        grade="C",
        versions=(TLS.TLSv1, TLS.TLSv1),
        protocols=(True, False, False, False, True),
        note="TLS 1.0 only",
    ),
    Host(
        name="tls1_1_only",
        host="tls11.lab.test",
        leaf=Leaf(dns_names=("tls11.lab.test",)),
        findings=LEGACY,
        grade="C",
        versions=(TLS.TLSv1_1, TLS.TLSv1_1),
        protocols=(False, True, False, False, True),
        note="TLS 1.1 only",
    ),
    Host(
        name="static_rsa",
        host="rsa.lab.test",
        leaf=Leaf(dns_names=("rsa.lab.test",), key="rsa2048"),
        findings=("no_tls13", "rsa_key_exchange"),
        grade="B",
        versions=(TLS.TLSv1_2, TLS.TLSv1_2),
        static_rsa=True,
        protocols=(False, False, True, False, False),
        note="TLS 1.2 only, static RSA key exchange allowed",
    ),
    Host(
        name="tls1_2_only",
        host="tls12.lab.test",
        leaf=Leaf(dns_names=("tls12.lab.test",)),
        findings=("no_tls13",),
        grade="A-",
        versions=(TLS.TLSv1_2, TLS.TLSv1_2),
        protocols=(False, False, True, False, True),
        note="TLS 1.2 only, forward secrecy only",
    ),
    *hello_hosts(Host, Leaf),  # issue 19: what the ClientHello prober finds
    Host(
        name="md5_signature",
        host="md5.lab.test",
        leaf=Leaf(dns_names=("md5.lab.test",), signature="md5"),
        findings=("weak_signature", "ct_noncompliant"),  # re-signed: no SCT
        grade="F",
        note="leaf signed with MD5",
    ),
    Host(
        name="one_store",
        host="newroot.lab.test",
        leaf=Leaf(dns_names=("newroot.lab.test",), issuer="new_intermediate"),
        chain=("new_intermediate",),
        findings=("not_trusted_by",),
        grade="A",  # the grade is the default store's
        note="under a root the java store lacks",
    ),
    Host(
        name="resolved_by_dns",
        host="dns.lab.test",
        leaf=Leaf(dns_names=("dns.lab.test",)),
        grade="A",
        ip=None,
        in_dns=True,
        note="no ip column: resolved by the lab's DNS server",
    ),
    # How browsers decide (issue 20): scanner.testing.browser_rows.
    *(Host(**host, leaf=Leaf(**leaf)) for host, leaf in BROWSER_ROWS),
    StartTlsHost(
        name="starttls_smtp",
        host="mail.lab.test",
        leaf=Leaf(dns_names=("mail.lab.test",)),
        note="SMTP upgraded by STARTTLS (RFC 3207)",
    ),
    # Round-robin DNS over three backends of which one still serves an older certificate.
    Pool(
        name="inconsistent_backends",
        host="pool.lab.test",
        backends=(
            ("127.0.0.1", Leaf(dns_names=("pool.lab.test",))),
            ("127.0.0.2", Leaf(dns_names=("pool.lab.test",))),
            ("127.0.0.3", Leaf(dns_names=("pool.lab.test",), not_after=100)),
        ),
        note="127.0.0.3 serves another certificate",
    ),
    Failing(name="refused", host="refused.lab.test", error="refused", fault=Fault.PARKED),
    Failing(name="timeout", host="silent.lab.test", error="timeout", fault=Fault.SILENT),
    Failing(name="not_tls", host="http.lab.test", error="tls", fault=Fault.HTTP),
    Failing(
        name="starttls_not_offered",
        host="relay.lab.test",
        error="starttls",
        fault=Fault.NO_STARTTLS,
        starttls=StartTls.SMTP.value,
    ),
    Failing(name="dns", host="missing.lab.test", error="dns", ip=None, fault=Fault.NOWHERE),
    Failing(
        name="unreachable",
        host="unreachable.lab.test",
        error="unreachable",
        ip=UNREACHABLE_IP,
        fault=Fault.NOWHERE,
    ),
)

# The lab's input file (`Lab.rows`): one row per scenario, then these rows no scan can take,
# as (host, port, ip, scenario).
INPUT_COLUMNS = ["host", "port", "ip", "owner", "scenario", "starttls"]
INVALID_ROWS = (
    ("bad host!", "443", "", "invalid_host"),
    ("valid.lab.test", "70000", LOOPBACK, "invalid_port"),
)

# The grade of each scenario served over TLS from the first byte, under the lab's options.
GRADES = {row.name: row.grade for row in SCENARIOS if isinstance(row, Host)}
