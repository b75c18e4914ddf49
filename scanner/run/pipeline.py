"""Orchestration: `--concurrency` long-lived workers in one task group, each taking the next
target from the input (read in a worker thread), results handed to an async sink as hosts
finish. The one place where a per-host exception becomes a row."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from scanner.errors import ResourceError
from scanner.model.probed import HelloReport
from scanner.model.types import (
    DIRECT_TLS,
    Addresses,
    AiaResult,
    CaptureFailure,
    Diagnosis,
    ErrorCode,
    Finding,
    Handshake,
    InvalidTarget,
    ProtocolSupport,
    ScanFailed,
    ScanResult,
    Target,
)
from scanner.net.aia import AiaFetcher, aia_failed
from scanner.net.capture import (
    PerIpLimiter,
    capture,
    client_context,
    resolve_all,
)
from scanner.net.classify import exhausted
from scanner.net.fetch import HttpFetcher, Once
from scanner.net.resolve import Resolver, SystemResolver
from scanner.net.revocation import RevocationFetcher
from scanner.net.starttls import choose
from scanner.run.assemble import Answer, assemble
from scanner.run.feed import Feed
from scanner.run.outlook import CaaReport, Lookahead, load_caa_report, look_ahead, lookahead
from scanner.store.crlfiles import load_crl_files
from scanner.store.programs import load_judged_programs, load_log_list
from scanner.store.trust import load_named, load_trust
from scanner.x509 import backends
from scanner.x509 import diagnose as dx
from scanner.x509 import revocation as rv
from scanner.x509.browsers import delivered_scts
from scanner.x509.browsers import judge as judge_browsers
from scanner.x509.certs import TrustStore
from scanner.x509.context import DiagnosisContext
from scanner.x509.ct.logs import LogList
from scanner.x509.ct.sct import Sct
from scanner.x509.memo import Memo
from scanner.x509.stores import NamedStore
from scanner.x509.stores import judge as judge_stores

if TYPE_CHECKING:  # (loaded with --root-program only)
    from scanner.x509.programs.named import NamedProgram

AIA_ROUNDS = 3  # a leaf, then up to two missing intermediates above it
REVOCATION_ROUNDS = 2  # CRLs, then OCSP for certificates without a usable CRL
# The ClientHello prober's budget per host, in --timeouts, counted from the end of the main
# handshake's work: --protocols sends tens of hellos, --ciphers up to a few hundred.
PROBE_TIMEOUTS = 3
CIPHERS_TIMEOUTS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanConfig:
    """What the workers need: the options of `scanner.run.options.ScanOptions` of the same
    names as given (their defaults and validation live there), and the trust stores and CRL
    files loaded."""

    trust: TrustStore  # --ca-bundle, loaded
    stores: tuple[NamedStore, ...]  # --trust-store, judged beside `trust`
    crl_files: tuple[rv.Crl, ...]  # --crl, parsed; used before any fetch
    programs: tuple[NamedProgram, ...]  # --root-program, read; judged beside the stores
    log_list: LogList | None  # --ct-logs, read
    as_of: dt.datetime
    timeout: float
    concurrency: int
    warn_days: int
    aia: bool
    aia_timeout: float
    per_ip: int | None  # at most this many connections in flight to one address
    protocols: bool  # the ClientHello prober: versions, weak classes, groups... (issue 19)
    ciphers: bool  # ... and every accepted suite (ciphers.parquet)
    revocation: bool
    crl_max_bytes: int
    allow_private_fetch: bool  # AIA/CRL/OCSP URLs may reach loopback, link-local...
    addresses: Addresses
    starttls: str  # `auto`, `none` or a StartTls value; a row's cell overrides it
    # The date each host breaks (issue 21).
    renew_at: float
    ari: bool
    acme_directories: tuple[tuple[str, str], ...]  # (issuer CN or AKI hex, directory URL)
    caa: bool
    caa_report: CaaReport  # --caa-identifiers, read
    nameservers: tuple[tuple[str, int], ...]  # CAA lookups go through them too

    @classmethod
    def load(cls, options: Mapping[str, Any]) -> ScanConfig:
        """The config of the options by field name (`scanner.run.options.settings`): the trust
        stores and CRL files read once, every other field taken as it is. Raises a
        TrustStoreError (or UsageError) for a store or CRL file that cannot be used."""
        loaded = {"trust", "stores", "crl_files", "programs", "log_list", "caa_report", "protocols"}
        taken = {f.name for f in fields(cls)} - loaded
        trust = load_trust(options["ca_bundle"])
        stores = load_named(options["trust_stores"])
        return cls(
            trust=trust,
            stores=stores,
            crl_files=load_crl_files(options["crl_files"]) if options["revocation"] else (),
            protocols=options["protocols"] or options["ciphers"],  # --ciphers implies it
            programs=load_judged_programs(options["root_programs"], trust, stores),
            log_list=load_log_list(options["ct_logs"]),
            caa_report=load_caa_report(options["caa_identifiers"]),
            **{name: options[name] for name in taken},
        )


@dataclass(slots=True)
class _Shared:
    """What every host task shares: the client context, the resolver, the AIA cache, the
    diagnosis context."""

    config: ScanConfig
    ctx: ssl.SSLContext
    resolver: Resolver
    fetcher: AiaFetcher
    revocation: RevocationFetcher
    per_ip: PerIpLimiter | None
    # Trust store, as-of, warning days, and the scan's memory of certificate work repeated
    # across hosts (a host that fetched AIA judges with a copy holding its answers).
    context: DiagnosisContext
    lookahead: Lookahead | None = None  # --ari, --caa


async def _answer(target: Target, hs: Handshake, shared: _Shared) -> Answer:
    """Diagnosis (with AIA fetching), revocation, the named stores and the probes of one
    answering host: what `assemble` turns into its result."""
    cfg = shared.config
    ctx = shared.context
    diagnosis = dx.diagnose(hs.chain, host=target.host, is_ip=target.is_ip, ctx=ctx)
    deadline = anyio.current_time() + hs.budget_left
    if cfg.aia and diagnosis.aia_wanted:
        # This host's AIA answers, filled in between diagnoses (the common host fetches none
        # and keeps the scan's context).
        fetched: dict[str, AiaResult] = {}
        ctx = ctx.with_fetched(fetched)

        def run() -> Diagnosis:
            return dx.diagnose(hs.chain, host=target.host, is_ip=target.is_ip, ctx=ctx)

        # AIA fetching spends what is left of the host's deadline, each fetch capped on its own
        # by --aia-timeout: one host never holds its slot longer than --timeout.
        with anyio.move_on_at(deadline):
            for _ in range(AIA_ROUNDS):
                for url in diagnosis.aia_wanted:
                    fetched[url] = AiaResult(
                        url=url, error=f"no time left within the host's {cfg.timeout:g} s"
                    )
                    fetched[url] = await shared.fetcher.fetch(url)
                diagnosis = run()
                if not diagnosis.aia_wanted:
                    break
        if diagnosis.aia_wanted and any(u in fetched for u in diagnosis.aia_wanted):
            diagnosis = run()  # the deadline cut a round short: judge with what was fetched
    if cfg.revocation:
        diagnosis = await _revocation(diagnosis, shared, deadline)
    stores = (
        judge_stores(hs.chain, host=target.host, is_ip=target.is_ip, stores=cfg.stores, ctx=ctx)
        if cfg.stores
        else ()
    )
    ahead = None
    if shared.lookahead is not None:  # ARI and CAA, within what is left of the deadline
        ahead = await look_ahead(
            target, diagnosis, shared.lookahead, memo=ctx.memo, as_of=ctx.as_of, deadline=deadline
        )
    support, hello = await _probe(target, hs, diagnosis, shared)
    # CT, lifetime and root programs, with the SCTs the prober read (TLS 1.2 and earlier:
    # cleartext) from the TLS extension and a verified stapled OCSP response, beside the
    # embedded ones.
    delivered: tuple[Sct, ...] = ()
    if hello:
        from scanner.x509.hello import stapled_scts  # the prober's: with --protocols only

        delivered = delivered_scts(hello.facts.sct_extension, stapled_scts(hello, diagnosis.path))
    browser, browser_findings = judge_browsers(
        hs.chain,
        host=target.host,
        is_ip=target.is_ip,
        diagnosis=diagnosis,
        ctx=ctx,
        extra_scts=delivered,
    )
    return Answer(
        target=target,
        handshake=hs,
        diagnosis=diagnosis,
        stores=stores,
        protocols=support,
        hello=hello,
        browser=browser,
        browser_findings=browser_findings,
        ahead=ahead,
    )


async def _probe(
    target: Target, hs: Handshake, diagnosis: Diagnosis, shared: _Shared
) -> tuple[ProtocolSupport | None, HelloReport | None]:
    """--protocols: the ClientHello prober's versions and facts (None, None otherwise)."""
    cfg = shared.config
    if cfg.protocols and hs.protocol == DIRECT_TLS:
        # The probes speak TLS at once, so a STARTTLS host is not probed (its columns stay
        # null). The probes, one after another, within a budget of their own (a slow handshake
        # or AIA fetch must not leave them no time): PROBE_TIMEOUTS times --timeout, as a
        # host's hellos are many round trips (tens; hundreds with --ciphers).
        budget = cfg.timeout * (CIPHERS_TIMEOUTS if cfg.ciphers else PROBE_TIMEOUTS)
        from scanner.run.clients import probe_protocols  # the prober: with --protocols only

        return await probe_protocols(
            target,
            hs,
            diagnosis,
            ciphers=cfg.ciphers,
            as_of=cfg.as_of,
            deadline=anyio.current_time() + budget,
            per_ip=shared.per_ip,
        )
    return None, None


