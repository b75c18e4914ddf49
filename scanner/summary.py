"""pandas summaries of a scan's hosts table. Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

import pandas as pd

from scanner.findings import CATALOGUE
from scanner.models import ErrorCode, Severity
from scanner.tables import VERDICT_COLUMNS

# Verdicts reported as "problems": every verdict column but `trusted`, plus not trusted.
PROBLEM_VERDICTS = tuple(c for c in VERDICT_COLUMNS if c != "trusted")
SEVERITY_ORDER = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
# The hosts.parquet columns these summaries read.
SUMMARY_INPUT_COLUMNS = (
    "host",
    "port",
    "status",
    "error",
    "findings",
    "severity",
    "days_remaining",
    *VERDICT_COLUMNS,
)


def summarise(hosts: pd.DataFrame) -> pd.DataFrame:
    """One row per (kind, name): hosts counted and their share of all targets.

    kinds: status, verdict (not_trusted and each problem verdict), error (each code),
    finding (each code), severity (a host counts once, at its worst finding)."""
    total = len(hosts)
    rows: list[tuple[str, str, int]] = []
    status = hosts["status"].value_counts()
    for name in ("ok", "error"):
        rows.append(("status", name, int(status.get(name, 0))))
    ok = hosts[hosts["status"] == "ok"]
    rows.append(("verdict", "not_trusted", int((ok["trusted"] == False).sum())))  # noqa: E712
    for col in PROBLEM_VERDICTS:
        rows.append(("verdict", col, int((ok[col] == True).sum())))  # noqa: E712
    errors = hosts["error"].value_counts()
    for code in ErrorCode:
        rows.append(("error", code.value, int(errors.get(code.value, 0))))
    exploded = ok["findings"].explode().dropna()
    finding_counts = exploded.groupby(exploded).size() if len(exploded) else pd.Series(dtype=int)
    for code in CATALOGUE:
        rows.append(("finding", code.value, int(finding_counts.get(code.value, 0))))
    severities = hosts["severity"].value_counts()
    for sev in SEVERITY_ORDER:
        rows.append(("severity", sev, int(severities.get(sev, 0))))
    df = pd.DataFrame(rows, columns=["kind", "name", "hosts"])
    df["share"] = (df["hosts"] / total).round(4) if total else 0.0
    return df


def worst_hosts(hosts: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The hosts with the worst findings first, then the soonest expiry."""
    ok = hosts[hosts["severity"].notna()].copy()
    if ok.empty:
        return ok.loc[:, ["host", "port", "severity", "findings", "days_remaining"]]
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    ok["_rank"] = ok["severity"].map(rank)
    ok = ok.sort_values(["_rank", "days_remaining", "host"], na_position="last")
    return ok.loc[:, ["host", "port", "severity", "findings", "days_remaining"]].head(n)
