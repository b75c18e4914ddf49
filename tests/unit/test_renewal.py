"""Renewal on the certificate's own clock (scanner.x509.renewal): lifetime used, short-lived by
the Baseline Requirements' definition, renewal overdue at two thirds (or --renew-at), and the
findings a short-lived leaf does not get. Boundaries at as-of +/- 1 s."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from scanner.model.catalogue import Code
from scanner.model.types import Finding, Severity
from scanner.testing.pki import make_ca, make_leaf
from scanner.x509 import findings as F
from scanner.x509 import renewal, rules

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)


# --- lifetime used ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-DAY, 0.0),  # not yet valid
        (dt.timedelta(0), 0.0),
        (45 * DAY, 0.5),
        (60 * DAY, 60 / 90),
        (90 * DAY, 1.0),  # at notAfter
        (135 * DAY, 1.5),  # expired: more than 1
    ],
)
def test_lifetime_used_of_a_90_day_leaf(offset: dt.timedelta, expected: float) -> None:
    assert renewal.lifetime_used(T0, T0 + 90 * DAY, T0 + offset) == pytest.approx(expected)


def test_lifetime_used_of_a_zero_length_certificate() -> None:
    assert renewal.lifetime_used(T0, T0, T0 - S) == 0.0
    assert renewal.lifetime_used(T0, T0, T0) == 1.0


# --- short-lived: BR 1.6.1 -----------------------------------------------------------------

SINCE = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("not_before", "validity_period", "expected"),
    [
        # Issued from 2026-03-15: at most 7 days (604,800 s), notBefore..notAfter inclusive.
        (SINCE, 7 * DAY, True),
        (SINCE, 7 * DAY + S, False),
        (SINCE, 6 * DAY, True),
        (SINCE + 100 * DAY, 10 * DAY, False),
        # Issued before: at most 10 days (864,000 s).
        (SINCE - S, 10 * DAY, True),
        (SINCE - S, 10 * DAY + S, False),
        (SINCE - 30 * DAY, 8 * DAY, True),
        (SINCE - 30 * DAY, 45 * DAY, False),
    ],
)
def test_short_lived(
    not_before: dt.datetime, validity_period: dt.timedelta, expected: bool
) -> None:
    # Validity Period = notAfter - notBefore + 1 s (RFC 5280 4.1.2.5, both bounds inclusive).
    not_after = not_before + validity_period - S
    assert renewal.validity_period(not_before, not_after) == validity_period
    assert renewal.short_lived(not_before, not_after) is expected


# --- renewal overdue -----------------------------------------------------------------------


@pytest.mark.parametrize("days", [6, 45, 90, 398])
def test_renewal_overdue_at_two_thirds_plus_one_second(days: int) -> None:
    nb, na = T0, T0 + days * DAY
    due = nb + (days * DAY) * 2 / 3  # independent: timedelta arithmetic
    assert renewal.renew_by(nb, na) == due
    assert renewal.renewal_overdue(nb, na, due - S) is False
    assert renewal.renewal_overdue(nb, na, due) is False  # "more than" two thirds
    assert renewal.renewal_overdue(nb, na, due + S) is True
    assert renewal.renewal_overdue(nb, na, na) is True  # the last valid second
    assert renewal.renewal_overdue(nb, na, na + S) is False  # expired: `expired` says it


def test_renew_at_changes_the_fraction() -> None:
    nb, na = T0, T0 + 100 * DAY
    assert renewal.renewal_overdue(nb, na, nb + 50 * DAY + S, renew_at=0.5) is True
    assert renewal.renewal_overdue(nb, na, nb + 50 * DAY, renew_at=0.5) is False
    assert renewal.renewal_overdue(nb, na, nb + 50 * DAY + S) is False  # default 2/3
    # The float 2/3 is read as the fraction 2/3: the ACME instant to the microsecond.
    assert renewal.renew_by(nb, na, 2 / 3) == renewal.renew_by(nb, na, Fraction(2, 3))
    assert renewal.renew_by(nb, na, 2 / 3) == nb + 100 * DAY * 2 / 3


@pytest.mark.parametrize("bad", [0, -0.5, 1.5])
def test_renew_at_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="renew-at"):
        renewal.renewal_overdue(T0, T0 + DAY, T0, renew_at=bad)


def test_assess_gives_the_finding_with_dates() -> None:
    nb, na = T0, T0 + 90 * DAY
    r = renewal.assess(nb, na, nb + 70 * DAY)
    assert (r.short_lived, r.renewal_overdue) == (False, True)
    assert r.lifetime_used == pytest.approx(70 / 90)
    (f,) = r.findings
    assert (f.code, f.severity) == ("renewal_overdue", Severity.MEDIUM)
    assert f.message == (
        "78% of the leaf's lifetime (2026-06-01T00:00:00Z to 2026-08-30T00:00:00Z, 90 day(s)) "
        "has passed: it was due for renewal at 2/3 of it, 2026-07-31T00:00:00Z, 10 day(s) "
        "before 2026-08-10T00:00:00Z; it expires in 20 day(s)"
    )
    assert renewal.assess(nb, na, nb + 50 * DAY).findings == ()


# --- what a short-lived leaf does not get --------------------------------------------------

LEAF = "aa" * 32
OTHER = "bb" * 32


def _some_findings() -> list[Finding]:
    return [
        F.make(Code.EXPIRING_SOON, "expires soon"),
        F.make(Code.REVOCATION_UNKNOWN, "leaf unknown", named=(LEAF, "CN=leaf")),
        F.make(Code.REVOCATION_UNKNOWN, "intermediate unknown", named=(OTHER, "CN=ca")),
        F.make(Code.WEAK_KEY, "weak"),
    ]


def test_a_six_day_leaf_in_the_first_two_thirds_gets_neither() -> None:
    r = renewal.assess(T0, T0 + 6 * DAY, T0 + 3 * DAY)
    assert (r.short_lived, r.renewal_overdue) == (True, False)
    kept = renewal.keep(_some_findings(), r, LEAF)
    assert [(f.code, f.message) for f in kept] == [
        ("revocation_unknown", "intermediate unknown"),
        ("weak_key", "weak"),
    ]


def test_a_six_day_leaf_past_two_thirds_keeps_expiring_soon() -> None:
    r = renewal.assess(T0, T0 + 6 * DAY, T0 + 5 * DAY)
    assert (r.short_lived, r.renewal_overdue) == (True, True)
    kept = [f.code for f in renewal.keep(_some_findings(), r, LEAF)]
    assert kept == ["expiring_soon", "revocation_unknown", "weak_key"]
    assert [f.code for f in r.findings] == ["renewal_overdue"]


def test_a_45_day_leaf_keeps_everything() -> None:
    r = renewal.assess(T0, T0 + 45 * DAY, T0 + 20 * DAY)
    assert r.short_lived is False
    assert renewal.keep(_some_findings(), r, LEAF) == tuple(_some_findings())


# --- leaves of 6, 45, 90 and 398 days at several points of their life -----------------------

# (lifetime in days, days since notBefore) -> (short_lived, renewal_overdue, the leaf's
# date findings after `keep`), with --expiry-warn-days 30. Written from the definitions: short
# at <= 7 days (notBefore after 2026-03-15), overdue past 2/3 and not expired.
LIFE = {
    (6, 1): (True, False, []),  # "within 30 days" from birth: no expiring_soon
    (6, 4): (True, False, []),  # exactly 2/3: not yet overdue
    (6, 5): (True, True, ["expiring_soon", "renewal_overdue"]),
    (6, 7): (True, False, ["expired"]),
    (45, 10): (False, False, []),
    (45, 20): (False, False, ["expiring_soon"]),  # 25 days left: the fixed window fires
    (45, 31): (False, True, ["expiring_soon", "renewal_overdue"]),
    (90, 30): (False, False, []),
    (90, 61): (False, True, ["expiring_soon", "renewal_overdue"]),  # 29 days left: both
    (90, 59): (False, False, []),
    (398, 200): (False, False, []),
    (398, 300): (False, True, ["renewal_overdue"]),
    (398, 380): (False, True, ["expiring_soon", "renewal_overdue"]),
    (398, 399): (False, False, ["expired"]),
}


@pytest.mark.parametrize(("life", "age"), LIFE.keys(), ids=[f"{a}d-at-{b}d" for a, b in LIFE])
def test_leaves_through_their_life(life: int, age: int) -> None:
    short, overdue, expected = LIFE[(life, age)]
    nb = T0
    ca = make_ca("Renewal CA", not_before=nb - 10 * DAY, not_after=nb + 900 * DAY)
    leaf = make_leaf(ca, dns_names=["r.test"], not_before=nb, not_after=nb + life * DAY)
    as_of = nb + age * DAY
    r = renewal.assess_leaf(leaf.cert, as_of)
    assert r is not None
    assert (r.short_lived, r.renewal_overdue) == (short, overdue)
    assert r.lifetime_used == pytest.approx(age / life)
    v = rules.validity(leaf.cert, as_of, warn_days=30)
    kept = renewal.keep([*v.findings, *r.findings], r, "leaf-sha")
    assert sorted(f.code for f in kept) == expected