async def _revocation(diagnosis: Diagnosis, shared: _Shared, deadline: float) -> Diagnosis:
    """Revocation of the built path: supplied CRLs, then fetched CRLs, then OCSP, within what
    is left of the host's deadline (the fetches themselves go on for the hosts behind)."""
    cfg = shared.config
    crls: dict[str, rv.Crl | str] = {}
    answers: dict[tuple[str, bytes], bytes | str] = {}
    evidence = rv.Evidence(files=cfg.crl_files, crls=crls, ocsp=answers)

    async def crl(url: str) -> None:
        crls[url] = await shared.revocation.crl(url)

    async def ocsp(url: str, request: bytes) -> None:
        answers[(url, request)] = await shared.revocation.ocsp(url, request)

    # The first judgement (nothing fetched for this host yet) is the same for every host with
    # this path: the scan's CRL files are fixed.
    ctx = shared.context
    judgement: rv.Judgement = ctx.memo.judgements.get(
        (diagnosis.path, ctx.as_of), lambda: rv.judge(diagnosis.path, ctx=ctx, evidence=evidence)
    )
    if not (judgement.wanted_crls or judgement.wanted_ocsp):
        return rv.apply(diagnosis, judgement)  # nothing to fetch: no deadline scope needed
    with anyio.move_on_at(deadline):
        for _ in range(REVOCATION_ROUNDS):
            if not (judgement.wanted_crls or judgement.wanted_ocsp):
                break
            async with anyio.create_task_group() as tg:
                for url in judgement.wanted_crls:
                    tg.start_soon(crl, url)
                for url, request in judgement.wanted_ocsp:
                    tg.start_soon(ocsp, url, request)
            judgement = rv.judge(diagnosis.path, ctx=ctx, evidence=evidence)
    late = f"no answer in time: no time left within the host's {cfg.timeout:g} s"
    while judgement.wanted_crls or judgement.wanted_ocsp:
        for url in judgement.wanted_crls:  # what came in before the deadline stays
            crls.setdefault(url, late)
        for key in judgement.wanted_ocsp:
            answers.setdefault(key, late)
        judgement = rv.judge(diagnosis.path, ctx=ctx, evidence=evidence)
    return rv.apply(diagnosis, judgement)


