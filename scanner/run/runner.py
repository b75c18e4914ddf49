"""A whole scan as a library call: input file -> output folder. The CLI and the demo call it;
it prints nothing (progress goes to a callback).

Output is checkpointed as hosts finish (`parts`), so a scan stopped by a signal writes its
tables for what completed, and a killed one can be resumed with nothing lost or doubled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream

from scanner.analysis.counts import CountFold
from scanner.errors import InputError, OutputError, ResourceError, ScannerError, UsageError
from scanner.inputs.targets import Deduper, Header
from scanner.model.types import DEFAULT_STORE, ScanFailed, ScanResult
from scanner.net.classify import exhausted
from scanner.net.resolve import DnsResolver, Resolver, SystemResolver
from scanner.run.limits import ensure_descriptors
from scanner.run.options import NotifyFn, ProgressFn, ScanOptions
from scanner.run.pipeline import ScanConfig, resource_message, scan_stream
from scanner.store import files, parts
from scanner.store.crlfiles import load_crl_files
from scanner.store.heap import release_free_memory
from scanner.store.location import Location
from scanner.store.trust import describe, load_named, load_trust
from scanner.x509.certs import TrustStore
from scanner.x509.revocation import Crl
from scanner.x509.stores import NamedStore

if TYPE_CHECKING:
    import pandas as pd

WORST_HOSTS = 40
PROGRESS_TICK = 1.0  # seconds between progress calls while no host finishes
Emitted = ScanResult | tuple[ScanResult, ...]  # one result, or the results of a target's addresses
# Results waiting for the writer; when full, workers wait (the disk sets the pace).
RESULT_BUFFER = 1024
# The writer drains the buffer this often instead of waiting on it: a task woken per result
# costs the event loop an extra turn per host, and with hundreds of handshakes in flight those
# turns, each with few sockets ready, cost more CPU than the handshakes they interleave.
WRITER_TICK = 0.05


@dataclass(slots=True, kw_only=True)
class ScanReport:
    out: Path | str
    scan_id: str
    interrupted: bool
    summary: pd.DataFrame
    worst: pd.DataFrame | None = None  # the worst hosts, for the printed report
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # for stderr: duplicates, no targets, the clock check

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


def _input_name(path: Path | str) -> str:
    """The input as scan.json records it: an absolute path, or the URL as given."""
    return str(path.resolve()) if isinstance(path, Path) else path


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
        "ca_bundle": str(o.ca_bundle.resolve()) if o.ca_bundle else None,
        "encoding": o.encoding,
        "protocols": o.protocols,
        "trust_stores": {name: str(path.resolve()) for name, path in o.trust_stores},
        "revocation": o.revocation,
        "crl": [str(p.resolve()) for p in o.crl_files],
        "crl_max_bytes": o.crl_max_bytes,
        "allow_private_fetch": o.allow_private_fetch,
        "addresses": o.addresses.value,
        "starttls": o.starttls,
    }


# Options recorded in the state that a resume may change: they change how fast or through
# which resolver hosts are reached, never a verdict. Every other key of `_resume_record` (and so
# every option added to `_options_record`) must be equal, or the tables would mix two scans.
RESUME_MAY_CHANGE = frozenset(
    {"timeout", "concurrency", "aia_timeout", "nameservers", "per_ip", "ca_bundle", "trust_stores"}
)
# How a refused key is named to the user, when it is not `--` + the key with dashes.
_OPTION_NAMES = {
    "aia": "--aia/--no-aia",
    "trust_store_sha256": "--ca-bundle (the trust store's contents, by SHA-256)",
    "trust_stores_sha256": "--trust-store (each store's name and contents, by SHA-256)",
}


def _resume_record(
    o: ScanOptions, trust: TrustStore, stores: tuple[NamedStore, ...] = ()
) -> dict[str, Any]:
    """The options as recorded in the state at scan start, with what else decides a verdict:
    the as-of instant and the trust stores' contents."""
    record = {
        **_options_record(o),
        "as_of": o.as_of.isoformat(),
        "trust_store_sha256": trust.sha256,
    }
    if stores:  # (absent without --trust-store, as in scans from before the option)
        record["trust_stores_sha256"] = {s.name: s.trust.sha256 for s in stores}
    return record


