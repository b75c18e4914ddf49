"""A scan as Prometheus metrics: the text exposition format (version 0.0.4) that
node_exporter's textfile collector reads. Pure: the hosts table and the scan's meta in, text out.

Series per answering host (status ok): notAfter, seconds to expiry, trusted, revoked (when a
revocation check ran), grade (when the table has it) and one per finding code; per scan: hosts
per status, verdict, error, severity and trust store, the duration, the as-of and the finish
time. Names follow the Prometheus naming guide (a `tls_scanner_` prefix, base units: seconds
and Unix timestamps), so `promtool check metrics` finds nothing to say.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from scanner.analysis.counts import ScanCounts, scan_counts
from scanner.errors import UsageError
from scanner.model.catalogue import CATALOGUE
from scanner.model.columns import VERDICT_COLUMNS
from scanner.model.types import ErrorCode, Severity
from scanner.present.escape import is_missing, prometheus_label

PREFIX = "tls_scanner_"
HOST_LABELS = ("host", "port", "ip")
# Labels the metrics themselves use; a carried column may not take one of these names.
# With --addresses all, a target of several addresses has a series per address, labelled with
# it (a target of one row has no `address` label, so its series stay those of earlier scans).
ADDRESS_LABEL = "address"
RESERVED_LABELS = frozenset(
    {
        *HOST_LABELS,
        ADDRESS_LABEL,
        "code",
        "severity",
        "grade",
        "status",
        "verdict",
        "error",
        "shard",
        "le",
        "store",
    }
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SEVERITY_OF = {code.value: spec.severity.value for code, spec in CATALOGUE.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """A carried input column exposed as a label (`--metrics-label owner`)."""

    column: str  # as in hosts.parquet
    name: str  # a valid Prometheus label name


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanInfo:
    """What the metrics need from scan.json (of one scan, or of its shards together)."""

    as_of: dt.datetime
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    interrupted: bool = False
    shard: str | None = None  # "K/N" for one shard of a sharded scan, else None
    stores: tuple[str, ...] = ()  # the trust stores judged (scan.json), the default first

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


def scan_info(metas: Sequence[Mapping[str, Any]], as_of: dt.datetime) -> ScanInfo:
    """ScanInfo from the scan.json of each folder: shards together span from the first start
    to the last finish; one interrupted shard makes the scan interrupted."""

    def instants(key: str) -> list[dt.datetime]:
        return [dt.datetime.fromisoformat(str(m[key])) for m in metas if m.get(key)]

    started, finished = instants("started"), instants("finished")
    shards = {str(m.get("options", {}).get("shard", "1/1")) for m in metas}
    # The stores judged, then the root programs (issue 20): each a name in trusted_by.
    stores = {
        str(store["name"]): None
        for m in metas
        for key in ("trust_stores", "root_programs")
        for store in m.get(key) or ()
        if isinstance(store, dict) and isinstance(store.get("name"), str)
    }
    return ScanInfo(
        as_of=as_of,
        started=min(started) if started else None,
        finished=max(finished) if finished else None,
        interrupted=any(bool(m.get("interrupted")) for m in metas),
        shard=shards.pop() if len(metas) == 1 and shards != {"1/1"} else None,
        stores=tuple(stores),
    )


def resolve_labels(requested: Iterable[str], columns: Sequence[str]) -> tuple[Label, ...]:
    """The carried columns named by `--metrics-label` (any case, as `--by`), each with a valid
    label name: characters outside [a-zA-Z0-9_] become `_`, a leading digit gets a `_`."""
    labels: list[Label] = []
    for want in requested:
        matches = [c for c in columns if c.lower() == want.lower()]
        if not matches:
            choices = ", ".join(columns) or "none"
            raise UsageError(
                f"--metrics-label {want}: no such input column (carried columns: {choices})"
            )
        column = next((c for c in matches if c == want), matches[0])
        name = re.sub(r"[^a-zA-Z0-9_]", "_", column)
        if not _LABEL_NAME.match(name):
            name = f"_{name}"
        name = name.lstrip("_") if name.startswith("__") else name  # __ is Prometheus's own
        if not name or name in RESERVED_LABELS or any(label.name == name for label in labels):
            raise UsageError(
                f"--metrics-label {want}: label name {name!r} is taken; rename the column"
            )
        labels.append(Label(column=column, name=name))
    return tuple(labels)


# --- rendering ----------------------------------------------------------------------------


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(pairs: Iterable[tuple[str, Any]]) -> str:
    body = ",".join(f'{name}="{prometheus_label(value)}"' for name, value in pairs)
    return f"{{{body}}}" if body else ""


@dataclass(slots=True)
class _Family:
    name: str
    help: str
    samples: list[str]

    def add(self, labels: Iterable[tuple[str, Any]], value: float | int | bool) -> None:
        self.samples.append(f"{PREFIX}{self.name}{_labels(labels)} {_number(value)}")

    def lines(self) -> Iterator[str]:
        # Every family is written, even without samples: HELP and TYPE tell what it would hold.
        yield f"# HELP {PREFIX}{self.name} {self.help}"
        yield f"# TYPE {PREFIX}{self.name} gauge"
        yield from self.samples


def _column(df: pd.DataFrame, name: str) -> list[Any]:
    return df[name].astype(object).tolist() if name in df.columns else [None] * len(df)


def _series_rows(hosts: pd.DataFrame) -> pd.DataFrame:
    """The rows that get series, with `_address` set where a target has several."""
    df = hosts.copy()
    # One series per (host, port, ip), and per address of a target scanned on several: a
    # duplicate would make the collector drop the file.
    keys = list(HOST_LABELS) + (["input_line"] if "input_line" in df.columns else [])
    several = df.duplicated(subset=keys, keep=False)
    address = df["connected_ip"] if "connected_ip" in df.columns else pd.Series([None] * len(df))
    df["_address"] = address.astype(object).where(several.to_numpy(), None).to_numpy()
    return df.drop_duplicates(subset=[*HOST_LABELS, "_address"], keep="last", ignore_index=True)


def _identities(df: pd.DataFrame, labels: Sequence[Label]) -> list[list[tuple[str, Any]]]:
    """Each row's identifying labels: host, port, ip, the address if set, then `labels`."""
    return [
        [("host", h), ("port", "" if is_missing(p) else int(p)), ("ip", i)]
        + ([(ADDRESS_LABEL, a)] if not is_missing(a) else [])
        + [(label.name, v) for label, v in zip(labels, row, strict=True)]
        for h, p, i, a, *row in zip(
            _column(df, "host"),
            _column(df, "port"),
            _column(df, "ip"),
            _column(df, "_address"),
            *(_column(df, label.column) for label in labels),
            strict=True,
        )
    ]