async def _scan(target: Target, shared: _Shared, address: str | None = None) -> Answer | ScanFailed:
    """Never raises (but for cancellation): any exception is our bug and becomes `internal`.
    With `address`, that address of the target only."""
    try:
        outcome = await capture(
            target,
            ctx=shared.ctx,
            resolver=shared.resolver,
            timeout=shared.config.timeout,
            per_ip=shared.per_ip,
            starttls=choose(shared.config.starttls, target.starttls, target.port),
            address=address,
        )
        match outcome:
            case CaptureFailure(error=error, detail=detail, address=failed_at, protocol=proto):
                return ScanFailed(
                    target=target, error=error, detail=detail, address=failed_at, protocol=proto
                )
            case Handshake():
                return await _answer(target, outcome, shared)
    except Exception as e:  # the per-host boundary: an escaping exception would cancel siblings
        return _internal(target, e, address)


def _result(answer: Answer | ScanFailed, extra: tuple[Finding, ...] = ()) -> ScanResult:
    """The host's result, assembled once (never raises, as `_scan`)."""
    if isinstance(answer, ScanFailed):
        return answer
    try:
        return assemble(answer, extra)
    except Exception as e:  # noqa: BLE001 - the per-host boundary, as in _scan
        return _internal(answer.target, e, answer.handshake.address)


