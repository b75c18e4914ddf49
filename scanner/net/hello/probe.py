"""The prober's network edge: one TCP connection per probe (connect, write the hello, read
the first flight through the codec until its outcome is decided, close at once), one probe
after another within the host's deadline and its --per-ip slot. Only bytes move here; what
they mean is the codec's (codec.py), what to send next is the plan's (plan.py)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

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


async def _connect(address: str, port: int) -> anyio.abc.SocketStream:
    try:
        return await anyio.connect_tcp(address, port)
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
    stream: anyio.abc.SocketStream, probe: Probe, hello: ClientHello | SSL2ClientHello, data: bytes
) -> Outcome:
    reader = FlightReader(hello)
    events: list[Event] = []
    if probe.segment:
        # Each piece its own TCP segment, as a browser's hello larger than the path's MSS.
        stream.extra(SocketAttribute.raw_socket).setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        for i in range(0, len(data), probe.segment):
            await stream.send(data[i : i + probe.segment])
    else:
        await stream.send(data)
    while True:
        try:
            chunk = await stream.receive(max(1, min(reader.room, READ_CHUNK)))
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
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
                stream = await _connect(address, port)
                stage = Stage.HANDSHAKE
                try:
                    return await _exchange(stream, probe, hello, data)
                finally:
                    await anyio.aclose_forcefully(stream)
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
