"""Prometheus metrics (`scan --metrics`, `scanner metrics`): the file parses with
prometheus_client's parser, every value matches the hosts table, and untrusted label values
(carried input cells with quotes, backslashes and newlines) stay one valid label value."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import Result

from scanner.errors import UsageError
from scanner.present.escape import prometheus_label
from scanner.present.metrics import Label, resolve_labels

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
Cli = Callable[[Sequence[Any]], Result]
P = "tls_scanner_"
# One sample per line: name, optional {labels}, one value. A raw newline inside a label value
# would leave a line that does not look like this.
SAMPLE_LINE = re.compile(r'^tls_scanner_[a-z_]+(\{([a-zA-Z_]+="([^"\\\n]|\\[\\"n])*",?)*\})? \S+$')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by metric name, as the reference parser reads them."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def check_lines(text: str) -> None:
    assert text.endswith("\n")
    names = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            names.append(line.split()[2])
        elif not line.startswith("# TYPE "):
            assert SAMPLE_LINE.match(line), line
    assert len(names) == len(set(names)), "each family once"


def by_target(
    samples: list[tuple[dict[str, str], float]],
) -> dict[tuple[str, str, str, str], float]:
    out = {}
    for labels, value in samples:
        key = (labels["host"], labels["port"], labels.get("ip", ""), labels.get("address", ""))
        assert key not in out, f"one series per target: {key}"
        out[key] = value
    return out


def key_of(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """A row's series: with --addresses all, the round-robin name has one per address."""
    address = row["connected_ip"] if row.get("scenario") == "inconsistent_backends" else ""
    return (row["host"], str(row["port"]), row["ip"] or "", address)


def test_label_values_are_escaped_as_the_format_requires() -> None:
    assert prometheus_label('a"b') == 'a\\"b'
    assert prometheus_label("a\\b") == "a\\\\b"
    assert prometheus_label("a\nb") == "a\\nb"
    assert prometheus_label("\\n") == "\\\\n"  # a literal backslash-n is not a newline
    assert prometheus_label(None) == ""
    assert prometheus_label("é ✓") == "é ✓"


def test_label_names_from_carried_columns() -> None:
    columns = ["owner", "Cost Center", "2fa", "scenario"]
    assert resolve_labels(["OWNER", "cost center", "2fa"], columns) == (
        Label(column="owner", name="owner"),
        Label(column="Cost Center", name="Cost_Center"),
        Label(column="2fa", name="_2fa"),
    )
    with pytest.raises(UsageError, match="no such input column"):
        resolve_labels(["team"], columns)
    with pytest.raises(UsageError, match="taken"):
        resolve_labels(["code"], ["code"])  # the finding series' own label
    with pytest.raises(UsageError, match="taken"):
        resolve_labels(["a b", "a-b"], ["a b", "a-b"])  # both would be a_b


