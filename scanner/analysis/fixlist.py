"""The fix list: the fleet's problems grouped by the action that fixes them, biggest first.
One row per problem leaf certificate (renewing one wildcard fixes every host serving it) and
one row per missing intermediate. Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from scanner.analysis.severity import rank
from scanner.model.catalogue import CATALOGUE, Code
from scanner.model.types import Severity

EXAMPLES = 5
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


_CODE_RANK = {code.value: spec.severity.rank for code, spec in CATALOGUE.items()}


def _code_rank(code: str) -> int:
    return _CODE_RANK.get(code, -1)


# The server's protocol configuration (--protocols), not its certificate: no leaf fixes these.
SERVER_CODES = frozenset(
    {
        Code.LEGACY_PROTOCOL.value,
        Code.NO_MODERN_PROTOCOL.value,
        Code.NO_TLS13.value,
        Code.RSA_KEY_EXCHANGE.value,
    }
)


def _certificate_codes(codes: Any) -> Any:
    return codes if codes is None else [c for c in codes if c not in SERVER_CODES]


def _lists(keys: pd.Series, values: pd.Series) -> pd.Series:
    """values grouped into lists by key, in order (groupby.agg(list) is a Python call per
    group: too slow for a fleet with 100,000 problem leaves)."""
    out: dict[Any, list[Any]] = {}
    for k, v in zip(keys, values, strict=True):
        out.setdefault(k, []).append(v)
    return pd.Series(out, dtype=object)


def target_labels(hosts: pd.DataFrame) -> pd.Series:
    """`target_label` for every row, vectorised."""
    port = hosts["port"].astype("Int64").astype("string")
    ip = hosts["ip"].astype("string")
    label = hosts["host"].astype("string") + (":" + port).fillna("")
    return (label + (" (" + ip + ")").where(ip.fillna("") != "", "")).astype(object)


def leaf_fixes(hosts: pd.DataFrame, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per leaf certificate (by SHA-256) served by at least one host with a finding
    about its certificate or chain (protocol findings are the server's, `SERVER_CODES`):
    its findings (union over those hosts, worst first), its names and dates, how many hosts
    have a problem with it and how many serve it; most hosts affected first, then worst
    severity, then soonest notAfter."""
    ok = hosts[(hosts["status"] == "ok") & hosts["leaf_sha256"].notna()]
    ok = ok.assign(findings=ok["findings"].map(_certificate_codes))
    has_problem = ok["findings"].map(lambda f: f is not None and len(f) > 0).astype(bool)
    problems = ok[has_problem]
    if problems.empty:
        return pd.DataFrame(columns=LEAF_FIX_COLUMNS)
    key = "leaf_sha256"
    problems = problems.assign(_label=target_labels(problems)).sort_values(
        [key, "host", "port"], kind="stable"
    )
    serving = ok.groupby(key, sort=False).size()
    grouped = problems.groupby(key, sort=False)
    codes = problems[[key, "findings"]].explode("findings").dropna().drop_duplicates()
    codes = codes.assign(_r=codes["findings"].map(_code_rank)).sort_values(
        [key, "_r", "findings"], ascending=[True, False, True]
    )
    finding_lists = _lists(codes[key], codes["findings"])
    worst = codes.groupby(key, sort=False)["_r"].max()  # of the certificate's findings
    by_rank = {s.rank: s.value for s in Severity}
    first = problems.drop_duplicates(key).set_index(key)
    df = pd.DataFrame(index=first.index)  # columns below align on the leaf's SHA-256
    df["hosts_affected"] = grouped.size()
    df["hosts_serving"] = serving
    df["severity"] = worst.map(lambda r: by_rank.get(int(r)) if not pd.isna(r) else None)
    df["findings"] = finding_lists
    df["subject"] = first["subject"]
    df["san_dns"] = first["san_dns"].map(lambda v: list(v if v is not None else []))
    df["san_ip"] = first["san_ip"].map(lambda v: list(v if v is not None else []))
    df["issuer"] = first["issuer"]
    df["not_after"] = first["not_after"]
    df["days_remaining"] = first["days_remaining"]
    heads = grouped.head(examples)
    df["examples"] = _lists(heads[key], heads["_label"])
    df = df.rename_axis(key).reset_index()
    df["remedy"] = [
        CATALOGUE[Code(f[0])].remedy if f and _code_rank(f[0]) >= 0 else None
        for f in df["findings"]
    ]
    df = df[LEAF_FIX_COLUMNS]
    df["_rank"] = df["severity"].map(lambda s: -rank(s) if isinstance(s, str) else 1)
    # Revoked certificates first: clients refuse them today, whatever else is wrong.
    df["_not_revoked"] = df["findings"].map(lambda f: Code.REVOKED.value not in f)
    df = df.sort_values(
        ["_not_revoked", "hosts_affected", "_rank", "not_after", "leaf_sha256"],
        ascending=[True, False, True, True, True],
        na_position="last",
    )
    return df.drop(columns=["_rank", "_not_revoked"]).reset_index(drop=True)


def missing_intermediates(findings: pd.DataFrame, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per intermediate that servers fail to send (incomplete_chain findings): its
    name, the caIssuers URL it was fetched from, the hosts affected and the remedy; most hosts
    first."""
    rows = findings[findings["code"] == Code.INCOMPLETE_CHAIN.value]
    groups: dict[tuple[str, str], list[Any]] = {}
    remedies: dict[tuple[str, str], str] = {}
    for r in rows.sort_values(["host", "port"]).itertuples():
        key = (str(r.certificate_subject), "" if pd.isna(r.url) else str(r.url))
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
