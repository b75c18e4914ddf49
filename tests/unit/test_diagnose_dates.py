"""Validity boundaries, judged by the pure `diagnose` at chosen instants (no network, no
clock): RFC 5280 bounds are inclusive, the warning window edge is inclusive."""

from __future__ import annotations

import datetime as dt

import pytest

from scanner.errors import UsageError
from scanner.model.types import Diagnosis
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
NOT_BEFORE = FIXED - 10 * DAY
NOT_AFTER = FIXED + 100 * DAY
HOST = "dates.lab.test"


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED)


@pytest.fixture(scope="module")
def trust(pki: lab.Pki) -> certs.TrustStore:
    return certs.load_trust_store(pki.root.pem, "lab-root.pem")


@pytest.fixture(scope="module")
def chain(pki: lab.Pki) -> list[bytes]:
    leaf = pki.leaf([HOST], not_before=NOT_BEFORE, not_after=NOT_AFTER)
    return [leaf.der, pki.intermediate.der]


def judge(
    chain: list[bytes], trust: certs.TrustStore, as_of: dt.datetime, warn_days: int = 30
) -> Diagnosis:
    return diagnose(
        chain,
        host=HOST,
        is_ip=False,
        ctx=DiagnosisContext(trust=trust, as_of=as_of, warn_days=warn_days),
    )


def codes(d: Diagnosis) -> set[str]:
    return {f.code for f in d.findings}


OVERDUE = "renewal_overdue"
NOT_AFTER_EDGE = {
    # as-of: (expired, expiring_soon, trusted, days_remaining, findings)
    # (at the end of its life a leaf's renewal is overdue too)
    "notAfter - 1 s": (NOT_AFTER - SECOND, (False, True, True, 0, {"expiring_soon", OVERDUE})),
    "notAfter": (NOT_AFTER, (False, True, True, 0, {"expiring_soon", OVERDUE})),
    "notAfter + 1 s": (NOT_AFTER + SECOND, (True, False, False, -1, {"expired"})),
    "notAfter + 1 day + 1 s": (NOT_AFTER + DAY + SECOND, (True, False, False, -2, {"expired"})),
}


@pytest.mark.parametrize(("as_of", "want"), NOT_AFTER_EDGE.values(), ids=NOT_AFTER_EDGE.keys())
def test_not_after_boundary(
    chain: list[bytes],
    trust: certs.TrustStore,
    as_of: dt.datetime,
    want: tuple[bool, bool, bool, int, set[str]],
) -> None:
    d = judge(chain, trust, as_of)
    v = d.verdicts
    assert (v.expired, v.expiring_soon, v.trusted, d.days_remaining, codes(d)) == want
    assert v.not_yet_valid is False


NOT_BEFORE_EDGE = {
    "notBefore - 1 s": (NOT_BEFORE - SECOND, (True, False, {"not_yet_valid"})),
    "notBefore": (NOT_BEFORE, (False, True, set())),
    "notBefore + 1 s": (NOT_BEFORE + SECOND, (False, True, set())),
}


@pytest.mark.parametrize(("as_of", "want"), NOT_BEFORE_EDGE.values(), ids=NOT_BEFORE_EDGE.keys())
def test_not_before_boundary(
    chain: list[bytes],
    trust: certs.TrustStore,
    as_of: dt.datetime,
    want: tuple[bool, bool, set[str]],
) -> None:
    d = judge(chain, trust, as_of)
    assert (d.verdicts.not_yet_valid, d.verdicts.trusted, codes(d)) == want
    assert d.verdicts.expired is False and d.verdicts.expiring_soon is False


