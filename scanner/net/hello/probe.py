"""The prober's network edge: one TCP connection per probe (connect, write the hello, read
the first flight through the codec until its outcome is decided, close at once), one probe
after another within the host's deadline and its --per-ip slot. Only bytes move here; what
they mean is the codec's (codec.py), what to send next is the plan's (plan.py)."""

from __future__ import annotations

import contextlib
import socket
import struct

import anyio

from scanner.model.hello import HelloFacts
from scanner.model.types import Stage
from scanner.net.classify import classify
from scanner.net.handshake import Connection, Deadline, PerIpLimiter, connect, hung_up
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
from scanner.net.hello.outcome import Failed, Outcome, after_failure, decide
from scanner.net.hello.plan import Plan, PlanConfig, Probe, plan

READ_CHUNK = 16 * 1024


# Closed with a reset (SO_LINGER 0): the answer is in, and a fleet's probes must not leave
# tens of thousands of client ports in TIME_WAIT.
_LINGER_RESET = struct.pack("ii", 1, 0)


def hello_bytes(probe: Probe) -> tuple[ClientHello | SSL2ClientHello, bytes]:
    if isinstance(probe.hello, Offer):
        hello = build(probe.hello)
        return hello, encode(hello)
    return probe.hello, encode_sslv2(probe.hello)


async def _exchange(
    conn: Connection,
    probe: Probe,
    hello: ClientHello | SSL2ClientHello,
    data: bytes,
    events: list[Event],
) -> Outcome:
    """Write the hello, read events (into `events`, kept by the caller) until decided."""
    reader = FlightReader(hello)
    try:
        if probe.segment:
            # Each piece its own TCP segment, as a browser's hello larger than the path's MSS.
            conn.set_option(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(data), probe.segment):
                await conn.send(data[i : i + probe.segment])
        else:
            await conn.send(data)
    except Exception as e:
        if not (hung_up(e) or isinstance(e, BrokenPipeError)):
            raise
        # Reset while the hello was still going out: the server hung up on it.
        events += reader.receive_data(b"")
        return decide(hello, events, read_flight=probe.read_flight) or Failed(
            detail="the server closed the connection while the hello was sent"
        )
    while True:
        try:
            chunk = await conn.receive(max(1, min(reader.room, READ_CHUNK)))
        except Exception as e:
            if not hung_up(e):
                raise
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
    events: list[Event] = []
    try:
        async with deadline.slot(address, per_ip) as seconds:
            with anyio.fail_after(seconds):
                async with await connect(address, port) as conn:
                    stage = Stage.HANDSHAKE
                    try:
                        return await _exchange(conn, probe, hello, data, events)
                    finally:
                        with contextlib.suppress(OSError):
                            conn.set_option(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except Exception as e:
        mapped = classify(e, stage, seconds)
        if mapped is None:
            raise
        # A ServerHello already read still answers the probe (the rest of the flight is lost).
        return after_failure(hello, events, mapped[1])


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
