"""The lab's scenarios as data: one row per host, saying what its server sends (a `Leaf` and
the CAs after it, protocol versions) and what a correct scan says about it. `lab.Lab` serves
the rows in order; a row turns into a `Scenario` once its server has a port."""

from __future__ import annotations

from scanner.model.types import StartTls
from scanner.testing.browser_rows import BROWSER_ROWS
from scanner.testing.hello_hosts import HELLO_HOSTS
from scanner.testing.labrows import (
    BOTH_STORES,
    JAVA_STORE,
    MODERN,
    NOT_PROBED,
    REVOKED_DAYS_AGO,
    STILL_TRUSTED,
    TLS,
    Failing,
    Fault,
    Host,
    Leaf,
    Pool,
    Protocols,
    Row,
    Scenario,
    StartTlsHost,
)
from scanner.testing.scenarios_ahead import AHEAD, LAB_CAA_ID
from scanner.testing.servers import LOOPBACK, UNREACHABLE_IP

__all__ = [
    "BOTH_STORES",
    "JAVA_STORE",
    "LAB_CAA_ID",
    "MODERN",
    "NOT_PROBED",
    "REVOKED_DAYS_AGO",
    "STILL_TRUSTED",
    "TLS",
    "Failing",
    "Fault",
    "Host",
    "Leaf",
    "Pool",
    "Protocols",
    "Row",
    "Scenario",
    "StartTlsHost",
]


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
        findings=("expiring_soon", "renewal_overdue"),  # 30 of its 40 days passed
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
        findings=("untrusted_root", "root_in_chain"),
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
    *HELLO_HOSTS,  # issue 19: what the ClientHello prober finds
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
    *BROWSER_ROWS,
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
    *AHEAD,  # issue 21 (scanner.testing.scenarios_ahead)
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
