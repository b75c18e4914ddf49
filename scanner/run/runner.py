"""A whole scan as a library call: input file -> output folder. The CLI and the demo call it;
it prints nothing (progress goes to a callback).

Output is checkpointed as hosts finish (`parts`), so a scan stopped by a signal writes its
tables for what completed, and a killed one can be resumed with nothing lost or doubled.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pandas as pd
from anyio.streams.memory import MemoryObjectReceiveStream

from scanner.analysis.summary import SUMMARY_INPUT_COLUMNS, combine, summarise, worst_hosts
from scanner.errors import InputError, OutputError, UsageError
from scanner.inputs.targets import Header
from scanner.model.types import ScanFailed, ScanResult
from scanner.net.resolve import DnsResolver, Resolver, SystemResolver
from scanner.run.options import ProgressFn, ScanOptions
from scanner.run.pipeline import ScanConfig, scan_stream
from scanner.store import files, parts
from scanner.store.trust import load_trust
from scanner.x509.certs import TrustStore

WORST_HOSTS = 40
# Results waiting for the writer; when full, workers wait (the disk sets the pace).
RESULT_BUFFER = 1024


@dataclass(slots=True, kw_only=True)
class ScanReport:
    out: Path
    scan_id: str
    interrupted: bool
    summary: pd.DataFrame
    worst: pd.DataFrame | None = None  # the worst hosts, for the printed report
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.meta["counts"])


def version() -> str:
    try:
        return metadata.version("tls-fleet-scanner")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def make_resolver(nameservers: tuple[tuple[str, int], ...]) -> Resolver:
    return DnsResolver(nameservers) if nameservers else SystemResolver()


def _options_record(o: ScanOptions) -> dict[str, Any]:
    return {
        "timeout": o.timeout,
        "concurrency": o.concurrency,
        "expiry_warn_days": o.warn_days,
        "aia": o.aia,
        "aia_timeout": o.aia_timeout,
        "nameservers": [f"{h}:{p}" for h, p in o.nameservers],
        "per_ip": o.per_ip,
        "shard": str(o.shard),
        "ca_bundle": str(o.ca_bundle) if o.ca_bundle else None,
    }


def _check_resumable(state: dict[str, Any], options: ScanOptions, input_sha256: str) -> None:
    """A resumed scan must scan the same input the same way, or its tables would mix two."""
    if state.get("input_sha256") != input_sha256:
        raise UsageError(
            f"cannot resume {options.out}: the input file changed since that scan started"
        )
    before = state.get("options", {})
    now = _options_record(options)
    for key in ("shard", "expiry_warn_days", "aia"):
        if before.get(key) != now[key]:
            raise UsageError(
                f"cannot resume {options.out}: --{key.replace('_', '-')} was {before.get(key)!r}"
                f", now {now[key]!r}"
            )
    if state.get("as_of") != options.as_of.isoformat():
        raise UsageError(
            f"cannot resume {options.out}: it was scanned --as-of {state.get('as_of')}; pass "
            "the same --as-of to resume"
        )


async def _watch_signals(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    """First SIGINT/SIGTERM: start no new host, let in-flight ones finish. Second: abandon them
    (they are scanned again on --resume)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                scope.cancel()
                return
            stop.set()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    """What is known before the first connection: the input read once, the trust store, the
    output folder ready and its state (new, or the one being resumed)."""

    header: Header
    total: int  # targets of this shard, duplicates dropped
    duplicates: int
    trust: TrustStore
    state: dict[str, Any]


def _prepare(options: ScanOptions) -> _Prepared:
    """Raises a ScannerError before anything is written when the input, the trust store or
    the output folder cannot be used, or a resume would mix two different scans."""
    if options.as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    try:
        header, total, duplicates = files.inspect_input(options.input, options.shard)
        input_sha256 = files.file_sha256(options.input)
    except InputError as e:
        raise type(e)(f"{options.input}: {e}") from None
    trust = load_trust(options.ca_bundle)
    state = files.prepare_output(options.out, overwrite=options.overwrite, resume=options.resume)
    if state is not None:
        _check_resumable(state, options, input_sha256)
    else:
        state = {
            "scan_id": str(uuid.uuid4()),
            "started": dt.datetime.now(dt.UTC).isoformat(),
            "input": str(options.input),
            "input_sha256": input_sha256,
            "as_of": options.as_of.isoformat(),
            "options": _options_record(options),
        }
        files.write_json_atomic(options.out / files.STATE_FILE, state)
    return _Prepared(header=header, total=total, duplicates=duplicates, trust=trust, state=state)


def _config(options: ScanOptions, trust: TrustStore) -> ScanConfig:
    return ScanConfig(
        trust=trust,
        as_of=options.as_of,
        timeout=options.timeout,
        concurrency=options.concurrency,
        warn_days=options.warn_days,
        aia=options.aia,
        aia_timeout=options.aia_timeout,
        per_ip=options.per_ip,
    )


