"""CAA lookups (RFC 8659 3): the relevant record set of a name, climbing from the name to its
parents until a non-empty CAA RRset answers. CNAMEs at a name are followed by the resolver
(RFC 8659 3 no longer climbs from a CNAME's target). Through the scan's name servers
(`--nameserver`, else the system's resolv.conf), each name asked once per scan, every lookup
bounded in time and size; a failure is a result."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from scanner.analysis.caa import CaaRecord
from scanner.errors import UsageError
from scanner.net.fetch import INTERNAL_ERROR, Once
from scanner.net.resolve import on_asyncio

MAX_CLIMB = 16  # names asked for one name: the name and its parents, up to the TLD
MAX_RECORDS = 64  # records kept of one RRset
MAX_VALUE = 512  # characters kept of one record's value
MAX_REMEMBERED = 100_000  # names (and RRsets) kept per scan; the oldest go first


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaFound:
    name: str  # the name asked about (a wildcard as given)
    found_at: str | None  # where the relevant RRset is; None: no CAA anywhere up the tree
    records: tuple[CaaRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaFailed:
    name: str
    reason: str


CaaResult = CaaFound | CaaFailed


@dataclass(frozen=True, slots=True)
class _Rrset:
    records: tuple[CaaRecord, ...] | None  # None: the lookup failed
    reason: str = ""


def _backend() -> Any:
    return dns.asyncbackend.get_backend("asyncio" if on_asyncio() else "trio")


def _record(rdata: Any) -> CaaRecord:
    value = rdata.value.decode("utf-8", "replace")[:MAX_VALUE]
    return CaaRecord(flags=int(rdata.flags), tag=rdata.tag.decode("ascii", "replace"), value=value)


class CaaLookup:
    """One per scan: `nameservers` as `--nameserver` gives them (None: resolv.conf)."""

    def __init__(
        self, nameservers: Sequence[tuple[str, int]] | None = None, lifetime: float = 5.0
    ) -> None:
        if nameservers:
            self._resolvers = []
            for ip, port in nameservers:
                r = dns.asyncresolver.Resolver(configure=False)
                r.nameservers = [ip]
                r.port = port
                self._resolvers.append(r)
        else:
            try:
                self._resolvers = [dns.asyncresolver.Resolver()]
            except dns.resolver.NoResolverConfiguration:
                raise UsageError(
                    "no name server in /etc/resolv.conf for CAA lookups: give --nameserver"
                ) from None
        for r in self._resolvers:
            r.lifetime = r.timeout = lifetime
        self._names: Once[CaaResult] = Once(
            lambda k, e: CaaFailed(name=str(k), reason=f"{INTERNAL_ERROR}: {type(e).__name__}"),
            limit=MAX_REMEMBERED,
        )
        self._rrsets: Once[_Rrset] = Once(
            lambda k, e: _Rrset(None, f"{INTERNAL_ERROR}: {type(e).__name__}"),
            limit=MAX_REMEMBERED,
        )

    async def relevant(self, name: str) -> CaaResult:
        """The relevant CAA record set of `name` (a wildcard is looked up at its base)."""
        key = name.lower().rstrip(".")
        return await self._names.get(key, lambda: self._climb(key))

    async def _climb(self, name: str) -> CaaResult:
        base = name.removeprefix("*.")
        try:
            ipaddress.ip_address(base)
        except ValueError:
            pass
        else:
            return CaaFailed(name=name, reason="an IP address has no CAA records")
        try:
            labels = dns.name.from_text(base).labels[:-1]  # without the root
        except dns.exception.DNSException as e:
            return CaaFailed(name=name, reason=f"not a DNS name: {e}")
        if len(labels) > MAX_CLIMB:
            return CaaFailed(name=name, reason=f"more than {MAX_CLIMB} labels")
        for i in range(len(labels)):
            at = b".".join(labels[i:]).decode("ascii").lower()
            rrset = await self._rrset(at)
            if rrset.records is None:
                return CaaFailed(name=name, reason=f"CAA lookup of {at} failed: {rrset.reason}")
            if rrset.records:
                return CaaFound(name=name, found_at=at, records=rrset.records)
        return CaaFound(name=name, found_at=None, records=())

    async def _rrset(self, at: str) -> _Rrset:
        """CAA at one name, asked once per scan (names share their parents)."""
        return await self._rrsets.get(at, lambda: self._query(at))

    async def _query(self, at: str) -> _Rrset:
        """CAA at one name: empty when it has none (NOERROR without CAA, or NXDOMAIN: RFC 8659
        3 climbs past both); a failure otherwise, after every name server was tried."""
        reason = "no name server"
        for r in self._resolvers:
            try:
                answer = await r.resolve(at, dns.rdatatype.CAA, search=False, backend=_backend())
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                return _Rrset(())
            except dns.exception.DNSException as e:
                reason = f"{type(e).__name__}: {e}"[:300]
                continue
            return _Rrset(tuple(_record(rd) for rd in list(answer)[:MAX_RECORDS]))
        return _Rrset(None, reason)
