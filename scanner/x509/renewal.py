"""Renewal on the certificate's own clock: how much of the leaf's lifetime has passed, whether
it is short-lived (CA/Browser Forum Baseline Requirements), whether its renewal is overdue, and
which date-driven findings a short-lived certificate does not get. Pure: `as_of` is an input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from cryptography import x509

from scanner.model.catalogue import Code
from scanner.model.timefmt import utc_z as ts
from scanner.model.types import Finding
from scanner.x509 import certs
from scanner.x509 import findings as F
from scanner.x509.rules import span

# Baseline Requirements 1.6.1, "Short-lived Subscriber Certificate" (ballot SC-081): issued
# on or after 2026-03-15, a Validity Period of at most 7 days (604,800 s); issued from
# 2024-03-15 and before 2026-03-15, at most 10 days (864,000 s). The issuance date is read
# from notBefore (the BR backdating limit keeps them within 48 hours); a certificate from
# before 2024-03-15 is judged by the 10-day figure too (nothing of that age is still valid).
SHORT_LIVED_SINCE = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
SHORT_LIVED_MAX = dt.timedelta(days=7)
SHORT_LIVED_MAX_BEFORE = dt.timedelta(days=10)
# ACME clients (certbot, lego, Caddy...) renew when two thirds of the lifetime has passed.
DEFAULT_RENEW_AT = Fraction(2, 3)
_SECOND = dt.timedelta(seconds=1)


def validity_period(not_before: dt.datetime, not_after: dt.datetime) -> dt.timedelta:
    """BR 1.6.1 and RFC 5280 4.1.2.5: from notBefore through notAfter inclusive, so one
    second more than their difference."""
    return not_after - not_before + _SECOND


def short_lived(not_before: dt.datetime, not_after: dt.datetime) -> bool:
    limit = SHORT_LIVED_MAX if not_before >= SHORT_LIVED_SINCE else SHORT_LIVED_MAX_BEFORE
    return validity_period(not_before, not_after) <= limit


def lifetime_used(not_before: dt.datetime, not_after: dt.datetime, as_of: dt.datetime) -> float:
    """The fraction of notBefore..notAfter passed at `as_of`: 0 before notBefore, 1 at
    notAfter, more than 1 once expired."""
    lifetime = not_after - not_before
    elapsed = as_of - not_before
    if lifetime <= dt.timedelta(0):
        return 1.0 if as_of >= not_after else 0.0
    if elapsed <= dt.timedelta(0):
        return 0.0
    return elapsed / lifetime


def _fraction(renew_at: float | Fraction) -> Fraction:
    """`--renew-at` as an exact fraction: the float nearest 2/3 is 2/3, so the boundary is
    the ACME instant to the microsecond."""
    value = Fraction(renew_at).limit_denominator(10_000)
    if not 0 < value <= 1:
        raise ValueError(f"renew-at must be in (0, 1], not {renew_at}")
    return value


def renew_by(
    not_before: dt.datetime, not_after: dt.datetime, renew_at: float | Fraction = DEFAULT_RENEW_AT
) -> dt.datetime:
    """The instant at which `renew_at` of the lifetime has passed (whole microseconds)."""
    f = _fraction(renew_at)
    lifetime_us = (not_after - not_before) // dt.timedelta(microseconds=1)
    return not_before + dt.timedelta(microseconds=lifetime_us * f.numerator // f.denominator)


def renewal_overdue(
    not_before: dt.datetime,
    not_after: dt.datetime,
    as_of: dt.datetime,
    renew_at: float | Fraction = DEFAULT_RENEW_AT,
) -> bool:
    """More than `renew_at` of the lifetime has passed (exactly, in microseconds) and the
    certificate is not yet expired (RFC 5280: valid through notAfter inclusive)."""
    if as_of > not_after:
        return False
    f = _fraction(renew_at)
    unit = dt.timedelta(microseconds=1)
    elapsed_us = (as_of - not_before) // unit
    lifetime_us = (not_after - not_before) // unit
    return elapsed_us * f.denominator > lifetime_us * f.numerator


@dataclass(frozen=True, slots=True, kw_only=True)
class Renewal:
    lifetime_used: float
    short_lived: bool
    renewal_overdue: bool
    renew_by: dt.datetime  # when `renew_at` of the lifetime has passed
    findings: tuple[Finding, ...]


def assess(
    not_before: dt.datetime,
    not_after: dt.datetime,
    as_of: dt.datetime,
    renew_at: float | Fraction = DEFAULT_RENEW_AT,
) -> Renewal:
    """The leaf's renewal facts and the `renewal_overdue` finding."""
    used = lifetime_used(not_before, not_after, as_of)
    overdue = renewal_overdue(not_before, not_after, as_of, renew_at)
    due = renew_by(not_before, not_after, renew_at)
    found: list[Finding] = []
    if overdue:
        f = _fraction(renew_at)
        found.append(
            F.make(
                Code.RENEWAL_OVERDUE,
                f"{used:.0%} of the leaf's lifetime ({ts(not_before)} to {ts(not_after)}, "
                f"{span(not_after - not_before)}) has passed: it was due for renewal at "
                f"{f.numerator}/{f.denominator} of it, {ts(due)}, {span(as_of - due)} before "
                f"{ts(as_of)}; it expires in {span(not_after - as_of)}",
            )
        )
    return Renewal(
        lifetime_used=used,
        short_lived=short_lived(not_before, not_after),
        renewal_overdue=overdue,
        renew_by=due,
        findings=tuple(found),
    )


def assess_leaf(
    leaf: x509.Certificate, as_of: dt.datetime, renew_at: float | Fraction = DEFAULT_RENEW_AT
) -> Renewal | None:
    """`assess` on the leaf's own dates; None when one cannot be read (the leaf's validity
    finding says so)."""
    not_before, not_after, _ = certs.validity(leaf)
    if not_before is None or not_after is None:
        return None
    return assess(not_before, not_after, as_of, renew_at)


def expiring_soon_applies(renewal: Renewal) -> bool:
    """A short-lived certificate is always "within 30 days": `expiring_soon` says something
    only when its renewal is overdue as well."""
    return not renewal.short_lived or renewal.renewal_overdue


def revocation_unknown_applies(renewal: Renewal) -> bool:
    """Short-lived certificates need no revocation pointer (the Baseline Requirements let
    them omit CRL and OCSP URLs since ballot SC-063), so an unknown status of the leaf says
    nothing."""
    return not renewal.short_lived


def keep(findings: Iterable[Finding], renewal: Renewal, leaf_sha256: str) -> tuple[Finding, ...]:
    """`findings` of a host without those the leaf's renewal facts make moot: `expiring_soon`
    (see `expiring_soon_applies`) and `revocation_unknown` about the leaf itself (an
    intermediate's stays)."""
    out = []
    for f in findings:
        if f.code == Code.EXPIRING_SOON and not expiring_soon_applies(renewal):
            continue
        if (
            f.code == Code.REVOCATION_UNKNOWN
            and f.certificate_sha256 == leaf_sha256
            and not revocation_unknown_applies(renewal)
        ):
            continue
        out.append(f)
    return tuple(out)
