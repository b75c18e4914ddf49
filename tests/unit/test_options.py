"""The options schema (scanner.run.options): one declaration per option, and everything that
used to repeat the list (typer parameters, scanner.scan's signature, the resume record, the
run's config, the docs' options table and keyword list) derived from it or held to it both
ways."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from typer.testing import CliRunner

import scanner
from scanner.cli.app import app, click_command
from scanner.cli.scan import ScanCommand
from scanner.errors import UsageError
from scanner.inputs.targets import Shard
from scanner.model.types import Addresses
from scanner.run import options as schema
from scanner.run.options import ScanKeywords, ScanOptions
from scanner.run.pipeline import ScanConfig
from scanner.run.schema import declared, flag_name, parse_options

ROOT = Path(__file__).resolve().parents[2]
FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

# scan.json's `options` keys as scans before the schema wrote them: old scans must still resume
# (or be refused the same way), and `scanner.load` reads them.
RECORDED = {
    "timeout",
    "concurrency",
    "expiry_warn_days",
    "aia",
    "aia_timeout",
    "nameservers",
    "per_ip",
    "shard",
    "ca_bundle",
    "encoding",
    "protocols",
    "ciphers",
    "trust_stores",
    "revocation",
    "crl",
    "crl_max_bytes",
    "allow_private_fetch",
    "addresses",
    "starttls",
    # How browsers decide (issue 20): paths here, contents by SHA-256 beside the options.
    "root_programs",
    "ct_logs",
}
# Added since (issue 21); a scan recorded without them resumes at their defaults.
ADDED = {"renew_at", "ari", "acme_directory", "caa", "caa_identifiers"}
MAY_CHANGE_BEFORE = {
    "timeout",
    "concurrency",
    "aia_timeout",
    "nameservers",
    "per_ip",
    "ca_bundle",
    "trust_stores",
    "root_programs",
    "ct_logs",
}


def test_every_field_is_declared_and_says_whether_it_changes_verdicts() -> None:
    undeclared = [
        f.name
        for cls in (ScanOptions, ScanCommand)
        for f in dataclasses.fields(cls)
        if "option" not in f.metadata
    ]
    assert undeclared == ["checkpoint_seconds", "as_of_given"]  # set by tests, or by `parse`
    for f, o in declared(ScanOptions):
        assert o.help.strip(), f.name
        # A verdict option is compared on resume only if it is recorded (as_of is recorded
        # beside the options, as scan.json's top-level `as_of`).
        assert not o.verdict or o.record is not None or f.name == "as_of", f.name


def test_the_record_keeps_its_keys_and_what_a_resume_may_change() -> None:
    options = ScanOptions(input=Path("in.csv"), out=Path("out"), as_of=FIXED)
    assert set(schema.options_record(options)) == RECORDED | ADDED
    # --caa-identifiers' contents are compared by SHA-256 beside the options, as stores' are.
    assert schema.resume_may_change() == MAY_CHANGE_BEFORE | {"caa_identifiers"}


def test_a_record_from_before_an_option_resumes_at_its_default() -> None:
    options = ScanOptions(input=Path("in.csv"), out=Path("out"), as_of=FIXED)
    defaults = schema.record_defaults()
    record = schema.options_record(options)
    assert {k: record[k] for k in ADDED} == {k: defaults[k] for k in ADDED}
    assert defaults["renew_at"] == 2 / 3 and defaults["acme_directory"] == []


def test_a_record_is_json_as_before(tmp_path: Path) -> None:
    options = ScanOptions(
        input=Path("in.csv"),
        out=Path("out"),
        as_of=FIXED,
        nameservers=(("127.0.0.1", 5353),),
        crl_files=(tmp_path / "a.crl",),
        trust_stores=(("old", tmp_path / "old.pem"),),
        shard=Shard(2, 4),
        addresses=Addresses.ALL,
    )
    record = schema.options_record(options)
    assert record["nameservers"] == ["127.0.0.1:5353"]
    assert record["crl"] == [str((tmp_path / "a.crl").resolve())]
    assert record["trust_stores"] == {"old": str((tmp_path / "old.pem").resolve())}
    assert record["shard"] == "2/4" and record["addresses"] == "all"
    assert record["expiry_warn_days"] == 30 and record["ca_bundle"] is None


def test_the_python_keywords_are_the_declared_ones_both_ways() -> None:
    """`ScanKeywords` (what mypy checks `scanner.scan(**options)` against) names exactly the
    options declared for the API; the runtime signatures list them in declaration order."""
    api = [f.name for f, o in declared(ScanOptions) if o.api]
    assert sorted(get_type_hints(ScanKeywords)) == sorted(api)
    for fn in (scanner.scan, scanner.scan_async):
        params = list(inspect.signature(fn).parameters.values())
        assert params[0].name == "rows"
        assert [p.name for p in params[1:]] == api
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
        defaults = {p.name: p.default for p in params[1:]}
        assert defaults["timeout"] == 10.0 and defaults["as_of"] is None
        assert defaults["addresses"] == "first" and defaults["trust_stores"] is None


def test_the_cli_parameters_are_the_declared_ones() -> None:
    command = click_command("scan")
    names = [p.name for p in command.params]
    on_cli = [f.name for cls in (ScanOptions, ScanCommand) for f, o in declared(cls) if o.cli]
    assert names == on_cli
    by_name = {p.name: p for p in command.params}
    assert by_name["warn_days"].opts == ["--expiry-warn-days"]
    assert by_name["aia"].secondary_opts == ["--no-aia"]
    assert by_name["protocols"].secondary_opts == []
    assert by_name["crl_files"].multiple and by_name["checkpoint_rows"].hidden


def test_the_config_takes_the_options_by_name() -> None:
    """ScanConfig has no defaults of its own: each field is an option of the same name, or one
    of those it loads (the stores, the root programs, the log list, --caa-identifiers as
    `caa_report`)."""
    names = {f.name for f in dataclasses.fields(ScanOptions)}
    loaded = ("trust", "stores", "programs", "log_list")
    for f in dataclasses.fields(ScanConfig):
        assert f.default is dataclasses.MISSING, f.name
        assert f.name in names or f.name in (*loaded, "caa_report"), f.name


# --- validation, once, for the CLI and Python alike --------------------------------------------

BAD = [
    ("concurrency", "--concurrency", "0", 0, "expected a whole number from 1 to 10000"),
    ("concurrency", "--concurrency", "10001", 10001, "from 1 to 10000"),
    ("timeout", "--timeout", "0.05", 0.05, "expected a number of seconds >= 0.1"),
    ("aia_timeout", "--aia-timeout", "0", 0, "seconds >= 0.1"),
    ("warn_days", "--expiry-warn-days", "-1", -1, "expected a whole number >= 0"),
    ("crl_max_bytes", "--crl-max-bytes", "0", 0, "whole number >= 1"),
    ("starttls", "--starttls", "gopher", "gopher", "'gopher' is not one of auto, none"),
    ("addresses", "--addresses", "some", "some", "'some' is not one of first, all"),
    ("as_of", "--as-of", "yesterday", "yesterday", "not an ISO 8601 date or time"),
    ("nameservers", "--nameserver", "dns.example", ["dns.example"], "is not IP[:PORT]"),
    ("trust_stores", "--trust-store", "default=x.pem", {"default": "x.pem"}, "--ca-bundle store"),
    ("renew_at", "--renew-at", "0", 0, "expected a fraction in (0, 1], not 0"),
    ("renew_at", "--renew-at", "1.5", 1.5, "expected a fraction in (0, 1], not 1.5"),
    ("acme_directories", "--acme-directory", "R11", ["R11"], "expected ISSUER=URL"),
    ("acme_directories", "--acme-directory", "R11=ftp://x", {"R11": "ftp://x"}, "not an http(s)"),
]


@pytest.mark.parametrize(("field", "flag", "text", "value", "says"), BAD, ids=[b[2] for b in BAD])
def test_a_bad_value_is_refused_alike_by_the_cli_and_python(
    field: str, flag: str, text: str, value: Any, says: str, tmp_path: Path
) -> None:
    """The same check refuses it on both surfaces, each naming the option its own way: one
    `error:` line and exit 2 from the CLI, a UsageError from Python."""
    with pytest.raises(UsageError, match=re.escape(says)) as info:
        parse_options(ScanOptions, {field: value}, "api")
    message = str(info.value)
    assert message.startswith((field, flag)), message

    out = tmp_path / "out"
    args = ["scan", str(tmp_path / "in.csv"), "--out", str(out), flag, text]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {flag}"), result.stderr
    assert says in " ".join(result.stderr.split())
    assert not out.exists()


def test_issue_21_options_that_need_another() -> None:
    """--ari asks the CAs --acme-directory names; --caa-identifiers serves --caa only."""
    base = {"input": "in.csv", "out": "out"}
    with pytest.raises(UsageError, match="--ari needs --acme-directory"):
        ScanOptions.parse({**base, "ari": True})
    with pytest.raises(UsageError, match="--caa-identifiers is used by --caa only"):
        ScanOptions.parse({**base, "caa_identifiers": "caa.csv"})
    ok = ScanOptions.parse(
        {**base, "ari": True, "acme_directories": ["R11=https://ca.example/dir"]}
    )
    assert ok.acme_directories == (("R11", "https://ca.example/dir"),)
    assert schema.options_record(ok)["acme_directory"] == ["R11=https://ca.example/dir"]


def test_python_refuses_types_the_cli_never_passes() -> None:
    for given, says in [
        ({"timeout": "10"}, "timeout: expected a number of seconds"),
        ({"concurrency": True}, "concurrency: expected a whole number"),
        ({"aia": "no"}, "aia: expected True or False"),
        ({"as_of": dt.datetime(2026, 6, 1)}, "as_of: a datetime must be timezone-aware"),  # noqa: DTZ001
        ({"timeuot": 3}, "unknown option(s) timeuot"),
        ({"shard": "1/2"}, "unknown option(s) shard"),  # a CLI-only option
    ]:
        with pytest.raises(UsageError, match=re.escape(says)):
            schema.api_settings(given)


def test_python_takes_the_cli_forms() -> None:
    settings = schema.api_settings(
        {
            "as_of": "2026-06-01",
            "nameservers": ("127.0.0.1:5353", ("::1", 53)),
            "trust_stores": {"old": "old.pem"},
            "addresses": "ALL",
            "crl_files": (Path("a.crl"), "b.crl"),
        }
    )
    assert settings["as_of"] == FIXED
    assert settings["nameservers"] == (("127.0.0.1", 5353), ("::1", 53))
    assert settings["trust_stores"] == (("old", Path("old.pem")),)
    assert settings["addresses"] is Addresses.ALL
    assert settings["crl_files"] == (Path("a.crl"), Path("b.crl"))
    assert schema.api_settings({"nameservers": "127.0.0.1"})["nameservers"] == (("127.0.0.1", 53),)
    assert settings["per_ip"] is None and settings["shard"] == Shard(1, 1)  # not on this surface


def test_options_that_exclude_each_other_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--resume and --overwrite exclude each other"):
        ScanOptions.parse({"input": "in.csv", "out": "out", "resume": True, "overwrite": True})
    args = ["scan", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"), "--metrics-label", "x"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--metrics-label needs --metrics" in result.stderr


# --- the docs' table (docs/guide/scanning.md) --------------------------------------------------


def _docs_rows() -> dict[str, str]:
    """The `scanner scan` options table of the scanning guide (hand-written, beside the
    generated reference): each flag (`--aia/--no-aia` as written) and its default cell."""
    text = (ROOT / "docs" / "guide" / "scanning.md").read_text(encoding="utf-8")
    table = text[text.index("| option |") :].split("\n\n", 1)[0]
    rows = {}
    for row in table.splitlines():
        if row.startswith("| `--"):
            cells = row.split(" | ")
            rows[cells[0].split("`")[1].split()[0]] = cells[1]
    return rows


def _docs_default(value: Any) -> str | None:
    """How the table writes a plain default (None: free text, such as `system resolver`)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str | Shard):
        return str(value)
    return None


def test_the_docs_table_lists_exactly_the_declared_options_with_their_defaults() -> None:
    rows = _docs_rows()
    declared_flags = {}
    for cls in (ScanOptions, ScanCommand):
        for f, o in declared(cls):
            if o.cli and not o.hidden and not o.argument:
                declared_flags[flag_name(f, o)] = f.default
    assert sorted(set(declared_flags) - set(rows)) == [], "options missing from the docs"
    assert sorted(set(rows) - set(declared_flags)) == [], "docs rows for no declared option"
    for flag, default in declared_flags.items():
        expected = _docs_default(default)
        if expected is not None:
            assert rows[flag] == expected, (flag, rows[flag], expected)


def test_the_docs_name_exactly_the_python_keywords() -> None:
    text = (ROOT / "docs" / "howto" / "notebooks.md").read_text(encoding="utf-8")
    sentence = re.split(r"Its keyword\s+options are", text, maxsplit=1)[1].split(";", 1)[0]
    named = re.findall(r"`([a-z_]+)`", sentence.split(":", 1)[1])
    assert named == [f.name for f, o in declared(ScanOptions) if o.api]