def scan_group(input_sha256: str, record: dict[str, Any]) -> str:
    """The identity the `--shard K/N` runs of one scan share: the input's SHA-256, the shard
    count and every verdict-changing option but as-of (shards started without --as-of each
    judge at their own start; `scanner.load` bounds how far apart those may be)."""
    shard = str(record.get("shard", "1/1"))
    skip = RESUME_MAY_CHANGE | {"shard", "as_of"}
    ident = {k: v for k, v in record.items() if k not in skip}
    ident.update(input_sha256=input_sha256, shards=shard.partition("/")[2])
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _check_resumable(
    state: dict[str, Any],
    options: ScanOptions,
    input_sha256: str,
    trust: TrustStore,
    stores: tuple[NamedStore, ...] = (),
) -> None:
    """A resumed scan must scan the same input the same way, or its tables would mix two."""
    if state.get("input_sha256") != input_sha256:
        raise UsageError(
            f"cannot resume {options.out}: the input file changed since that scan started"
        )
    before = {**state.get("options", {}), "as_of": state.get("as_of")}
    now = _resume_record(options, trust, stores)
    for key in sorted(now.keys() | before.keys()):
        if key in RESUME_MAY_CHANGE or before.get(key) == now.get(key):
            continue
        name = _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
        raise UsageError(
            f"cannot resume {options.out}: {name} was {before.get(key)!r}, now "
            f"{now.get(key)!r}; resume with the same value (or start again with --overwrite)"
        )


SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _watch_signals(
    stop: anyio.Event,
    scope: anyio.CancelScope,
    on_first: Callable[[int], None],
    on_second: Callable[[], None],
) -> None:
    """First SIGINT/SIGTERM: start no new host, let in-flight ones finish. Second: abandon them
    (they are scanned again on --resume)."""
    with anyio.open_signal_receiver(*SIGNALS) as signals:
        async for signum in signals:
            if stop.is_set():
                on_second()
                scope.cancel()
                return
            stop.set()
            on_first(signum)


def interrupt_message(
    in_flight: Mapping[int, float], timeout: float, now: float, signum: int = signal.SIGINT
) -> str:
    """What a first Ctrl-C (or SIGTERM, `signum`) does, said at once: the hosts still in flight
    (started at the monotonic instants in `in_flight`), how long they may take, and how to
    abandon them."""
    if not in_flight:
        return "interrupted: no new host is started; writing the tables"
    ages = [now - t for t in in_flight.values()]
    # The host started last ends last: at most --timeout after it started.
    wait = max(0.0, timeout - min(ages))
    again = (
        "Press Ctrl-C again" if signum == signal.SIGINT else "Send SIGTERM again (or press Ctrl-C)"
    )
    return (
        f"interrupted: no new host is started; waiting for {len(ages)} host(s) in flight "
        f"(the longest running for {max(ages):.1f} s) to finish within {wait:.0f} s "
        f"(--timeout), then writing the tables. {again} to abandon them now "
        "(--resume scans them again)."
    )


ABANDONED_SHOWN = 5


def abandon_message(hosts: Sequence[str]) -> str:
    """What a second signal did: which hosts in flight were abandoned."""
    if not hosts:
        return "interrupted again: no host was in flight; writing the tables"
    shown = ", ".join(hosts[:ABANDONED_SHOWN])
    more = len(hosts) - ABANDONED_SHOWN
    return (
        f"interrupted again: abandoned {len(hosts)} host(s) in flight ({shown}"
        f"{f' and {more} more' if more > 0 else ''}); writing the tables of what completed "
        "(--resume scans them again)"
    )


