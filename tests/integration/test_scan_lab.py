"""Every lab scenario scanned for real (TLS handshakes on 127.0.0.1) and judged as the lab says:
exact finding codes, error code, trusted and the verdict booleans; plus targeted servers for
the findings the lab does not show, and validity boundaries through `--as-of`."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import Result

from scanner.model.catalogue import NOT_YET_SCANNED, Code
from scanner.model.types import ErrorCode, Severity
from scanner.store.tables import VERDICT_COLUMNS
from scanner.testing import lab as lab_mod
from scanner.testing.lab import LOOPBACK, UNREACHABLE_IP, Lab
from scanner.x509 import certs

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)

# Every scenario of scanner.lab (a test below checks the list is complete).
SCENARIOS = [
    "valid",
    "revoked",
    "expired",
    "not_yet_valid",
    "expiring_soon",
    "wrong_host",
    "www_vs_apex",
    "wildcard",
    "wildcard_apex",
    "wildcard_deep",
    "no_san",
    "self_signed",
    "untrusted_root",
    "incomplete_chain",
    "issuer_not_found",
    "weak_key",
    "weak_signature",
    "intermediate_expired",
    "ip_san",
    "ip_as_dns_name",
    "tls1_0_only",
    "tls1_1_only",
    "static_rsa",
    "tls1_2_only",
    "legacy_suites",
    "null_anon",
    "must_staple",
    "large_hello",
    "md5_signature",
    "one_store",
    "resolved_by_dns",
    "program_trusted",
    "distrusted_by_program",
    "ct_noncompliant",
    "invalid_sct",
    "lifetime_over_limit",
    "starttls_smtp",
    "inconsistent_backends",
    # Issue 21: leaves at points of their life, untidy chains, ARI answers, CAA records.
    "six_day_fresh",
    "six_day_due",
    "days45_due",
    "days90_fresh",
    "days90_due",
    "days398_fresh",
    "days398_due",
    "chain_out_of_order",
    "chain_duplicate",
    "chain_with_root",
    "chain_unrelated",
    "chain_expired_cross",
    "intermediate_ends_first",
    "ari_past",
    "ari_future",
    "ari_garbage",
    "ari_huge",
    "caa_allows",
    "caa_forbids",
    "caa_wildcard_only",
    "caa_parent",
    "caa_cname",
    "refused",
    "timeout",
    "not_tls",
    "starttls_not_offered",
    "dns",
    "unreachable",
]
# The lab's two invalid input rows: (scenario, words of error_detail).
INVALID_ROWS = {
    "invalid_host": "bad host!",
    "invalid_port": "port 70000 is out of range 1-65535",
}
# Which findings set each verdict (no_san stands in for hostname_mismatch, issuer_not_found
# for untrusted_root: one root cause, one finding; the booleans are still set).
VERDICT_OF = {
    "expired": {"expired"},
    "not_yet_valid": {"not_yet_valid"},
    "expiring_soon": {"expiring_soon"},
    "hostname_mismatch": {"hostname_mismatch", "no_san"},
    "self_signed": {"self_signed"},
    "untrusted_root": {"untrusted_root", "issuer_not_found"},
    "incomplete_chain": {"incomplete_chain"},
}
# Findings shown by the targeted servers of this module rather than by a lab scenario.
TARGETED = {Code.NOT_TRUSTED, Code.UNPARSEABLE_CERTIFICATE, Code.AIA_FETCH_FAILED}
# ...and by the CRL and OCSP servers of test_revocation.py.
TARGETED |= {Code.REVOCATION_UNKNOWN}
# ...and by the DHE-DSS server of test_dsa.py (a DSA leaf needs DH parameters to be served).
TARGETED |= {Code.DSA_KEY}
# NOT_YET_SCANNED (the catalogue's): rules not yet run by `scanner scan`.
# Every lab certificate names its issuer's CRL, which the lab serves: the path is `good` by
# the CRL, but where no certificate has an issuer on the path (nothing to check against).
REVOCATION = {"self_signed": "not_checked", "issuer_not_found": "not_checked", "revoked": "revoked"}


# Severity of each finding code, as the findings catalogue documents it.
SEVERITY = {
    "expired": "critical",
    "not_yet_valid": "critical",
    "expiring_soon": "medium",
    "hostname_mismatch": "critical",
    "no_san": "critical",
    "self_signed": "critical",
    "untrusted_root": "critical",
    "issuer_not_found": "critical",
    "incomplete_chain": "high",
    "intermediate_expired": "critical",
    "weak_key": "high",
    "dsa_key": "high",
    "weak_signature": "high",
    "not_trusted": "high",
    "unparseable_certificate": "high",
    "aia_fetch_failed": "info",
    "legacy_protocol": "medium",
    "no_modern_protocol": "high",
    "no_tls13": "info",
    "rsa_key_exchange": "low",
    "not_trusted_by": "medium",
    "revoked": "critical",
    "revocation_unknown": "info",
    "inconsistent_backends": "high",
    "ssl2": "critical",
    "ssl3": "high",
    "export_cipher": "critical",
    "null_cipher": "critical",
    "anon_cipher": "critical",
    "rc4_cipher": "high",
    "des_cipher": "high",
    "3des_cipher": "medium",
    "no_pq_kex": "info",
    "large_hello_intolerant": "high",
    "must_staple_not_stapled": "high",
    "no_server_preference": "low",
    "distrusted_by_program": "high",
    "ct_noncompliant": "high",
    "invalid_sct": "medium",
    "lifetime_over_limit": "high",
    "chain_order": "low",
    "duplicate_in_chain": "low",
    "root_in_chain": "info",
    "unrelated_in_chain": "medium",
    "expired_in_chain": "high",
    "intermediate_expires_first": "medium",
    "renewal_overdue": "medium",
    "ari_renew_now": "high",
    "caa_forbids_current_ca": "high",
}
ORDER = ["info", "low", "medium", "high", "critical"]


def worst(codes: Sequence[str]) -> str | None:
    return max((SEVERITY[c] for c in codes), key=ORDER.index, default=None)


# --- completeness -------------------------------------------------------------------------


def test_every_lab_scenario_is_parametrised(lab: Lab) -> None:
    assert [s.name for s in lab.scenarios] == SCENARIOS


def test_every_finding_code_has_a_real_server_case(lab: Lab) -> None:
    shown = set().union(*(s.findings for s in lab.scenarios))
    assert shown | TARGETED | NOT_YET_SCANNED == {c.value for c in Code}
    assert not shown & TARGETED  # else the targeted test is redundant: move it to the lab


def test_every_error_code_has_a_case(lab: Lab, lab_scan: Any) -> None:
    errors = {s.error for s in lab.scenarios if s.error}
    assert errors == {"dns", "refused", "timeout", "unreachable", "tls", "starttls"}
    written = set(lab_scan.hosts.column("error").to_pylist()) - {None}
    assert written == errors | {"invalid_input"}
    assert {e.value for e in ErrorCode} - written == {"internal"}  # our bugs: never


# --- one row per scenario -----------------------------------------------------------------


def finding_rows(lab_scan: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of one row (of one address, for a name scanned on several)."""
    return [
        f
        for f in lab_scan.findings.to_pylist()
        if (f["input_line"], f["connected_ip"]) == (row["input_line"], row["connected_ip"])
    ]


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, lab: Lab, lab_scan: Any) -> None:
    s = lab.scenario(name)
    row = lab_scan.by_scenario()[name]
    assert (row["host"], row["port"], row["ip"]) == (s.host, s.port, s.ip)
    if s.error:
        assert (row["status"], row["error"]) == ("error", s.error)
        assert row["error_detail"]
        if s.starttls:
            assert row["protocol"] == s.starttls
        assert all(row[c] is None for c in VERDICT_COLUMNS)
        assert row["grade"] is row["grade_basis"] is row["trusted_by"] is row["tls1_2"] is None
        assert row["findings"] is None and row["severity"] is None
        assert row["revoked"] is None and row["revocation"] is None
        assert row["leaf_sha256"] is None and row["chain_length"] is None
        assert finding_rows(lab_scan, row) == []
        return
    # An answering host's error_detail names the prober's probes that failed (none here),
    # and says why the large hello counts as refused.
    detail = row["error_detail"]
    assert (row["status"], row["error"]) == ("ok", None)
    assert detail is None or (name == "large_hello" and "large_hello: " in detail), detail
    assert set(row["findings"]) == s.findings
    assert len(row["findings"]) == len(s.findings)  # each code once
    assert row["trusted"] is s.trusted
    for verdict, codes in VERDICT_OF.items():
        assert row[verdict] is bool(s.findings & codes), verdict
    assert row["severity"] == worst(row["findings"])
    revocation = REVOCATION.get(name, "good")
    assert row["revocation"] == revocation
    assert row["revoked"] is {"good": False, "revoked": True}.get(revocation)
    assert row["revocation_source"] == (None if revocation == "not_checked" else "crl")
    assert row["connected_ip"] == (s.ip or LOOPBACK)
    assert row["protocol"] == (s.starttls or "tls")
    assert row["tls_version"].startswith("TLS") and row["cipher"]
    assert row["chain_length"] >= 1 and row["leaf_sha256"]
    assert row["leaf_sha256"] in lab_scan.certificates.column("sha256").to_pylist()
    assert row["grade"] == s.grade
    # --protocols probes hosts that speak TLS at once only.
    assert row["grade_basis"] == ("certificate" if s.starttls else "certificate+protocols+ciphers")
    assert tuple(row["trusted_by"]) == s.trusted_by
    assert tuple(row["distrusted_by"]) == s.distrusted_by
    probed = ("tls1_0", "tls1_1", "tls1_2", "tls1_3", "forward_secrecy_only")
    assert tuple(row[c] for c in probed) == s.protocols
    for column, value in s.columns:
        assert row[column] == value, column
    rows = finding_rows(lab_scan, row)
    assert [f["code"] for f in rows] == row["findings"]
    for f in rows:
        assert f["severity"] == SEVERITY[f["code"]]
        assert f["message"] and f["remedy"]
        assert f["leaf_sha256"] == row["leaf_sha256"]


