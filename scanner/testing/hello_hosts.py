"""The lab's hosts for the ClientHello prober (issue 19): every code it adds is produced by
one of them under the lab's options (--protocols). Rows of scanner.testing.scenarios, made
with its `Host` and `Leaf` (passed in: this module does not import it, which imports this)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

H = TypeVar("H")
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


def prober_info(protocols: tuple[bool | None, ...], front: str | None) -> tuple[str, ...]:
    """`no_pq_kex` where a lab host speaks TLS 1.2 or 1.3 (protocols: tls1_0..tls1_3, ...):
    no lab server selects a post-quantum group (this OpenSSL has none). Behind the
    one-segment middlebox the post-quantum hello goes unanswered: unknown, no finding."""
    speaks = bool(protocols[2] or protocols[3])
    return ("no_pq_kex",) if speaks and front != "one_segment" else ()


def hello_hosts(Host: Callable[..., H], Leaf: Callable[..., object]) -> tuple[H, ...]:  # noqa: N803
    return (
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
