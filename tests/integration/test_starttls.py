"""STARTTLS for real: a lab server per protocol following its RFC (greeting, capabilities, the
upgrade reply, then TLS with a lab certificate), scanned by the `starttls` column, by `auto` on
the protocol's port and by the --starttls option; servers that refuse or never offer the
upgrade (`starttls`), and peers that drip, flood or do not speak the protocol (`tls`/`timeout`
with a detail naming what was expected). On asyncio (CLI) and on trio (anyio's TLSStream)."""

from __future__ import annotations

import asyncio
import csv
import errno
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.model.types import StartTls
from scanner.run.api import scan_async
from scanner.testing import starttls as lab_starttls
from scanner.testing.lab import LOOPBACK, Lab

Cli = Callable[[Sequence[str]], Result]
PROTOCOLS = [p.value for p in StartTls]
# The ports `auto` maps to each protocol (the table, written out).
AUTO_PORTS = {
    "smtp": 25,
    "imap": 143,
    "pop3": 110,
    "ftp": 21,
    "ldap": 389,
    "xmpp": 5222,
    "postgres": 5432,
}
# What each lab server says when it refuses the upgrade, as the scanner must quote it.
REFUSALS = {
    "smtp": "'454 4.7.0 TLS not available due to local problem'",
    "imap": "'a2 NO STARTTLS is disabled on this server'",
    "pop3": "'-ERR command not permitted'",
    "ftp": "'534 Policy requires no TLS'",
    "ldap": "resultCode 53 (unwillingToPerform), 'StartTLS is not enabled'",
    "xmpp": "refused STARTTLS: <failure>",
    "postgres": "answered 'N' to SSLRequest",
}
FIELDS = ["host", "port", "ip", "starttls", "case"]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: "" if v is None else str(v) for k, v in r.items()} for r in rows)
    return path


@dataclass
class Scanned:
    rows: dict[str, dict[str, Any]]  # by `case`


def scan(
    cli: Cli, args: Callable[..., list[str]], folder: Path, rows: list[dict[str, Any]], *extra: str
) -> Scanned:
    inp = write_csv(folder / "in.csv", rows)
    out = folder / "out"
    result = cli(["scan", inp, "--out", out, *args(), *extra])
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(out / "hosts.parquet").to_pylist()
    by_case = {r["case"]: r for r in hosts}
    assert len(by_case) == len(rows) == len(hosts)
    return Scanned(by_case)


def leaf_chain(lab: Lab, name: str) -> list[Any]:
    return [lab.pki.leaf([name]), lab.pki.intermediate]


# --- every protocol, by column ------------------------------------------------------------


