"""ACME Renewal Information (RFC 9773), the pure part: a certificate's ARI identifier, the
ACME directory's `renewalInfo` URL, the renewalInfo answer (the suggested window), Retry-After,
and the `ari_renew_now` finding. Bytes in, values out; a bad answer is a value, never raised."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from scanner.model.catalogue import Code
from scanner.model.timefmt import utc_z as ts
from scanner.model.types import Finding
from scanner.x509 import certs
from scanner.x509 import findings as F

# An ACME directory or renewalInfo object is a few hundred bytes; anything past this is not one.
MAX_BODY = 64 * 1024
MAX_URL = 2048
# RFC 9773 4.3: clients clamp Retry-After to a reasonable range; a day at most here.
MAX_RETRY_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why an answer is not usable (for the host's row; the CA's fault or a bad URL)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """RFC 9773 4.2: the suggested renewal window, and the CA's explanation if any."""

    start: dt.datetime
    end: dt.datetime
    explanation_url: str | None = None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def serial_der_bytes(serial: int) -> bytes:
    """The content octets of the serial's DER INTEGER (X.690 8.3: minimal two's complement,
    so a leading zero octet when the top bit of a positive value is set)."""
    magnitude = serial if serial >= 0 else ~serial
    return serial.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def identifier(aki_key_id: bytes, serial: int) -> str:
    """RFC 9773 4.1: base64url(keyIdentifier of the AKI) "." base64url(serial's DER content
    octets), both without padding."""
    return f"{_b64url(aki_key_id)}.{_b64url(serial_der_bytes(serial))}"