def test_metrics_match_the_hosts_table(cli: Cli, lab_scan: Any) -> None:
    result = cli(["metrics", lab_scan.out, "--metrics-label", "owner"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    check_lines(text)
    samples = parse(text)
    rows = lab_scan.hosts.to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and len(ok) < len(rows)

    not_after = by_target(samples[f"{P}certificate_not_after_timestamp_seconds"])
    trusted = by_target(samples[f"{P}certificate_trusted"])
    expiry = by_target(samples[f"{P}certificate_expiry_seconds"])
    revoked = by_target(samples[f"{P}certificate_revoked"])
    # Per answering host, and only those: error rows have no certificate to describe.
    assert set(trusted) == {key_of(r) for r in ok}
    for r in ok:
        k = key_of(r)
        assert trusted[k] == (1.0 if r["trusted"] else 0.0)
        if r["not_after"] is None:
            assert k not in not_after and k not in expiry
        else:
            assert not_after[k] == r["not_after"].timestamp()
            assert expiry[k] == r["not_after"].timestamp() - FIXED.timestamp()
            assert expiry[k] // 86400 == r["days_remaining"]  # whole days, rounded down
        if r["revoked"] is None:
            assert k not in revoked  # not checked, or unknown: no series
        else:
            assert revoked[k] == (1.0 if r["revoked"] else 0.0)
    for labels, _ in samples[f"{P}certificate_trusted"]:
        row = next(
            r
            for r in ok
            if key_of(r)
            == (labels["host"], labels["port"], labels.get("ip", ""), labels.get("address", ""))
        )
        assert labels["owner"] == row["owner"]

    # The grade, as one series labelled with it, for every answering host that has one.
    grades = {
        (lab["host"], lab["port"], lab.get("ip", ""), lab.get("address", "")): (lab["grade"], value)
        for lab, value in samples[f"{P}host_grade"]
    }
    assert grades == {key_of(r): (r["grade"], 1.0) for r in ok if r["grade"] is not None}
    assert grades, "the lab's answering hosts are graded"

    findings: dict[tuple[str, str, str], set[str]] = {}
    for labels, value in samples[f"{P}host_finding"]:
        assert value == 1.0
        findings.setdefault(
            (labels["host"], labels["port"], labels.get("ip", ""), labels.get("address", "")), set()
        ).add(labels["code"])
    assert findings == {key_of(r): set(r["findings"]) for r in ok if r["findings"]}

    # Spec values for two lab scenarios: the valid chain, and a leaf that expired 10 days
    # before the fixed instant.
    scenario = {r["scenario"]: key_of(r) for r in ok}
    # The valid chain's one finding is the prober's information (--protocols): no ML-KEM.
    assert trusted[scenario["valid"]] == 1.0 and findings[scenario["valid"]] == {"no_pq_kex"}
    assert trusted[scenario["expired"]] == 0.0
    assert expiry[scenario["expired"]] == -10 * 86400
    assert revoked[scenario["revoked"]] == 1.0 and revoked[scenario["valid"]] == 0.0
    assert "expired" in findings[scenario["expired"]]
    severity = {
        (lab["code"], lab["severity"])
        for lab, _ in samples[f"{P}host_finding"]
        if lab["code"] in ("expired", "expiring_soon")
    }
    assert severity <= {("expired", "critical"), ("expiring_soon", "medium")}

    def scan_value(name: str, **labels: str) -> float:
        matches = [v for lab, v in samples[f"{P}{name}"] if lab == labels]
        assert len(matches) == 1, (name, labels)
        return matches[0]

    assert scan_value("scan_targets") == len({r["input_line"] for r in rows})  # input lines
    assert scan_value("scan_rows") == len(rows)
    assert scan_value("scan_hosts", status="ok") == len(ok)
    assert scan_value("scan_hosts", status="error") == len(rows) - len(ok)
    for verdict in ("trusted", "expired", "self_signed", "incomplete_chain"):
        assert scan_value("scan_verdict_hosts", verdict=verdict) == sum(1 for r in ok if r[verdict])
    assert scan_value("scan_verdict_hosts", verdict="not_trusted") == sum(
        1 for r in ok if r["trusted"] is False
    )
    stores = {lab["store"]: v for lab, v in samples[f"{P}scan_trust_store_hosts"]}
    assert set(stores) == {"default", *(n for r in ok for n in r["trusted_by"])}
    assert len(stores) >= 2, "the lab scans with a second trust store"
    for store, value in stores.items():
        assert value == sum(1 for r in ok if store in r["trusted_by"]), store
    for error in ("dns", "refused", "timeout", "tls", "invalid_input", "internal"):
        assert scan_value("scan_error_hosts", error=error) == sum(
            1 for r in rows if r["error"] == error
        )
    assert scan_value("scan_error_hosts", error="internal") == 0
    for severity_name in ("critical", "high", "medium", "low", "info"):
        assert scan_value("scan_severity_hosts", severity=severity_name) == sum(
            1 for r in ok if r["severity"] == severity_name
        )
    assert scan_value("scan_as_of_timestamp_seconds") == FIXED.timestamp() == 1780272000
    assert scan_value("scan_interrupted") == 0
    assert 0 < scan_value("scan_duration_seconds") < 600


HOSTILE_OWNERS = [
    'team "quoted"',
    "back\\slash\\n not a newline",
    "two\nlines",
    'all \\ " \n at once\\',
    "",
]


def test_scan_writes_metrics_and_hostile_labels_stay_one_value(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    picked = [r for r in lab_files.rows if r["scenario"] in ("valid", "expired", "self_signed")]
    picked += [r for r in lab_files.rows if r["scenario"] == "refused"]
    src = tmp_path / "hostile.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "owner"])
        w.writeheader()
        for row, owner in zip(picked, HOSTILE_OWNERS, strict=False):
            w.writerow({"host": row["host"], "port": row["port"], "ip": row["ip"], "owner": owner})
    out, prom = tmp_path / "out", tmp_path / "textfile" / "tls.prom"
    prom.parent.mkdir()
    prom.write_text("stale\n")
    result = cli(
        ["scan", src, "--out", out, *scan_lab_args(), "--metrics", prom, "--metrics-label", "Owner"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in prom.parent.iterdir()) == ["tls.prom"]  # replaced, no debris
    text = prom.read_text(encoding="utf-8")
    check_lines(text)
    samples = parse(text)
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    ok = {key_of(r): r["owner"] for r in hosts if r["status"] == "ok"}
    assert len(ok) == 3
    labelled = {
        (lab["host"], lab["port"], lab.get("ip", ""), lab.get("address", "")): lab["owner"]
        for lab, _ in samples[f"{P}certificate_trusted"]
    }
    assert labelled == ok
    assert set(ok.values()) == set(HOSTILE_OWNERS[:3])


def test_unknown_metrics_label_is_refused_before_scanning(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli(
        [
            "scan",
            lab_files.csv,
            "--out",
            out,
            *scan_lab_args(),
            "--metrics",
            tmp_path / "m.prom",
            "--metrics-label",
            "team",
        ]
    )
    assert result.exit_code == 2
    assert "no such input column" in result.output
    assert not out.exists() and not (tmp_path / "m.prom").exists()


def test_metrics_out_writes_the_file_without_carried_labels(
    cli: Cli, lab_scan: Any, tmp_path: Path
) -> None:
    prom = tmp_path / "scan.prom"
    result = cli(["metrics", lab_scan.out, "--out", prom])
    assert result.exit_code == 0, result.output
    samples = parse(prom.read_text(encoding="utf-8"))
    assert {lab.get("owner") for lab, _ in samples[f"{P}certificate_trusted"]} == {None}
    lines = set(lab_scan.hosts.column("input_line").to_pylist())
    assert samples[f"{P}scan_targets"] == [({}, float(len(lines)))]  # input lines, not rows
    assert samples[f"{P}scan_rows"] == [({}, float(lab_scan.hosts.num_rows))]
