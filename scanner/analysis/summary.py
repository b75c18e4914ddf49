"""pandas summaries of a scan: counts per verdict and error, a breakdown by a carried column,
the expiry calendar, the clock-skew warning and the --fail-on rule. Pure: DataFrames in,
DataFrames out; time is the scan's as-of, never the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from scanner.analysis.addresses import NAME_COLUMNS, count_names
from scanner.analysis.counts import scan_counts
from scanner.analysis.fixlist import (
    leaf_fixes,
    missing_intermediates,
    several_addresses,
    target_labels,
)
from scanner.analysis.fold import SkewCounts, skew_message
from scanner.analysis.forecast import fleet_forecast
from scanner.analysis.grade import Grade
from scanner.analysis.severity import WORST_FIRST, rank
from scanner.errors import UsageError
from scanner.model.catalogue import CATALOGUE, Code
from scanner.model.columns import PROBLEM_VERDICTS, VERDICT_COLUMNS
from scanner.model.types import ErrorCode

# The hosts.parquet columns these summaries read.
SUMMARY_INPUT_COLUMNS = (
    "host",
    "port",
    "connected_ip",  # the worst table names the address of a name scanned on several
    "status",
    "error",
    "findings",
    "severity",
    "days_remaining",
    *VERDICT_COLUMNS,
    "grade",
    "trusted_by",
    "revoked",
)


def summarise(hosts: pd.DataFrame, stores: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (kind, name): hosts counted and their share of all targets.

    kinds: status, verdict (not_trusted and each problem verdict), error (each code),
    finding (each code), severity (a host counts once, at its worst finding), grade (each
    letter), trust_store (hosts each store trusts: `stores` in order, then any other name in
    `trusted_by`)."""
    total = len(hosts)
    rows: list[tuple[str, str, int]] = []
    status = hosts["status"].value_counts()
    for name in ("ok", "error"):
        rows.append(("status", name, int(status.get(name, 0))))
    ok = hosts[hosts["status"] == "ok"]
    rows.append(("verdict", "not_trusted", int((ok["trusted"] == False).sum())))  # noqa: E712
    for col in PROBLEM_VERDICTS:
        rows.append(("verdict", col, int((ok[col] == True).sum())))  # noqa: E712
    revoked = ok["revoked"] == True if "revoked" in ok else pd.Series(dtype=bool)  # noqa: E712
    rows.append(("verdict", "revoked", int(revoked.sum())))
    errors = hosts["error"].value_counts()
    for code in ErrorCode:
        rows.append(("error", code.value, int(errors.get(code.value, 0))))
    # Hosts, not findings: a code listed twice for one host counts once.
    exploded = ok["findings"].explode().dropna()
    exploded = exploded[~pd.MultiIndex.from_arrays([exploded.index, exploded]).duplicated()]
    finding_counts = exploded.groupby(exploded).size() if len(exploded) else pd.Series(dtype=int)
    for finding in CATALOGUE:
        rows.append(("finding", finding.value, int(finding_counts.get(finding.value, 0))))
    severities = hosts["severity"].value_counts()
    for sev in WORST_FIRST:
        rows.append(("severity", sev, int(severities.get(sev, 0))))
    rows += _grades_and_stores(ok, stores)
    df = pd.DataFrame(rows, columns=["kind", "name", "hosts"])
    df["share"] = (df["hosts"] / total).round(4) if total else 0.0
    return df


def _grades_and_stores(ok: pd.DataFrame, stores: Sequence[str]) -> list[tuple[str, str, int]]:
    """Hosts per grade and per trust store (scans from before these columns have neither)."""
    rows: list[tuple[str, str, int]] = []
    if "grade" in ok.columns:
        grades = ok["grade"].value_counts()
        rows += [("grade", g.value, int(grades.get(g.value, 0))) for g in Grade]
    if "trusted_by" in ok.columns:
        names = ok["trusted_by"].explode().dropna()
        trusted = names.groupby(names).size() if len(names) else pd.Series(dtype=int)
        listed = list(dict.fromkeys(stores)) or ["default"]
        listed += sorted(str(n) for n in trusted.index if n not in listed)
        rows += [("trust_store", n, int(trusted.get(n, 0))) for n in listed]
    return rows