@pytest.mark.parametrize(("name", "detail"), INVALID_ROWS.items())
def test_invalid_input_row(name: str, detail: str, lab_scan: Any) -> None:
    row = lab_scan.by_scenario()[name]
    assert (row["status"], row["error"]) == ("error", "invalid_input")
    assert detail in row["error_detail"]
    assert row["connected_ip"] is None and row["findings"] is None


def test_self_signed_and_untrusted_root_are_never_both_true(lab_scan: Any) -> None:
    rows = lab_scan.hosts.to_pylist()
    assert not [r["scenario"] for r in rows if r["self_signed"] and r["untrusted_root"]]
    assert any(r["self_signed"] for r in rows) and any(r["untrusted_root"] for r in rows)


def test_hostname_mismatch_is_never_trusted(lab_scan: Any) -> None:
    rows = lab_scan.hosts.to_pylist()
    assert not [r["scenario"] for r in rows if r["hostname_mismatch"] and r["trusted"]]


# --- messages and remedies ----------------------------------------------------------------


def the_finding(lab_scan: Any, scenario: str, code: str) -> dict[str, Any]:
    row = lab_scan.by_scenario()[scenario]
    (found,) = [f for f in finding_rows(lab_scan, row) if f["code"] == code]
    return found


def test_www_vs_apex_names_the_apex(lab_scan: Any) -> None:
    f = the_finding(lab_scan, "www_vs_apex", "hostname_mismatch")
    assert "the certificate covers shop.lab.test but not www.shop.lab.test" in f["message"]
    assert "shop.lab.test" in f["remedy"] and "www.shop.lab.test" in f["remedy"]


