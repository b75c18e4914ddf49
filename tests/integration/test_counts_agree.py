"""One meaning of targets and rows (`scanner.analysis.counts`): on one `--addresses all` scan of
the lab (a name with several addresses, hosts down), scan.json, `scanner summary`, the
metrics, the progress callback's last state, `scanner.scan` and a Dask LocalCluster scan all
give the same targets (input lines), rows (addresses), ok and errors (rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import scanner
from scanner.model.types import Addresses
from scanner.run.options import ScanOptions
from scanner.run.runner import run_scan
from scanner.testing.lab import Lab

TIMEOUT = 6.0  # generous: a slow handshake on a loaded machine must not change `ok`


def lab_options(lab: Lab, lab_files: Any, fixed: Any, out: Path) -> ScanOptions:
    return ScanOptions(
        input=lab_files.csv,
        out=out,
        as_of=fixed,
        ca_bundle=lab_files.ca,
        nameservers=(lab.dns_address,),
        timeout=TIMEOUT,
        aia_timeout=4.0,
        allow_private_fetch=True,
        addresses=Addresses.ALL,
    )


def test_every_output_counts_targets_and_rows_alike(
    lab: Lab, lab_files: Any, fixed: Any, tmp_path: Path, cli: Any
) -> None:
    seen: dict[str, tuple[int, int, int, int]] = {}  # output -> (targets, rows, ok, errors)

    # The scan, with its progress.
    progress: list[tuple[int, int, int]] = []
    out = tmp_path / "scan"
    report = run_scan(
        lab_options(lab, lab_files, fixed, out), lambda *state: progress.append(state)
    )
    meta = json.loads((out / "scan.json").read_text())
    c = meta["counts"]
    seen["scan.json"] = (c["targets"], c["rows"], c["ok"], sum(c["errors"].values()))
    targets, rows, ok, errors = seen["scan.json"]
    assert rows > targets and errors > 0  # a name of several addresses; hosts down
    r = report.counts
    seen["ScanReport"] = (r["targets"], r["rows"], r["ok"], sum(r["errors"].values()))
    done, total, failed = progress[-1]
    assert done == total
    seen["progress"] = (done, rows, ok, failed)  # progress shows targets and failed rows

    # scanner summary --format json
    summary = cli(["summary", out, "--format", "json"])
    assert summary.exit_code == 0, summary.output
    s = json.loads(summary.stdout)
    seen["summary"] = (s["targets"], s["rows"], s["ok"], s["rows"] - s["ok"])
    by = cli(["summary", out, "--format", "json", "--by", "owner"])
    assert by.exit_code == 0, by.output
    groups = [g for g in json.loads(by.stdout)["by"]["counts"] if g["kind"] == "count"]
    by_targets = sum(g["hosts"] for g in groups if g["name"] == "targets")
    by_rows = sum(g["hosts"] for g in groups if g["name"] == "rows")
    seen["summary --by"] = (by_targets, by_rows, ok, errors)

    # the metrics, read with Prometheus' own parser
    prom = tmp_path / "scan.prom"
    assert cli(["metrics", out, "--out", prom]).exit_code == 0
    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(prom.read_text())
        for sample in family.samples
    }
    seen["metrics"] = (
        int(values[("tls_scanner_scan_targets", ())]),
        int(values[("tls_scanner_scan_rows", ())]),
        int(values[("tls_scanner_scan_hosts", (("status", "ok"),))]),
        int(values[("tls_scanner_scan_hosts", (("status", "error"),))]),
    )

    # scanner.scan, the same rows from Python
    tables = scanner.scan(
        [{k: v for k, v in row.items() if k != "scenario"} for row in lab_files.rows],
        as_of=fixed,
        ca_bundle=lab_files.ca,
        nameservers=[f"{lab.dns_address[0]}:{lab.dns_address[1]}"],
        timeout=TIMEOUT,
        aia_timeout=4.0,
        allow_private_fetch=True,
        addresses="all",
    )
    a = tables.meta[0]["counts"]
    seen["scanner.scan"] = (a["targets"], a["rows"], a["ok"], sum(a["errors"].values()))

    # Dask: a LocalCluster of two worker processes, two shards
    pytest.importorskip("distributed")
    from scanner.run.cluster import run_on_dask

    dask_progress: list[tuple[int, int, int]] = []
    dask_out = tmp_path / "dask"
    combined = run_on_dask(
        lab_options(lab, lab_files, fixed, dask_out),
        "local",
        2,
        lambda *state: dask_progress.append(state),
    )
    d = combined.counts
    seen["dask"] = (d["targets"], d["rows"], d["ok"], sum(d["errors"].values()))
    failed_seen = [f for _, _, f in dask_progress]
    assert failed_seen == sorted(failed_seen) and min(failed_seen) >= 0  # never down, never < 0
    done, total, failed = dask_progress[-1]
    assert done == total
    seen["dask progress"] = (done, rows, ok, failed)

    assert set(seen.values()) == {(targets, rows, ok, errors)}, seen
