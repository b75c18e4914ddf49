"""The exception taxonomy of a host's exchange, mapped to error codes in one pure table.

TimeoutError (the per-host deadline)                  -> timeout
stage resolve: gaierror, dnspython errors, bad IDNA   -> dns
ConnectionRefusedError                                -> refused
OSError with a no-route errno                         -> unreachable
stage starttls: the server does not speak the protocol, resets, EOF -> tls (its detail says what
                was expected; a refused upgrade is `starttls`, decided in capture)
stage handshake: SSLError, resets, EOF, anyio errors  -> tls
anything else                                         -> None: our bug, row `internal`

EMFILE, ENFILE, ENOBUFS, ENOMEM (anywhere in the exception's causes) -> None, and `exhausted`
says so: this machine ran out, not the host; the pipeline stops the scan (never a host's row).
"""

from __future__ import annotations

import errno
import socket
import ssl

import anyio
import dns.exception

from scanner.model.types import ErrorCode, Stage
from scanner.net.starttls import NotSpoken

_UNREACHABLE = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
        errno.EACCES,  # e.g. a broadcast address, or a firewall rule on this machine
        errno.EPERM,
    }
)

# This machine's resources ran out: the environment's failure, never a host's.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def exhausted(exc: BaseException) -> OSError | None:
    """The OSError for running out of descriptors, buffers or memory inside `exc` (itself,
    its causes, or an exception group's members), or None."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in RESOURCE_ERRNOS:
            return e
        if isinstance(e, MemoryError):
            return OSError(errno.ENOMEM, "out of memory")
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        todo.extend((e.__cause__, e.__context__))
    return None


_TLS_HINTS = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS (it answered with something else)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common with the server",
    "NO_PROTOCOLS_AVAILABLE": "no TLS version in common with the server",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake (handshake_failure alert)",
    "TLSV1_ALERT_INTERNAL_ERROR": "the server sent an internal_error alert",
    "TLSV1_UNRECOGNIZED_NAME": "the server does not know this name (unrecognized_name alert)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common with the server",
    "PACKET_LENGTH_TOO_LONG": "the server does not speak TLS (record length out of range)",
    "RECORD_LAYER_FAILURE": "the server sent a malformed TLS record",
    "EXCESSIVE_MESSAGE_SIZE": "the server's certificate message exceeds the client's size limit "
    "(OpenSSL allows 100 KiB)",
}


def _ssl_detail(e: ssl.SSLError) -> str:
    reason = getattr(e, "reason", None) or ""
    hint = _TLS_HINTS.get(reason)
    if isinstance(e, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "the server closed the connection during the handshake"
    text = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], str) else str(e)
    return f"{hint} [{reason}]" if hint else f"handshake failed: {text}"


def classify(
    exc: BaseException, stage: Stage, timeout: float, *, expecting: str | None = None
) -> tuple[ErrorCode, str] | None:
    """The error code and a readable detail for an exception, or None when no rule covers it.
    `expecting`: what the STARTTLS exchange was waiting for."""
    if exhausted(exc) is not None:
        return None  # this machine's failure, not the host's: see `exhausted`
    if isinstance(exc, TimeoutError) and not isinstance(exc, ssl.SSLError):
        waiting = f": expected {expecting}" if expecting else ""
        return ErrorCode.TIMEOUT, f"no answer within {timeout:g} s (during {stage.value}{waiting})"
    if isinstance(exc, NotSpoken):
        return ErrorCode.TLS, f"STARTTLS failed: {exc}"
    if stage is Stage.RESOLVE:
        if isinstance(exc, socket.gaierror):
            return ErrorCode.DNS, f"name resolution failed: {exc.strerror or exc}"
        if isinstance(exc, dns.exception.DNSException):
            return ErrorCode.DNS, f"name resolution failed: {exc}"
        # Not LookupError: a KeyError or IndexError here is a bug of ours, not a DNS answer.
        if isinstance(exc, UnicodeError):
            return ErrorCode.DNS, f"name cannot be resolved: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorCode.REFUSED, "connection refused (nothing listens on that port)"
    if isinstance(exc, ssl.SSLError):
        return ErrorCode.TLS, _ssl_detail(exc)
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return ErrorCode.UNREACHABLE, f"address unreachable: {exc.strerror or exc}"
    if stage is Stage.STARTTLS and isinstance(exc, OSError):
        return ErrorCode.TLS, (
            f"the connection failed during STARTTLS ({exc.strerror or exc})"
            + (f"; expected {expecting}" if expecting else "")
        )
    if stage is Stage.HANDSHAKE:
        if isinstance(exc, ConnectionResetError):
            return ErrorCode.TLS, "the server reset the connection during the handshake"
        if isinstance(exc, EOFError | anyio.EndOfStream | anyio.BrokenResourceError):
            return ErrorCode.TLS, "the server closed the connection during the handshake"
        if isinstance(exc, ConnectionError):
            return ErrorCode.TLS, f"the connection failed during the handshake: {exc}"
        if isinstance(exc, OSError):
            return ErrorCode.TLS, f"handshake failed: {exc.strerror or exc}"
    if stage is Stage.CONNECT and isinstance(exc, OSError):
        return ErrorCode.UNREACHABLE, f"connect failed: {exc.strerror or exc}"
    return None
