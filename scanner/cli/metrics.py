"""The `scanner metrics` command, and the metrics file `scan --metrics` writes: a scan folder
as Prometheus text for node_exporter's textfile collector (scanner.present.metrics)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.app import command, fail, out_console
from scanner.present.escape import terminal

MetricsLabel = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics-label",
        help="Also label every host's series with this carried input column (owner...); "
        "repeatable. Each distinct value is a new series: see the docs on cardinality "
        "(Prometheus and Grafana).",
    ),
]


def metrics_text(folders: Sequence[Path | str], labels: Sequence[str]) -> str:
    """The exposition text for the scan in `folders` (one scan, or its shards)."""
    from scanner.present import metrics as pm
    from scanner.store.load import load

    tables = load(folders)
    resolved = pm.resolve_labels(labels, tables.carried_columns)
    return pm.render(tables.hosts, pm.scan_info(tables.meta, tables.as_of), resolved)


def write_metrics_file(target: Path, text: str) -> None:
    """Written under a temporary name and renamed, as the textfile collector asks: it never
    reads half a file (it reads only `*.prom`, so the `.partial` name is ignored)."""
    from scanner.store.atomic import write_atomic

    try:
        write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as e:
        raise fail(f"cannot write {target}: {e.strerror or e}") from None


@command("metrics")
def metrics(
    dirs: Annotated[
        list[str],
        typer.Argument(
            help="Scan folder(s), or a parent folder of shard folders: one scan (paths or URLs "
            "such as s3://bucket/prefix).",
            show_default=False,
        ),
    ],
    metrics_label: MetricsLabel = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write this file atomically instead of printing to stdout."
        ),
    ] = None,
) -> None:
    """Print a scan as Prometheus metrics (text exposition format) for node_exporter's
    textfile collector: per answering host the leaf's notAfter, seconds to expiry, trusted,
    revoked, grade and one series per finding; per scan the hosts per status, verdict, error,
    severity and trust store, the duration and the as-of. `> FILE` is not atomic: use --out
    FILE in the collector's folder. Alert rules: examples/alerts.yml; a Grafana dashboard:
    docs/grafana/tls-fleet.json.

    Example: scanner metrics reports/2026-11-26 --metrics-label owner --out tls.prom
    """
    from scanner.store.location import path_or_url

    text = metrics_text([path_or_url(d) for d in dirs], metrics_label or ())
    if out is None:
        sys.stdout.write(text)
        return
    write_metrics_file(out, text)
    out_console().print(f"Wrote {terminal(out)}", soft_wrap=True)
