"""The trend's pure core without the network: nights built from real certificates minted by the
lab's PKI and judged by `diagnose` at fixed instants (the rows `scanner scan` would write),
the breaking-soon boundary at as-of + 30 days to the second, changes counted by
`scanner.analysis.diff`, night labels, and the line charts' geometry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import pytest

from scanner.analysis.trend import Kind, Night, breaking_hosts, labels, series, trend, wide
from scanner.errors import ScanFolderError
from scanner.model.types import ErrorCode, Handshake, ScanFailed, ScanResult, Target
from scanner.present.trend_html import LABEL_GAP, _spread, line_chart
from scanner.run.api import from_results
from scanner.run.assemble import Answer, assemble
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED - 400 * DAY)


@pytest.fixture(scope="module")
def trust(pki: lab.Pki) -> certs.TrustStore:
    return certs.load_trust_store(pki.root.pem, "lab-root.pem")


def night(
    trust: certs.TrustStore,
    as_of: dt.datetime,
    hosts: Sequence[tuple[str, Sequence[lab.Issued] | None]],
) -> Night:
    """A night's tables: each (host, chain) judged at `as_of`; a None chain is refused."""
    results: list[ScanResult] = []
    for row, (host, chain) in enumerate(hosts, 2):
        target = Target(row=row, host=host, port=443, ip=None, is_ip=False, extra=())
        if chain is None:
            results.append(ScanFailed(target=target, error=ErrorCode.REFUSED, detail="refused"))
            continue
        der = [c.der for c in chain]
        ctx = DiagnosisContext(trust=trust, as_of=as_of, warn_days=30)
        d = diagnose(der, host=host, is_ip=False, ctx=ctx)
        shake = Handshake(chain=tuple(der), tls_version="TLSv1.3", cipher="X", address="127.0.0.1")
        results.append(assemble(Answer(target=target, handshake=shake, diagnosis=d)))
    t = from_results([(r, as_of) for r in results], as_of=as_of)
    return Night(as_of=as_of, hosts=t.hosts, findings=t.findings)


def test_breaking_counts_trusted_hosts_to_the_second(pki: lab.Pki, trust: certs.TrustStore) -> None:
    def chain(name: str, not_after: dt.datetime) -> list[lab.Issued]:
        return [
            pki.leaf([name], not_before=FIXED - 90 * DAY, not_after=not_after),
            pki.intermediate,
        ]

    n = night(
        trust,
        FIXED,
        [
            ("now.test", chain("now.test", FIXED)),  # valid through this second (RFC 5280)
            ("edge.test", chain("edge.test", FIXED + 30 * DAY)),
            ("after.test", chain("after.test", FIXED + 30 * DAY + SECOND)),
            ("gone.test", chain("gone.test", FIXED - SECOND)),  # expired: broken already
            ("other.test", chain("wrong.test", FIXED + DAY)),  # not trusted: broken already
            ("down.test", None),
        ],
    )
    trusted = [v is True for v in n.hosts["trusted"].astype(object)]
    assert trusted == [True, True, True, False, False, False]
    assert list(breaking_hosts(n.hosts, FIXED)["host"]) == ["now.test", "edge.test"]