@dataclass(slots=True, kw_only=True)
class _Writer:
    """The one writer task: buffers rows as results arrive, checkpoints in a worker thread,
    and reports progress."""

    parts: parts.PartWriter
    total: int
    progress: ProgressFn | None
    done: int = 0
    failed: int = 0

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.failed)

    async def run(self, results: MemoryObjectReceiveStream[ScanResult]) -> None:
        async with results:
            async for result in results:
                self.done += 1
                self.failed += isinstance(result, ScanFailed)
                self.parts.add(result, dt.datetime.now(dt.UTC))
                self.report()
                if self.parts.due:
                    await anyio.to_thread.run_sync(self.parts.checkpoint)


async def _scan(options: ScanOptions, config: ScanConfig, skip: set[int], writer: _Writer) -> bool:
    """Scan the input but the lines in `skip`; False when a signal stopped it early."""
    stop = anyio.Event()
    completed = False
    async with anyio.create_task_group() as tg:
        if threading.current_thread() is threading.main_thread():
            tg.start_soon(_watch_signals, stop, tg.cancel_scope)
        send, receive = anyio.create_memory_object_stream[ScanResult](RESULT_BUFFER)
        async with anyio.create_task_group() as scan:
            scan.start_soon(writer.run, receive)
            async with send:
                completed = await scan_stream(
                    files.iter_input(options.input, options.shard, skip),
                    config,
                    send.send,
                    resolver=make_resolver(options.nameservers),
                    stop=stop,
                )
        tg.cancel_scope.cancel()
    return completed


def run_scan(options: ScanOptions, progress: ProgressFn | None = None) -> ScanReport:
    """Scan the input into the output folder. Raises a ScannerError (InputError,
    TrustStoreError, OutputError, UsageError) before writing anything when the input, the trust
    store or the output folder cannot be used."""
    ready = _prepare(options)
    recovered = parts.recover(options.out)
    part_writer = parts.PartWriter(
        options.out,
        ready.header.extra_names,
        rows=options.checkpoint_rows,
        seconds=options.checkpoint_seconds,
        recovered=recovered,
    )
    writer = _Writer(
        parts=part_writer, total=ready.total, progress=progress, done=len(recovered.lines)
    )
    writer.report()
    config = _config(options, ready.trust)
    try:
        completed = anyio.run(_scan, options, config, recovered.lines, writer)
        part_writer.checkpoint()
        table_rows = parts.merge(options.out, ready.header.extra_names)
        return _finish(
            options,
            ready.state,
            ready.trust,
            ready.duplicates,
            table_rows,
            interrupted=not completed,
        )
    except* OSError as group:  # disk full, folder removed under us: the environment, not a host
        first = group.exceptions[0]
        reason = getattr(first, "strerror", None) or first
        raise OutputError(
            f"writing to {options.out} failed: {reason}; --resume continues from the last "
            "checkpoint"
        ) from None


def _finish(
    options: ScanOptions,
    state: dict[str, Any],
    trust: TrustStore,
    duplicates: int,
    table_rows: dict[str, int],
    *,
    interrupted: bool,
) -> ScanReport:
    out = options.out
    slices, worst = [], []
    for batch in files.iter_table_pandas(out / "hosts.parquet", SUMMARY_INPUT_COLUMNS):
        slices.append(summarise(batch))
        worst.append(worst_hosts(batch, WORST_HOSTS))
    summary = combine(slices)
    top = worst_hosts(pd.concat(worst, ignore_index=True), WORST_HOSTS) if worst else None
    files.parquet_to_csv(out / "hosts.parquet", out / "hosts.csv")
    files.write_csv_atomic(
        out / "summary.csv", list(summary.columns), summary.itertuples(index=False)
    )

    def counted(kind: str) -> dict[str, int]:
        rows = summary[(summary["kind"] == kind) & (summary["hosts"] > 0)]
        return {str(r.name): int(r.hosts) for r in rows.itertuples(index=False)}

    status = counted("status")
    errors = counted("error")
    meta = {
        "scan_id": state["scan_id"],
        "scanner_version": version(),
        "started": state["started"],
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "interrupted": interrupted,
        "as_of": options.as_of.isoformat(),
        "input": str(options.input),
        "input_sha256": state["input_sha256"],
        "options": _options_record(options),
        "trust_store": {"path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)},
        "counts": {
            "targets": sum(status.values()),
            "ok": status.get("ok", 0),
            "errors": errors,
            "findings": counted("finding"),
            "severities": counted("severity"),
            "duplicates": duplicates,
            "certificates": table_rows["certificates"],
            "findings_rows": table_rows["findings"],
        },
        "internal_errors": errors.get("internal", 0),
    }
    files.write_json_atomic(out / "scan.json", meta)
    return ScanReport(
        out=out,
        scan_id=state["scan_id"],
        interrupted=interrupted,
        summary=summary,
        worst=top,
        meta=meta,
    )
