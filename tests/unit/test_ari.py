"""ACME Renewal Information, the pure part (scanner.x509.ari): the certificate identifier with
RFC 9773's own example, directory and renewalInfo parsing (strict: every bad answer is a
value), Retry-After, and `ari_renew_now` at the window's start +/- 1 s."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from scanner.model.types import Severity
from scanner.testing.pki import DAY, ec_key, name
from scanner.x509 import ari
from scanner.x509.ari import Invalid, Window

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)

# RFC 9773 4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:
# C8:D4 and serial 0x87654321 (DER INTEGER 00 87 65 43 21, its top bit set) give this.
RFC_AKI = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_SERIAL = 0x87654321
RFC_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def cert_with(aki: x509.AuthorityKeyIdentifier | None, serial: int) -> x509.Certificate:
    key = ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("ari.lab.test"))
        .issuer_name(name("ARI Test CA"))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(T0 - DAY)
        .not_valid_after(T0 + 90 * DAY)
    )
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    return builder.sign(key, hashes.SHA256())


def test_the_rfc_example_identifier() -> None:
    assert ari.identifier(RFC_AKI, RFC_SERIAL) == RFC_ID


def test_the_rfc_example_from_a_certificate() -> None:
    cert = cert_with(x509.AuthorityKeyIdentifier(RFC_AKI, None, None), RFC_SERIAL)
    assert ari.cert_identifier(cert) == RFC_ID


@pytest.mark.parametrize(
    ("serial", "octets"),
    [(1, "01"), (0x7F, "7f"), (0x80, "0080"), (0xFF, "00ff"), (0x100, "0100"), (0, "00")],
)
def test_serial_octets_are_the_der_integer(serial: int, octets: str) -> None:
    assert ari.serial_der_bytes(serial).hex() == octets


def test_negative_serials_are_twos_complement() -> None:
    assert [ari.serial_der_bytes(n).hex() for n in (-1, -128, -129)] == ["ff", "80", "ff7f"]


def test_a_certificate_without_a_key_identifier_has_no_identifier() -> None:
    assert isinstance(ari.cert_identifier(cert_with(None, 5)), Invalid)
    no_key_id = x509.AuthorityKeyIdentifier(None, [x509.DNSName("ca.test")], 7)
    result = ari.cert_identifier(cert_with(no_key_id, 5))
    assert result == Invalid("the authority key identifier has no keyIdentifier")


def test_renewal_info_url_appends_the_identifier() -> None:
    assert ari.renewal_info_url("https://ca.test/ari/", RFC_ID) == f"https://ca.test/ari/{RFC_ID}"
    assert ari.renewal_info_url("https://ca.test/ari", RFC_ID) == f"https://ca.test/ari/{RFC_ID}"


# --- the directory ---------------------------------------------------------------------------


def test_directory_gives_renewal_info() -> None:
    body = json.dumps(
        {"newNonce": "https://ca.test/nonce", "renewalInfo": "https://ca.test/renewal-info"}
    ).encode()
    assert ari.parse_directory(body) == "https://ca.test/renewal-info"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"newNonce": "https://ca.test/n"}', "no renewalInfo URL"),
        (b'{"renewalInfo": 5}', "renewalInfo is not a string"),
        (b'{"renewalInfo": "file:///etc/passwd"}', "not an http(s) URL"),
        (b'{"renewalInfo": "https://ca.test/a b"}', "not an http(s) URL"),
        (b'{"x": "' + b"a" * ari.MAX_BODY + b'"}', "larger than 65536 bytes"),
        (b"[" * 20_000 + b"]" * 20_000, "is not JSON"),  # nesting too deep for Python
    ],
)
def test_bad_directories_are_values(body: bytes, reason: str) -> None:
    result = ari.parse_directory(body)
    assert isinstance(result, Invalid) and reason in result.reason


# --- the renewalInfo answer ------------------------------------------------------------------


def answer(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_renewal_info_window() -> None:
    body = answer(
        suggestedWindow={"start": "2026-06-10T04:00:00Z", "end": "2026-06-12T04:00:00.5+02:00"},
        explanationURL="https://ca.test/why",
    )
    assert ari.parse_renewal_info(body) == Window(
        start=dt.datetime(2026, 6, 10, 4, tzinfo=dt.UTC),
        end=dt.datetime(2026, 6, 12, 2, 0, 0, 500000, tzinfo=dt.UTC),
        explanation_url="https://ca.test/why",
    )


def test_nanoseconds_are_cut_to_microseconds() -> None:
    body = answer(
        suggestedWindow={"start": "2026-06-10T04:00:00.123456789Z", "end": "2026-06-11T00:00:00Z"}
    )
    result = ari.parse_renewal_info(body)
    assert isinstance(result, Window) and result.start.microsecond == 123456
    assert result.explanation_url is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"garbage", "not JSON"),
        (answer(), "no suggestedWindow object"),
        (answer(suggestedWindow="soon"), "no suggestedWindow object"),
        (answer(suggestedWindow={"end": "2026-06-11T00:00:00Z"}), "suggestedWindow.start is not"),
        (answer(suggestedWindow={"start": "2026-06-11T00:00:00Z"}), "suggestedWindow.end is not"),
        (
            answer(suggestedWindow={"start": "2026-06-11", "end": "2026-06-12T00:00:00Z"}),
            "start is not an RFC 3339",
        ),
        (
            answer(suggestedWindow={"start": "2026-06-11T00:00:00", "end": "2026-06-12T00:00:00Z"}),
            "start is not an RFC 3339",
        ),
        (
            answer(suggestedWindow={"start": 1781136000, "end": "2026-06-12T00:00:00Z"}),
            "start is not an RFC 3339",
        ),
        (
            answer(
                suggestedWindow={"start": "2026-02-30T00:00:00Z", "end": "2026-06-12T00:00:00Z"}
            ),
            "not a valid date",
        ),
        (
            answer(
                suggestedWindow={"start": "2026-06-12T00:00:00Z", "end": "2026-06-11T00:00:00Z"}
            ),
            "ends (2026-06-11T00:00:00Z) before it starts",
        ),
        (
            answer(
                suggestedWindow={"start": "2026-06-12T00:00:00Z", "end": "2026-06-12T00:00:00Z"}
            ),
            "before it starts",
        ),
        (
            answer(
                suggestedWindow={"start": "2026-06-11T00:00:00Z", "end": "2026-06-12T00:00:00Z"},
                explanationURL=["x"],
            ),
            "explanationURL is not a string",
        ),
        (
            answer(
                suggestedWindow={"start": "2026-06-11T00:00:00Z", "end": "2026-06-12T00:00:00Z"},
                explanationURL="javascript:alert(1)",
            ),
            "not an http(s) URL",
        ),
        (b" " * (ari.MAX_BODY + 1), "larger than"),
    ],
)
def test_bad_renewal_info_answers_are_values(body: bytes, reason: str) -> None:
    result = ari.parse_renewal_info(body)
    assert isinstance(result, Invalid), result
    assert reason in result.reason


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("21600", dt.timedelta(hours=6)),
        (" 0 ", dt.timedelta(0)),
        ("Mon, 01 Jun 2026 00:10:00 GMT", dt.timedelta(minutes=10)),  # IMF-fixdate
        ("Monday, 01-Jun-26 00:10:00 GMT", dt.timedelta(minutes=10)),  # obsolete RFC 850
        ("Wed, 21 Oct 2015 07:28:00 GMT", dt.timedelta(0)),  # in the past: now
        ("99999999", ari.MAX_RETRY_AFTER),  # clamped
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after(value: str | None, expected: dt.timedelta | None) -> None:
    assert ari.parse_retry_after(value, T0) == expected


# --- ari_renew_now ---------------------------------------------------------------------------

WINDOW = Window(start=T0, end=T0 + 2 * DAY, explanation_url="https://ca.test/incident")


def test_renew_now_from_the_window_start() -> None:
    assert ari.renew_now(WINDOW, T0 - S) is None
    f = ari.renew_now(WINDOW, T0)
    assert f is not None and (f.code, f.severity) == ("ari_renew_now", Severity.HIGH)
    assert f.message == (
        "the CA's suggested renewal window 2026-06-01T00:00:00Z to 2026-06-03T00:00:00Z is open "
        "at 2026-06-01T00:00:00Z; the CA explains: https://ca.test/incident"
    )
    assert f.url == "https://ca.test/incident"
    late = ari.renew_now(WINDOW, T0 + 2 * DAY + S)
    assert late is not None and "has ended" in late.message


# --- --acme-directory ISSUER=URL ------------------------------------------------------------


def test_directory_rules() -> None:
    le = ari.parse_directory_rule("R11=https://acme-v02.api.letsencrypt.org/directory")
    by_key = ari.parse_directory_rule(
        " 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 = https://ca.test/dir"
    )
    assert by_key == ari.DirectoryRule(
        "69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4", "https://ca.test/dir"
    )
    cert = cert_with(x509.AuthorityKeyIdentifier(RFC_AKI, None, None), RFC_SERIAL)
    # The issuer of cert_with is "ARI Test CA": no CN rule matches, the key rule does.
    assert ari.directory_for(cert, [le, by_key]) == "https://ca.test/dir"
    by_cn = ari.parse_directory_rule("ari test ca=https://other.test/dir")
    assert ari.directory_for(cert, [by_cn, by_key]) == "https://other.test/dir"
    assert ari.directory_for(cert, [le]) is None
    assert ari.directory_for(cert_with(None, 5), [by_key]) is None


@pytest.mark.parametrize(
    "text", ["R11", "=https://ca.test/dir", "R11=", "R11=ftp://ca.test/dir", "R11=not a url"]
)
def test_bad_directory_rules(text: str) -> None:
    with pytest.raises(ValueError):
        ari.parse_directory_rule(text)
