"""The prober's network edge: one TCP connection per probe (connect, write the hello, read
the first flight through the codec until its outcome is decided, close at once), one probe
after another within the host's deadline and its --per-ip slot. Only bytes move here; what
they mean is the codec's (codec.py), what to send next is the plan's (plan.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from scanner.model.types import Stage
from scanner.net.capture import PerIpLimiter
from scanner.net.classify import classify
from scanner.net.hello.codec import (
    ClientHello,
    Event,
    FlightReader,
    Offer,
    SSL2ClientHello,
    build,
    encode,
    encode_sslv2,
)
from scanner.net.hello.outcome import Failed, Outcome, decide
from scanner.net.hello.plan import HelloFacts, Plan, PlanConfig, Probe, plan
from scanner.net.resolve import on_asyncio

READ_CHUNK = 16 * 1024


class Deadline:
    """The host's deadline (anyio.current_time()) shared by its probes; time spent waiting for
    a --per-ip slot moves it (waiting for a slot does not count against --timeout)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        return self.at - anyio.current_time()

    @contextlib.asynccontextmanager
    async def slot(self, address: str, per_ip: PerIpLimiter | None) -> AsyncIterator[float]:
        waiting = anyio.current_time()
        async with per_ip.slot(address) if per_ip else contextlib.nullcontext():
            self.at += anyio.current_time() - waiting
            yield self.left()


class _Conn(Protocol):
    async def send(self, data: bytes) -> None: ...
    async def receive(self, max_bytes: int) -> bytes: ...
    def nodelay(self) -> None: ...
    def abort(self) -> None: ...


# Closed with a reset (SO_LINGER 0): the answer is in, and a fleet's probes must not leave
# tens of thousands of client ports in TIME_WAIT.
_LINGER_RESET = struct.pack("ii", 1, 0)


@functools.lru_cache(maxsize=4096)  # numeric: no lookup, same answer
def _sockaddr(address: str, port: int) -> tuple[int, Any]:
    info = socket.getaddrinfo(address, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    return info[0][0], info[0][4]


class _AsyncioConn:
    """asyncio's own socket calls: several times cheaper per connection than anyio's streams
    (the prober makes a dozen connections per host)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop, self._sock = loop, sock

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    async def receive(self, max_bytes: int) -> bytes:
        return await self._loop.sock_recv(self._sock, max_bytes)

    def nodelay(self) -> None:
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self._sock.close()


class _AnyioConn:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream
        self._sock: socket.socket = stream.extra(SocketAttribute.raw_socket)

    async def send(self, data: bytes) -> None:
        await self._stream.send(data)

    async def receive(self, max_bytes: int) -> bytes:
        try:
            return await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""

    def nodelay(self) -> None:
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self._sock.close()


async def _connect(address: str, port: int) -> _Conn:
    if on_asyncio():
        loop = asyncio.get_running_loop()
        family, sockaddr = _sockaddr(address, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, sockaddr)
        except BaseException:
            sock.close()
            raise
        return _AsyncioConn(loop, sock)
    try:
        return _AnyioConn(await anyio.connect_tcp(address, port))
    except OSError as e:  # anyio keeps the reason as the cause
        if e.errno is None and isinstance(e.__cause__, OSError):
            raise e.__cause__ from None
        raise


def hello_bytes(probe: Probe) -> tuple[ClientHello | SSL2ClientHello, bytes]:
    if isinstance(probe.hello, Offer):
        hello = build(probe.hello)
        return hello, encode(hello)
    return probe.hello, encode_sslv2(probe.hello)


async def _exchange(
    conn: _Conn, probe: Probe, hello: ClientHello | SSL2ClientHello, data: bytes
) -> Outcome:
    reader = FlightReader(hello)
    events: list[Event] = []
    if probe.segment:
        # Each piece its own TCP segment, as a browser's hello larger than the path's MSS.
        conn.nodelay()
        for i in range(0, len(data), probe.segment):
            await conn.send(data[i : i + probe.segment])
    else:
        await conn.send(data)
    while True:
        try:
            chunk = await conn.receive(max(1, min(reader.room, READ_CHUNK)))
        except (anyio.BrokenResourceError, ConnectionResetError):
            chunk = b""  # a reset or close: the reader says whether it was inside a record
        events += reader.receive_data(chunk)
        outcome = decide(hello, events, read_flight=probe.read_flight)
        if outcome is not None:
            return outcome
        if not chunk:
            return Failed(detail="the server closed the connection without an answer")


async def send_probe(
    address: str,
    port: int,
    probe: Probe,
    *,
    deadline: Deadline,
    per_ip: PerIpLimiter | None = None,
) -> Outcome:
    """One probe on its own connection; every failure is an outcome, never an exception (but
    for our own bugs)."""
    if deadline.left() <= 0:
        return Failed(detail="no time left within the host's deadline")
    hello, data = hello_bytes(probe)
    stage = Stage.CONNECT
    seconds = 0.0
    try:
        async with deadline.slot(address, per_ip) as seconds:
            with anyio.fail_after(seconds):
                conn = await _connect(address, port)
                stage = Stage.HANDSHAKE
                try:
                    return await _exchange(conn, probe, hello, data)
                finally:
                    conn.abort()
    except Exception as e:
        mapped = classify(e, stage, seconds)
        if mapped is None:
            raise
        return Failed(detail=mapped[1])


async def run(
    address: str,
    port: int,
    cfg: PlanConfig,
    *,
    deadline: float,
    per_ip: PerIpLimiter | None = None,
    steps: Plan | None = None,
) -> tuple[HelloFacts, int]:
    """Every probe of the plan for one host, one after another until `deadline`
    (anyio.current_time()); the facts and the number of hellos sent."""
    clock = Deadline(deadline)
    steps = plan(cfg) if steps is None else steps
    sent = 0
    try:
        probe = next(steps)
        while True:
            sent += 1
            outcome = await send_probe(address, port, probe, deadline=clock, per_ip=per_ip)
            probe = steps.send(outcome)
    except StopIteration as done:
        return done.value, sent