class _LateSignals:
    """SIGINT/SIGTERM after the last host, while the tables are written: the scan is complete,
    so it finishes and ends normally instead of dying with the tables written and scan.json
    saying it was not interrupted. Said at once; installed only in the main thread."""

    def __init__(self, notify: NotifyFn | None) -> None:
        self.notify = notify
        self.completed = True  # every host scanned (else stopped by a signal)
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in SIGNALS:
            self.previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        if self.notify is None:
            return
        name = signal.Signals(signum).name
        if self.completed:
            self.notify(
                f"{name}: every host is done; the tables are being written and the scan ends "
                "normally in a moment"
            )
        else:
            self.notify(
                f"{name}: already stopping; writing the tables of what completed (scan.json "
                "records the scan as interrupted)"
            )


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
    if dedupe.differing:
        differ = [f"{d.line} (kept line {d.kept})" for d in dedupe.dropped if d.carried_differ][:10]
        notes.append(
            f"{options.input}: {dedupe.differing} dropped duplicate row(s) had other values in "
            f"the carried columns than the row kept, and those values are lost: line "
            f"{', '.join(differ)}"
        )
    if skipped := dedupe.skipped.warning(options.input):
        notes.append(skipped)
    return notes


@dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    """What is known before the first connection: the input read once, the trust store, the
    output folder ready and its state (new, or the one being resumed)."""

    options: ScanOptions  # as given, but a resume without --as-of judges at the recorded as-of
    header: Header
    total: int  # targets of this shard, duplicates dropped
    dedupe: Deduper  # the duplicates dropped
    trust: TrustStore
    crls: tuple[Crl, ...]  # --crl files, parsed
    state: dict[str, Any]
    stores: tuple[NamedStore, ...] = ()  # --trust-store, each loaded once


def _prepare(options: ScanOptions) -> _Prepared:
    """Raises a ScannerError before anything is written when the input, the trust store or
    the output folder cannot be used, or a resume would mix two different scans."""
    if options.as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    try:
        header, total, dedupe = files.inspect_input(options.input, options.shard, options.encoding)
        input_sha256 = files.file_sha256(options.input)
    except InputError as e:
        raise type(e)(f"{options.input}: {e}") from None
    trust = load_trust(options.ca_bundle)
    stores = load_named(options.trust_stores)
    crls = load_crl_files(options.crl_files) if options.revocation else ()
    out = Location.of(options.out)
    state = files.prepare_output(
        out, overwrite=options.overwrite, resume=options.resume, input=options.input
    )
    if state is not None:
        if not options.as_of_given and state.get("as_of"):
            options = replace(options, as_of=dt.datetime.fromisoformat(state["as_of"]))
        _check_resumable(state, options, input_sha256, trust, stores)
    else:
        record = _resume_record(options, trust, stores)
        state = {
            "scan_id": str(uuid.uuid4()),
            "scan_group": scan_group(input_sha256, record),
            "started": dt.datetime.now(dt.UTC).isoformat(),
            "input": _input_name(options.input),
            "input_sha256": input_sha256,
            "as_of": options.as_of.isoformat(),
            "options": {k: v for k, v in record.items() if k != "as_of"},
        }
        files.write_json_atomic(out / files.STATE_FILE, state)
    return _Prepared(
        options=options,
        header=header,
        total=total,
        dedupe=dedupe,
        trust=trust,
        crls=crls,
        state=state,
        stores=stores,
    )


def _config(
    options: ScanOptions,
    trust: TrustStore,
    stores: tuple[NamedStore, ...],
    crls: tuple[Crl, ...],
) -> ScanConfig:
    return ScanConfig(
        trust=trust,
        as_of=options.as_of,
        timeout=options.timeout,
        concurrency=options.concurrency,
        warn_days=options.warn_days,
        aia=options.aia,
        aia_timeout=options.aia_timeout,
        per_ip=options.per_ip,
        protocols=options.protocols,
        stores=stores,
        revocation=options.revocation,
        crl_files=crls,
        crl_max_bytes=options.crl_max_bytes,
        allow_private_fetch=options.allow_private_fetch,
        addresses=options.addresses,
        starttls=options.starttls,
    )


