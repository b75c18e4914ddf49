"""Grades and trust stores in a real scan of the lab (--protocols, a second store): every
grade appears, scan.json records each store once, `summary` and the HTML report count hosts
per grade and per store (by owner too), and `diff` reports a grade drop as regressed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from typer.testing import Result

from scanner.testing.lab import GRADES, Lab

Cli = Callable[[Sequence[Any]], Result]


def test_every_grade_appears_in_the_lab_scan(lab_scan: Any) -> None:
    grades = set(lab_scan.hosts.column("grade").to_pylist()) - {None}
    assert grades == {"A", "A-", "B", "C", "F", "M", "T"}
    rows = lab_scan.hosts.to_pylist()
    assert {r["grade_basis"] for r in rows if r["protocol"] == "tls"} - {None} == {
        "certificate+protocols+ciphers"
    }
    # --protocols does not probe a STARTTLS host: its grade rests on the certificate.
    assert {r["grade_basis"] for r in rows if r["protocol"] == "smtp" and r["grade"]} == {
        "certificate"
    }


def test_scan_json_records_each_store(lab_scan: Any, lab_files: Any, lab: Lab) -> None:
    meta = json.loads((lab_scan.out / "scan.json").read_text())
    stores = meta["trust_stores"]
    assert [s["name"] for s in stores] == ["default", "java"]
    assert stores[0]["sha256"] == hashlib.sha256(lab.ca_pem).hexdigest()
    assert stores[1]["sha256"] == hashlib.sha256(lab.store_pems["java"]).hexdigest()
    assert [s["roots"] for s in stores] == [3, 2]  # java lacks the newer root
    assert meta["options"]["protocols"] is True
    assert list(meta["options"]["trust_stores"]) == ["java"]
    # The root programs and the log list, each by its SHA-256 (issue 20).
    programs = meta["root_programs"]
    files = lab.program_files()
    assert [p["name"] for p in programs] == list(files) == ["chrome", "mozilla"]
    for p in programs:
        assert p["sha256"] == hashlib.sha256(files[p["name"]][1]).hexdigest()
        assert (p["anchors"], p["anchors_known"]) == (1, 1)
        assert p["newest_date"] == lab.program_cutoff.isoformat()
    assert [p["kind"] for p in programs] == ["chrome_root_store", "mozilla_certdata"]
    logs = meta["ct_logs"]
    assert logs["log_list_timestamp"] == lab.as_of.isoformat() and logs["logs"] == 4
    log_file = Path(meta["options"]["ct_logs"])
    assert logs["sha256"] == hashlib.sha256(log_file.read_bytes()).hexdigest()


def expected_counts(lab: Lab) -> tuple[dict[str, int], dict[str, int]]:
    grades: dict[str, int] = {}
    stores: dict[str, int] = {"default": 0, "java": 0, "chrome": 0, "mozilla": 0}
    for s in lab.scenarios:
        if s.error:
            continue
        rows = max(1, len(s.addresses))  # a name scanned on each of its addresses
        grades[s.grade or ""] = grades.get(s.grade or "", 0) + rows
        for name in s.trusted_by:
            stores[name] += rows
    grades[GRADES["valid"]] += 1  # the duplicate row of `valid` in lab_files is scanned once
    grades["A"] -= 1
    return grades, stores


def test_summary_counts_hosts_per_grade_and_store(cli: Cli, lab_scan: Any, lab: Lab) -> None:
    result = cli(["summary", lab_scan.out, "--format", "json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["counts"]
    grades = {c["name"]: c["hosts"] for c in counts if c["kind"] == "grade"}
    stores = {c["name"]: c["hosts"] for c in counts if c["kind"] == "trust_store"}
    want_grades, want_stores = expected_counts(lab)
    assert {g: n for g, n in grades.items() if n} == want_grades
    assert list(grades) == ["A", "A-", "B", "C", "F", "M", "T"]
    assert stores == want_stores
    assert stores["default"] == stores["java"] + 1  # the one_store host
    table = cli(["summary", lab_scan.out])
    assert "Grades (hosts)" in table.output
    assert "Trust stores (hosts trusted)" in table.output


def test_summary_by_owner_lists_grades_and_stores(cli: Cli, lab_scan: Any, lab: Lab) -> None:
    result = cli(["summary", lab_scan.out, "--by", "owner", "--format", "json"])
    by = json.loads(result.output)["by"]["counts"]
    payments = {
        (r["kind"], r["name"]): r["hosts"] for r in by if r["owner"] == "payments" and r["hosts"]
    }
    # payments owns the expired host only: T, trusted by no store.
    assert payments[("grade", "T")] == 1
    assert not [k for k in payments if k[0] == "grade" and k[1] != "T"]
    assert ("trust_store", "default") not in payments  # zero hosts
    md = cli(["summary", lab_scan.out, "--by", "owner", "--format", "markdown"])
    assert "| grades | trusted\\_by |" in md.output
    assert "default " in md.output and "java " in md.output


def test_report_shows_grades_and_stores(cli: Cli, lab_scan: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = cli(["report", lab_scan.out, "--out", out, "--by", "owner"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Hosts per grade" in page and "Hosts each trust store trusts" in page
    assert 'data-col="grade"' in page and 'data-col="trusted_by"' in page
    assert "<h2>By owner</h2>" in page


def test_protocol_findings_stay_out_of_the_leaf_fix_list(cli: Cli, lab_scan: Any) -> None:
    """Reissuing a leaf fixes no protocol setting: a host with only protocol findings has no
    fix-list row, and no row lists a protocol finding."""
    fixes = json.loads(cli(["summary", lab_scan.out, "--format", "json"]).output)["fixes"]
    listed = {code for f in fixes for code in f["findings"]}
    assert not listed & {"legacy_protocol", "no_modern_protocol", "no_tls13", "rsa_key_exchange"}
    examples = " ".join(e for f in fixes for e in f["examples"])
    for host in ("tls10.lab.test", "tls11.lab.test", "rsa.lab.test", "tls12.lab.test"):
        assert host not in examples
    assert "newroot.lab.test" in examples  # not_trusted_by: a chain to change
