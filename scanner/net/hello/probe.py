"""The prober's network edge: one TCP connection per probe (connect, write the hello, read
the first flight through the codec until its outcome is decided, close at once with a reset),
one probe after another within the host's deadline and its --per-ip slot. Only bytes move
here; what they mean is the codec's (codec.py), what to send next is the plan's (plan.py).

On anyio's asyncio backend the socket is driven directly on the event loop (a non-blocking
socket, one reader or writer callback per wait: a probe costs little more than its system
calls), and one cancel scope bounds a host's whole plan; elsewhere through anyio's streams."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import socket
import struct
from dataclasses import dataclass, field

import anyio

from scanner.model.hello import HelloFacts
from scanner.model.types import Stage
from scanner.net.classify import classify
from scanner.net.handshake import (
    Connection,
    Deadline,
    PerIpLimiter,
    connect,
    hung_up,
    sockaddr_of,
)
from scanner.net.hello.codec import (
    ClientHello,
    Event,
    FlightReader,
    Offer,
    SSL2ClientHello,
    encode_sslv2,
    hello_for,
)
from scanner.net.hello.outcome import Failed, Outcome, after_failure, decide
from scanner.net.hello.plan import Plan, PlanConfig, Probe, plan
from scanner.net.resolve import on_asyncio

READ_CHUNK = 16 * 1024
NO_TIME = "no time left within the host's deadline"

# Closed with a reset (SO_LINGER 0): the answer is in, and a fleet's probes must not leave
# tens of thousands of client ports in TIME_WAIT.
_LINGER_RESET = struct.pack("ii", 1, 0)
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: non-blocking from the start


def hello_bytes(probe: Probe) -> tuple[ClientHello | SSL2ClientHello, bytes]:
    if isinstance(probe.hello, Offer):
        return hello_for(probe.hello)
    return probe.hello, encode_sslv2(probe.hello)


@dataclass(slots=True)
class _Attempt:
    """One probe in flight: what a failure (an exception, the deadline) is judged from."""

    probe: Probe
    hello: ClientHello | SSL2ClientHello
    data: bytes
    reader: FlightReader
    events: list[Event] = field(default_factory=list)
    stage: Stage = Stage.CONNECT
    seconds: float = 0.0

    @classmethod
    def of(cls, probe: Probe) -> _Attempt:
        hello, data = hello_bytes(probe)
        reader = FlightReader(hello, hello_only=not probe.read_flight)
        return cls(probe=probe, hello=hello, data=data, reader=reader)

    def take(self, chunk: bytes) -> Outcome | None:
        """The outcome once `chunk` (b"": the end of the stream) decides it."""
        self.events += self.reader.receive_data(chunk)
        outcome = decide(self.hello, self.events, read_flight=self.probe.read_flight)
        if outcome is None and not chunk:
            return Failed(detail="the server closed the connection without an answer")
        return outcome

    def hung_up_sending(self) -> Outcome:
        """Reset or closed while the hello was still going out: the server hung up on it."""
        self.events += self.reader.receive_data(b"")
        return decide(self.hello, self.events, read_flight=self.probe.read_flight) or Failed(
            detail="the server closed the connection while the hello was sent"
        )

    def failed(self, exc: BaseException) -> Outcome:
        mapped = classify(exc, self.stage, self.seconds)
        if mapped is None:
            raise exc
        # A ServerHello already read still answers the probe (the rest of the flight is lost).
        return after_failure(self.hello, self.events, mapped[1])


# --- asyncio: the socket on the event loop -------------------------------------------------


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fut = loop.create_future()
    loop.add_reader(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fut = loop.create_future()
    loop.add_writer(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_writer(fd)


async def _exchange_asyncio(address: str, port: int, att: _Attempt) -> Outcome:
    loop = asyncio.get_running_loop()
    family, sockaddr = sockaddr_of(address, port)
    with socket.socket(family, socket.SOCK_STREAM | _NONBLOCK) as sock:
        if not _NONBLOCK:
            sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        fd = sock.fileno()
        err = sock.connect_ex(sockaddr)
        if err == errno.EINPROGRESS:
            try:
                sock.getpeername()  # connected already (loopback, a near host): no wait
                err = 0
            except OSError:
                await _writable(loop, fd)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))  # the errno's subclass (refused, ...)
        att.stage = Stage.HANDSHAKE
        try:
            await _send(loop, sock, att)
        except OSError as e:
            if not (hung_up(e) or isinstance(e, BrokenPipeError)):
                raise
            return att.hung_up_sending()
        while True:
            await _readable(loop, fd)
            try:
                chunk = sock.recv(max(1, min(att.reader.room, READ_CHUNK)))
            except BlockingIOError:
                continue
            except OSError as e:
                if not hung_up(e):
                    raise
                chunk = b""  # a reset or close: the reader says whether it was inside a record
            outcome = att.take(chunk)
            if outcome is not None:
                return outcome


async def _send(loop: asyncio.AbstractEventLoop, sock: socket.socket, att: _Attempt) -> None:
    data, segment = att.data, att.probe.segment
    if segment:
        # Each piece its own TCP segment, as a browser's hello larger than the path's MSS.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data), segment):
            await loop.sock_sendall(sock, data[i : i + segment])
        return
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        await loop.sock_sendall(sock, data[sent:])


# --- elsewhere: anyio's streams ------------------------------------------------------------


async def _exchange_streams(address: str, port: int, att: _Attempt) -> Outcome:
    async with await connect(address, port) as conn:
        att.stage = Stage.HANDSHAKE
        try:
            return await _exchange(conn, att)
        finally:
            with contextlib.suppress(OSError):
                conn.set_option(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)


async def _exchange(conn: Connection, att: _Attempt) -> Outcome:
    try:
        if att.probe.segment:
            conn.set_option(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(att.data), att.probe.segment):
                await conn.send(att.data[i : i + att.probe.segment])
        else:
            await conn.send(att.data)
    except Exception as e:
        if not (hung_up(e) or isinstance(e, BrokenPipeError)):
            raise
        return att.hung_up_sending()
    while True:
        try:
            chunk = await conn.receive(max(1, min(att.reader.room, READ_CHUNK)))
        except Exception as e:
            if not hung_up(e):
                raise
            chunk = b""
        outcome = att.take(chunk)
        if outcome is not None:
            return outcome


async def _attempt(address: str, port: int, att: _Attempt) -> Outcome:
    if on_asyncio():
        return await _exchange_asyncio(address, port, att)
    return await _exchange_streams(address, port, att)


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
        return Failed(detail=NO_TIME)
    att = _Attempt.of(probe)
    try:
        async with deadline.slot(address, per_ip) as seconds:
            att.seconds = seconds
            with anyio.fail_after(seconds):
                return await _attempt(address, port, att)
    except Exception as e:
        return att.failed(e)


async def _in_scope(
    address: str,
    port: int,
    att: _Attempt,
    clock: Deadline,
    per_ip: PerIpLimiter | None,
    scope: anyio.CancelScope,
) -> Outcome:
    """One probe under the host's cancel scope (its deadline moved by a --per-ip wait)."""
    try:
        if per_ip is None:
            att.seconds = clock.left()
            return await _attempt(address, port, att)
        scope.deadline = math.inf  # waiting for a slot does not count against --timeout
        async with clock.slot(address, per_ip) as seconds:
            scope.deadline = clock.at
            att.seconds = seconds
            return await _attempt(address, port, att)
    except Exception as e:
        return att.failed(e)


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
        att: _Attempt | None = None
        with anyio.CancelScope(deadline=clock.at) as scope:
            while True:
                sent += 1
                if clock.left() <= 0:
                    outcome: Outcome = Failed(detail=NO_TIME)
                else:
                    att = _Attempt.of(probe)
                    outcome = await _in_scope(address, port, att, clock, per_ip, scope)
                att = None
                probe = steps.send(outcome)
        # The deadline passed during `att`: it timed out, and every probe left has no time.
        outcome = att.failed(TimeoutError()) if att is not None else Failed(detail=NO_TIME)
        while True:
            probe = steps.send(outcome)
            sent += 1
            outcome = Failed(detail=NO_TIME)
    except StopIteration as done:
        return done.value, sent
