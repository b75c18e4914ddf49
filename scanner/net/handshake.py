"""One TCP connection and its TLS handshake, for the capture, the protocol probes and any other
prober: connect (on anyio's asyncio backend through asyncio's own sockets and SSL transport, the
fastest anyio lets us reach; elsewhere through anyio's streams), bytes before TLS, the
handshake, the chain as sent, and the unwrapping of errors the two paths report differently.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import functools
import socket
import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute, TLSStream

from scanner.net.resolve import on_asyncio

# A handshake has no timeout of its own: the caller's deadline (anyio.fail_after) bounds it.
_NO_HANDSHAKE_TIMEOUT = 3600

# asyncio gives every TLS connection a 256 KiB read buffer (SSLProtocol.max_size, a private
# class attribute). With hundreds of handshakes in flight that is most of a scan's memory; a
# certificate message larger than 64 KiB is simply read in more than one piece. Set on our
# connections only (a subclass), so other TLS code in the process keeps asyncio as it is.
SSL_READ_BUFFER = 64 * 1024


class _SmallBufferSSLProtocol(asyncio.sslproto.SSLProtocol):
    max_size = SSL_READ_BUFFER


class Discard(asyncio.Protocol):
    """The application protocol over TLS: the handshake is all we want."""

    def data_received(self, data: bytes) -> None:
        pass


def unverified_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates as the peer sent them, in order, as DER. The one place that knows
    CPython 3.11/3.12 hide this behind `_sslobj` (public API from 3.13)."""
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        return tuple(bytes(c) for c in (public() or ()))
    inner: Any = ssl_object._sslobj  # type: ignore[attr-defined]
    chain = inner.get_unverified_chain() or ()
    return tuple(c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain)  # type: ignore[attr-defined]


class Connection:
    """A connected TCP socket. Before `start_tls`: bytes in and out (a STARTTLS dialogue, a
    hand-built ClientHello). `async with` closes it at once, without close_notify (a graceful
    close costs a round trip per host)."""

    async def receive(self, max_bytes: int) -> bytes:
        """Some bytes, or b"" when the peer closed the connection (before TLS only)."""
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        """All of `data` (before TLS only)."""
        raise NotImplementedError

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None) -> ssl.SSLObject:
        """The TLS handshake as a client; the session, readable until the connection closes.
        A close by the server during the handshake is an exception `hung_up` recognises."""
        raise NotImplementedError

    def set_option(self, level: int, option: int, value: int | bytes) -> None:
        """setsockopt on the TCP socket (the ClientHello prober: TCP_NODELAY, SO_LINGER)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def connect(address: str, port: int) -> Connection:
    """A TCP connection to a numeric address (`async with await connect(...) as c`). Errors are
    the OSError that says why (refused, unreachable, ...) on either path."""
    if on_asyncio():
        return await _connect_asyncio(address, port)
    return await _connect_anyio(address, port)


@functools.lru_cache(maxsize=4096)  # numeric: no lookup, same answer; fleets share addresses
def sockaddr_of(address: str, port: int) -> tuple[int, Any]:
    """(family, sockaddr) of a numeric address."""
    info = socket.getaddrinfo(address, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    return info[0][0], info[0][4]


async def _connect_asyncio(address: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    family, sockaddr = sockaddr_of(address, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return _AsyncioConnection(loop, sock)


class _AsyncioConnection(Connection):
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop, self._sock = loop, sock
        self._transport: asyncio.Transport | None = None  # the socket's, once TLS starts
        self._tls: asyncio.Transport | None = None  # the SSL protocol's, over it

    async def receive(self, max_bytes: int) -> bytes:
        return await self._loop.sock_recv(self._sock, max_bytes)

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    def set_option(self, level: int, option: int, value: int | bytes) -> None:
        self._sock.setsockopt(level, option, value)

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None) -> ssl.SSLObject:
        # What loop.create_connection(ssl=ctx) does, with our SSL protocol class.
        waiter = self._loop.create_future()
        tls = _SmallBufferSSLProtocol(
            self._loop,
            Discard(),
            ctx,
            waiter,
            server_side=False,
            server_hostname=sni or None,
            ssl_handshake_timeout=_NO_HANDSHAKE_TIMEOUT,
        )
        self._tls = tls._app_transport
        self._transport, _ = await self._loop.create_connection(lambda: tls, sock=self._sock)
        try:
            await waiter
        except ConnectionResetError as e:
            if e.errno is None:  # asyncio's SSL transport reports a clean close (EOF) this way
                raise EOFError("the server closed the connection") from None
            raise
        ssl_object: ssl.SSLObject = tls._get_extra_info("ssl_object")
        return ssl_object

    async def aclose(self) -> None:
        if self._tls is not None:
            self._tls.abort()  # marks it closed (no "unclosed transport" warning), aborts below
        if self._transport is not None:
            self._transport.abort()
        else:
            self._sock.close()


async def _connect_anyio(address: str, port: int) -> Connection:
    try:
        stream = await anyio.connect_tcp(address, port)
    except OSError as e:
        # anyio reports "All connection attempts failed" and keeps the reason as the cause.
        if e.errno is None and isinstance(e.__cause__, OSError):
            raise e.__cause__ from None
        raise
    return _AnyioConnection(stream)


class _AnyioConnection(Connection):
    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream

    async def receive(self, max_bytes: int) -> bytes:
        try:
            return await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""

    async def send(self, data: bytes) -> None:
        await self._stream.send(data)

    def set_option(self, level: int, option: int, value: int | bytes) -> None:
        sock: socket.socket = self._stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(level, option, value)

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None) -> ssl.SSLObject:
        tls = await TLSStream.wrap(
            self._stream,
            server_side=False,
            hostname=sni,
            ssl_context=ctx,
            standard_compatible=False,
        )
        self._stream = tls
        ssl_object: ssl.SSLObject = tls.extra(TLSAttribute.ssl_object)
        return ssl_object

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self._stream)


def hung_up(exc: BaseException) -> bool:
    """The peer closed or reset the connection (on either path)."""
    return isinstance(
        exc,
        ssl.SSLEOFError
        | ConnectionResetError
        | EOFError
        | anyio.EndOfStream
        | anyio.BrokenResourceError,
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


class Deadline:
    """A host's deadline (anyio.current_time()) shared by connections made one after another;
    time spent waiting for a --per-ip slot moves it (as for the main handshake, waiting for a
    slot does not count against --timeout)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        return self.at - anyio.current_time()

    @contextlib.asynccontextmanager
    async def slot(self, address: str, per_ip: PerIpLimiter | None) -> AsyncIterator[float]:
        """Holds a --per-ip slot for `address`; yields the seconds left once it is held."""
        waiting = anyio.current_time()
        async with per_ip.slot(address) if per_ip else contextlib.nullcontext():
            self.at += anyio.current_time() - waiting
            yield self.left()
