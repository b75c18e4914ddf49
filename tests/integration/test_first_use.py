"""What a new user tripped over (issue 9), on real scans of the lab: resumes that would mix two
trust stores, two nights added up as one scan, root causes apart from verdicts, the fix list
at 80 columns, the Python API's natural input, feedback while a scan runs, and input, check
and display rough edges."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import re
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from typer.testing import CliRunner, Result

import scanner
from scanner.cli.app import app
from scanner.errors import InputError, ScanFolderError, ScannerError, UsageError
from scanner.testing.hello_hosts import HELLO_CODES
from scanner.testing.lab import Lab
from tests.conftest import Child

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TIMEOUT = "1.5"

Cli = Callable[[Sequence[Any]], Result]


def lab_row(lab: Lab, scenario: str, **changes: str) -> dict[str, str]:
    s = lab.scenario(scenario)
    row = {"host": s.host, "port": str(s.port), "ip": s.ip or "", "owner": s.owner}
    return {**row, **changes}


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def base_args(ca: Path, *, as_of: dt.datetime = FIXED) -> list[str]:
    # The lab's AIA and CRL servers are on loopback: --allow-private-fetch lets scans use them.
    return [
        "--as-of",
        as_of.isoformat(),
        "--ca-bundle",
        str(ca),
        "--timeout",
        TIMEOUT,
        "--allow-private-fetch",
    ]


def run(args: Sequence[Any], columns: int = 200) -> Result:
    runner = CliRunner(env={"COLUMNS": str(columns)})
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def small(lab: Lab, lab_files: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three quick targets: trusted, expired, and one refusing connections (an error row)."""
    folder = tmp_path_factory.mktemp("small")
    rows = [lab_row(lab, n) for n in ("valid", "expired", "refused")]
    return write_csv(folder / "small.csv", rows)


# --- 1. a resume refuses any change to a verdict-changing option ----------------------------


