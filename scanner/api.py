"""The library face for notebooks and scripts: `load` a scan (one folder or several shard
folders) as pandas DataFrames, and `scan` / `scan_async` a fleet from Python.

Reads files and, for `scan`, the network; everything it returns is plain pandas.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import functools
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scanner import tables
from scanner.findings import Code
from scanner.models import ErrorCode, ScanCounts, ScanResult, Severity
from scanner.pipeline import ScanConfig, scan_stream
from scanner.runner import load_trust, make_resolver, version
from scanner.targets import Deduper, read_targets

TABLE_FILES = ("hosts.parquet", "findings.parquet", "certificates.parquet")
# Ordered so that `hosts[hosts.severity >= "high"]` works.
SEVERITY_CATEGORIES = [s.value for s in sorted(Severity, key=lambda s: s.rank)]
LIST_COLUMNS = ("san_dns", "san_ip", "findings")


class LoadError(Exception):
    """A folder holds no scan, or its tables cannot be read (exit 2 in the CLI)."""


class EventLoopRunning(RuntimeError):
    """`scan()` was called where an event loop already runs (a notebook): use scan_async."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanTables:
    """One scan as DataFrames: several shard folders read as one.

    `meta` holds each folder's scan.json (empty dicts where it is missing)."""

    hosts: pd.DataFrame
    findings: pd.DataFrame
    certificates: pd.DataFrame
    meta: tuple[dict[str, Any], ...] = ()
    folders: tuple[Path, ...] = ()

    @property
    def as_of_values(self) -> tuple[dt.datetime, ...]:
        """The distinct as-of instants of the folders, oldest first."""
        values = {dt.datetime.fromisoformat(m["as_of"]) for m in self.meta if m.get("as_of")}
        return tuple(sorted(values))

    @property
    def as_of(self) -> dt.datetime:
        """The instant the scan judged validity at (the latest, if shards disagree); without
        scan.json, the time the last host finished."""
        values = self.as_of_values
        if values:
            return values[-1].astimezone(dt.UTC)
        finished = self.hosts["scanned_at"].max() if len(self.hosts) else None
        if finished is None or pd.isna(finished):
            raise LoadError("no as-of instant: scan.json is missing and no host was scanned")
        last: dt.datetime = pd.Timestamp(finished).to_pydatetime()
        return last.astimezone(dt.UTC)

    @property
    def carried_columns(self) -> tuple[str, ...]:
        """The input columns carried into hosts (owner, team, env...)."""
        return tuple(c for c in self.hosts.columns if c not in tables.HOST_COLUMNS)


# --- loading --------------------------------------------------------------------------------


