"""Resolve, connect, speak STARTTLS when asked, and handshake with verification off; return the
chain exactly as sent. The connection and the handshake are `net.handshake`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
import warnings
from dataclasses import dataclass

import anyio

from scanner.model.types import (
    DIRECT_TLS,
    CaptureFailure,
    ErrorCode,
    Handshake,
    Stage,
    StartTls,
    Target,
)
from scanner.net import handshake as hs
from scanner.net import starttls as st
from scanner.net.classify import classify
from scanner.net.handshake import PerIpLimiter
from scanner.net.resolve import Resolver

__all__ = ["PerIpLimiter", "capture", "client_context", "resolve_all"]


def client_context() -> ssl.SSLContext:
    """Verification off (diagnosis judges the chain) and security level 0, so that weak and
    legacy servers still hand over their chain; anonymous suites excluded (no certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:!aNULL:!eNULL:@SECLEVEL=0")
    # Still capture the chain of a TLS 1.0/1.1-only server (legacy, but its certificate counts).
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


@dataclass(slots=True)
class _Progress:
    stage: Stage = Stage.RESOLVE
    address: str | None = None
    starttls: StartTls | None = None
    reader: st.Reader | None = None  # the STARTTLS exchange, while it runs

    @property
    def protocol(self) -> str | None:
        if self.stage in (Stage.RESOLVE, Stage.CONNECT):
            return None
        return self.starttls.value if self.starttls else DIRECT_TLS


async def _starttls(channel: st.Channel, sni: str | None, address: str, p: _Progress) -> None:
    if p.starttls is None:
        return
    p.stage = Stage.STARTTLS
    p.reader = st.Reader(channel, p.starttls)
    await st.upgrade(p.reader, sni or address)
    p.reader = None


async def _handshake(
    address: str, port: int, sni: str | None, ctx: ssl.SSLContext, progress: _Progress
) -> Handshake:
    async with await hs.connect(address, port) as conn:
        await _starttls(conn, sni, address, progress)
        progress.stage = Stage.HANDSHAKE
        obj = await conn.start_tls(ctx, sni)
        cipher = obj.cipher()
        return Handshake(
            chain=hs.unverified_chain(obj),
            tls_version=obj.version() or "",
            cipher=cipher[0] if cipher else "",
            address=address,
            protocol=progress.protocol or DIRECT_TLS,
        )


async def resolve_all(
    target: Target,
    *,
    resolver: Resolver,
    timeout: float,  # noqa: ASYNC109 - the host's budget
) -> list[str] | CaptureFailure:
    """Every address of the target (`--addresses all`): the input's `ip` when set (it means
    "only this address"), the literal of an IP host, else every A and AAAA record."""
    if target.ip:
        return [target.ip]
    if target.is_ip:
        return [target.host]
    try:
        with anyio.fail_after(timeout):
            addresses = await resolver.resolve(target.host, target.port, every_family=True)
    except Exception as e:
        mapped = classify(e, Stage.RESOLVE, timeout)
        if mapped is None:
            raise
        return CaptureFailure(error=mapped[0], detail=mapped[1])
    if not addresses:
        return CaptureFailure(error=ErrorCode.DNS, detail="the name has no address")
    return addresses


async def capture(
    target: Target,
    *,
    ctx: ssl.SSLContext,
    resolver: Resolver,
    timeout: float,  # noqa: ASYNC109 - the host's budget, applied inside around waits
    per_ip: PerIpLimiter | None = None,
    starttls: StartTls | None = None,
    address: str | None = None,
) -> Handshake | CaptureFailure:
    """One host, within one deadline covering DNS, connect, the STARTTLS exchange and the
    handshake (time spent waiting for a --per-ip slot does not count). With `address`, that
    address only and no lookup. Never raises for a host's failure; an exception no rule covers
    is re-raised (our bug: the pipeline records it as `internal`)."""
    progress = _Progress(starttls=starttls)
    budget = timeout
    try:
        if address:
            addresses = [address]
        elif target.ip:
            addresses = [target.ip]
        elif target.is_ip:
            addresses = [target.host]
        else:  # only a lookup needs a deadline of its own (a scope costs ~10 us per host)
            started = anyio.current_time()
            with anyio.fail_after(budget):
                addresses = await resolver.resolve(target.host, target.port)
            budget -= anyio.current_time() - started
        if not addresses:
            return CaptureFailure(error=ErrorCode.DNS, detail="the name has no address")
        for i, addr in enumerate(addresses):
            progress.stage, progress.address = Stage.CONNECT, addr
            async with per_ip.slot(addr) if per_ip else contextlib.nullcontext():
                started = anyio.current_time()
                try:
                    with anyio.fail_after(budget):
                        result = await _handshake(addr, target.port, target.sni, ctx, progress)
                except OSError:
                    # Try the next address only when this one could not be connected at all.
                    budget -= anyio.current_time() - started
                    if progress.stage is Stage.CONNECT and i + 1 < len(addresses):
                        continue
                    raise
            if not result.chain:
                return CaptureFailure(
                    error=ErrorCode.TLS,
                    detail="the server sent no certificate",
                    address=addr,
                    protocol=result.protocol,
                )
            budget -= anyio.current_time() - started
            return dataclasses.replace(result, budget_left=max(budget, 0.0))
    except st.Refused as e:
        return CaptureFailure(
            error=ErrorCode.STARTTLS,
            detail=str(e),
            address=progress.address,
            protocol=progress.protocol,
        )
    except Exception as e:
        expecting = progress.reader.expecting if progress.reader else None
        mapped = classify(e, progress.stage, timeout, expecting=expecting)
        if mapped is None:
            raise
        code, detail = mapped
        return CaptureFailure(
            error=code, detail=detail, address=progress.address, protocol=progress.protocol
        )
    raise AssertionError("unreachable")  # pragma: no cover