@pytest.fixture(scope="module")
def by_column(
    lab: Lab,
    cli: Cli,
    scan_lab_args: Callable[..., list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Scanned:
    rows = []
    for p in PROTOCOLS:
        name = f"{p}.starttls.lab.test"
        port = lab.serve_starttls(StartTls(p), leaf_chain(lab, name))
        rows.append({"host": name, "port": port, "ip": LOOPBACK, "starttls": p, "case": p})
    return scan(cli, scan_lab_args, tmp_path_factory.mktemp("by-column"), rows)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_by_column(protocol: str, by_column: Scanned) -> None:
    row = by_column.rows[protocol]
    assert (row["status"], row["error"], row["error_detail"]) == ("ok", None, None)
    assert row["protocol"] == protocol
    assert row["trusted"] is True and row["findings"] == []
    assert row["san_dns"] == [f"{protocol}.starttls.lab.test"]
    assert row["tls_version"].startswith("TLS") and row["chain_length"] == 2


# --- every protocol, by `auto` on its port ------------------------------------------------


def bind_on_own_address(lab: Lab, port: int, make: Callable[[], Any]) -> str:
    """Serve on `port` of a loopback address of our own (127/8 is all on loopback on Linux,
    so a real service on 127.0.0.1:25 is left alone). Skips when the port needs privileges."""
    rng = random.Random()
    for _ in range(20):
        address = f"127.{rng.randrange(64, 250)}.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
        try:
            lab.serve_handler(make(), host=address, port=port)
        except PermissionError:
            pytest.skip(f"binding port {port} needs privileges this machine does not give us")
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                continue
            raise
        return address
    raise AssertionError("no free loopback address")


@pytest.fixture(scope="module")
def by_auto(
    lab: Lab,
    cli: Cli,
    scan_lab_args: Callable[..., list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Scanned:
    rows = []
    for p, port in AUTO_PORTS.items():
        name = f"{p}.auto.lab.test"
        ctx = lab.context(leaf_chain(lab, name))
        address = bind_on_own_address(lab, port, partial(lab_starttls.server, StartTls(p), ctx))
        rows.append({"host": name, "port": port, "ip": address, "starttls": "", "case": p})
    # `none` in the column: direct TLS even on port 25.
    direct = lab.context(leaf_chain(lab, "direct.auto.lab.test"))
    address = bind_on_own_address(lab, 25, partial(lab_starttls_direct, direct))
    rows.append(
        {
            "host": "direct.auto.lab.test",
            "port": 25,
            "ip": address,
            "starttls": "none",
            "case": "none",
        }
    )
    # `auto` in the column: the same as blank.
    rows.append(
        {
            "host": "cell.auto.lab.test",
            "port": 25,
            "ip": rows[0]["ip"],
            "starttls": "AUTO",
            "case": "auto",
        }
    )
    return scan(cli, scan_lab_args, tmp_path_factory.mktemp("by-auto"), rows)


def lab_starttls_direct(ctx: Any) -> Any:
    """A direct TLS handler (TLS from the first byte) on a plain listener."""
    from scanner.testing.lab import _tls_handler

    return _tls_handler(ctx)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_by_auto_on_its_port(protocol: str, by_auto: Scanned) -> None:
    row = by_auto.rows[protocol]
    assert (row["status"], row["error"]) == ("ok", None), row["error_detail"]
    assert row["port"] == AUTO_PORTS[protocol]
    assert row["protocol"] == protocol
    assert row["trusted"] is True and row["san_dns"] == [f"{protocol}.auto.lab.test"]


def test_column_none_forces_direct_tls_and_auto_is_blank(by_auto: Scanned) -> None:
    none = by_auto.rows["none"]
    assert (none["status"], none["protocol"], none["port"]) == ("ok", "tls", 25)
    auto = by_auto.rows["auto"]
    assert (auto["status"], auto["protocol"]) == ("ok", "smtp")


# --- the --starttls option ----------------------------------------------------------------


def test_option_names_the_protocol_and_the_column_overrides_it(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    smtp = lab.serve_starttls(StartTls.SMTP, leaf_chain(lab, "opt.lab.test"))
    imap = lab.serve_starttls(StartTls.IMAP, leaf_chain(lab, "opt.lab.test"))
    direct = lab.scenario("valid")
    rows = [
        {"host": "opt.lab.test", "port": smtp, "ip": LOOPBACK, "starttls": "", "case": "option"},
        {"host": "opt.lab.test", "port": imap, "ip": LOOPBACK, "starttls": "imap", "case": "cell"},
        {
            "host": direct.host,
            "port": direct.port,
            "ip": LOOPBACK,
            "starttls": "none",
            "case": "tls",
        },
    ]
    got = scan(cli, scan_lab_args, tmp_path, rows, "--starttls", "smtp").rows
    assert (got["option"]["status"], got["option"]["protocol"]) == ("ok", "smtp")
    assert (got["cell"]["status"], got["cell"]["protocol"]) == ("ok", "imap")
    assert (got["tls"]["status"], got["tls"]["protocol"]) == ("ok", "tls")


def test_option_none_speaks_tls_to_an_smtp_server(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    port = lab.serve_starttls(StartTls.SMTP, leaf_chain(lab, "plain.lab.test"))
    rows = [{"host": "plain.lab.test", "port": port, "ip": LOOPBACK, "starttls": "", "case": "x"}]
    row = scan(cli, scan_lab_args, tmp_path, rows, "--starttls", "none").rows["x"]
    assert (row["status"], row["error"], row["protocol"]) == ("error", "tls", "tls")


def test_bad_option_and_bad_cell(
    lab: Lab, cli: Cli, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    rows = [{"host": "a.lab.test", "port": 25, "ip": LOOPBACK, "starttls": "smtps", "case": "x"}]
    result = cli(
        [
            "scan",
            write_csv(tmp_path / "in.csv", rows),
            "--out",
            tmp_path / "o1",
            *scan_lab_args(),
            "--starttls",
            "gopher",
        ]
    )
    assert result.exit_code == 2 and "gopher" in result.output
    row = scan(cli, scan_lab_args, tmp_path, rows).rows["x"]
    assert (row["status"], row["error"]) == ("error", "invalid_input")
    assert "starttls 'smtps' is not one of auto, none, smtp, imap" in row["error_detail"]


# --- refusals, servers that never offer, peers that misbehave -----------------------------


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Speaks first, but not SMTP."""
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    await writer.drain()
    await reader.read(100)
    writer.close()


async def _greet_554(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"554 \x1b[31mno\x07 service here " + b"z" * 400 + b"\r\n")
    await writer.drain()
    await reader.read(100)
    writer.close()


@pytest.fixture(scope="module")
def failures(
    lab: Lab,
    cli: Cli,
    scan_lab_args: Callable[..., list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Scanned:
    rows = []
    chain = leaf_chain(lab, "fail.lab.test")

    def add(case: str, port: int, protocol: str) -> None:
        rows.append(
            {
                "host": "fail.lab.test",
                "port": port,
                "ip": LOOPBACK,
                "starttls": protocol,
                "case": case,
            }
        )

    for p in PROTOCOLS:
        add(
            f"refuse-{p}",
            lab.serve_starttls(StartTls(p), chain, lab_starttls.Upgrade(accept=False)),
            p,
        )
    for p in ("smtp", "imap", "xmpp"):
        add(
            f"never-{p}",
            lab.serve_starttls(StartTls(p), chain, lab_starttls.Upgrade(offer=False)),
            p,
        )
    add("drip", lab.serve_handler(lab_starttls.dripper()), "smtp")
    add("flood", lab.serve_handler(lab_starttls.long_banner()), "smtp")
    add("garbage", lab.serve_handler(_garbage), "smtp")
    add("silence", lab.scenario("timeout").port, "imap")
    add("control", lab.serve_handler(_greet_554), "smtp")
    return scan(cli, scan_lab_args, tmp_path_factory.mktemp("failures"), rows)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refused_upgrade_is_starttls_quoting_the_reply(protocol: str, failures: Scanned) -> None:
    row = failures.rows[f"refuse-{protocol}"]
    assert (row["status"], row["error"], row["protocol"]) == ("error", "starttls", protocol)
    assert REFUSALS[protocol] in row["error_detail"]
    assert row["connected_ip"] == LOOPBACK and row["leaf_sha256"] is None


@pytest.mark.parametrize(
    ("protocol", "words"),
    [
        ("smtp", "does not offer STARTTLS (RFC 3207) in its EHLO reply: '250-mail.lab.test"),
        ("imap", "does not offer STARTTLS: '* CAPABILITY IMAP4rev1 LOGINDISABLED"),
        ("xmpp", "does not offer STARTTLS in its stream features"),
    ],
)
def test_never_offered_upgrade_is_starttls(protocol: str, words: str, failures: Scanned) -> None:
    row = failures.rows[f"never-{protocol}"]
    assert (row["status"], row["error"], row["protocol"]) == ("error", "starttls", protocol)
    assert words in row["error_detail"]


def test_dripped_banner_times_out_saying_what_was_expected(failures: Scanned) -> None:
    row = failures.rows["drip"]
    assert (row["status"], row["error"]) == ("error", "timeout")
    assert "during starttls: expected an SMTP greeting (220, RFC 5321)" in row["error_detail"]


def test_one_mebibyte_banner_line_is_one_bounded_error(failures: Scanned) -> None:
    row = failures.rows["flood"]
    assert (row["status"], row["error"]) == ("error", "tls")
    assert (
        "expected an SMTP greeting (220, RFC 5321), got a line longer than 4096 bytes"
        in (row["error_detail"])
    )
    assert len(row["error_detail"]) < 400


def test_garbage_and_silence_say_what_was_expected(failures: Scanned) -> None:
    garbage = failures.rows["garbage"]
    assert (garbage["error"], garbage["protocol"]) == ("tls", "smtp")
    assert (
        "expected an SMTP greeting (220, RFC 5321), got 'HTTP/1.1 400 Bad Request'"
        in (garbage["error_detail"])
    )
    silence = failures.rows["silence"]
    assert silence["error"] == "timeout"
    assert "expected an IMAP greeting" in silence["error_detail"]


def test_server_text_is_quoted_printable_and_truncated(failures: Scanned) -> None:
    row = failures.rows["control"]
    assert (row["error"], row["protocol"]) == ("starttls", "smtp")
    detail = row["error_detail"]
    assert "does not accept a session: '554 \\x1b[31mno\\x07 service here zzz" in detail
    assert "\x1b" not in detail and "\x07" not in detail
    assert detail.endswith("...'") and len(detail) < 300


# --- the anyio path (trio) ----------------------------------------------------------------


def test_every_protocol_on_trio(lab: Lab, lab_files: Any, fixed: Any) -> None:
    rows = []
    for p in PROTOCOLS:
        name = f"{p}.trio.lab.test"
        port = lab.serve_starttls(StartTls(p), leaf_chain(lab, name))
        rows.append({"host": name, "port": port, "ip": LOOPBACK, "starttls": p})
    refused = lab.serve_starttls(
        StartTls.SMTP, leaf_chain(lab, "r.trio.lab.test"), lab_starttls.Upgrade(accept=False)
    )
    rows.append({"host": "r.trio.lab.test", "port": refused, "ip": LOOPBACK, "starttls": "smtp"})
    run = partial(scan_async, rows, as_of=fixed, ca_bundle=lab_files.ca, timeout=lab.timeout)
    tables = anyio.run(run, backend="trio")
    hosts = tables.hosts.set_index("host")
    for p in PROTOCOLS:
        row = hosts.loc[f"{p}.trio.lab.test"]
        assert (row["status"], row["protocol"], bool(row["trusted"])) == ("ok", p, True), p
    bad = hosts.loc["r.trio.lab.test"]
    assert (bad["status"], bad["error"]) == ("error", "starttls")
    assert REFUSALS["smtp"] in bad["error_detail"]
