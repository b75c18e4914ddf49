"""Name resolution: the system resolver (getaddrinfo in threads) or chosen name servers
(dnspython), behind one `Resolver` protocol."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
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
    """getaddrinfo (so /etc/hosts and nsswitch apply) in worker threads, with a limiter of its
    own so a slow resolver cannot starve anyio's default thread pool."""

    def __init__(self, threads: int = 64) -> None:
        self._limiter = anyio.CapacityLimiter(threads)

    async def resolve(self, host: str, port: int, *, every_family: bool = False) -> list[str]:
        # getaddrinfo with AF_UNSPEC already gives both families.
        infos = await anyio.to_thread.run_sync(
            lambda: socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM),
            abandon_on_cancel=True,
            limiter=self._limiter,
        )
        return _unique(str(info[4][0]) for info in infos)


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
