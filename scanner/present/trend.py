"""`scanner trend` as a `Document` (terminal, CSV, JSON, Markdown; scanner.present.formats):
one table per kind of count with a column per night, the latest night's changes and its
hosts breaking soon. Pure: a Trend in, a Document out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from scanner.analysis.fixlist import target_labels
from scanner.analysis.trend import BREAKING_DAYS, Kind, Trend, labels, wide
from scanner.model.timefmt import utc_iso
from scanner.present.formats import Document, Section, records


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """One table of counts: its title, the kinds of count it shows and its first column."""

    title: str
    kinds: tuple[Kind, ...]
    label: str
    nonzero: bool = False  # only rows with a host on some night shown


TABLES = (
    Table(
        title=f"Hosts per verdict (breaking: trusted, expiring within {BREAKING_DAYS} days)",
        kinds=(Kind.STATUS, Kind.VERDICT, Kind.BREAKING),
        label="verdict",
    ),
    Table(title="Hosts per error", kinds=(Kind.ERROR,), label="error", nonzero=True),
    Table(title="Hosts per grade", kinds=(Kind.GRADE,), label="grade"),
    Table(title="Hosts per severity (worst finding)", kinds=(Kind.SEVERITY,), label="severity"),
    Table(
        title="Changes from the night before (scanner diff)", kinds=(Kind.CHANGE,), label="change"
    ),
    Table(title="Hosts per finding", kinds=(Kind.FINDING,), label="finding", nonzero=True),
    Table(title="Hosts each trust store trusts", kinds=(Kind.TRUST_STORE,), label="store"),
)


def table(t: Trend, spec: Table, *, last: int | None = None, short: bool = False) -> pd.DataFrame:
    df = wide(t, spec.kinds, last=last, short=short, nonzero=spec.nonzero)
    return df.rename(columns={"hosts": spec.label})


def tables(t: Trend, *, last: int | None = None, short: bool = False) -> list[tuple[Table, Any]]:
    """The count tables with rows (a scan without grades has no grade table)."""
    out = []
    for spec in TABLES:
        df = table(t, spec, last=last, short=short)
        if len(df):
            out.append((spec, df))
    return out


def changes(t: Trend) -> pd.DataFrame:
    """The latest night's changes from the night before, as `scanner diff` lists them (worst
    first): change, target, code, severity, detail."""
    c = t.changes
    if c.empty:
        return pd.DataFrame(columns=["change", "target", "code", "severity", "detail"])
    return pd.DataFrame(
        {
            "change": c["change"],
            "target": target_labels(c),
            "code": c["code"],
            "severity": c["severity"],
            "detail": c["detail"],
        }
    ).reset_index(drop=True)


def breaking_list(t: Trend) -> pd.DataFrame:
    """The latest night's hosts breaking soon: target, not_after (UTC, to the minute), days
    (whole days left, as in hosts.parquet)."""
    b = t.breaking
    if b.empty:
        return pd.DataFrame(columns=["target", "not_after", "days"])
    return pd.DataFrame(
        {
            "target": target_labels(b),
            "not_after": [pd.Timestamp(v).strftime("%Y-%m-%d %H:%M") for v in b["not_after"]],
            "days": b["days_remaining"],
        }
    ).reset_index(drop=True)


def csv_frame(t: Trend) -> pd.DataFrame:
    """The counts, long: night (as-of, ISO 8601), kind, name, hosts."""
    c = t.counts.copy()
    c["night"] = [pd.Timestamp(n).isoformat() for n in c["night"]]
    return c


def json_data(t: Trend) -> dict[str, Any]:
    nights = []
    for info in t.nights:
        at = pd.Timestamp(info.as_of)
        rows = t.counts[t.counts["night"] == at]
        counts: dict[str, dict[str, int]] = {}
        for kind, name, hosts in zip(rows["kind"], rows["name"], rows["hosts"], strict=True):
            counts.setdefault(str(kind), {})[str(name)] = int(hosts)
        nights.append(
            {
                "as_of": utc_iso(info.as_of),
                "folders": list(info.sources),
                "rows": info.rows,
                "counts": counts,
            }
        )
    return {
        "nights": nights,
        "latest": {
            "changes": records(changes(t)),
            "breaking": records(breaking_list(t)),
        },
        "warnings": list(t.warnings),
    }


def heading(t: Trend) -> tuple[str, ...]:
    """Lines under the title, each under 80 columns: the nights' as-of and the latest size."""
    if not t.nights:
        return ("no nights",)
    first, last = (
        n.as_of.astimezone(dt.UTC).isoformat(timespec="seconds")
        for n in (t.nights[0], t.nights[-1])
    )
    span = f"{first} to {last}" if len(t.nights) > 1 else first
    return (
        f"{len(t.nights)} night(s), as of {span}",
        f"the latest night: {t.nights[-1].rows} hosts rows",
    )


def document(t: Trend, *, nights: int, limit: int, short: bool) -> Document:
    """`nights`: the latest nights shown as columns in table and Markdown output (CSV and JSON
    hold every night); `limit`: rows of the latest night's lists; `short`: labels without the
    year (the terminal)."""
    shown = t.nights[-nights:]
    names = labels([n.as_of for n in shown], short=short)
    sections = [
        # At 80 columns the oldest nights go first, named in the caption.
        Section(title=spec.title, frame=df, drop=tuple(names[:-1]), whole=(spec.label,))
        for spec, df in tables(t, last=nights, short=short)
    ]
    latest = names[-1] if names else ""
    if len(t.nights) > 1:
        sections.append(
            Section(
                title=f"Changes on {latest} (scanner diff)",
                frame=changes(t),
                limit=limit,
                wrap=("detail",),
                drop=("detail", "code"),
                whole=("target",),
            )
        )
    sections.append(
        Section(
            title=f"Breaking within {BREAKING_DAYS} days, as of {latest}",
            frame=breaking_list(t),
            limit=limit,
            drop=("not_after",),
            whole=("target",),
        )
    )
    return Document(
        title="TLS fleet trend",
        lines=heading(t),
        warnings=t.warnings,
        sections=tuple(sections),
        data=json_data(t),
        csv=csv_frame(t),
    )
