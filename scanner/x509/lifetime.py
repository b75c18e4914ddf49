"""A leaf's lifetime as the Baseline Requirements count it, and the dated maximum lifetimes
(CA/Browser Forum, Apple) as a table of rules, each with its source and the notBefore range it
governs. Pure: dates in, judgements out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

SECOND = dt.timedelta(seconds=1)
DAY_SECONDS = 86_400


def _utc(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=dt.UTC)


def lifetime(not_before: dt.datetime, not_after: dt.datetime) -> dt.timedelta:
    """The validity period: "the period from notBefore through notAfter, inclusive" — one
    second more than the difference (Baseline Requirements 1.6.1, "Validity Period"; RFC 5280
    4.1.2.5 makes both ends inclusive)."""
    return not_after - not_before + SECOND


def lifetime_days(not_before: dt.datetime, not_after: dt.datetime) -> float:
    """The validity period in days of 86,400 seconds (398 days = 34,387,200 seconds)."""
    return lifetime(not_before, not_after).total_seconds() / DAY_SECONDS


class Scope(StrEnum):
    """Which certificates a limit governs."""

    PUBLIC = "publicly_trusted"  # the path ends at a root of a public program or `default`
    ANY = "any"  # every TLS server certificate, private CAs included


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """A maximum lifetime for leaves whose notBefore is in [start, end)."""

    max_days: int
    start: dt.datetime
    end: dt.datetime | None  # exclusive; None: open-ended
    scope: Scope
    source: str
    enforced_by: str

    def governs(self, not_before: dt.datetime) -> bool:
        return self.start <= not_before and (self.end is None or not_before < self.end)


_SC081 = "CA/Browser Forum Baseline Requirements 6.3.2, ballot SC-081"
_BR = "CA/Browser Forum Baseline Requirements 6.3.2"
_CABF = "every browser (Baseline Requirements for publicly trusted CAs)"

# The table, oldest first. CA/B Forum: ballot 193 (825 days from 2018-03-01), ballot SC31
# (398 days from 2020-09-01), ballot SC-081 (200 days from 2026-03-15, 100 from 2027-03-15,
# 47 from 2029-03-15; dates are of issuance, i.e. notBefore). Apple: "TLS server certificates
# issued after July 1, 2019 ... must have a validity period of 825 days or fewer", for every
# certificate macOS/iOS evaluates, user-installed CAs included (support.apple.com/HT210176,
# "Requirements for trusted certificates in iOS 13 and macOS 10.15", 2019-06).
LIMITS: tuple[Limit, ...] = (
    Limit(
        max_days=825,
        start=_utc(2018, 3, 1),
        end=_utc(2020, 9, 1),
        scope=Scope.PUBLIC,
        source=f"{_BR}, ballot 193 (certificates issued from 2018-03-01)",
        enforced_by=_CABF,
    ),
    Limit(
        max_days=398,
        start=_utc(2020, 9, 1),
        end=_utc(2026, 3, 15),
        scope=Scope.PUBLIC,
        source=f"{_BR}, ballot SC31 (certificates issued 2020-09-01 to 2026-03-14)",
        enforced_by=_CABF,
    ),
    Limit(
        max_days=200,
        start=_utc(2026, 3, 15),
        end=_utc(2027, 3, 15),
        scope=Scope.PUBLIC,
        source=f"{_SC081} (certificates issued 2026-03-15 to 2027-03-14)",
        enforced_by=_CABF,
    ),
    Limit(
        max_days=100,
        start=_utc(2027, 3, 15),
        end=_utc(2029, 3, 15),
        scope=Scope.PUBLIC,
        source=f"{_SC081} (certificates issued 2027-03-15 to 2029-03-14)",
        enforced_by=_CABF,
    ),
    Limit(
        max_days=47,
        start=_utc(2029, 3, 15),
        end=None,
        scope=Scope.PUBLIC,
        source=f"{_SC081} (certificates issued from 2029-03-15)",
        enforced_by=_CABF,
    ),
    Limit(
        max_days=825,
        start=_utc(2019, 7, 1),
        end=None,
        scope=Scope.ANY,
        source="Apple, requirements for trusted certificates in iOS 13 and macOS 10.15 "
        "(certificates issued from 2019-07-01, private CAs included)",
        enforced_by="Apple clients (iOS, iPadOS, macOS, Safari) refuse it",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverLimit:
    """A leaf that lives longer than a rule allows: the limit, its source and what was found."""

    limit: Limit
    lifetime_days: float

    @property
    def message(self) -> str:
        return (
            f"the certificate is valid for {self.lifetime_days:g} days, over the "
            f"{self.limit.max_days}-day maximum of {self.limit.source}; "
            f"{self.limit.enforced_by}"
        )


def judge(
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    publicly_trusted: bool,
    limits: tuple[Limit, ...] = LIMITS,
) -> tuple[OverLimit, ...]:
    """Every rule the leaf breaks (none: an empty tuple). Rules of `Scope.PUBLIC` apply only
    when the path ends at a publicly trusted root; `Scope.ANY` rules apply to every leaf. A
    leaf breaks a rule when its lifetime exceeds max_days * 86,400 seconds."""
    span = lifetime(not_before, not_after)
    days = span.total_seconds() / DAY_SECONDS
    return tuple(
        OverLimit(limit=limit, lifetime_days=days)
        for limit in limits
        if (publicly_trusted or limit.scope is Scope.ANY)
        and limit.governs(not_before)
        and span > dt.timedelta(days=limit.max_days)
    )
