"""The nights of a fleet on disk or object storage: scan folders found under the folders given
(a night's folder, a night's shard folders, or a parent of nights such as
`reports/night=2026-12-06/`), told apart by their as-of instant, each night read with
`scanner.load` (which combines the shards of one scan and refuses anything else)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from scanner.analysis.trend import Night, Trend, trend
from scanner.errors import ScanFolderError
from scanner.store.load import SHARD_AS_OF_SPREAD, _read_meta, load
from scanner.store.location import Location

# How far below a given folder scan folders are looked for: PARENT/NIGHT/SHARD/hosts.parquet.
MAX_DEPTH = 2


def _scan_folders(root: Location, depth: int = 0) -> list[Location]:
    if (root / "hosts.parquet").is_file():
        return [root]
    if depth >= MAX_DEPTH:
        return []
    found: list[Location] = []
    for child in sorted(root.children(), key=lambda c: c.path):
        if child.is_dir():
            found += _scan_folders(child, depth + 1)
    return found


def scan_folders(paths: Iterable[Path | str]) -> tuple[Path | str, ...]:
    """Every scan folder (one holding hosts.parquet) given or under the folders given, at
    most two levels down; each once."""
    unique: dict[Path | str, Path | str] = {}
    for p in map(Location.of, paths):
        if not p.is_dir():
            raise ScanFolderError(f"{p} is not a folder")
        found = _scan_folders(p)
        if not found:
            raise ScanFolderError(
                f"{p}: no hosts.parquet in it or in the folders under it; is it a scan?"
            )
        for f in found:
            if f.local:
                unique.setdefault(f.local_path.resolve(), f.local_path)
            else:
                unique.setdefault(f.text, f.text)
    return tuple(unique.values())


def _as_of(folder: Path | str, meta: dict[str, Any]) -> dt.datetime:
    text = meta.get("as_of")
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
        except ValueError:
            raise ScanFolderError(
                f"{folder}: scan.json holds no readable as-of ({text!r})"
            ) from None
    return load([folder]).as_of  # no scan.json: when its last host finished


def _run(meta: dict[str, Any]) -> tuple[object, object] | None:
    """What no two folders of one night share: the scan and the shard (`--shard K/N`)."""
    group = meta.get("scan_group")
    return (group, meta.get("options", {}).get("shard")) if group else None


def group_nights(paths: Iterable[Path | str]) -> list[tuple[Path | str, ...]]:
    """The scan folders grouped into nights, oldest first. Folders whose as-of instants lie
    within SHARD_AS_OF_SPREAD of the night's first are one night (its shards), unless one
    repeats a shard of that night at another instant: a later run (several scans a day).
    A copy (the same shard at the same instant) stays in the night, for `load` to refuse."""
    folders = scan_folders(paths)
    dated = []
    for f in folders:
        meta = _read_meta(f)
        dated.append((_as_of(f, meta), str(f), f, _run(meta)))
    dated.sort(key=lambda d: d[:2])
    nights: list[list[Path | str]] = []
    start: dt.datetime | None = None
    seen: dict[object, dt.datetime] = {}
    for as_of, _, folder, run in dated:
        repeated = run is not None and run in seen and seen[run] != as_of
        if start is None or as_of - start > SHARD_AS_OF_SPREAD or repeated:
            nights.append([])
            start, seen = as_of, {}
        if run is not None:
            seen[run] = as_of
        nights[-1].append(folder)
    return [tuple(n) for n in nights]


def _addresses(meta: Sequence[dict[str, Any]]) -> str:
    """`all` when every folder of a night scanned every address of a name, else `first`."""
    modes = {m.get("options", {}).get("addresses", "first") for m in meta} or {"first"}
    return "all" if modes == {"all"} else "first"


def read_nights(groups: Iterable[Sequence[Path | str]]) -> Iterator[Night]:
    """Each night read when asked for (`scanner.load`: its shards checked and combined)."""
    for folders in groups:
        tables = load(folders)
        yield Night(
            as_of=tables.as_of,
            hosts=tables.hosts,
            findings=tables.findings,
            sources=tuple(str(f) for f in tables.folders),
            addresses=_addresses(tables.meta),
            stores=tables.trust_store_names,
            warnings=tuple(
                f"{folder}: the scan was interrupted; some hosts are missing"
                for folder, meta in zip(tables.folders, tables.meta, strict=True)
                if meta.get("interrupted")
            ),
        )


def load_trend(paths: Iterable[Path | str]) -> Trend:
    """The trend of the nights under `paths` (`scanner trend` as a library call), two nights
    in memory at a time.

    Example: load_trend(["reports"]).counts.query("kind == 'verdict' and name == 'trusted'")
    """
    return trend(read_nights(group_nights(paths)))
