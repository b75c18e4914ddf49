"""CAA lookups (scanner.net.caa) through a DNS server on 127.0.0.1, as `--nameserver` gives it:
a record allowing the lab's CA, one forbidding it, an empty issuer, a wildcard-only
permission, records on a parent name, a name behind a CNAME, a critical unknown tag and a
failing server; each name asked once per scan, no query leaving the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from scanner.analysis.caa import permits
from scanner.net.caa import CaaFailed, CaaFound, CaaLookup, CaaResult
from scanner.testing.servers import LOOPBACK, Loop

LAB = {"lab-ca.test"}  # the CAA identifiers of the CA that issued the certificates

RECORDS: dict[str, Any] = {
    "allow.caa.test": {"CAA": ['0 issue "lab-ca.test"', '0 iodef "mailto:sec@caa.test"']},
    "forbid.caa.test": {"CAA": ['0 issue "other-ca.test"']},
    "nobody.caa.test": {"CAA": ['0 issue ";"']},
    "wild.caa.test": {"CAA": ['0 issue "other-ca.test"', '0 issuewild "lab-ca.test"']},
    # A parent with records, and a child name that exists without any.
    "parent.test": {"CAA": ['0 issue "Lab-CA.test; accounturi=https://ca.test/acct/1"']},
    "www.parent.test": {"A": "127.0.0.1"},
    # Behind a CNAME: the target's records count; its parent's never do (RFC 8659 3).
    "alias.caa.test": {"CNAME": "target.elsewhere.test"},
    "target.elsewhere.test": {"CAA": ['0 issue "other-ca.test"']},
    "bare.caa.test": {"CNAME": "plain.elsewhere.test"},
    "plain.elsewhere.test": {"A": "127.0.0.1"},
    "elsewhere.test": {"CAA": ['0 issue "lab-ca.test"']},
    "caa.test": {"CAA": ['0 issue "lab-ca.test"']},
    "critical.caa.test": {"CAA": ['0 issue "lab-ca.test"', '128 tbs "unknown"']},
    "broken.caa.test": {"RCODE": "SERVFAIL"},
}


@pytest.fixture(scope="module")
def dns_server() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    loop = Loop(name="caa-dns")
    loop.start()
    log: list[tuple[str, str]] = []
    try:
        port = loop.run(loop.serve_dns(RECORDS, log))
        yield port, log
    finally:
        loop.stop()


def lookup_all(port: int, *names: str) -> list[CaaResult]:
    out: list[CaaResult] = []

    async def go() -> None:
        caa = CaaLookup([(LOOPBACK, port)], lifetime=5.0)
        for n in names:
            out.append(await caa.relevant(n))

    anyio.run(go)
    return out


def one(port: int, name: str) -> CaaFound:
    (result,) = lookup_all(port, name)
    assert isinstance(result, CaaFound), result
    return result


def texts(found: CaaFound) -> list[str]:
    return sorted(r.text() for r in found.records)


def test_a_record_allowing_the_ca(dns_server: Any) -> None:
    found = one(dns_server[0], "allow.caa.test")
    assert found.found_at == "allow.caa.test"
    assert texts(found) == ['0 iodef "mailto:sec@caa.test"', '0 issue "lab-ca.test"']
    assert permits(found.records, LAB, wildcard=False).permits is True


def test_a_record_forbidding_the_ca(dns_server: Any) -> None:
    found = one(dns_server[0], "forbid.caa.test")
    verdict = permits(found.records, LAB, wildcard=False)
    assert (verdict.permits, verdict.why) == (False, "issue allows only other-ca.test")


def test_an_empty_issuer_forbids_every_ca(dns_server: Any) -> None:
    found = one(dns_server[0], "nobody.caa.test")
    assert texts(found) == ['0 issue ";"']
    assert permits(found.records, LAB, wildcard=False).permits is False


def test_wildcard_only_permission(dns_server: Any) -> None:
    plain, wild = lookup_all(dns_server[0], "wild.caa.test", "*.wild.caa.test")
    assert isinstance(plain, CaaFound) and isinstance(wild, CaaFound)
    assert wild.found_at == "wild.caa.test"  # a wildcard is looked up at its base
    assert permits(plain.records, LAB, wildcard=False).permits is False
    assert permits(wild.records, LAB, wildcard=True).permits is True


def test_records_on_a_parent_name(dns_server: Any) -> None:
    for name in ("www.parent.test", "deep.missing.parent.test"):  # exists / NXDOMAIN
        found = one(dns_server[0], name)
        assert found.found_at == "parent.test"
        # Issuer names compare case-insensitively; parameters do not change the CA named.
        assert permits(found.records, LAB, wildcard=False).permits is True


def test_behind_a_cname_the_targets_records_count(dns_server: Any) -> None:
    found = one(dns_server[0], "alias.caa.test")
    assert found.found_at == "alias.caa.test"
    assert texts(found) == ['0 issue "other-ca.test"']
    assert permits(found.records, LAB, wildcard=False).permits is False


def test_a_cname_target_without_records_climbs_from_the_name_not_the_target(
    dns_server: Any,
) -> None:
    found = one(dns_server[0], "bare.caa.test")
    assert found.found_at == "caa.test"  # not elsewhere.test, the target's parent


def test_a_critical_unknown_tag_forbids(dns_server: Any) -> None:
    found = one(dns_server[0], "critical.caa.test")
    verdict = permits(found.records, LAB, wildcard=False)
    assert verdict.permits is False and "critical record 128 tbs" in verdict.why


def test_no_caa_anywhere(dns_server: Any) -> None:
    found = one(dns_server[0], "nothing.example.test")
    assert (found.found_at, found.records) == (None, ())
    assert permits(found.records, LAB, wildcard=False).permits is True


def test_a_failing_server_is_a_result(dns_server: Any) -> None:
    (result,) = lookup_all(dns_server[0], "broken.caa.test")
    assert isinstance(result, CaaFailed)
    assert "CAA lookup of broken.caa.test failed" in result.reason


def test_each_name_once_per_scan_parents_shared(dns_server: Any) -> None:
    port, log = dns_server
    before = len(log)
    results = lookup_all(port, "a.www.parent.test", "A.www.parent.test.", "b.www.parent.test")
    asked = log[before:]
    assert all(isinstance(r, CaaFound) and r.found_at == "parent.test" for r in results)
    # a.www, b.www, then www and parent.test once each, shared by both names.
    assert sorted(asked) == sorted(
        [
            ("a.www.parent.test", "CAA"),
            ("b.www.parent.test", "CAA"),
            ("www.parent.test", "CAA"),
            ("parent.test", "CAA"),
        ]
    )


def test_not_a_name(dns_server: Any) -> None:
    port, log = dns_server
    before = len(log)
    bad, ip = lookup_all(port, "a..b", "127.0.0.1")
    assert isinstance(bad, CaaFailed) and "not a DNS name" in bad.reason
    assert isinstance(ip, CaaFailed) and ip.reason == "an IP address has no CAA records"
    assert len(log) == before  # nothing asked


def test_no_query_leaves_the_machine(dns_server: Any, network_audit: Any) -> None:
    port, _ = dns_server
    mark = network_audit.mark()
    lookup_all(port, "x.y.z.parent.test", "*.wild.caa.test")
    network = network_audit.since(mark)
    sent = [a for e, a in network if e in ("socket.sendto", "socket.sendmsg", "socket.connect")]
    # Queries to the server's port, its answers to ours: all on loopback, none to port 53.
    assert (LOOPBACK, port) in sent and all(network_audit.is_local(a) for a in sent), sent
    assert not [a for a in sent if isinstance(a, tuple) and a[1] == 53]
