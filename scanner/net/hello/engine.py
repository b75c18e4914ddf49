"""The prober's sockets on an asyncio loop with epoll (Linux), driven by callbacks instead of
a task wake-up per wait. One epoll set per event loop holds every probe socket and is itself a
single reader of the loop; a ready socket calls its host's driver, which reads, lets the codec
decide, closes, and starts the plan's next probe in the same call. A host's task waits once,
for its whole plan, under its deadline. A hello then costs its system calls and the codec,
not an asyncio future, two selector registrations and a task step per wait (bench.hello)."""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import errno
import os
import select
import socket
import struct
import weakref
from collections.abc import Generator
from enum import Enum
from typing import Any, Generic, TypeVar

import anyio

from scanner.model.types import Stage
from scanner.net.handshake import Deadline, PerIpLimiter, hung_up, sockaddr_of
from scanner.net.hello.attempt import NO_TIME, Attempt
from scanner.net.hello.outcome import Failed, Outcome
from scanner.net.hello.plan import Probe

T = TypeVar("T")

AVAILABLE = hasattr(select, "epoll")

# Closed with a reset (SO_LINGER 0): the answer is in, and a fleet's probes must not leave
# tens of thousands of client ports in TIME_WAIT.
LINGER_RESET = struct.pack("ii", 1, 0)
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: non-blocking from the start
_IN = getattr(select, "EPOLLIN", 1)
_OUT = getattr(select, "EPOLLOUT", 4)


class _State(Enum):
    CONNECTING = "connecting"
    WRITING = "writing"
    READING = "reading"


