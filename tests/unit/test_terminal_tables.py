"""Terminal tables at 80 and 120 columns with long host names (pure: frames in, text out): the
expiry calendar, the `--by` breakdown and `diff`'s changes keep every word whole, stay within
the width unless one word is wider, and take a bounded number of lines."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from rich.console import Console

from scanner.analysis.views import changes_view
from scanner.present.formats import Section, terminal_section

SEPARATORS = re.compile(r"[\s\u2500-\u257f]+")
HOSTS = [
    "payments-gateway-frontend-blue.eu-west-1.internal.example.com:443",
    "customer-identity-single-sign-on.ap-southeast-2.internal.example.com:8443",
    "short.example.com:443",
]
DETAIL = (
    "2 distinct leaf certificates behind pool.example.com:443: 10.0.0.1, 10.0.0.2 serve leaf "
    "3f2a9c1e0b7d4a55 (notAfter 2026-12-18T00:00:00+00:00); 10.0.0.3 serves leaf "
    "9a8b7c6d5e4f3a2b (notAfter 2026-06-11T00:00:00+00:00)"
)


def rendered(section: Section, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(terminal_section(section, width))
    return str(console.file.getvalue()).splitlines()  # type: ignore[attr-defined]


def words(lines: list[str]) -> set[str]:
    return {w.strip(",;:") for line in lines for w in SEPARATORS.split(line) if w.strip(",;:-")}


def calendar() -> Section:
    starts = pd.Timestamp("2026-06-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "week": range(1, 13),
            "starts": [(starts + pd.Timedelta(weeks=k)).strftime("%Y-%m-%d") for k in range(12)],
            "ends": [(starts + pd.Timedelta(weeks=k + 1)).strftime("%Y-%m-%d") for k in range(12)],
            "hosts": [3 if k % 4 == 0 else 0 for k in range(12)],
            "leaves": [2 if k % 4 == 0 else 0 for k in range(12)],
            "examples": [HOSTS if k % 4 == 0 else [] for k in range(12)],
        }
    )
    return Section(
        title="Expiry calendar",
        frame=frame,
        wrap=("examples",),
        whole=("examples",),
        under=("examples",),
    )


def by_owner() -> Section:
    frame = pd.DataFrame(
        {
            "owner": ["platform-engineering-europe-middle-east-africa", "payments"],
            "targets": [40, 3],
            "not_trusted": [12, 0],
            "errors": [2, 0],
            "causes": ["hostname_mismatch 7, intermediate_expired 3, timeout 2", ""],
            "grades": ["A 20, B 5, M 7, T 5", "A 3"],
            "trusted_by": ["default 28, java 27", "default 3, java 3"],
        }
    )
    return Section(
        title="By owner",
        frame=frame,
        wrap=("owner", "causes", "grades", "trusted_by"),
        under=("causes", "grades", "trusted_by"),
    )


def changes() -> Section:
    raw = pd.DataFrame(
        {
            "change": ["new_finding", "rotated", "regressed", "unreachable"] * 2,
            "host": [h.rsplit(":", 1)[0] for h in HOSTS[:2]] * 4,
            "port": [443] * 8,
            "ip": [None] * 8,
            "connected_ip": ["10.0.0.3", None] * 4,
            "code": ["inconsistent_backends", None, None, None] * 2,
            "severity": ["high", None, "critical", None] * 2,
            "old": [None, "a" * 64, "trusted", None] * 2,
            "new": [None, "b" * 64, "revoked", "timeout"] * 2,
            "detail": [DETAIL, "notAfter 2026-06-11 -> 2027-06-11", "revoked", "timed out"] * 2,
        }
    )
    return Section(
        title="Changes",
        frame=changes_view(raw),
        wrap=("detail",),
        under=("detail",),
        under_always=True,
    )


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(("make", "most"), [(calendar, 40), (by_owner, 20), (changes, 8 * 5 + 6)])
def test_tables_keep_words_whole_at_80_and_120(make: object, most: int, width: int) -> None:
    section = make()  # type: ignore[operator]
    whole = words(rendered(section, 1000))
    lines = rendered(section, width)
    assert len(lines) <= most, "\n".join(lines)
    for line in lines:
        if len(line) > width:  # only where a single word is wider than the room left
            assert max(len(w) for w in line.split()) > width - 12, line
    assert words(lines) <= whole, sorted(words(lines) - whole)
    for host in HOSTS[:2]:
        if any(host.split(":")[0] in w for w in whole):
            assert any(host.split(":")[0] in w for w in words(lines)), host


def test_changes_shorten_sha256_and_name_the_address() -> None:
    view = changes().frame
    assert view.loc[1, "old"] == "a" * 12 and view.loc[1, "new"] == "b" * 12
    assert view.loc[0, "target"] == f"{HOSTS[0].rsplit(':', 1)[0]}:443 (10.0.0.3)"
    assert view.loc[1, "target"] == HOSTS[1].replace(":8443", ":443")
