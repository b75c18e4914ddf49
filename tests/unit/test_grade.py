"""The grade, derived from the rules of issue 12 written out by hand as expected values (never
read from the code's own table): caps T/M (not trusted, name mismatch), F (MD5 signature, key
under 1024 bits), C (no TLS 1.2 or 1.3), B (TLS 1.0/1.1, incomplete chain, weak key, static
RSA), A- (no TLS 1.3); the worst applies, in the order T/M, F, C, B, A-."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from scanner.analysis.grade import GradeFacts, dropped, facts, grade
from scanner.model.types import Diagnosis, ProtocolSupport, TlsVersion, Verdicts
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

# A host that meets every rule: TLS 1.2 and 1.3 only, forward secrecy only, good certificate.
MODERN = GradeFacts(
    protocols=True, tls1_0=False, tls1_1=False, tls1_2=True, tls1_3=True, forward_secrecy_only=True
)

# (what differs from MODERN, expected grade)
TABLE: list[tuple[str, dict[str, object], str]] = [
    ("everything right", {}, "A"),
    ("no TLS 1.3", {"tls1_3": False}, "A-"),
    ("TLS 1.0 accepted", {"tls1_0": True}, "B"),
    ("TLS 1.1 accepted", {"tls1_1": True}, "B"),
    ("static RSA accepted", {"forward_secrecy_only": False}, "B"),
    ("incomplete chain", {"incomplete_chain": True}, "B"),
    ("weak key (RSA 1024-2047)", {"weak_key": True}, "B"),
    ("B and A- together: B", {"tls1_0": True, "tls1_3": False}, "B"),
    ("no TLS 1.2 nor 1.3", {"tls1_2": False, "tls1_3": False, "tls1_0": True}, "C"),
    ("C over B", {"tls1_2": False, "tls1_3": False, "tls1_1": True, "weak_key": True}, "C"),
    ("MD5 signature", {"md5_signature": True}, "F"),
    ("key under 1024 bits", {"key_under_1024": True, "weak_key": True}, "F"),
    ("F over C", {"md5_signature": True, "tls1_2": False, "tls1_3": False}, "F"),
    ("name mismatch", {"mismatch": True}, "M"),
    ("M over F", {"mismatch": True, "md5_signature": True}, "M"),
    ("not trusted", {"untrusted": True}, "T"),
    ("T over C", {"untrusted": True, "tls1_2": False, "tls1_3": False}, "T"),
    ("T and M: T", {"untrusted": True, "mismatch": True}, "T"),
    # A probe that failed (None) is neither accepted nor refused: no cap from it.
    ("TLS 1.3 probe failed", {"tls1_3": None}, "A"),
    ("TLS 1.2 unknown, 1.3 refused", {"tls1_2": None, "tls1_3": False}, "A-"),
    ("static-RSA probe failed", {"forward_secrecy_only": None}, "A"),
]


@pytest.mark.parametrize(("case", "changes", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_grade_with_protocols(case: str, changes: dict[str, object], expected: str) -> None:
    letter, basis = grade(dataclasses.replace(MODERN, **changes))  # type: ignore[arg-type]
    assert (letter.value, basis.value) == (expected, "certificate+protocols")


# Without --protocols only the certificate is measured: no C, no A-, no protocol B.
CERTIFICATE_ONLY: list[tuple[dict[str, object], str]] = [
    ({}, "A"),
    ({"incomplete_chain": True}, "B"),
    ({"weak_key": True}, "B"),
    ({"md5_signature": True}, "F"),
    ({"mismatch": True}, "M"),
    ({"untrusted": True}, "T"),
]


@pytest.mark.parametrize(("changes", "expected"), CERTIFICATE_ONLY)
def test_grade_without_protocols(changes: dict[str, object], expected: str) -> None:
    letter, basis = grade(GradeFacts(**changes))  # type: ignore[arg-type]
    assert (letter.value, basis.value) == (expected, "certificate")


def test_a_drop_is_a_move_towards_t() -> None:
    assert dropped("A", "A-") and dropped("A-", "B") and dropped("C", "F") and dropped("F", "T")
    assert not dropped("B", "A") and not dropped("M", "T") and not dropped("T", "M")
    assert not dropped(None, "B") and not dropped("A", "Z")


# --- facts from real certificates ------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED)


def judged(pki: lab.Pki, chain: list[lab.Issued], host: str = "g.example.test") -> GradeFacts:
    trust = certs.load_trust_store(pki.root.pem, "root.pem")
    d = diagnose(
        [c.der for c in chain],
        host=host,
        is_ip=False,
        ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=30),
    )
    return facts(d)


def test_facts_of_real_chains(pki: lab.Pki) -> None:
    inter = pki.intermediate
    good = judged(pki, [pki.leaf(["g.example.test"]), inter])
    assert good == GradeFacts()
    md5 = judged(pki, [lab.resign_md5(pki.leaf(["g.example.test"]), inter), inter])
    assert md5.md5_signature and not md5.untrusted  # F, not T
    sha1 = judged(pki, [lab.resign_sha1(pki.leaf(["g.example.test"]), inter), inter])
    assert sha1.untrusted and not sha1.md5_signature  # SHA-1: not trusted (T)
    rsa1024 = judged(pki, [pki.leaf(["g.example.test"], key=lab.rsa_key(1024)), inter])
    assert rsa1024.weak_key and not rsa1024.key_under_1024 and not rsa1024.untrusted
    mismatch = judged(pki, [pki.leaf(["other.example.test"]), inter])
    assert mismatch.mismatch and not mismatch.untrusted
    expired = judged(
        pki,
        [
            pki.leaf(
                ["g.example.test"], not_before=FIXED - 90 * lab.DAY, not_after=FIXED - lab.DAY
            ),
            inter,
        ],
    )
    assert expired.untrusted


def test_facts_read_the_probes() -> None:
    p = ProtocolSupport(
        accepted={
            TlsVersion.TLS1_0: True,
            TlsVersion.TLS1_1: None,
            TlsVersion.TLS1_2: False,
            TlsVersion.TLS1_3: False,
        },
        forward_secrecy_only=False,
    )
    probed = GradeFacts(
        protocols=True,
        tls1_0=True,
        tls1_1=None,
        tls1_2=False,
        tls1_3=False,
        forward_secrecy_only=False,
    )
    d = Diagnosis(
        leaf=None,
        certificates=(),
        verdicts=Verdicts(
            trusted=False,
            expired=None,
            not_yet_valid=None,
            expiring_soon=None,
            hostname_mismatch=None,
            self_signed=None,
            untrusted_root=None,
            incomplete_chain=None,
        ),
        findings=(),
        days_remaining=None,
    )
    # No leaf at all: not trusted.
    assert facts(d, p) == dataclasses.replace(probed, untrusted=True)