def worst_hosts(hosts: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The hosts with the worst findings first, then the soonest expiry; with the address
    scanned (`connected_ip`), which tells a name's backends apart."""
    columns = ["host", "port", "connected_ip", "severity", "findings", "days_remaining"]
    columns = [c for c in columns if c in hosts.columns]
    ok = hosts[hosts["severity"].notna()].copy()
    if ok.empty:
        return ok.loc[:, columns]
    rank = {s: i for i, s in enumerate(WORST_FIRST)}
    ok["_rank"] = ok["severity"].map(rank)
    ok = ok.sort_values(["_rank", "days_remaining", "host"], na_position="last")
    return ok.loc[:, columns].head(n)


# --- breakdown by a carried column ----------------------------------------------------------


def _count_rows(hosts: pd.DataFrame) -> pd.DataFrame:
    """Rows of kind `count`: the group's targets and rows (`scanner.analysis.counts`)."""
    c = scan_counts(hosts)
    return pd.DataFrame(
        [("count", "targets", c.targets, 1.0), ("count", "rows", c.rows, 1.0)],
        columns=["kind", "name", "hosts", "share"],
    )


def summarise_by(hosts: pd.DataFrame, column: str, stores: Sequence[str] = ()) -> pd.DataFrame:
    """`summarise` for each value of `column` (owner, team, env...): columns `column`, kind,
    name, hosts, share (of that group's rows), and kind `count` (the group's targets and
    rows). A blank or missing value is its own group."""
    if column not in hosts.columns:
        raise KeyError(column)
    keys = hosts[column].astype(object).where(hosts[column].notna(), None)
    parts = []
    for value in sorted({k for k in keys if k is not None}) + (
        [None] if any(k is None for k in keys) else []
    ):
        group = hosts[keys.isna()] if value is None else hosts[keys == value]
        part = pd.concat([summarise(group, stores), _count_rows(group)], ignore_index=True)
        part.insert(0, column, value)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[column, "kind", "name", "hosts", "share"])
    return pd.concat(parts, ignore_index=True)


# --- expiry calendar and clock sanity -------------------------------------------------------

WEEK = dt.timedelta(days=7)
CALENDAR_WEEKS = 12


def _ok_with_leaf(hosts: pd.DataFrame) -> pd.DataFrame:
    return hosts[(hosts["status"] == "ok") & hosts["not_after"].notna()]


def expiry_calendar(
    hosts: pd.DataFrame, as_of: dt.datetime, weeks: int = CALENDAR_WEEKS, examples: int = 5
) -> pd.DataFrame:
    """Hosts whose leaf expires in each of the next `weeks` weeks, counted from `as_of` (the
    scan's instant, never the wall clock): week 1 is [as_of, as_of + 7 days). Already expired
    leaves are not listed (they are in the `expired` verdict)."""
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    ok = _ok_with_leaf(hosts.assign(_label=target_labels(hosts)) if len(hosts) else hosts)
    start = pd.Timestamp(as_of).tz_convert("UTC")
    offset = (ok["not_after"] - start) / pd.Timedelta(WEEK)
    ok = ok.assign(_week=offset).loc[(offset >= 0) & (offset < weeks)]
    ok = ok.assign(_week=ok["_week"].astype(float).astype(int)).sort_values(["not_after", "host"])
    rows = []
    for k in range(weeks):
        in_week = ok[ok["_week"] == k]
        rows.append(
            {
                "week": k + 1,
                "starts": (start + k * pd.Timedelta(WEEK)).to_pydatetime(),
                "ends": (start + (k + 1) * pd.Timedelta(WEEK)).to_pydatetime(),
                "hosts": len(in_week),
                "leaves": int(in_week["leaf_sha256"].nunique()),
                "examples": list(in_week["_label"].head(examples)) if len(in_week) else [],
            }
        )
    return pd.DataFrame(rows, columns=["week", "starts", "ends", "hosts", "leaves", "examples"])