async def scan_one(target: Target, shared: _Shared, address: str | None = None) -> ScanResult:
    """One target (with `address`, that address of it): never raises but for cancellation."""
    return _result(await _scan(target, shared, address))


def _internal(target: Target, e: Exception, address: str | None = None) -> ScanFailed:
    """The row of an exception no rule covers; running out of descriptors or memory is this
    machine's failure, not the host's: it stops the scan (ResourceError) instead."""
    if (cause := exhausted(e)) is not None:
        raise ResourceError(resource_message(cause)) from None
    return ScanFailed(
        target=target,
        error=ErrorCode.INTERNAL,
        detail=f"internal error (please report): {type(e).__name__}: {e}"[:500],
        address=address,
    )


async def scan_addresses(target: Target, shared: _Shared) -> list[ScanResult]:
    """`--addresses all`: one result per address of the target, scanned side by side, each
    within its own --timeout; a name that does not resolve is one `dns` result. The group is
    judged for consistency once complete (so its results travel together)."""
    try:
        resolved = await resolve_all(
            target, resolver=shared.resolver, timeout=shared.config.timeout
        )
    except Exception as e:  # noqa: BLE001 - the per-host boundary, as in scan_one
        return [_internal(target, e)]
    if isinstance(resolved, CaptureFailure):
        return [ScanFailed(target=target, error=resolved.error, detail=resolved.detail)]
    if len(resolved) == 1:
        return [await scan_one(target, shared, resolved[0])]
    answers: list[Answer | ScanFailed | None] = [None] * len(resolved)

    async def one(i: int, address: str) -> None:
        answers[i] = await _scan(target, shared, address)

    async with anyio.create_task_group() as tg:
        for i, address in enumerate(resolved):
            tg.start_soon(one, i, address)
    done = [a for a in answers if a is not None]
    # The backends finding goes on every answering row of the name; failed rows keep their own
    # error and are not counted as a leaf.
    finding = backends.check(
        target.host,
        target.port,
        [(a.handshake, a.diagnosis) for a in done if isinstance(a, Answer)],
    )
    extra = (finding,) if finding is not None else ()
    return [_result(a, extra) for a in done]


def resource_message(cause: OSError) -> str:
    return (
        f"this machine ran out of resources mid-scan ({cause.strerror or cause}); no host was "
        "marked failed for it. Lower --concurrency (or raise `ulimit -n`); --resume continues "
        "from the last checkpoint"
    )


