"""Dask as the engine (`scan --dask ADDRESS --shards N`): one task per shard, split by the same
stable hash as `--shard`, each the normal scan of its shard into OUT/shard-K-of-N/ on whichever
worker runs it. A shard whose worker dies is run again and resumes from its checkpoints. The
client sums the shards' progress and their reports into one.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from scanner.analysis.fold import combine_rows
from scanner.analysis.summary import worst_hosts
from scanner.errors import OutputError, ScannerError, UsageError
from scanner.inputs.targets import Shard
from scanner.run.options import ProgressFn, ScanOptions
from scanner.run.runner import WORST_HOSTS, ScanReport, run_scan
from scanner.store import files
from scanner.store.location import Location

INSTALL_HINT = "--dask needs the dask extra: pip install 'tls-fleet-scanner[dask]'"
POLL_SECONDS = 0.5
CONNECT_TIMEOUT = 5.0  # seconds to reach a --dask scheduler
ShardDone = Callable[[Shard, ScanReport], None]


def _distributed() -> Any:
    """dask.distributed, untyped (as Any), or the install hint."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


def shard_folder(out: Path | str, shard: Shard) -> Path | str:
    """OUT/shard-K-of-N: where the scan of one shard goes."""
    loc = Location.of(out) / f"shard-{shard.index}-of-{shard.count}"
    return loc.local_path if loc.local else loc.text


@dataclass(frozen=True, slots=True)
class ShardState:
    """What a shard's task last told the client through its Dask Variable: its progress, which
    attempt of the task it is (1 the first; a worker that died means another), whether this
    attempt ended in an error of its own, and how the attempt before it ended (`None`: its
    worker died; else the error it raised, which Dask retries)."""

    done: int = 0
    total: int = 0
    failed: int = 0
    attempt: int = 0  # 0: no attempt has started yet
    raised: str | None = None
    before: str | None = None

    def as_value(self) -> tuple[int, int, int, int, str | None, str | None]:
        return (self.done, self.total, self.failed, self.attempt, self.raised, self.before)

    @classmethod
    def of(cls, value: Any) -> ShardState:
        done, total, failed, attempt, raised, before = value
        return cls(int(done), int(total), int(failed), int(attempt), raised, before)


def retry_message(shard: Shard, state: ShardState, checkpointed: int = 0) -> str:
    """What the client says when a shard's task starts again (`state`, the new attempt's
    first report): why (its worker died, or the attempt raised), and that it resumes."""
    previous = state.attempt - 1
    if state.before is not None:
        why = f"attempt {previous} failed ({state.before})"
    else:
        why = f"the worker running it died (attempt {previous})"
    done = f" ({checkpointed} host(s) done before)" if checkpointed else ""
    return (
        f"shard {shard}: {why}; Dask is running it again (attempt {state.attempt}), resuming "
        f"from its checkpoints{done}"
    )


def killed_message(shard: Shard, error: BaseException) -> str:
    """A shard given up on: Dask's `KilledWorker` (its workers died once too often)."""
    return (
        f"shard {shard}: its worker died on every attempt Dask allows "
        f"({type(error).__name__}: {error})"
    )


