"""Trends over nights: for each night (one scan, its shards read as one), hosts per verdict,
error, grade, severity, finding and trust store (`summary.summarise`, as `scanner summary`
counts them), the changes from the night before (`diff.diff`, as `scanner diff` finds them)
and the hosts breaking within 30 days. Pure: nights in, one long counts table out; only two
nights are held at a time, so a year of nights fits in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from scanner.analysis import diff as diffs
from scanner.analysis.summary import summarise
from scanner.errors import ScanFolderError
from scanner.model.timefmt import utc_iso

BREAKING_DAYS = 30
COLUMNS = ["night", "kind", "name", "hosts"]


class Kind(StrEnum):
    """The `kind` column of the counts: what a row counts. Values are written to CSV/JSON."""

    STATUS = "status"  # ok / error rows
    VERDICT = "verdict"  # not_trusted and each verdict column of hosts.parquet, revoked
    BREAKING = "breaking"  # trusted now, the leaf expires within BREAKING_DAYS of as-of
    ERROR = "error"  # each error code
    GRADE = "grade"  # each grade letter (answering hosts)
    SEVERITY = "severity"  # hosts at each worst severity
    FINDING = "finding"  # hosts with each finding code
    TRUST_STORE = "trust_store"  # hosts each trust store trusts
    CHANGE = "change"  # changes from the night before (`scanner diff` kinds); none the first night


BREAKING_NAME = f"within_{BREAKING_DAYS}_days"


@dataclass(frozen=True, slots=True, kw_only=True)
class Night:
    """One night's scan: its as-of instant, its tables (shards combined) and where it came
    from."""

    as_of: dt.datetime
    hosts: pd.DataFrame
    findings: pd.DataFrame
    sources: tuple[str, ...] = ()
    addresses: str = "first"  # "all" when the scan scanned every address of a name
    stores: tuple[str, ...] = ()  # the trust stores judged, the default first
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NightInfo:
    """What the counts table does not hold about a night."""

    as_of: dt.datetime
    sources: tuple[str, ...]
    rows: int  # hosts rows (a name scanned on three addresses counts three times)
    compared: bool  # a night before it was read, so its `change` rows exist


@dataclass(frozen=True, slots=True, kw_only=True)
class Trend:
    """The nights, their counts, and the latest night's lists."""

    nights: tuple[NightInfo, ...]
    counts: pd.DataFrame  # COLUMNS: one row per (night, kind, name), oldest night first
    # The latest night's changes from the night before (`diff.diff`; empty with one night)
    # and its hosts breaking within BREAKING_DAYS (hosts rows, soonest first).
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    breaking: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: tuple[str, ...] = field(default=())


def breaking_hosts(
    hosts: pd.DataFrame, as_of: dt.datetime, days: int = BREAKING_DAYS
) -> pd.DataFrame:
    """Hosts trusted at `as_of` whose leaf's notAfter falls within the next `days` days (the
    hosts that break unless someone renews them), soonest first."""
    end = pd.Timestamp(as_of).tz_convert("UTC") + pd.Timedelta(days=days)
    # Trusted means valid at as-of (notAfter included, RFC 5280 4.1.2.5): no lower bound.
    ok = hosts[(hosts["status"] == "ok") & (hosts["trusted"] == True)]  # noqa: E712
    soon = ok[ok["not_after"] <= end]
    return soon.sort_values(["not_after", "host"]).reset_index(drop=True)