def invalid_result(item: InvalidTarget) -> ScanFailed:
    return ScanFailed(target=item, error=ErrorCode.INVALID_INPUT, detail=item.detail)


async def scan_stream(
    items: Iterable[Target | InvalidTarget],
    config: ScanConfig,
    on_result: Callable[[ScanResult], Awaitable[object]],
    *,
    resolver: Resolver | None = None,
    stop: anyio.Event | None = None,
    in_flight: dict[int, float] | None = None,
    on_group: Callable[[tuple[ScanResult, ...]], Awaitable[object]] | None = None,
    in_flight_hosts: dict[int, str] | None = None,
) -> bool:
    """Scan every item, awaiting `on_result` for each in completion order (a bounded stream's
    `send` gives back-pressure: workers wait while the writer is behind).
    `in_flight`, when given, holds worker -> when its current host started (monotonic), so an
    interrupt can say what it waits for (and `in_flight_hosts` worker -> its host, what a second
    one abandons). With `--addresses all`, a target of several addresses
    goes to `on_group` at once (its rows are written together, so a checkpoint never splits
    it), or result by result when there is none.

    Returns False when `stop` was set before all items were started (an interrupted scan)."""
    resolver = resolver or SystemResolver()
    http = HttpFetcher(
        timeout=config.aia_timeout,
        allow_private=config.allow_private_fetch,
        resolver=resolver,
        purpose="AIA, CRL or OCSP fetch",
    )
    try:
        async with anyio.create_task_group() as background:
            shared = _Shared(
                config=config,
                ctx=client_context(),
                resolver=resolver,
                fetcher=AiaFetcher(http, enabled=config.aia, once=Once(aia_failed, background)),
                revocation=RevocationFetcher(
                    http, crl_max_bytes=config.crl_max_bytes, background=background
                ),
                per_ip=PerIpLimiter(config.per_ip) if config.per_ip else None,
                context=DiagnosisContext(
                    trust=config.trust,
                    as_of=config.as_of,
                    warn_days=config.warn_days,
                    memo=Memo(),
                    programs=config.programs,
                    log_list=config.log_list,
                    renew_at=config.renew_at,
                ),
                lookahead=lookahead(config, http),
            )
            completed = await _work(
                items, shared, on_result, stop, in_flight, on_group, in_flight_hosts
            )
            background.cancel_scope.cancel()  # fetches no host waits for any more
    finally:
        with anyio.CancelScope(shield=True):
            await http.aclose()
    return completed


async def _work(
    items: Iterable[Target | InvalidTarget],
    shared: _Shared,
    on_result: Callable[[ScanResult], Awaitable[object]],
    stop: anyio.Event | None,
    in_flight: dict[int, float] | None,
    on_group: Callable[[tuple[ScanResult, ...]], Awaitable[object]] | None = None,
    hosts: dict[int, str] | None = None,
) -> bool:
    # `concurrency` long-lived workers pull from one feed: no task or limiter token per host
    # (together ~0.1-0.3 ms of CPU per host on anyio 4, a tenth of the scan).
    feed = Feed(items)
    completed = True

    async def worker(number: int) -> None:
        nonlocal completed
        while (item := await feed.next()) is not None:  # each item goes to exactly one worker
            if stop is not None and stop.is_set():
                completed = False
                return
            if isinstance(item, InvalidTarget):
                await on_result(invalid_result(item))
                continue
            if in_flight is not None:
                in_flight[number] = time.monotonic()
            if hosts is not None:
                hosts[number] = item.host
            if shared.config.addresses is Addresses.FIRST:
                group = [await scan_one(item, shared)]
            else:
                group = await scan_addresses(item, shared)
            if in_flight is not None:
                del in_flight[number]
            if len(group) == 1:
                await on_result(group[0])
            elif on_group is not None:
                await on_group(tuple(group))
            else:
                for result in group:
                    await on_result(result)

    async with anyio.create_task_group() as workers:
        for number in range(shared.config.concurrency):
            workers.start_soon(worker, number)
    return completed
