"""Name resolution: the system resolver (getaddrinfo in threads) or chosen name servers
(dnspython), behind one `Resolver` protocol."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver


class Resolver(Protocol):
    async def resolve(self, host: str, port: int, *, every_family: bool = False) -> list[str]:
        """Addresses for `host`, in the order to try them; raises on failure. `every_family`:
        IPv4 and IPv6 both (`--addresses all`), not only the first family that answers."""
        ...


class SystemResolver:
    """getaddrinfo (so /etc/hosts and nsswitch apply) in worker threads, at most `threads` at
    once. A cancelled lookup's thread cannot be stopped: it keeps its slot until getaddrinfo
    returns, so the bound holds for threads, not only for the tasks waiting on them."""

    def __init__(self, threads: int = 64, lookup: Any = socket.getaddrinfo) -> None:
        self._slots = anyio.CapacityLimiter(threads)
        # anyio's own token is freed on cancellation; the slots are what bound the threads.
        self._threads = anyio.CapacityLimiter(threads)
        self._lookup = lookup  # socket.getaddrinfo (a stand-in in tests of the bound)

    async def resolve(self, host: str, port: int, *, every_family: bool = False) -> list[str]:
        # getaddrinfo with AF_UNSPEC already gives both families.
        lookup = _Lookup(self._slots, anyio.lowlevel.current_token())
        await self._slots.acquire_on_behalf_of(lookup)
        try:
            infos = await anyio.to_thread.run_sync(
                lookup.run,
                lambda: self._lookup(host, port, 0, socket.SOCK_STREAM),
                abandon_on_cancel=True,
                limiter=self._threads,
            )
        except BaseException:
            lookup.abandon()
            raise
        lookup.release()
        return _unique(str(info[4][0]) for info in infos)


class _Lookup:
    """One getaddrinfo and its slot of the resolver's bound: released by the task when it
    gets the answer, or, once the task is cancelled, by the thread when getaddrinfo returns
    (or at once if the thread never started it)."""

    def __init__(self, slots: anyio.CapacityLimiter, token: Any) -> None:
        self._slots = slots
        self._token = token
        self._lock = threading.Lock()
        self._state = "queued"  # -> running -> done; or abandoned (before or while running)
        self._released = False

    def release(self) -> None:
        """In the event loop's thread."""
        if not self._released:
            self._released = True
            self._slots.release_on_behalf_of(self)

    def abandon(self) -> None:
        """The task was cancelled (in the loop's thread)."""
        with self._lock:
            running = self._state == "running"
            self._state = "abandoned"
        if not running:
            self.release()  # the thread is done, or will not start the lookup

    def run(self, call: Any) -> Any:
        """In the worker thread."""
        with self._lock:
            if self._state == "abandoned":
                return None
            self._state = "running"
        try:
            return call()
        finally:
            with self._lock:
                abandoned = self._state == "abandoned"
                self._state = "done"
            if abandoned:
                with contextlib.suppress(RuntimeError):  # the loop has ended: nothing to free
                    anyio.from_thread.run_sync(self.release, token=self._token)


class DnsResolver:
    """Asks the given name servers directly (dnspython); /etc/hosts does not apply."""

    def __init__(self, nameservers: Sequence[tuple[str, int]], lifetime: float = 5.0) -> None:
        self._resolvers = []
        for ip, port in nameservers:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [ip]
            r.port = port
            r.lifetime = lifetime
            r.timeout = lifetime
            self._resolvers.append(r)

    async def resolve(self, host: str, port: int, *, every_family: bool = False) -> list[str]:
        """A records, or AAAA records when the name has no A record (one query per name in
        the common case); with `every_family`, A then AAAA records. NXDOMAIN is final; other
        failures try the next name server."""
        last: Exception = dns.resolver.NoNameservers()  # type: ignore[no-untyped-call]
        for r in self._resolvers:
            found: list[str] = []
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                try:
                    answer = await r.resolve(host, rdtype, search=False, backend=_dns_backend())
                except dns.resolver.NoAnswer as e:
                    last = e
                    continue
                except dns.resolver.NXDOMAIN:
                    raise
                except dns.exception.DNSException as e:
                    last = e  # with A records found, a failing AAAA query keeps them
                    break
                found.extend(rr.address for rr in answer)
                if not every_family:
                    break
            if found:
                return _unique(found)
        raise last


def _dns_backend() -> Any:
    """dnspython's backend for the running loop, asked each time: its own default is sniffed
    once per process, which breaks a process that runs asyncio and then trio."""
    return dns.asyncbackend.get_backend("asyncio" if on_asyncio() else "trio")


def _unique(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def on_asyncio() -> bool:
    """Whether anyio runs on its asyncio backend (then asyncio's SSL transport is reachable)."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:
        return False