def night_counts(
    night: Night, before: Night | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """One night's rows of the counts table, its changes from the night before (`diff.diff`;
    empty for the first), and a note when the two were scanned with different `--addresses`
    (rows then matched one address per name)."""
    s = summarise(night.hosts, night.stores)
    rows = [(str(r.kind), str(r.name), int(r.hosts)) for r in s.itertuples(index=False)]
    # `summarise` counts the hosts not trusted; a trend shows the trusted line too.
    first_verdict = next(i for i, r in enumerate(rows) if r[0] == Kind.VERDICT.value)
    ok = night.hosts[night.hosts["status"] == "ok"]
    trusted = int((ok["trusted"] == True).sum())  # noqa: E712
    rows.insert(first_verdict, (Kind.VERDICT.value, "trusted", trusted))
    rows.append((Kind.BREAKING.value, BREAKING_NAME, len(breaking_hosts(night.hosts, night.as_of))))
    note = None
    changes = pd.DataFrame(columns=diffs.BASE_COLUMNS)
    if before is not None:
        by_address, note = diffs.match_note(before.addresses, night.addresses)
        changes = diffs.diff(
            before.hosts, before.findings, night.hosts, night.findings, by_address=by_address
        )
        tally = diffs.counts(changes)
        rows += [(Kind.CHANGE.value, str(c), int(n)) for c, n in tally.itertuples(index=False)]
    df = pd.DataFrame(rows, columns=COLUMNS[1:])
    df.insert(0, "night", pd.Timestamp(night.as_of).tz_convert("UTC"))
    return df, changes, note


def trend(nights: Iterable[Night]) -> Trend:
    """The counts of every night, oldest first. `nights` must come oldest first, each as-of
    later than the one before (else ScanFolderError); they are read one at a time and let go
    after the next."""
    parts: list[pd.DataFrame] = []
    infos: list[NightInfo] = []
    warnings: list[str] = []
    before: Night | None = None
    changes = pd.DataFrame(columns=diffs.BASE_COLUMNS)
    for night in nights:
        if before is not None and night.as_of <= before.as_of:
            raise ScanFolderError(
                f"nights out of order: {', '.join(night.sources)} (as of "
                f"{night.as_of.isoformat()}) is not later than {', '.join(before.sources)} "
                f"(as of {before.as_of.isoformat()}); give each night's folders once"
            )
        counts, changes, note = night_counts(night, before)
        parts.append(counts)
        when = utc_iso(night.as_of)
        warnings += [f"night of {when}: {w}" for w in night.warnings]
        if note:
            warnings.append(f"night of {when}: {note}")
        infos.append(
            NightInfo(
                as_of=night.as_of.astimezone(dt.UTC),
                sources=night.sources,
                rows=len(night.hosts),
                compared=before is not None,
            )
        )
        before = night
    counts = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    )
    soon = breaking_hosts(before.hosts, before.as_of) if before is not None else pd.DataFrame()
    return Trend(
        nights=tuple(infos),
        counts=counts,
        changes=changes,
        breaking=soon,
        warnings=tuple(warnings),
    )


# --- shapes for reading -------------------------------------------------------------------


def labels(instants: Sequence[dt.datetime], *, short: bool = False) -> list[str]:
    """A distinct column label per night: its as-of date (`2026-12-06`), or date and time
    (to the minute, else the second, else the microsecond) where two nights share a date;
    `short` leaves the year out when every night is in one year (the terminal's 80 columns)."""
    utc = [i.astimezone(dt.UTC) for i in instants]
    year = "%m-%d" if short and len({u.year for u in utc}) <= 1 else "%Y-%m-%d"
    for time in ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f"):
        out = [u.strftime(year + time) for u in utc]
        if len(set(out)) == len(out):
            return out
    return [u.isoformat() for u in utc]  # the same instant twice: `trend` refuses that


def wide(
    t: Trend,
    kinds: Sequence[Kind],
    *,
    last: int | None = None,
    short: bool = False,
    nonzero: bool = False,
) -> pd.DataFrame:
    """A row per name of `kinds`, one column per night (the `last` nights), counts as
    nullable integers: a change count is empty on the first night. `nonzero` leaves out rows
    that are zero every night shown."""
    infos = t.nights[-last:] if last else t.nights
    names = labels([n.as_of for n in infos], short=short)
    shown = {pd.Timestamp(n.as_of): label for n, label in zip(infos, names, strict=True)}
    c = t.counts[t.counts["kind"].isin([k.value for k in kinds])]
    c = c[c["night"].isin(list(shown))]
    order: dict[str, None] = {}
    cells: dict[tuple[str, str], int] = {}
    for night, _kind, name, hosts in c.itertuples(index=False):
        row = str(name)  # unique within the kinds a table shows
        order.setdefault(row, None)
        cells[(row, shown[pd.Timestamp(night)])] = int(hosts)
    df = pd.DataFrame(
        {
            "hosts": list(order),
            **{
                label: pd.array([cells.get((r, label)) for r in order], dtype="Int64")
                for label in names
            },
        }
    )
    if nonzero and len(names):
        df = df[df[names].fillna(0).ne(0).any(axis=1)]
    return df.reset_index(drop=True)


def series(t: Trend, kind: Kind, name: str) -> list[int | None]:
    """One count over the nights, oldest first (None where a night has no such row)."""
    c = t.counts[(t.counts["kind"] == kind.value) & (t.counts["name"] == name)]
    by_night = {pd.Timestamp(n): int(h) for n, h in zip(c["night"], c["hosts"], strict=True)}
    return [by_night.get(pd.Timestamp(n.as_of)) for n in t.nights]
