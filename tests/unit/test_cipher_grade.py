"""The prober's findings and grade caps (issue 19), from facts written out by hand: SSL 2.0,
export, NULL, anonymous -> F; SSL 3.0 -> C; RC4 with TLS 1.1+ -> C, with older versions only
-> B; 3DES with TLS 1.1+ -> C unless it is the server's last choice; the codes each fact gives,
and none for a fact a failed probe left unknown."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scanner.analysis.grade import GradeFacts, grade
from scanner.model.hello import HelloFacts
from scanner.model.probed import HelloReport, Stapled
from scanner.model.suites import Protocol, WeakClass
from scanner.x509.ciphers import hello_findings
from scanner.x509.grading import cipher_caps

P, W = Protocol, WeakClass
RC4_SHA, DES3_SHA, AES_GCM = 0x0005, 0x000A, 0xC02F


def facts(**changes: Any) -> HelloFacts:
    """A modern host: TLS 1.2 (AEAD, ECDHE) and 1.3, its own order, x25519, no pq."""
    base = HelloFacts(
        versions={
            P.SSL2: False,
            P.SSL3: False,
            P.TLS1_0: False,
            P.TLS1_1: False,
            P.TLS1_2: True,
            P.TLS1_3: True,
        },
        classes={P.TLS1_2: frozenset(), P.TLS1_3: frozenset()},
        groups=(0x1D,),
        pq_kex=False,
        large_hello_ok=True,
        server_preference=True,
        suites=None,
        ssl2_kinds=(),
        chain=(b"leaf",),
        nosni_chain=(b"leaf",),
        ocsp_response=None,
        sct_extension=None,
        flight_read=True,
        failures=(),
    )
    return dataclasses.replace(base, **changes)


def report(f: HelloFacts, **kw: Any) -> HelloReport:
    return HelloReport(
        facts=f,
        ciphers=kw.get("ciphers", False),
        stapled=kw.get("stapled"),
        must_staple=kw.get("must_staple", False),
        sct_count=0,
    )


MODERN = GradeFacts(
    protocols=True, tls1_0=False, tls1_1=False, tls1_2=True, tls1_3=True, forward_secrecy_only=True
)


def letter(r: HelloReport) -> str:
    g, basis = grade(dataclasses.replace(MODERN, ciphers=cipher_caps(r)))
    assert basis.value == "certificate+protocols+ciphers"
    return g.value


def with_versions(**on: bool) -> dict[Protocol, bool | None]:
    v = dict(facts().versions)
    v.update({P[k.upper()]: b for k, b in on.items()})
    return v


TABLE: list[tuple[str, HelloReport, str]] = [
    ("modern", report(facts()), "A"),
    ("SSL 2.0", report(facts(versions=with_versions(ssl2=True))), "F"),
    ("SSL 3.0", report(facts(versions=with_versions(ssl3=True))), "C"),
    ("export", report(facts(classes={P.TLS1_2: frozenset({W.EXPORT})})), "F"),
    ("NULL", report(facts(classes={P.TLS1_2: frozenset({W.NULL})})), "F"),
    ("anonymous", report(facts(classes={P.TLS1_2: frozenset({W.ANON})})), "F"),
    ("RC4 with TLS 1.2", report(facts(classes={P.TLS1_2: frozenset({W.RC4})})), "C"),
    ("RC4 with TLS 1.0 only", report(facts(classes={P.TLS1_0: frozenset({W.RC4})})), "B"),
    ("3DES with TLS 1.2", report(facts(classes={P.TLS1_2: frozenset({W.TRIPLE_DES})})), "C"),
    ("3DES with TLS 1.0 only", report(facts(classes={P.TLS1_0: frozenset({W.TRIPLE_DES})})), "A"),
    (
        "3DES last in the server's order",
        report(
            facts(
                classes={P.TLS1_2: frozenset({W.TRIPLE_DES})},
                suites={P.TLS1_2: (AES_GCM, DES3_SHA)},
            ),
            ciphers=True,
        ),
        "A",
    ),
    (
        "3DES before another suite",
        report(
            facts(
                classes={P.TLS1_2: frozenset({W.TRIPLE_DES})},
                suites={P.TLS1_2: (DES3_SHA, AES_GCM)},
            ),
            ciphers=True,
        ),
        "C",
    ),
    (
        "3DES last but the client's order",
        report(
            facts(
                classes={P.TLS1_2: frozenset({W.TRIPLE_DES})},
                suites={P.TLS1_2: (AES_GCM, DES3_SHA)},
                server_preference=False,
            ),
            ciphers=True,
        ),
        "C",
    ),
    (
        "CBC and no forward secrecy: no cipher cap",
        report(facts(classes={P.TLS1_2: frozenset({W.CBC, W.NO_FS})})),
        "A",
    ),
    ("classes unknown (a probe failed)", report(facts(classes={P.TLS1_2: None})), "A"),
]


@pytest.mark.parametrize(("case", "r", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_cipher_caps(case: str, r: HelloReport, expected: str) -> None:
    assert letter(r) == expected


def codes(r: HelloReport) -> set[str]:
    return {f.code for f in hello_findings(r)}


def test_the_codes_of_each_fact() -> None:
    assert codes(report(facts())) == {"no_pq_kex"}
    assert codes(report(facts(pq_kex=True))) == set()
    assert codes(report(facts(pq_kex=None, large_hello_ok=False))) == {"large_hello_intolerant"}
    legacy = facts(
        versions=with_versions(ssl2=True, ssl3=True),
        classes={
            P.SSL3: frozenset({W.RC4, W.EXPORT}),
            P.TLS1_2: frozenset({W.DES, W.TRIPLE_DES, W.NULL, W.ANON}),
        },
        pq_kex=True,
    )
    assert codes(report(legacy)) == {
        "ssl2",
        "ssl3",
        "export_cipher",
        "rc4_cipher",
        "des_cipher",
        "3des_cipher",
        "null_cipher",
        "anon_cipher",
    }
    # The client's order matters only where a weak class is accepted (CBC is none).
    weak = facts(classes={P.TLS1_2: frozenset({W.RC4})}, server_preference=False, pq_kex=True)
    cbc = facts(classes={P.TLS1_2: frozenset({W.CBC})}, server_preference=False, pq_kex=True)
    assert codes(report(weak)) == {"rc4_cipher", "no_server_preference"}
    assert codes(report(cbc)) == set()


def test_must_staple_needs_a_flight_read_and_no_staple() -> None:
    f = facts(pq_kex=True)
    assert codes(report(f, must_staple=True)) == {"must_staple_not_stapled"}
    assert codes(report(dataclasses.replace(f, ocsp_response=b"r"), must_staple=True)) == set()
    assert codes(report(dataclasses.replace(f, flight_read=False), must_staple=True)) == set()
    assert codes(report(f, must_staple=False, stapled=Stapled.GOOD)) == set()


def test_messages_name_versions_and_suites() -> None:
    f = facts(
        classes={P.TLS1_0: frozenset({W.RC4}), P.TLS1_2: frozenset({W.RC4})},
        suites={P.TLS1_2: (RC4_SHA, AES_GCM), P.TLS1_0: (RC4_SHA,)},
        pq_kex=True,
    )
    (rc4,) = hello_findings(report(f, ciphers=True))
    assert rc4.message == (
        "the server accepts rc4 cipher suites at TLS 1.0, TLS 1.2 (TLS_RSA_WITH_RC4_128_SHA)"
    )
    assert "ssl_ciphers" in rc4.remedy and "SSLCipherSuite" in rc4.remedy