def test_counts_per_night_and_changes_from_the_night_before(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    soon = [pki.leaf(["soon.test"], not_after=FIXED + 10 * DAY), pki.intermediate]
    good = [pki.leaf(["good.test"], not_after=FIXED + 200 * DAY), pki.intermediate]
    fleet = [("soon.test", soon), ("good.test", good), ("down.test", None)]
    nights = [night(trust, FIXED + k * 7 * DAY, fleet) for k in range(3)]
    t = trend(nights)
    assert [n.compared for n in t.nights] == [False, True, True]
    assert series(t, Kind.VERDICT, "trusted") == [2, 2, 1]  # soon.test expires on day 10
    assert series(t, Kind.VERDICT, "expired") == [0, 0, 1]
    assert series(t, Kind.STATUS, "error") == [1, 1, 1]
    assert series(t, Kind.BREAKING, "within_30_days") == [1, 1, 0]
    assert series(t, Kind.CHANGE, "new_finding") == [None, 0, 1]  # expired, on night 3
    assert series(t, Kind.CHANGE, "regressed") == [None, 0, 1]
    assert list(t.changes["host"]) == ["soon.test"] * len(t.changes)
    assert t.breaking.empty
    # The table for reading: a column per night, the first night's change empty.
    changes = wide(t, [Kind.CHANGE], nonzero=True)
    assert list(changes.columns) == ["hosts", "2026-06-01", "2026-06-08", "2026-06-15"]
    row = changes[changes["hosts"] == "new_finding"].iloc[0]
    assert pd.isna(row["2026-06-01"]) and row["2026-06-15"] == 1
    assert "added" not in set(changes["hosts"])  # zero every night: left out
    assert list(wide(t, [Kind.VERDICT], last=2).columns) == ["hosts", "2026-06-08", "2026-06-15"]
    with pytest.raises(ScanFolderError, match="out of order"):
        trend([nights[1], nights[0]])


def test_labels() -> None:
    days = [FIXED, FIXED + DAY]
    assert labels(days) == ["2026-06-01", "2026-06-02"]
    assert labels(days, short=True) == ["06-01", "06-02"]
    # Two nights on one date are told apart by their time.
    assert labels([FIXED, FIXED + dt.timedelta(hours=13)]) == [
        "2026-06-01 00:00",
        "2026-06-01 13:00",
    ]
    close = [FIXED, FIXED + SECOND, FIXED + DAY]  # two runs within one minute
    assert labels(close, short=True) == ["06-01 00:00:00", "06-01 00:00:01", "06-02 00:00:00"]
    # Across a new year the short labels keep the year.
    assert labels([FIXED, FIXED + 365 * DAY], short=True) == ["2026-06-01", "2027-06-01"]


def test_line_chart_geometry() -> None:
    chart = line_chart(
        "t", ["a", "b", "c"], [("trusted", [10, 5, 0]), ("new_finding", [None, 2, 4])]
    )
    trusted, new = chart.lines
    assert [float(p.y) for p in trusted.points] == [
        chart.top,
        (chart.top + chart.bottom) / 2,
        chart.bottom,
    ]
    assert [p.label for p in new.points] == ["b", "c"]  # no point where there is no count
    assert float(trusted.points[0].x) == chart.left and float(trusted.points[-1].x) == chart.right
    assert trusted.colour == "#2e7d32" and new.colour == "#b3261e"
    one = line_chart("t", ["a"], [("x", [3])])
    assert float(one.lines[0].points[0].x) == (one.left + one.right) / 2


def test_end_labels_are_spread_apart_within_the_plot() -> None:
    placed = _spread([100, 100, 101, 300, 299], 10, 300)
    ordered = sorted(placed)
    assert all(b - a >= LABEL_GAP for a, b in zip(ordered, ordered[1:], strict=False))
    assert max(placed) <= 300 and min(placed) >= 10
    assert placed[0] == 100  # the first stays at its line


def test_terminal_at_80_columns_leaves_out_the_oldest_nights(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    import io

    from rich.console import Console

    from scanner.present.formats import OutputFormat, render
    from scanner.present.trend import document

    name = "a-rather-long-host-name-of-the-payments-fleet.example.test"
    chain = [pki.leaf([name], not_after=FIXED + 20 * DAY), pki.intermediate]
    t = trend(night(trust, FIXED + k * DAY, [(name, chain)]) for k in range(10))

    def shown(width: int, nights: int) -> str:
        out = io.StringIO()
        console = Console(file=out, width=width, highlight=False)
        doc = document(t, nights=nights, limit=20, short=True)
        render(doc, OutputFormat.TABLE, io.StringIO(), console, console)
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        assert f"{name}:443" in text  # the breaking host, its name whole
        assert "06-10" in text  # the latest night, always
        return text

    assert "06-03" not in shown(80, 7)  # older than --nights 7
    narrow, wide_ = shown(80, 10), shown(120, 10)
    assert "not shown at this width: 06-01, 06-02" in narrow  # the oldest first
    assert "06-01" in wide_ and "not shown at this width: 06" not in wide_
