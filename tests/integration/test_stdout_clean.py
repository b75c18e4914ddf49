"""No control character of a certificate (or an input row) reaches the terminal, in any stdout
format: a lab-style certificate whose subject holds ESC, BEL and the C1 CSI (\\x9b), minted
here, served by a real TLS server on loopback, scanned, then shown by `summary` and `diff` in
every format (CSV tables too) and by `check --json`. JSON escapes them (\\u001b), the others
replace them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import Result

from scanner.testing.lab import DAY, LOOPBACK, Issued, Pki, make_ca, make_leaf
from scanner.testing.responders import RevocationServer

Cli = Callable[[Sequence[str]], Result]
EVIL = "\x1b[2J\x07\x9b[31m"  # clear the screen, ring, CSI (8-bit) set red


def dirty(text: str) -> list[str]:
    """The control characters of `text`: C0 but line feed and tab, DEL and C1."""
    return sorted(
        {hex(ord(c)) for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F}
    )


@dataclass(frozen=True)
class Scans:
    old: Path
    new: Path
    chain: Path
    ca: Path


@pytest.fixture(scope="module")
def scans(
    cli: Cli, fixed: dt.datetime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scans]:
    tmp = tmp_path_factory.mktemp("control-characters")
    pki = Pki.create(fixed)
    inter = make_ca(
        f"Evil{EVIL} CA", issuer=pki.root, not_before=fixed - 100 * DAY, not_after=fixed + 900 * DAY
    )

    def leaf(name: str, days_left: int) -> Issued:
        return make_leaf(
            inter,
            dns_names=[name],
            cn=f"{name}{EVIL}",
            not_before=fixed - 100 * DAY,
            not_after=fixed + days_left * DAY,
        )

    expiring, expired = leaf("ctl.lab.test", 5), leaf("ctl2.lab.test", -1)
    ca, chain = tmp / "ca.pem", tmp / "chain.pem"
    ca.write_bytes(pki.root.pem)
    chain.write_bytes(expiring.pem + inter.pem)
    with RevocationServer.start() as server:
        p1 = server.tls([expiring, inter], str(tmp))
        p2 = server.tls([expired], str(tmp))  # the intermediate left out, too
        rows = [f"ctl.lab.test,{p1},{LOOPBACK},ops{EVIL}", f"ctl2.lab.test,{p2},{LOOPBACK},web"]
        args = ["--as-of", fixed.isoformat(), "--ca-bundle", ca, "--no-revocation"]
        for name, lines in (("old", rows[:1]), ("new", rows)):
            (tmp / f"{name}.csv").write_text("host,port,ip,owner\n" + "\n".join(lines) + "\n")
            result = cli(["scan", tmp / f"{name}.csv", "--out", tmp / name, *args])
            assert result.exit_code == 0, result.output
            assert dirty(result.stdout) == []  # the end-of-scan table
        yield Scans(old=tmp / "old", new=tmp / "new", chain=chain, ca=ca)


FORMATS = ["table", "csv", "json", "markdown"]
TABLES = ["counts", "causes", "fixes", "intermediates", "calendar"]


def commands(s: Scans) -> list[list[object]]:
    out: list[list[object]] = []
    for f in FORMATS:
        out.append(["summary", s.new, "--format", f])
        out.append(["summary", s.new, "--by", "owner", "--format", f])
        out.append(["diff", s.old, s.new, "--out", s.new.parent / f"changes-{f}", "--format", f])
    out += [["summary", s.new, "--format", "csv", "--table", t] for t in TABLES]
    return out


def test_no_control_character_reaches_stdout(scans: Scans, cli: Cli) -> None:
    shown = 0
    for command in commands(scans):
        result = cli(command)
        assert result.exit_code == 0, (command, result.output)
        text = result.stdout_bytes.decode("utf-8")
        assert dirty(text) == [], command
        shown += "Evil" in text
    assert shown >= 8  # the issuer's name is shown, so the test can fail


def test_check_json_escapes_control_characters(scans: Scans, cli: Cli, fixed: dt.datetime) -> None:
    result = cli(
        [
            "check",
            scans.chain,
            "--host",
            "ctl.lab.test",
            "--ca-bundle",
            scans.ca,
            "--as-of",
            fixed.isoformat(),
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    assert dirty(result.stdout_bytes.decode("utf-8")) == []
    assert "\\u001b" in result.stdout and "\\u009b" in result.stdout
    row = json.loads(result.stdout)
    assert row["subject"] == f"CN=ctl.lab.test{EVIL},O=Scanner Lab"  # the value itself kept


def test_check_text_replaces_control_characters(scans: Scans, cli: Cli, fixed: dt.datetime) -> None:
    args = ["--host", "ctl.lab.test", "--ca-bundle", scans.ca, "--as-of", fixed.isoformat()]
    result = cli(["check", scans.chain, *args])
    assert result.exit_code == 0, result.output
    assert dirty(result.stdout_bytes.decode("utf-8")) == [] and "Evil" in result.stdout
