"""Lifetime rules (issue 20): real certificates of N days (as the Baseline Requirements count
them: notAfter - notBefore + 1 s) on both sides of every date boundary, judged against a table
written here independently of scanner.x509.lifetime."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scanner.x509 import lifetime

KEY = ec.generate_private_key(ec.SECP256R1())
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifetime.test")])
S = dt.timedelta(seconds=1)


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)  # type: ignore[misc]


def leaf(not_before: dt.datetime, days: int) -> x509.Certificate:
    """A certificate whose BR validity period is exactly `days` days."""
    return (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days) - S)
        .sign(KEY, hashes.SHA256())
    )


# The published schedule, restated: (first notBefore, last notBefore, max days).
CABF = [
    (utc(2018, 3, 1), utc(2020, 9, 1) - S, 825),
    (utc(2020, 9, 1), utc(2026, 3, 15) - S, 398),
    (utc(2026, 3, 15), utc(2027, 3, 15) - S, 200),
    (utc(2027, 3, 15), utc(2029, 3, 15) - S, 100),
    (utc(2029, 3, 15), utc(9999, 1, 1), 47),
]
APPLE_FROM, APPLE_MAX = utc(2019, 7, 1), 825


def expected(not_before: dt.datetime, days: int, public: bool) -> set[int]:
    """The max_days of every rule broken, from the table above."""
    out = set()
    if public:
        for first, last, max_days in CABF:
            if first <= not_before <= last and days > max_days:
                out.add(max_days)
    if not_before >= APPLE_FROM and days > APPLE_MAX:
        out.add(-APPLE_MAX)  # Apple's 825 told apart from ballot 193's
    return out


def broken(not_before: dt.datetime, days: int, public: bool) -> set[int]:
    cert = leaf(not_before, days)
    found = lifetime.judge(
        cert.not_valid_before_utc, cert.not_valid_after_utc, publicly_trusted=public
    )
    return {
        -o.limit.max_days if o.limit.scope is lifetime.Scope.ANY else o.limit.max_days
        for o in found
    }


BOUNDARIES = [utc(2019, 7, 1), utc(2020, 9, 1), utc(2026, 3, 15), utc(2027, 3, 15)]
BOUNDARIES += [utc(2029, 3, 15)]
CASES = [
    (when, days)
    for boundary in BOUNDARIES
    for when in (boundary - S, boundary)
    for days in (46, 47, 48, 99, 100, 101, 199, 200, 201, 397, 398, 399, 825, 826)
]


@pytest.mark.parametrize("public", [True, False])
@pytest.mark.parametrize(("not_before", "days"), CASES)
def test_each_rule_on_both_sides_of_each_date(
    not_before: dt.datetime, days: int, public: bool
) -> None:
    assert broken(not_before, days, public) == expected(not_before, days, public)


def test_lifetime_days_counts_the_last_second() -> None:
    cert = leaf(utc(2026, 1, 1), 398)
    assert cert.not_valid_after_utc == utc(2027, 2, 2, 23, 59, 59)
    assert lifetime.lifetime_days(cert.not_valid_before_utc, cert.not_valid_after_utc) == 398.0
    # One second less than a day is not a day.
    assert lifetime.lifetime_days(utc(2026, 1, 1), utc(2026, 1, 1, 23, 59, 58)) == pytest.approx(
        (86400 - 1) / 86400
    )


@pytest.mark.parametrize(
    ("not_before", "days", "limit", "boundary_ok"),
    [
        (utc(2026, 3, 14, 23, 59, 59), 398, 398, True),
        (utc(2026, 3, 14, 23, 59, 59), 399, 398, False),
        (utc(2026, 3, 15), 200, 200, True),
        (utc(2026, 3, 15), 201, 200, False),
        (utc(2026, 3, 15), 398, 200, False),
    ],
)
def test_sc081_boundary_named(
    not_before: dt.datetime, days: int, limit: int, boundary_ok: bool
) -> None:
    found = lifetime.judge(
        not_before, not_before + dt.timedelta(days=days) - S, publicly_trusted=True
    )
    assert (found == ()) is boundary_ok
    if not boundary_ok:
        (over,) = found
        assert over.limit.max_days == limit
        assert over.lifetime_days == days
        assert "SC" in over.limit.source
        assert f"valid for {days} days" in over.message
        assert f"{limit}-day maximum" in over.message


def test_apple_rule_names_apple_and_applies_to_private_cas() -> None:
    (over,) = lifetime.judge(
        utc(2024, 1, 1), utc(2024, 1, 1) + dt.timedelta(days=826) - S, publicly_trusted=False
    )
    assert over.limit.scope is lifetime.Scope.ANY
    assert "Apple" in over.limit.source and "Apple clients" in over.message
    assert over.lifetime_days == 826


def test_table_is_contiguous_and_dated_in_utc() -> None:
    public = [lim for lim in lifetime.LIMITS if lim.scope is lifetime.Scope.PUBLIC]
    for a, b in zip(public, public[1:], strict=False):
        assert a.end == b.start
    for lim in lifetime.LIMITS:
        assert lim.start.tzinfo is dt.UTC and lim.source
