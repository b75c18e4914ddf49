"""The `scanner scan` command: options -> ScanOptions, `run_scan`, progress on stderr and a
printed summary."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.analysis.severity import any_at_or_above
from scanner.cli.app import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    AsOf,
    FailOn,
    TrustStores,
    WarnDays,
    as_of_option,
    command,
    err_console,
    nameserver_option,
    out_console,
    settle,
    trust_store_options,
)
from scanner.cli.metrics import MetricsLabel, metrics_text, write_metrics_file
from scanner.errors import UsageError
from scanner.inputs.targets import Shard
from scanner.model.types import STARTTLS_CHOICES, Addresses
from scanner.present.escape import terminal
from scanner.run.options import ProgressFn, ScanOptions
from scanner.store.location import path_or_url

if TYPE_CHECKING:
    from scanner.run.runner import ScanReport


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
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("scan", total=None, failed=0, rate="")
            started = time.monotonic()
            first: list[int] = []

            def update(done: int, total: int, failed: int) -> None:
                if not first:
                    first.append(done)
                elapsed = time.monotonic() - started
                rate = f"{(done - first[0]) / elapsed:.0f} hosts/s" if elapsed > 1 else ""
                bar.update(task, completed=done, total=total, failed=failed, rate=rate)

            yield update
    elif every > 0:
        yield PlainProgress(every)
    else:
        yield None


class PlainProgress:
    """`progress: 1200/10000 (12.0%), 35 failed, 410 hosts/s, ETA 0:00:21` lines on stderr."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.started = time.monotonic()
        self.last = self.started
        self.first: int | None = None
        self.finished = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = done
        if now - self.last < self.every and done < total:
            return
        if done >= total and self.finished:
            return  # the last line once, not again on each tick
        self.finished = done >= total
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = (done - self.first) / elapsed
        eta = dt.timedelta(seconds=round((total - done) / rate)) if rate > 0 else "?"
        share = done / total if total else 1.0
        print(
            f"progress: {done}/{total} ({share:.1%}), {failed} failed, {rate:.0f} hosts/s, "
            f"ETA {eta}",
            file=sys.stderr,
            flush=True,
        )


def print_report(report: ScanReport, worst: int = 10) -> None:
    import pandas as pd

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

    from scanner.present.formats import Section, terminal_section

    table = Table(title="Findings and errors", title_justify="left")
    for col in ("kind", "name", "hosts", "share"):
        table.add_column(col, justify="right" if col in ("hosts", "share") else "left")
    for row in report.summary.itertuples(index=False):
        if row.hosts and row.kind in (
            "verdict",
            "error",
            "finding",
            "grade",
            "trust_store",
            "names",
        ):
            table.add_row(row.kind, row.name, str(row.hosts), f"{row.share:.1%}")
    out_console().print(table)
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
    if meta.get("internal_errors"):
        err_console().print(
            f"{meta['internal_errors']} internal error(s): see rows with error=internal",
            markup=False,
        )


