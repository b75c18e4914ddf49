"""The end of a scan: the merged tables summarised, hosts.csv and summary.csv written, and
scan.json, the record of what was scanned how and what was found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.analysis.addresses import NameCounts
from scanner.analysis.counts import ScanCounts
from scanner.analysis.fold import (
    FOLD_COLUMNS,
    SUMMARY_FIELDS,
    WORST_COLUMNS,
    SkewCounts,
    SummaryFold,
    SummaryRow,
    skew_message,
)
from scanner.inputs.targets import Deduper
from scanner.model.types import DEFAULT_STORE
from scanner.run.options import ScanOptions, options_record
from scanner.run.pipeline import ScanConfig
from scanner.run.resume import input_name
from scanner.store import files
from scanner.store.heap import release_free_memory
from scanner.store.location import Location
from scanner.store.programs import browser_files
from scanner.store.trust import describe
from scanner.x509.certs import TrustStore

if TYPE_CHECKING:  # a scan never imports pandas; its report's DataFrames do, when asked for
    import pandas as pd

WORST_HOSTS = 40


@dataclass(slots=True, kw_only=True)
class ScanReport:
    """What a scan reports: summary.csv's rows and the worst hosts, held as plain values (the
    end of a scan imports no pandas); `summary` and `worst` give them as DataFrames."""

    out: Path | str
    scan_id: str
    interrupted: bool
    rows: tuple[SummaryRow, ...]  # summary.csv: kind, name, hosts, share
    worst_rows: tuple[dict[str, Any], ...] | None = None  # the worst hosts, worst first
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # for stderr: duplicates, no targets, the clock check
    skew: SkewCounts = SkewCounts()  # the clock check's counts (a Dask scan sums its shards')

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.meta["counts"])

    @property
    def summary(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(SUMMARY_FIELDS))

    @property
    def worst(self) -> pd.DataFrame | None:
        """The worst hosts (WORST_COLUMNS), with nullable integers."""
        if self.worst_rows is None:
            return None
        import pandas as pd

        frame = pd.DataFrame(list(self.worst_rows), columns=list(WORST_COLUMNS))
        for column in ("port", "days_remaining"):
            frame[column] = frame[column].astype("Int64")
        return frame


def version() -> str:
    try:
        return metadata.version("tls-fleet-scanner")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def input_warnings(options: ScanOptions, total: int, dedupe: Deduper) -> list[str]:
    """Warnings about the input for stderr: duplicate rows dropped (and whose carried columns
    are lost), and a file with nothing to scan."""
    notes = []
    if total == 0:
        notes.append(
            f"{options.input}: no targets to scan (a header row and no host rows?)"
            if options.shard.count == 1
            else f"{options.input}: shard {options.shard} holds none of its targets"
        )
    if dedupe.duplicates:
        shown = ", ".join(f"{d.line} (same target as line {d.kept})" for d in dedupe.dropped[:10])
        more = dedupe.duplicates - min(10, len(dedupe.dropped))
        notes.append(
            f"{options.input}: {dedupe.duplicates} duplicate row(s) of a target already listed "
            f"dropped: line {shown}{f' and {more} more' if more > 0 else ''} (scan.json "
            "lists them as duplicates)"
        )
    if skipped := dedupe.skipped.warning(options.input):
        notes.append(skipped)
    if dedupe.differing:
        differ = [f"{d.line} (kept line {d.kept})" for d in dedupe.dropped if d.carried_differ][:10]
        notes.append(
            f"{options.input}: {dedupe.differing} dropped duplicate row(s) had other values in "
            f"the carried columns than the row kept, and those values are lost: line "
            f"{', '.join(differ)}"
        )
    return notes


@dataclass(frozen=True, slots=True, kw_only=True)
class _Summary:
    rows: list[SummaryRow]  # summary.csv
    worst: list[dict[str, Any]]
    names: NameCounts
    tally: ScanCounts  # scanner.analysis.counts: distinct input lines; rows, one per address; ok
    skew: SkewCounts  # the clock check's counts
    clock: str | None  # the clock-skew warning, if the hosts' clocks suggest one

    def counted(self, kind: str) -> dict[str, int]:
        return {name: hosts for k, name, hosts, _ in self.rows if k == kind and hosts > 0}


def _summarise(out: Location, config: ScanConfig) -> _Summary:
    """hosts.parquet read in batches and folded (scanner.analysis.fold): the summary, the worst
    hosts, per-name counts, skew. No pandas: a scan's end does not import it."""
    stores = [DEFAULT_STORE, *(s.name for s in config.stores), *(p.name for p in config.programs)]
    fold = SummaryFold(stores=stores, worst_n=WORST_HOSTS)
    for columns, has_leaf in files.iter_table_lists(out / "hosts.parquet", FOLD_COLUMNS):
        fold.add(columns, has_leaf)
    return _Summary(
        rows=fold.rows(),
        worst=fold.worst(),
        names=fold.names,
        tally=fold.counts.result(),
        skew=fold.skew,
        clock=skew_message(fold.skew, config.as_of),
    )