@dataclass(slots=True, kw_only=True)
class _Writer:
    """The one writer task: buffers rows as results arrive, checkpoints in a worker thread,
    and reports progress."""

    parts: parts.PartWriter
    total: int
    progress: ProgressFn | None
    counts: CountFold = field(default_factory=CountFold)  # targets done, rows, ok

    async def tick(self) -> None:
        """On the clock, not only when a host finishes: a stalled scan still says where it is."""
        while True:
            await anyio.sleep(PROGRESS_TICK)
            self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.counts.targets, self.total, self.counts.errors)

    async def run(self, results: MemoryObjectReceiveStream[Emitted]) -> None:
        """Drains the results every WRITER_TICK. The rows of one target's addresses arrive
        together and land in one checkpoint."""
        async with results:
            while True:
                try:
                    item = results.receive_nowait()
                except anyio.WouldBlock:
                    self.report()
                    if self.parts.due:  # on the clock: a stalled scan still checkpoints
                        await anyio.to_thread.run_sync(self.parts.checkpoint)
                    await anyio.sleep(WRITER_TICK)
                    continue
                except anyio.EndOfStream:
                    self.report()
                    return
                group = item if isinstance(item, tuple) else (item,)
                self.counts.add_target(
                    ["error" if isinstance(r, ScanFailed) else "ok" for r in group]
                )
                for result in group:
                    self.parts.add(result, dt.datetime.now(dt.UTC))
                if self.parts.due:
                    self.report()
                    await anyio.to_thread.run_sync(self.parts.checkpoint)


def _second_pass(
    options: ScanOptions, skip: Container[int], expected: int, dedupe: Deduper
) -> Iterator[Any]:
    """The input read again as the scan goes. A file that vanishes, stops being readable or
    holds other rows than the first pass counted is the environment's failure, named as such
    (never "writing to OUT failed")."""
    again = "it changed or vanished since it was first read; --resume continues once it is back"
    read = 0
    try:
        replay = dedupe.replay()
        for item in files.iter_input(options.input, options.shard, skip, options.encoding, replay):
            read += 1
            yield item
    except InputError as e:
        raise InputError(f"{options.input}: {e} ({again})") from None
    except OSError as e:
        raise InputError(
            f"{options.input}: reading it failed: {e.strerror or e} ({again})"
        ) from None
    if read != expected:
        raise InputError(
            f"{options.input}: {read} targets left to scan on the second reading, {expected} on "
            f"the first ({again})"
        )


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in _leaves(sub)]
    return [error]


def environment_error(error: BaseException, out: Path | str | None = None) -> ScannerError | None:
    """What stopped a scan's task groups, as the one ScannerError to report: the library's own
    error if one is inside, this machine running out of descriptors or memory, else an
    OSError (disk full, folder removed) as the failure of the output `out`. None for anything
    else (a bug: it keeps its traceback)."""
    leaves = _leaves(error)
    for leaf in leaves:
        if isinstance(leaf, ScannerError):
            return leaf
    for leaf in leaves:
        if (cause := exhausted(leaf)) is not None:
            return ResourceError(resource_message(cause))
    for leaf in leaves:
        if isinstance(leaf, OSError) and out is not None:
            reason = leaf.strerror or leaf
            return OutputError(
                f"writing to {out} failed: {reason}; --resume continues from the last checkpoint"
            )
    return None


