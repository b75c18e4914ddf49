"""`scanner check`: a saved chain diagnosed offline with the diagnosis `scan` uses. Files only
(certificates minted here, dated from a fixed instant); no sockets."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from typer.testing import CliRunner, Result

from scanner.cli.app import app
from scanner.errors import UsageError
from scanner.run.check import NETWORK_COLUMNS, ChainFileError, check, load_chain
from scanner.store.tables import HOST_COLUMNS
from scanner.testing.hostile import unparseable_certificate
from scanner.testing.lab import DAY, Pki, make_leaf
from scanner.x509 import certs

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "www.check.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create(FIXED)


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("check")
    inter = pki.intermediate
    good = pki.leaf([HOST, "127.0.0.1"], ip_addresses=["127.0.0.1"])
    expired = pki.leaf([HOST], not_before=FIXED - 100 * DAY, not_after=FIXED - 3 * DAY)
    odd = unparseable_certificate(pki.leaf([HOST]), inter)
    # Diagnosed medium (expiring_soon) before critical (hostname_mismatch).
    expiring_elsewhere = pki.leaf(
        ["elsewhere.check.test"], not_before=FIXED - 100 * DAY, not_after=FIXED + 3 * DAY
    )
    hostile_name = make_leaf(
        None,
        dns_names=[HOST],
        cn="[bold red]=HYPERLINK()\x1b[31m",
        not_before=FIXED - DAY,
        not_after=FIXED + 90 * DAY,
    )
    p7 = pkcs7.serialize_certificates([good.cert, inter.cert], Encoding.DER)
    content = {
        "good.pem": good.pem + inter.pem,
        "good.der": good.der,
        "good-concatenated.der": good.der + inter.der,
        "good.p7b": p7,
        "good.p7b.pem": pkcs7.serialize_certificates([good.cert, inter.cert], Encoding.PEM),
        "expired.pem": expired.pem + inter.pem,
        "expiring-elsewhere.pem": expiring_elsewhere.pem + inter.pem,
        "orphan.pem": good.pem,
        "unparseable.pem": (
            b"-----BEGIN CERTIFICATE-----\n"
            + base64.encodebytes(odd)
            + b"-----END CERTIFICATE-----\n"
            + inter.pem
        ),
        "hostile-name.pem": hostile_name.pem,
        "not-a-chain.txt": b"hello, this is not a certificate\n",
        "bad-base64.pem": b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        "ca.pem": pki.root.pem,
        "bad-ca.pem": b"not a bundle",
    }
    paths = {}
    for name, data in content.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def run(args: Sequence[object]) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def check_json(files: dict[str, Path], chain: str, host: str = HOST, *extra: str) -> Result:
    return run(
        [
            "check",
            files[chain],
            "--host",
            host,
            "--ca-bundle",
            files["ca.pem"],
            "--as-of",
            FIXED.isoformat(),
            "--json",
            *extra,
        ]
    )


def test_json_has_exactly_the_hosts_parquet_columns(files: dict[str, Path]) -> None:
    result = check_json(files, "good.pem")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert list(row) == list(HOST_COLUMNS)
    assert row["trusted"] is True and row["findings"] == [] and row["severity"] is None
    assert row["status"] == "ok" and row["chain_length"] == 2 and row["host"] == HOST
    assert all(row[c] is None for c in NETWORK_COLUMNS)
    assert row["not_after"] == (FIXED + 160 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["days_remaining"] == 160
    # No SCT and no --ct-logs: counted (none), not judged; 190 days and one second.
    assert (row["sct_count"], row["sct_valid"], row["ct_compliant"]) == (0, None, None)
    assert row["lifetime_days"] == (190 * 86400 + 1) / 86400 and row["distrusted_by"] == []


@pytest.mark.parametrize("chain", ["good.pem", "good-concatenated.der", "good.p7b", "good.p7b.pem"])
def test_pem_der_and_pkcs7_read_the_same_chain(files: dict[str, Path], chain: str) -> None:
    row = json.loads(check_json(files, chain).stdout)
    assert row["trusted"] is True and row["chain_length"] == 2


def test_a_lone_leaf_misses_its_intermediate_offline(files: dict[str, Path]) -> None:
    for chain in ("good.der", "orphan.pem"):
        row = json.loads(check_json(files, chain).stdout)
        assert row["trusted"] is False and row["findings"] == ["issuer_not_found"]


def test_as_of_decides_expiry(files: dict[str, Path]) -> None:
    before = run(
        [
            "check",
            files["expired.pem"],
            "--host",
            HOST,
            "--ca-bundle",
            files["ca.pem"],
            "--as-of",
            (FIXED - 4 * DAY).isoformat(),
            "--json",
        ]
    )
    row = json.loads(before.stdout)
    assert row["expired"] is False and row["trusted"] is True and row["expiring_soon"] is True


def test_ip_host_matches_ip_san(files: dict[str, Path]) -> None:
    row = json.loads(check_json(files, "good.pem", "127.0.0.1").stdout)
    assert row["host"] == "127.0.0.1" and row["trusted"] is True
    row = json.loads(check_json(files, "good.pem", "other.check.test").stdout)
    assert row["hostname_mismatch"] is True and "hostname_mismatch" in row["findings"]


def test_unparseable_certificate_is_a_finding_not_a_traceback(files: dict[str, Path]) -> None:
    result = check_json(files, "unparseable.pem")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["findings"] == ["unparseable_certificate"] and row["trusted"] is False
    assert row["leaf_sha256"] and row["subject"] is None and row["chain_length"] == 2


def test_human_output_names_findings_and_escapes_certificate_text(
    files: dict[str, Path],
) -> None:
    result = run(
        [
            "check",
            files["hostile-name.pem"],
            "--host",
            HOST,
            "--ca-bundle",
            files["ca.pem"],
            "--as-of",
            FIXED.isoformat(),
        ]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[critical] self_signed" in out and "not trusted" in out
    assert "[bold red]=HYPERLINK()?[31m" in out  # markup shown as text, ESC replaced
    assert "\x1b[31m" not in out


def test_findings_are_listed_worst_first_in_text_and_json(files: dict[str, Path]) -> None:
    """The diagnosis finds the medium `expiring_soon` before the critical `hostname_mismatch`;
    check lists the critical one first, in both outputs."""
    chain = files["expiring-elsewhere.pem"]
    common = ["check", chain, "--host", HOST, "--ca-bundle", files["ca.pem"]]
    common += ["--as-of", FIXED.isoformat()]
    text = run(common)
    assert text.exit_code == 0, text.output
    listed = [line.split()[:2] for line in text.stdout.splitlines() if line.startswith("  [")]
    assert listed == [["[critical]", "hostname_mismatch:"], ["[medium]", "expiring_soon:"]]
    as_json = run([*common, "--json"])
    assert as_json.exit_code == 0, as_json.output
    row = json.loads(as_json.stdout)
    assert row["findings"] == ["hostname_mismatch", "expiring_soon"]
    assert row["severity"] == "critical"


def test_fail_on(files: dict[str, Path]) -> None:
    assert check_json(files, "expired.pem", HOST, "--fail-on", "critical").exit_code == 1
    assert check_json(files, "good.pem", HOST, "--fail-on", "info").exit_code == 0
    assert check_json(files, "expired.pem", HOST).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.pem", "--host", HOST], "cannot read"),
        (["not-a-chain.txt", "--host", HOST], "no certificate found"),
        (["bad-base64.pem", "--host", HOST], "not valid base64"),
        (["good.pem", "--host", "bad host!"], "--host"),
        (["good.pem", "--host", HOST, "--ca-bundle", "bad-ca.pem"], "not a PEM bundle"),
        (["good.pem", "--host", HOST, "--as-of", "yesterday"], "ISO 8601"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    files: dict[str, Path], args: list[str], message: str
) -> None:
    folder = files["ca.pem"].parent
    resolved = [str(folder / a) if a.endswith((".pem", ".txt")) else a for a in args]
    result = run(["check", *resolved])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_load_chain_keeps_unparseable_der_and_refuses_no_certificate() -> None:
    assert load_chain(b"\x30\x03\x02\x01\x01", "x") == (b"\x30\x03\x02\x01\x01",)
    with pytest.raises(ChainFileError, match="^empty.der: no certificate found"):
        load_chain(b"", "empty.der")
    with pytest.raises(ChainFileError, match="^truncated.der: no certificate found"):
        load_chain(b"\x30\x82\xff\xff\x00", "truncated.der")


def test_help_has_an_example() -> None:
    result = run(["check", "--help"])
    assert result.exit_code == 0 and "Example: scanner check" in result.output


def test_check_refuses_a_naive_or_empty_input(files: dict[str, Path], pki: Pki) -> None:
    trust = certs.load_trust_store(pki.root.pem, "ca.pem")
    with pytest.raises(ChainFileError, match="no certificate to check"):
        check((), host=HOST, trust=trust, as_of=FIXED, checked_at=FIXED)
    chain = load_chain(files["good.pem"].read_bytes(), "good.pem")
    with pytest.raises(UsageError, match="timezone-aware"):
        check(chain, host=HOST, trust=trust, as_of=FIXED.replace(tzinfo=None), checked_at=FIXED)