def _counts(s: _Summary, dedupe: Deduper, table_rows: dict[str, int]) -> dict[str, Any]:
    return {
        "targets": s.tally.targets,
        "rows": s.tally.rows,
        "ok": s.tally.ok,
        "errors": s.counted("error"),
        "findings": s.counted("finding"),
        "severities": s.counted("severity"),
        "duplicates": dedupe.duplicates,
        "skipped_lines": dedupe.skipped.count,  # blank and `#` comment lines
        "certificates": table_rows["certificates"],
        "findings_rows": table_rows["findings"],
        **({"ciphers_rows": table_rows["ciphers"]} if "ciphers" in table_rows else {}),
        "names_inconsistent_backends": s.names.inconsistent_backends,
        "names_some_addresses_down": s.names.some_addresses_down,
    }


def _internal_fetch_errors(out: Location) -> int:
    """Findings whose message holds an internal error caught in an AIA, CRL or OCSP fetch."""
    from scanner.net.fetch import INTERNAL_ERROR

    return files.count_containing(out / "findings.parquet", "message", INTERNAL_ERROR)


def _store_record(name: str, trust: TrustStore) -> dict[str, object]:
    """A trust store as scan.json records it, its path absolute like every other path."""
    return {**describe(name, trust), "path": str(Path(trust.path).resolve())}


def finish(
    options: ScanOptions,
    state: dict[str, Any],
    config: ScanConfig,
    dedupe: Deduper,
    table_rows: dict[str, int],
    *,
    interrupted: bool,
    warnings: list[str],
) -> ScanReport:
    """The merged tables summarised, hosts.csv, summary.csv and scan.json written."""
    out = Location.of(options.out)
    s = _summarise(out, config)
    if s.clock:
        warnings = [*warnings, s.clock]
    release_free_memory()  # each end-of-scan pass starts on a trimmed heap (issue 17)
    files.parquet_to_csv(out / "hosts.parquet", out / "hosts.csv")
    if config.ciphers:  # --ciphers: its table's CSV copy too
        files.parquet_to_csv(out / "ciphers.parquet", out / "ciphers.csv")
    files.write_csv_atomic(out / "summary.csv", list(SUMMARY_FIELDS), s.rows)
    trust = config.trust
    meta = {
        "scan_id": state["scan_id"],
        "scan_group": state.get("scan_group"),
        "scanner_version": version(),
        "started": state["started"],
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "interrupted": interrupted,
        "as_of": options.as_of.isoformat(),
        "input": input_name(options.input),
        "input_sha256": state["input_sha256"],
        "options": options_record(options),
        "trust_store": {
            "path": str(Path(trust.path).resolve()),
            "sha256": trust.sha256,
            "roots": len(trust.roots),
        },
        # Every store judged (`trusted_by`), the default first, each loaded once for the scan.
        "trust_stores": [
            _store_record(DEFAULT_STORE, trust),
            *(_store_record(st.name, st.trust) for st in config.stores),
        ],
        # How browsers decide (issue 20): each --root-program file and the --ct-logs list.
        **browser_files(options.root_programs, options.ct_logs, config.programs, config.log_list),
        # --caa-identifiers by SHA-256 (a resume refuses other contents), when given.
        **_caa_record(options.caa_identifiers, config.caa_report.sha256),
        "counts": _counts(s, dedupe, table_rows),
        # Host rows with error=internal, and findings holding a fetch's internal error.
        "internal_errors": s.counted("error").get("internal", 0) + _internal_fetch_errors(out),
        # Which input lines were dropped in favour of which (the first DUPLICATES_LISTED).
        "duplicates": [
            {"line": d.line, "kept": d.kept, "carried_columns_differ": d.carried_differ}
            for d in dedupe.dropped
        ],
        "warnings": warnings,
    }
    files.write_json_atomic(out / "scan.json", meta)
    return ScanReport(
        out=options.out,
        scan_id=state["scan_id"],
        interrupted=interrupted,
        rows=tuple(s.rows),
        worst_rows=tuple(s.worst),
        meta=meta,
        warnings=tuple(warnings),
        skew=s.skew,
    )


def _caa_record(path: Path | None, sha256: str | None) -> dict[str, Any]:
    if path is None or sha256 is None:
        return {}
    return {"caa_identifiers": {"path": str(path.resolve()), "sha256": sha256}}
