"""The SSRF guard of certificate URLs (AIA, CRL, OCSP), as a table: cloud metadata services
by every address form that reaches them, the ranges they live in, and what stays allowed.
Pure: `refused_address` judges an address; no socket is opened."""

from __future__ import annotations

import pytest

from scanner.net.fetch import refused_address

REFUSED = [
    # (address, the phrase the reason holds)
    ("127.0.0.1", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("0.0.0.0", "an unspecified address"),
    ("0.1.2.3", "an unspecified address"),
    ("::", "an unspecified address"),
    # Cloud metadata services outside link-local.
    ("fd00:ec2::254", "a unique local address"),  # AWS IMDS over IPv6
    ("fd20:ce::254", "a unique local address"),  # Oracle Cloud
    ("fc00::1", "a unique local address"),
    ("100.100.100.200", "a shared (CGNAT) address"),  # Alibaba Cloud
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.255", "a shared (CGNAT) address"),
    # 169.254.169.254 carried inside IPv6.
    ("::ffff:169.254.169.254", "reaches 169.254.169.254 (IPv4-mapped)"),
    ("::169.254.169.254", "reaches 169.254.169.254 (IPv4-compatible)"),
    ("64:ff9b::169.254.169.254", "reaches 169.254.169.254 (NAT64)"),
    ("64:ff9b:1::169.254.169.254", "reaches 169.254.169.254 (NAT64)"),  # RFC 8215 /96
    # RFC 6052's /48 and /56 layouts (the octet after bit 64 skipped). The prefix length of a
    # local-use NAT64 prefix is not known, so every reading is judged.
    ("64:ff9b:1:a9fe:a9:fe00::", "(NAT64), a link-local address"),
    ("64:ff9b:1:a9:fe:a9fe::", "reaches 169.254.169.254 (NAT64)"),
    ("2002:a9fe:a9fe::1", "reaches 169.254.169.254 (6to4)"),
    ("2002:7f00:1::", "reaches 127.0.0.1 (6to4)"),
    ("::ffff:127.0.0.1", "reaches 127.0.0.1 (IPv4-mapped)"),
    ("64:ff9b::100.100.100.200", "a shared (CGNAT) address"),
    ("2001:0:4136:e378:8000:63bf:5601:5601", "reaches 169.254.169.254 (Teredo client)"),
]

ALLOWED = [
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above
    "2001:db8::1",
    "2606:4700::1111",
    "::ffff:93.184.216.34",
    "64:ff9b::93.184.216.34",
    "64:ff9b:1::93.184.216.34",
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    "fbff:ffff::1",  # just below fc00::/7
    "fe00::1",  # just above
]


@pytest.mark.parametrize(("address", "phrase"), REFUSED)
def test_refused(address: str, phrase: str) -> None:
    why = refused_address(address)
    assert why is not None and phrase in why, why
    assert "--allow-private-fetch" in why


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed(address: str) -> None:
    assert refused_address(address) is None