class _Mux:
    """The epoll set of one event loop's probe sockets, watched by the loop as one reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.epoll = select.epoll()
        self.drivers: dict[int, _Driver[Any]] = {}
        loop.add_reader(self.epoll.fileno(), self._ready)
        # The loop may close with the set still registered; the set closes with the loop.
        weakref.finalize(loop, self.epoll.close)

    def _ready(self) -> None:
        # A descriptor appears once per batch, and is free for reuse only after its own
        # driver ran: an event never reaches the wrong socket.
        for fd, _events in self.epoll.poll(0):
            driver = self.drivers.get(fd)
            if driver is not None:
                driver.ready()


_muxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mux] = weakref.WeakKeyDictionary()


def _mux(loop: asyncio.AbstractEventLoop) -> _Mux:
    mux = _muxes.get(loop)
    if mux is None:
        mux = _muxes[loop] = _Mux(loop)
    return mux


class _Driver(Generic[T]):
    """One host's plan, one probe after another, each step run by the event it waited for."""

    def __init__(
        self,
        mux: _Mux,
        loop: asyncio.AbstractEventLoop,
        target: tuple[str, int],
        steps: Generator[Probe, Outcome, T],
        clock: Deadline,
        done: asyncio.Future[tuple[T, int]],
    ) -> None:
        self.mux, self.loop, self.steps, self.clock, self.done = mux, loop, steps, clock, done
        self.target = target
        self.sockaddr: tuple[int, Any] | None = None  # (family, sockaddr), at the first probe
        self.sent = 0
        self.att: Attempt | None = None
        self.sock: _socket.socket | None = None  # the C type: no Python-level wrapper
        self.fd = -1
        self.state = _State.CONNECTING
        self.pos = 0  # bytes of the hello written

    # --- the plan ------------------------------------------------------------------------

    def start(self) -> None:
        self._advance(None)

    def _advance(self, outcome: Outcome | None) -> None:
        """Give the plan `outcome` (None: begin it), then start probes until one waits for
        its socket or the plan ends."""
        try:
            while True:
                probe = next(self.steps) if outcome is None else self.steps.send(outcome)
                self.sent += 1
                outcome = self._start(probe)
                if outcome is None:
                    return
        except StopIteration as end:
            if not self.done.done():
                self.done.set_result((end.value, self.sent))
        except Exception as bug:  # ours: the host's task raises it
            self.close()
            if not self.done.done():
                self.done.set_exception(bug)

    def abort(self) -> tuple[T, int]:
        """The deadline passed: the probe in flight timed out, every probe left had no time."""
        att = self.att if self.sock is not None else None
        self.close()
        outcome = att.failed(TimeoutError()) if att is not None else Failed(detail=NO_TIME)
        try:
            while True:
                self.steps.send(outcome)
                self.sent += 1
                outcome = Failed(detail=NO_TIME)
        except StopIteration as end:
            return end.value, self.sent

    # --- one probe -------------------------------------------------------------------------

    def _start(self, probe: Probe) -> Outcome | None:
        """Connect and write; the outcome when it is known at once, None while it waits."""
        left = self.clock.at - self.loop.time()
        if left <= 0:
            return Failed(detail=NO_TIME)
        att = self.att = Attempt.of(probe)
        att.seconds = left
        try:
            outcome = self._connect()
        except Exception as e:
            outcome = att.failed(e)  # our bug when no rule covers it: raised to _advance
        if outcome is not None:
            self.close()
        return outcome

    def _connect(self) -> Outcome | None:
        if self.sockaddr is None:
            self.sockaddr = sockaddr_of(*self.target)
        family, sockaddr = self.sockaddr
        sock = self.sock = _socket.socket(family, socket.SOCK_STREAM | _NONBLOCK)
        self.fd = sock.fileno()
        if not _NONBLOCK:
            sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        if self.att is not None and self.att.probe.segment:
            # Each piece its own TCP segment, as a browser's hello larger than the path's MSS.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pos = 0
        err = sock.connect_ex(sockaddr)
        if err and err != errno.EINPROGRESS:
            raise OSError(err, os.strerror(err))  # the errno's subclass (refused, ...)
        # In progress or done (loopback and near hosts connect at once): writing tells which.
        return self._write()

    def _write(self) -> Outcome | None:
        att, sock = self.att, self.sock
        assert att is not None and sock is not None
        data, segment = att.data, att.probe.segment
        try:
            while self.pos < len(data):
                end = (self.pos // segment + 1) * segment if segment else len(data)
                self.pos += sock.send(data[self.pos : end])
                att.stage = Stage.HANDSHAKE
        except BlockingIOError:
            # Still connecting (nothing written yet), or the send buffer is full.
            return self._wait(_OUT, _State.CONNECTING if self.pos == 0 else _State.WRITING)
        except OSError as e:
            if att.stage is Stage.CONNECT or not (hung_up(e) or isinstance(e, BrokenPipeError)):
                raise
            return att.hung_up_sending()
        return self._wait(_IN, _State.READING)

    def _wait(self, events: int, state: _State) -> Outcome | None:
        """Wait for `events` on the socket: no outcome yet."""
        if self.fd in self.mux.drivers:
            self.mux.epoll.modify(self.fd, events)
        else:
            self.mux.epoll.register(self.fd, events)
            self.mux.drivers[self.fd] = self
        self.state = state
        return None

    def ready(self) -> None:
        """Its socket is ready (or an event was spurious: every step re-checks)."""
        att = self.att
        assert att is not None
        try:
            try:
                outcome = self._step()
            except Exception as e:
                outcome = att.failed(e)
        except Exception as bug:
            self.close()
            if not self.done.done():
                self.done.set_exception(bug)
            return
        if outcome is not None:
            self.close()
            self._advance(outcome)

    def _step(self) -> Outcome | None:
        sock, att = self.sock, self.att
        assert sock is not None and att is not None
        if self.state is _State.CONNECTING:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            return self._write()  # still connecting: it waits again
        if self.state is _State.WRITING:
            return self._write()
        try:
            chunk = sock.recv(att.want())
        except BlockingIOError:
            return None
        except OSError as e:
            if not hung_up(e):
                raise
            chunk = b""  # a reset or close: the reader says whether it was inside a record
        return att.take(chunk)

    def close(self) -> None:
        """Close the probe's socket (closing takes it out of the epoll set)."""
        if self.sock is not None:
            if self.mux.drivers.get(self.fd) is self:
                del self.mux.drivers[self.fd]
            self.sock.close()
            self.sock = None


async def drive(
    address: str,
    port: int,
    steps: Generator[Probe, Outcome, T],
    clock: Deadline,
    per_ip: PerIpLimiter | None,
) -> tuple[T, int]:
    """Run `steps` against address:port until `clock` runs out, holding one --per-ip slot
    for the whole plan (its probes are one connection at a time); the plan's result and the
    number of hellos sent. Only on asyncio with epoll (see AVAILABLE)."""
    loop = asyncio.get_running_loop()
    async with clock.slot(address, per_ip) if per_ip else contextlib.nullcontext():
        done: asyncio.Future[tuple[T, int]] = loop.create_future()
        driver = _Driver(_mux(loop), loop, (address, port), steps, clock, done)
        try:
            with anyio.CancelScope(deadline=clock.at):
                driver.start()
                await done
            if done.done() and not done.cancelled():
                return done.result()
            return driver.abort()
        finally:
            driver.close()
