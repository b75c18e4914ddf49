"""The fix list: the fleet's problems grouped by the action that fixes them, biggest first.
One row per problem leaf certificate (renewing one wildcard fixes every host serving it) and
one row per missing intermediate. Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from scanner.findings import CATALOGUE, Code
from scanner.models import Severity

EXAMPLES = 5
_RANK = {s.value: s.rank for s in Severity}
# The message diagnose writes for a missing intermediate (scanner/diagnose.py); the name is
# RFC 4514 text and may itself hold "; ", so the URLs are what follows the last marker.
_INCOMPLETE = re.compile(
    r"^the server does not send the intermediate (?P<name>.*); it was fetched from (?P<urls>.*)$",
    re.DOTALL,
)

LEAF_FIX_COLUMNS = [
    "leaf_sha256",
    "hosts_affected",
    "hosts_serving",
    "severity",
    "findings",
    "subject",
    "san_dns",
    "san_ip",
    "issuer",
    "not_after",
    "days_remaining",
    "remedy",
    "examples",
]
INTERMEDIATE_COLUMNS = ["intermediate", "aia_url", "hosts_affected", "remedy", "examples"]


def target_label(row: Any) -> str:
    """host:port, and the connect-to address when the input gave one."""
    port = row.port
    label = f"{row.host}:{port}" if port is not None and not pd.isna(port) else str(row.host)
    ip = getattr(row, "ip", None)
    if isinstance(ip, str) and ip:
        label += f" ({ip})"
    return label


def _by_severity(codes: set[str]) -> list[str]:
    """Finding codes, worst first, then by name."""

    def rank(code: str) -> int:
        try:
            return CATALOGUE[Code(code)].severity.rank
        except ValueError:
            return -1

    return sorted(codes, key=lambda c: (-rank(c), c))


def _worst(severities: pd.Series) -> str | None:
    present = [s for s in severities if isinstance(s, str) and s in _RANK]
    return max(present, key=_RANK.__getitem__) if present else None


def leaf_fixes(hosts: pd.DataFrame, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per leaf certificate (by SHA-256) served by at least one host with a finding:
    its findings (union over those hosts, worst first), its names and dates, how many hosts
    have a problem with it and how many serve it; most hosts affected first, then worst
    severity, then soonest notAfter."""
    ok = hosts[(hosts["status"] == "ok") & hosts["leaf_sha256"].notna()]
    has_problem = ok["findings"].map(lambda f: f is not None and len(f) > 0)
    serving = ok.groupby("leaf_sha256", sort=False).size()
    rows = []
    for sha, group in ok[has_problem].groupby("leaf_sha256", sort=False):
        group = group.sort_values(["host", "port"])
        first = group.iloc[0]
        codes: set[str] = set()
        for f in group["findings"]:
            codes.update(str(c) for c in f)
        ordered = _by_severity(codes)
        remedy = None
        if ordered:
            try:
                remedy = CATALOGUE[Code(ordered[0])].remedy
            except ValueError:
                remedy = None
        rows.append(
            {
                "leaf_sha256": sha,
                "hosts_affected": len(group),
                "hosts_serving": int(serving[sha]),
                "severity": _worst(group["severity"].astype(object)),
                "findings": ordered,
                "subject": first["subject"],
                "san_dns": list(first["san_dns"] or []),
                "san_ip": list(first["san_ip"] or []),
                "issuer": first["issuer"],
                "not_after": first["not_after"],
                "days_remaining": first["days_remaining"],
                "remedy": remedy,
                "examples": [target_label(r) for r in group.head(examples).itertuples()],
            }
        )
    df = pd.DataFrame(rows, columns=LEAF_FIX_COLUMNS)
    if df.empty:
        return df
    df["_rank"] = df["severity"].map(lambda s: -_RANK.get(s, -1) if isinstance(s, str) else 1)
    df = df.sort_values(
        ["hosts_affected", "_rank", "not_after", "leaf_sha256"],
        ascending=[False, True, True, True],
        na_position="last",
    )
    return df.drop(columns="_rank").reset_index(drop=True)


def parse_incomplete_chain(message: str) -> tuple[str, tuple[str, ...]] | None:
    """(intermediate name, caIssuers URLs) from an incomplete_chain finding's message."""
    m = _INCOMPLETE.match(message)
    if m is None:
        return None
    urls = tuple(u.strip() for u in m.group("urls").split(", ") if u.strip())
    return m.group("name"), urls


def missing_intermediates(findings: pd.DataFrame, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per intermediate that servers fail to send (incomplete_chain findings): its
    name, the caIssuers URL it was fetched from, the hosts affected and the remedy; most hosts
    first."""
    rows = findings[findings["code"] == Code.INCOMPLETE_CHAIN.value]
    groups: dict[tuple[str, str], list[Any]] = {}
    remedies: dict[tuple[str, str], str] = {}
    for r in rows.sort_values(["host", "port"]).itertuples():
        parsed = parse_incomplete_chain(str(r.message))
        name, urls = parsed if parsed else (str(r.message), ())
        key = (name, ", ".join(urls))
        groups.setdefault(key, []).append(r)
        remedies.setdefault(key, str(r.remedy))
    out = [
        {
            "intermediate": name,
            "aia_url": url or None,
            "hosts_affected": len({(r.host, r.port, r.ip) for r in members}),
            "remedy": remedies[(name, url)],
            "examples": [target_label(r) for r in members[:examples]],
        }
        for (name, url), members in groups.items()
    ]
    df = pd.DataFrame(out, columns=INTERMEDIATE_COLUMNS)
    if df.empty:
        return df
    return df.sort_values(["hosts_affected", "intermediate"], ascending=[False, True]).reset_index(
        drop=True
    )
