"""Reports stay right with every address (`--addresses all`): a round-robin name of three lab
backends where 127.0.0.3 serves an expired leaf. The HTML host table has an address column and
each row shows its own address's findings (the two trusted grade-A backends do not show the
third's `expired`), and the fix list and the end-of-scan "worst" table name the address."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from typer.testing import Result

from scanner.testing.lab import Lab
from scanner.testing.servers import tls_handler

Cli = Callable[[Sequence[str]], Result]
FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
POOL = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
NAME = "mixed.pool.lab.test"


class HostTable(HTMLParser):
    """The report's host table (`<table id="hosts">`): its headers, and per row the text of
    each cell and the finding codes of its `<summary>` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self._in_table = self._in_th = self._in_td = self._in_summary = False
        self._cell: list[str] = []
        self._row: list[str] = []
        self._codes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", "hosts") in attrs:
            self._in_table = True
        elif not self._in_table:
            return
        elif tag == "th":
            self._in_th, self._cell = True, []
        elif tag == "tr":
            self._row, self._codes = [], []
        elif tag == "td":
            self._in_td, self._cell = True, []
        elif tag == "summary":
            self._in_summary = True
            self._codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self._in_table:
            return
        if tag == "table":
            self._in_table = False
        elif tag == "th":
            self._in_th = False
            self.headers.append("".join(self._cell).strip())
        elif tag == "td":
            self._in_td = False
            self._row.append(" ".join("".join(self._cell).split()))
        elif tag == "summary":
            self._in_summary = False
        elif tag == "tr" and self._row:
            cells = dict(zip(self.headers, self._row, strict=True))
            self.rows.append({**cells, "codes": [c.split()[0] for c in self._codes]})

    def handle_data(self, data: str) -> None:
        if self._in_th or self._in_td:
            self._cell.append(data)
        if self._in_summary:
            self._codes[-1] += data


def host_table(page: str) -> HostTable:
    parser = HostTable()
    parser.feed(page)
    return parser


def test_each_address_shows_its_own_findings(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    pki = lab.pki
    good = pki.leaf([NAME])
    expired = pki.leaf([NAME], not_before=FIXED - 100 * DAY, not_after=FIXED - 10 * DAY)
    leaves = (good, good, expired)
    port = lab.serve_same_port(
        [
            (ip, tls_handler(lab.context([leaf, pki.intermediate])))
            for ip, leaf in zip(POOL, leaves, strict=True)
        ]
    )
    lab.dns_records[NAME] = POOL
    valid = lab.scenario("valid")
    src = tmp_path / "hosts.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip"])
        w.writerow([NAME, port, ""])
        w.writerow([valid.host, valid.port, valid.ip or ""])
    out = tmp_path / "scan"
    args = [a for a in scan_lab_args() if a != "--quiet"]
    scanned = cli(["scan", src, "--out", out, *args])
    assert scanned.exit_code == 0, scanned.output

    hosts = {
        r["connected_ip"]: r
        for r in pq.read_table(out / "hosts.parquet").to_pylist()
        if r["host"] == NAME
    }
    assert sorted(hosts) == list(POOL)
    for ip in POOL[:2]:
        assert hosts[ip]["trusted"] is True and hosts[ip]["grade"] == "A"
        assert "expired" not in hosts[ip]["findings"]
    assert "expired" in hosts["127.0.0.3"]["findings"]

    # The end-of-scan "worst" table names each row's address (stdout at COLUMNS=200).
    worst = scanned.stdout[scanned.stdout.index("Worst ") :]
    lines = [line for line in worst.splitlines() if NAME in line]
    assert len(lines) == 3 and "address" in worst.splitlines()[2]
    assert sorted(ip for line in lines for ip in POOL if ip in line) == list(POOL)
    (expired_line,) = [line for line in lines if "expired" in line]
    assert "127.0.0.3" in expired_line and "critical" in expired_line

    # The HTML host table: an address column, and each row its own address's findings.
    result = cli(["report", out])
    assert result.exit_code == 0, result.output
    table = host_table((out / "report.html").read_text(encoding="utf-8"))
    assert table.headers[:5] == ["host", "port", "ip", "address", "status"]
    rows = {r["address"]: r for r in table.rows if r["host"] == NAME}
    assert sorted(rows) == list(POOL)
    for ip in POOL:
        assert sorted(rows[ip]["codes"]) == sorted(hosts[ip]["findings"]), ip
    for ip in POOL[:2]:
        assert rows[ip]["status"] == "trusted" and rows[ip]["grade"] == "A"
        assert "expired" not in rows[ip]["codes"] and "critical" not in rows[ip]["severity"]
    assert rows["127.0.0.3"]["status"] == "not trusted"
    assert rows["127.0.0.3"]["severity"] == "critical"
    assert rows["127.0.0.3"]["codes"].count("expired") == 1
    (other,) = [r for r in table.rows if r["host"] == valid.host]
    # One address: none shown (but the prober's information on every lab server).
    assert other["address"] == "" and other["codes"] in ([], ["no_pq_kex"])

    # The fix list names the address of the expired backend, not the name alone.
    result = cli(["summary", out, "--format", "json"])
    assert result.exit_code == 0, result.output
    fixes = json.loads(result.stdout)["fixes"]
    (fix,) = [f for f in fixes if "expired" in f["findings"]]
    assert fix["examples"] == [f"{NAME}:{port} (127.0.0.3)"]


# --- words whole, colours that mean something ---------------------------------------------

GREEN, AMBER, RED = "#2e7d32", "#c98a00", "#b3261e"


def chart_fills(page: str, title: str) -> dict[str, str]:
    """Each bar's label and fill colour in the chart titled `title`."""
    start = page.index(f'aria-label="{title}"')
    svg = page[start : page.index("</svg>", start)]
    bars = re.findall(r'<text x="0" y="\d+">([^<]*)</text><rect [^>]*fill="(#[0-9a-f]{6})"', svg)
    return dict(bars)


def test_report_keeps_words_whole_and_colours_carry_meaning(cli: Cli, lab_scan: Any) -> None:
    out = lab_scan.out.parent / "colours.html"
    result = cli(["report", lab_scan.out, "--out", out])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    css = page[page.index("<style>") : page.index("</style>")]
    # Nothing lets the browser break a word in the middle (`hostname_mis/match`).
    for rule in ("anywhere", "break-all", "break-word"):
        assert rule not in css, rule
    assert "overflow-wrap:normal" in css

    verdicts = chart_fills(page, "Verdicts and errors (hosts)")
    assert verdicts["trusted"] == GREEN
    assert verdicts["expiring soon"] == AMBER
    for failure in ("not trusted", "expired", "hostname mismatch", "error: refused"):
        assert verdicts[failure] == RED, failure
    grades = chart_fills(page, "Hosts per grade")
    assert grades["A"] == GREEN and grades["B"] == AMBER and grades["T"] == RED
    causes = chart_fills(page, "Root causes (hosts with each finding)")
    assert causes["expired"] == RED and causes["expiring_soon"] == AMBER
    assert set(chart_fills(page, "Hosts each trust store trusts").values()) == {GREEN}
    assert len(set(verdicts.values()) | set(grades.values())) == 3  # not every bar red
