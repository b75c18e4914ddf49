"""The `scanner` command: files written (read back with pyarrow: exact columns and Arrow types),
counts that add up, formula-escaped CSV, exit code 2 with one stderr line and nothing written
for environment errors, and help for every command."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.model.catalogue import Code
from scanner.model.types import ErrorCode
from scanner.testing.lab import Lab

TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

HOSTS_COLUMNS = [
    ("host", pa.string()),
    ("host_unicode", pa.string()),
    ("port", pa.int32()),
    ("ip", pa.string()),
    ("input_line", pa.int64()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("error_detail", pa.string()),
    ("connected_ip", pa.string()),
    ("protocol", pa.string()),
    ("tls_version", pa.string()),
    ("cipher", pa.string()),
    ("subject", pa.string()),
    ("issuer", pa.string()),
    ("san_dns", STRINGS),
    ("san_ip", STRINGS),
    ("not_before", TS),
    ("not_after", TS),
    ("days_remaining", pa.int32()),
    ("chain_length", pa.int32()),
    ("leaf_sha256", pa.string()),
    ("trusted", pa.bool_()),
    ("expired", pa.bool_()),
    ("not_yet_valid", pa.bool_()),
    ("expiring_soon", pa.bool_()),
    ("hostname_mismatch", pa.bool_()),
    ("self_signed", pa.bool_()),
    ("untrusted_root", pa.bool_()),
    ("incomplete_chain", pa.bool_()),
    ("revoked", pa.bool_()),
    ("revocation", pa.string()),
    ("revocation_source", pa.string()),
    ("findings", STRINGS),
    ("severity", pa.string()),
    ("tls1_0", pa.bool_()),
    ("tls1_1", pa.bool_()),
    ("tls1_2", pa.bool_()),
    ("tls1_3", pa.bool_()),
    ("forward_secrecy_only", pa.bool_()),
    ("ssl2", pa.bool_()),
    ("ssl3", pa.bool_()),
    ("cipher_classes", STRINGS),
    ("server_preference", pa.bool_()),
    ("groups", STRINGS),
    ("pq_kex", pa.bool_()),
    ("large_hello_ok", pa.bool_()),
    ("nosni_leaf_sha256", pa.string()),
    ("ocsp_stapled", pa.bool_()),
    ("ocsp_stapled_status", pa.string()),
    ("sct_tls_count", pa.int32()),
    ("trusted_by", STRINGS),
    ("distrusted_by", STRINGS),
    ("sct_count", pa.int32()),
    ("sct_valid", pa.int32()),
    ("sct_operators", pa.int32()),
    ("ct_compliant", pa.bool_()),
    ("lifetime_days", pa.float64()),
    ("grade", pa.string()),
    ("grade_basis", pa.string()),
    # Issue 21.
    ("lifetime_used", pa.float64()),
    ("short_lived", pa.bool_()),
    ("ari_start", TS),
    ("ari_end", TS),
    ("ari_explanation", pa.string()),
    ("caa", pa.list_(pa.string())),
    ("caa_permits_issuer", pa.bool_()),
    ("breaks_on", TS),
    ("breaks_because", pa.string()),
    ("scanned_at", TS),
    # carried input columns, as text, in input order
    ("owner", pa.string()),
    ("scenario", pa.string()),
]
FINDINGS_COLUMNS = [
    ("host", pa.string()),
    ("port", pa.int32()),
    ("ip", pa.string()),
    ("input_line", pa.int64()),
    ("connected_ip", pa.string()),
    ("code", pa.string()),
    ("severity", pa.string()),
    ("message", pa.string()),
    ("remedy", pa.string()),
    ("leaf_sha256", pa.string()),
    ("certificate_sha256", pa.string()),
    ("certificate_subject", pa.string()),
    ("url", pa.string()),
]
CERTIFICATES_COLUMNS = [
    ("sha256", pa.string()),
    ("subject", pa.string()),
    ("issuer", pa.string()),
    ("serial", pa.string()),
    ("not_before", TS),
    ("not_after", TS),
    ("key_type", pa.string()),
    ("key_size", pa.int32()),
    ("signature_algorithm", pa.string()),
    ("san_dns", STRINGS),
    ("san_ip", STRINGS),
    ("is_ca", pa.bool_()),
    ("self_issued", pa.bool_()),
    ("parse_error", pa.string()),
    ("der", pa.binary()),
]
OUTPUTS = {
    "hosts.parquet",
    "findings.parquet",
    "certificates.parquet",
    "hosts.csv",
    "summary.csv",
    "scan.json",
}


def columns(path: Path) -> list[tuple[str, pa.DataType]]:
    schema = pq.read_schema(path)
    return [(f.name, f.type) for f in schema]


# --- the lab scan's output folder ---------------------------------------------------------


def test_all_outputs_written(lab_scan: Any) -> None:
    assert {p.name for p in lab_scan.out.iterdir()} >= OUTPUTS
    assert not list(lab_scan.out.glob("*.partial")) and not list(lab_scan.out.glob(".*.partial"))


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("hosts.parquet", HOSTS_COLUMNS),
        ("findings.parquet", FINDINGS_COLUMNS),
        ("certificates.parquet", CERTIFICATES_COLUMNS),
    ],
)
def test_exact_columns_and_arrow_types(
    lab_scan: Any, name: str, want: list[tuple[str, pa.DataType]]
) -> None:
    assert columns(lab_scan.out / name) == want


def test_one_hosts_row_per_target_and_address(lab: Lab, lab_scan: Any, lab_files: Any) -> None:
    hosts = lab_scan.hosts
    # every unique input row, the invalid ones included, the duplicate once; the lab's
    # round-robin name (scanned with --addresses all) once per address
    pool = lab.scenario("inconsistent_backends")
    assert len(pool.addresses) == 3
    assert hosts.num_rows == lab_files.unique_targets + 2
    scenarios = hosts.column("scenario").to_pylist()
    assert sorted(scenarios) == sorted(
        [r["scenario"] for r in lab_files.rows[:-1]] + [pool.name] * 2
    )
    lines = hosts.column("input_line").to_pylist()
    assert sorted(set(lines)) == list(range(2, 2 + lab_files.unique_targets))
    pool_rows = [r for r in hosts.to_pylist() if r["scenario"] == pool.name]
    assert sorted(r["connected_ip"] for r in pool_rows) == sorted(pool.addresses)
    assert len({r["input_line"] for r in pool_rows}) == 1


def test_scan_json_counts_add_up(lab_scan: Any, lab_files: Any) -> None:
    meta = json.loads((lab_scan.out / "scan.json").read_text())
    counts = meta["counts"]
    hosts = lab_scan.hosts.to_pylist()
    assert counts["targets"] == lab_files.unique_targets
    assert counts["targets"] == len({r["input_line"] for r in hosts})
    assert counts["rows"] == len(hosts) == counts["targets"] + 2  # the 3 addresses of one name
    assert counts["ok"] + sum(counts["errors"].values()) == counts["rows"]
    assert counts["names_inconsistent_backends"] == 1
    assert counts["names_some_addresses_down"] == 0
    assert counts["ok"] == sum(r["status"] == "ok" for r in hosts)
    for code, n in counts["errors"].items():
        assert code in {e.value for e in ErrorCode}
        assert n == sum(r["error"] == code for r in hosts)
    assert counts["duplicates"] == 1
    assert meta["internal_errors"] == 0
    assert counts["certificates"] == lab_scan.certificates.num_rows
    finding_codes = lab_scan.findings.column("code").to_pylist()
    assert counts["findings_rows"] == len(finding_codes)
    assert counts["findings"] == {c: finding_codes.count(c) for c in set(finding_codes)}
    assert meta["as_of"] == "2026-06-01T00:00:00+00:00"
    assert meta["trust_store"]["roots"] == 3 and len(meta["trust_store"]["sha256"]) == 64
    assert meta["scan_id"] and meta["scanner_version"]


def test_timestamps_are_utc_and_lists_are_lists(lab_scan: Any) -> None:
    rows = {r["scenario"]: r for r in lab_scan.hosts.to_pylist()}
    valid = rows["valid"]
    assert valid["not_after"].utcoffset().total_seconds() == 0
    assert valid["san_dns"] == ["valid.lab.test"] and valid["san_ip"] == []
    assert rows["ip_san"]["san_ip"] == ["127.0.0.1"]
    # Only the prober's information that no post-quantum group was chosen (--protocols).
    assert valid["findings"] == ["no_pq_kex"] and valid["severity"] == "info"
    assert valid["cipher_classes"] == ["cbc"] and valid["groups"][:1] == ["x25519"]
    assert rows["expiring_soon"]["owner"] == "00123"  # carried as text, unchanged


def test_certificates_one_row_per_distinct_der(lab_scan: Any) -> None:
    rows = lab_scan.certificates.to_pylist()
    shas = [r["sha256"] for r in rows]
    assert len(shas) == len(set(shas))
    import hashlib

    assert all(hashlib.sha256(r["der"]).hexdigest() == r["sha256"] for r in rows)
    weak = [r for r in rows if r["key_type"] == "RSA" and r["key_size"] == 1024]
    assert len(weak) == 1 and weak[0]["is_ca"] is False


def test_hosts_csv_is_formula_escaped(lab_scan: Any) -> None:
    with open(lab_scan.out / "hosts.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == lab_scan.hosts.num_rows
    owners = {r["scenario"]: r["owner"] for r in rows}
    assert owners["www_vs_apex"] == '\'=HYPERLINK("http://example.invalid","click")'
    assert owners["expiring_soon"] == "00123"
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    text = [c for r in rows for c in r.values() if not re.fullmatch(r"-?\d+", c)]  # not numbers
    assert not [c for c in text if c.startswith(dangerous)]
    valid = next(r for r in rows if r["scenario"] == "valid")
    assert valid["not_after"].endswith("Z") and valid["trusted"] == "true"


def test_summary_csv_counts(lab_scan: Any) -> None:
    with open(lab_scan.out / "summary.csv", newline="", encoding="utf-8") as f:
        rows = {(r["kind"], r["name"]): int(r["hosts"]) for r in csv.DictReader(f)}
    hosts = lab_scan.hosts.to_pylist()
    assert rows[("status", "ok")] + rows[("status", "error")] == len(hosts)
    for code in Code:
        assert rows[("finding", code.value)] == sum(
            code.value in (r["findings"] or []) for r in hosts
        )
    assert rows[("error", "internal")] == 0


# --- environment errors: exit 2, one line on stderr, nothing written -----------------------


def one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def good_csv(tmp_path: Path, lab: Any) -> Path:
    path = tmp_path / "hosts.csv"
    s = lab.scenario("valid")
    path.write_text(f"host,port,ip\n{s.host},{s.port},{s.ip}\n", encoding="utf-8")
    return path


ENV_ERRORS = {
    "missing file": (None, "cannot read"),
    "not a CSV (binary)": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe", "not UTF-8"),
    "Latin-1 text": (b"host,owner\nexample.com,Jos\xe9\n", "not UTF-8"),
    "no host column": (b"name,port\nexample.com,443\n", "no 'host' column"),
    "empty file": (b"", "the file is empty"),
}


@pytest.mark.parametrize(("content", "words"), ENV_ERRORS.values(), ids=ENV_ERRORS.keys())
def test_bad_input_exits_2_and_writes_nothing(
    content: bytes | None,
    words: str,
    tmp_path: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> None:
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    result = cli(["scan", path, "--out", out, *scan_lab_args()])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert words in line and "input.csv" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("bundle", "words"),
    [
        (b"this is not PEM\n", "not a PEM bundle"),
        (b"", "not a PEM bundle"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM bundle"),
        (None, "cannot read CA bundle"),
    ],
    ids=["text", "empty", "broken PEM", "missing"],
)
def test_bad_ca_bundle_exits_2_and_writes_nothing(
    bundle: bytes | None, words: str, tmp_path: Path, good_csv: Path, cli: Callable[..., Result]
) -> None:
    ca = tmp_path / "ca.pem"
    if bundle is not None:
        ca.write_bytes(bundle)
    out = tmp_path / "out"
    result = cli(["scan", good_csv, "--out", out, "--ca-bundle", ca, "--quiet"])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert words in line and "ca.pem" in line
    assert not out.exists()


def test_non_empty_out_is_refused_without_overwrite(
    tmp_path: Path,
    good_csv: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for overwrite in ((), ("--overwrite",)):
        result = cli(["scan", good_csv, "--out", out, *overwrite, *scan_lab_args()])
        assert result.exit_code == 2
        line = one_error_line(result)
        # A folder that holds no scan is never cleared, so --overwrite is not suggested.
        assert "holds no scan" in line and "--overwrite" not in line
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
        assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_of_the_inputs_folder_keeps_the_input(
    tmp_path: Path,
    good_csv: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`scan hosts.csv --out . --overwrite` in the input's folder once deleted hosts.csv, then
    ended in a traceback."""
    monkeypatch.chdir(good_csv.parent)
    before = good_csv.read_bytes()
    result = cli(["scan", "hosts.csv", "--out", ".", "--overwrite", *scan_lab_args()])
    assert result.exit_code == 2
    assert "holds no scan" in one_error_line(result)
    assert good_csv.read_bytes() == before

    # Even in a scan's folder, the input is never removed nor written over by an output.
    out = tmp_path / "scan"
    assert cli(["scan", good_csv, "--out", out, *scan_lab_args()]).exit_code == 0
    inside = out / "hosts.csv"
    inside.write_bytes(before)
    result = cli(["scan", inside, "--out", out, "--overwrite", *scan_lab_args()])
    assert result.exit_code == 2
    assert "move the input" in one_error_line(result)
    assert inside.read_bytes() == before and (out / "scan.json").exists()


