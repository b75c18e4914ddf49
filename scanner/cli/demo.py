"""The `scanner demo` command: the lab started, scanned end to end, reports written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.app import command, out_console, print_warning, settle
from scanner.cli.scan import print_report, progress_bar
from scanner.present.escape import terminal
from scanner.run.options import ScanOptions


@command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("reports/demo"),
    inputs: Annotated[
        Path, typer.Option(help="Folder for the lab's input CSV and CA bundle.")
    ] = Path("inputs"),
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing but warnings and errors: no progress, no summary."
        ),
    ] = False,
) -> None:
    """Start a local lab of TLS servers with known faults on 127.0.0.1, scan it (with
    --protocols, a second trust store, two root programs, a CT log list, --ari and --caa),
    print the summary, write report.html beside the tables and shut the lab down. Needs no
    internet.

    Example: scanner demo --out reports/demo
    """
    from scanner.model.types import Addresses
    from scanner.run.runner import run_scan
    from scanner.testing.lab import Lab

    settle()
    as_of = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with Lab.start(as_of=as_of) as lab:
        csv_path, ca_path = lab.write_inputs(inputs)
        stores = lab.write_stores(inputs)
        programs, log_list = lab.write_programs(inputs)
        named = ", ".join(f"{name}={path}" for name, path in stores)
        listed = ", ".join(f"{name}={path}" for name, path in programs)
        if not quiet:
            out_console().print(
                f"Lab: {len(lab.scenarios)} hosts on 127.0.0.1; input {csv_path}, CA {ca_path}, "
                f"trust stores {named}, root programs {listed}, CT logs {log_list}; "
                "with --protocols, --ari and --caa",
                markup=False,
                soft_wrap=True,
            )
        options = ScanOptions(
            input=csv_path,
            out=out,
            as_of=as_of,
            ca_bundle=ca_path,
            timeout=lab.timeout,
            concurrency=50,
            nameservers=(lab.dns_address,),
            allow_private_fetch=True,  # the lab's AIA and CRL servers are on loopback
            addresses=Addresses.ALL,  # the lab's round-robin name shows inconsistent backends
            overwrite=True,
            protocols=True,
            trust_stores=stores,
            root_programs=programs,
            ct_logs=log_list,
            # Issue 21: the lab's ARI server for its ACME CA, its CAA records and CA excerpt.
            ari=True,
            acme_directories=(lab.acme_rule,),
            caa=True,
            caa_identifiers=lab.write_caa_identifiers(inputs),
        )
        with progress_bar(not quiet) as progress:
            report = run_scan(options, progress, print_warning)
    if not quiet:
        print_report(report, worst=40)
    from scanner.cli.reports import write_html_report

    target, notes, _ = write_html_report([str(out)], None)
    if not quiet:
        out_console().print(f"Wrote {terminal(target)}", soft_wrap=True)
    for w in dict.fromkeys([*report.warnings, *notes]):
        print_warning(w)
