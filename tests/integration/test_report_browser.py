"""The HTML report in a real browser (Debian's headless Chromium): certificate and input text
holding markup renders as text and runs nothing, while the report's own sorting script runs.

The page comes from a real scan of lab servers: one serves a certificate whose subject and
SAN hold markup, and the input row gives it an owner holding an <img onerror=...>."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from typer.testing import Result

from scanner.testing.lab import LOOPBACK, Lab

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CHROMIUM = "/usr/bin/chromium"
TITLE = "TLS fleet report"
# Each payload, if it ever ran, would retitle the page.
CERT_CN = "<script>document.title='pwned-cert'</script>"
CERT_SAN = "<svg onload=document.title='pwned-san'>"
OWNER = "<img src=x onerror=\"document.title='pwned-owner'\">"
RAW_HOST = "<iframe srcdoc=x onload=document.title='pwned-host'>"


def chromium_dom(page: Path, fragment: str, profile: Path) -> str:
    """The DOM after load, as Chromium serialises it (--dump-dom)."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--dump-dom",
            f"{page.resolve().as_uri()}#{fragment}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def test_hostile_text_renders_as_text_and_nothing_runs(
    lab: Lab,
    lab_files: Any,
    cli: Callable[[Sequence[Any]], Result],
    scan_lab_args: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    assert shutil.which(CHROMIUM), "Debian's chromium is needed (.ci/run installs it)"
    pki = lab.pki
    evil = pki.leaf(
        ["evil.lab.test", CERT_SAN],
        cn=CERT_CN,
        not_before=FIXED - 100 * DAY,
        not_after=FIXED - DAY,  # expired: it shows in the fix list with its SANs
    )
    port = lab.serve_chain([evil, pki.intermediate])
    rows = [r for r in lab_files.rows if r["scenario"] in {"valid", "expired"}]
    rows += [
        {
            "host": "evil.lab.test",
            "port": str(port),
            "ip": LOOPBACK,
            "owner": OWNER,
            "scenario": "evil",
        },
        {"host": RAW_HOST, "port": "443", "ip": "", "owner": OWNER, "scenario": "bad"},
    ]
    src = tmp_path / "hosts.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "owner", "scenario", "starttls"])
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "scan"
    result = cli(["scan", src, "--out", out, *scan_lab_args()])
    assert result.exit_code == 0, result.output
    result = cli(["report", out])
    assert result.exit_code == 0, result.output
    page = out / "report.html"

    dom = chromium_dom(page, "sort=host-desc", tmp_path / "profile")

    # The report's own script ran (so scripts were enabled), and sorted the host table.
    assert re.search(r'<body[^>]*data-sortable="ready"', dom)
    table = dom[dom.index('<table id="hosts"') :]
    hosts = re.findall(r"<tr><td>([^<]*)</td>", table)
    assert hosts == [
        "valid.lab.test",
        "expired.lab.test",
        "evil.lab.test",
        "&lt;iframe srcdoc=x onload=document.title='pwned-host'&gt;",
    ]
    # Nothing else ran: the title is ours, and no element came from the data.
    assert re.search(rf"<title>{TITLE}</title>", dom)
    assert "pwned" not in dom[: dom.index("</head>")]
    assert dom.count("<script") == 1
    for tag in ("<img", "<svg onload", "<iframe"):
        assert tag not in dom
    # ...because the text is there, as text.
    assert "&lt;img src=x onerror=\"document.title='pwned-owner'\"&gt;" in dom
    assert "\\&lt;script\\&gt;document.title='pwned-cert'\\&lt;/script\\&gt;" in dom
    assert "&lt;svg onload=document.title='pwned-san'&gt;" in dom
