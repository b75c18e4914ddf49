"""The date each host breaks with nothing changed, and why; and the forecast: hosts breaking
per week for the next N weeks, by cause (and by a column such as owner). Pure: a host's dates
in, the earliest out; a hosts table in, a pandas table out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is loaded by `forecast` only: a scan's hosts judge without it
    import pandas as pd

DEFAULT_WEEKS = 13
WEEK = dt.timedelta(days=7)


class BreakCause(StrEnum):
    """`breaks_because`, in the order that wins a tie (the leaf is what people renew)."""

    LEAF_EXPIRES = "leaf_expires"  # the leaf's notAfter
    CHAIN_EXPIRES = "chain_expires"  # a CA certificate of the built path: its notAfter
    DISTRUSTED = "distrusted"  # a root program stops trusting the path's root
    ARI_WINDOW_ENDS = "ari_window_ends"  # the CA's suggested renewal window ends (RFC 9773)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostDates:
    """What can break a host, each None (or empty) when unknown or not applicable."""

    leaf_not_after: dt.datetime | None = None
    path_not_afters: Sequence[dt.datetime] = ()  # the CA certificates of the built path
    distrust_on: dt.datetime | None = None  # a root program's distrust that will apply
    ari_end: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Break:
    on: dt.datetime
    because: BreakCause


def breaks(facts: HostDates) -> Break | None:
    """The earliest date on which the host stops being trusted, and its cause; None when no
    date is known. A notAfter is the last second of validity: the host breaks just after it,
    and `on` is that notAfter (as the certificate says it)."""
    candidates: list[tuple[dt.datetime, BreakCause]] = []
    if facts.leaf_not_after is not None:
        candidates.append((facts.leaf_not_after, BreakCause.LEAF_EXPIRES))
    candidates += [(d, BreakCause.CHAIN_EXPIRES) for d in facts.path_not_afters]
    if facts.distrust_on is not None:
        candidates.append((facts.distrust_on, BreakCause.DISTRUSTED))
    if facts.ari_end is not None:
        candidates.append((facts.ari_end, BreakCause.ARI_WINDOW_ENDS))
    if not candidates:
        return None
    order = list(BreakCause)
    on, because = min(candidates, key=lambda c: (c[0], order.index(c[1])))
    return Break(on=on, because=because)


def breaks_on(facts: HostDates) -> dt.datetime | None:
    b = breaks(facts)
    return None if b is None else b.on


def breaks_because(facts: HostDates) -> str | None:
    b = breaks(facts)
    return None if b is None else b.because.value


def moved_earlier(old: dt.datetime | None, new: dt.datetime | None) -> bool:
    """For `scanner diff`: the host now breaks earlier than it did (a regression)."""
    return old is not None and new is not None and new < old


def forecast(
    hosts: pd.DataFrame,
    as_of: dt.datetime,
    *,
    weeks: int = DEFAULT_WEEKS,
    by: str | None = None,
) -> pd.DataFrame:
    """Hosts breaking per week for the next `weeks` weeks: week k (1-based) is
    [as_of + 7(k-1) days, as_of + 7k days). One row per week (per week and `by` value), one
    column per cause and `total`. Hosts without `breaks_on`, or breaking before `as_of` (they
    are broken already) or after the last week, are not counted."""
    import pandas as pd

    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, not {weeks}")
    if by is not None and by not in hosts.columns:
        raise KeyError(f"no column {by!r} in the hosts table")
    causes = [c.value for c in BreakCause]
    start = pd.Timestamp(as_of).tz_convert("UTC")
    when = pd.to_datetime(hosts["breaks_on"], utc=True)
    offset = (when - start) / pd.Timedelta(WEEK)
    in_range = offset.notna() & (offset >= 0) & (offset < weeks)
    frame = pd.DataFrame(
        {
            "week": (offset[in_range] // 1).astype("int64") + 1,
            "cause": hosts.loc[in_range, "breaks_because"].astype(str),
        }
    )
    keys = ["week"] if by is None else ["week", by]
    if by is not None:
        frame[by] = (
            hosts.loc[in_range, by].astype(object).where(hosts.loc[in_range, by].notna(), "(none)")
        )
    counts = (
        frame.groupby([*keys, "cause"]).size().unstack("cause", fill_value=0)
        if len(frame)
        else pd.DataFrame(columns=causes)
    )
    counts = counts.reindex(columns=causes, fill_value=0)
    week_numbers = range(1, weeks + 1)
    if by is None:
        grid = pd.Index(week_numbers, name="week")
    else:
        values = sorted(frame[by].unique(), key=str) if len(frame) else []
        grid = pd.MultiIndex.from_product([week_numbers, values], names=keys)
    counts = counts.reindex(grid, fill_value=0).astype("int64")
    counts.columns.name = None
    out = counts.reset_index()
    out.insert(1, "week_start", [start + (w - 1) * pd.Timedelta(WEEK) for w in out["week"]])
    out["total"] = out[causes].sum(axis=1).astype("int64")
    return out


def weekly_totals(table: pd.DataFrame) -> list[int]:
    """Hosts breaking in each week of a `forecast` table (whatever its `by`)."""
    return [int(n) for n in table.groupby("week")["total"].sum().sort_index()]


def fleet_forecast(
    hosts: pd.DataFrame,
    as_of: dt.datetime,
    *,
    weeks: int = DEFAULT_WEEKS,
    by: str | None = None,
) -> pd.DataFrame:
    """`forecast` of a hosts table, of a scan from before `breaks_on` too (none break)."""
    if "breaks_on" not in hosts.columns:
        hosts = hosts.assign(breaks_on=None, breaks_because=None)
    return forecast(hosts, as_of, weeks=weeks, by=by)
