"""The prober's network edge: one TCP connection per probe (connect, write the hello, read
the first flight through the codec until its outcome is decided, close at once with a reset),
one probe after another within the host's deadline and --per-ip. Only bytes move here; what
they mean is the codec's (codec.py), what to send next is the plan's (plan.py).

On anyio's asyncio backend with epoll (Linux) a host's plan runs in engine.py, on callbacks
of the event loop; elsewhere (trio, other systems) through anyio's streams, one await per
wait, each probe in its own --per-ip slot."""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Generator

import anyio

from scanner.model.hello import HelloFacts
from scanner.model.types import Stage
from scanner.net.handshake import Connection, Deadline, PerIpLimiter, connect, hung_up
from scanner.net.hello import engine
from scanner.net.hello.attempt import NO_TIME, Attempt
from scanner.net.hello.outcome import Failed, Outcome
from scanner.net.hello.plan import Plan, PlanConfig, Probe, plan
from scanner.net.resolve import on_asyncio

__all__ = ["NO_TIME", "Deadline", "run", "send_probe"]


def _on_engine() -> bool:
    return engine.AVAILABLE and on_asyncio()


def _one(probe: Probe) -> Generator[Probe, Outcome, Outcome]:
    return (yield probe)


async def _exchange_streams(address: str, port: int, att: Attempt) -> Outcome:
    async with await connect(address, port) as conn:
        att.stage = Stage.HANDSHAKE
        try:
            return await _exchange(conn, att)
        finally:
            with contextlib.suppress(OSError):
                conn.set_option(socket.SOL_SOCKET, socket.SO_LINGER, engine.LINGER_RESET)


async def _exchange(conn: Connection, att: Attempt) -> Outcome:
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
            chunk = await conn.receive(att.want())
        except Exception as e:
            if not hung_up(e):
                raise
            chunk = b""
        outcome = att.take(chunk)
        if outcome is not None:
            return outcome


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
    if _on_engine():
        outcome, _ = await engine.drive(address, port, _one(probe), deadline, per_ip)
        return outcome
    att = Attempt.of(probe)
    try:
        async with deadline.slot(address, per_ip) as seconds:
            att.seconds = seconds
            with anyio.fail_after(seconds):
                return await _exchange_streams(address, port, att)
    except Exception as e:
        return att.failed(e)


async def _in_scope(
    address: str,
    port: int,
    att: Attempt,
    clock: Deadline,
    per_ip: PerIpLimiter | None,
    scope: anyio.CancelScope,
) -> Outcome:
    """One probe under the host's cancel scope (its deadline moved by a --per-ip wait)."""
    try:
        if per_ip is None:
            att.seconds = clock.left()
            return await _exchange_streams(address, port, att)
        scope.deadline = math.inf  # waiting for a slot does not count against --timeout
        async with clock.slot(address, per_ip) as seconds:
            scope.deadline = clock.at
            att.seconds = seconds
            return await _exchange_streams(address, port, att)
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
    if _on_engine():
        return await engine.drive(address, port, steps, clock, per_ip)
    sent = 0
    try:
        probe = next(steps)
        att: Attempt | None = None
        with anyio.CancelScope(deadline=clock.at) as scope:
            while True:
                sent += 1
                if clock.left() <= 0:
                    outcome: Outcome = Failed(detail=NO_TIME)
                else:
                    att = Attempt.of(probe)
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
