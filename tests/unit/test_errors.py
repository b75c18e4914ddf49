"""Every rule of `scanner.errors.classify`, with exceptions raised by the real libraries
wherever they can be provoked without the network (TLS errors come from in-memory
handshakes), and an exception no rule covers giving None."""

from __future__ import annotations

import codecs
import errno
import os
import socket
import ssl

import anyio
import dns.exception
import dns.name
import dns.resolver
import pytest

from scanner.model.types import ErrorCode, Stage
from scanner.net.capture import client_context
from scanner.net.classify import classify

TIMEOUT = 2.5
ALL_STAGES = list(Stage)


def raised(fn: object) -> BaseException:
    """The exception that calling `fn` raises."""
    try:
        fn()  # type: ignore[operator]
    except BaseException as e:  # noqa: BLE001 - that is the point
        return e
    raise AssertionError("expected an exception")


def os_error(code: int) -> OSError:
    """OSError(errno, strerror) as the socket layer raises it (Python picks the subclass)."""
    return OSError(code, os.strerror(code))


def tls_client_error(server_bytes: bytes, *, eof: bool = False) -> ssl.SSLError:
    """The scanner's own client context, fed what a peer sent: a real OpenSSL error."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context().wrap_bio(incoming, outgoing, server_hostname="host.example")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    incoming.write(server_bytes)
    if eof:
        incoming.write_eof()
    e = raised(client.do_handshake)
    assert isinstance(e, ssl.SSLError)
    return e


def alert(description: int) -> bytes:
    """A fatal TLS alert record."""
    return bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description])


def no_protocols() -> ssl.SSLError:
    ctx = client_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="host.example")
    e = raised(client.do_handshake)
    assert isinstance(e, ssl.SSLError)
    return e


async def _deadline() -> None:
    with anyio.fail_after(0):
        await anyio.sleep(1)


def anyio_timeout() -> BaseException:
    return raised(lambda: anyio.run(_deadline))


# --- timeout: whatever the stage -----------------------------------------------------------


@pytest.mark.parametrize("stage", ALL_STAGES)
def test_deadline_is_timeout_at_any_stage(stage: Stage) -> None:
    exc = anyio_timeout()
    assert isinstance(exc, TimeoutError)
    assert classify(exc, stage, TIMEOUT) == (
        ErrorCode.TIMEOUT,
        f"no answer within 2.5 s (during {stage.value})",
    )


def test_kernel_connect_timeout_is_timeout() -> None:
    exc = os_error(errno.ETIMEDOUT)
    assert isinstance(exc, TimeoutError)
    assert classify(exc, Stage.CONNECT, TIMEOUT)[0] is ErrorCode.TIMEOUT  # type: ignore[index]


# --- dns: only while resolving -------------------------------------------------------------

DNS_ERRORS = {
    "gaierror": lambda: raised(
        lambda: socket.getaddrinfo("not-an-address", 443, flags=socket.AI_NUMERICHOST)
    ),
    "NXDOMAIN": lambda: dns.resolver.NXDOMAIN(qnames=[dns.name.from_text("missing.example")]),
    "NoAnswer": lambda: dns.resolver.NoAnswer(),
    "NoNameservers": lambda: dns.resolver.NoNameservers(),
    "dns timeout": lambda: dns.exception.Timeout(timeout=5.0),
    "label too long": lambda: raised(lambda: dns.name.from_text("a" * 64 + ".example")),
    "IDNA codec": lambda: raised(lambda: ("a" * 64 + ".example").encode("idna")),
}


@pytest.mark.parametrize("make", DNS_ERRORS.values(), ids=DNS_ERRORS.keys())
def test_resolver_errors_are_dns(make: object) -> None:
    exc = make()  # type: ignore[operator]
    code, detail = classify(exc, Stage.RESOLVE, TIMEOUT)  # type: ignore[misc]
    assert code is ErrorCode.DNS
    assert detail.startswith(("name resolution failed: ", "name cannot be resolved: "))
    assert len(detail) > len("name resolution failed: ")


def test_gaierror_detail_is_the_resolver_message() -> None:
    exc = DNS_ERRORS["gaierror"]()
    assert isinstance(exc, socket.gaierror)
    _, detail = classify(exc, Stage.RESOLVE, TIMEOUT)  # type: ignore[misc]
    assert detail == f"name resolution failed: {exc.strerror}"


@pytest.mark.parametrize("stage", [Stage.CONNECT, Stage.HANDSHAKE])
def test_resolver_errors_outside_resolve_are_not_dns(stage: Stage) -> None:
    assert classify(dns.resolver.NoNameservers(), stage, TIMEOUT) is None
    assert classify(raised(lambda: "\udcff".encode("idna")), stage, TIMEOUT) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: raised(lambda: {}["k"]),
        lambda: raised(lambda: [][0]),
        lambda: raised(lambda: codecs.lookup("no-such-codec")),
    ],
    ids=["KeyError", "IndexError", "LookupError"],
)
def test_our_lookup_bugs_while_resolving_are_not_dns(make: object) -> None:
    assert classify(make(), Stage.RESOLVE, TIMEOUT) is None  # type: ignore[operator]


# --- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ALL_STAGES)
def test_refused(stage: Stage) -> None:
    exc = os_error(errno.ECONNREFUSED)
    assert isinstance(exc, ConnectionRefusedError)
    assert classify(exc, stage, TIMEOUT) == (
        ErrorCode.REFUSED,
        "connection refused (nothing listens on that port)",
    )


# --- unreachable ---------------------------------------------------------------------------

UNREACHABLE = [
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.EADDRNOTAVAIL,
    errno.EAFNOSUPPORT,
    errno.EACCES,
    errno.EPERM,
]


@pytest.mark.parametrize("code", UNREACHABLE, ids=[errno.errorcode[c] for c in UNREACHABLE])
@pytest.mark.parametrize("stage", [Stage.CONNECT, Stage.HANDSHAKE])
def test_no_route_errnos_are_unreachable(code: int, stage: Stage) -> None:
    assert classify(os_error(code), stage, TIMEOUT) == (
        ErrorCode.UNREACHABLE,
        f"address unreachable: {os.strerror(code)}",
    )


def test_other_connect_failure_is_unreachable() -> None:
    assert classify(os_error(errno.EIO), Stage.CONNECT, TIMEOUT) == (
        ErrorCode.UNREACHABLE,
        f"connect failed: {os.strerror(errno.EIO)}",
    )


# --- tls: SSL errors at any stage, connection trouble during the handshake -----------------

HINTED = {
    "WRONG_VERSION_NUMBER": (b"HTTP/1.1 400 Bad Request\r\n\r\n", "does not speak TLS"),
    "PACKET_LENGTH_TOO_LONG": (b"\x16\x03\x01\xff\xff" + b"x" * 16, "record length"),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (alert(40), "handshake_failure alert"),
    "TLSV1_ALERT_INTERNAL_ERROR": (alert(80), "internal_error alert"),
    "TLSV1_UNRECOGNIZED_NAME": (alert(112), "unrecognized_name alert"),
    "TLSV1_ALERT_PROTOCOL_VERSION": (alert(70), "no TLS version in common"),
}


@pytest.mark.parametrize(("sent", "words"), HINTED.values(), ids=HINTED.keys())
def test_tls_errors_get_a_readable_hint(sent: bytes, words: str) -> None:
    exc = tls_client_error(sent)
    code, detail = classify(exc, Stage.HANDSHAKE, TIMEOUT)  # type: ignore[misc]
    assert code is ErrorCode.TLS
    assert words in detail and detail.endswith(f"[{exc.reason}]")


def test_no_protocols_available_hint() -> None:
    exc = no_protocols()
    assert classify(exc, Stage.HANDSHAKE, TIMEOUT) == (
        ErrorCode.TLS,
        "no TLS version in common with the server [NO_PROTOCOLS_AVAILABLE]",
    )


@pytest.mark.parametrize(
    "sent", [alert(49), b"\x16\x03\x03\x00\x05hello"], ids=["access_denied", "garbage"]
)
def test_unhinted_tls_error_quotes_openssl(sent: bytes) -> None:
    exc = tls_client_error(sent)
    code, detail = classify(exc, Stage.HANDSHAKE, TIMEOUT)  # type: ignore[misc]
    assert code is ErrorCode.TLS
    assert detail.startswith("handshake failed: ") and exc.reason.lower().replace("_", " ") in (
        detail.lower().replace("_", " ")
    )


def test_eof_during_handshake() -> None:
    exc = tls_client_error(b"", eof=True)
    assert isinstance(exc, ssl.SSLEOFError)
    assert classify(exc, Stage.HANDSHAKE, TIMEOUT) == (
        ErrorCode.TLS,
        "the server closed the connection during the handshake",
    )


def test_zero_return_during_handshake() -> None:
    exc = ssl.SSLZeroReturnError(ssl.SSL_ERROR_ZERO_RETURN, "TLS/SSL connection has been closed")
    assert classify(exc, Stage.HANDSHAKE, TIMEOUT) == (
        ErrorCode.TLS,
        "the server closed the connection during the handshake",
    )


HANDSHAKE_ONLY = {
    "reset": (lambda: os_error(errno.ECONNRESET), "reset the connection"),
    "EOFError": (lambda: EOFError(), "closed the connection"),
    "anyio EndOfStream": (lambda: anyio.EndOfStream(), "closed the connection"),
    "anyio BrokenResourceError": (lambda: anyio.BrokenResourceError(), "closed the connection"),
    "broken pipe": (lambda: os_error(errno.EPIPE), "connection failed during the handshake"),
    "aborted": (lambda: os_error(errno.ECONNABORTED), "connection failed during the handshake"),
    "other OSError": (lambda: os_error(errno.EIO), "handshake failed"),
}


@pytest.mark.parametrize(("make", "words"), HANDSHAKE_ONLY.values(), ids=HANDSHAKE_ONLY.keys())
def test_connection_trouble_during_handshake_is_tls(make: object, words: str) -> None:
    code, detail = classify(make(), Stage.HANDSHAKE, TIMEOUT)  # type: ignore[misc, operator]
    assert code is ErrorCode.TLS and words in detail


def test_anyio_stream_errors_before_handshake_are_not_covered() -> None:
    assert classify(anyio.EndOfStream(), Stage.CONNECT, TIMEOUT) is None
    assert classify(EOFError(), Stage.RESOLVE, TIMEOUT) is None


# --- anything else is our bug: None (the pipeline writes `internal` and counts it) --------


@pytest.mark.parametrize("stage", ALL_STAGES)
@pytest.mark.parametrize(
    "make",
    [
        lambda: raised(lambda: int("x")),
        lambda: raised(lambda: None.host),  # type: ignore[attr-defined]
        lambda: AssertionError("unreachable"),
        lambda: RuntimeError("boom"),
    ],
    ids=["ValueError", "AttributeError", "AssertionError", "RuntimeError"],
)
def test_unknown_exceptions_are_not_classified(stage: Stage, make: object) -> None:
    assert classify(make(), stage, TIMEOUT) is None  # type: ignore[operator]


def test_os_error_while_resolving_without_a_rule_is_not_classified() -> None:
    assert classify(os_error(errno.EIO), Stage.RESOLVE, TIMEOUT) is None
