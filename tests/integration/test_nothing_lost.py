"""Nothing lost: one scan under every fault at once (hostile peers, abusive AIA servers,
refused, unreachable and unresolvable hosts, invalid and duplicate rows, a BOM, CRLF and quoted
newlines in the input). Every input target appears exactly once in hosts.parquet, scan.json's
counts add up, and the internal error count is 0."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.testing import starttls as lab_starttls
from scanner.testing.hostile import AiaServer, HostileLab, Kind
from scanner.testing.lab import LOOPBACK, UNREACHABLE_IP, Lab, free_port
from tests.conftest import scan_args

TIMEOUT = 2.0
Cli = Callable[[Sequence[str]], Result]
FIELDS = ["host", "port", "ip", "id", "note", "starttls"]


@pytest.fixture(scope="module")
def hostile(fixed: dt.datetime) -> Iterator[HostileLab]:
    with HostileLab.start(fixed, timeout=TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def aia(hostile: HostileLab) -> Iterator[AiaServer]:
    with AiaServer.start({"/intermediate.der": hostile.pki.intermediate.der}) as server:
        yield server


def row(host: str, port: object, ip: str, ident: str, note: str = "") -> dict[str, str]:
    return {"host": host, "port": str(port), "ip": ip, "id": ident, "note": note}


def fleet(hostile: HostileLab, aia: AiaServer) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The input rows, and the error code (or "ok") each row id must end with."""
    rows: list[dict[str, str]] = []
    expect: dict[str, str] = {}
    for r in hostile.hostile_rows(2 * len(Kind)):
        ident = r["host"].split(".")[0]
        rows.append(row(r["host"], r["port"], r["ip"], ident, "hostile"))
        expect[ident] = hostile.cases[Kind(r["kind"])].error or "ok"
    for i, r in enumerate(hostile.good_rows(10)):
        # Notes with commas, quotes, newlines and a formula: carried verbatim.
        note = ["ops, emea", 'say "hi"', "two\nlines", "=1+1", ""][i % 5]
        rows.append(row(r["host"], r["port"], r["ip"], f"good-{i}", note))
        expect[f"good-{i}"] = "ok"
    pki = hostile.pki
    for path in ("/intermediate.der", "/stream", "/loop", "/trickle"):
        name = f"aia{path.replace('/', '-').replace('.', '-')}.aia.test"
        leaf = pki.leaf([name], aia_url=aia.url(path))
        port = aia.tls([leaf.der], leaf.key)
        rows.append(row(name, port, LOOPBACK, name.split(".")[0]))
        expect[name.split(".")[0]] = "ok"
    rows.append(row("refused.test", free_port(), LOOPBACK, "refused"))
    expect["refused"] = "refused"
    rows.append(row("unreachable.test", 443, UNREACHABLE_IP, "unreachable"))
    expect["unreachable"] = "unreachable"
    rows.append(row("missing.nothing-lost.test", 443, "", "dns"))
    expect["dns"] = "dns"
    for ident, host, port, ip in (
        ("bad-host", "bad host!", 443, ""),
        ("port-0", "p.test", 0, LOOPBACK),
        ("port-65536", "p.test", 65536, LOOPBACK),
        ("port-abc", "p.test", "abc", LOOPBACK),
        ("bad-ip", "p.test", 443, "not-an-ip"),
        ("label-64", "a" * 64 + ".test", 443, LOOPBACK),
    ):
        rows.append(row(host, port, ip, ident))
        expect[ident] = "invalid_input"
    return rows, expect


def write_input(path: Path, rows: list[dict[str, str]]) -> int:
    """BOM, CRLF line ends, one row with too many fields, two duplicates. Returns the number of
    duplicate rows written."""
    buffer = io.StringIO(newline="")
    w = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    # The same target written differently: scanned and reported once.
    first_good = next(r for r in rows if r["id"] == "good-0")
    w.writerow({**first_good, "host": first_good["host"].upper() + ".", "id": "duplicate-1"})
    w.writerow({**first_good, "id": "duplicate-2"})
    text = buffer.getvalue() + "extra.test,443,127.0.0.1,too-many,x,surplus\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return 2


