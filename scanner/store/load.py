"""`scanner.load`: a scan (one folder or several shard folders) as pandas DataFrames with the
documented dtypes. Reads files only: no network stack is imported."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scanner.errors import ScanFolderError
from scanner.model.catalogue import Code
from scanner.model.columns import HOST_COLUMNS
from scanner.model.suites import Protocol
from scanner.model.types import ErrorCode, Severity
from scanner.store import tables
from scanner.store.location import Location

TABLE_FILES = ("hosts.parquet", "findings.parquet", "certificates.parquet")
# Ordered so that `hosts[hosts.severity >= "high"]` works.
SEVERITY_CATEGORIES = [s.value for s in sorted(Severity, key=lambda s: s.rank)]
# Every list-of-text column of the four tables, read back as Python lists of str.
LIST_COLUMNS = tuple(
    dict.fromkeys(
        f.name
        for schema in (
            tables.hosts_schema(()),
            tables.FINDINGS_SCHEMA,
            tables.CIPHERS_SCHEMA,
            tables.CERTIFICATES_SCHEMA,
        )
        for f in schema
        if f.type == tables.STR_LIST
    )
)
CIPHERS_FILE = "ciphers.parquet"  # --ciphers only (issue 19)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanTables:
    """One scan as DataFrames: several shard folders read as one.

    `meta` holds each folder's scan.json (empty dicts where it is missing)."""

    hosts: pd.DataFrame
    findings: pd.DataFrame
    certificates: pd.DataFrame
    ciphers: pd.DataFrame | None = None  # ciphers.parquet, of a --ciphers scan
    meta: tuple[dict[str, Any], ...] = ()
    folders: tuple[Path | str, ...] = ()  # a local Path, or a URL (s3://...) as given

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
            raise ScanFolderError("no as-of instant: scan.json is missing and no host was scanned")
        last: dt.datetime = pd.Timestamp(finished).to_pydatetime()
        return last.astimezone(dt.UTC)

    @property
    def trust_store_names(self) -> tuple[str, ...]:
        """The trust stores the scan judged (scan.json), the default first; none when the
        scan predates them."""
        names: dict[str, None] = {}
        for m in self.meta:
            for store in m.get("trust_stores") or ():
                if isinstance(store, dict) and isinstance(store.get("name"), str):
                    names[store["name"]] = None
        return tuple(names)

    @property
    def carried_columns(self) -> tuple[str, ...]:
        """The input columns carried into hosts (owner, team, env...)."""
        return tuple(c for c in self.hosts.columns if c not in HOST_COLUMNS)


# --- loading --------------------------------------------------------------------------------


def scan_folders(paths: Path | str | Iterable[Path | str]) -> tuple[Path | str, ...]:
    """The scan folders named by `paths`: each path is a scan folder (it holds hosts.parquet)
    or a parent whose direct sub-folders are scan folders (one per shard). A path may be a URL
    of object storage (s3://bucket/prefix)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: list[Location] = []
    for p in map(Location.of, paths):
        if not p.is_dir():
            raise ScanFolderError(f"{p} is not a folder")
        if (p / "hosts.parquet").is_file():
            found.append(p)
            continue
        children = sorted(
            (c for c in p.children() if c.is_dir() and (c / "hosts.parquet").is_file()),
            key=lambda c: c.path,
        )
        if not children:
            raise ScanFolderError(
                f"{p}: no hosts.parquet in it or in its sub-folders; is it a scan?"
            )
        found.extend(children)
    unique: dict[Path | str, Path | str] = {}
    for f in found:
        if f.local:
            unique.setdefault(f.local_path.resolve(), f.local_path)
        else:
            unique.setdefault(f.text, f.text)
    return tuple(unique.values())


def _read(path: Location) -> pa.Table:
    try:
        with path.arrow_source() as source:
            return pq.read_table(source)
    except (OSError, pa.ArrowException) as e:
        raise ScanFolderError(f"cannot read {path}: {e}") from None


def _read_meta(folder: Path | str) -> dict[str, Any]:
    path = Location.of(folder) / "scan.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ScanFolderError(f"cannot read {path}: {e}") from None
    return data if isinstance(data, dict) else {}


def _shard(meta: dict[str, Any]) -> tuple[int, int] | None:
    """(K, N) of a folder's `--shard K/N`, from its scan.json."""
    k, sep, n = str(meta.get("options", {}).get("shard", "")).partition("/")
    return (int(k), int(n)) if sep and k.isdigit() and n.isdigit() else None


def _identity(meta: dict[str, Any]) -> object:
    """What the shards of one scan share: the `scan_group` recorded at scan start (a hash of
    the input's SHA-256, the shard count and the verdict-changing options but as-of); for a
    scan.json written before it was recorded, the input's SHA-256 and shard count."""
    if meta.get("scan_group"):
        return meta["scan_group"]
    shard = _shard(meta)
    return (meta.get("input_sha256"), shard[1] if shard else None)


