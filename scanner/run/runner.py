"""A whole scan as a library call: input file -> output folder. The CLI and the demo call it;
it prints nothing (progress goes to a callback).

Output is checkpointed as hosts finish (`parts`), so a scan stopped by a signal writes its
tables for what completed, and a killed one can be resumed with nothing lost or doubled. The
state at the start and the resume check are in `resume`, the async driver in `driver`, the
end-of-scan tables and scan.json in `report`.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import anyio

from scanner.analysis.counts import CountFold
from scanner.errors import OutputError, ResourceError, ScannerError
from scanner.net.classify import exhausted
from scanner.run.driver import SIGNALS, LateSignals, Writer, drive, make_resolver
from scanner.run.limits import ensure_descriptors
from scanner.run.options import NotifyFn, ProgressFn, ScanOptions
from scanner.run.pipeline import resource_message
from scanner.run.report import WORST_HOSTS, ScanReport, finish, input_warnings, version
from scanner.run.resume import prepare
from scanner.store import parts
from scanner.store.heap import release_free_memory
from scanner.store.location import Location

__all__ = [
    "WORST_HOSTS",
    "ScanReport",
    "environment_error",
    "make_resolver",
    "run_scan",
    "version",
]


def run_scan(
    options: ScanOptions, progress: ProgressFn | None = None, notify: NotifyFn | None = None
) -> ScanReport:
    """Scan the input into the output folder. Raises a ScannerError (InputError,
    TrustStoreError, OutputError, UsageError) before writing anything when the input, the trust
    store or the output folder cannot be used. `progress` is called as hosts finish and every
    PROGRESS_TICK seconds; `notify` at once with what a first signal does."""
    ensure_descriptors(options.concurrency, aia=options.aia, revocation=options.revocation)
    ready = prepare(options)
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
    writer = Writer(
        parts=part_writer,
        total=ready.total,
        progress=progress,
        # what earlier runs recorded: their targets, and their failed rows (as errors)
        counts=CountFold(targets=len(recovered.lines), rows=recovered.failed),
    )
    writer.report()
    late = LateSignals(notify)
    try:
        expected = ready.total - len(recovered.lines)
        completed = anyio.run(
            drive,
            options,
            ready.config,
            recovered.lines,
            writer,
            ready.dedupe,
            notify,
            expected,
            late,
        )
        part_writer.checkpoint()
        _release_free_memory()
        table_rows = parts.merge(out, ready.header.extra_names, ciphers=options.ciphers)
        _release_free_memory()
        return finish(
            options,
            ready.state,
            ready.config,
            ready.dedupe,
            table_rows,
            interrupted=not completed,
            warnings=input_warnings(options, ready.total, ready.dedupe),
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


def _release_free_memory() -> None:
    """Between the scan and the end-of-scan work, so that the latter's peak does not stack on
    what the scan freed but malloc kept (issue 17)."""
    release_free_memory(collect=True)


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