@pytest.fixture(scope="module")
def finished(small: Path, lab_files: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scan of `small` with the lab CA, to be resumed with other options."""
    out = tmp_path_factory.mktemp("resume") / "out"
    result = run(["scan", small, "--out", out, *base_args(lab_files.ca), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def without_ca(args: list[str]) -> list[str]:
    i = args.index("--ca-bundle")
    return args[:i] + args[i + 2 :]


RESUME_CHANGES: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "certifi instead of the lab CA": (without_ca, "--ca-bundle"),
    "another as-of": (
        lambda a: [*a[:1], (FIXED + DAY).isoformat(), *a[2:]],
        "--as-of",
    ),
    "another warning window": (lambda a: [*a, "--expiry-warn-days", "10"], "--expiry-warn-days"),
    "AIA off": (lambda a: [*a, "--no-aia"], "--aia"),
    "another encoding": (lambda a: [*a, "--encoding", "cp1252"], "--encoding"),
}


@pytest.mark.parametrize(
    ("change", "option"), RESUME_CHANGES.values(), ids=list(RESUME_CHANGES.keys())
)
def test_resume_refuses_a_changed_verdict_option(
    small: Path,
    lab_files: Any,
    finished: Path,
    change: Callable[[list[str]], list[str]],
    option: str,
) -> None:
    before = (finished / "hosts.parquet").read_bytes()
    args = change(base_args(lab_files.ca))
    result = run(["scan", small, "--out", finished, *args, "--resume", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "cannot resume" in result.stderr and option in result.stderr
    assert (finished / "hosts.parquet").read_bytes() == before  # nothing rewritten


def test_resume_accepts_the_same_trust_store_under_another_path(
    small: Path, lab_files: Any, finished: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "same-roots.pem"
    copy.parent.mkdir()
    shutil.copy(lab_files.ca, copy)
    args = base_args(copy) + ["--timeout", "3", "--concurrency", "7"]  # speed may change
    result = run(["scan", small, "--out", finished, *args, "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    state = json.loads((finished / ".scan-state.json").read_text())
    assert (
        state["options"]["trust_store_sha256"]
        == json.loads((finished / "scan.json").read_text())["trust_store"]["sha256"]
    )


# --- 2. several scans are not one -----------------------------------------------------------


def test_two_nights_are_not_added_up(small: Path, lab_files: Any, tmp_path: Path, cli: Cli) -> None:
    reports = tmp_path / "reports"
    nights = [reports / "night1", reports / "night2"]
    for night, as_of in zip(nights, (FIXED, FIXED + DAY), strict=True):
        args = base_args(lab_files.ca, as_of=as_of)
        assert run(["scan", small, "--out", night, *args, "--quiet"]).exit_code == 0

    for folders in ([reports], nights):
        result = run(["summary", *folders])
        assert result.exit_code == 2, result.output
        assert "3 targets" not in result.stdout and "6 targets" not in result.stdout
        message = " ".join(result.stderr.split())  # as printed, wrapped or not
        assert str(nights[0]) in message and str(nights[1]) in message
        assert "scanner diff" in message
    assert run(["report", *nights, "--out", tmp_path / "r.html"]).exit_code == 2
    with pytest.raises(ScanFolderError, match="not shards of one"):
        scanner.load(reports)
    # What to do instead works.
    assert run(["diff", *nights, "--out", tmp_path / "changes.parquet"]).exit_code == 0
    assert len(scanner.load(nights[1]).hosts) == 3


def test_only_distinct_shards_of_one_scan_read_as_one(
    small: Path, lab_files: Any, tmp_path: Path
) -> None:
    def shard(out: Path, k: int, as_of: dt.datetime = FIXED) -> Path:
        args = [*base_args(lab_files.ca, as_of=as_of), "--shard", f"{k}/2", "--quiet"]
        assert run(["scan", small, "--out", out, *args]).exit_code == 0
        return out

    one, two = shard(tmp_path / "s1", 1), shard(tmp_path / "s2", 2)
    assert len(scanner.load([one, two]).hosts) == 3  # the fleet, once
    # The same shard twice (a copy) is one shard, not two.
    copy = tmp_path / "copy-of-s1"
    shutil.copytree(one, copy)
    with pytest.raises(ScanFolderError, match="both hold shard 1/2"):
        scanner.load([one, copy])
    # Shard 2 of the next night does not complete shard 1 of this one.
    late = shard(tmp_path / "late-s2", 2, FIXED + DAY)
    with pytest.raises(ScanFolderError, match="different times"):
        scanner.load([one, late])
    # Nor does a shard of the same input scanned with other verdict options.
    other = tmp_path / "aia-off-s2"
    args = [*base_args(lab_files.ca), "--shard", "2/2", "--no-aia", "--quiet"]
    assert run(["scan", small, "--out", other, *args]).exit_code == 0
    with pytest.raises(ScanFolderError, match="different scans"):
        scanner.load([one, other])


# --- 3. root causes apart from verdicts -----------------------------------------------------


def test_summary_counts_root_causes_apart_from_verdicts(cli: Cli, lab_scan: Any) -> None:
    """The lab has one host whose chain ends at a rogue root (untrusted_root) and one whose
    intermediate is missing with no AIA (issuer_not_found): the verdict column counts both,
    the root causes one each."""
    data = json.loads(cli(["summary", lab_scan.out, "--format", "json"]).stdout)
    verdicts = {c["name"]: c["hosts"] for c in data["counts"] if c["kind"] == "verdict"}
    causes = {c["code"]: c["hosts"] for c in data["causes"]}
    assert verdicts["untrusted_root"] == 2
    assert causes["untrusted_root"] == 1 and causes["issuer_not_found"] == 1
    assert causes["hostname_mismatch"] == 5 and causes["no_san"] == 1
    assert causes["weak_key"] == 1 and causes["intermediate_expired"] == 1
    table = cli(["summary", lab_scan.out]).stdout
    assert "Verdicts and errors (hosts)" in table
    assert "Root causes (hosts with each finding)" in table
    csv_causes = cli(["summary", lab_scan.out, "--format", "csv", "--table", "causes"]).stdout
    rows = {r["code"]: r for r in csv.DictReader(csv_causes.splitlines())}
    assert rows["issuer_not_found"]["hosts"] == "1" and rows["untrusted_root"]["hosts"] == "1"


def test_by_owner_lists_every_cause_of_each_group(cli: Cli, lab_scan: Any) -> None:
    text = cli(["summary", lab_scan.out, "--by", "owner", "--format", "markdown"]).stdout
    rows = {}
    for line in text.split("## By owner", 1)[1].split("##", 1)[0].splitlines()[3:]:
        cells = [c.strip().replace(r"\_", "_") for c in line.strip("|").split("|")]
        if len(cells) >= 5:  # then grades and trusted_by
            rows[cells[0]] = cells
    platform = rows["platform"][4]
    for cause in (
        "weak_key 1",
        "intermediate_expired 1",
        "hostname_mismatch 4",
        "issuer_not_found 1",
        "untrusted_root 1",
        "not_yet_valid 1",
        "timeout 1",
        "invalid_input 2",
    ):
        assert cause in platform, (cause, platform)
    assert rows["payments"][4] == "expired 1, no_pq_kex 1"  # and the prober's information
    assert rows["00123"][4] == "expiring_soon 1, renewal_overdue 1, no_pq_kex 1"


def svg_bars(page: str, title: str) -> dict[str, int]:
    """label -> count of the bar chart titled `title` in the report."""
    svg = re.search(rf'<svg[^>]*aria-label="{re.escape(title)}".*?</svg>', page, re.S)
    assert svg, title
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", svg.group(0))[1:]  # the title first
    return {texts[i]: int(texts[i + 1]) for i in range(0, len(texts), 2)}


def test_report_shows_root_causes_labelled_apart(cli: Cli, lab_scan: Any, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert cli(["report", lab_scan.out, "--out", target]).exit_code == 0
    page = target.read_text(encoding="utf-8")
    verdicts = svg_bars(page, "Verdicts and errors (hosts)")
    causes = svg_bars(page, "Root causes (hosts with each finding)")
    assert verdicts["untrusted root"] == 2
    assert causes["untrusted_root"] == 1 and causes["issuer_not_found"] == 1
    assert causes["hostname_mismatch"] == 5 and "valid" not in causes


# --- 4. the fix list says which hosts and how, readable at 80 columns -----------------------


def test_fix_list_at_80_columns_names_failing_hosts_and_remedy(lab_scan: Any) -> None:
    # (--limit: every leaf with a problem listed, the lab has more than the default 20)
    result = run(["summary", lab_scan.out, "--limit", "200"], columns=80)
    assert result.exit_code == 0
    tables = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 80
    fixes = result.stdout.split("Fix list: leaf certificates", 1)[1].split("Fix list: missing")[0]
    # The failing host, not only the certificate's name (shop.lab.test), whole on one line.
    hosts = scanner.load(lab_scan.out).hosts
    # (protocol findings are the server's configuration: no leaf fixes them)
    server = {"legacy_protocol", "no_modern_protocol", "no_tls13", "rsa_key_exchange"}
    server |= set(HELLO_CODES)  # the ClientHello prober's, the server's configuration too
    failing = hosts[hosts["findings"].map(lambda f: isinstance(f, list) and bool(set(f) - server))]
    for host in failing["host"]:
        assert re.search(rf"(?<![\w.-]){re.escape(host)}:\d+", fixes), host
    assert "www.shop.lab.test" in fixes
    # Remedies, in whole words (a cell's words are on consecutive lines of its column).
    words = set(re.findall(r"[\w-]+", fixes))
    assert {"Reissue", "subjectAltName", "Renew"} <= words
    assert "subjectAltNam" not in words and "hostname_mism" not in words
    # What was left out is said: with issue 21's long codes (intermediate_expires_first)
    # kept whole, the findings column does not fit 80 columns either.
    assert "not shown at this width: expires, severity, findings" in " ".join(fixes.split())


def test_fix_list_markdown_has_hosts_and_remedy(cli: Cli, lab_scan: Any) -> None:
    text = cli(["summary", lab_scan.out, "--format", "markdown"]).stdout
    section = text.split("## Fix list: leaf certificates", 1)[1].split("##", 1)[0]
    header = section.strip().splitlines()[0].replace(r"\_", "_")
    for column in ("hosts_to_fix", "remedy", "names", "days", "issuer", "sha256"):
        assert f" {column} " in header, column
    www = next(line for line in section.splitlines() if "www.shop.lab.test" in line)
    assert "Reissue the certificate with the host name in its subjectAltName." in www


# --- 5. the Python API takes what the CLI takes ---------------------------------------------


def test_python_api_accepts_cli_forms(lab: Lab, lab_files: Any) -> None:
    dns = lab.scenario("resolved_by_dns")
    host, port = lab.dns_address
    tables = scanner.scan(
        f"{dns.host}:{dns.port}",  # one string: one host
        as_of="2026-06-01T00:00:00Z",
        nameservers=[f"{host}:{port}"],
        ca_bundle=lab_files.ca,
        timeout=float(TIMEOUT),
    )
    assert len(tables.hosts) == 1
    row = tables.hosts.iloc[0]
    assert row["host"] == "dns.lab.test" and row["status"] == "ok" and row["trusted"]
    assert tables.as_of == FIXED


@pytest.mark.parametrize(
    ("rows", "options", "error", "says"),
    [
        (42, {}, InputError, "not int"),
        ([b"bytes.example"], {}, InputError, "row 1: expected a host name"),
        ([{"name": "x.example"}], {}, InputError, "without a 'host' key"),
        (["x.example"], {"as_of": "yesterday"}, UsageError, "not an ISO 8601"),
        (["x.example"], {"as_of": dt.datetime(2026, 6, 1)}, UsageError, "timezone-aware"),  # noqa: DTZ001
        (["x.example"], {"nameservers": ["dns.example"]}, UsageError, "not IP[:PORT]"),
        (["x.example"], {"timeout": "10"}, UsageError, "timeout: expected"),
        (["x.example"], {"concurrency": 0}, UsageError, "concurrency: expected"),
        (["x.example"], {"timeuot": 3}, UsageError, "unknown option(s) timeuot"),
    ],
)
def test_python_api_refuses_other_input_with_its_own_error(
    rows: Any, options: dict[str, Any], error: type[ScannerError], says: str
) -> None:
    with pytest.raises(error, match=re.escape(says)) as info:
        scanner.scan(rows, **options)
    assert isinstance(info.value, ScannerError)


# --- 6-9. feedback while a scan runs --------------------------------------------------------


def silent_fleet(lab: Lab, path: Path, n: int) -> Path:
    """n names on the lab's silent server: each costs a whole --timeout."""
    return write_csv(path, [lab_row(lab, "timeout", host=f"s{i}.silent.test") for i in range(n)])


def test_progress_lines_come_on_the_clock(lab: Lab, lab_files: Any, tmp_path: Path) -> None:
    inp = silent_fleet(lab, tmp_path / "silent.csv", 3)
    args = ["scan", str(inp), "--out", str(tmp_path / "out"), "--as-of", FIXED.isoformat()]
    child = Child(
        [*args, "--ca-bundle", str(lab_files.ca), "--timeout", "4", "--progress-every", "0.5"]
    )
    first = child.wait_for(r"^progress: 0/3 \(0\.0%\), 0 failed")
    assert child.finish() == 0, child.text
    finished = [w for w, line in child.lines if line.startswith("progress: 3/3")]
    # Order and counts, not margins: lines saying 0/3 came while every host was still waiting
    # (no result had arrived to trigger them), more than once, and before the last line.
    waiting = [line for _, line in child.lines if line.startswith("progress: 0/3")]
    assert finished and first < finished[0] and len(waiting) >= 2, child.text


def test_failed_counts_earlier_hosts_after_resume(
    small: Path, lab_files: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["scan", small, "--out", out, *base_args(lab_files.ca), "--progress-every", "0.001"]
    first = run(args)
    assert first.exit_code == 0, first.output
    errors = sum(json.loads((out / "scan.json").read_text())["counts"]["errors"].values())
    assert errors == 1
    resumed = run([*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    lines = re.findall(r"progress: (\d+)/(\d+) \S+, (\d+) failed", resumed.stderr)
    assert lines and all((d, t, f) == ("3", "3", "1") for d, t, f in lines)


def test_ctrl_c_says_at_once_what_it_waits_for(lab: Lab, lab_files: Any, tmp_path: Path) -> None:
    inp = silent_fleet(lab, tmp_path / "silent.csv", 6)
    out = tmp_path / "out"
    args = ["scan", str(inp), "--out", str(out), "--as-of", FIXED.isoformat()]
    child = Child(
        [*args, "--ca-bundle", str(lab_files.ca), "--timeout", "6", "--concurrency", "3"]
        + ["--progress-every", "0.2"]
    )
    child.wait_for(r"^progress: 0/6")
    time.sleep(0.5)  # the three hosts in flight have waited a while
    sent = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    said = child.wait_for(r"interrupted")
    assert child.finish() == 130, child.text
    ended = time.monotonic()
    # At once, not after the hosts' 6 s --timeout: in the first half of the wait between the
    # signal and the exit (which waits for the hosts in flight), whatever the machine's load.
    assert said - sent < (ended - sent) / 2, (said - sent, ended - sent)
    message = " ".join(line for _, line in child.lines if "interrupted" in line or "Ctrl-C" in line)
    assert "3 host(s) in flight" in message
    assert re.search(r"longest running for \d+\.\d s", message)
    assert "Ctrl-C again" in message and "abandon" in message
    hosts = pq.read_table(out / "hosts.parquet")
    assert hosts.num_rows == 3  # the hosts in flight finished; none was started after


def test_scan_says_how_many_more_hosts_than_the_worst_ten(
    lab_files: Any, scan_lab_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    args = [a for a in scan_lab_args() if a != "--quiet"]
    result = run(["scan", lab_files.csv, "--out", tmp_path / "out", *args])
    assert result.exit_code == 0, result.output
    hosts = pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()
    with_findings = sum(1 for h in hosts if h["severity"] is not None)
    assert with_findings > 10
    assert f"Worst 10 of {with_findings} hosts with findings" in result.stdout
    assert f"{with_findings - 10} more not shown" in result.stdout


def test_clock_warning_at_the_end_of_scan(lab: Lab, lab_files: Any, tmp_path: Path) -> None:
    names = ("valid", "expired", "expiring_soon", "wrong_host", "weak_key", "wildcard")
    inp = write_csv(tmp_path / "fleet.csv", [lab_row(lab, n) for n in names])
    ahead = FIXED + 800 * DAY  # past every leaf's notAfter
    for extra in ([], ["--quiet"]):  # a cron job may run it quiet: the warning stays
        out = tmp_path / f"out{len(extra)}"
        result = run(["scan", inp, "--out", out, *base_args(lab_files.ca, as_of=ahead), *extra])
        assert result.exit_code == 0, result.output
        warning = " ".join(result.stderr.split())
        assert "warning: 6 of 6 hosts with a certificate look expired (6)" in warning
        assert "check the scanning machine's clock (it may be ahead)" in warning
        assert warning.endswith("and --as-of before blaming the fleet")
        assert json.loads((out / "scan.json").read_text())["warnings"]


# --- 10-12. input -----------------------------------------------------------------------------


def test_duplicates_are_named_on_stderr_and_in_scan_json(
    lab: Lab, lab_files: Any, tmp_path: Path
) -> None:
    valid = lab_row(lab, "valid")
    rows = [
        valid,  # line 2
        lab_row(lab, "expired"),  # line 3
        {**valid, "host": valid["host"].upper() + "."},  # line 4: same target, same owner
        {**valid, "owner": "payments"},  # line 5: same target, another owner: lost
    ]
    inp = write_csv(tmp_path / "dups.csv", rows)
    out = tmp_path / "out"
    result = run(["scan", inp, "--out", out, *base_args(lab_files.ca), "--quiet"])
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())
    assert "2 duplicate row(s)" in stderr and "line 4 (same target as line 2)" in stderr
    assert "1 dropped duplicate row(s) had other values in the carried columns" in stderr
    assert "line 5 (kept line 2)" in stderr
    meta = json.loads((out / "scan.json").read_text())
    assert meta["counts"]["duplicates"] == 2
    assert meta["duplicates"] == [
        {"line": 4, "kept": 2, "carried_columns_differ": False},
        {"line": 5, "kept": 2, "carried_columns_differ": True},
    ]


def test_by_matches_a_carried_column_in_any_case(lab: Lab, lab_files: Any, tmp_path: Path) -> None:
    inp = tmp_path / "owner.csv"
    inp.write_text(
        "Host,Port,IP,Owner\n"
        + "".join(
            f"{r['host']},{r['port']},{r['ip']},{r['owner']}\n"
            for r in (lab_row(lab, "valid"), lab_row(lab, "expired"))
        )
    )
    out = tmp_path / "out"
    assert run(["scan", inp, "--out", out, *base_args(lab_files.ca), "--quiet"]).exit_code == 0
    for by in ("owner", "Owner", "OWNER"):
        result = run(["summary", out, "--by", by, "--format", "markdown"])
        assert result.exit_code == 0, result.output
        assert "## By Owner" in result.stdout and "| payments | 1 | 1 | 0 | expired 1 |" in (
            result.stdout
        )
    assert run(["summary", out, "--by", "team"]).exit_code == 2


def test_encoding_option_reads_a_windows_file(lab: Lab, lab_files: Any, tmp_path: Path) -> None:
    valid = lab_row(lab, "valid")
    inp = tmp_path / "windows.csv"
    inp.write_bytes(
        f"host,port,ip,owner\r\n{valid['host']},{valid['port']},{valid['ip']},".encode()
        + "José Müller\r\n".encode("cp1252")
    )
    refused = run(["scan", inp, "--out", tmp_path / "a", *base_args(lab_files.ca), "--quiet"])
    assert refused.exit_code == 2
    assert "--encoding" in " ".join(refused.stderr.split())
    out = tmp_path / "b"
    args = [*base_args(lab_files.ca), "--quiet", "--encoding", "cp1252"]
    assert run(["scan", inp, "--out", out, *args]).exit_code == 0
    row = pq.read_table(out / "hosts.parquet").to_pylist()[0]
    assert row["owner"] == "José Müller" and row["status"] == "ok"
    assert json.loads((out / "scan.json").read_text())["options"]["encoding"] == "cp1252"


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_files_are_read(
    lab: Lab, lab_files: Any, tmp_path: Path, delimiter: str
) -> None:
    rows = [lab_row(lab, "valid"), lab_row(lab, "expired")]
    inp = tmp_path / "hosts.csv"
    inp.write_text(
        delimiter.join(["host", "port", "ip", "owner"])
        + "\n"
        + "".join(delimiter.join(r.values()) + "\n" for r in rows)
    )
    out = tmp_path / "out"
    result = run(["scan", inp, "--out", out, *base_args(lab_files.ca), "--quiet"])
    assert result.exit_code == 0, result.output
    got = pq.read_table(out / "hosts.parquet").sort_by("input_line").to_pylist()
    assert [(r["host"], r["owner"], r["status"]) for r in got] == [
        ("valid.lab.test", "platform", "ok"),
        ("expired.lab.test", "payments", "ok"),
    ]


def test_header_only_file_warns(lab_files: Any, tmp_path: Path) -> None:
    inp = tmp_path / "empty.csv"
    inp.write_text("host,port,ip,owner\n")
    result = run(["scan", inp, "--out", tmp_path / "out", *base_args(lab_files.ca)])
    assert result.exit_code == 0
    assert "Scanned 0 targets" in result.stdout
    assert "warning:" in result.stderr and "no targets to scan" in result.stderr


# --- 13. scanner check ------------------------------------------------------------------------


def test_check_reads_ber_pkcs7_without_a_python_warning(lab: Lab, tmp_path: Path) -> None:
    """Most .p7b files are BER (indefinite lengths); cryptography warns when it reads one."""
    chain = [lab.pki.leaf(["p7.lab.test"]), lab.pki.intermediate]
    der = pkcs7.serialize_certificates(
        [x509.load_der_x509_certificate(c.der) for c in chain], Encoding.DER
    )
    head = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    ber = b"\x30\x80" + der[head:] + b"\x00\x00"  # the outer SEQUENCE with an indefinite length
    ca = tmp_path / "ca.pem"
    ca.write_bytes(lab.ca_pem)
    pem = b"-----BEGIN PKCS7-----\n" + base64.encodebytes(ber) + b"-----END PKCS7-----\n"
    for name, data in (("chain.p7b", ber), ("chain-pem.p7b", pem)):
        path = tmp_path / name
        path.write_bytes(data)
        args = ["check", path, "--host", "p7.lab.test", "--ca-bundle", ca]
        result = run([*args, "--as-of", FIXED.isoformat()])  # filterwarnings=error: no leak
        assert result.exit_code == 0, result.output
        assert "Warning" not in result.output and "trusted" in result.stdout
        assert "chain: 2 certificate(s)" in result.stdout


def test_check_names_a_truncated_pem_block(lab: Lab, tmp_path: Path) -> None:
    leaf = lab.pki.leaf(["cut.lab.test"]).pem
    cut = lab.pki.intermediate.pem.decode().splitlines()[:5]  # BEGIN and four base64 lines
    path = tmp_path / "cut.pem"
    path.write_bytes(leaf + ("\n".join(cut) + "\n").encode())
    result = run(["check", path, "--host", "cut.lab.test", "--as-of", FIXED.isoformat()])
    assert result.exit_code == 2
    line = leaf.count(b"\n") + 1
    message = " ".join(result.stderr.split())
    assert f"PEM block 2 (BEGIN CERTIFICATE on line {line}) has no END CERTIFICATE line" in (
        message
    )
    assert "no certificate found" not in message


def test_check_speaks_of_the_file_and_counts_from_one(lab: Lab, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(lab.ca_pem)
    alone = tmp_path / "leaf-only.pem"
    alone.write_bytes(lab.pki.leaf(["alone.lab.test"]).pem)
    base = ["--ca-bundle", ca, "--as-of", FIXED.isoformat()]
    result = run(["check", alone, "--host", "alone.lab.test", *base])
    assert "issuer_not_found" in result.stdout
    assert "sent by the server" not in result.stdout and "server sends" not in result.stdout
    assert "is not in the file and not in the trust store" in " ".join(result.stdout.split())
    old = tmp_path / "old-intermediate.pem"
    expired = lab.pki.expired_intermediate
    old.write_bytes(lab.pki.leaf(["alone.lab.test"], issuer=expired).pem + expired.pem)
    result = run(["check", old, "--host", "alone.lab.test", *base])
    assert "intermediate_expired" in result.stdout
    assert "Intermediate CA,O=Scanner Lab in the chain is expired" in result.stdout
    assert "server sends" not in result.stdout
    # A certificate that does not parse is counted as the PEM blocks are: from 1.
    garbage = base64.encodebytes(b"\x30\x03\x02\x01\x00").decode()
    broken = tmp_path / "broken.pem"
    broken.write_bytes(
        lab.pki.leaf(["alone.lab.test"]).pem
        + f"-----BEGIN CERTIFICATE-----\n{garbage}-----END CERTIFICATE-----\n".encode()
    )
    result = run(["check", broken, "--host", "alone.lab.test", *base])
    assert "certificate 2 of the chain cannot be parsed" in " ".join(result.stdout.split())


# --- 14. display ------------------------------------------------------------------------------


def test_idn_and_ipv4_mapped_hosts_are_shown_for_people(
    lab: Lab, lab_files: Any, tmp_path: Path
) -> None:
    valid = lab.scenario("valid")
    inp = tmp_path / "names.csv"
    inp.write_text(
        "host,port,ip\n"
        f"bücher.lab.test,{valid.port},127.0.0.1\n"
        f"[::ffff:7f00:1]:{valid.port},,127.0.0.1\n",  # connect to loopback as written
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run(["scan", inp, "--out", out, *base_args(lab_files.ca), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "hosts.parquet").sort_by("input_line").to_pylist()
    assert [(r["host"], r["host_unicode"]) for r in rows] == [
        ("xn--bcher-kva.lab.test", "bücher.lab.test"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ]
    assert run(["report", out]).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "bücher.lab.test<br><code>xn--bcher-kva.lab.test</code>" in page
    assert "<td>::ffff:127.0.0.1</td>" in page and "7f00:1" not in page


def test_scan_json_records_absolute_paths(
    lab: Lab, lab_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    write_csv(work / "inputs" / "hosts.csv", [lab_row(lab, "valid")])
    shutil.copy(lab_files.ca, work / "inputs" / "ca.pem")
    monkeypatch.chdir(work)
    args = ["--as-of", FIXED.isoformat(), "--ca-bundle", "inputs/ca.pem", "--quiet"]
    assert run(["scan", "inputs/hosts.csv", "--out", "reports/x", *args]).exit_code == 0
    meta = json.loads((work / "reports" / "x" / "scan.json").read_text())
    assert meta["input"] == str(work / "inputs" / "hosts.csv")
    assert meta["trust_store"]["path"] == str(work / "inputs" / "ca.pem")
    assert meta["options"]["ca_bundle"] == str(work / "inputs" / "ca.pem")


def test_report_keeps_the_ip_column_on_one_line(cli: Cli, lab_scan: Any, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert cli(["report", lab_scan.out, "--out", target]).exit_code == 0
    page = target.read_text(encoding="utf-8")
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style and re.search(r"td\.ip\b[^{]*\{[^}]*white-space:nowrap", style.group(1))
    assert '<td class="ip">127.0.0.1</td>' in page


def test_help_at_80_columns_keeps_option_names_whole() -> None:
    for command in ("scan", "summary", "check", "report", "diff"):
        text = run([command, "--help"], columns=80).stdout
        assert "…" not in text, command
        assert max(len(line) for line in text.splitlines()) <= 80, command
    scan_help = run(["scan", "--help"], columns=80).stdout
    for option in (
        "--expiry-warn-days",
        "--progress-every",
        "--aia-timeout",
        "--nameserver",
        "--encoding",
        "--fail-on",
        "--overwrite",
    ):
        assert re.search(rf"(?<![\w-]){option}(?![\w-])", scan_help), option