async def _scan(
    options: ScanOptions,
    config: ScanConfig,
    skip: Container[int],
    writer: _Writer,
    dedupe: Deduper,
    notify: NotifyFn | None = None,
    expected: int = 0,
    late: _LateSignals | None = None,
) -> bool:
    """Scan the input but the lines in `skip` (`expected` targets left); False when a signal
    stopped it early."""
    stop = anyio.Event()
    completed = False
    in_flight: dict[int, float] = {}  # worker -> when its host started (monotonic)
    hosts: dict[int, str] = {}  # worker -> its host

    def interrupted(signum: int) -> None:
        if notify is not None:
            notify(interrupt_message(in_flight, options.timeout, time.monotonic(), signum))

    def abandoned() -> None:
        if notify is not None:
            notify(abandon_message([hosts[w] for w in sorted(in_flight) if w in hosts]))

    watching = late is not None and threading.current_thread() is threading.main_thread()
    async with anyio.create_task_group() as tg:
        if watching:
            tg.start_soon(_watch_signals, stop, tg.cancel_scope, interrupted, abandoned)
        if writer.progress is not None:
            tg.start_soon(writer.tick)
        send, receive = anyio.create_memory_object_stream[Emitted](RESULT_BUFFER)

        async def emit(item: Emitted) -> None:
            try:  # no checkpoint while the buffer has room: a worker goes on at once
                send.send_nowait(item)
            except anyio.WouldBlock:  # full: wait for the writer (the disk sets the pace)
                await send.send(item)

        async with anyio.create_task_group() as scan:
            scan.start_soon(writer.run, receive)
            async with send:
                completed = await scan_stream(
                    _second_pass(options, skip, expected, dedupe),
                    config,
                    emit,
                    resolver=make_resolver(options.nameservers),
                    stop=stop,
                    in_flight=in_flight,
                    in_flight_hosts=hosts,
                    on_group=emit,
                )
        if watching:  # a signal from here on waits for the late handler (no default death)
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        tg.cancel_scope.cancel()
    if watching and late is not None:
        late.completed = completed
        late.install()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    return completed


def run_scan(
    options: ScanOptions, progress: ProgressFn | None = None, notify: NotifyFn | None = None
) -> ScanReport:
    """Scan the input into the output folder. Raises a ScannerError (InputError,
    TrustStoreError, OutputError, UsageError) before writing anything when the input, the trust
    store or the output folder cannot be used. `progress` is called as hosts finish and every
    PROGRESS_TICK seconds; `notify` at once with what a first signal does."""
    ensure_descriptors(options.concurrency, aia=options.aia, revocation=options.revocation)
    ready = _prepare(options)
    options = ready.options
    out = Location.of(options.out)
    recovered = parts.recover(out)
    part_writer = parts.PartWriter(
        out,
        ready.header.extra_names,
        rows=options.checkpoint_rows,
        seconds=options.checkpoint_seconds,
        recovered=recovered,
    )
    writer = _Writer(
        parts=part_writer,
        total=ready.total,
        progress=progress,
        # what earlier runs recorded: their targets, and their failed rows (as errors)
        counts=CountFold(targets=len(recovered.lines), rows=recovered.failed),
    )
    writer.report()
    config = _config(options, ready.trust, ready.stores, ready.crls)
    late = _LateSignals(notify)
    try:
        expected = ready.total - len(recovered.lines)
        completed = anyio.run(
            _scan, options, config, recovered.lines, writer, ready.dedupe, notify, expected, late
        )
        part_writer.checkpoint()
        _release_free_memory()
        table_rows = parts.merge(out, ready.header.extra_names)
        _release_free_memory()
        return _finish(
            options,
            ready.state,
            ready.trust,
            ready.dedupe,
            table_rows,
            interrupted=not completed,
            warnings=input_warnings(options, ready.total, ready.dedupe),
            stores=ready.stores,
        )
    except (OSError, ScannerError, BaseExceptionGroup) as e:
        # disk full, folder removed, the input gone: the environment, never a host
        error = environment_error(e, options.out)
        if error is None:
            raise
        raise error from None
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            late.restore()


def _store_record(name: str, trust: TrustStore) -> dict[str, object]:
    """A trust store as scan.json records it, its path absolute like every other path."""
    return {**describe(name, trust), "path": str(Path(trust.path).resolve())}


def _internal_fetch_errors(out: Location) -> int:
    """Findings whose message holds an internal error caught in an AIA, CRL or OCSP fetch."""
    from scanner.net.fetch import INTERNAL_ERROR

    return files.count_containing(out / "findings.parquet", "message", INTERNAL_ERROR)


