"""Resolve, connect, speak STARTTLS when asked, and handshake with verification off; return the
chain exactly as sent.

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
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from scanner.model.types import (
    DIRECT_TLS,
    CaptureFailure,
    ErrorCode,
    Handshake,
    Stage,
    StartTls,
    Target,
)
from scanner.net import starttls as st
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
    starttls: StartTls | None = None
    reader: st.Reader | None = None  # the STARTTLS exchange, while it runs

    @property
    def protocol(self) -> str | None:
        if self.stage in (Stage.RESOLVE, Stage.CONNECT):
            return None
        return self.starttls.value if self.starttls else DIRECT_TLS


class _SocketChannel:
    """The asyncio socket before TLS, for the STARTTLS exchange."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self.sock = loop, sock

    async def receive(self, max_bytes: int) -> bytes:
        return await self.loop.sock_recv(self.sock, max_bytes)

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)


class _StreamChannel:
    """anyio's TCP stream before TLS, for the STARTTLS exchange."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream

    async def receive(self, max_bytes: int) -> bytes:
        try:
            return await self.stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)


async def _starttls(channel: st.Channel, sni: str | None, address: str, p: _Progress) -> None:
    if p.starttls is None:
        return
    p.stage = Stage.STARTTLS
    p.reader = st.Reader(channel, p.starttls)
    await st.upgrade(p.reader, sni or address)
    p.reader = None


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
        await _starttls(_SocketChannel(loop, sock), sni, address, progress)
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
        return _read_session(obj, address, progress)
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
    try:
        await _starttls(_StreamChannel(stream), sni, address, progress)
    except BaseException:
        await anyio.aclose_forcefully(stream)
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
        return _read_session(tls.extra(TLSAttribute.ssl_object), address, progress)
    finally:
        await anyio.aclose_forcefully(tls)


def _read_session(obj: ssl.SSLObject, address: str, progress: _Progress) -> Handshake:
    cipher = obj.cipher()
    return Handshake(
        chain=unverified_chain(obj),
        tls_version=obj.version() or "",
        cipher=cipher[0] if cipher else "",
        address=address,
        protocol=progress.protocol or DIRECT_TLS,
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


async def resolve_all(
    target: Target,
    *,
    resolver: Resolver,
    timeout: float,  # noqa: ASYNC109 - the host's budget
) -> list[str] | CaptureFailure:
    """Every address of the target (`--addresses all`): the input's `ip` when set (it means
    "only this address"), the literal of an IP host, else every A and AAAA record."""
    if target.ip:
        return [target.ip]
    if target.is_ip:
        return [target.host]
    try:
        with anyio.fail_after(timeout):
            addresses = await resolver.resolve(target.host, target.port, every_family=True)
    except Exception as e:
        mapped = classify(e, Stage.RESOLVE, timeout)
        if mapped is None:
            raise
        return CaptureFailure(error=mapped[0], detail=mapped[1])
    if not addresses:
        return CaptureFailure(error=ErrorCode.DNS, detail="the name has no address")
    return addresses


async def capture(
    target: Target,
    *,
    ctx: ssl.SSLContext,
    resolver: Resolver,
    timeout: float,  # noqa: ASYNC109 - the host's budget, applied inside around waits
    per_ip: PerIpLimiter | None = None,
    starttls: StartTls | None = None,
    address: str | None = None,
) -> Handshake | CaptureFailure:
    """One host, within one deadline covering DNS, connect, the STARTTLS exchange and the
    handshake (time spent waiting for a --per-ip slot does not count). With `address`, that
    address only and no lookup. Never raises for a host's failure; an exception no rule covers
    is re-raised (our bug: the pipeline records it as `internal`)."""
    progress = _Progress(starttls=starttls)
    handshake = _handshake_asyncio if on_asyncio() else _handshake_anyio
    budget = timeout
    try:
        if address:
            addresses = [address]
        elif target.ip:
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
        for i, addr in enumerate(addresses):
            progress.stage, progress.address = Stage.CONNECT, addr
            async with per_ip.slot(addr) if per_ip else contextlib.nullcontext():
                started = anyio.current_time()
                try:
                    with anyio.fail_after(budget):
                        result = await handshake(addr, target.port, target.sni, ctx, progress)
                except OSError:
                    # Try the next address only when this one could not be connected at all.
                    budget -= anyio.current_time() - started
                    if progress.stage is Stage.CONNECT and i + 1 < len(addresses):
                        continue
                    raise
            if not result.chain:
                return CaptureFailure(
                    error=ErrorCode.TLS,
                    detail="the server sent no certificate",
                    address=addr,
                    protocol=result.protocol,
                )
            budget -= anyio.current_time() - started
            return dataclasses.replace(result, budget_left=max(budget, 0.0))
    except st.Refused as e:
        return CaptureFailure(
            error=ErrorCode.STARTTLS,
            detail=str(e),
            address=progress.address,
            protocol=progress.protocol,
        )
    except Exception as e:
        expecting = progress.reader.expecting if progress.reader else None
        mapped = classify(e, progress.stage, timeout, expecting=expecting)
        if mapped is None:
            raise
        code, detail = mapped
        return CaptureFailure(
            error=code, detail=detail, address=progress.address, protocol=progress.protocol
        )
    raise AssertionError("unreachable")  # pragma: no cover