def test_overwrite_replaces_a_previous_scan(
    tmp_path: Path,
    good_csv: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> None:
    out = tmp_path / "out"
    first = cli(["scan", good_csv, "--out", out, *scan_lab_args()])
    assert first.exit_code == 0, first.output
    scan_id = json.loads((out / "scan.json").read_text())["scan_id"]
    again = cli(["scan", good_csv, "--out", out, *scan_lab_args()])
    assert again.exit_code == 2
    assert json.loads((out / "scan.json").read_text())["scan_id"] == scan_id
    replaced = cli(["scan", good_csv, "--out", out, "--overwrite", *scan_lab_args()])
    assert replaced.exit_code == 0, replaced.output
    meta = json.loads((out / "scan.json").read_text())
    assert meta["scan_id"] != scan_id and meta["counts"]["targets"] == 1
    assert pq.read_table(out / "hosts.parquet").num_rows == 1


def test_out_that_is_a_file_is_refused(
    tmp_path: Path,
    good_csv: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> None:
    out = tmp_path / "out"
    out.write_text("a file")
    result = cli(["scan", good_csv, "--out", out, *scan_lab_args()])
    assert result.exit_code == 2
    assert "not a folder" in one_error_line(result)
    assert out.read_text() == "a file"


def test_bad_as_of_is_a_usage_error(
    tmp_path: Path, good_csv: Path, cli: Callable[..., Result]
) -> None:
    result = cli(["scan", good_csv, "--out", tmp_path / "out", "--as-of", "yesterday"])
    assert result.exit_code == 2
    assert "ISO 8601" in result.stderr
    assert not (tmp_path / "out").exists()


def test_as_of_without_offset_is_utc(
    tmp_path: Path, good_csv: Path, cli: Callable[..., Result], lab: Any, lab_files: Any
) -> None:
    out = tmp_path / "out"
    result = cli(
        [
            "scan",
            good_csv,
            "--out",
            out,
            "--as-of",
            "2026-06-01T00:00:00",
            "--ca-bundle",
            lab_files.ca,
            "--quiet",
            "--timeout",
            "2",
        ]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "scan.json").read_text())["as_of"] == "2026-06-01T00:00:00+00:00"
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert row["trusted"] is True


def test_summary_printed_unless_quiet(
    tmp_path: Path, good_csv: Path, cli: Callable[..., Result], lab_files: Any
) -> None:
    args = ["--as-of", "2026-06-01T00:00:00Z", "--ca-bundle", lab_files.ca, "--timeout", "2"]
    loud = cli(["scan", good_csv, "--out", tmp_path / "loud", *args])
    assert loud.exit_code == 0, loud.output
    assert "Scanned 1 targets (1 ok, 0 errors)" in loud.stdout
    quiet = cli(["scan", good_csv, "--out", tmp_path / "quiet", "--quiet", *args])
    assert quiet.exit_code == 0 and quiet.stdout == ""


# --- help ---------------------------------------------------------------------------------


def test_top_level_help(cli: Callable[..., Result]) -> None:
    result = cli(["--help"])
    assert result.exit_code == 0
    for command in ("scan", "demo"):
        assert command in result.stdout


def test_every_command_has_help(cli: Callable[..., Result]) -> None:
    from scanner.cli.app import command_callbacks

    names = list(command_callbacks())
    assert {"scan", "demo"} <= set(names)
    for name in names:
        result = cli([name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example:" in result.stdout, name


def _documented_options(page: str) -> set[str]:
    """The options of the first table of a docs page (`--aia/--no-aia` gives both)."""
    after = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    table = after[after.index("| option |") :].split("\n\n", 1)[0]
    options: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| `--"):
            cell = row.split("`")[1].split()[0]
            options.update(o for o in cell.split("/") if o.startswith("--"))
    return options


def test_scan_options_are_exactly_the_documented_ones() -> None:
    """Every option of `scanner scan` has a row in the scanning guide's table, and every row
    an option (hidden tuning options excepted)."""
    from scanner.cli.app import click_command

    command = click_command("scan")
    actual = {
        opt
        for p in command.params
        if not getattr(p, "hidden", False)
        for opt in (*p.opts, *p.secondary_opts)
        if opt.startswith("--")
    } - {"--help"}
    documented = _documented_options("guide/scanning.md")
    assert len(documented) > 15
    assert sorted(actual - documented) == [], "options missing from the docs"
    assert sorted(documented - actual) == [], "docs rows for options that do not exist"


def test_installed_entry_point_help() -> None:
    """`python -m scanner --help`, in a fresh interpreter: the real entry point."""
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "scan" in done.stdout and "demo" in done.stdout
