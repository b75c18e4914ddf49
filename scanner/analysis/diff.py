"""What changed between two scans of a fleet (OLD and NEW): targets added or removed, findings
new or resolved, hosts that lost or regained trust, rotated leaves, hosts newly failing or back.
Pure: DataFrames in, one changes DataFrame (and its Arrow table) out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any

import pandas as pd
import pyarrow as pa

from scanner.analysis.cells import has
from scanner.analysis.forecast import moved_earlier
from scanner.analysis.grade import dropped
from scanner.analysis.severity import any_at_or_above, rank
from scanner.model.columns import HOST_COLUMNS
from scanner.model.types import Severity


class Change(StrEnum):
    """Kinds of change, in the order they are listed. Values are written to changes.parquet."""

    NEW_FINDING = "new_finding"  # a finding NEW has that OLD did not (OLD answered)
    REGRESSED = "regressed"  # trusted in OLD, not in NEW; a lower grade; breaks_on earlier
    UNREACHABLE = "unreachable"  # ok in OLD, an error in NEW
    ROTATED = "rotated"  # both ok, another leaf SHA-256
    ADDED = "added"  # in NEW's input only
    REMOVED = "removed"  # in OLD's input only
    BACK = "back"  # an error in OLD, ok in NEW (its findings listed in `detail`)
    RECOVERED = "recovered"  # not trusted in OLD, trusted in NEW; or a higher grade
    RESOLVED_FINDING = "resolved_finding"  # a finding of OLD gone in NEW (the host answered)


_ORDER = {c.value: i for i, c in enumerate(Change)}
BASE_FIELDS = [
    pa.field("change", pa.string(), nullable=False),
    pa.field("host", pa.string(), nullable=False),
    pa.field("port", pa.int32()),
    pa.field("ip", pa.string()),
    pa.field("connected_ip", pa.string()),  # matched per address (both scans --addresses all)
    pa.field("code", pa.string()),
    pa.field("severity", pa.string()),
    pa.field("old", pa.string()),
    pa.field("new", pa.string()),
    pa.field("detail", pa.string()),
]
BASE_COLUMNS = [f.name for f in BASE_FIELDS]

Key = tuple[str, int | None, str, str]  # host, port, ip, connected_ip ("" unless by address)


def _clean(value: Any) -> Any:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return None
    return value


def _flag(value: Any) -> bool | None:
    """A nullable boolean cell (numpy, pandas or Python) as True, False or None."""
    value = _clean(value)
    return None if value is None else bool(value)


def _key(row: dict[str, Any], by_address: bool = False) -> Key:
    port = _clean(row["port"])
    address = (_clean(row.get("connected_ip")) or "") if by_address else ""
    return (
        str(row["host"]),
        None if port is None else int(port),
        _clean(row["ip"]) or "",
        address,
    )


def _text(value: Any) -> str | None:
    value = _clean(value)
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value.isoformat())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def carried(hosts: pd.DataFrame) -> list[str]:
    return [c for c in hosts.columns if c not in HOST_COLUMNS]


HOST_FIELDS = (
    "host",
    "port",
    "ip",
    "connected_ip",
    "status",
    "error",
    "error_detail",
    "leaf_sha256",
    "not_after",
    "trusted",
    "severity",
    "findings",
    "grade",
    "grade_basis",
    "breaks_on",  # (issue 21; absent from older scans)
    "breaks_because",
)
FINDING_FIELDS = ("host", "port", "ip", "connected_ip", "code", "severity", "message")


def _records(df: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as dicts of the given columns. Dicts, not itertuples: carried column names can
    be any header text; and column by column, since iterating Arrow-backed strings one cell
    at a time is slow."""
    names = [c for c in columns if c in df.columns]
    values = [df[c].tolist() for c in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _index(
    hosts: pd.DataFrame, extra: Sequence[str], by_address: bool
) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for row in _records(hosts, [*HOST_FIELDS, *extra]):
        out.setdefault(_key(row, by_address), row)  # a target listed twice counts once
    return out


def _findings_index(
    findings: pd.DataFrame, by_address: bool
) -> dict[tuple[Key, str], dict[str, Any]]:
    out: dict[tuple[Key, str], dict[str, Any]] = {}
    for row in _records(findings, FINDING_FIELDS):
        out.setdefault((_key(row, by_address), str(row["code"])), row)
    return out


Values = dict[str, Any]


def _pair_changes(o: Values, n: Values) -> Iterator[tuple[Change, Values]]:
    """What changed for one target present in both scans: reachability, the leaf, trust."""
    if o["status"] == "ok" and n["status"] != "ok":
        yield (
            Change.UNREACHABLE,
            {
                "old": "ok",
                "new": _text(n["error"]),
                "detail": _text(n["error_detail"]),
            },
        )
    elif o["status"] != "ok" and n["status"] == "ok":
        # Its findings are not new: OLD could not see them (a flapping host would page every
        # other night). They are listed here, at the host's severity.
        yield (
            Change.BACK,
            {
                "severity": _text(n["severity"]),
                "old": _text(o["error"]),
                "new": "ok",
                "detail": _text(n["findings"]) or None,
            },
        )
    elif o["status"] == "ok" and n["status"] == "ok":
        o_sha, n_sha = _clean(o["leaf_sha256"]), _clean(n["leaf_sha256"])
        if o_sha and n_sha and o_sha != n_sha:
            yield (
                Change.ROTATED,
                {
                    "old": o_sha,
                    "new": n_sha,
                    "detail": f"notAfter {_text(o['not_after'])} -> {_text(n['not_after'])}",
                },
            )
        o_trust, n_trust = _flag(o["trusted"]), _flag(n["trusted"])
        # A host revoked since OLD regressed even when OLD already had another problem.
        newly_revoked = has(n["findings"], "revoked") and not has(o["findings"], "revoked")
        if (o_trust is True and n_trust is False) or newly_revoked:
            yield (
                Change.REGRESSED,
                {
                    "severity": _text(n["severity"]),
                    "old": "trusted" if o_trust is True else "not trusted",
                    "new": "revoked" if newly_revoked else "not trusted",
                    "detail": _text(n["findings"]),
                },
            )
        elif o_trust is False and n_trust is True:
            yield Change.RECOVERED, {"old": "not trusted", "new": "trusted"}
        else:
            yield from _grade_change(o, n)
        yield from _breaks_change(o, n)


def _breaks_change(o: Values, n: Values) -> Iterator[tuple[Change, Values]]:
    """The date the host breaks moved earlier (issue 21): `regressed`, with both dates and
    the new cause. Null on either side (a host not trusted, an older scan) is no change."""
    old, new = _clean(o.get("breaks_on")), _clean(n.get("breaks_on"))
    if old is None or new is None or not moved_earlier(pd.Timestamp(old), pd.Timestamp(new)):
        return
    values = {
        "severity": _text(n["severity"]),
        "old": _text(old),
        "new": _text(new),
        "detail": f"breaks_on moved earlier ({_text(n.get('breaks_because'))})",
    }
    yield Change.REGRESSED, values


def _target_changes(
    old: dict[Key, Values], new: dict[Key, Values]
) -> Iterator[tuple[Change, Key, Values, Values]]:
    """(change, target, the row whose carried columns the change shows, values) per target."""
    for key, n in new.items():
        o = old.get(key)
        if o is None:
            yield Change.ADDED, key, n, {"new": _status(n), "detail": _text(n["error_detail"])}
            continue
        for change, values in _pair_changes(o, n):
            yield change, key, n, values
    for key, o in old.items():
        if key not in new:
            yield Change.REMOVED, key, o, {"old": _status(o)}


def _finding_changes(
    old: dict[Key, Values],
    new: dict[Key, Values],
    old_findings: pd.DataFrame,
    new_findings: pd.DataFrame,
    by_address: bool = False,
) -> Iterator[tuple[Change, Key, Values, Values]]:
    """Findings NEW has that OLD did not, for targets OLD saw answer (or did not list), and
    OLD's findings that NEW's answering hosts lost, unless lost by getting worse."""
    old_f = _findings_index(old_findings, by_address)
    new_f = _findings_index(new_findings, by_address)
    for (key, code), f in new_f.items():
        before = old.get(key)
        if before is not None and before["status"] != "ok":
            continue  # `back`: OLD saw none of its findings
        if (key, code) not in old_f:
            values = {
                "code": code,
                "severity": _text(f["severity"]),
                "new": code,
                "detail": _text(f["message"]),
            }
            yield Change.NEW_FINDING, key, new.get(key) or f, values
    for (key, code), f in old_f.items():
        now = new.get(key)
        if (
            (key, code) not in new_f
            and now is not None
            and now["status"] == "ok"
            and not _superseded(code, now)
        ):
            values = {
                "code": code,
                "severity": _text(f["severity"]),
                "old": code,
                "detail": _text(f["message"]),
            }
            yield Change.RESOLVED_FINDING, key, now, values


# Findings that exist only while the default store trusts the chain: gone because NEW lost
# that trust (revoked, expired...), they did not resolve; the host got worse (`regressed`).
_WHILE_TRUSTED = frozenset({"not_trusted_by"})


def _superseded(code: str, now: Values) -> bool:
    """Whether an OLD finding is missing from NEW because the host got worse, not better."""
    return code in _WHILE_TRUSTED and _flag(now["trusted"]) is False


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Worst kinds of change first, then worst severity, then by target."""
    df["_order"] = df["change"].map(_ORDER)
    df["_rank"] = df["severity"].map(lambda s: -rank(s) if isinstance(s, str) else 1)
    df["_port"] = df["port"].map(lambda p: -1 if p is None or pd.isna(p) else int(p))
    df = df.sort_values(
        ["_order", "_rank", "host", "_port", "ip", "connected_ip", "code"], na_position="first"
    )
    df = df.drop(columns=["_order", "_rank", "_port"]).reset_index(drop=True)
    df["port"] = df["port"].astype("Int32")
    return df


def diff(
    old_hosts: pd.DataFrame,
    old_findings: pd.DataFrame,
    new_hosts: pd.DataFrame,
    new_findings: pd.DataFrame,
    *,
    by_address: bool = False,
) -> pd.DataFrame:
    """One row per change, targets matched on (host, port, ip), and on connected_ip too when
    `by_address` (both scans scanned every address of a name). Columns: change, host, port,
    ip, connected_ip (when by address), code and severity (for findings; for `regressed`, the
    host's new worst severity), old, new, detail, then NEW's carried input columns (OLD's for
    removed targets)."""
    extra = carried(new_hosts) + [c for c in carried(old_hosts) if c not in carried(new_hosts)]
    old, new = _index(old_hosts, extra, by_address), _index(new_hosts, extra, by_address)
    rows: list[dict[str, Any]] = []
    changes = [
        *_target_changes(old, new),
        *_finding_changes(old, new, old_findings, new_findings, by_address),
    ]
    for change, key, source, values in changes:
        row = dict.fromkeys(BASE_COLUMNS)
        row.update(
            change=change.value,
            host=key[0],
            port=key[1],
            ip=key[2] or None,
            connected_ip=key[3] or None,
        )
        row.update(values)
        for c in extra:
            row[c] = _text(source.get(c))
        rows.append(row)
    df = pd.DataFrame(rows, columns=BASE_COLUMNS + extra)
    return df if df.empty else _ordered(df)


def _grade_change(o: Values, n: Values) -> Iterator[tuple[Change, Values]]:
    """A grade drop is `regressed`, a rise `recovered`; only between grades on the same basis
    (a scan without --protocols grades the certificate alone)."""
    old, new = _clean(o.get("grade")), _clean(n.get("grade"))
    if old is None or new is None or _clean(o.get("grade_basis")) != _clean(n.get("grade_basis")):
        return
    detail = f"grade {old} -> {new} ({_text(n.get('grade_basis'))})"
    if dropped(old, new):
        values = {"severity": _text(n["severity"]), "old": old, "new": new, "detail": detail}
        yield Change.REGRESSED, values
    elif dropped(new, old):
        yield Change.RECOVERED, {"old": old, "new": new, "detail": detail}


def _status(row: dict[str, Any]) -> str:
    return "ok" if row["status"] == "ok" else f"error: {_text(row['error'])}"


def match_note(old_addresses: str, new_addresses: str) -> tuple[bool, str | None]:
    """Whether to match rows per address (both scans used `--addresses all`), and a note when
    only one side did (then rows are matched on (host, port, ip) and one address stands for
    its name)."""
    if old_addresses == new_addresses:
        return old_addresses == "all", None
    side = "OLD" if old_addresses == "all" else "NEW"
    other = "NEW" if side == "OLD" else "OLD"
    return False, (
        f"{side} scanned every address of a name (--addresses all), {other} only the first: "
        "rows are matched on (host, port, ip), one address standing for each name"
    )


def counts(changes: pd.DataFrame) -> pd.DataFrame:
    """Changes per kind, every kind listed (zero included), in the order of `Change`."""
    seen = changes["change"].value_counts() if len(changes) else pd.Series(dtype=int)
    return pd.DataFrame(
        [(c.value, int(seen.get(c.value, 0))) for c in Change], columns=["change", "targets"]
    )


def new_at_or_above(changes: pd.DataFrame, threshold: Severity) -> bool:
    """`--fail-on` for a diff: a new finding at or above `threshold`."""
    if changes.empty:
        return False
    new = changes.loc[changes["change"] == Change.NEW_FINDING.value, "severity"]
    return any_at_or_above(new, threshold)


def changes_table(changes: pd.DataFrame) -> pa.Table:
    """The Arrow table written as changes.parquet: carried columns as strings."""
    extra = [c for c in changes.columns if c not in BASE_COLUMNS]
    schema = pa.schema(BASE_FIELDS + [pa.field(c, pa.string()) for c in extra])
    records: Iterable[dict[str, Any]] = (
        {k: _clean(v) for k, v in r.items()} for r in changes.to_dict(orient="records")
    )
    return pa.Table.from_pylist(list(records), schema=schema)