def test_wildcard_messages_name_the_rule(lab_scan: Any) -> None:
    apex = the_finding(lab_scan, "wildcard_apex", "hostname_mismatch")
    assert (
        "*.wild.lab.test covers names below wild.lab.test, never wild.lab.test" in (apex["message"])
    )
    deep = the_finding(lab_scan, "wildcard_deep", "hostname_mismatch")
    assert "a wildcard stands for exactly one label" in deep["message"]


def test_incomplete_chain_remedy_names_the_intermediate_and_url(lab: Lab, lab_scan: Any) -> None:
    row = lab_scan.by_scenario()["incomplete_chain"]
    by_sha = {c["sha256"]: c for c in lab_scan.certificates.to_pylist()}
    leaf = x509.load_der_x509_certificate(by_sha[row["leaf_sha256"]]["der"])
    (url,) = certs.ca_issuers_urls(leaf)
    assert url.startswith(f"http://{LOOPBACK}:")
    inter = lab.pki.intermediate.cert.subject.rfc4514_string()
    f = the_finding(lab_scan, "incomplete_chain", "incomplete_chain")
    assert inter in f["remedy"] and url in f["remedy"]
    assert inter in f["message"] and url in f["message"]
    # the intermediate fetched through AIA is among the certificates seen
    fetched = certs.sha256_hex(lab.pki.intermediate.der)
    assert by_sha[fetched]["is_ca"] is True


