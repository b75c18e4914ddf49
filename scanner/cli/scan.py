"""The `scanner scan` command: options -> ScanOptions, `run_scan`, progress on stderr and a
printed summary."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import typer

from scanner.analysis.severity import any_at_or_above
from scanner.cli.app import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    FailOn,
    command,
    err_console,
    out_console,
    print_warning,
    settle,
    with_options,
)
from scanner.cli.metrics import MetricsLabel, metrics_text, write_metrics_file
from scanner.errors import UsageError
from scanner.inputs.targets import Shard
from scanner.model.types import Severity
from scanner.present.escape import terminal
from scanner.run.options import ProgressFn, ScanOptions
from scanner.run.schema import (
    choice,
    declared,
    option,
    parse_options,
    seconds,
    switch,
    text,
    to_path_or_none,
    whole,
)

if TYPE_CHECKING:
    from scanner.run.runner import ScanReport


class Pace:
    """Rate and ETA from progress reports, each computed afresh at `now` (monotonic seconds):
    hosts done since the first report over the time since it. A report that brings nothing
    new still moves the ETA (the time spent waiting counts), so a scan whose progress comes in
    steps (a Dask scan's shards reporting as they do) shows an ETA that moves between them,
    not the last estimate frozen as rich's own column keeps it."""

    def __init__(self, started: float | None = None) -> None:
        self.started = started  # default: the first report
        self.first: int | None = None  # hosts done at the first report (--resume: earlier)

    def __call__(self, done: int, total: int, now: float) -> tuple[float | None, float | None]:
        """(hosts per second, seconds left); None for what is not known yet."""
        if self.started is None:
            self.started = now
        if self.first is None:
            self.first = done
        elapsed = now - self.started
        if elapsed <= 0:
            return None, None
        rate = (done - self.first) / elapsed
        return rate, ((total - done) / rate if rate > 0 else None)


def eta_text(seconds: float | None) -> str:
    return "?" if seconds is None else str(dt.timedelta(seconds=round(seconds)))


@contextmanager
def progress_bar(enabled: bool, every: float = 30.0) -> Iterator[ProgressFn | None]:
    """A rich bar on stderr when stdout is a terminal; otherwise (cron logs) a plain line on
    stderr every `every` seconds (0: none)."""
    if not enabled:
        yield None
    elif sys.stdout.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=err_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("scan", total=None, failed=0, rate="", eta="?")
            pace = Pace()

            def update(done: int, total: int, failed: int) -> None:
                rate, left = pace(done, total, time.monotonic())
                shown = f"{rate:.0f} hosts/s" if rate is not None and rate > 0 else ""
                bar.update(
                    task, completed=done, total=total, failed=failed, rate=shown, eta=eta_text(left)
                )

            yield update
    elif every > 0:
        yield PlainProgress(every)
    else:
        yield None


class PlainProgress:
    """`progress: 1200/10000 (12.0%), 35 failed, 410 hosts/s, ETA 0:00:21` lines on stderr."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = time.monotonic()
        self.pace = Pace(started=self.last)  # the clock starts with the scan
        self.finished = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        now = time.monotonic()
        rate, left = self.pace(done, total, now)
        if now - self.last < self.every and done < total:
            return
        if done >= total and self.finished:
            return  # the last line once, not again on each tick
        self.finished = done >= total
        self.last = now
        share = done / total if total else 1.0
        print(
            f"progress: {done}/{total} ({share:.1%}), {failed} failed, {rate or 0:.0f} hosts/s, "
            f"ETA {eta_text(left)}",
            file=sys.stderr,
            flush=True,
        )


def print_report(report: ScanReport, worst: int = 10) -> None:
    meta = report.meta
    c = report.counts
    state = " (INTERRUPTED: --resume continues it)" if report.interrupted else ""
    rows = c.get("rows", c["targets"])
    per_address = f", {rows} rows (one per address)" if rows != c["targets"] else ""
    out_console().print(
        f"Scanned {c['targets']} targets{per_address} ({c['ok']} ok, {rows - c['ok']} errors) "
        f"into {report.out} as of {meta['as_of']}{state}",
        markup=False,
        soft_wrap=True,
    )
    from rich.table import Table

    table = Table(title="Findings and errors", title_justify="left")
    for col in ("kind", "name", "hosts", "share"):
        table.add_column(col, justify="right" if col in ("hosts", "share") else "left")
    shown = ("verdict", "error", "finding", "grade", "trust_store", "names")
    for kind, name, hosts, share in report.rows:
        if hosts and kind in shown:
            table.add_row(kind, name, str(hosts), f"{share:.1%}")
    out_console().print(table)
    if report.worst_rows:  # (pandas is imported only to print hosts with findings)
        _print_worst(report, worst)
    if meta.get("internal_errors"):
        err_console().print(
            f"{meta['internal_errors']} internal error(s): see rows with error=internal",
            markup=False,
        )


def _print_worst(report: ScanReport, worst: int) -> None:
    import pandas as pd

    from scanner.present.formats import Section, terminal_section

    meta, c = report.meta, report.counts
    top = report.worst.head(worst) if report.worst is not None else None
    if top is not None and not top.empty:
        with_findings = sum(c.get("severities", {}).values())
        more = with_findings - len(top)
        # With --addresses all, a name's rows are its backends: the address tells them apart.
        by_address = meta.get("options", {}).get("addresses") == "all"
        by_address = by_address and "connected_ip" in top.columns
        frame = pd.DataFrame(
            {
                "host": top["host"],
                "port": top["port"].astype("Int64"),
                **({"address": top["connected_ip"]} if by_address else {}),
                "severity": top["severity"],
                "findings": top["findings"].map(list),
                "days left": top["days_remaining"].astype("Int64"),
            }
        )
        worst_table = Section(
            title=f"Worst {len(top)} of {with_findings} hosts with findings",
            frame=frame,
            wrap=("findings",),
            under=("findings",),  # under the row when the terminal is too narrow for it
            caption=f"{more} more not shown: scanner summary lists all" if more > 0 else None,
        )
        out_console().print(terminal_section(worst_table, out_console().width))


def _severity(value: object) -> Severity | None:
    if value is None or isinstance(value, Severity):
        return value
    return Severity(choice([s.value for s in Severity])(value))


def _command_option(default: Any, *, help: str, **more: Any) -> Any:
    """An option of the command alone: not a keyword of `scanner.scan`, not in scan.json."""
    return option(default, help=help, verdict=False, api=False, record=None, **more)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCommand:
    """The options of `scanner scan` that are not options of the scan (`ScanOptions`): how
    the command reports it and where it runs. Declared as scan options are; after them in
    `--help` and the docs."""

    progress_every: float = _command_option(
        30.0,
        help="Seconds between progress lines when stdout is not a terminal (0: none).",
        parse=seconds(0),
    )
    quiet: bool = _command_option(
        False,
        help="Print nothing but warnings and errors: no progress, no summary.",
        parse=switch,
        flags=("--quiet", "-q"),
    )
    fail_on: Severity | None = _command_option(
        None,
        help=get_args(FailOn)[1].help,  # as `scanner summary --fail-on`
        parse=_severity,
        cli_type=str | None,
        metavar="<" + "|".join(s.value for s in Severity) + ">",
    )
    metrics: Path | None = _command_option(
        None,
        help="Also write the scan as Prometheus metrics to this file (atomically), for "
        "node_exporter's textfile collector.",
        parse=to_path_or_none,
        cli_type=Path | None,
    )
    metrics_label: tuple[str, ...] = _command_option(
        (),
        help=get_args(MetricsLabel)[1].help,  # as `scanner metrics --metrics-label`
        parse=lambda v: tuple(text(x) for x in v or ()),
        flags=("--metrics-label",),
        cli_type=str,
        repeatable=True,
    )
    dask: str | None = _command_option(
        None,
        help="Run the scan on the Dask cluster at this scheduler address (tcp://host:8786), "
        "or 'local' for a LocalCluster here: one task per shard (needs the dask extra).",
        parse=lambda v: None if v is None else text(v),
        cli_type=str | None,
    )
    shards: int | None = _command_option(
        None,
        help="With --dask: the number of shards (tasks), each written to --out/shard-K-of-N/.",
        parse=whole(1, optional=True),
        cli_type=int | None,
    )

    def __post_init__(self) -> None:
        if self.metrics_label and self.metrics is None:
            raise UsageError("--metrics-label needs --metrics FILE")


def _check_dask(command: ScanCommand, *, shard_given: bool) -> None:
    if command.dask is not None and (shard_given or command.shards is None):
        raise UsageError("--dask splits the input itself: give --shards N (and no --shard)")
    if command.shards is not None and command.dask is None:
        raise UsageError("--shards needs --dask (for one machine's slice use --shard K/N)")


def _check_metrics_labels(input: Path | str, labels: Sequence[str], encoding: str) -> None:
    """Refuse a --metrics-label that names no input column before scanning, not after."""
    from scanner.errors import InputError
    from scanner.inputs.targets import read_targets
    from scanner.model.columns import HOST_COLUMNS
    from scanner.present.metrics import resolve_labels
    from scanner.store import files

    try:
        with files.open_input(input, encoding) as lines:
            header, _ = read_targets(lines, HOST_COLUMNS)
    except InputError as e:
        raise type(e)(f"{input}: {e}") from None
    resolve_labels(labels, header.extra_names)


def check_writable(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written before scanning, not after: a folder, or
    a place where no file can be made (the file is written atomically beside itself)."""
    import tempfile

    from scanner.errors import OutputError

    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot write there: {e.strerror or e}") from None


def _scan_on_dask(
    options: ScanOptions, address: str, shards: int, progress: ProgressFn | None, *, quiet: bool
) -> ScanReport:
    from scanner.run.cluster import run_on_dask

    def shard_done(shard: Shard, report: ScanReport) -> None:
        if quiet:
            return
        c = report.counts
        print(
            f"shard {shard} done: {c['targets']} targets, {c['rows'] - c['ok']} failed rows",
            file=sys.stderr,
            flush=True,
        )

    # A shard run again (its worker died) is a warning: said even with --quiet.
    return run_on_dask(options, address, shards, progress, shard_done, print_warning)


@command("scan")
@with_options(ScanOptions, ScanCommand)
def scan(**given: Any) -> None:
    """Scan every host of INPUT and write hosts, findings and certificates tables to --out.

    Results are checkpointed as hosts finish. Ctrl-C or SIGTERM stops new connections, lets
    in-flight hosts finish, writes the tables and exits 130; --resume continues the scan.

    Example: scanner scan inputs/hosts.csv --out reports/2026-11-26
    """
    ours = {f.name for f, _ in declared(ScanCommand)}
    options = ScanOptions.parse({k: v for k, v in given.items() if k not in ours})
    command = ScanCommand(**parse_options(ScanCommand, {k: given[k] for k in ours}, "cli"))
    _check_dask(command, shard_given=given["shard"] is not None)
    quiet, dask, shards = command.quiet, command.dask, command.shards
    if command.metrics is not None:
        check_writable(command.metrics, "--metrics")
        _check_metrics_labels(options.input, command.metrics_label, options.encoding)
    from scanner.run.runner import run_scan

    settle()

    # What a signal does (stopping, abandoning hosts in flight): a warning, said even with
    # --quiet, which prints nothing but warnings and errors.
    with progress_bar(not quiet, command.progress_every) as progress:
        if dask is not None and shards is not None:
            report = _scan_on_dask(options, dask, shards, progress, quiet=quiet)
        else:
            report = run_scan(options, progress, print_warning)
    if not quiet:
        print_report(report)
    warnings = list(report.warnings)
    if dask is not None:  # the combined report over all shards, beside them
        from scanner.cli.reports import write_html_report

        target, notes, _ = write_html_report([str(report.out)], None)
        warnings += notes  # the clock check over all shards, again: said once
        if not quiet:
            out_console().print(f"Wrote {terminal(target)}", soft_wrap=True)
    for w in dict.fromkeys(warnings):  # after the report, where a cron log's reader looks last
        print_warning(w)
    if command.metrics is not None:
        write_metrics_file(command.metrics, metrics_text([report.out], command.metrics_label))
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    severities = [k for k, n in report.counts.get("severities", {}).items() if n]
    if command.fail_on is not None and any_at_or_above(severities, command.fail_on):
        raise typer.Exit(EXIT_FINDINGS)
