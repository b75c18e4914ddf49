"""The lab's hosts for the ClientHello prober (issue 19): every code it adds (`HELLO_CODES`) is
produced by one of them under the lab's options (--protocols)."""

from __future__ import annotations

from scanner.testing.labrows import HELLO_CODES, Host, Leaf

__all__ = ["HELLO_CODES", "HELLO_HOSTS"]

HELLO_HOSTS: tuple[Host, ...] = (
    Host(
        name="legacy_suites",
        host="legacy.lab.test",
        leaf=Leaf(dns_names=("legacy.lab.test",), key="rsa2048"),
        findings=(
            "ssl2",
            "ssl3",
            "export_cipher",
            "rc4_cipher",
            "des_cipher",
            "3des_cipher",
            "legacy_protocol",
            "rsa_key_exchange",
        ),
        grade="F",
        front="legacy",
        protocols=(True, True, True, True, False),
        note="SSL 2.0, SSL 3.0, RC4, DES, 3DES and export suites (a legacy peer before it)",
    ),
    Host(
        name="null_anon",
        host="nullanon.lab.test",
        leaf=Leaf(dns_names=("nullanon.lab.test",)),
        findings=("null_cipher", "anon_cipher", "no_server_preference"),
        grade="F",
        ciphers="ALL:eNULL:!kRSA:@SECLEVEL=0",
        server_order=False,
        note="NULL and anonymous suites, the client's order",
    ),
    Host(
        name="must_staple",
        host="staple.lab.test",
        leaf=Leaf(dns_names=("staple.lab.test",), must_staple=True),
        findings=("must_staple_not_stapled",),
        grade="A",
        note="a must-staple leaf, nothing stapled",
    ),
    Host(
        name="large_hello",
        host="middlebox.lab.test",
        leaf=Leaf(dns_names=("middlebox.lab.test",)),
        findings=("large_hello_intolerant",),
        grade="A",
        front="one_segment",
        note="a middlebox resets a ClientHello larger than one segment",
    ),
)