def _release_free_memory() -> None:
    """Between the scan and the end-of-scan work, so that the latter's peak does not stack on
    what the scan freed but malloc kept (issue 17)."""
    release_free_memory(collect=True)


def _finish(
    options: ScanOptions,
    state: dict[str, Any],
    trust: TrustStore,
    dedupe: Deduper,
    table_rows: dict[str, int],
    *,
    interrupted: bool,
    warnings: list[str],
    stores: tuple[NamedStore, ...] = (),
) -> ScanReport:
    import pandas as pd

    from scanner.analysis.addresses import NAME_COLUMNS, NameCounts
    from scanner.analysis.summary import (
        SKEW_INPUT_COLUMNS,
        SUMMARY_INPUT_COLUMNS,
        SkewCounts,
        combine,
        skew_counts,
        skew_message,
        summarise,
        worst_hosts,
    )

    out = Location.of(options.out)
    slices, worst = [], []
    skew = SkewCounts()
    columns = dict.fromkeys((*SUMMARY_INPUT_COLUMNS, *SKEW_INPUT_COLUMNS))
    names = [DEFAULT_STORE, *(s.name for s in stores)]
    for batch in files.iter_table_pandas(out / "hosts.parquet", list(columns)):
        slices.append(summarise(batch, names))
        worst.append(worst_hosts(batch, WORST_HOSTS))
        skew += skew_counts(batch)
    clock = skew_message(skew, options.as_of)
    if clock:
        warnings = [*warnings, clock]
    per_name = NameCounts()
    fold = CountFold()
    for batch in files.iter_table_pandas(out / "hosts.parquet", NAME_COLUMNS):
        per_name.add(batch)
        fold.add(batch)
    per_name.finish()
    tally = fold.result()
    summary = pd.concat([combine(slices), per_name.summary_rows()], ignore_index=True)
    top = worst_hosts(pd.concat(worst, ignore_index=True), WORST_HOSTS) if worst else None
    files.parquet_to_csv(out / "hosts.parquet", out / "hosts.csv")
    files.write_csv_atomic(
        out / "summary.csv", list(summary.columns), summary.itertuples(index=False)
    )

    def counted(kind: str) -> dict[str, int]:
        rows = summary[(summary["kind"] == kind) & (summary["hosts"] > 0)]
        return {str(r.name): int(r.hosts) for r in rows.itertuples(index=False)}

    errors = counted("error")
    meta = {
        "scan_id": state["scan_id"],
        "scan_group": state.get("scan_group"),
        "scanner_version": version(),
        "started": state["started"],
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "interrupted": interrupted,
        "as_of": options.as_of.isoformat(),
        "input": _input_name(options.input),
        "input_sha256": state["input_sha256"],
        "options": _options_record(options),
        "trust_store": {
            "path": str(Path(trust.path).resolve()),
            "sha256": trust.sha256,
            "roots": len(trust.roots),
        },
        # Every store judged (`trusted_by`), the default first, each loaded once for the scan.
        "trust_stores": [
            _store_record(DEFAULT_STORE, trust),
            *(_store_record(s.name, s.trust) for s in stores),
        ],
        "counts": {
            # scanner.analysis.counts: distinct input lines; rows, one per address; ok rows
            "targets": tally.targets,
            "rows": tally.rows,
            "ok": tally.ok,
            "errors": errors,
            "findings": counted("finding"),
            "severities": counted("severity"),
            "duplicates": dedupe.duplicates,
            "skipped_lines": dedupe.skipped.count,  # blank and `#` comment lines
            "certificates": table_rows["certificates"],
            "findings_rows": table_rows["findings"],
            "names_inconsistent_backends": per_name.inconsistent_backends,
            "names_some_addresses_down": per_name.some_addresses_down,
        },
        # Host rows with error=internal, and findings holding a fetch's internal error.
        "internal_errors": errors.get("internal", 0) + _internal_fetch_errors(out),
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
        summary=summary,
        worst=top,
        meta=meta,
        warnings=tuple(warnings),
    )
