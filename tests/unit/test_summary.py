"""Summaries, the fix list, the expiry calendar, the clock-skew warning, --fail-on, and the
escaping of every output format. Fleets are built without the network: real certificates
minted by the lab's PKI, judged by the pure `diagnose` at a fixed instant, turned into
tables by the same row functions as `scanner scan` (scanner.api.from_results)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from html.parser import HTMLParser

import pandas as pd
import pytest
from markupsafe import escape

from scanner.analysis.fixlist import leaf_fixes, missing_intermediates
from scanner.analysis.severity import hosts_at_or_above
from scanner.analysis.summary import (
    clock_skew_warning,
    expiry_calendar,
    fleet_summary,
    summarise,
    summarise_by,
)
from scanner.errors import UsageError
from scanner.model.types import (
    AiaResult,
    ErrorCode,
    Handshake,
    InvalidTarget,
    ScanFailed,
    ScanOk,
    ScanResult,
    Severity,
    Target,
)
from scanner.present import html as report
from scanner.present.escape import markdown as md_cell
from scanner.present.escape import terminal as safe
from scanner.present.formats import write_csv
from scanner.present.html import render
from scanner.run.api import from_results
from scanner.run.assemble import Answer, assemble
from scanner.store.load import ScanTables
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
AIA_URL = "http://127.0.0.1:9/intermediate.der"  # never fetched: results are given


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED)


@pytest.fixture(scope="module")
def trust(pki: lab.Pki) -> certs.TrustStore:
    return certs.load_trust_store(pki.root.pem, "lab-root.pem")


class Fleet:
    """Builds scan results host by host; `tables()` gives what `load` would."""

    def __init__(self, trust: certs.TrustStore, as_of: dt.datetime = FIXED) -> None:
        self.trust = trust
        self.as_of = as_of
        self.results: list[ScanResult] = []

    def _target(self, host: str, port: int, owner: str) -> Target:
        return Target(
            row=len(self.results) + 2,
            host=host,
            port=port,
            ip=None,
            is_ip=False,
            extra=(owner,),
        )

    def ok(
        self,
        host: str,
        chain: Sequence[lab.Issued],
        *,
        port: int = 443,
        owner: str = "web",
        fetched: dict[str, AiaResult] | None = None,
    ) -> ScanOk:
        der = [c.der for c in chain]
        d = diagnose(
            der,
            host=host,
            is_ip=False,
            ctx=DiagnosisContext(trust=self.trust, as_of=self.as_of, warn_days=30, fetched=fetched),
        )
        result = assemble(
            Answer(
                target=self._target(host, port, owner),
                handshake=Handshake(
                    chain=tuple(der), tls_version="TLSv1.3", cipher="X", address="127.0.0.1"
                ),
                diagnosis=d,
            )
        )
        self.results.append(result)
        return result

    def failed(self, host: str, error: ErrorCode, *, port: int = 443, owner: str = "web") -> None:
        self.results.append(
            ScanFailed(target=self._target(host, port, owner), error=error, detail=f"{error}")
        )

    def invalid(self, raw: str, owner: str = "web") -> None:
        item = InvalidTarget(
            row=len(self.results) + 2, host=raw, port=None, ip=None, detail="bad", extra=(owner,)
        )
        self.results.append(ScanFailed(target=item, error=ErrorCode.INVALID_INPUT, detail="bad"))

    def tables(self) -> ScanTables:
        return from_results(
            [(r, self.as_of) for r in self.results], as_of=self.as_of, extra_names=("owner",)
        )


def leaf(pki: lab.Pki, names: Sequence[str], **kw: object) -> lab.Issued:
    return pki.leaf(list(names), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mixed(pki: lab.Pki, trust: certs.TrustStore) -> ScanTables:
    """A small fleet with one host per kind of problem."""
    inter = pki.intermediate
    f = Fleet(trust)
    f.ok("good.example.test", [leaf(pki, ["good.example.test"]), inter], owner="web")
    f.ok(
        "old.example.test",
        [
            leaf(pki, ["old.example.test"], not_before=FIXED - 90 * DAY, not_after=FIXED - DAY),
            inter,
        ],
        owner="payments",
    )
    f.ok("wrong.example.test", [leaf(pki, ["other.example.test"]), inter], owner="web")
    f.ok(
        "soon.example.test",
        [leaf(pki, ["soon.example.test"], not_after=FIXED + 10 * DAY), inter],
        owner="payments",
    )
    f.failed("down.example.test", ErrorCode.REFUSED, owner="ops")
    f.invalid("not a host!", owner="")
    return f.tables()


def count(df: pd.DataFrame, kind: str, name: str) -> tuple[int, float]:
    row = df[(df["kind"] == kind) & (df["name"] == name)].iloc[0]
    return int(row["hosts"]), float(row["share"])


def test_summarise_counts_and_shares_per_verdict_and_error(mixed: ScanTables) -> None:
    s = summarise(mixed.hosts)
    assert count(s, "status", "ok") == (4, round(4 / 6, 4))
    assert count(s, "verdict", "not_trusted") == (2, round(2 / 6, 4))
    assert count(s, "verdict", "expired") == (1, round(1 / 6, 4))
    assert count(s, "verdict", "hostname_mismatch") == (1, round(1 / 6, 4))
    assert count(s, "verdict", "expiring_soon") == (1, round(1 / 6, 4))
    assert count(s, "verdict", "self_signed") == (0, 0.0)
    assert count(s, "error", "refused") == (1, round(1 / 6, 4))
    assert count(s, "error", "invalid_input") == (1, round(1 / 6, 4))
    assert count(s, "error", "timeout") == (0, 0.0)
    assert count(s, "severity", "critical") == (2, round(2 / 6, 4))


def test_summarise_by_owner_counts_within_each_group(mixed: ScanTables) -> None:
    by = summarise_by(mixed.hosts, "owner")
    payments = by[by["owner"] == "payments"]
    assert count(payments, "status", "ok") == (2, 1.0)
    assert count(payments, "verdict", "expired") == (1, 0.5)
    assert count(payments, "verdict", "expiring_soon") == (1, 0.5)
    web = by[by["owner"] == "web"]
    assert count(web, "verdict", "hostname_mismatch") == (1, 0.5)
    ops = by[by["owner"] == "ops"]
    assert count(ops, "error", "refused") == (1, 1.0)
    # The invalid row's blank owner is a group of its own, not dropped.
    assert count(by[by["owner"] == ""], "error", "invalid_input") == (1, 1.0)
    assert set(by["owner"]) == {"payments", "web", "ops", ""}
    with pytest.raises(KeyError):
        summarise_by(mixed.hosts, "team")


def test_loaded_dtypes_are_tz_aware_categorical_and_lists(mixed: ScanTables) -> None:
    h = mixed.hosts
    assert str(h["not_after"].dtype) == "datetime64[us, UTC]"
    assert h["severity"].cat.ordered
    assert list(h["severity"].cat.categories) == ["info", "low", "medium", "high", "critical"]
    assert set(h.loc[h["severity"] >= "high", "host"]) == {
        "old.example.test",
        "wrong.example.test",
    }
    assert "internal" in list(h["error"].cat.categories)  # every code, present or not
    assert h.loc[h["host"] == "good.example.test", "san_dns"].iloc[0] == ["good.example.test"]
    assert mixed.findings["code"].dtype == "category"
    assert str(h["port"].dtype) == "Int32" and str(h["trusted"].dtype) == "boolean"


def test_fix_list_one_row_per_leaf_most_hosts_first(pki: lab.Pki, trust: certs.TrustStore) -> None:
    """Renewing one expired wildcard fixes 37 hosts: one row, not 37."""
    inter = pki.intermediate
    wildcard = leaf(
        pki, ["*.shop.example.test"], not_before=FIXED - 400 * DAY, not_after=FIXED - 3 * DAY
    )
    f = Fleet(trust)
    for i in range(37):
        f.ok(f"n{i:02d}.shop.example.test", [wildcard, inter])
    # The same wildcard on its bare parent: expired and a mismatch.
    f.ok("shop.example.test", [wildcard, inter])
    mismatch = leaf(pki, ["a.example.test"])
    f.ok("b.example.test", [mismatch, inter], port=443)
    f.ok("b.example.test", [mismatch, inter], port=8443)
    f.ok("a.example.test", [mismatch, inter])  # serves it without a problem
    f.ok("fine.example.test", [leaf(pki, ["fine.example.test"]), inter])
    fixes = leaf_fixes(f.tables().hosts)

    assert len(fixes) == 2
    first, second = fixes.iloc[0], fixes.iloc[1]
    assert first["leaf_sha256"] == certs.sha256_hex(wildcard.der)
    assert first["hosts_affected"] == 38 and first["hosts_serving"] == 38
    assert first["findings"] == ["expired", "hostname_mismatch"]
    assert first["severity"] == "critical"
    assert first["san_dns"] == ["*.shop.example.test"]
    assert first["subject"] == "CN=*.shop.example.test,O=Scanner Lab"
    assert first["issuer"] == "CN=Scanner Lab Intermediate CA,O=Scanner Lab"
    assert first["not_after"] == pd.Timestamp(FIXED - 3 * DAY)
    assert first["remedy"].startswith("Renew the certificate")
    assert len(first["examples"]) == 5
    assert second["leaf_sha256"] == certs.sha256_hex(mismatch.der)
    assert second["hosts_affected"] == 2 and second["hosts_serving"] == 3
    assert second["examples"] == ["b.example.test:443", "b.example.test:8443"]


def test_missing_intermediates_named_with_url_and_hosts(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    """Servers sending only their leaf: the intermediate comes from AIA, one fix row."""
    inter = pki.intermediate
    fetched = {AIA_URL: AiaResult(url=AIA_URL, certificates=(inter.der,))}
    f = Fleet(trust)
    for name in ("x.example.test", "y.example.test", "z.example.test"):
        f.ok(name, [leaf(pki, [name], aia_url=AIA_URL)], fetched=fetched)
    f.ok("ok.example.test", [leaf(pki, ["ok.example.test"]), inter])
    tables = f.tables()
    missing = missing_intermediates(tables.findings)
    assert missing.to_dict("records") == [
        {
            "intermediate": "CN=Scanner Lab Intermediate CA,O=Scanner Lab",
            "aia_url": AIA_URL,
            "hosts_affected": 3,
            "remedy": "Install the intermediate CN=Scanner Lab Intermediate CA,O=Scanner Lab "
            f"(from {AIA_URL}) on the server, after the leaf in the chain file.",
            "examples": ["x.example.test:443", "y.example.test:443", "z.example.test:443"],
        }
    ]
    # The missing intermediate is named by structured columns, not by parsing messages.
    rows = tables.findings[tables.findings["code"] == "incomplete_chain"]
    assert len(rows) == 3
    assert set(rows["url"]) == {AIA_URL}
    assert set(rows["certificate_subject"]) == {"CN=Scanner Lab Intermediate CA,O=Scanner Lab"}
    assert rows["certificate_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()


CALENDAR_CASES = {
    # notAfter relative to as-of: calendar week (1-based) or None when not listed
    "expired an hour ago": (-HOUR, None),
    "in one hour": (HOUR, 1),
    "6 days 23 hours": (7 * DAY - HOUR, 1),
    "exactly 7 days": (7 * DAY, 2),
    "83 days": (83 * DAY, 12),
    "exactly 84 days": (84 * DAY, None),
}


def test_expiry_calendar_weeks_count_from_the_scan_as_of(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    inter = pki.intermediate
    f = Fleet(trust)
    for label, (delta, _) in CALENDAR_CASES.items():
        host = re.sub(r"[^a-z0-9]+", "-", label) + ".example.test"
        f.ok(host, [leaf(pki, [host], not_after=FIXED + delta), inter])
    f.failed("down.example.test", ErrorCode.TIMEOUT)
    cal = expiry_calendar(f.tables().hosts, FIXED)
    assert list(cal["week"]) == list(range(1, 13))
    assert cal.iloc[0]["starts"] == FIXED and cal.iloc[11]["ends"] == FIXED + 84 * DAY
    want: dict[int, int] = {}
    for _, week in CALENDAR_CASES.values():
        if week is not None:
            want[week] = want.get(week, 0) + 1
    got = {int(r.week): int(r.hosts) for r in cal.itertuples() if r.hosts}
    assert got == want
    assert cal.iloc[1]["examples"] == ["exactly-7-days.example.test:443"]
    # The same fleet seen from a week later: everything moves one week earlier.
    later = expiry_calendar(f.tables().hosts, FIXED + 7 * DAY)
    assert int(later.iloc[0]["hosts"]) == 1  # the exactly-7-days leaf, now in week 1
    with pytest.raises(UsageError, match="timezone"):
        expiry_calendar(f.tables().hosts, FIXED.replace(tzinfo=None))


def test_clock_skew_warning_when_most_of_the_fleet_looks_out_of_date(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    inter = pki.intermediate
    chains = [[leaf(pki, [f"h{i}.example.test"]), inter] for i in range(6)]

    def fleet(as_of: dt.datetime, n: int = 6) -> pd.DataFrame:
        f = Fleet(trust, as_of)
        for i in range(n):
            f.ok(f"h{i}.example.test", chains[i])
        return f.tables().hosts

    # Leaves are valid from FIXED - 30 days to FIXED + 200 days.
    assert clock_skew_warning(fleet(FIXED), FIXED) is None
    ahead = FIXED + 400 * DAY
    message = clock_skew_warning(fleet(ahead), ahead)
    assert message is not None and "6 of 6" in message and "ahead" in message
    behind = FIXED - 60 * DAY
    message = clock_skew_warning(fleet(behind), behind)
    assert message is not None and "not yet valid (6)" in message and "behind" in message
    # Too few hosts to say anything about a clock.
    assert clock_skew_warning(fleet(ahead, n=4), ahead) is None


def test_clock_skew_needs_more_than_half(pki: lab.Pki, trust: certs.TrustStore) -> None:
    inter = pki.intermediate
    f = Fleet(trust)
    for i in range(3):
        f.ok(
            f"e{i}.example.test", [leaf(pki, [f"e{i}.example.test"], not_after=FIXED - DAY), inter]
        )
        f.ok(f"v{i}.example.test", [leaf(pki, [f"v{i}.example.test"]), inter])
    assert clock_skew_warning(f.tables().hosts, FIXED) is None  # exactly half
    f.ok("e3.example.test", [leaf(pki, ["e3.example.test"], not_after=FIXED - DAY), inter])
    assert clock_skew_warning(f.tables().hosts, FIXED) is not None
    assert fleet_summary(f.tables().hosts, f.tables().findings, FIXED).warnings


FAIL_ON = {
    # threshold: hosts of the mixed fleet at or above it
    Severity.CRITICAL: 2,  # expired, mismatch
    Severity.HIGH: 2,
    Severity.MEDIUM: 3,  # + expiring soon
    Severity.INFO: 3,
}


@pytest.mark.parametrize(("threshold", "want"), FAIL_ON.items(), ids=[s.value for s in FAIL_ON])
def test_fail_on_counts_hosts_at_or_above(
    mixed: ScanTables, threshold: Severity, want: int
) -> None:
    assert hosts_at_or_above(mixed.hosts, threshold) == want


HOSTILE = [
    '=HYPERLINK("http://example.invalid","x")',
    "+1+1",
    "-2",
    "@SUM(A1)",
    "\tcmd",
    'a,b "quoted"\nsecond line',
    "<script>alert(1)</script>",
]


def test_csv_output_neutralises_formulas_and_stays_valid_csv() -> None:
    df = pd.DataFrame({"owner": HOSTILE, "names": [[v, "ok"] for v in HOSTILE]})
    buffer = io.StringIO()
    write_csv(df, buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0] == ["owner", "names"]
    assert len(rows) == 1 + len(HOSTILE)
    for value, (owner, names) in zip(HOSTILE, rows[1:], strict=True):
        if value[0] in "=+-@\t":
            assert owner == "'" + value
        else:
            assert owner == value
        assert not names.startswith(("=", "+", "-", "@", "\t"))


def test_markdown_and_terminal_cells_are_escaped() -> None:
    cell = md_cell("<img src=x onerror=alert(1)> | *bold* [link](x)\nnext")
    assert "<" not in cell and ">" not in cell
    assert "\\|" in cell and "\n" not in cell and "\\[link\\]" in cell
    assert safe("[bold red]x[/]\x1b[31m") == "\\[bold red]x\\[/]?[31m"


def test_report_escapes_certificate_and_input_text(pki: lab.Pki, trust: certs.TrustStore) -> None:
    inter = pki.intermediate
    evil_cn = "<script>document.title='x'</script>"
    f = Fleet(trust)
    f.ok(
        "evil.example.test",
        [leaf(pki, ["evil.example.test", "<b>san</b>"], cn=evil_cn, not_after=FIXED - DAY), inter],
        owner='<img src=x onerror="alert(1)">',
    )
    f.ok("good.example.test", [leaf(pki, ["good.example.test"]), inter])
    f.failed("down.example.test", ErrorCode.REFUSED)
    t = f.tables()
    page = render(fleet_summary(t.hosts, t.findings, FIXED), t.hosts, t.findings, sources=["<dir>"])
    assert page.count("<script") == 1  # ours
    assert "<img" not in page and "<b>san" not in page and "<dir>" not in page
    subject = t.hosts["subject"].iloc[0]
    assert subject == "CN=\\<script\\>document.title='x'\\</script\\>,O=Scanner Lab"
    assert str(escape(subject)) in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert page.count('<span class="ok">trusted</span>') == 1
    assert page.count('<span class="err">not trusted</span>') == 1
    assert page.count('<span class="err">refused</span>') == 1
    assert "Content-Security-Policy" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)


class _Parsed(HTMLParser):
    """Every tag with its attributes, and the text of every table cell."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_report_autoescapes_a_hostile_subject_and_owner(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    """A subject and an input column made to break out of a cell or an attribute stay text:
    the page has no event handler and no script but its own, and each cell reads back as
    the value it was given."""
    evil = '"onmouseover=alert(1) x="<script>alert(2)</script>'
    f = Fleet(trust)
    f.ok(
        "evil.example.test",
        [leaf(pki, ["evil.example.test"], cn=evil, not_after=FIXED - DAY), pki.intermediate],
        owner=evil,
    )
    f.ok("good.example.test", [leaf(pki, ["good.example.test"]), pki.intermediate], owner=evil)
    t = f.tables()
    summary = fleet_summary(t.hosts, t.findings, FIXED, by="owner", warnings=(evil,))
    page = render(summary, t.hosts, t.findings, sources=[evil])
    assert '"onmouseover=' not in page and "<script>alert" not in page
    parsed = _Parsed(page)
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # ours
    handlers = [(tag, a) for tag, attrs in parsed.tags for a, _ in attrs if a.startswith("on")]
    assert handlers == []
    subject = t.hosts.loc[t.hosts["host"] == "evil.example.test", "subject"].iloc[0]
    assert '"onmouseover=' in subject.replace("\\", "")  # the certificate's text (RFC 4514)
    assert parsed.cells.count(evil) == 3  # two hosts' owner cells and the --by table's
    assert parsed.cells.count(subject) == 2  # the host table and the fix list


def test_report_templates_escape_by_default() -> None:
    """Autoescaping is on for every template and none marks a value safe: the package's own
    CSS and script (passed as markup by html.render) are the only unescaped text."""
    env = report._environment()
    assert env.autoescape is True
    names = env.list_templates()
    assert "report.html.j2" in names
    assert env.loader is not None
    for name in names:
        source = env.loader.get_source(env, name)[0]
        assert not re.search(r"\|\s*safe\b|Markup|autoescape\s+false", source), name