def scan_folders(paths: Path | str | Iterable[Path | str]) -> tuple[Path, ...]:
    """The scan folders named by `paths`: each path is a scan folder (it holds hosts.parquet)
    or a parent whose direct sub-folders are scan folders (one per shard)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise LoadError(f"{p} is not a folder")
        if (p / "hosts.parquet").is_file():
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and (c / "hosts.parquet").is_file())
        if not children:
            raise LoadError(f"{p}: no hosts.parquet in it or in its sub-folders; is it a scan?")
        found.extend(children)
    unique: dict[Path, Path] = {}
    for f in found:
        unique.setdefault(f.resolve(), f)
    return tuple(unique.values())


def _read(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise LoadError(f"cannot read {path}: {e}") from None


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "scan.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LoadError(f"cannot read {path}: {e}") from None
    return data if isinstance(data, dict) else {}


def load(paths: Path | str | Iterable[Path | str]) -> ScanTables:
    """Read a scan's hosts, findings and certificates tables as DataFrames.

    `paths`: a scan folder, several shard folders, or a parent folder holding them; shards
    are read as one scan. Timestamps are timezone-aware (UTC); status, error, code and
    severity are categoricals (severity ordered info < ... < critical); SANs and findings are
    Python lists; integers and booleans are nullable.

    Example: scanner.load("reports/2026-11-26").hosts.query("expired == True")
    """
    folders = scan_folders(paths)
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLE_FILES}
    for folder in folders:
        for name in TABLE_FILES:
            path = folder / name
            if not path.is_file():
                raise LoadError(f"{folder}: {name} is missing")
            parts[name].append(_read(path))
    try:
        hosts, findings, certificates = (
            pa.concat_tables(parts[name], promote_options="default") for name in TABLE_FILES
        )
    except pa.ArrowException as e:
        raise LoadError(f"the folders' tables do not fit together: {e}") from None
    return ScanTables(
        hosts=hosts_frame(hosts),
        findings=findings_frame(findings),
        certificates=certificates_frame(certificates),
        meta=tuple(_read_meta(f) for f in folders),
        folders=folders,
    )


# --- Arrow -> pandas with the documented dtypes ---------------------------------------------

_NULLABLE: dict[pa.DataType, Any] = {
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=_NULLABLE.get)
    for col in LIST_COLUMNS:
        if col in df.columns:
            df[col] = pd.Series(
                [None if v is None else [str(x) for x in v] for v in df[col]],
                index=df.index,
                dtype=object,
            )
    return df


def _categorical(values: pd.Series, known: Sequence[str], *, ordered: bool = False) -> Any:
    """A categorical over the known codes (so every shard shares categories and absent codes
    still count as zero); unknown values are kept as extra categories, never dropped."""
    present = {v for v in values.dropna().unique()}
    extra = sorted(str(v) for v in present - set(known))
    return pd.Categorical(values, categories=[*known, *extra], ordered=ordered)


def hosts_frame(table: pa.Table) -> pd.DataFrame:
    df = _frame(table)
    df["status"] = _categorical(df["status"], ["ok", "error"])
    df["error"] = _categorical(df["error"], [e.value for e in ErrorCode])
    df["severity"] = _categorical(df["severity"], SEVERITY_CATEGORIES, ordered=True)
    return df


def findings_frame(table: pa.Table) -> pd.DataFrame:
    df = _frame(table)
    df["code"] = _categorical(df["code"], [c.value for c in Code])
    df["severity"] = _categorical(df["severity"], SEVERITY_CATEGORIES, ordered=True)
    return df


def certificates_frame(table: pa.Table) -> pd.DataFrame:
    df = _frame(table)
    return df.drop_duplicates("sha256", ignore_index=True)


# --- scanning from Python -------------------------------------------------------------------

Row = str | Mapping[str, object]


def _rows_as_csv(rows: Iterable[Row]) -> str:
    """Rows as the text of an input CSV, so they go through the same parser as a file."""
    records: list[dict[str, str]] = []
    columns: dict[str, None] = {"host": None}
    for row in rows:
        record = {"host": row} if isinstance(row, str) else dict(row)
        clean = {str(k): "" if v is None else str(v) for k, v in record.items()}
        records.append(clean)
        columns.update(dict.fromkeys(clean))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


async def scan_async(
    rows: Iterable[Row],
    *,
    as_of: dt.datetime | None = None,
    ca_bundle: Path | str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - per host, as `scanner scan --timeout`
    concurrency: int = 100,
    warn_days: int = 30,
    aia: bool = True,
    aia_timeout: float = 5.0,
    nameservers: Sequence[tuple[str, int]] = (),
) -> ScanTables:
    """Scan `rows` (host names, or mappings with 'host' and optional 'port', 'ip' and any
    carried columns) and return the tables in memory, with the dtypes of `load`.

    Rows are parsed exactly like an input CSV. Nothing is written to disk; for fleets too
    large to hold in memory use `scanner scan`.

    Example: tables = await scanner.scan_async([{"host": "example.org", "owner": "web"}])
    """
    as_of = as_of or dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    header, items = read_targets(io.StringIO(_rows_as_csv(rows)), tables.HOST_COLUMNS)
    trust = load_trust(Path(ca_bundle) if ca_bundle is not None else None)
    config = ScanConfig(
        trust=trust,
        as_of=as_of,
        timeout=timeout,
        concurrency=concurrency,
        warn_days=warn_days,
        aia=aia,
        aia_timeout=aia_timeout,
    )
    dedupe = Deduper()
    results: list[tuple[ScanResult, dt.datetime]] = []
    started = dt.datetime.now(dt.UTC)
    await scan_stream(
        (item for item in items if dedupe.is_new(item)),
        config,
        lambda result: results.append((result, dt.datetime.now(dt.UTC))),
        resolver=make_resolver(tuple(nameservers)),
    )
    meta = {
        "scanner_version": version(),
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "input": "(python rows)",
        "trust_store": {"path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)},
    }
    return from_results(
        results,
        as_of=as_of,
        extra_names=header.extra_names,
        duplicates=dedupe.duplicates,
        meta=meta,
    )


def from_results(
    results: Iterable[tuple[ScanResult, dt.datetime]],
    *,
    as_of: dt.datetime,
    extra_names: Sequence[str] = (),
    duplicates: int = 0,
    meta: Mapping[str, Any] | None = None,
) -> ScanTables:
    """The tables of (result, scanned_at) pairs, built by the same row functions as the
    files of `scanner scan`, with the dtypes of `load`. Rows in input-line order."""
    counts = ScanCounts(duplicates=duplicates)
    host_rows: list[dict[str, Any]] = []
    finding_rows: list[dict[str, Any]] = []
    cert_rows: dict[str, dict[str, Any]] = {}
    for result, scanned_at in sorted(results, key=lambda r: r[0].target.row):
        counts.add(result)
        host_rows.append(tables.host_row(result, extra_names, scanned_at))
        finding_rows.extend(tables.finding_rows(result))
        for info in tables.result_certificates(result):
            cert_rows.setdefault(info.sha256, tables.certificate_row(info))
    scan_meta = {
        **(meta or {}),
        "interrupted": False,
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        "counts": {k: v for k, v in asdict(counts).items() if k != "internal_errors"},
        "internal_errors": counts.internal_errors,
    }
    return ScanTables(
        hosts=hosts_frame(pa.Table.from_pylist(host_rows, schema=tables.hosts_schema(extra_names))),
        findings=findings_frame(pa.Table.from_pylist(finding_rows, schema=tables.FINDINGS_SCHEMA)),
        certificates=certificates_frame(
            pa.Table.from_pylist(list(cert_rows.values()), schema=tables.CERTIFICATES_SCHEMA)
        ),
        meta=(scan_meta,),
    )


def scan(rows: Iterable[Row], **options: Any) -> ScanTables:
    """`scan_async` for plain scripts: runs its own event loop. Inside a running loop (a
    Jupyter notebook, async code) it refuses: use `await scanner.scan_async(...)` there.

    Example: scanner.scan(["example.org", "example.net:8443"]).hosts
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise EventLoopRunning(
            "scanner.scan() cannot run inside a running event loop (a notebook or async "
            "code); use `await scanner.scan_async(rows, ...)` instead"
        )
    return anyio.run(functools.partial(scan_async, rows, **options))
