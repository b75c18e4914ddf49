"""A whole scan as a library call: input file -> output folder. The CLI and the demo call it;
it prints nothing (progress goes to a callback)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import certifi
import pandas as pd

from scanner import storage
from scanner.capture import DnsResolver, Resolver, SystemResolver
from scanner.certs import TrustStore, TrustStoreError, load_trust_store
from scanner.models import ScanCounts, ScanFailed, ScanResult
from scanner.pipeline import ScanConfig, scan_stream
from scanner.summary import SUMMARY_INPUT_COLUMNS, summarise
from scanner.targets import InputError

ProgressFn = Callable[[int, int, int], None]  # (done, total, failed)


class EnvironmentProblem(Exception):
    """Anything that stops the scan as a whole: exit 2 with this one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    input: Path
    out: Path
    as_of: dt.datetime
    ca_bundle: Path | None = None
    timeout: float = 10.0
    concurrency: int = 100
    warn_days: int = 30
    aia: bool = True
    aia_timeout: float = 5.0
    nameservers: tuple[tuple[str, int], ...] = ()
    overwrite: bool = False


@dataclass(slots=True, kw_only=True)
class ScanReport:
    out: Path
    scan_id: str
    counts: ScanCounts
    summary: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def version() -> str:
    try:
        return metadata.version("tls-fleet-scanner")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_trust(path: Path | None) -> TrustStore:
    bundle = Path(path) if path else Path(certifi.where())
    try:
        pem = bundle.read_bytes()
    except OSError as e:
        raise EnvironmentProblem(f"cannot read CA bundle {bundle}: {e.strerror or e}") from None
    try:
        return load_trust_store(pem, str(bundle))
    except TrustStoreError as e:
        raise EnvironmentProblem(str(e)) from None


def make_resolver(nameservers: tuple[tuple[str, int], ...]) -> Resolver:
    return DnsResolver(nameservers) if nameservers else SystemResolver()


def run_scan(options: ScanOptions, progress: ProgressFn | None = None) -> ScanReport:
    """Scan the input into the output folder. Raises EnvironmentProblem before writing
    anything when the input, the trust store or the output folder cannot be used."""
    if options.as_of.tzinfo is None:
        raise EnvironmentProblem("as_of must be timezone-aware")
    try:
        header, total, duplicates = storage.inspect_input(options.input)
    except InputError as e:
        raise EnvironmentProblem(f"{options.input}: {e}") from None
    trust = load_trust(options.ca_bundle)
    try:
        storage.prepare_output(options.out, overwrite=options.overwrite)
    except storage.OutputError as e:
        raise EnvironmentProblem(str(e)) from None

    started = dt.datetime.now(dt.UTC)
    scan_id = str(uuid.uuid4())
    counts = ScanCounts(duplicates=duplicates)
    writer = storage.ResultWriter(options.out, header.extra_names)
    config = ScanConfig(
        trust=trust,
        as_of=options.as_of,
        timeout=options.timeout,
        concurrency=options.concurrency,
        warn_days=options.warn_days,
        aia=options.aia,
        aia_timeout=options.aia_timeout,
    )
    failed = 0

    def on_result(result: ScanResult) -> None:
        nonlocal failed
        counts.add(result)
        if isinstance(result, ScanFailed):
            failed += 1
        writer.add(result, dt.datetime.now(dt.UTC))
        if progress is not None:
            progress(counts.targets, total, failed)

    try:
        _, items, _ = storage.iter_input(options.input)
        anyio.run(
            lambda: scan_stream(
                items, config, on_result, resolver=make_resolver(options.nameservers)
            )
        )
        writer.close()
    except BaseException:
        writer.discard()
        raise
    finished = dt.datetime.now(dt.UTC)

    hosts = storage.read_table_pandas(
        storage.partial_path(writer.hosts.path), SUMMARY_INPUT_COLUMNS
    )
    summary = summarise(hosts)
    writer.commit()
    storage.parquet_to_csv(writer.hosts.path, options.out / "hosts.csv")
    storage.write_csv_atomic(
        options.out / "summary.csv", list(summary.columns), summary.itertuples(index=False)
    )
    meta = {
        "scan_id": scan_id,
        "scanner_version": version(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "interrupted": False,
        "as_of": options.as_of.isoformat(),
        "input": str(options.input),
        "options": {
            "timeout": options.timeout,
            "concurrency": options.concurrency,
            "expiry_warn_days": options.warn_days,
            "aia": options.aia,
            "aia_timeout": options.aia_timeout,
            "nameservers": [f"{h}:{p}" for h, p in options.nameservers],
        },
        "trust_store": {"path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)},
        "counts": {
            **{k: v for k, v in asdict(counts).items() if k != "internal_errors"},
            "certificates": writer.certificates.count,
            "findings_rows": writer.findings.count,
        },
        "internal_errors": counts.internal_errors,
    }
    storage.write_json_atomic(options.out / "scan.json", meta)
    return ScanReport(out=options.out, scan_id=scan_id, counts=counts, summary=summary, meta=meta)