# The options of `scanner scan`, one alias each (the README's options table lists them all).
Input = Annotated[
    str,
    typer.Argument(
        help="CSV with a 'host' column (optional 'port', 'ip', 'starttls'): a path or a URL "
        "(s3://bucket/hosts.csv, https://...).",
        show_default=False,
    ),
]
Out = Annotated[
    str,
    typer.Option(
        "--out",
        "-o",
        help="Output folder for the tables: a path, or object storage (s3://bucket/prefix with "
        "the s3 extra; other fsspec URLs such as gs://).",
        show_default=False,
    ),
]
Concurrency = Annotated[int, typer.Option(min=1, max=10000, help="Hosts in flight.")]
Timeout = Annotated[
    float,
    typer.Option(
        min=0.1,
        help="Seconds per host (per address with --addresses all) for DNS, connect, STARTTLS, "
        "handshake and AIA fetching.",
    ),
]
CaBundle = Annotated[
    Path | None, typer.Option(help="PEM trust store; default Mozilla's roots (certifi).")
]
Aia = Annotated[bool, typer.Option(help="Fetch missing intermediates from caIssuers URLs.")]
AiaTimeout = Annotated[float, typer.Option(min=0.1, help="Seconds per AIA, CRL or OCSP fetch.")]
RevocationOption = Annotated[
    bool,
    typer.Option(
        help="Check every certificate of the path below the root against its CA's CRL, or OCSP "
        "when it has no usable CRL."
    ),
]
CrlFiles = Annotated[
    list[Path] | None,
    typer.Option("--crl", help="A CRL file (DER or PEM), used before any fetch (repeatable)."),
]
CrlMaxBytes = Annotated[
    int,
    typer.Option(
        min=1, help="Largest CRL to fetch, in bytes; a bigger one leaves revocation unknown."
    ),
]
AllowPrivateFetch = Annotated[
    bool,
    typer.Option(
        "--allow-private-fetch",
        help="Let AIA, CRL and OCSP URLs reach loopback, link-local, multicast, unspecified, "
        "CGNAT (100.64.0.0/10) or IPv6 unique local (fc00::/7) addresses, or IPv6 forms "
        "carrying such an IPv4 address (private RFC 1918 ranges are always allowed).",
    ),
]
Nameserver = Annotated[
    list[str] | None,
    typer.Option(
        help="Resolve through this DNS server IP[:PORT] (repeatable) instead of the system "
        "resolver; /etc/hosts then does not apply."
    ),
]
PerIp = Annotated[
    int | None,
    typer.Option(min=1, help="At most this many connections in flight to one address."),
]
AddressesOption = Annotated[
    Addresses,
    typer.Option(
        help="first: one row per target, from the first address that connects. all: every "
        "address of a name (A and AAAA) is its own row, and a name whose addresses serve "
        "different leaves gets the finding inconsistent_backends.",
        case_sensitive=False,
    ),
]
StartTlsOption = Annotated[
    str,
    typer.Option(
        help="Speak this protocol before TLS: auto (by port: 25/587 smtp, 143 imap, 110 pop3, "
        "21 ftp, 389 ldap, 5222 xmpp, 5432 postgres; others direct TLS), none (always direct "
        "TLS), or smtp|imap|pop3|ftp|ldap|xmpp|postgres. A row's 'starttls' cell overrides it.",
        metavar="auto|none|PROTO",
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        help="Scan only the K-th of N slices (K/N, K from 1), by a stable hash of host and "
        "port; each shard writes its own --out."
    ),
]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue the interrupted or killed scan in --out (at the as-of it started "
        "with, unless "
        "--as-of is given).",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace the scan already in --out (only a folder holding a scan is cleared, and "
        "only of the files a scan writes).",
    ),
]
ProgressEvery = Annotated[
    float,
    typer.Option(
        min=0, help="Seconds between progress lines when stdout is not a terminal (0: none)."
    ),
]
CheckpointRows = Annotated[
    int, typer.Option(min=1, help="Hosts per checkpoint written to --out.", hidden=True)
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")]
Encoding = Annotated[str, typer.Option(help="The input file's text encoding (cp1252, latin-1...).")]
Protocols = Annotated[
    bool,
    typer.Option(
        "--protocols",
        help="Also probe each answering host for TLS 1.0, 1.1, 1.2 and 1.3 and static-RSA key "
        "exchange (one handshake after another, within a --timeout of their own, counted by "
        "--per-ip).",
    ),
]
Metrics = Annotated[
    Path | None,
    typer.Option(
        help="Also write the scan as Prometheus metrics to this file (atomically), for "
        "node_exporter's textfile collector."
    ),
]

Dask = Annotated[
    str | None,
    typer.Option(
        help="Run the scan on the Dask cluster at this scheduler address (tcp://host:8786), "
        "or 'local' for a LocalCluster here: one task per shard (needs the dask extra)."
    ),
]
Shards = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="With --dask: the number of shards (tasks), each written to --out/shard-K-of-N/.",
    ),
]


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

    return run_on_dask(options, address, shards, progress, shard_done)