def _key_identifier(cert: x509.Certificate) -> bytes | Invalid:
    """The keyIdentifier of the certificate's Authority Key Identifier."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return Invalid("the certificate has no authority key identifier")
    except certs.MALFORMED as e:
        return Invalid(f"the authority key identifier cannot be read: {e}")
    if not aki.key_identifier:
        return Invalid("the authority key identifier has no keyIdentifier")
    return aki.key_identifier


def cert_identifier(cert: x509.Certificate) -> str | Invalid:
    """The certificate's ARI identifier; Invalid when it has no AKI keyIdentifier (RFC 9773
    4.1 builds the identifier from it, so such a certificate has none)."""
    key_id = _key_identifier(cert)
    if isinstance(key_id, Invalid):
        return key_id
    with certs.quiet():
        serial = cert.serial_number
    return identifier(key_id, serial)


def renewal_info_url(base: str, cert_id: str) -> str:
    """RFC 9773 4.1: the client appends "/" and the identifier to the renewalInfo URL."""
    return f"{base.rstrip('/')}/{cert_id}"


@dataclass(frozen=True, slots=True)
class DirectoryRule:
    """One `--acme-directory ISSUER=URL`: ISSUER is the issuer's CN or its key identifier
    (the leaf's AKI) in hex."""

    issuer: str
    url: str


def parse_directory_rule(text: str) -> DirectoryRule:
    """`ISSUER=URL`; raises ValueError with the reason (for the option's error)."""
    issuer, sep, url = text.partition("=")
    if not sep or not issuer.strip():
        raise ValueError(f"expected ISSUER=URL, got {text[:100]!r}")
    checked = _url(url.strip(), "the ACME directory URL")
    if isinstance(checked, Invalid):
        raise ValueError(checked.reason)
    return DirectoryRule(issuer.strip(), checked)


def _hex_id(text: str) -> str:
    return re.sub(r"[\s:]", "", text).lower()


def directory_for(cert: x509.Certificate, rules: Sequence[DirectoryRule]) -> str | None:
    """The directory URL of the first rule naming the leaf's issuer by CN (case-insensitive)
    or by the leaf's AKI keyIdentifier in hex (colons and case ignored)."""
    cns = {
        str(a.value).casefold()
        for a in cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    }
    found = _key_identifier(cert)
    key_id = None if isinstance(found, Invalid) else found.hex()
    for rule in rules:
        if rule.issuer.casefold() in cns or (key_id and _hex_id(rule.issuer) == key_id):
            return rule.url
    return None


def _json_object(body: bytes, what: str) -> dict[str, object] | Invalid:
    if len(body) > MAX_BODY:
        return Invalid(f"the {what} is larger than {MAX_BODY} bytes")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        return Invalid(f"the {what} is not JSON: {type(e).__name__}")
    if not isinstance(value, dict):
        return Invalid(f"the {what} is not a JSON object")
    return value


def _url(value: object, field: str) -> str | Invalid:
    if not isinstance(value, str):
        return Invalid(f"{field} is not a string")
    if len(value) > MAX_URL or not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", value):
        return Invalid(f"{field} is not an http(s) URL: {value[:100]!r}")
    return value


def parse_directory(body: bytes) -> str | Invalid:
    """RFC 8555 7.1.1 directory object: the `renewalInfo` URL (RFC 9773 3)."""
    obj = _json_object(body, "ACME directory")
    if isinstance(obj, Invalid):
        return obj
    if "renewalInfo" not in obj:
        return Invalid("the ACME directory has no renewalInfo URL (the CA offers no ARI)")
    return _url(obj["renewalInfo"], "renewalInfo")


# RFC 3339 5.6 date-time; fractions beyond microseconds are cut (Python keeps six digits).
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_timestamp(value: object, field: str) -> dt.datetime | Invalid:
    if not isinstance(value, str) or not (m := _RFC3339.fullmatch(value)):
        return Invalid(f"{field} is not an RFC 3339 timestamp: {str(value)[:60]!r}")
    date, time, fraction, zone = m.groups()
    text = f"{date}T{time}.{(fraction or '0')[:6]:0<6}{'+00:00' if zone in 'Zz' else zone}"
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError:
        return Invalid(f"{field} is not a valid date: {value[:60]!r}")


def parse_renewal_info(body: bytes) -> Window | Invalid:
    """RFC 9773 4.2: `suggestedWindow` with `start` and `end` (end after start), and an
    optional `explanationURL`."""
    obj = _json_object(body, "renewalInfo answer")
    if isinstance(obj, Invalid):
        return obj
    window = obj.get("suggestedWindow")
    if not isinstance(window, dict):
        return Invalid("the renewalInfo answer has no suggestedWindow object")
    start = parse_timestamp(window.get("start"), "suggestedWindow.start")
    if isinstance(start, Invalid):
        return start
    end = parse_timestamp(window.get("end"), "suggestedWindow.end")
    if isinstance(end, Invalid):
        return end
    if end <= start:
        return Invalid(f"the suggested window ends ({ts(end)}) before it starts ({ts(start)})")
    explanation = obj.get("explanationURL")
    if explanation is not None:
        explanation = _url(explanation, "explanationURL")
        if isinstance(explanation, Invalid):
            return explanation
    return Window(start=start, end=end, explanation_url=explanation)


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """RFC 9110 10.2.3: delay-seconds or an HTTP-date; None when absent or unreadable. Clamped
    to 0..MAX_RETRY_AFTER (a date in the past is now)."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{1,12}", value):
        delay = dt.timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 9110 dates are GMT
            when = when.replace(tzinfo=dt.UTC)
        delay = when - now
    return min(max(delay, dt.timedelta(0)), MAX_RETRY_AFTER)


def renew_now(window: Window, as_of: dt.datetime) -> Finding | None:
    """`ari_renew_now` once the suggested window has started (RFC 9773 4.2: a client renews
    at a time within the window; from its start the CA asks for renewal)."""
    if as_of < window.start:
        return None
    where = f"; the CA explains: {window.explanation_url}" if window.explanation_url else ""
    state = "has ended" if as_of > window.end else "is open"
    return F.make(
        Code.ARI_RENEW_NOW,
        f"the CA's suggested renewal window {ts(window.start)} to {ts(window.end)} {state} at "
        f"{ts(as_of)}{where}",
        url=window.explanation_url,
    )
