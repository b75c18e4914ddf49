"""RFC 6125 name matching and host normalisation, as a named table of rules."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

import pytest
from cryptography.x509 import verification

from scanner.inputs.hostnames import (
    HostError,
    matches,
    normalise_dns_name,
    normalise_ip,
    parse_ip,
    www_hint,
)
from scanner.testing import lab


@dataclass(frozen=True)
class Rule:
    """`host` as written in the input; SANs as they appear in the certificate."""

    host: str
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    match: bool = True


def _normalise(host: str) -> tuple[str, bool]:
    """The input edge's normalisation, so each rule starts from what a user writes."""
    ip = normalise_ip(host)
    return (ip, True) if ip is not None else (normalise_dns_name(host), False)


RULES = {
    # dNSName, exact and case-insensitive (RFC 6125 6.4.1)
    "exact": Rule("api.example.com", dns=("api.example.com",)),
    "exact other name": Rule("api.example.com", dns=("www.example.com",), match=False),
    "case-insensitive host": Rule("API.Example.COM", dns=("api.example.com",)),
    "case-insensitive SAN": Rule("api.example.com", dns=("API.EXAMPLE.com",)),
    "trailing dot on the host": Rule("api.example.com.", dns=("api.example.com",)),
    "trailing dot on the SAN never": Rule(
        "api.example.com", dns=("api.example.com.",), match=False
    ),
    "space in the SAN never": Rule("api.example.com", dns=(" api.example.com",), match=False),
    "one of several SANs": Rule("b.example.com", dns=("a.example.com", "b.example.com")),
    "suffix is not a match": Rule("xapi.example.com", dns=("api.example.com",), match=False),
    "parent is not a match": Rule("example.com", dns=("api.example.com",), match=False),
    "no SAN at all": Rule("api.example.com", match=False),
    # wildcards (RFC 6125 6.4.3): whole left-most label, exactly one label, never the parent
    "wildcard one label": Rule("api.example.com", dns=("*.example.com",)),
    "wildcard case-insensitive": Rule("API.example.com", dns=("*.EXAMPLE.com",)),
    "wildcard never the bare parent": Rule("example.com", dns=("*.example.com",), match=False),
    "wildcard not two labels": Rule("a.b.example.com", dns=("*.example.com",), match=False),
    "wildcard over a hyphenated label": Rule("a-b.example.com", dns=("*.example.com",)),
    "partial wildcard f* never": Rule("foo.example.com", dns=("f*.example.com",), match=False),
    "partial wildcard *o never": Rule("foo.example.com", dns=("*o.example.com",), match=False),
    "wildcard not left-most never": Rule("a.b.example.com", dns=("a.*.example.com",), match=False),
    "two wildcards never": Rule("a.b.example.com", dns=("*.*.example.com",), match=False),
    "*.com never": Rule("example.com", dns=("*.com",), match=False),
    "bare * never": Rule("localhost", dns=("*",), match=False),
    "wildcard other domain": Rule("api.example.org", dns=("*.example.com",), match=False),
    # internationalised names: the host becomes its A-label; SANs hold A-labels
    "IDN A-label": Rule("bücher.example", dns=("xn--bcher-kva.example",)),
    "IDN upper case U-label": Rule("BÜCHER.example", dns=("xn--bcher-kva.example",)),
    "IDN A-label under a wildcard": Rule("bücher.example.com", dns=("*.example.com",)),
    "IDN U-label in a SAN never": Rule("bücher.example", dns=("bücher.example",), match=False),
    # IP targets: iPAddress SANs only (RFC 6125 / RFC 5280 octet comparison)
    "IPv4 in iPAddress": Rule("192.0.2.10", ips=("192.0.2.10",)),
    "IPv4 other address": Rule("192.0.2.10", ips=("192.0.2.11",), match=False),
    "IPv4 written as dNSName does not count": Rule("192.0.2.10", dns=("192.0.2.10",), match=False),
    "IPv4 with both, iPAddress counts": Rule(
        "192.0.2.10", dns=("192.0.2.10",), ips=("192.0.2.10",)
    ),
    "IPv4 is not its mapped IPv6": Rule("192.0.2.10", ips=("::ffff:192.0.2.10",), match=False),
    "IP target never matched by a wildcard": Rule("192.0.2.10", dns=("*.0.2.10",), match=False),
    "IPv6 compressed vs expanded SAN": Rule("2001:db8::1", ips=("2001:0db8:0000:0000::0001",)),
    "IPv6 expanded host vs compressed SAN": Rule("2001:DB8:0:0:0:0:0:1", ips=("2001:db8::1",)),
    "IPv6 bracketed host": Rule("[2001:db8::1]", ips=("2001:db8::1",)),
    "IPv6 loopback": Rule("::1", ips=("0:0:0:0:0:0:0:1",)),
    "IPv6 zone id ignored for matching": Rule("fe80::1%eth0", ips=("fe80::1",)),
    "IPv6 other address": Rule("2001:db8::1", ips=("2001:db8::2",), match=False),
    "IPv6 written as dNSName does not count": Rule(
        "2001:db8::1", dns=("2001:db8::1",), match=False
    ),
    "DNS target never matched by an iPAddress": Rule("localhost", ips=("127.0.0.1",), match=False),
}


