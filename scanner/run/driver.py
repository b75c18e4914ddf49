"""The async driver of a scan: workers (`scan_stream`) feeding one writer task that checkpoints
as hosts finish, progress on a clock, and SIGINT/SIGTERM turned into a graceful stop (and, once
every host is done, into nothing worse than a message)."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream

from scanner.analysis.counts import CountFold
from scanner.errors import InputError
from scanner.inputs.targets import Deduper
from scanner.model.types import ScanFailed, ScanResult
from scanner.net.resolve import DnsResolver, Resolver, SystemResolver
from scanner.run.options import NotifyFn, ProgressFn, ScanOptions
from scanner.run.pipeline import ScanConfig, scan_stream
from scanner.store import files, parts

PROGRESS_TICK = 1.0  # seconds between progress calls while no host finishes
Emitted = ScanResult | tuple[ScanResult, ...]  # one result, or the results of a target's addresses
# Results waiting for the writer; when full, workers wait (the disk sets the pace).
RESULT_BUFFER = 1024
# The writer drains the buffer this often instead of waiting on it: a task woken per result
# costs the event loop an extra turn per host, and with hundreds of handshakes in flight those
# turns, each with few sockets ready, cost more CPU than the handshakes they interleave.
WRITER_TICK = 0.05


def make_resolver(nameservers: tuple[tuple[str, int], ...]) -> Resolver:
    return DnsResolver(nameservers) if nameservers else SystemResolver()


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


class LateSignals:
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


@dataclass(slots=True, kw_only=True)
class Writer:
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


async def drive(
    options: ScanOptions,
    config: ScanConfig,
    skip: Container[int],
    writer: Writer,
    dedupe: Deduper,
    notify: NotifyFn | None = None,
    expected: int = 0,
    late: LateSignals | None = None,
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
