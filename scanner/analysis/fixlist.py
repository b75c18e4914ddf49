"""The fix list: the fleet's problems grouped by the action that fixes them, biggest first.
One row per problem leaf certificate (renewing one wildcard fixes every host serving it) and
one row per missing intermediate. Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

from collections.abc import Collection
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


def target_label(row: Any, *, address: str | None = None) -> str:
    """host:port, and the connect-to address when the input gave one, or `address` (the
    address scanned, for a name scanned on several: `--addresses all`)."""
    port = row.port
    label = f"{row.host}:{port}" if port is not None and not pd.isna(port) else str(row.host)
    ip = getattr(row, "ip", None)
    if isinstance(ip, str) and ip:
        label += f" ({ip})"
    elif address:
        label += f" ({address})"
    return label


def several_addresses(hosts: pd.DataFrame) -> pd.Series:
    """True for the rows of a target scanned on several addresses (`--addresses all`): they
    are told apart by `connected_ip`."""
    keys = [c for c in ("host", "port", "ip", "input_line") if c in hosts.columns]
    if "connected_ip" not in hosts.columns or hosts.empty:
        return pd.Series(False, index=hosts.index, dtype=bool)
    return hosts.duplicated(subset=keys, keep=False).astype(bool)


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
        # The ClientHello prober's (issue 19): versions, suites, groups, stapling.
        Code.SSL2.value,
        Code.SSL3.value,
        Code.EXPORT_CIPHER.value,
        Code.NULL_CIPHER.value,
        Code.ANON_CIPHER.value,
        Code.RC4_CIPHER.value,
        Code.DES_CIPHER.value,
        Code.TRIPLE_DES_CIPHER.value,
        Code.NO_PQ_KEX.value,
        Code.LARGE_HELLO_INTOLERANT.value,
        Code.MUST_STAPLE_NOT_STAPLED.value,
        Code.NO_SERVER_PREFERENCE.value,
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
    """`target_label` for every row, vectorised; a row of a target scanned on several
    addresses names its own (`several_addresses`), so its backends are told apart."""
    port = hosts["port"].astype("Int64").astype("string")
    ip = hosts["ip"].astype("string").fillna("")
    address = (
        hosts["connected_ip"].astype("string").fillna("").where(several_addresses(hosts), "")
        if "connected_ip" in hosts.columns
        else pd.Series("", index=hosts.index, dtype="string")
    )
    shown = ip.where(ip != "", address)
    label = hosts["host"].astype("string") + (":" + port).fillna("")
    return (label + (" (" + shown + ")").where(shown != "", "")).astype(object)


def leaf_fixes(hosts: pd.DataFrame, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per leaf certificate (by SHA-256) served by at least one host with a finding
    about its certificate or chain (protocol findings are the server's, `SERVER_CODES`):
    its findings (union over those hosts, worst first), its names and dates, how many hosts
    have a problem with it and how many serve it; most hosts affected first, then worst
    severity, then soonest notAfter."""
    # Labels from the whole table: whether a name has several addresses needs all its rows.
    labelled = hosts.assign(_label=target_labels(hosts)) if len(hosts) else hosts
    ok = labelled[(labelled["status"] == "ok") & labelled["leaf_sha256"].notna()]
    ok = ok.assign(findings=ok["findings"].map(_certificate_codes))
    has_problem = ok["findings"].map(lambda f: f is not None and len(f) > 0).astype(bool)
    problems = ok[has_problem]
    if problems.empty:
        return pd.DataFrame(columns=LEAF_FIX_COLUMNS)
    key = "leaf_sha256"
    problems = problems.sort_values([key, "host", "port"], kind="stable")
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


def missing_intermediates(
    findings: pd.DataFrame, examples: int = EXAMPLES, *, several: Collection[Any] = ()
) -> pd.DataFrame:
    """One row per intermediate that servers fail to send (incomplete_chain findings): its
    name, the caIssuers URL it was fetched from, the hosts affected and the remedy; most hosts
    first. `several`: the input lines scanned on several addresses, whose examples name the
    address."""
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
            "examples": [
                target_label(r, address=_address(r) if _line(r) in several else None)
                for r in members[:examples]
            ],
        }
        for (name, url), members in groups.items()
    ]
    df = pd.DataFrame(out, columns=INTERMEDIATE_COLUMNS)
    if df.empty:
        return df
    return df.sort_values(["hosts_affected", "intermediate"], ascending=[False, True]).reset_index(
        drop=True
    )


def _address(row: Any) -> str | None:
    value = getattr(row, "connected_ip", None)
    return value if isinstance(value, str) and value else None


def _line(row: Any) -> Any:
    value = getattr(row, "input_line", None)
    return None if value is None or pd.isna(value) else int(value)