WARN_EDGE = {
    # (as-of, warn days): expiring_soon
    "exactly warn_days before notAfter": (NOT_AFTER - 30 * DAY, 30, True),
    "warn_days + 1 s before notAfter": (NOT_AFTER - 30 * DAY - SECOND, 30, False),
    "warn_days - 1 s before notAfter": (NOT_AFTER - 30 * DAY + SECOND, 30, True),
    "window of 7 days, exactly": (NOT_AFTER - 7 * DAY, 7, True),
    "window of 7 days, 1 s more": (NOT_AFTER - 7 * DAY - SECOND, 7, False),
    "window 0, at notAfter": (NOT_AFTER, 0, True),
    "window 0, 1 s before notAfter": (NOT_AFTER - SECOND, 0, False),
    "expired is never expiring soon": (NOT_AFTER + SECOND, 3650, False),
}


@pytest.mark.parametrize(("as_of", "warn_days", "soon"), WARN_EDGE.values(), ids=WARN_EDGE.keys())
def test_warning_window_edge(
    chain: list[bytes], trust: certs.TrustStore, as_of: dt.datetime, warn_days: int, soon: bool
) -> None:
    d = judge(chain, trust, as_of, warn_days)
    assert d.verdicts.expiring_soon is soon
    assert ("expiring_soon" in codes(d)) is soon
    if soon:
        finding = next(f for f in d.findings if f.code == "expiring_soon")
        assert f"warning window {warn_days} days" in finding.message
        assert finding.severity.value == "medium"
        assert d.verdicts.trusted is True  # expiring soon is a warning, not a rejection


def test_messages_state_the_real_distance(chain: list[bytes], trust: certs.TrustStore) -> None:
    just_expired = judge(chain, trust, NOT_AFTER + SECOND).findings[0]
    assert just_expired.message == (
        "expired 2026-09-09T00:00:00Z, 1 second(s) before 2026-09-09T00:00:01Z"
    )
    long_expired = judge(chain, trust, NOT_AFTER + 3 * DAY + 5 * SECOND).findings[0]
    assert "3 day(s) before" in long_expired.message
    early = judge(chain, trust, NOT_BEFORE - 2 * dt.timedelta(hours=1)).findings[0]
    assert early.message == (
        "valid only from 2026-05-22T00:00:00Z, 2 hour(s) after 2026-05-21T22:00:00Z"
    )
    soon = judge(chain, trust, NOT_AFTER - 12 * DAY - SECOND).findings[0]
    assert soon.message.startswith("expires 2026-09-09T00:00:00Z, in 12 day(s)")


def test_as_of_in_another_zone_is_the_same_instant(
    chain: list[bytes], trust: certs.TrustStore
) -> None:
    zone = dt.timezone(dt.timedelta(hours=-5))
    just_after = (NOT_AFTER + SECOND).astimezone(zone)
    assert judge(chain, trust, just_after).verdicts.expired is True
    at = NOT_AFTER.astimezone(zone)
    assert judge(chain, trust, at).verdicts.expired is False


def test_naive_as_of_is_refused(chain: list[bytes], trust: certs.TrustStore) -> None:
    with pytest.raises(UsageError, match="timezone-aware"):
        judge(chain, trust, NOT_AFTER.replace(tzinfo=None))


def test_expired_intermediate_boundary(pki: lab.Pki, trust: certs.TrustStore) -> None:
    """A served intermediate is judged with the same inclusive bounds as the leaf."""
    inter_end = FIXED + 50 * DAY
    inter = lab.make_ca(
        "Short Intermediate", issuer=pki.root, not_before=FIXED - DAY, not_after=inter_end
    )
    leaf = pki.leaf([HOST], issuer=inter, not_after=FIXED + 400 * DAY)
    sent = [leaf.der, inter.der]
    at_end = judge(sent, trust, inter_end)
    # (still valid, but it ends before the leaf: the host breaks then)
    assert at_end.verdicts.trusted is True
    assert codes(at_end) == {"intermediate_expires_first"}
    after = judge(sent, trust, inter_end + SECOND)
    assert after.verdicts.trusted is False
    assert codes(after) == {"intermediate_expired"}
    assert after.verdicts.expired is False  # the leaf itself is still valid