@pytest.mark.parametrize("rule", RULES.values(), ids=RULES.keys())
def test_rfc6125_rule(rule: Rule) -> None:
    host, is_ip = _normalise(rule.host)
    assert matches(host, is_ip, rule.dns, rule.ips) is rule.match


# The reference verifier behind `trusted` (cryptography's Web PKI policy) must accept every
# name our matcher accepts; ours is stricter only where RFC 6125 says so.
STRICTER_THAN_REFERENCE = {"*.com never"}


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("name", [n for n, r in RULES.items() if all(d.isascii() for d in r.dns)])
def test_rule_agrees_with_reference_verifier(name: str, pki: lab.Pki) -> None:
    rule = RULES[name]
    host, is_ip = _normalise(rule.host)
    leaf = pki.leaf(rule.dns, ip_addresses=rule.ips, cn=host, san=bool(rule.dns or rule.ips))
    subject: verification.DNSName | verification.IPAddress = (
        verification.IPAddress(ipaddress.ip_address(host.split("%")[0]))
        if is_ip
        else verification.DNSName(host)
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([pki.root.cert]))
        .time(pki.as_of)
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(leaf.cert, [pki.intermediate.cert])
        accepted = True
    except verification.VerificationError:
        accepted = False
    if name in STRICTER_THAN_REFERENCE:
        assert accepted and not rule.match
    else:
        assert accepted is rule.match


NORMALISED = {
    "lower case": ("WWW.Example.COM", "www.example.com"),
    "trailing dot dropped": ("example.com.", "example.com"),
    "surrounding space stripped": ("  example.com ", "example.com"),
    "IDN to A-label": ("Bücher.example", "xn--bcher-kva.example"),
    "IDN UTS 46 mapping (full-width)": ("ＥＸＡＭＰＬＥ．ｃｏｍ", "example.com"),
    "IDNA 2008 keeps sharp s": ("faß.de", "xn--fa-hia.de"),
    "A-label kept": ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    # A registered name (U+2603, a snowman) whose label IDNA 2008 disallows: an A-label that is
    # valid LDH is a DNS name, scanned as written.
    "LDH A-label not valid IDNA 2008": ("xn--n3h.com", "xn--n3h.com"),
    "LDH A-label that is not punycode": ("XN--ZZ.example", "xn--zz.example"),
    "underscore accepted": ("_acme.ex_ample.com", "_acme.ex_ample.com"),
    "single label": ("localhost", "localhost"),
}


@pytest.mark.parametrize(("text", "want"), NORMALISED.values(), ids=NORMALISED.keys())
def test_normalise_dns_name(text: str, want: str) -> None:
    assert normalise_dns_name(text) == want


REJECTED = {
    "empty": ("", "empty host"),
    "only a dot": (".", "only a dot"),
    "empty label": ("a..example.com", "empty label"),
    "white space": ("exa mple.com", "white space"),
    "punctuation": ("bad!.example.com", "may hold only"),
    "leading hyphen": ("-a.example.com", "may not start or end"),
    "wildcard is not a host": ("*.example.com", "may hold only"),
    "label too long": ("a" * 64 + ".com", "longer than 63"),
    "name too long": (".".join(["a" * 60] * 5), "longer than 253"),
    "numeric last label": ("1.2.3", "neither an IP address nor a DNS name"),
}


@pytest.mark.parametrize(("text", "detail"), REJECTED.values(), ids=REJECTED.keys())
def test_normalise_dns_name_rejects(text: str, detail: str) -> None:
    with pytest.raises(HostError, match=detail):
        normalise_dns_name(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("example.com", None),
        ("999.1.1.1", None),
        ("[example.com]", None),
    ],
)
def test_normalise_ip(text: str, want: str | None) -> None:
    assert normalise_ip(text) == want
    assert (parse_ip(text) is None) is (want is None)


@pytest.mark.parametrize(
    ("host", "sans", "hint"),
    [
        ("www.shop.example", ["shop.example"], "covers shop.example but not www.shop.example"),
        ("shop.example", ["www.shop.example"], "covers www.shop.example but not the apex"),
        ("api.shop.example", ["shop.example"], None),
        ("www.shop.example", ["WWW.Shop.Example."], None),
        ("shop.example", ["WWW.Shop.Example."], "not the apex shop.example"),
    ],
)
def test_www_hint(host: str, sans: list[str], hint: str | None) -> None:
    got = www_hint(host, sans)
    if hint is None:
        assert got is None
    else:
        assert got is not None and hint in got