def _instant(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError:
        raise ScanFolderError(f"scan.json holds no readable as-of ({text!r})") from None


# Shards of one nightly run start together; two runs of a nightly job are a day apart.
SHARD_AS_OF_SPREAD = dt.timedelta(hours=12)
_HINT = "; to compare two scans use `scanner diff OLD NEW`, to read one name its folder alone"


def check_one_scan(folders: Sequence[Path | str], metas: Sequence[dict[str, Any]]) -> None:
    """Several folders are one scan only when they are distinct shards of one run: the same
    scan identity (input, shard count, options), as-of instants within SHARD_AS_OF_SPREAD,
    and different shard numbers. Two nights of one fleet must not be added up."""
    if len(folders) < 2:
        return
    named = ", ".join(str(f) for f in folders)
    if any(not m for m in metas):
        missing = ", ".join(str(f) for f, m in zip(folders, metas, strict=True) if not m)
        raise ScanFolderError(
            f"{named} cannot be read as one scan: no scan.json in {missing}, so they cannot be "
            f"shown to be shards of one scan{_HINT}"
        )
    as_of = {f: str(m.get("as_of")) for f, m in zip(folders, metas, strict=True)}
    groups: dict[object, list[Path | str]] = {}
    for folder, meta in zip(folders, metas, strict=True):
        groups.setdefault(_identity(meta), []).append(folder)
    if len(groups) > 1:
        scans = "; ".join(", ".join(str(f) for f in members) for members in groups.values())
        raise ScanFolderError(
            f"these folders hold {len(groups)} different scans (another input file, shard "
            f"count or options), not shards of one: {scans}{_HINT}"
        )
    instants = sorted(_instant(a) for a in as_of.values())
    if instants[-1] - instants[0] > SHARD_AS_OF_SPREAD:
        scans = ", ".join(f"{f} (as of {a})" for f, a in as_of.items())
        raise ScanFolderError(
            f"these folders hold scans from different times, not shards of one: {scans}{_HINT}"
        )
    seen: dict[tuple[int, int], Path | str] = {}
    for folder, meta in zip(folders, metas, strict=True):
        shard = _shard(meta) or (1, 1)
        if shard in seen:
            raise ScanFolderError(
                f"{seen[shard]} and {folder} both hold shard {shard[0]}/{shard[1]} (a copy, or "
                f"the same input scanned twice), not distinct shards of one scan{_HINT}"
            )
        seen[shard] = folder


def load(paths: Path | str | Iterable[Path | str]) -> ScanTables:
    """Read a scan's hosts, findings and certificates tables as DataFrames.

    `paths`: a scan folder, several shard folders, or a parent folder holding them; shards
    (`--shard K/N` runs of one scan) are read as one scan. Folders of different scans (two
    nights, say) raise ScanFolderError: compare them with `scanner diff`. Timestamps are
    timezone-aware (UTC); status, error, code and severity are categoricals (severity ordered
    info < ... < critical); SANs and findings are Python lists; integers and booleans are
    nullable.

    Example: scanner.load("reports/2026-11-26").hosts.query("expired == True")
    """
    folders = scan_folders(paths)
    metas = tuple(_read_meta(f) for f in folders)
    check_one_scan(folders, metas)
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLE_FILES}
    for folder in folders:
        for name in TABLE_FILES:
            path = Location.of(folder) / name
            if not path.is_file():
                raise ScanFolderError(f"{folder}: {name} is missing")
            parts[name].append(_read(path))
    try:
        hosts, findings, certificates = (
            pa.concat_tables(parts[name], promote_options="default") for name in TABLE_FILES
        )
    except pa.ArrowException as e:
        raise ScanFolderError(f"the folders' tables do not fit together: {e}") from None
    return ScanTables(
        hosts=hosts_frame(hosts),
        findings=findings_frame(findings),
        certificates=certificates_frame(certificates),
        ciphers=_ciphers(folders),
        meta=metas,
        folders=folders,
    )


def _ciphers(folders: Sequence[Path | str]) -> pd.DataFrame | None:
    """ciphers.parquet of the folders that have one (a --ciphers scan), as one frame; None
    when none has."""
    found = [Location.of(f) / CIPHERS_FILE for f in folders]
    found = [p for p in found if p.is_file()]
    if not found:
        return None
    table = pa.concat_tables([_read(p) for p in found], promote_options="default")
    return ciphers_frame(table)


def ciphers_frame(table: pa.Table) -> pd.DataFrame:
    df = _frame(table)
    df["version"] = _categorical(df["version"], [v.column for v in Protocol])
    return df


# --- Arrow -> pandas with the documented dtypes ---------------------------------------------


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=tables.nullable_dtype)
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
