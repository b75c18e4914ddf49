"""Summary tables shaped for reading (terminal and Markdown): labelled counts, root causes,
breakdowns with every cause listed, and the fix list with the hosts to fix and the remedy.
Pure: FleetSummary in, DataFrames out."""

from __future__ import annotations

import re

import pandas as pd

from scanner.analysis.summary import FleetSummary
from scanner.model.catalogue import CATALOGUE, Code

_COUNT_KINDS = ("verdict", "error")


def _day(value: object) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _share(v: float) -> str:
    return f"{v:.1%}"


def counts_view(s: FleetSummary) -> pd.DataFrame:
    """Verdicts (booleans of hosts.parquet) and error codes with at least one host."""
    c = s.counts[s.counts["kind"].isin(_COUNT_KINDS) & (s.counts["hosts"] > 0)].copy()
    c["share"] = c["share"].map(_share)
    return c.reset_index(drop=True)


def causes_view(s: FleetSummary) -> pd.DataFrame:
    """Hosts per root cause (finding code), worst severity first."""
    c = s.causes[s.causes["hosts"] > 0].copy()
    c["share"] = c["share"].map(_share)
    return c.loc[:, ["code", "severity", "hosts", "share", "meaning"]].reset_index(drop=True)


def grades_view(s: FleetSummary) -> pd.DataFrame:
    """Answering hosts per grade, best first (every letter listed)."""
    return _kind_view(s.counts, "grade", "grade")


def stores_view(s: FleetSummary) -> pd.DataFrame:
    """Answering hosts each trust store trusts (the default first)."""
    return _kind_view(s.counts, "trust_store", "store").rename(columns={"hosts": "trusted"})


def _kind_view(counts: pd.DataFrame, kind: str, label: str) -> pd.DataFrame:
    c = counts[counts["kind"] == kind].copy()
    c["share"] = c["share"].map(_share)
    return (
        c.rename(columns={"name": label}).loc[:, [label, "hosts", "share"]].reset_index(drop=True)
    )


def _listed(group: pd.DataFrame, kind: str) -> str:
    rows = group[(group["kind"] == kind) & (group["hosts"] > 0)]
    return ", ".join(f"{r.name} {r.hosts}" for r in rows.itertuples())


def by_view(s: FleetSummary) -> pd.DataFrame:
    """One row per group: targets, not trusted, errors, and every cause and error code with
    its host count (`expired 1, weak_key 1, timeout 2`), then hosts per grade and the hosts
    each trust store trusts (`A 3, T 1`; `default 4, java 3`)."""
    assert s.by is not None and s.by_column is not None
    col = s.by_column
    rows = []
    for value, group in s.by.groupby(col, dropna=False, sort=False):
        hosts = dict(
            zip(zip(group["kind"], group["name"], strict=True), group["hosts"], strict=True)
        )
        causes = group[group["kind"].isin(("finding", "error")) & (group["hosts"] > 0)]
        rows.append(
            {
                col: None if pd.isna(value) else value,
                "targets": int(hosts.get(("count", "targets"), 0)),  # input lines, not rows
                "not_trusted": int(hosts.get(("verdict", "not_trusted"), 0)),
                "errors": int(hosts.get(("status", "error"), 0)),
                "causes": ", ".join(f"{r.name} {r.hosts}" for r in causes.itertuples()),
                "grades": _listed(group, "grade"),
                "trusted_by": _listed(group, "trust_store"),
            }
        )
    columns = [col, "targets", "not_trusted", "errors", "causes", "grades", "trusted_by"]
    return pd.DataFrame(rows, columns=columns)


def fix_view(fixes: pd.DataFrame, *, wide: bool) -> pd.DataFrame:
    """The leaf fix list for reading: how many hosts, which ones, their findings and the
    remedy. `wide` (Markdown) adds the certificate's names, issuer and short SHA-256."""
    view = pd.DataFrame(
        {
            "hosts": fixes["hosts_affected"],
            "severity": fixes["severity"],
            "findings": fixes["findings"],
            "hosts_to_fix": fixes["examples"],
            "remedy": fixes["remedy"],
            "expires": fixes["not_after"].map(_day),
        }
    )
    if wide:
        view["names"] = [
            (list(d) + list(i)) or [s]
            for d, i, s in zip(fixes["san_dns"], fixes["san_ip"], fixes["subject"], strict=True)
        ]
        view["days"] = fixes["days_remaining"]
        view["issuer"] = fixes["issuer"]
        view["sha256"] = fixes["leaf_sha256"].map(lambda v: str(v)[:12])
    return view


def intermediates_view(rows: pd.DataFrame, *, wide: bool) -> pd.DataFrame:
    view = rows.rename(columns={"hosts_affected": "hosts", "examples": "hosts_to_fix"})
    columns = ["hosts", "intermediate", "hosts_to_fix", "remedy"] + (["aia_url"] if wide else [])
    return view.loc[:, columns]


def calendar_view(calendar: pd.DataFrame) -> pd.DataFrame:
    view = calendar.copy()
    view["starts"] = view["starts"].map(_day)
    view["ends"] = view["ends"].map(_day)
    return view


def forecast_view(table: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """A forecast (scanner.analysis.forecast) for reading: the week's first day, causes under
    short headers (leaf, chain, distrust, ari: JSON and CSV keep the full names); with `by`,
    only the groups and weeks where something breaks."""
    view = table.copy()
    view["week_start"] = view["week_start"].map(_day)
    if by is not None:
        view = view[view["total"] > 0]
    return view.rename(columns=FORECAST_HEADERS).reset_index(drop=True)


FORECAST_HEADERS = {
    "week_start": "from",
    "leaf_expires": "leaf",
    "chain_expires": "chain",
    "distrusted": "distrust",
    "ari_window_ends": "ari",
}


def cause_meaning(code: str) -> str:
    try:
        return CATALOGUE[Code(code)].meaning
    except ValueError:
        return ""


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _short(value: object) -> object:
    """A SHA-256 (a rotated leaf) as its first 12 hex digits; anything else as it is."""
    return value[:12] if isinstance(value, str) and _SHA256.match(value) else value


def changes_view(changes: pd.DataFrame) -> pd.DataFrame:
    """`scanner diff`'s changes for reading: the change, code, severity, old and new values
    (SHA-256s shortened), the target as one `host:port (address)` cell (the input's ip, or
    the address scanned when matched per address) and the detail."""
    port = changes["port"].astype("Int64").astype("string")
    address = changes["ip"].astype("string").fillna("")
    if "connected_ip" in changes.columns:
        scanned = changes["connected_ip"].astype("string").fillna("")
        address = address.where(address != "", scanned)
    target = changes["host"].astype("string") + (":" + port).fillna("")
    target = target + (" (" + address + ")").where(address != "", "")
    return pd.DataFrame(
        {
            "change": changes["change"],
            "code": changes["code"],
            "severity": changes["severity"],
            "old": changes["old"].map(_short),
            "new": changes["new"].map(_short),
            # Last: a long name that does not fit goes to the next line, the columns before
            # it stay aligned.
            "target": target.astype(object),
            "detail": changes["detail"],
        }
    )