def render(hosts: pd.DataFrame, scan: ScanInfo, labels: Sequence[Label] = ()) -> str:
    """The exposition text for a hosts table (as `scanner.load(...).hosts` gives it)."""
    df = _series_rows(hosts)
    n = len(df)
    status = [str(s) for s in _column(df, "status")]
    identity = _identities(df, labels)
    not_after = _column(df, "not_after")
    trusted = _column(df, "trusted")
    revoked = _column(df, "revoked")
    as_of = scan.as_of.timestamp()
    grades = _column(df, "grade") if "grade" in df.columns else None
    findings = _column(df, "findings")

    f_not_after = _Family(
        "certificate_not_after_timestamp_seconds",
        "The leaf certificate's notAfter as a Unix timestamp, per answering host.",
        [],
    )
    f_trusted = _Family(
        "certificate_trusted",
        "1 when a strict client accepts the chain the host sends, else 0.",
        [],
    )
    f_expiry = _Family(
        "certificate_expiry_seconds",
        "Seconds from the scan's as-of to the leaf's notAfter (negative when expired).",
        [],
    )
    f_revoked = _Family(
        "certificate_revoked",
        "1 when the leaf is revoked (CRL or OCSP), 0 when checked and not; no series unchecked.",
        [],
    )
    f_grade = _Family("host_grade", "1 for the host's grade (the grade label).", [])
    f_finding = _Family(
        "host_finding",
        "1 for each finding the host has (code and severity labels).",
        [],
    )
    for i in range(n):
        if status[i] != "ok":
            continue
        ident = identity[i]
        if not is_missing(not_after[i]):
            seconds = pd.Timestamp(not_after[i]).timestamp()
            f_not_after.add(ident, seconds)
            f_expiry.add(ident, seconds - as_of)
        if not is_missing(trusted[i]):
            f_trusted.add(ident, bool(trusted[i]))
        if not is_missing(revoked[i]):
            f_revoked.add(ident, bool(revoked[i]))
        if grades is not None and not is_missing(grades[i]):
            f_grade.add([*ident, ("grade", grades[i])], 1)
        codes = findings[i]
        for code in dict.fromkeys([] if is_missing(codes) else list(codes)):
            severity = _SEVERITY_OF.get(str(code), "")  # "" (no label) for a code we do not know
            f_finding.add([*ident, ("code", code), ("severity", severity)], 1)

    families = [f_not_after, f_expiry, f_trusted, f_revoked]
    if grades is not None:
        families.append(f_grade)
    families.append(f_finding)
    families.extend(_scan_families(df, status, scan))
    return "\n".join(line for family in families for line in family.lines()) + "\n"


