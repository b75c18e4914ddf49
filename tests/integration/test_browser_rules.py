"""How browsers decide (issue 20) through `scanner scan` and `scanner check` against the lab's
loopback TLS servers: every lab leaf's CT columns against SCT signatures verified here with
cryptography directly (the lab's logs have ECDSA P-256 and RSA keys), the root programs'
cutoff between two leaves of one root, lifetimes on both sides of each date boundary, the
files recorded and refused on resume."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from typer.testing import Result

from scanner.testing.ctlab import LabLog
from scanner.testing.lab import LOOPBACK, Issued, Lab
from scanner.testing.pki import CRL_SLUGS

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- the independent computation ------------------------------------------------------------


def verified_scts(
    leaf: x509.Certificate, issuer: x509.Certificate | None, logs: Sequence[LabLog]
) -> tuple[int, list[tuple[LabLog, dt.datetime]]]:
    """(SCTs embedded, [(log, timestamp) of those whose signature verifies]), by RFC 6962 3.2
    written out here: the signed struct over the issuer key's hash and the precertificate
    TBS, verified with the log's public key."""
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except x509.ExtensionNotFound:
        return 0, []
    by_id = {log.log_id: log for log in logs}
    valid = []
    for sct in ext.value:
        log = by_id.get(sct.log_id)
        if log is None or issuer is None:
            continue
        when = sct.timestamp.replace(tzinfo=dt.UTC)
        stamp = (when - EPOCH) // dt.timedelta(milliseconds=1)
        spki = issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tbs = leaf.tbs_precertificate_bytes
        data = (
            struct.pack(">BBQH", 0, 0, stamp, 1)
            + hashlib.sha256(spki).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + len(sct.extension_bytes).to_bytes(2, "big")
            + sct.extension_bytes
        )
        key = log.key.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(sct.signature, data, ec.ECDSA(hashes.SHA256()))
            else:
                assert isinstance(key, rsa.RSAPublicKey)
                key.verify(sct.signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        valid.append((log, when))
    return len(ext.value), valid


def lifetime_days(leaf: x509.Certificate) -> float:
    span = leaf.not_valid_after_utc - leaf.not_valid_before_utc + SECOND
    return span.total_seconds() / 86400


def compliant(leaf: x509.Certificate, valid: list[tuple[LabLog, dt.datetime]]) -> bool:
    """Chrome's rule for embedded SCTs from usable logs: 2 logs (3 beyond 180 days), 2
    operators."""
    span = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    required = 2 if span <= 180 * DAY else 3
    logs = {log.log_id for log, _ in valid}
    return len(logs) >= required and len({log.operator for log, _ in valid}) >= 2


def issuer_of(lab: Lab, leaf: x509.Certificate) -> x509.Certificate | None:
    for which in CRL_SLUGS:
        ca = lab.pki.ca(which).cert
        if ca.subject == leaf.issuer and ca is not leaf:
            try:
                leaf.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return ca
    return None


# --- the whole lab, scanned with --root-program and --ct-logs -------------------------------


def leaves(lab_scan: Any) -> dict[str, x509.Certificate]:
    return {
        c["sha256"]: x509.load_der_x509_certificate(c["der"])
        for c in lab_scan.certificates.to_pylist()
    }


def test_ct_and_lifetime_columns_of_every_lab_leaf(lab: Lab, lab_scan: Any) -> None:
    certs = leaves(lab_scan)
    seen_rsa = seen_ec = forged = 0
    rows = [r for r in lab_scan.hosts.to_pylist() if r["status"] == "ok"]
    assert len(rows) > 30
    for row in rows:
        leaf = certs[row["leaf_sha256"]]
        # The scanner sees the issuer only where the server sent it (or AIA found it).
        sent_issuer = "issuer_not_found" not in row["findings"]
        issuer = issuer_of(lab, leaf) if sent_issuer else None
        count, valid = verified_scts(leaf, issuer, lab.ct_logs)
        assert row["sct_count"] == count, row["scenario"]
        assert row["sct_valid"] == len(valid), row["scenario"]
        assert row["sct_operators"] == len({log.operator for log, _ in valid}), row["scenario"]
        assert row["ct_compliant"] is compliant(leaf, valid), row["scenario"]
        assert row["lifetime_days"] == pytest.approx(lifetime_days(leaf), abs=1e-9)
        seen_rsa += any(isinstance(log.key, rsa.RSAPrivateKey) for log, _ in valid)
        seen_ec += any(isinstance(log.key, ec.EllipticCurvePrivateKey) for log, _ in valid)
        forged += count - len(valid) if issuer is not None else 0
    assert seen_rsa and seen_ec  # signatures of both kinds of log verified
    assert forged == 1  # the invalid_sct scenario's fourth SCT
    assert lab_scan.by_scenario()["invalid_sct"]["sct_count"] == 4


def test_root_programs_cutoff_between_two_leaves_of_one_root(lab: Lab, lab_scan: Any) -> None:
    certs, rows = leaves(lab_scan), lab_scan.by_scenario()
    cutoff = lab.program_cutoff
    for name in ("program_trusted", "distrusted_by_program"):
        row = rows[name]
        leaf = certs[row["leaf_sha256"]]
        assert leaf.issuer == lab.pki.program_root.cert.subject
        _, valid = verified_scts(leaf, lab.pki.program_root.cert, lab.ct_logs)
        earliest = min(when for _, when in valid)
        chrome_ok = earliest <= cutoff  # sct_not_after_sec, on the earliest verified SCT
        mozilla_ok = leaf.not_valid_before_utc <= cutoff  # CKA_NSS_SERVER_DISTRUST_AFTER
        assert row["distrusted_by"] == [
            n for n, ok in (("chrome", chrome_ok), ("mozilla", mozilla_ok)) if not ok
        ]
        trusting = [n for n, ok in (("chrome", chrome_ok), ("mozilla", mozilla_ok)) if ok]
        assert row["trusted_by"] == ["default", "java", *trusting]
        assert row["trusted"] is True  # the default store's verdict stands
    assert rows["program_trusted"]["distrusted_by"] == []
    assert rows["distrusted_by_program"]["distrusted_by"] == ["chrome", "mozilla"]
    (f,) = [f for f in lab_scan.findings.to_pylist() if f["code"] == "distrusted_by_program"]
    stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f["severity"] == "high" and f["message"].count(stamp) >= 2
    assert "sct_not_after_sec" in f["message"] and "CKA_NSS_SERVER_DISTRUST_AFTER" in f["message"]
    assert "Scanner Lab Program Root CA" in f["message"]
    assert f["certificate_sha256"] == hashlib.sha256(lab.pki.program_root.der).hexdigest()


def test_ct_findings_name_the_policy_and_the_forged_log(lab: Lab, lab_scan: Any) -> None:
    by_code: dict[str, list[dict[str, Any]]] = {}
    for f in lab_scan.findings.to_pylist():
        by_code.setdefault(f["code"], []).append(f)
    unlogged = [f for f in by_code["ct_noncompliant"] if f["host"] == "unlogged.lab.test"]
    assert "1 distinct log(s) of 3 required" in unlogged[0]["message"]
    assert "default" in unlogged[0]["message"]
    (forged,) = by_code["invalid_sct"]
    assert forged["severity"] == "medium" and lab.ct_logs[3].description in forged["message"]
    # The private root (untrusted.lab.test) is never flagged, whatever its SCTs.
    assert not [f for f in by_code["ct_noncompliant"] if f["host"] == "untrusted.lab.test"]


def test_scan_json_records_the_files(lab: Lab, lab_scan: Any) -> None:
    meta = json.loads((lab_scan.out / "scan.json").read_text())
    programs = {p["name"]: p for p in meta["root_programs"]}
    assert set(programs) == {"chrome", "mozilla"}
    for name, (_, data) in lab.program_files().items():
        assert programs[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["ct_logs"]["log_list_timestamp"] == lab.as_of.isoformat()


# --- lifetimes on both sides of each date boundary, through a scan --------------------------

SC081 = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
SC081_100 = dt.datetime(2027, 3, 15, tzinfo=dt.UTC)
APPLE = dt.datetime(2019, 7, 1, tzinfo=dt.UTC)
# (notBefore, days of validity as the BR count them, publicly trusted, the limit broken)
LIFETIMES = [
    (SC081 - SECOND, 397, True, None),
    (SC081 - SECOND, 398, True, None),
    (SC081 - SECOND, 399, True, 398),
    (SC081 - SECOND, 201, True, None),
    (SC081, 199, True, None),
    (SC081, 200, True, None),
    (SC081, 201, True, 200),
    (SC081, 398, True, 200),
    (SC081_100 - SECOND, 201, True, 200),
    (SC081_100, 100, True, None),
    (SC081_100, 101, True, 100),
    (APPLE - SECOND, 825, False, None),
    (APPLE - SECOND, 826, False, None),  # a private CA before Apple's date
    (APPLE, 825, False, None),
    (APPLE, 826, False, 825),  # Apple: private CAs too
]


@pytest.fixture(scope="module")
def lifetime_scan(
    lab: Lab,
    tmp_path_factory: pytest.TempPathFactory,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("lifetimes")
    with open(folder / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip", "case"])
        for i, (nb, days, public, _) in enumerate(LIFETIMES):
            host = f"life{i}.lab.test"
            issuer = lab.pki.intermediate if public else lab.pki.rogue_root
            leaf = lab.pki.leaf(
                [host], issuer=issuer, not_before=nb, not_after=nb + days * DAY - SECOND
            )
            chain: list[Issued] = [leaf, issuer]
            w.writerow([host, lab.serve_chain(chain), LOOPBACK, str(i)])
            (folder / f"{i}.pem").write_bytes(b"".join(c.pem for c in chain))
    args = [*scan_lab_args(), "--no-revocation"]
    result = cli(["scan", folder / "in.csv", "--out", folder / "out", *args])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(folder / "out" / "hosts.parquet").to_pylist()
    findings = pq.read_table(folder / "out" / "findings.parquet").to_pylist()
    for r in rows:
        r["_findings"] = [f for f in findings if f["input_line"] == r["input_line"]]
        r["_chain"] = folder / f"{r['case']}.pem"
    return sorted(rows, key=lambda r: int(r["case"]))


@pytest.mark.parametrize(
    ("case", "not_before", "days", "public", "limit"),
    [(i, *c) for i, c in enumerate(LIFETIMES)],
    ids=[f"{nb:%Y-%m-%dT%H:%M:%S}+{d}d" for nb, d, _, _ in LIFETIMES],
)
def test_lifetime_limits_on_both_sides_of_each_date(
    lifetime_scan: list[dict[str, Any]],
    lab_files: Any,
    cli: Callable[..., Result],
    case: int,
    not_before: dt.datetime,
    days: int,
    public: bool,
    limit: int | None,
) -> None:
    row = lifetime_scan[case]
    assert row["status"] == "ok" and row["not_before"] == not_before
    assert row["lifetime_days"] == days  # notAfter - notBefore + 1 s, exactly
    assert row["untrusted_root"] is not public
    over = [f for f in row["_findings"] if f["code"] == "lifetime_over_limit"]
    # `scanner check` on the same chain says the same.
    checked = cli(
        ["check", row["_chain"], "--host", row["host"], "--as-of", FIXED.isoformat()]
        + ["--ca-bundle", lab_files.ca, "--json"]
    )
    assert checked.exit_code == 0, checked.output
    one = json.loads(checked.stdout)
    assert one["lifetime_days"] == days
    assert ("lifetime_over_limit" in one["findings"]) is (limit is not None)
    if limit is None:
        assert over == []
        return
    (f,) = over
    assert f["severity"] == "high"
    assert f"over the {limit}-day maximum" in f["message"] and f"{days:g} days" in f["message"]
    assert ("Apple" in f["message"]) is (limit == 825)


# --- scanner check, the same rules on a saved chain --------------------------------------------


def test_check_applies_the_programs_and_ct_like_scan(
    lab: Lab, lab_scan: Any, lab_files: Any, cli: Callable[..., Result], tmp_path: Path
) -> None:
    row = lab_scan.by_scenario()["distrusted_by_program"]
    leaf = leaves(lab_scan)[row["leaf_sha256"]]
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    programs, log_list = lab.write_programs(tmp_path)
    base = ["check", chain, "--host", row["host"], "--as-of", FIXED.isoformat()]
    base += ["--ca-bundle", lab_files.ca, "--json"]
    judged = [a for name, path in programs for a in ("--root-program", f"{name}={path}")]
    judged += [
        a for name, path in lab.write_stores(tmp_path) for a in ("--trust-store", f"{name}={path}")
    ]
    result = cli([*base, *judged, "--ct-logs", log_list])
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    for column in (
        "trusted_by",
        "distrusted_by",
        "sct_count",
        "sct_valid",
        "sct_operators",
        "ct_compliant",
        "lifetime_days",
    ):
        assert checked[column] == row[column], column
    assert checked["findings"] == ["distrusted_by_program"]
    # Without the log list: counted, not verified, not judged.
    bare = json.loads(cli([*base, *judged]).stdout)
    assert (bare["sct_count"], bare["sct_valid"], bare["ct_compliant"]) == (3, None, None)
    assert bare["distrusted_by"] == ["chrome", "mozilla"]  # the earliest SCT, unverified
    text = cli([*base[:-1], *judged, "--ct-logs", log_list]).stdout
    assert "distrusted by: chrome, mozilla" in text and "3 SCT(s), 3 valid; compliant" in text


@pytest.mark.parametrize("option", ["--root-program", "--ct-logs"])
def test_other_content_is_a_one_line_error(
    option: str, lab_files: Any, cli: Callable[..., Result], tmp_path: Path
) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(lab_files.ca.read_bytes())
    bogus = tmp_path / "bogus.txt"
    bogus.write_text("not a root program, not JSON\n")
    value = f"x={bogus}" if option == "--root-program" else str(bogus)
    for command in (
        ["check", chain, "--host", "a.test"],
        ["scan", lab_files.csv, "--out", tmp_path / "o"],
    ):
        result = cli([*command, option, value])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(bogus) in lines[0]


# --- resume refuses changed files ----------------------------------------------------------


def test_resume_refuses_changed_program_and_log_list(
    lab: Lab, lab_files: Any, cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    s = lab.scenario("valid")
    src.write_text(f"host,port,ip\n{s.host},{s.port},{s.ip}\n")
    files = tmp_path / "files"
    (chrome, mozilla), log_list = lab.write_programs(files)
    out = tmp_path / "out"
    args = ["--as-of", FIXED.isoformat(), "--ca-bundle", lab_files.ca, "--quiet"]
    args += ["--root-program", f"chrome={chrome[1]}", "--ct-logs", log_list]
    assert cli(["scan", src, "--out", out, *args]).exit_code == 0
    # The same contents under another path: accepted.
    moved = tmp_path / "moved.json"
    moved.write_bytes(log_list.read_bytes())
    same = [a if a != log_list else moved for a in args]
    assert cli(["scan", src, "--out", out, *same, "--resume"]).exit_code == 0
    log_list.write_bytes(log_list.read_bytes().replace(b'"version": "1.0"', b'"version": "1.1"'))
    refused = cli(["scan", src, "--out", out, *args, "--resume"])
    assert refused.exit_code == 2 and "--ct-logs (the log list's contents" in refused.output
    log_list.write_bytes(moved.read_bytes())
    chrome[1].write_bytes(chrome[1].read_bytes() + b"# refreshed\n")
    refused = cli(["scan", src, "--out", out, *args, "--resume"])
    assert refused.exit_code == 2 and "--root-program (each program's" in refused.output
