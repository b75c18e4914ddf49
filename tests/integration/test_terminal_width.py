"""Terminal tables at 80 and 120 columns (what cron mails): `diff`, `summary --by` and the
expiry calendar, run as the `scanner` command with COLUMNS set, over two real scans of lab
hosts with long names and long owners. Each output stays a bounded number of lines, no line
is wider than the terminal unless one word is, and no word is broken: every word printed is a
whole word of the same output printed 1000 columns wide."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from scanner.testing.lab import LOOPBACK, Lab

Cli = Callable[[Sequence[str]], Result]
FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
# Box drawing characters (rich's borders) and list punctuation are not part of a word.
SEPARATORS = re.compile(r"[\s\u2500-\u257f]+")
LONG = "payments-gateway-frontend-blue.eu-west-1.internal.lab.test"
LONGER = "customer-identity-single-sign-on.ap-southeast-2.internal.lab.test"
OWNER = "platform-engineering-europe-middle-east-africa"


def scanner(args: Sequence[str], columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-m", "scanner", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def words(text: str) -> set[str]:
    return {w.strip(",;:") for w in SEPARATORS.split(text) if w.strip(",;:-")}  # not rules


@pytest.fixture(scope="module")
def nights(
    lab: Lab,
    lab_files: Any,
    scan_lab_args: Callable[..., list[str]],
    cli: Cli,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """Two scans, 20 days apart, of some lab hosts plus long-named ones (served by lab
    servers whose certificates do not name them, so each has findings with long messages)."""
    folder = tmp_path_factory.mktemp("widths")
    picked = {"valid", "expired", "expiring_soon", "self_signed", "refused", "wrong_host"}
    rows = [r for r in lab_files.rows if r["scenario"] in picked]
    by_name = {r["scenario"]: r for r in rows}
    for name, scenario in ((LONG, "expiring_soon"), (LONGER, "expired")):
        lab.dns_records[name] = LOOPBACK
        rows.append({**by_name[scenario], "host": name, "ip": "", "scenario": name})
    src = folder / "hosts.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "owner"])
        w.writeheader()
        for i, r in enumerate(rows):
            owner = OWNER if i % 2 else f"{OWNER}-{i}"
            w.writerow({"host": r["host"], "port": r["port"], "ip": r["ip"], "owner": owner})
    old, new = folder / "old", folder / "new"
    assert cli(["scan", src, "--out", old, *scan_lab_args()]).exit_code == 0
    later = FIXED + dt.timedelta(days=20)
    assert cli(["scan", src, "--out", new, *scan_lab_args(as_of=later)]).exit_code == 0
    return old, new


def check(args: Sequence[str], *, most: Callable[[int], int]) -> None:
    reference = scanner(args, 1000)
    # Words of the caption a narrow table adds, naming the columns it leaves out.
    caption = "not shown at this width: expires, severity, findings (a wider terminal, or "
    whole = words(reference) | words(caption + "--format markdown)")
    assert any(w.startswith(LONG) for w in whole), reference
    for columns in (80, 120):
        text = scanner(args, columns)
        lines = text.splitlines()
        assert len(lines) <= most(columns), (columns, len(lines), text)
        for line in lines:  # wider only where one word is wider than the room left
            if len(line) > columns:
                assert max(len(w) for w in SEPARATORS.split(line)) > columns - 12, line
        broken = words(text) - whole
        assert not broken, (columns, sorted(broken)[:10], text)
        for name in (n for n in (LONG, LONGER) if any(w.startswith(n) for w in whole)):
            assert any(w.startswith(name) for w in words(text)), (columns, name, text)


def test_diff_is_readable_at_80_and_120_columns(nights: tuple[Path, Path]) -> None:
    old, new = nights
    changes = json.loads(scanner(["diff", old, new, "--format", "json", "--out", new / "c.pq"], 80))
    n = len(changes["changes"])
    assert n >= 4
    # A line per change, and its detail under it in a few lines, plus the headings.
    check(["diff", old, new, "--out", new / "c.pq"], most=lambda columns: 25 + n * 5)


def test_summary_by_and_calendar_keep_words_whole(nights: tuple[Path, Path]) -> None:
    _, new = nights
    check(["summary", new, "--by", "owner"], most=lambda columns: 150)