SKEW_INPUT_COLUMNS = ("status", "not_after", "expired", "not_yet_valid")


def skew_counts(hosts: pd.DataFrame) -> SkewCounts:
    ok = _ok_with_leaf(hosts)
    return SkewCounts(
        len(ok),
        int((ok["expired"] == True).sum()),  # noqa: E712
        int((ok["not_yet_valid"] == True).sum()),  # noqa: E712
    )


def clock_skew_warning(hosts: pd.DataFrame, as_of: dt.datetime) -> str | None:
    return skew_message(skew_counts(hosts), as_of)


# --- one summary of a scan, for every output format and the HTML report ---------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSummary:
    as_of: dt.datetime
    targets: int  # input targets (a name scanned on three addresses counts once)
    ok: int  # rows that answered
    rows: int = 0  # hosts rows: one per target, or per address with --addresses all
    counts: pd.DataFrame  # summarise()
    causes: pd.DataFrame  # root_causes(counts)
    leaf_fixes: pd.DataFrame
    intermediates: pd.DataFrame
    calendar: pd.DataFrame
    warnings: tuple[str, ...] = ()
    by_column: str | None = None
    by: pd.DataFrame | None = None  # summarise_by()
    stores: tuple[str, ...] = ()  # the trust stores judged, the default first
    # Hosts breaking per week by cause (issue 21), and per --by value.
    forecast: pd.DataFrame = field(default_factory=pd.DataFrame)
    forecast_by: pd.DataFrame | None = None


def root_causes(counts: pd.DataFrame) -> pd.DataFrame:
    """Hosts per finding code (each a root cause), worst severity first: code, severity,
    hosts, share, meaning. The verdict booleans are summaries; these say why."""
    rows = counts[counts["kind"] == "finding"]
    out = pd.DataFrame(
        {
            "code": rows["name"].to_numpy(),
            "severity": [CATALOGUE[Code(c)].severity.value for c in rows["name"]],
            "hosts": rows["hosts"].to_numpy(),
            "share": rows["share"].to_numpy(),
            "meaning": [CATALOGUE[Code(c)].meaning for c in rows["name"]],
        }
    )
    order = out["severity"].map(lambda v: -rank(v))
    return (
        out.assign(_o=order)
        .sort_values(["_o", "code"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def _several_lines(hosts: pd.DataFrame) -> set[int]:
    """The input lines scanned on several addresses (`--addresses all`)."""
    if "input_line" not in hosts.columns:
        return set()
    lines = hosts.loc[several_addresses(hosts), "input_line"]
    return {int(v) for v in lines.dropna()}


def fleet_summary(
    hosts: pd.DataFrame,
    findings: pd.DataFrame,
    as_of: dt.datetime,
    *,
    by: str | None = None,
    warnings: Iterable[str] = (),
    stores: Sequence[str] = (),
) -> FleetSummary:
    notes = list(warnings)
    counts = summarise(hosts, stores)
    if "input_line" in hosts.columns:  # names behind several addresses (--addresses all)
        names = count_names(hosts[list(NAME_COLUMNS)])
        counts = pd.concat([counts, names.summary_rows()], ignore_index=True)
    skew = clock_skew_warning(hosts, as_of)
    if skew:
        notes.append(skew)
    tally = scan_counts(hosts)
    return FleetSummary(
        as_of=as_of,
        targets=tally.targets,
        rows=tally.rows,
        ok=tally.ok,
        counts=counts,
        causes=root_causes(counts),
        leaf_fixes=leaf_fixes(hosts),
        intermediates=missing_intermediates(findings, several=_several_lines(hosts)),
        calendar=expiry_calendar(hosts, as_of),
        warnings=tuple(notes),
        by_column=by,
        by=summarise_by(hosts, by, stores) if by else None,
        stores=tuple(stores),
        forecast=fleet_forecast(hosts, as_of),
        forecast_by=fleet_forecast(hosts, as_of, by=by) if by else None,
    )