def test_untrusted_root_message_names_the_root(lab_scan: Any) -> None:
    f = the_finding(lab_scan, "untrusted_root", "untrusted_root")
    assert "CN=Untrusted Root CA" in f["message"] and "CN=Untrusted Root CA" in f["remedy"]


def test_issuer_not_found_names_the_issuer(lab_scan: Any) -> None:
    f = the_finding(lab_scan, "issuer_not_found", "issuer_not_found")
    assert "CN=Scanner Lab Intermediate CA" in f["message"]
    assert "names no caIssuers URL" in f["message"]


def test_weak_findings_say_what_is_weak(lab_scan: Any) -> None:
    assert "RSA 1024 bits" in the_finding(lab_scan, "weak_key", "weak_key")["message"]
    assert "sha1" in the_finding(lab_scan, "weak_signature", "weak_signature")["message"].lower()


def test_error_details_are_readable(lab_scan: Any) -> None:
    rows = lab_scan.by_scenario()
    assert "connection refused" in rows["refused"]["error_detail"]
    assert "no answer within 1.5 s" in rows["timeout"]["error_detail"]
    assert "does not speak TLS" in rows["not_tls"]["error_detail"]
    assert "missing.lab.test" in rows["dns"]["error_detail"]
    assert "unreachable" in rows["unreachable"]["error_detail"]
    assert rows["unreachable"]["connected_ip"] == UNREACHABLE_IP


def test_scan_never_contacts_anything_but_loopback(lab_scan: Any, network_audit: Any) -> None:
    destinations = [a for e, a in lab_scan.network if e != "socket.getaddrinfo"]
    assert len(destinations) >= len(SCENARIOS), "the audit hook saw the scan's connections"
    bad = [a for a in destinations if not network_audit.is_local(a, allowed=[UNREACHABLE_IP])]
    assert not bad
    lookups = [h for e, h in lab_scan.network if e == "socket.getaddrinfo"]
    assert all(network_audit.is_numeric(h) for h in lookups), lookups  # no system resolver


# --- targeted servers for findings the lab does not show ----------------------------------


