"""`scanner.scan` and `scanner.scan_async`: a fleet scanned from Python, the tables returned in
memory with the dtypes of `scanner.load`."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import functools
import inspect
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa

from scanner.analysis.counts import scan_counts
from scanner.errors import EventLoopRunning, InputError, UsageError
from scanner.inputs.options import parse_as_of, parse_nameserver
from scanner.inputs.targets import Deduper, cell_text, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.model.types import DEFAULT_STORE, STARTTLS_CHOICES, Addresses, ScanCounts, ScanResult
from scanner.run.limits import ensure_descriptors
from scanner.run.pipeline import ScanConfig, scan_stream
from scanner.run.runner import environment_error, make_resolver, version
from scanner.store import rows, tables
from scanner.store.crlfiles import load_crl_files
from scanner.store.load import ScanTables, certificates_frame, findings_frame, hosts_frame
from scanner.store.trust import describe, load_named, load_trust, parse_trust_store

# --- scanning from Python -------------------------------------------------------------------

Row = str | Mapping[str, object]


def _rows_as_csv(rows: Iterable[Row] | str) -> str:
    """Rows as the text of an input CSV, so they go through the same parser as a file. A
    single string is one host (not its characters)."""
    if isinstance(rows, str):
        rows = [rows]
    elif isinstance(rows, bytes | Mapping) or not isinstance(rows, Iterable):
        raise InputError(
            f"rows: expected a host name or an iterable of host names or mappings with a "
            f"'host' key, not {type(rows).__name__}"
        )
    records: list[dict[str, str]] = []
    columns: dict[str, None] = {"host": None}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, str | Mapping):
            raise InputError(
                f"row {number}: expected a host name or a mapping with a 'host' key, not "
                f"{type(row).__name__}"
            )
        if isinstance(row, Mapping) and "host" not in row:
            raise InputError(f"row {number}: a mapping without a 'host' key")
        record = {"host": row} if isinstance(row, str) else dict(row)
        clean = {str(k): cell_text(v) for k, v in record.items()}
        records.append(clean)
        columns.update(dict.fromkeys(clean))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def _check_numbers(**values: object) -> None:
    """The numeric options, as the CLI bounds them: counts are whole numbers (at least 1, days
    at least 0), seconds positive."""
    for name, value in values.items():
        whole = name in ("concurrency", "warn_days")
        low = 0 if name == "warn_days" else 1
        if isinstance(value, bool) or not isinstance(value, int | float):
            fits = False
        elif whole:
            fits = isinstance(value, int) and value >= low
        else:
            fits = value > 0
        if not fits:
            kind = f"a whole number >= {low}" if whole else "a number of seconds > 0"
            raise UsageError(f"{name}: expected {kind}, not {value!r}")


async def scan_async(
    rows: Iterable[Row] | str,
    *,
    as_of: dt.datetime | str | None = None,
    ca_bundle: Path | str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - per host, as `scanner scan --timeout`
    concurrency: int = 100,
    warn_days: int = 30,
    aia: bool = True,
    aia_timeout: float = 5.0,
    nameservers: Sequence[str | tuple[str, int]] | str = (),
    protocols: bool = False,
    trust_stores: Mapping[str, Path | str] | None = None,
    revocation: bool = True,
    crl_files: Sequence[Path | str] = (),
    crl_max_bytes: int = 20 * 1024 * 1024,
    allow_private_fetch: bool = False,
    addresses: Addresses | str = Addresses.FIRST,
    starttls: str = "auto",
) -> ScanTables:
    """Scan `rows` (a host name, host names, or mappings with 'host' and optional 'port', 'ip',
    'starttls' and any carried columns) and return the tables in memory, with the dtypes of
    `load`. `protocols` and `trust_stores` ({name: PEM path}) are `--protocols` and
    `--trust-store`; `addresses` and `starttls` are `--addresses` and `--starttls`.

    Rows are parsed exactly like an input CSV; options take what the CLI takes: `as_of` an
    aware datetime or ISO 8601 text (UTC unless an offset is given), `nameservers` "IP[:PORT]"
    strings or (ip, port) pairs. Anything else raises a ScannerError saying what was wrong.
    Nothing is written to disk; for fleets too large to hold in memory use `scanner scan`.

    Example: tables = await scanner.scan_async([{"host": "example.org", "owner": "web"}])
    """
    _check_numbers(
        timeout=timeout, concurrency=concurrency, warn_days=warn_days, aia_timeout=aia_timeout
    )
    if not isinstance(aia, bool):
        raise UsageError(f"aia: expected True or False, not {aia!r}")
    if isinstance(as_of, dt.datetime) and as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware (or ISO 8601 text, read as UTC)")
    when = parse_as_of(as_of, now=dt.datetime.now(dt.UTC))
    if isinstance(nameservers, str):
        nameservers = [nameservers]
    servers = tuple(parse_nameserver(n) for n in nameservers)
    if starttls not in STARTTLS_CHOICES:
        raise UsageError(f"starttls {starttls!r} is not one of {', '.join(STARTTLS_CHOICES)}")
    try:
        addresses = Addresses(addresses)
    except ValueError:
        raise UsageError(f"addresses {addresses!r} is not one of first, all") from None
    ensure_descriptors(concurrency, aia=aia, revocation=revocation)
    header, items = read_targets(io.StringIO(_rows_as_csv(rows)), HOST_COLUMNS)
    trust = load_trust(Path(ca_bundle) if ca_bundle is not None else None)
    stores = load_named(
        [parse_trust_store(f"{name}={path}") for name, path in (trust_stores or {}).items()]
    )
    config = ScanConfig(
        trust=trust,
        as_of=when,
        timeout=timeout,
        concurrency=concurrency,
        warn_days=warn_days,
        aia=aia,
        aia_timeout=aia_timeout,
        protocols=protocols,
        stores=stores,
        revocation=revocation,
        crl_files=load_crl_files([Path(p) for p in crl_files]) if revocation else (),
        crl_max_bytes=crl_max_bytes,
        allow_private_fetch=allow_private_fetch,
        addresses=Addresses(addresses),
        starttls=starttls,
    )
    dedupe = Deduper()
    results: list[tuple[ScanResult, dt.datetime]] = []

    async def collect(result: ScanResult) -> None:
        results.append((result, dt.datetime.now(dt.UTC)))

    started = dt.datetime.now(dt.UTC)
    try:
        await scan_stream(
            (item for item in items if dedupe.is_new(item)),
            config,
            collect,
            resolver=make_resolver(servers),
        )
    except BaseExceptionGroup as group:  # the machine ran out (ResourceError): raised as itself
        error = environment_error(group)
        if error is None:
            raise
        raise error from None
    meta = {
        "scanner_version": version(),
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "input": "(python rows)",
        "trust_store": {"path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)},
        "trust_stores": [
            describe(DEFAULT_STORE, trust),
            *(describe(s.name, s.trust) for s in stores),
        ],
    }
    return from_results(
        results,
        as_of=when,
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
        host_rows.append(rows.host_row(result, extra_names, scanned_at))
        finding_rows.extend(rows.finding_rows(result))
        for info in rows.result_certificates(result):
            cert_rows.setdefault(info.sha256, rows.certificate_row(info))
    hosts_table = pa.Table.from_pylist(host_rows, schema=tables.hosts_schema(extra_names))
    hosts = hosts_frame(hosts_table)
    tally = scan_counts(hosts)  # targets are input lines, rows addresses: as scan.json says
    scan_meta = {
        **(meta or {}),
        "interrupted": False,
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        "counts": {
            **{k: v for k, v in asdict(counts).items() if k != "internal_errors"},
            "targets": tally.targets,
            "rows": tally.rows,
            "ok": tally.ok,
        },
        "internal_errors": counts.internal_errors,
    }
    return ScanTables(
        hosts=hosts,
        findings=findings_frame(pa.Table.from_pylist(finding_rows, schema=tables.FINDINGS_SCHEMA)),
        certificates=certificates_frame(
            pa.Table.from_pylist(list(cert_rows.values()), schema=tables.CERTIFICATES_SCHEMA)
        ),
        meta=(scan_meta,),
    )


def scan(rows: Iterable[Row] | str, **options: Any) -> ScanTables:
    """`scan_async` for plain scripts: runs its own event loop. Inside a running loop (a
    Jupyter notebook, async code) it refuses: use `await scanner.scan_async(...)` there.

    Example: scanner.scan(["example.org", "example.net:8443"]).hosts
    """
    known = set(inspect.signature(scan_async).parameters) - {"rows"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(unknown)}; scanner.scan takes {', '.join(sorted(known))}"
        )
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
