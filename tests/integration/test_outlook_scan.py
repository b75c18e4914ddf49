"""Issue 21 through `scanner scan` of the lab (real TLS on 127.0.0.1, the lab's DNS server via
--nameserver, its ARI server via --allow-private-fetch): the renewal clock, ARI windows, CAA
against the issuing CA, the date each host breaks; the forecast of `scanner forecast`,
`summary` and `report` checked against a count made here from hosts.parquet; `scanner diff`
reporting an earlier break as `regressed`; a resume refusing a changed --caa-identifiers."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.testing.arilab import DIRECTORY, EXPLANATION, RENEWAL_INFO, Ari
from scanner.testing.lab import LOOPBACK, Lab, free_port
from scanner.x509.ari import cert_identifier
from tests.conftest import FIXED

DAY = dt.timedelta(days=1)
WEEK = 7 * DAY
Cli = Callable[[Sequence[Any]], Result]


def rows(lab_scan: Any) -> dict[str, dict[str, Any]]:
    return dict(lab_scan.by_scenario())


def findings_of(lab_scan: Any, scenario: str, code: str) -> list[dict[str, Any]]:
    row = rows(lab_scan)[scenario]
    return [
        f
        for f in lab_scan.findings.to_pylist()
        if f["input_line"] == row["input_line"] and f["code"] == code
    ]


# --- the leaf's own clock ---------------------------------------------------------------------


def test_lifetime_used_and_short_lived(lab_scan: Any) -> None:
    r = rows(lab_scan)
    assert r["days90_due"]["lifetime_used"] == pytest.approx(65 / 90)
    assert r["days398_fresh"]["lifetime_used"] == pytest.approx(100 / 398)
    assert r["expired"]["lifetime_used"] == pytest.approx(100 / 90)  # over 1 once expired
    assert r["six_day_fresh"]["short_lived"] is True and r["days45_due"]["short_lived"] is False
    # A 6-day leaf is always within 30 days of its end: not "expiring soon" until overdue.
    assert r["six_day_fresh"]["expiring_soon"] is False
    assert r["six_day_due"]["expiring_soon"] is True
    (f,) = findings_of(lab_scan, "days90_due", "renewal_overdue")
    assert "72% of the leaf's lifetime" in f["message"] and "2/3" in f["message"]
    assert r["refused"]["lifetime_used"] is None and r["refused"]["short_lived"] is None


def test_a_short_lived_leaf_gets_no_revocation_unknown(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """Its CRL cannot be fetched: a 90-day leaf says so (revocation_unknown), a 6-day leaf,
    which needs no revocation pointer at all, does not; both rows say `unknown`."""
    dead = f"http://{LOOPBACK}:{free_port()}/gone.crl"
    leaves = {
        "d6-deadcrl.lab.test": (FIXED - 2 * DAY, FIXED + 4 * DAY),
        "d90-deadcrl.lab.test": (FIXED - 20 * DAY, FIXED + 70 * DAY),
    }
    rows_in = []
    for name, (start, end) in leaves.items():
        leaf = lab.pki.leaf([name], not_before=start, not_after=end, crl_url=dead)
        rows_in.append((name, lab.serve_chain([leaf, lab.pki.intermediate])))
    hosts = {h["host"]: h for h in scan_rows(cli, scan_lab_args(), rows_in, tmp_path / "o")}
    short, usual = hosts["d6-deadcrl.lab.test"], hosts["d90-deadcrl.lab.test"]
    info = {"no_pq_kex"}  # the prober's (--protocols) information on lab servers
    assert (short["short_lived"], short["revocation"]) == (True, "unknown")
    assert set(short["findings"]) - info == set()
    assert set(usual["findings"]) - info == {"revocation_unknown"}
    assert usual["revocation"] == "unknown"


# --- ACME Renewal Information -------------------------------------------------------------------


def test_ari_columns(lab_scan: Any) -> None:
    r = rows(lab_scan)
    past = r["ari_past"]
    assert (past["ari_start"], past["ari_end"]) == (FIXED - 5 * DAY, FIXED + 2 * DAY)
    assert past["ari_explanation"] == EXPLANATION
    (f,) = findings_of(lab_scan, "ari_past", "ari_renew_now")
    assert "2026-05-27T00:00:00Z to 2026-06-03T00:00:00Z is open" in f["message"]
    assert EXPLANATION in f["message"] and f["url"] == EXPLANATION
    future = r["ari_future"]
    assert (future["ari_start"], future["ari_end"]) == (FIXED + 100 * DAY, FIXED + 110 * DAY)
    assert future["ari_explanation"] is None and not findings_of(
        lab_scan, "ari_future", "ari_renew_now"
    )
    for name in ("ari_garbage", "ari_huge", "valid"):  # a bad answer, or a CA not asked
        assert r[name]["ari_start"] is r[name]["ari_end"] is None


def ari_path(lab: Lab, scenario: str) -> str:
    cert_id = cert_identifier(lab.leaf_of(scenario).cert)
    assert isinstance(cert_id, str)
    return f"{RENEWAL_INFO}/{cert_id}"


def scan_rows(
    cli: Cli, args: list[str], rows: Sequence[tuple[str, int]], out: Path
) -> list[dict[str, Any]]:
    out.parent.mkdir(parents=True, exist_ok=True)
    inp = out.parent / f"{out.name}.csv"
    with open(inp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip"])
        w.writerows([host, port, LOOPBACK] for host, port in rows)
    result = cli(["scan", inp, "--out", out, *args])
    assert result.exit_code == 0, result.output
    return list(pq.read_table(out / "hosts.parquet").to_pylist())


def test_each_leaf_is_asked_once_per_scan(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """The same leaf served on two ports: one renewalInfo request (and one directory request)
    for the scan."""
    past = lab.scenario("ari_past")
    again = lab.serve_chain([lab.leaf_of("ari_past"), lab.pki.acme_intermediate])
    before = Counter(lab.ari.hits)
    hosts = scan_rows(
        cli, scan_lab_args(), [(past.host, past.port), (past.host, again)], tmp_path / "a"
    )
    asked = Counter(lab.ari.hits)
    asked.subtract(before)
    assert asked[ari_path(lab, "ari_past")] == 1 and asked[DIRECTORY] == 1
    assert [h["ari_end"] for h in hosts] == [FIXED + 2 * DAY] * 2


def test_a_refusal_with_retry_after_is_waited_then_asked_again(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """A 503 with Retry-After: 1 (under the client's 5 s), then the window: asked twice."""
    leaf = lab.pki.leaf(["ari-retry.lab.test"], issuer=lab.pki.acme_intermediate)
    port = lab.serve_chain([leaf, lab.pki.acme_intermediate])
    cert_id = cert_identifier(leaf.cert)
    assert isinstance(cert_id, str)
    lab.ari.answer(cert_id, Ari.RETRY, FIXED)
    args = [*scan_lab_args(), "--timeout", "5"]  # (the last --timeout wins) room for the wait
    (host,) = scan_rows(cli, args, [("ari-retry.lab.test", port)], tmp_path / "retry")
    assert lab.ari.hits[f"{RENEWAL_INFO}/{cert_id}"] == 2
    assert (host["ari_start"], host["ari_end"]) == (FIXED + 100 * DAY, FIXED + 110 * DAY)


# --- CAA ------------------------------------------------------------------------------------------


def test_caa_columns_and_findings(lab: Lab, lab_scan: Any) -> None:
    r = rows(lab_scan)
    other = '0 issue "other-ca.example"'
    assert r["caa_allows"]["caa"] == ['0 issue "ca.lab.test"']
    assert r["caa_forbids"]["caa"] == [other]
    assert r["caa_parent"]["caa"] == [other]  # found on the parent name
    assert r["caa_cname"]["caa"] == [other]  # the CNAME target's records
    assert r["caa_wildcard_only"]["caa"] == [other, '0 issuewild "ca.lab.test"']
    # No CAA anywhere up the tree: any CA may issue; a CA not in the report: unknown.
    assert (r["valid"]["caa"], r["valid"]["caa_permits_issuer"]) == ([], True)
    assert (r["one_store"]["caa"], r["one_store"]["caa_permits_issuer"]) == ([], None)
    assert r["ip_san"]["caa"] is None  # an IP address has no CAA
    (f,) = findings_of(lab_scan, "caa_parent", "caa_forbids_current_ca")
    assert "caa-up.lab.test (for www.caa-up.lab.test)" in f["message"]
    assert "CN=Scanner Lab Intermediate CA" in f["message"] and "ca.lab.test" in f["message"]
    assert 'CAA 0 issue "ca.lab.test"' in f["remedy"]


def test_caa_names_are_asked_once_per_scan(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    names = ("valid", "expiring_soon", "caa_forbids", "caa_parent")
    inp = tmp_path / "in.csv"
    with open(inp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip"])
        for n in names:
            s = lab.scenario(n)
            w.writerow([s.host, s.port, LOOPBACK])
    mark = len(lab.dns_queries)
    result = cli(["scan", inp, "--out", tmp_path / "out", *scan_lab_args()])
    assert result.exit_code == 0, result.output
    asked = Counter(q for q in lab.dns_queries[mark:] if q[1] == "CAA")
    assert asked[("lab.test", "CAA")] == 1  # the parent of them all, asked once
    assert asked[("caa-up.lab.test", "CAA")] == 1
    assert max(asked.values()) == 1


# --- the date each host breaks ---------------------------------------------------------------


def test_breaks_on_and_because(lab: Lab, lab_scan: Any) -> None:
    r = rows(lab_scan)
    assert (r["valid"]["breaks_on"], r["valid"]["breaks_because"]) == (
        FIXED + 160 * DAY,  # the lab's default leaf: 30 days before as-of to 160 after
        "leaf_expires",
    )
    assert (r["intermediate_ends_first"]["breaks_on"]) == FIXED + 100 * DAY  # the CA's end
    assert (r["ari_past"]["breaks_on"], r["ari_past"]["breaks_because"]) == (
        FIXED + 2 * DAY,
        "ari_window_ends",
    )
    # Not trusted now: broken already, no date to forecast.
    for name in ("expired", "self_signed", "wrong_host", "refused"):
        assert r[name]["breaks_on"] is r[name]["breaks_because"] is None, name


def expected_forecast(hosts: list[dict[str, Any]], weeks: int, by: str | None = None) -> Counter:
    """(week, [by value], cause) -> hosts, counted from the rows' own breaks_on."""
    out: Counter[tuple[Any, ...]] = Counter()
    for h in hosts:
        when = h["breaks_on"]
        if when is None or when < FIXED or when >= FIXED + weeks * WEEK:
            continue
        week = int((when - FIXED) / WEEK) + 1
        out[(week, *((h[by],) if by else ()), h["breaks_because"])] += 1
    return out


def counted(records: list[dict[str, Any]], by: str | None = None) -> Counter:
    causes = ("leaf_expires", "chain_expires", "distrusted", "ari_window_ends")
    out: Counter[tuple[Any, ...]] = Counter()
    for rec in records:
        assert rec["total"] == sum(rec[c] for c in causes)
        for c in causes:
            if rec[c]:
                out[(rec["week"], *((rec[by],) if by else ()), c)] += rec[c]
    return out


@pytest.mark.parametrize(("weeks", "by"), [(13, None), (30, "owner")])
def test_forecast_command_matches_the_hosts_table(
    lab_scan: Any, cli: Cli, weeks: int, by: str | None
) -> None:
    hosts = lab_scan.hosts.to_pylist()
    want = expected_forecast(hosts, weeks, by)
    assert sum(want.values()) >= 5  # the lab's leaves break within the weeks
    args = ["forecast", lab_scan.out, "--weeks", weeks, "--format", "json"]
    result = cli([*args, *(["--by", by] if by else [])])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["weeks"] == weeks and data["by"] == by
    assert counted(data["forecast"], by) == want
    if by is None:
        assert [r["week"] for r in data["forecast"]] == list(range(1, weeks + 1))


def test_forecast_in_summary_report_and_csv(lab_scan: Any, cli: Cli, tmp_path: Path) -> None:
    hosts = lab_scan.hosts.to_pylist()
    result = cli(["summary", lab_scan.out, "--by", "owner", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert counted(data["forecast"]) == expected_forecast(hosts, 13)
    assert counted(data["forecast_by"], "owner") == expected_forecast(hosts, 13, "owner")
    table = cli(["summary", lab_scan.out, "--by", "owner"])
    assert "Forecast: hosts breaking per week" in table.stdout
    assert "Forecast by owner" in table.stdout
    table_csv = cli(["summary", lab_scan.out, "--format", "csv", "--table", "forecast"])
    assert table_csv.stdout.splitlines()[0].startswith("week,week_start,leaf_expires,")
    assert len(table_csv.stdout.splitlines()) == 1 + 13
    as_csv = cli(["forecast", lab_scan.out, "--format", "csv"])
    assert as_csv.exit_code == 0
    header = as_csv.stdout.splitlines()[0].split(",")
    assert header[:3] == ["week", "week_start", "leaf_expires"] and header[-1] == "total"
    page = tmp_path / "report.html"
    report = cli(["report", lab_scan.out, "--out", page, "--by", "owner"])
    assert report.exit_code == 0, report.output
    html = page.read_text()
    assert "Forecast: hosts breaking per week" in html and "Forecast by owner" in html


# --- diff: a break moved earlier is a regression ----------------------------------------------


def test_diff_reports_an_earlier_break_as_regressed(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """The CA's window moves from the future into the past (ahead of a mass revocation): the
    host now breaks at the window's end, weeks earlier, and `diff` says so."""
    leaf = lab.pki.leaf(["ari-diff.lab.test"], issuer=lab.pki.acme_intermediate)
    port = lab.serve_chain([leaf, lab.pki.acme_intermediate])
    cert_id = cert_identifier(leaf.cert)
    assert isinstance(cert_id, str)
    inp = tmp_path / "in.csv"
    inp.write_text(f"host,port,ip\nari-diff.lab.test,{port},{LOOPBACK}\n")
    outs = []
    for kind in (Ari.FUTURE, Ari.PAST):
        lab.ari.answer(cert_id, kind, FIXED)
        out = tmp_path / kind.value
        result = cli(["scan", inp, "--out", out, *scan_lab_args()])
        assert result.exit_code == 0, result.output
        outs.append(out)
    result = cli(["diff", *outs, "--format", "json"])
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["changes"]
    regressed = [c for c in changes if c["change"] == "regressed"]
    assert len(regressed) == 1
    assert regressed[0]["detail"] == "breaks_on moved earlier (ari_window_ends)"
    assert regressed[0]["old"].startswith("2026-09-19") and regressed[0]["new"].startswith(
        "2026-06-03"
    )
    assert {(c["change"], c["code"]) for c in changes if c["change"] == "new_finding"} == {
        ("new_finding", "ari_renew_now")
    }


# --- resume -----------------------------------------------------------------------------------


def test_resume_refuses_a_changed_caa_identifiers_file(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    s = lab.scenario("caa_forbids")
    inp = tmp_path / "in.csv"
    inp.write_text(f"host,port,ip\n{s.host},{s.port},{LOOPBACK}\n")
    args = scan_lab_args()
    report = Path(next(a for a in args if a.startswith("--caa-identifiers=")).split("=", 1)[1])
    mine = tmp_path / "caa.csv"
    mine.write_bytes(report.read_bytes())
    args = [a for a in args if not a.startswith("--caa-identifiers=")]
    args.append(f"--caa-identifiers={mine}")
    out = tmp_path / "out"
    assert cli(["scan", inp, "--out", out, *args]).exit_code == 0
    meta = json.loads((out / "scan.json").read_text())
    assert meta["caa_identifiers"]["sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest()
    assert cli(["scan", inp, "--out", out, *args, "--resume"]).exit_code == 0  # same contents
    mine.write_text(mine.read_text() + "Extra,CN=Extra,AB,CN=Extra,extra.example\n")
    result = cli(["scan", inp, "--out", out, *args, "--resume"])
    assert result.exit_code == 2
    assert "cannot resume" in result.stderr and "--caa-identifiers" in result.stderr
