"""`scanner summary`, `diff` and `report`, `--fail-on`, shard folders, `scanner.load` /
`scanner.scan`, and DuckDB, on real scans of the lab (fixed instant, --as-of)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pandas as pd
import pyarrow.parquet as pq
from typer.testing import Result

import scanner
from scanner.testing.lab import Lab
from scanner.testing.scenarios_ahead import AHEAD

AHEAD_HOSTS = {row.host for row in AHEAD}

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
INTERMEDIATE = "CN=Scanner Lab Intermediate CA,O=Scanner Lab"
SLOW = frozenset({"timeout"})  # the silent server costs a whole --timeout

Cli = Callable[[Sequence[Any]], Result]


def write_rows(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "owner", "scenario", "starttls"])
        w.writeheader()
        w.writerows(rows)
    return path


def lab_rows(lab_files: Any, *, drop: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    return [r for r in lab_files.rows if r["scenario"] not in drop | {"duplicate"}]


def scan(
    cli: Cli,
    scan_lab_args: Callable[..., list[str]],
    rows: Sequence[dict[str, str]],
    out: Path,
    *,
    as_of: dt.datetime = FIXED,
    extra: Sequence[str] = (),
    browsers: bool = False,
) -> Result:
    src = write_rows(out.with_suffix(".csv"), rows)
    args = scan_lab_args(as_of=as_of, browsers=browsers)
    return cli(["scan", src, "--out", out, *args, *extra])


def summary_json(cli: Cli, *args: Any) -> dict[str, Any]:
    result = cli(["summary", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def counted(data: dict[str, Any], kind: str, name: str) -> int:
    return next(int(c["hosts"]) for c in data["counts"] if (c["kind"], c["name"]) == (kind, name))


# --- summary --------------------------------------------------------------------------------


def test_summary_json_describes_the_lab(cli: Cli, lab_scan: Any, lab_files: Any) -> None:
    data = summary_json(cli, lab_scan.out)
    assert data["as_of"] == FIXED.isoformat()
    assert data["targets"] == lab_files.unique_targets
    assert data["warnings"] == []
    assert counted(data, "verdict", "expired") == 1
    assert counted(data, "verdict", "not_yet_valid") == 1
    assert counted(data, "verdict", "incomplete_chain") == 1
    assert counted(data, "error", "invalid_input") == 2
    assert counted(data, "error", "timeout") == 1
    # The wildcard leaf: served by three hosts, a problem on two (apex and two labels deep).
    wildcard = next(f for f in data["fixes"] if f["san_dns"] == ["*.wild.lab.test"])
    assert (wildcard["hosts_affected"], wildcard["hosts_serving"]) == (2, 3)
    assert wildcard["findings"] == ["hostname_mismatch"]
    # The revoked leaf first (clients refuse it today), then most hosts first.
    assert data["fixes"][0]["findings"] == ["revoked"]
    assert data["fixes"][0]["san_dns"] == ["revoked.lab.test"]
    assert counted(data, "verdict", "revoked") == 1
    assert data["fixes"][1] == wildcard
    assert [f["hosts_affected"] for f in data["fixes"][1:]] == sorted(
        (f["hosts_affected"] for f in data["fixes"][1:]), reverse=True
    )
    expired = next(f for f in data["fixes"] if f["findings"] == ["expired"])
    assert expired["not_after"] == "2026-05-22T00:00:00Z" and expired["days_remaining"] == -10
    (missing,) = data["intermediates"]
    assert missing["intermediate"] == INTERMEDIATE
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/intermediate\.der", missing["aia_url"])
    assert missing["hosts_affected"] == 1
    assert missing["examples"][0].startswith("incomplete.lab.test:")
    # Calendar from the scan's as-of: soon.lab.test (notAfter + 10 days) in week 2, beside
    # the leaves of issue 21's rows (6-day leaves in week 1, +10, +25 and +70 days).
    weeks = {w["week"]: w for w in data["calendar"]}
    assert len(weeks) == 12 and weeks[1]["starts"] == "2026-06-01T00:00:00Z"
    # (week 10: the 90-day leaf 20 days in ends 70 days after as-of less a second)
    assert [w["week"] for w in data["calendar"] if w["hosts"]] == [1, 2, 4, 10]
    assert [w["hosts"] for w in data["calendar"] if w["hosts"]] == [2, 2, 1, 1]
    assert any(e.startswith("soon.lab.test:") for e in weeks[2]["examples"])


def test_summary_by_owner_as_csv_is_formula_safe(cli: Cli, lab_scan: Any) -> None:
    result = cli(["summary", lab_scan.out, "--by", "owner", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    owners = {r["owner"] for r in rows}
    assert '\'=HYPERLINK("http://example.invalid","click")' in owners
    assert "00123" in owners  # carried text stays text
    payments = {(r["kind"], r["name"]): r for r in rows if r["owner"] == "payments"}
    assert payments[("verdict", "expired")]["hosts"] == "1"
    assert payments[("verdict", "expired")]["share"] == "1.0"


def test_summary_other_tables_and_formats(cli: Cli, lab_scan: Any) -> None:
    fixes = cli(["summary", lab_scan.out, "-f", "csv", "--table", "fixes"])
    rows = list(csv.DictReader(io.StringIO(fixes.stdout)))
    assert rows[0]["san_dns"] == "revoked.lab.test" and rows[0]["findings"] == "revoked"
    assert rows[1]["san_dns"] == "*.wild.lab.test" and rows[1]["hosts_affected"] == "2"
    markdown = cli(["summary", lab_scan.out, "-f", "markdown", "--by", "owner"])
    assert markdown.exit_code == 0
    assert "## Fix list: missing intermediates" in markdown.stdout
    assert "=HYPERLINK(&quot;" not in markdown.stdout  # quote=False: only < > & escaped
    assert "payments" in markdown.stdout
    table = cli(["summary", lab_scan.out, "--by", "owner"])
    assert table.exit_code == 0
    for text in ("Fix list: leaf certificates", "hostname_mismatch", "payments", "per week"):
        assert text in table.stdout
    bad = cli(["summary", lab_scan.out, "--by", "nope"])
    assert bad.exit_code == 2 and "owner, scenario" in bad.output
    missing = cli(["summary", lab_scan.out.parent / "nothing-here"])
    assert missing.exit_code == 2


# --- --fail-on ------------------------------------------------------------------------------


def test_fail_on_exit_codes_for_scan_and_summary(
    cli: Cli,
    lab_scan: Any,
    lab_files: Any,
    scan_lab_args: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    assert cli(["summary", lab_scan.out, "--fail-on", "critical"]).exit_code == 1
    assert cli(["summary", lab_scan.out, "--fail-on", "CRITICAL", "-f", "json"]).exit_code == 1
    assert cli(["summary", lab_scan.out, "--fail-on", "bogus"]).exit_code == 2
    # A fleet whose worst finding is expiring_soon (medium).
    rows = [r for r in lab_rows(lab_files) if r["scenario"] in {"valid", "expiring_soon"}]
    high = scan(cli, scan_lab_args, rows, tmp_path / "high", extra=["--fail-on", "high"])
    assert high.exit_code == 0, high.output
    medium = scan(cli, scan_lab_args, rows, tmp_path / "medium", extra=["--fail-on", "medium"])
    assert medium.exit_code == 1
    assert (tmp_path / "medium" / "hosts.parquet").is_file()  # the scan was still written
    assert cli(["summary", tmp_path / "high", "--fail-on", "high"]).exit_code == 0
    assert cli(["summary", tmp_path / "high", "--fail-on", "medium"]).exit_code == 1


# --- diff -----------------------------------------------------------------------------------


def test_diff_between_two_nights(
    cli: Cli,
    lab_scan: Any,
    lab_files: Any,
    scan_lab_args: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    """The next night, 20 days later: soon.lab.test has expired, future.lab.test has become
    valid; wrong.lab.test and silent.lab.test left the input, dns.lab.test came in behind an
    explicit address."""
    rows = lab_rows(lab_files, drop=frozenset({"wrong_host", "timeout"}))
    dns_row = next(r for r in rows if r["scenario"] == "resolved_by_dns")
    rows.append({**dns_row, "ip": "127.0.0.1", "scenario": "dns_by_ip"})
    new = tmp_path / "night2"
    # With the lab scan's options (its root programs and CT logs too).
    night2 = scan(cli, scan_lab_args, rows, new, as_of=FIXED + 20 * DAY, browsers=True)
    assert night2.exit_code == 0

    result = cli(["diff", lab_scan.out, new, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["written"] == str(new / "changes.parquet")
    # (the lab's rows of issue 21 age too: test_outlook_scan.py follows them)
    changes = [c for c in data["changes"] if c["host"] not in AHEAD_HOSTS]
    got = {(c["change"], c["host"], c["code"]) for c in changes}
    assert got == {
        ("new_finding", "soon.lab.test", "expired"),
        ("resolved_finding", "soon.lab.test", "renewal_overdue"),
        ("regressed", "soon.lab.test", None),
        ("recovered", "future.lab.test", None),
        ("removed", "wrong.lab.test", None),
        ("removed", "silent.lab.test", None),
        ("added", "dns.lab.test", None),
        ("new_finding", "dns.lab.test", "no_pq_kex"),  # the prober's information, as added
        ("resolved_finding", "soon.lab.test", "expiring_soon"),
        ("resolved_finding", "future.lab.test", "not_yet_valid"),
    }
    assert data["counts"]["rotated"] == 0

    table = pq.read_table(new / "changes.parquet")
    assert table.num_rows == len(data["changes"]) and len(changes) == 10
    assert table.schema.names[:10] == [
        "change",
        "host",
        "port",
        "ip",
        "connected_ip",
        "code",
        "severity",
        "old",
        "new",
        "detail",
    ]
    regressed = next(
        r for r in table.to_pylist() if r["change"] == "regressed" and r["host"] == "soon.lab.test"
    )
    assert regressed["owner"] == "00123" and regressed["severity"] == "critical"

    out = tmp_path / "changes-again.parquet"
    failing = cli(["diff", lab_scan.out, new, "--fail-on", "critical", "--out", out])
    assert failing.exit_code == 1
    assert "regressed" in failing.stdout and out.is_file()
    same = cli(
        [
            "diff",
            lab_scan.out,
            lab_scan.out,
            "--fail-on",
            "info",
            "--out",
            tmp_path / "none.parquet",
            "-f",
            "csv",
        ]
    )
    assert same.exit_code == 0 and same.stdout.startswith("change,host,port")
    assert pq.read_table(tmp_path / "none.parquet").num_rows == 0
    assert cli(["diff", lab_scan.out, tmp_path / "absent"]).exit_code == 2


# --- shards, clock, report --------------------------------------------------------------------


def test_shard_folders_read_as_one_scan(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    rows = lab_rows(lab_files, drop=SLOW)
    parent = tmp_path / "shards"
    parent.mkdir()
    for k in (1, 2):
        result = scan(cli, scan_lab_args, rows, parent / f"shard-{k}", extra=["--shard", f"{k}/2"])
        assert result.exit_code == 0, result.output
    whole = tmp_path / "whole"
    assert scan(cli, scan_lab_args, rows, whole).exit_code == 0

    by_parent = summary_json(cli, parent)
    by_folders = summary_json(cli, parent / "shard-1", parent / "shard-2")
    single = summary_json(cli, whole)
    assert by_parent["targets"] == len(rows) == single["targets"]
    assert len(by_parent["folders"]) == 2
    for data in (by_parent, by_folders):
        assert data["counts"] == single["counts"]
        assert data["calendar"] == single["calendar"]
        assert [f["leaf_sha256"] for f in data["fixes"]] == [
            f["leaf_sha256"] for f in single["fixes"]
        ]
    loaded = scanner.load(parent)
    assert len(loaded.hosts) == len(rows) + 2  # the round-robin name: a row per address
    # --shard keeps every address of a name in one shard (its consistency check needs them).
    pool = [scanner.load(parent / f"shard-{k}").hosts for k in (1, 2)]
    per_shard = [int((h["scenario"] == "inconsistent_backends").sum()) for h in pool]
    assert sorted(per_shard) == [0, 3]
    assert loaded.certificates["sha256"].is_unique
    assert len(loaded.meta) == 2 and loaded.as_of == FIXED


def test_clock_skew_warning_on_a_scan_judged_far_ahead(
    cli: Cli, lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    rows = [r for r in lab_rows(lab_files, drop=SLOW) if r["port"] and r["host"] != "bad host!"]
    ahead = FIXED + 800 * DAY  # past every leaf's notAfter, before the intermediate's
    out = tmp_path / "ahead"
    assert scan(cli, scan_lab_args, rows, out, as_of=ahead).exit_code == 0
    result = cli(["summary", out])
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "clock" in result.stderr
    data = summary_json(cli, out)
    (message,) = data["warnings"]
    assert "look expired" in message and "ahead" in message
    report = cli(["report", out])
    assert report.exit_code == 0
    assert "clock" in (out / "report.html").read_text(encoding="utf-8")


def test_report_is_self_contained_and_lists_every_host(
    cli: Cli, lab_scan: Any, tmp_path: Path
) -> None:
    target = tmp_path / "r" / "report.html"
    target.parent.mkdir()
    result = cli(["report", lab_scan.out, "--out", target])
    assert result.exit_code == 0, result.output
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<svg" in page and "<style>" in page
    # Nothing to fetch: no external script, style, image, frame or font.
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"""\b(src|href)\s*=""", page)
    assert "url(" not in page and "@import" not in page
    hosts = scanner.load(lab_scan.out).hosts
    for host in hosts["host"]:
        assert f"<td>{host}</td>" in page or host == "bad host!"
    assert "<td>bad host!</td>" in page
    assert "&#34;http://example.invalid&#34;" in page  # the formula owner, escaped
    assert INTERMEDIATE in page
    assert "Install the intermediate" in page  # remedy from findings.parquet
    assert "many clients (curl, Java, Python, Firefox) do not fetch" in page  # explanation
    # The lab's one revoked host is counted, and its leaf heads the fix list.
    assert '<b class="err">1</b>revoked' in page
    fix_list = page[page.index("Fix list") :]
    assert fix_list.index("revoked.lab.test") < fix_list.index("*.wild.lab.test")
    assert cli(["report", lab_scan.out, lab_scan.out]).exit_code == 2  # where to? say --out


# --- notebooks: load, scan, DuckDB ----------------------------------------------------------


def test_load_gives_documented_dtypes(lab_scan: Any) -> None:
    t = scanner.load(lab_scan.out)
    h = t.hosts
    assert str(h["not_after"].dtype) == "datetime64[us, UTC]"
    assert str(h["scanned_at"].dtype) == "datetime64[us, UTC]"
    assert isinstance(h["status"].dtype, pd.CategoricalDtype)
    assert h["severity"].cat.ordered
    assert (h["severity"] >= "high").sum() == (h["severity"].isin(["high", "critical"]).sum())
    wildcard = h[h["scenario"] == "wildcard"].iloc[0]
    assert wildcard["san_dns"] == ["*.wild.lab.test"]
    assert isinstance(t.findings["code"].dtype, pd.CategoricalDtype)
    assert set(t.findings["code"].cat.categories) >= {"expired", "incomplete_chain"}
    assert t.certificates["sha256"].is_unique and t.as_of == FIXED
    assert t.carried_columns == ("owner", "scenario")


def test_scan_from_python_matches_the_cli(lab: Lab, lab_files: Any, lab_scan: Any) -> None:
    wanted = {"valid", "expired", "incomplete_chain", "refused", "invalid_port"}
    rows = [r for r in lab_rows(lab_files) if r["scenario"] in wanted]
    options = {
        "as_of": FIXED,
        "ca_bundle": lab_files.ca,
        "timeout": 1.5,
        "nameservers": [lab.dns_address],
        "allow_private_fetch": True,
    }
    tables = scanner.scan(rows, **options)
    got = tables.hosts.set_index("scenario")
    cli_rows = lab_scan.by_scenario()
    assert set(got.index) == wanted
    for name in wanted:
        want = cli_rows[name]
        row = got.loc[name]
        assert (
            row["status"] == want["status"]
            and (row["error"] if row["status"] == "error" else None) == want["error"]
        )
        # The CLI's lab scan has --protocols: its prober's `no_pq_kex` is not this scan's.
        want_codes = [c for c in want["findings"] or () if c != "no_pq_kex"]
        assert (row["findings"] or None) == (want_codes or None)
        if want["status"] == "ok":
            assert row["leaf_sha256"] == want["leaf_sha256"]
        else:
            assert pd.isna(row["leaf_sha256"]) and want["leaf_sha256"] is None
    assert tables.as_of == FIXED
    assert set(tables.findings["code"]) == {"expired", "incomplete_chain"}

    async def inside_a_loop() -> None:
        inside = scanner.scan(rows, **options)  # in a worker thread with a loop of its own
        assert inside.hosts.drop(columns="scanned_at").equals(
            tables.hosts.drop(columns="scanned_at")
        )
        again = await scanner.scan_async(rows[:1], **options)
        assert len(again.hosts) == 1

    asyncio.run(inside_a_loop())
    invalid = anyio.run(lambda: scanner.scan_async(["not a host!"], **options))
    assert list(invalid.hosts["error"]) == ["invalid_input"]  # refused before the network


def test_duckdb_reads_the_tables_without_casts(lab_scan: Any) -> None:
    folder = lab_scan.out
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"""
            SELECT h.owner, count(*) AS hosts, min(h.not_after) AS first_expiry,
                   bool_and(list_contains(h.findings, f.code)) AS listed
            FROM read_parquet('{folder / "hosts.parquet"}') AS h
            JOIN read_parquet('{folder / "findings.parquet"}') AS f
              ON f.host = h.host AND f.port = h.port AND f.input_line = h.input_line
            WHERE f.severity = 'critical' AND h.not_after < TIMESTAMPTZ '2026-06-01 00:00:00+00'
            GROUP BY h.owner
            """
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    owner, hosts, first_expiry, listed = rows[0]
    assert (owner, hosts, listed) == ("payments", 1, True)
    assert first_expiry == dt.datetime(2026, 5, 22, tzinfo=dt.UTC)