def with_lab_peers(lab: Lab, rows: list[dict[str, str]], expect: dict[str, str]) -> dict[str, int]:
    """A name of three addresses and STARTTLS peers that refuse, drip and flood. Returns the
    rows each id must have with --addresses all (1 unless listed)."""
    pool = lab.scenario("inconsistent_backends")
    rows.append(row(pool.host, pool.port, "", "pool"))
    expect["pool"] = "ok"
    peers = {
        "smtp-ok": (lab.scenario("starttls_smtp").port, "ok"),
        "smtp-not-offered": (lab.scenario("starttls_not_offered").port, "starttls"),
        "smtp-drip": (lab.serve_handler(lab_starttls.dripper()), "timeout"),
        "smtp-flood": (lab.serve_handler(lab_starttls.long_banner()), "tls"),
    }
    for ident, (port, outcome) in peers.items():
        rows.append({**row(f"{ident}.starttls.test", port, LOOPBACK, ident), "starttls": "smtp"})
        expect[ident] = outcome
    return {"pool": len(pool.addresses)}


@pytest.mark.parametrize("addresses", ["first", "all"])
def test_every_target_once_and_the_counts_add_up(
    addresses: str,
    cli: Cli,
    hostile: HostileLab,
    aia: AiaServer,
    lab: Lab,
    fixed: dt.datetime,
    tmp_path: Path,
) -> None:
    rows, expect = fleet(hostile, aia)
    per_address = with_lab_peers(lab, rows, expect)
    rows_of = {i: per_address.get(i, 1) if addresses == "all" else 1 for i in expect}
    rows_of["too-many"] = 1
    expect["too-many"] = "invalid_input"
    inp, ca, out = tmp_path / "fleet.csv", tmp_path / "ca.pem", tmp_path / "out"
    duplicates = write_input(inp, rows)
    ca.write_bytes(hostile.ca_pem + lab.ca_pem)
    dns_host, dns_port = lab.dns_address
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), ca),
            "--timeout",
            str(TIMEOUT),
            "--aia-timeout",
            "1",
            "--allow-private-fetch",
            "--concurrency",
            "200",
            "--nameserver",
            f"{dns_host}:{dns_port}",
            "--addresses",
            addresses,
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    meta: dict[str, Any] = json.loads((out / "scan.json").read_text())

    # Every input target exactly once (the two duplicates dropped), or once per address of a
    # name with --addresses all; none invented.
    ids, wanted = Counter(h["id"] for h in hosts), Counter(rows_of)
    assert ids == wanted, (ids - wanted, wanted - ids)
    assert len({h["input_line"] for h in hosts}) == len(expect)
    assert {h["id"]: h["error"] or "ok" for h in hosts} == expect

    counts = meta["counts"]
    assert counts["targets"] == len(expect)
    assert counts["rows"] == len(hosts) == sum(rows_of.values())
    assert counts["duplicates"] == duplicates
    assert counts["ok"] + sum(counts["errors"].values()) == counts["rows"]
    assert counts["ok"] == sum(rows_of[i] for i, e in expect.items() if e == "ok")
    assert counts["errors"] == dict(Counter(e for e in expect.values() if e != "ok"))
    assert counts["names_inconsistent_backends"] == (addresses == "all")
    assert meta["internal_errors"] == 0

    # Carried text survives quoting; the other tables only point at rows that exist.
    notes = {h["id"]: h["note"] for h in hosts}
    assert notes["good-2"] == "two\nlines" and notes["good-0"] == "ops, emea"
    lines = {h["input_line"] for h in hosts if h["status"] == "ok"}
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    assert {f["input_line"] for f in findings} <= lines
    with open(out / "hosts.csv", newline="", encoding="utf-8") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == len(hosts)
    assert {r["note"] for r in csv_rows if r["id"] == "good-3"} == {"'=1+1"}
    by_id = {h["id"]: h for h in hosts}
    assert "incomplete_chain" in by_id["aia-intermediate-der"]["findings"]
    for ident in ("aia-stream", "aia-loop", "aia-trickle"):
        assert "aia_fetch_failed" in by_id[ident]["findings"], by_id[ident]
