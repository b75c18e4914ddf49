"""Reports stay right with every address (`--addresses all`): a round-robin name of three lab
backends where 127.0.0.3 serves an expired leaf. The HTML host table has an address column and
each row shows its own address's findings (the two trusted grade-A backends do not show the
third's `expired`), and the fix list and the end-of-scan "worst" table name the address."""

from __future__ import annotations

import csv
import datetime as dt
import json
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
    assert other["address"] == "" and other["codes"] == []  # one address: none shown

    # The fix list names the address of the expired backend, not the name alone.
    result = cli(["summary", out, "--format", "json"])
    assert result.exit_code == 0, result.output
    fixes = json.loads(result.stdout)["fixes"]
    (fix,) = [f for f in fixes if "expired" in f["findings"]]
    assert fix["examples"] == [f"{NAME}:{port} (127.0.0.3)"]
