"""What one probe saw, as a typed outcome, decided from the codec's events (pure).

Accepted / Retried (a HelloRetryRequest) / SSL2Accepted: the server would go on with this
hello. Refused: it said no the way servers say no (a fatal alert, a ServerHello for a version
not offered, an SSL 2.0 error, closing or resetting the connection on the hello before sending
a byte). Failed: anything else (timeout, a reset or close inside a record, garbage, a suite or
group never offered); the probe's question stays unanswered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from scanner.net.hello.codec import (
    Alert,
    Certificate,
    CertificateStatus,
    ClientHello,
    Closed,
    Encrypted,
    Event,
    HelloRetryRequest,
    ProtocolError,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    SSL2ClientHello,
    SSL2Error,
    SSL2ServerHello,
)
from scanner.net.hello.server import versions_listed

EXT_SCT = 18


class RefusalKind(StrEnum):
    ALERT = "alert"
    VERSION = "version"  # a ServerHello for a version outside the offer
    CLOSED = "closed"  # closed or reset on the hello, before any byte
    SSL2_ERROR = "ssl2_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    version: int
    suite: int
    group: int | None  # TLS 1.3 key_share, or TLS 1.2's ServerKeyExchange curve when read
    chain: tuple[bytes, ...] | None = None  # TLS 1.2 and earlier, when the flight was read
    ocsp_response: bytes | None = None
    sct_extension: bytes | None = None  # the ServerHello's signed_certificate_timestamp list
    # Why the rest of a flight that was to be read was not (a stall, garbage or an over-long
    # message after the ServerHello): the version and suite stand, the certificate is unknown.
    incomplete: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Retried:
    """A HelloRetryRequest: TLS 1.3 with this suite, if the client sends a share of `group`."""

    suite: int
    group: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SSL2Accepted:
    cipher_kinds: tuple[int, ...]
    certificate: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    kind: RefusalKind
    alert: int | None = None  # description of a fatal alert
    version: int | None = None  # the version of a ServerHello outside the offer


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    detail: str


Outcome = Accepted | Retried | SSL2Accepted | Refused | Failed


def lowest_offered(hello: ClientHello | SSL2ClientHello) -> int:
    """The lowest version the hello offers (its supported_versions, else its version)."""
    if isinstance(hello, SSL2ClientHello):
        return hello.version
    raw = hello.extension(43)
    listed = versions_listed(raw) if raw else None
    return min(listed) if listed else hello.version


def decide(
    hello: ClientHello | SSL2ClientHello, events: Sequence[Event], *, read_flight: bool
) -> Outcome | None:
    """The outcome once the events decide it, else None (read on). `read_flight`: an accepted
    TLS 1.2 answer is read through ServerHelloDone (certificate, stapled OCSP, the curve)."""
    server_hello: ServerHello | None = None
    chain: tuple[bytes, ...] | None = None
    ocsp: bytes | None = None
    group: int | None = None
    for e in events:
        match e:
            case ProtocolError(detail=detail):
                if server_hello is not None:
                    return _accepted(server_hello, group, chain, ocsp, incomplete=detail)
                return Failed(detail=detail)
            case Alert(level=level, description=description):
                # A warning before the ServerHello (OpenSSL 1.0's unrecognized_name) is no
                # answer; a warning after it is read past too.
                if level == 2:
                    if server_hello is not None and read_flight:
                        why = f"fatal alert {description} after the ServerHello"
                        return _accepted(server_hello, group, chain, ocsp, incomplete=why)
                    return Refused(kind=RefusalKind.ALERT, alert=description)
            case HelloRetryRequest(cipher_suite=suite, selected_group=g):
                return Retried(suite=suite, group=g)
            case ServerHello() as sh:
                if sh.version < lowest_offered(hello):
                    return Refused(kind=RefusalKind.VERSION, version=sh.version)
                server_hello = sh
                group = sh.selected_group
                if not read_flight or sh.version >= 0x0304:
                    return _accepted(sh, group, None, None)
            case Certificate(chain=c):
                chain = c
            case CertificateStatus(ocsp_response=r):
                ocsp = r
            case ServerKeyExchange(named_group=g):
                group = g
            case ServerHelloDone() | Encrypted():
                if server_hello is not None:
                    return _accepted(server_hello, group, chain, ocsp)
            case SSL2ServerHello(cipher_kinds=kinds, certificate=cert):
                if not kinds:
                    return Refused(kind=RefusalKind.SSL2_ERROR)
                return SSL2Accepted(cipher_kinds=kinds, certificate=cert)
            case SSL2Error():
                return Refused(kind=RefusalKind.SSL2_ERROR)
            case Closed(mid_record=mid):
                if server_hello is not None:  # the answer is in; the rest was not needed
                    return _accepted(server_hello, group, chain, ocsp)
                if mid:
                    return Failed(detail="the server closed the connection inside a record")
                return Refused(kind=RefusalKind.CLOSED)
    return None


def after_failure(
    hello: ClientHello | SSL2ClientHello, events: Sequence[Event], detail: str
) -> Outcome:
    """The outcome when reading stopped early (a timeout, a reset) with `detail`: what the
    events already settle (a ServerHello read), else Failed."""
    decided = decide(hello, [*events, ProtocolError(detail=detail)], read_flight=True)
    return decided if decided is not None else Failed(detail=detail)


def _accepted(
    sh: ServerHello,
    group: int | None,
    chain: tuple[bytes, ...] | None,
    ocsp: bytes | None,
    *,
    incomplete: str | None = None,
) -> Accepted:
    return Accepted(
        version=sh.version,
        suite=sh.cipher_suite,
        group=group,
        chain=chain,
        ocsp_response=ocsp,
        sct_extension=sh.extension(EXT_SCT),
        incomplete=incomplete,
    )
