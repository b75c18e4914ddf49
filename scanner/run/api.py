"""`scanner.scan` and `scanner.scan_async`: a fleet scanned from Python, the tables returned in
memory with the dtypes of `scanner.load`."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import functools
import inspect
import io
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Unpack

import anyio
import pyarrow as pa

from scanner.analysis.counts import scan_counts
from scanner.errors import InputError
from scanner.inputs.targets import Deduper, cell_text, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.model.timefmt import utc_iso
from scanner.model.types import DEFAULT_STORE, ScanCounts, ScanResult
from scanner.run.driver import make_resolver
from scanner.run.limits import ensure_descriptors
from scanner.run.options import ScanKeywords, api_parameters, api_settings
from scanner.run.pipeline import ScanConfig, scan_stream
from scanner.run.report import version
from scanner.run.runner import environment_error
from scanner.store import rows, tables
from scanner.store.hello_rows import cipher_rows
from scanner.store.load import (
    ScanTables,
    certificates_frame,
    ciphers_frame,
    findings_frame,
    hosts_frame,
)
from scanner.store.programs import browser_files
from scanner.store.trust import describe

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


async def scan_async(rows: Iterable[Row] | str, **options: Unpack[ScanKeywords]) -> ScanTables:
    """Scan `rows` (a host name, host names, or mappings with 'host' and optional 'port', 'ip',
    'starttls' and any carried columns) and return the tables in memory, with the dtypes of
    `load`. The options are those of `scanner scan` (scanner.run.options declares them):
    `warn_days`, `nameservers`, `crl_files` and `trust_stores` ({name: PEM path}) are
    `--expiry-warn-days`, `--nameserver`, `--crl` and `--trust-store`.

    Rows are parsed exactly like an input CSV; options take what the CLI takes: `as_of` an
    aware datetime or ISO 8601 text (UTC unless an offset is given), `nameservers` "IP[:PORT]"
    strings or (ip, port) pairs. Anything else raises a ScannerError saying what was wrong.
    Nothing is written to disk; for fleets too large to hold in memory use `scanner scan`.

    Example: tables = await scanner.scan_async([{"host": "example.org", "owner": "web"}])
    """
    settings = api_settings(options)
    ensure_descriptors(
        settings["concurrency"], aia=settings["aia"], revocation=settings["revocation"]
    )
    header, items = read_targets(io.StringIO(_rows_as_csv(rows)), HOST_COLUMNS)
    config = ScanConfig.load(settings)
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
            resolver=make_resolver(settings["nameservers"]),
        )
    except BaseExceptionGroup as group:  # the machine ran out (ResourceError): raised as itself
        error = environment_error(group)
        if error is None:
            raise
        raise error from None
    trust = config.trust
    meta = {
        "scanner_version": version(),
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "input": "(python rows)",
        "trust_store": {"path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)},
        "trust_stores": [
            describe(DEFAULT_STORE, trust),
            *(describe(s.name, s.trust) for s in config.stores),
        ],
        **browser_files(
            settings["root_programs"], settings["ct_logs"], config.programs, config.log_list
        ),
    }
    return from_results(
        results,
        as_of=config.as_of,
        extra_names=header.extra_names,
        duplicates=dedupe.duplicates,
        meta=meta,
        ciphers=config.ciphers,
    )


def from_results(
    results: Iterable[tuple[ScanResult, dt.datetime]],
    *,
    as_of: dt.datetime,
    extra_names: Sequence[str] = (),
    duplicates: int = 0,
    meta: Mapping[str, Any] | None = None,
    ciphers: bool = False,
) -> ScanTables:
    """The tables of (result, scanned_at) pairs, built by the same row functions as the
    files of `scanner scan`, with the dtypes of `load`. Rows in input-line order."""
    counts = ScanCounts(duplicates=duplicates)
    host_rows: list[dict[str, Any]] = []
    finding_rows: list[dict[str, Any]] = []
    suite_rows: list[dict[str, Any]] = []
    cert_rows: dict[str, dict[str, Any]] = {}
    for result, scanned_at in sorted(results, key=lambda r: r[0].target.row):
        counts.add(result)
        host_rows.append(rows.host_row(result, extra_names, scanned_at))
        finding_rows.extend(rows.finding_rows(result))
        suite_rows.extend(cipher_rows(result))
        for info in rows.result_certificates(result):
            cert_rows.setdefault(info.sha256, rows.certificate_row(info))
    hosts_table = pa.Table.from_pylist(host_rows, schema=tables.hosts_schema(extra_names))
    hosts = hosts_frame(hosts_table)
    tally = scan_counts(hosts)  # targets are input lines, rows addresses: as scan.json says
    scan_meta = {
        **(meta or {}),
        "interrupted": False,
        "as_of": utc_iso(as_of),
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
        ciphers=ciphers_frame(pa.Table.from_pylist(suite_rows, schema=tables.CIPHERS_SCHEMA))
        if ciphers
        else None,
        meta=(scan_meta,),
    )


def scan(rows: Iterable[Row] | str, **options: Unpack[ScanKeywords]) -> ScanTables:
    """`scan_async` run to completion. In a plain script it runs its own event loop. Where an
    event loop already runs in this thread (a Jupyter notebook, async code) that loop cannot
    run the scan while it waits, so the scan runs in a worker thread with an event loop of its
    own and this call blocks until it is done (the notebook's loop waits meanwhile; an
    interrupt cancels the scan). In async code, `await scanner.scan_async(...)` instead keeps
    the loop free.

    Example: scanner.scan(["example.org", "example.net:8443"]).hosts
    """
    api_settings(options)  # a wrong option is refused before any thread or loop starts
    run = functools.partial(scan_async, rows, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(run)
    return _in_own_thread(run)


def _in_own_thread(run: Callable[[], Awaitable[ScanTables]]) -> ScanTables:
    """`run()` awaited on a new event loop in a worker thread, this thread blocked until it
    ends. An interrupt while it waits (KeyboardInterrupt in Jupyter; under `asyncio.run` the
    calling task being cancelled) cancels the scan, waits for it to unwind, and is raised."""
    started, finished = threading.Event(), threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[ScanTables]]] = []
    outcome: list[ScanTables] = []
    failure: list[BaseException] = []

    async def main() -> ScanTables:
        task = asyncio.current_task()
        assert task is not None
        running.append((asyncio.get_running_loop(), task))
        started.set()
        return await run()

    def work() -> None:
        try:
            outcome.append(asyncio.run(main()))
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)
        finally:
            started.set()
            finished.set()

    # Waits on events, not Thread.join: a join interrupted by KeyboardInterrupt can mark a
    # running thread stopped (Python 3.11), and a later join then returns at once.
    worker = threading.Thread(target=work, name="scanner.scan", daemon=True)
    worker.start()
    caller = asyncio.current_task()
    try:
        while not finished.wait(0.25):
            if caller is not None and caller.cancelling():  # asyncio.run's answer to Ctrl-C
                raise asyncio.CancelledError
    except BaseException:
        started.wait()
        for loop, task in running:
            with contextlib.suppress(RuntimeError):  # the loop already closed: nothing to stop
                loop.call_soon_threadsafe(task.cancel)
        finished.wait()
        worker.join()
        raise
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _declare(fn: Callable[..., Any]) -> None:
    """The signature IDEs and Jupyter show: `rows`, then the declared options as keyword-only
    parameters (the function itself takes `**options`)."""
    rows = next(iter(inspect.signature(fn, eval_str=True).parameters.values()))
    params = [rows, *api_parameters()]
    fn.__signature__ = inspect.Signature(params, return_annotation=ScanTables)  # type: ignore[attr-defined]


_declare(scan)
_declare(scan_async)