def client_auth_leaf(pki: lab_mod.Pki, host: str) -> lab_mod.Issued:
    """A leaf for TLS clients only (extendedKeyUsage clientAuth): every other check passes."""
    key = lab_mod.ec_key()
    issuer = pki.intermediate
    cert = (
        x509.CertificateBuilder()
        .subject_name(lab_mod.name(host))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(FIXED - 30 * lab_mod.DAY)
        .not_valid_after(FIXED + 160 * lab_mod.DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(lab_mod.crl_points(str(pki.crl_url(issuer))), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return lab_mod.Issued(cert, key)


def corrupt_san(issued: lab_mod.Issued, name: str) -> lab_mod.Issued:
    """The same certificate with one dNSName retagged as a 14-byte iPAddress: OpenSSL loads and
    serves it, cryptography refuses to parse it (an iPAddress is 4 or 16 bytes)."""
    entry = b"\x82" + bytes([len(name)]) + name.encode()
    der = issued.der
    assert der.count(entry) == 1
    bad = der.replace(entry, b"\x87" + entry[1:])
    assert certs.try_parse(bad) is None
    return lab_mod.Issued(x509.load_der_x509_certificate(bad), issued.key)


def duplicate_extension(issued: lab_mod.Issued) -> lab_mod.Issued:
    """A CA certificate whose subjectKeyIdentifier OID is rewritten to keyUsage's: a duplicate
    extension, which cryptography refuses to parse."""
    ski, key_usage = bytes.fromhex("0603551d0e"), bytes.fromhex("0603551d0f")
    bad = issued.der.replace(ski, key_usage)
    assert certs.try_parse(bad) is None
    return lab_mod.Issued(x509.load_der_x509_certificate(bad), issued.key)


TARGETED_CASES = {
    # name: (host, expected findings, trusted)
    "client_auth_only": ("clientonly.lab.test", {"not_trusted"}, False),
    "unparseable_leaf": ("unparseable.lab.test", {"unparseable_certificate"}, False),
    "unparseable_extra": ("extra.lab.test", {"unparseable_certificate"}, None),
    "aia_refused": ("aiafail.lab.test", {"issuer_not_found", "aia_fetch_failed"}, False),
}


@pytest.fixture(scope="module")
def targeted_scan(
    lab: Lab,
    tmp_path_factory: pytest.TempPathFactory,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> dict[str, dict[str, Any]]:
    pki, inter = lab.pki, lab.pki.intermediate
    hosts = {n: h for n, (h, _, _) in TARGETED_CASES.items()}
    chains = {
        # Logged to the lab's CT logs, as public CAs do (--ct-logs would flag them else).
        "client_auth_only": [lab.logged(client_auth_leaf(pki, hosts["client_auth_only"])), inter],
        "unparseable_leaf": [
            corrupt_san(pki.leaf(["abcde.lab.test", hosts["unparseable_leaf"]]), "abcde.lab.test"),
            inter,
        ],
        "unparseable_extra": [
            lab.logged(pki.leaf([hosts["unparseable_extra"]])),
            inter,
            duplicate_extension(pki.expired_intermediate),
        ],
        "aia_refused": [
            pki.leaf(
                [hosts["aia_refused"]],
                aia_url=f"http://{LOOPBACK}:{lab_mod.free_port()}/intermediate.der",
            )
        ],
    }
    folder = tmp_path_factory.mktemp("targeted")
    with open(folder / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "port", "ip", "case"])
        for name, chain in chains.items():
            w.writerow([hosts[name], lab.serve_chain(chain), LOOPBACK, name])
    # Certificate cases: without --protocols (the prober's findings are the lab's to show).
    args = [a for a in scan_lab_args(browsers=True) if a != "--protocols"]
    result = cli(["scan", folder / "in.csv", "--out", folder / "out", *args])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(folder / "out" / "hosts.parquet").to_pylist()
    findings = pq.read_table(folder / "out" / "findings.parquet").to_pylist()
    certificates = pq.read_table(folder / "out" / "certificates.parquet").to_pylist()
    out = {}
    for r in rows:
        r["_findings"] = [f for f in findings if f["input_line"] == r["input_line"]]
        r["_certificates"] = certificates
        out[r["case"]] = r
    return out


@pytest.mark.parametrize("case", TARGETED_CASES)
def test_targeted_case(case: str, targeted_scan: dict[str, dict[str, Any]]) -> None:
    _, expected, trusted = TARGETED_CASES[case]
    row = targeted_scan[case]
    assert row["status"] == "ok"
    assert set(row["findings"]) == expected and len(row["findings"]) == len(expected)
    if trusted is not None:
        assert row["trusted"] is trusted
    assert row["severity"] == worst(row["findings"])


def test_not_trusted_quotes_the_validator(targeted_scan: dict[str, dict[str, Any]]) -> None:
    row = targeted_scan["client_auth_only"]
    (f,) = row["_findings"]
    assert f["severity"] == Severity.HIGH.value
    assert f["message"].startswith("a strict client rejects the chain: ")
    assert "extended key usage" in f["message"].lower() or "eku" in f["message"].lower()
    assert row["hostname_mismatch"] is False and row["untrusted_root"] is False


def test_unparseable_leaf_keeps_its_der_and_has_no_verdicts(
    targeted_scan: dict[str, dict[str, Any]],
) -> None:
    row = targeted_scan["unparseable_leaf"]
    assert row["trusted"] is False
    assert all(row[c] is None for c in VERDICT_COLUMNS if c != "trusted")
    assert row["subject"] is None and row["leaf_sha256"]
    (cert,) = [c for c in row["_certificates"] if c["sha256"] == row["leaf_sha256"]]
    assert cert["parse_error"] and cert["der"] and cert["subject"] is None
    assert certs.sha256_hex(cert["der"]) == row["leaf_sha256"]
    (f,) = row["_findings"]
    assert f["message"].startswith("certificate 1 of the chain cannot be parsed")


def test_unparseable_third_certificate_is_named(targeted_scan: dict[str, dict[str, Any]]) -> None:
    row = targeted_scan["unparseable_extra"]
    assert row["chain_length"] == 3
    (f,) = row["_findings"]
    assert "certificate 3 of the chain" in f["message"] and "Duplicate" in f["message"]
    assert row["hostname_mismatch"] is False and row["expired"] is False


def test_aia_fetch_failure_is_reported(targeted_scan: dict[str, dict[str, Any]]) -> None:
    row = targeted_scan["aia_refused"]
    assert row["untrusted_root"] is True and row["incomplete_chain"] is False
    by_code = {f["code"]: f for f in row["_findings"]}
    assert by_code["aia_fetch_failed"]["severity"] == Severity.INFO.value
    assert f"http://{LOOPBACK}:" in by_code["aia_fetch_failed"]["message"]
    assert "could not be fetched" in by_code["aia_fetch_failed"]["message"]


# --- validity boundaries through a real scan with --as-of -----------------------------------

BOUNDARIES = {
    # scenario, instant relative to its leaf, expected (expired, not_yet_valid, expiring_soon)
    "expired at notAfter": ("expired", "not_after", dt.timedelta(0), (False, False, True)),
    "expired at notAfter + 1 s": ("expired", "not_after", SECOND, (True, False, False)),
    "future at notBefore - 1 s": ("not_yet_valid", "not_before", -SECOND, (False, True, False)),
    "future at notBefore": ("not_yet_valid", "not_before", dt.timedelta(0), (False, False, False)),
}


@pytest.mark.parametrize(
    ("scenario", "bound", "delta", "want"), BOUNDARIES.values(), ids=BOUNDARIES.keys()
)
def test_validity_boundary_through_a_scan(
    scenario: str,
    bound: str,
    delta: dt.timedelta,
    want: tuple[bool, bool, bool],
    lab: Lab,
    lab_scan: Any,
    tmp_path: Path,
    cli: Callable[..., Result],
    scan_lab_args: Callable[..., list[str]],
) -> None:
    s = lab.scenario(scenario)
    at = lab_scan.by_scenario()[scenario][bound] + delta
    with open(tmp_path / "in.csv", "w", newline="") as f:
        csv.writer(f).writerows([["host", "port", "ip"], [s.host, s.port, s.ip]])
    result = cli(["scan", tmp_path / "in.csv", "--out", tmp_path / "out", *scan_lab_args(as_of=at)])
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()
    assert (row["expired"], row["not_yet_valid"], row["expiring_soon"]) == want
    assert row["trusted"] is not any(want[:2])
