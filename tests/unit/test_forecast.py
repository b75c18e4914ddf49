"""The date each host breaks (scanner.analysis.forecast): the earliest of the leaf's notAfter,
the path's, a distrust date and the ARI window's end; and the weekly forecast checked against
an independent count over the same hosts, by cause and by owner."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pandas as pd
import pytest

from scanner.analysis.forecast import (
    BreakCause,
    HostDates,
    breaks,
    breaks_because,
    breaks_on,
    forecast,
    moved_earlier,
    weekly_totals,
)

AS_OF = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)


def test_the_leaf_alone() -> None:
    facts = HostDates(leaf_not_after=AS_OF + 30 * DAY)
    assert breaks_on(facts) == AS_OF + 30 * DAY
    assert breaks_because(facts) == "leaf_expires"


def test_an_intermediate_expiring_first() -> None:
    facts = HostDates(
        leaf_not_after=AS_OF + 30 * DAY, path_not_afters=[AS_OF + 400 * DAY, AS_OF + 10 * DAY]
    )
    assert (breaks_on(facts), breaks_because(facts)) == (AS_OF + 10 * DAY, "chain_expires")


def test_distrust_and_ari() -> None:
    facts = HostDates(
        leaf_not_after=AS_OF + 80 * DAY,
        path_not_afters=[AS_OF + 900 * DAY],
        distrust_on=AS_OF + 20 * DAY,
        ari_end=AS_OF + 5 * DAY,
    )
    assert breaks(facts) is not None
    assert (breaks_on(facts), breaks_because(facts)) == (AS_OF + 5 * DAY, "ari_window_ends")
    later_ari = HostDates(
        leaf_not_after=AS_OF + 80 * DAY, distrust_on=AS_OF + 20 * DAY, ari_end=AS_OF + 50 * DAY
    )
    assert breaks_because(later_ari) == "distrusted"


def test_a_tie_names_the_leaf() -> None:
    d = AS_OF + 9 * DAY
    facts = HostDates(leaf_not_after=d, path_not_afters=[d], distrust_on=d, ari_end=d)
    assert breaks_because(facts) == "leaf_expires"


def test_nothing_known() -> None:
    assert breaks(HostDates()) is None
    assert (breaks_on(HostDates()), breaks_because(HostDates())) == (None, None)


def test_moved_earlier() -> None:
    assert moved_earlier(AS_OF + 9 * DAY, AS_OF + 8 * DAY) is True
    assert moved_earlier(AS_OF + 9 * DAY, AS_OF + 9 * DAY) is False
    assert moved_earlier(AS_OF + 9 * DAY, AS_OF + 90 * DAY) is False
    assert moved_earlier(None, AS_OF) is False and moved_earlier(AS_OF, None) is False


# --- the weekly forecast --------------------------------------------------------------------

CAUSES = [c.value for c in BreakCause]
OWNERS = ["web", "payments", None]


def hosts_table(n: int = 300, seed: int = 21) -> pd.DataFrame:
    """Hosts breaking from two weeks ago to 16 weeks ahead, some with no date at all."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if rng.random() < 0.1:
            on, because = None, None
        else:
            on = AS_OF + dt.timedelta(seconds=rng.randint(-14 * 86400, 16 * 7 * 86400))
            because = rng.choice(CAUSES)
        rows.append(
            {
                "host": f"h{i}.test",
                "owner": rng.choice(OWNERS),
                "breaks_on": on,
                "breaks_because": because,
            }
        )
    # The edges: exactly as-of (week 1), one second before (broken already: not counted),
    # exactly 13 weeks on (beyond the 13th week), one second before that (the 13th week).
    for on in (AS_OF, AS_OF - S, AS_OF + 13 * 7 * DAY, AS_OF + 13 * 7 * DAY - S):
        rows.append(
            {"host": "edge.test", "owner": "web", "breaks_on": on, "breaks_because": "leaf_expires"}
        )
    df = pd.DataFrame(rows)
    df["breaks_on"] = pd.to_datetime(df["breaks_on"], utc=True)
    return df


def independent(hosts: pd.DataFrame, weeks: int, by: str | None = None) -> Counter[tuple]:
    """(week, [by value,] cause) -> hosts, counted one row at a time in plain Python."""
    counts: Counter[tuple] = Counter()
    for row in hosts.to_dict("records"):
        on = row["breaks_on"]
        if on is None or pd.isna(on):
            continue
        seconds = (on.to_pydatetime() - AS_OF).total_seconds()
        if seconds < 0 or seconds >= weeks * 7 * 86400:
            continue
        week = int(seconds // (7 * 86400)) + 1
        key: tuple = (week, row["breaks_because"])
        if by is not None:
            value = "(none)" if pd.isna(row[by]) else row[by]
            key = (week, value, row["breaks_because"])
        counts[key] += 1
    return counts


def from_table(table: pd.DataFrame, by: str | None = None) -> Counter[tuple]:
    counts: Counter[tuple] = Counter()
    for row in table.to_dict("records"):
        for cause in CAUSES:
            if row[cause]:
                key = (row["week"], cause) if by is None else (row["week"], row[by], cause)
                counts[key] += row[cause]
    return counts


@pytest.mark.parametrize("weeks", [1, 4, 13])
def test_forecast_matches_an_independent_count(weeks: int) -> None:
    hosts = hosts_table()
    table = forecast(hosts, AS_OF, weeks=weeks)
    assert list(table.columns) == ["week", "week_start", *CAUSES, "total"]
    assert list(table["week"]) == list(range(1, weeks + 1))
    assert table["week_start"].iloc[-1] == pd.Timestamp(AS_OF + (weeks - 1) * 7 * DAY)
    assert from_table(table) == independent(hosts, weeks)
    assert list(table["total"]) == [
        sum(n for (w, _), n in independent(hosts, weeks).items() if w == k)
        for k in range(1, weeks + 1)
    ]


def test_forecast_edges() -> None:
    hosts = hosts_table(n=0)
    table = forecast(hosts, AS_OF, weeks=13)
    assert weekly_totals(table) == [1] + [0] * 11 + [1]


def test_forecast_by_owner_matches_an_independent_count() -> None:
    hosts = hosts_table()
    table = forecast(hosts, AS_OF, weeks=13, by="owner")
    assert list(table.columns) == ["week", "week_start", "owner", *CAUSES, "total"]
    assert from_table(table, by="owner") == independent(hosts, 13, by="owner")
    assert set(table["owner"]) == {"web", "payments", "(none)"}
    assert len(table) == 13 * 3  # every week for every owner, zeros included
    assert weekly_totals(table) == weekly_totals(forecast(hosts, AS_OF, weeks=13))


def test_forecast_of_no_hosts() -> None:
    empty = pd.DataFrame(
        {
            "breaks_on": pd.Series([], dtype="datetime64[ns, UTC]"),
            "breaks_because": pd.Series([], dtype=object),
        }
    )
    table = forecast(empty, AS_OF, weeks=3)
    assert weekly_totals(table) == [0, 0, 0]
    assert list(table.columns) == ["week", "week_start", *CAUSES, "total"]


def test_forecast_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="weeks"):
        forecast(hosts_table(n=3), AS_OF, weeks=0)
    with pytest.raises(KeyError, match="team"):
        forecast(hosts_table(n=3), AS_OF, by="team")
