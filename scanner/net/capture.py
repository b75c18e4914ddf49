"""Resolve, connect and handshake with verification off; return the chain exactly as sent.

On anyio's asyncio backend the handshake goes through asyncio's own SSL transport (the
fastest transport anyio lets us reach); on any other backend through anyio's TLSStream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.tls import TLSAttribute, TLSStream

from scanner.model.types import CaptureFailure, ErrorCode, Handshake, Stage, Target
from scanner.net.classify import classify
from scanner.net.resolve import Resolver, on_asyncio


def client_context() -> ssl.SSLContext:
    """Verification off (diagnosis judges the chain) and security level 0, so that weak and
    legacy servers still hand over their chain; anonymous suites excluded (no certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:!aNULL:!eNULL:@SECLEVEL=0")
    # Still capture the chain of a TLS 1.0/1.1-only server (legacy, but its certificate counts).
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


def unverified_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates as the peer sent them, in order, as DER. The one place that knows
    CPython 3.11/3.12 hide this behind `_sslobj` (public API from 3.13)."""
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        return tuple(bytes(c) for c in (public() or ()))
    inner: Any = ssl_object._sslobj  # type: ignore[attr-defined]
    chain = inner.get_unverified_chain() or ()
    return tuple(c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain)  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Progress:
    stage: Stage = Stage.RESOLVE
    address: str | None = None


# asyncio gives every TLS connection a 256 KiB read buffer (SSLProtocol.max_size, a private
# class attribute). With hundreds of handshakes in flight that is most of a scan's memory; a
# certificate message larger than 64 KiB is simply read in more than one piece. Set when a scan
# starts (never at import: a notebook that only loads a scan keeps asyncio as it is).
SSL_READ_BUFFER = 64 * 1024


def limit_ssl_read_buffer() -> None:
    sslproto: Any = getattr(asyncio, "sslproto", None)
    if sslproto is not None and getattr(sslproto.SSLProtocol, "max_size", 0) > SSL_READ_BUFFER:
        sslproto.SSLProtocol.max_size = SSL_READ_BUFFER


class _Discard(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


@functools.lru_cache(maxsize=4096)  # numeric: no lookup, same answer; fleets share addresses
def _sockaddr(address: str, port: int) -> tuple[int, Any]:
    info = socket.getaddrinfo(address, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    return info[0][0], info[0][4]


async def _handshake_asyncio(
    address: str, port: int, sni: str | None, ctx: ssl.SSLContext, progress: _Progress
) -> Handshake:
    loop = asyncio.get_running_loop()
    family, sockaddr = _sockaddr(address, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    progress.stage = Stage.HANDSHAKE
    try:
        transport, _ = await loop.create_connection(
            _Discard, sock=sock, ssl=ctx, server_hostname=sni or "", ssl_handshake_timeout=3600
        )
    except ConnectionResetError as e:
        if e.errno is None:  # asyncio's SSL transport reports a clean close (EOF) this way
            raise EOFError("the server closed the connection") from None
        raise
    try:
        obj = transport.get_extra_info("ssl_object")
        return _read_session(obj, address)
    finally:
        transport.abort()  # no close_notify: a graceful close costs a round trip per host


async def _handshake_anyio(
    address: str, port: int, sni: str | None, ctx: ssl.SSLContext, progress: _Progress
) -> Handshake:
    try:
        stream = await anyio.connect_tcp(address, port)
    except OSError as e:
        # anyio reports "All connection attempts failed" and keeps the reason as the cause.
        if e.errno is None and isinstance(e.__cause__, OSError):
            raise e.__cause__ from None
        raise
    progress.stage = Stage.HANDSHAKE
    try:
        tls = await TLSStream.wrap(
            stream, server_side=False, hostname=sni, ssl_context=ctx, standard_compatible=False
        )
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    try:
        return _read_session(tls.extra(TLSAttribute.ssl_object), address)
    finally:
        await anyio.aclose_forcefully(tls)


def _read_session(obj: ssl.SSLObject, address: str) -> Handshake:
    cipher = obj.cipher()
    return Handshake(
        chain=unverified_chain(obj),
        tls_version=obj.version() or "",
        cipher=cipher[0] if cipher else "",
        address=address,
    )


class PerIpLimiter:
    """At most `limit` connections in flight to one address (fleets put thousands of names
    behind one load balancer). Entries exist only while in use."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, tuple[anyio.CapacityLimiter, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        limiter, users = self._slots.get(address, (None, 0))
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.limit)
        self._slots[address] = (limiter, users + 1)
        try:
            async with limiter:
                yield
        finally:
            limiter, users = self._slots[address]
            if users == 1:
                del self._slots[address]
            else:
                self._slots[address] = (limiter, users - 1)


async def capture(
    target: Target,
    *,
    ctx: ssl.SSLContext,
    resolver: Resolver,
    timeout: float,  # noqa: ASYNC109 - the host's budget, applied inside around waits
    per_ip: PerIpLimiter | None = None,
) -> Handshake | CaptureFailure:
    """One host, within one deadline covering DNS, connect and handshake (time spent waiting
    for a --per-ip slot does not count). Never raises for a host's failure; an exception no
    rule covers is re-raised (our bug: the pipeline records it as `internal`)."""
    progress = _Progress()
    handshake = _handshake_asyncio if on_asyncio() else _handshake_anyio
    budget = timeout
    try:
        if target.ip:
            addresses = [target.ip]
        elif target.is_ip:
            addresses = [target.host]
        else:  # only a lookup needs a deadline of its own (a scope costs ~10 us per host)
            started = anyio.current_time()
            with anyio.fail_after(budget):
                addresses = await resolver.resolve(target.host, target.port)
            budget -= anyio.current_time() - started
        if not addresses:
            return CaptureFailure(error=ErrorCode.DNS, detail="the name has no address")
        for i, address in enumerate(addresses):
            progress.stage, progress.address = Stage.CONNECT, address
            async with per_ip.slot(address) if per_ip else contextlib.nullcontext():
                started = anyio.current_time()
                try:
                    with anyio.fail_after(budget):
                        result = await handshake(address, target.port, target.sni, ctx, progress)
                except OSError:
                    # Try the next address only when this one could not be connected at all.
                    budget -= anyio.current_time() - started
                    if progress.stage is Stage.CONNECT and i + 1 < len(addresses):
                        continue
                    raise
            if not result.chain:
                return CaptureFailure(
                    error=ErrorCode.TLS, detail="the server sent no certificate", address=address
                )
            budget -= anyio.current_time() - started
            return dataclasses.replace(result, budget_left=max(budget, 0.0))
    except Exception as e:
        mapped = classify(e, progress.stage, timeout)
        if mapped is None:
            raise
        code, detail = mapped
        return CaptureFailure(error=code, detail=detail, address=progress.address)
    raise AssertionError("unreachable")  # pragma: no cover