def scan_shard(options: ScanOptions, progress_name: str) -> ScanReport:
    """The task a worker runs: the normal scan of one shard. A state file left in its folder
    is an earlier attempt of this same run (its worker died), which it resumes. It tells the
    client which attempt it is, so the client can say that a shard is being run again."""
    resume = (Location.of(options.out) / files.STATE_FILE).is_file()
    variable = _distributed().Variable(progress_name)
    previous = ShardState.of(variable.get(timeout=CONNECT_TIMEOUT))
    attempt = previous.attempt + 1
    variable.set(ShardState(attempt=attempt, before=previous.raised).as_value())
    last = 0.0

    def progress(done: int, total: int, failed: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= POLL_SECONDS or done == total:
            last = now
            variable.set(
                ShardState(done, total, failed, attempt, before=previous.raised).as_value()
            )

    try:
        return run_scan(replace(options, resume=resume, overwrite=False), progress)
    except Exception as e:  # said to the client, then Dask's retry (or the client) has it
        with suppress(Exception):
            variable.set(ShardState(attempt=attempt, raised=type(e).__name__).as_value())
        raise


def _absolute(path: Path | str) -> Path | str:
    """Workers do not share the client's working folder: local paths are made absolute (they
    must be on a filesystem every worker sees, or be URLs)."""
    return path.resolve() if isinstance(path, Path) else path


def _prepare(options: ScanOptions, shards: int) -> None:
    """The checks `scan` makes of --out, for the parent of the shard folders."""
    out = Location.of(options.out)
    if out.is_file():
        raise OutputError(f"{out} exists and is not a folder")
    present = {c.name for c in out.children()}
    if options.resume:
        mine = {f"shard-{k}-of-{shards}" for k in range(1, shards + 1)}
        other = sorted(n for n in present if n.startswith("shard-") and n not in mine)
        if other:
            raise UsageError(
                f"cannot resume {out} with --shards {shards}: it holds {', '.join(other)}"
            )
    elif present:
        shard_scans = [
            n for n in present if n.startswith("shard-") and files.is_scan_folder(out / n)
        ]
        if not shard_scans:
            raise OutputError(
                f"{out} is not empty and holds no sharded scan (no shard-K-of-N folder with a "
                "scan), so nothing in it is replaced; choose another --out"
            )
        if not options.overwrite:
            raise OutputError(
                f"{out} is not empty; pass --resume to continue its scan, --overwrite to replace "
                "it, or choose another --out"
            )
        for k in range(1, shards + 1):
            folder = Location.of(shard_folder(options.out, Shard(k, shards)))
            if folder.is_dir() and files.is_scan_folder(folder):
                files.remove_scan(folder)
                folder.rmdir()


def _check_address(address: str) -> None:
    """A scheduler address that cannot work fails here at once, not after the client's 30 s:
    another scheme (http:// is the dashboard's), or nothing listening."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in ("tcp", "tls"):
        raise UsageError(
            f"--dask {address}: not a scheduler address; give tcp://HOST:PORT (usually port "
            "8786; http:// is the dashboard's), tls://HOST:PORT or 'local'"
        )
    host, colon, port = rest.rstrip("/").rpartition(":")
    if not colon or not port.isdigit():
        raise UsageError(f"--dask {address}: give the scheduler's port (tcp://HOST:8786)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise UsageError(
            f"--dask {address}: cannot reach the scheduler: {e.strerror or e or type(e).__name__}"
        ) from None


@contextmanager
def _client(address: str, workers: int) -> Iterator[Any]:
    dd = _distributed()
    if address != "local":
        _check_address(address)
        try:
            client = dd.Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise UsageError(
                f"--dask {address}: cannot connect to the scheduler: {type(e).__name__}: {e}"
            ) from None
        with client:
            yield client
        return
    n = max(1, min(workers, os.cpu_count() or 1))
    # The dashboard on a free port: 8787 may be another cluster's (None still takes 8787).
    with (
        # Its workers' log lines (a nanny restarting a worker, one slow to stop) are not
        # this command's to print: what matters of them the client says in its own words.
        dd.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        dd.Client(cluster) as client,
    ):
        yield client


def run_on_dask(
    options: ScanOptions,
    address: str,
    shards: int,
    progress: ProgressFn | None = None,
    on_shard: ShardDone | None = None,
    notify: Callable[[str], None] | None = None,
) -> ScanReport:
    """Scan `options.input` as `shards` tasks on the Dask cluster at `address` ("local": a
    LocalCluster on this machine) into `options.out`/shard-K-of-N/; the shards' reports
    combined. A task error (an unreadable input, an unwritable --out) is raised here.
    `progress` gets the sum over the shards as they report; `notify` is told when a shard is
    run again (its worker died)."""
    distributed = _distributed()
    if shards < 1:
        raise UsageError("--shards must be at least 1")
    options = replace(
        options,
        input=_absolute(options.input),
        out=_absolute(options.out),
        ca_bundle=options.ca_bundle.resolve() if options.ca_bundle else None,
    )
    # An unusable input fails here, once, before any task; and the total is known.
    _, total, _ = files.inspect_input(options.input, encoding=options.encoding)
    _prepare(options, shards)
    run_id = uuid.uuid4().hex[:12]
    with _client(address, shards) as client:
        pending: dict[Any, Shard] = {}
        names: dict[Shard, str] = {}
        for k in range(1, shards + 1):
            shard = Shard(k, shards)
            names[shard] = f"scanner-progress-{run_id}-{k}"
            distributed.Variable(names[shard], client=client).set(ShardState().as_value())
            task = replace(options, out=shard_folder(options.out, shard), shard=shard)
            future = client.submit(
                scan_shard,
                task,
                names[shard],
                key=f"scan-shard-{k}-of-{shards}-{run_id}",
                pure=False,
                retries=2,
            )
            pending[future] = shard
        reports: dict[Shard, ScanReport] = {}
        seen: dict[Shard, ShardState] = {}
        while pending:
            with suppress(TimeoutError):
                distributed.wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            for future in [f for f in pending if f.done()]:
                shard = pending.pop(future)
                reports[shard] = report = _result(future, shard, options.out)
                c = report.counts
                seen[shard] = ShardState(c["targets"], c["targets"], c["rows"] - c["ok"], 1)
                if on_shard is not None:
                    on_shard(shard, report)
            for shard, name in names.items():
                if shard not in reports:
                    now = ShardState.of(distributed.Variable(name, client=client).get())
                    before = seen.get(shard, ShardState())
                    if now.attempt > max(before.attempt, 1) and notify is not None:
                        notify(retry_message(shard, now, before.done))
                    seen[shard] = now
            if progress is not None:
                progress(*aggregate(seen.values(), total))
        for name in names.values():
            distributed.Variable(name, client=client).delete()
    return combine_reports(
        options.out, [reports[s] for s in sorted(reports, key=lambda s: s.index)]
    )


def aggregate(states: Iterable[ShardState], total: int) -> tuple[int, int, int]:
    """The scan's progress over its shards as they last reported: hosts done and failed summed
    (a shard that has not reported counts none), of the input's `total`."""
    done = failed = 0
    for s in states:
        done += s.done
        failed += s.failed
    return done, total, failed


def _result(future: Any, shard: Shard, out: Path | str) -> ScanReport:
    """The shard's report; its scan's own error (ScannerError) as it is, anything else (the
    task failed on every worker it was tried on) as an error naming the shard."""
    try:
        report: ScanReport = future.result()
    except ScannerError:
        raise
    except Exception as e:
        cause = (
            killed_message(shard, e)
            if type(e).__name__ == "KilledWorker"
            else f"shard {shard} failed on the cluster ({type(e).__name__}: {e})"
        )
        raise OutputError(
            f"{cause}; --resume continues it from the checkpoints in {shard_folder(out, shard)}"
        ) from None
    return report


def _clock_warnings(reports: list[ScanReport]) -> tuple[set[str], str | None]:
    """Each shard's own clock check (a warning in its report, worded with its own counts) and
    the check over every shard's hosts: one warning for the scan, not one per shard."""
    from scanner.analysis.fold import SkewCounts, skew_message

    own: set[str] = set()
    whole = SkewCounts()
    as_of: dt.datetime | None = None
    for r in reports:
        if not r.meta.get("as_of"):
            continue
        as_of = dt.datetime.fromisoformat(r.meta["as_of"])
        if (message := skew_message(r.skew, as_of)) is not None:
            own.add(message)
        whole += r.skew
    return own, skew_message(whole, as_of) if as_of is not None else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as dicts of plain values (pandas' NA as None, list cells as lists)."""
    return [
        {k: (None if v is pd.NA else list(v) if k == "findings" else v) for k, v in row.items()}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


def combine_reports(out: Path | str, reports: list[ScanReport]) -> ScanReport:
    """The shards' reports as one: counts summed, the summary recombined, the worst hosts of
    all shards."""
    worst_parts = [r.worst for r in reports if r.worst is not None]
    worst = (
        worst_hosts(pd.concat(worst_parts, ignore_index=True), WORST_HOSTS) if worst_parts else None
    )
    counts: dict[str, Any] = {}
    for r in reports:
        for key, value in r.counts.items():
            if isinstance(value, dict):
                bucket = counts.setdefault(key, {})
                for name, n in value.items():
                    bucket[name] = bucket.get(name, 0) + n
            else:
                counts[key] = counts.get(key, 0) + value
    per_shard, clock = _clock_warnings(reports)
    warnings = [w for r in reports for w in r.warnings if w not in per_shard]
    if clock is not None:
        warnings.append(clock)
    first = reports[0].meta if reports else {}
    meta = {
        "as_of": first.get("as_of"),
        "shards": [str(Location.of(r.out)) for r in reports],
        "counts": counts,
        "internal_errors": sum(int(r.meta.get("internal_errors", 0)) for r in reports),
    }
    return ScanReport(
        out=out,
        scan_id=",".join(r.scan_id for r in reports),
        interrupted=any(r.interrupted for r in reports),
        rows=tuple(combine_rows((r.rows for r in reports), counts.get("targets"))),
        worst_rows=None if worst is None else tuple(_records(worst)),
        meta=meta,
        warnings=tuple(dict.fromkeys(warnings)),  # each once, not once per shard
    )