@command("scan")
def scan(
    input: Input,
    out: Out,
    concurrency: Concurrency = 100,
    timeout: Timeout = 10.0,
    as_of: AsOf = None,
    ca_bundle: CaBundle = None,
    expiry_warn_days: WarnDays = 30,
    aia: Aia = True,
    aia_timeout: AiaTimeout = 5.0,
    revocation: RevocationOption = True,
    crl: CrlFiles = None,
    crl_max_bytes: CrlMaxBytes = 20 * 1024 * 1024,
    allow_private_fetch: AllowPrivateFetch = False,
    nameserver: Nameserver = None,
    per_ip: PerIp = None,
    protocols: Protocols = False,
    trust_store: TrustStores = None,
    addresses: AddressesOption = Addresses.FIRST,
    starttls: StartTlsOption = "auto",
    shard: ShardOption = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    encoding: Encoding = "utf-8",
    progress_every: ProgressEvery = 30.0,
    checkpoint_rows: CheckpointRows = 2000,
    quiet: Quiet = False,
    fail_on: FailOn = None,
    metrics: Metrics = None,
    metrics_label: MetricsLabel = None,
    dask: Dask = None,
    shards: Shards = None,
) -> None:
    """Scan every host of INPUT and write hosts, findings and certificates tables to --out.

    Results are checkpointed as hosts finish. Ctrl-C or SIGTERM stops new connections, lets
    in-flight hosts finish, writes the tables and exits 130; --resume continues the scan.

    Example: scanner scan inputs/hosts.csv --out reports/2026-11-26
    """
    if resume and overwrite:
        raise typer.BadParameter("--resume and --overwrite exclude each other")
    if dask is not None and (shard is not None or shards is None):
        raise typer.BadParameter("--dask splits the input itself: give --shards N (and no --shard)")
    if shards is not None and dask is None:
        raise typer.BadParameter("--shards needs --dask (for one machine's slice use --shard K/N)")
    if starttls.lower() not in STARTTLS_CHOICES:
        raise typer.BadParameter(
            f"{starttls!r} is not one of {', '.join(STARTTLS_CHOICES)}", param_hint="--starttls"
        )
    try:
        shard_value = Shard.parse(shard) if shard else Shard(1, 1)
    except UsageError as e:
        raise typer.BadParameter(str(e)) from None
    options = ScanOptions(
        input=path_or_url(input),
        out=path_or_url(out),
        as_of=as_of_option(as_of),
        as_of_given=as_of is not None,
        ca_bundle=ca_bundle,
        timeout=timeout,
        concurrency=concurrency,
        warn_days=expiry_warn_days,
        aia=aia,
        aia_timeout=aia_timeout,
        revocation=revocation,
        crl_files=tuple(crl or ()),
        crl_max_bytes=crl_max_bytes,
        allow_private_fetch=allow_private_fetch,
        nameservers=tuple(nameserver_option(n) for n in nameserver or ()),
        per_ip=per_ip,
        addresses=addresses,
        starttls=starttls.lower(),
        shard=shard_value,
        overwrite=overwrite,
        resume=resume,
        checkpoint_rows=checkpoint_rows,
        encoding=encoding,
        protocols=protocols,
        trust_stores=trust_store_options(trust_store),
    )
    if metrics_label and metrics is None:
        raise typer.BadParameter("--metrics-label needs --metrics FILE")
    if metrics is not None:
        check_writable(metrics, "--metrics")
        _check_metrics_labels(path_or_url(input), metrics_label or (), encoding)
    from scanner.run.runner import run_scan

    settle()

    def notify(message: str) -> None:
        err_console().print(f"[bold yellow]{terminal(message)}[/]", soft_wrap=True)

    with progress_bar(not quiet, progress_every) as progress:
        if dask is not None and shards is not None:
            report = _scan_on_dask(options, dask, shards, progress, quiet=quiet)
        else:
            report = run_scan(options, progress, notify)
    if not quiet:
        print_report(report)
    if dask is not None:  # the combined report over all shards, beside them
        from scanner.cli.reports import report as write_report

        write_report([str(report.out)])
    for w in report.warnings:  # after the report, where a cron log's reader looks last
        err_console().print(f"[bold yellow]warning:[/] {terminal(w)}", soft_wrap=True)
    if metrics is not None:
        write_metrics_file(metrics, metrics_text([report.out], metrics_label or ()))
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    severities = [k for k, n in report.counts.get("severities", {}).items() if n]
    if fail_on is not None and any_at_or_above(severities, fail_on):
        raise typer.Exit(EXIT_FINDINGS)
