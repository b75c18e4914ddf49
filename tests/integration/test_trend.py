"""`scanner trend` over real scans of the lab at three as-of instants (issue 22): the first night
in two shards, the other two as Hive-style `reports/night=YYYY-MM-DD` folders. The per-night
counts are checked against an independent count from the hosts and findings tables; the
formats parse back; the HTML page needs no network and escapes host names; the nights read
as one dataset in DuckDB (the docs' query, run verbatim) and pyarrow; object storage and
a parent of nights whose night is shard folders give the same trend."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from scanner.cli.app import app
from scanner.model.columns import VERDICT_COLUMNS
from scanner.testing.lab import Lab

Cli = Callable[[Sequence[Any]], Result]
ROOT = Path(__file__).resolve().parents[2]
FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # tests/conftest.py's lab instant
# soon.lab.test's leaf expires 10 days after FIXED and future.lab.test's starts 2 days after:
# night 1 sees one expiring and one not yet valid, night 2 both trusted, night 3 one expired.
NIGHTS = (FIXED, FIXED + dt.timedelta(days=5), FIXED + dt.timedelta(days=12))
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Fleet:
    root: Path
    reports: Path  # night=2026-06-06 and night=2026-06-13
    shards: Path  # shard-1 and shard-2 of the night of 2026-06-01
    nights: tuple[tuple[Path, ...], ...]  # each night's scan folders, oldest first


def run(args: Sequence[Any], columns: int = 200) -> Result:
    runner = CliRunner(env={"COLUMNS": str(columns)})
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def fleet(
    lab: Lab,
    lab_files: Any,
    scan_lab_args: Callable[..., list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Fleet:
    root = tmp_path_factory.mktemp("trend")
    reports, shards = root / "reports", root / "shards"
    first = tuple(shards / f"shard-{k}" for k in (1, 2))
    for k, out in enumerate(first, 1):
        result = run(
            [
                "scan",
                lab_files.csv,
                "--out",
                out,
                "--shard",
                f"{k}/2",
                *scan_lab_args(as_of=NIGHTS[0]),
            ]
        )
        assert result.exit_code == 0, result.output
    second = reports / f"night={NIGHTS[1].date()}"
    result = run(["scan", lab_files.csv, "--out", second, *scan_lab_args(as_of=NIGHTS[1])])
    assert result.exit_code == 0, result.output
    # The third night's input gains a target whose name is markup: `added` on the page.
    later = root / "later.csv"
    text = lab_files.csv.read_text(encoding="utf-8")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([HOSTILE, "443", "", "platform", "hostile", ""])
    later.write_text(text + buf.getvalue(), encoding="utf-8")
    third = reports / f"night={NIGHTS[2].date()}"
    result = run(["scan", later, "--out", third, *scan_lab_args(as_of=NIGHTS[2])])
    assert result.exit_code == 0, result.output
    return Fleet(root=root, reports=reports, shards=shards, nights=(first, (second,), (third,)))


def tables(folders: Sequence[Path], name: str) -> list[dict[str, Any]]:
    return pa.concat_tables([pq.read_table(f / name) for f in folders]).to_pylist()


# --- an independent count ------------------------------------------------------------------


def expected_counts(
    folders: Sequence[Path], as_of: dt.datetime, before: Sequence[Path] | None
) -> dict[str, dict[str, int]]:
    """What the trend should say of one night, counted here from its tables directly."""
    hosts = tables(folders, "hosts.parquet")
    ok = [h for h in hosts if h["status"] == "ok"]
    verdict = {
        "trusted": sum(h["trusted"] is True for h in ok),
        "not_trusted": sum(h["trusted"] is False for h in ok),
        "revoked": sum(h["revoked"] is True for h in ok),
        **{c: sum(h[c] is True for h in ok) for c in VERDICT_COLUMNS if c != "trusted"},
    }
    out: dict[str, dict[str, int]] = {
        "status": {"ok": len(ok), "error": len(hosts) - len(ok)},
        "verdict": verdict,
        "grade": dict(Counter(h["grade"] for h in ok if h["grade"])),
        "severity": dict(Counter(h["severity"] for h in hosts if h["severity"])),
        "error": dict(Counter(h["error"] for h in hosts if h["error"])),
        "finding": dict(Counter(code for h in ok for code in set(h["findings"] or ()))),
        "breaking": {
            "within_30_days": sum(
                h["trusted"] is True and h["not_after"] <= as_of + dt.timedelta(days=30) for h in ok
            )
        },
    }
    if before is not None:
        out["change"] = finding_changes(before, folders)
    return out


def finding_changes(old: Sequence[Path], new: Sequence[Path]) -> dict[str, int]:
    """New and resolved findings by target and address (both scans used --addresses all):
    a finding of NEW that OLD did not have where OLD answered or lacked the target, and a
    finding of OLD gone where NEW answered (unless `not_trusted_by`, gone with trust)."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["host"], r["port"], r["ip"] or "", r["connected_ip"] or "")

    old_hosts = {key(h): h for h in tables(old, "hosts.parquet")}
    new_hosts = {key(h): h for h in tables(new, "hosts.parquet")}
    old_f = {(key(f), f["code"]) for f in tables(old, "findings.parquet")}
    new_f = {(key(f), f["code"]) for f in tables(new, "findings.parquet")}
    new = sum(
        1 for k, code in new_f - old_f if k not in old_hosts or old_hosts[k]["status"] == "ok"
    )
    resolved = sum(
        1
        for k, code in old_f - new_f
        if k in new_hosts
        and new_hosts[k]["status"] == "ok"
        and not (code == "not_trusted_by" and new_hosts[k]["trusted"] is False)
    )
    return {"new_finding": new, "resolved_finding": resolved}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def trend_json(*dirs: Any) -> dict[str, Any]:
    result = run(["trend", *dirs, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --- the tests ------------------------------------------------------------------------------


def test_counts_per_night_match_the_tables(fleet: Fleet) -> None:
    data = trend_json(fleet.reports, fleet.shards)
    nights = data["nights"]
    assert [n["as_of"] for n in nights] == [i.isoformat() for i in NIGHTS]
    assert [len(n["folders"]) for n in nights] == [2, 1, 1]  # two shards: one night
    for i, (night, folders) in enumerate(zip(nights, fleet.nights, strict=True)):
        want = expected_counts(folders, NIGHTS[i], fleet.nights[i - 1] if i else None)
        got = night["counts"]
        assert got["status"] == want["status"]
        assert {k: got["verdict"][k] for k in want["verdict"]} == want["verdict"]
        for kind in ("grade", "severity", "error", "finding"):
            assert nonzero(got[kind]) == want[kind], (i, kind)
        assert got["breaking"] == want["breaking"]
        if i == 0:
            assert "change" not in got  # nothing before the first night
        else:
            for name, n in want["change"].items():
                assert got["change"][name] == n, (i, name)
    # The lab's dated certificates move as planned, so the counts above are not all zero.
    v = [n["counts"]["verdict"] for n in nights]
    assert v[0]["not_yet_valid"] >= 1 and v[1]["not_yet_valid"] == 0
    # soon.lab.test and the 45-day leaf 35 days into its life (issue 21) expired on the 11th
    assert v[2]["expired"] == v[1]["expired"] + 2
    assert nights[0]["counts"]["breaking"]["within_30_days"] >= 1
    assert nights[1]["counts"]["change"]["resolved_finding"] >= 1  # not_yet_valid gone
    assert nights[2]["counts"]["change"]["new_finding"] >= 1  # expired
    assert nights[2]["counts"]["change"]["added"] == 1  # the hostile row
    latest = data["latest"]
    assert any(
        r["code"] == "expired" and r["target"].startswith("soon.lab.test")
        for r in latest["changes"]
    )


def test_formats_parse_back(fleet: Fleet) -> None:
    data = trend_json(fleet.reports, fleet.shards)
    want = {
        (n["as_of"], kind, name): hosts
        for n in data["nights"]
        for kind, names in n["counts"].items()
        for name, hosts in names.items()
    }
    result = run(["trend", fleet.reports, fleet.shards, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["night", "kind", "name", "hosts"]
    assert {(r["night"], r["kind"], r["name"]): int(r["hosts"]) for r in rows} == want

    result = run(["trend", fleet.reports, fleet.shards, "--format", "markdown"])
    assert result.exit_code == 0, result.output
    verdicts = markdown_table(result.stdout, "Hosts per verdict")
    assert verdicts[0][1:] == [str(i.date()) for i in NIGHTS]
    for row in verdicts[1:]:
        name, cells = row[0], row[1:]
        kind = "status" if name in ("ok", "error") else "breaking" if "days" in name else "verdict"
        assert [int(c) for c in cells] == [want[(i.isoformat(), kind, name)] for i in NIGHTS]
    changes = markdown_table(result.stdout, "Changes from the night before")
    new = next(r for r in changes if r[0] == "new_finding")
    assert new[1] == ""  # the first night has nothing to compare with
    assert int(new[3]) == want[(NIGHTS[2].isoformat(), "change", "new_finding")]

    # The terminal at 80 columns (cron mail): nothing wider, host names whole.
    result = run(["trend", fleet.reports, fleet.shards], columns=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "soon.lab.test" in result.stdout and "Hosts per verdict" in result.stdout


def markdown_table(text: str, title: str) -> list[list[str]]:
    """The cells of the table under the `## title...` heading, its header first."""
    block = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    # Markdown punctuation comes backslash-escaped (`not\\_trusted`).
    cells = [
        [re.sub(r"\\(.)", r"\1", c.strip()) for c in line.strip("|").split("|")] for line in lines
    ]
    return [cells[0], *cells[2:]]  # without the |---| line


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.series: list[str] = []
        self._in_series = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_series = tag == "title" and self.tags[-2][1].get("class") == "series"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_series:
            self.series.append(data)
            self._in_series = False


def test_html_page(fleet: Fleet) -> None:
    out = fleet.root / "trend.html"
    result = run(["trend", fleet.reports, fleet.shards, "--html", out, "--format", "json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the page's message went to stderr, not into the JSON
    page = out.read_text(encoding="utf-8")
    parsed = Page()
    parsed.feed(page)
    # Nothing to fetch: no script, no external resource, a policy that forbids them.
    names = {tag for tag, _ in parsed.tags}
    assert "script" not in names and "img" not in names and "link" not in names
    for tag, attrs in parsed.tags:
        for attr in ("src", "href", "xlink:href"):
            assert attr not in attrs, (tag, attrs)
    assert "url(" not in page
    assert "default-src 'none'" in page
    # The hostile name is text, escaped; never markup.
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert any(HOSTILE in t for t in parsed.text)
    # A line per verdict that has a host on some night, each named on the chart.
    data = json.loads(result.stdout)
    seen = {
        name
        for n in data["nights"]
        for kind in ("verdict", "breaking")
        for name, hosts in n["counts"][kind].items()
        if hosts
    }
    assert seen <= set(parsed.series)
    assert {"trusted", "not_trusted", "expired", "error"} <= set(parsed.series)
    assert page.count("<polyline") >= len(seen)


DOCS_QUERY = re.compile(r"<!-- trend-query -->\s*```sql\n(.*?)```", re.DOTALL)


def test_nights_read_as_one_dataset(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb
    import pyarrow.dataset as ds

    # Every table has one schema every night (types and nullability), so no reader has to
    # reconcile them; DuckDB reads each table of both nights with its `night` column.
    for name in ("hosts", "findings", "certificates"):
        schemas = [pq.read_schema(f) for f in sorted(fleet.reports.glob(f"*/{name}.parquet"))]
        assert len(schemas) == 2
        assert schemas[0].remove_metadata().equals(schemas[1].remove_metadata()), name
        glob = str(fleet.reports / "*" / f"{name}.parquet")
        nights = duckdb.sql(
            f"SELECT night, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
            "GROUP BY night ORDER BY night"
        ).fetchall()
        assert [n for n, _ in nights] == [i.date() for i in NIGHTS[1:]], name
    files = sorted(fleet.reports.glob("*/hosts.parquet"))

    # pyarrow: the night from the folder name, both nights in one table.
    dataset = ds.dataset(
        [str(f) for f in files], partitioning="hive", partition_base_dir=str(fleet.reports)
    )
    table = dataset.to_table()
    assert "night" in table.column_names
    hosts = {
        str(i.date()): tables([fleet.reports / f"night={i.date()}"], "hosts.parquet")
        for i in NIGHTS[1:]
    }
    assert Counter(table.column("night").to_pylist()) == {k: len(v) for k, v in hosts.items()}

    # DuckDB: the docs' query, verbatim, from the folder holding reports/.
    page = (ROOT / "docs" / "guide" / "trend.md").read_text(encoding="utf-8")
    match = DOCS_QUERY.search(page)
    assert match, "docs/guide/trend.md: a ```sql block after <!-- trend-query -->"
    monkeypatch.chdir(fleet.root)
    got = duckdb.sql(match.group(1)).fetchall()

    def trusted(rows: list[dict[str, Any]]) -> dict[tuple[str, int], bool]:
        by: dict[tuple[str, int], bool] = {}
        for r in rows:
            k = (r["host"], r["port"])
            by[k] = by.get(k, True) and r["trusted"] is True
        return by

    week_ago = trusted(hosts[str(NIGHTS[1].date())])
    now = trusted(hosts[str(NIGHTS[2].date())])
    want = sorted(k for k, was in week_ago.items() if was and k in now and not now[k])
    assert [(h, p) for h, p, *_ in got] == want
    assert any(h == "soon.lab.test" for h, _ in want)


def test_a_parent_of_nights_whose_night_is_shard_folders(fleet: Fleet) -> None:
    parent = fleet.root / "all"
    shutil.copytree(fleet.reports, parent)
    for shard in fleet.nights[0]:
        shutil.copytree(shard, parent / f"night={NIGHTS[0].date()}" / shard.name)
    assert comparable(trend_json(parent)) == comparable(trend_json(fleet.reports, fleet.shards))


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """The trend without the folder names."""
    for n in data["nights"]:
        n["folders"] = len(n["folders"])
    data["warnings"] = [re.sub(r"\S*/", "", w) for w in data["warnings"]]
    return data


def test_object_storage(fleet: Fleet, s3: Any) -> None:
    s3.put(str(fleet.reports), "fleet-scans/trend/reports", recursive=True)
    s3.put(str(fleet.shards), "fleet-scans/trend/shards", recursive=True)
    remote = trend_json("s3://fleet-scans/trend/reports", "s3://fleet-scans/trend/shards")
    assert comparable(remote) == comparable(trend_json(fleet.reports, fleet.shards))
    out = "s3://fleet-scans/trend/trend.html"
    result = run(["trend", "s3://fleet-scans/trend/", "--html", out])
    assert result.exit_code == 0, result.output
    assert "TLS fleet trend" in s3.cat("fleet-scans/trend/trend.html").decode()


def test_errors_are_one_line(fleet: Fleet, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(["trend", empty])
    assert result.exit_code == 2
    assert result.output.count("error:") == 1 and "no hosts.parquet" in result.output
    # The same night twice (a copy) is not two shards of it, nor two nights.
    copy = tmp_path / "copy"
    shutil.copytree(fleet.reports / f"night={NIGHTS[1].date()}", copy)
    result = run(["trend", fleet.reports, copy])
    assert result.exit_code == 2
    assert "shard 1/1" in result.output and result.output.count("error:") == 1


def test_help_and_docs_name_the_same_options() -> None:
    from scanner.cli.app import click_command

    command = click_command("trend")
    actual = {
        opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")
    } - {"--help"}
    page = (ROOT / "docs" / "guide" / "trend.md").read_text(encoding="utf-8")
    after = page.split("## `scanner trend DIR...`", 1)[1]
    table = after[after.index("| option |") :].split("\n\n", 1)[0]
    documented = {
        row.split("`")[1].split()[0] for row in table.splitlines() if row.startswith("| `--")
    }
    assert documented == actual
    result = run(["trend", "--help"])
    assert result.exit_code == 0 and "Example: scanner trend" in result.stdout


def test_library_call_and_nights_without_a_full_record(fleet: Fleet, tmp_path: Path) -> None:
    from scanner.store.nights import load_trend

    t = load_trend([fleet.reports, fleet.shards])
    data = trend_json(fleet.reports, fleet.shards)
    assert len(t.counts) == sum(len(v) for n in data["nights"] for v in n["counts"].values())
    # An interrupted night is counted, with a warning; a night without scan.json is dated by
    # its last host's scan time.
    interrupted, bare = tmp_path / "interrupted", tmp_path / "bare"
    shutil.copytree(fleet.reports / f"night={NIGHTS[1].date()}", interrupted)
    meta = json.loads((interrupted / "scan.json").read_text())
    (interrupted / "scan.json").write_text(json.dumps({**meta, "interrupted": True}))
    shutil.copytree(fleet.reports / f"night={NIGHTS[2].date()}", bare)
    (bare / "scan.json").unlink()
    result = run(["trend", interrupted, bare, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "interrupted; some hosts are missing" in result.stderr
    nights = json.loads(result.stdout)["nights"]
    assert nights[0]["as_of"] == NIGHTS[1].isoformat()
    last = max(r["scanned_at"] for r in tables([bare], "hosts.parquet"))
    assert nights[1]["as_of"] == last.isoformat()


def test_two_scans_of_one_day_are_two_nights(
    fleet: Fleet, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """The same input scanned again six hours later is a later run, not a shard of the
    earlier one: shards are told apart by their shard number, runs by their as-of."""
    again = tmp_path / "again"
    as_of = NIGHTS[2] + dt.timedelta(hours=6)
    result = run(["scan", fleet.root / "later.csv", "--out", again, *scan_lab_args(as_of=as_of)])
    assert result.exit_code == 0, result.output
    data = trend_json(fleet.reports, again)
    assert [n["as_of"] for n in data["nights"]] == [
        NIGHTS[1].isoformat(),
        NIGHTS[2].isoformat(),
        as_of.isoformat(),
    ]
    result = run(["trend", fleet.reports, again, "--format", "markdown"])
    header = markdown_table(result.stdout, "Hosts per verdict")[0]
    assert header[1:] == ["2026-06-06 00:00", "2026-06-13 00:00", "2026-06-13 06:00"]