def _scan_families(df: pd.DataFrame, status: list[str], scan: ScanInfo) -> list[_Family]:
    shard = [("shard", scan.shard)] if scan.shard else []
    ok = [s == "ok" for s in status]

    tally = scan_counts(df) if "status" in df.columns else ScanCounts()
    targets = _Family(
        "scan_targets", "Targets of the scan (distinct input lines; a name counts once).", []
    )
    targets.add(shard, tally.targets)
    rows = _Family("scan_rows", "Rows of the scan (one per address scanned).", [])
    rows.add(shard, tally.rows)
    by_status = _Family("scan_hosts", "Rows per status: ok (a chain was captured), error.", [])
    for name in ("ok", "error"):
        by_status.add([*shard, ("status", name)], status.count(name))

    verdicts = _Family("scan_verdict_hosts", "Answering hosts for which the verdict holds.", [])
    for verdict in VERDICT_COLUMNS:
        values = _column(df, verdict)
        hits = sum(1 for good, v in zip(ok, values, strict=True) if good and v is True)
        verdicts.add([*shard, ("verdict", verdict)], hits)
    not_trusted = sum(
        1 for good, v in zip(ok, _column(df, "trusted"), strict=True) if good and v is False
    )
    verdicts.add([*shard, ("verdict", "not_trusted")], not_trusted)

    stores = _Family("scan_trust_store_hosts", "Answering hosts each trust store trusts.", [])
    trusted_by = [
        set(v) if good and not is_missing(v) else set()
        for good, v in zip(ok, _column(df, "trusted_by"), strict=True)
    ]
    for store in scan.stores:
        stores.add([*shard, ("store", store)], sum(1 for names in trusted_by if store in names))

    errors = _Family("scan_error_hosts", "Targets that failed, per error code.", [])
    error_values = [str(e) for e in _column(df, "error")]
    for code in ErrorCode:
        errors.add([*shard, ("error", code.value)], error_values.count(code.value))

    severities = _Family(
        "scan_severity_hosts", "Answering hosts whose worst finding has this severity.", []
    )
    severity_values = [str(s) for s in _column(df, "severity")]
    for severity in Severity:
        severities.add([*shard, ("severity", severity.value)], severity_values.count(severity))

    timing = [
        (
            "scan_as_of_timestamp_seconds",
            "The instant validity was judged at (Unix time).",
            scan.as_of.timestamp(),
        ),
        (
            "scan_finished_timestamp_seconds",
            "When the scan finished (Unix time).",
            scan.finished.timestamp() if scan.finished else None,
        ),
        (
            "scan_duration_seconds",
            "Seconds from the scan's start to its end (with --resume, from the first start).",
            scan.duration,
        ),
        (
            "scan_interrupted",
            "1 when the scan was interrupted and some targets are missing.",
            scan.interrupted,
        ),
    ]
    families = [targets, rows, by_status, verdicts, stores, errors, severities]
    for name, text, value in timing:
        family = _Family(name, text, [])
        if value is not None:
            family.add(shard, value)
        families.append(family)
    return families
