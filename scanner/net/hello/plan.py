"""Which hellos to send to one host, in which order, as a generator fed with outcomes (pure:
no sockets, no clock), and the facts it concludes. `probe.run` drives it over the network;
tests drive it with any function from Probe to Outcome.

The order (one probe after another, never two at once):
1. versions, highest first: TLS 1.3, TLS 1.2 .. SSL 3.0 (each offering every suite defined at
   it; a ServerHello for a lower version answers that version too, a protocol_version alert
   answers every lower one: no), then SSL 2.0 (its SERVER-HELLO lists every cipher kind the
   server has in common with the client);
2. weak classes per accepted version, by elimination: offer every suite of a class not yet
   seen; the suite chosen marks its classes accepted; a refusal clears the rest (at most one
   hello per class accepted, plus one);
3. with `ciphers`, every accepted suite per version, by elimination (the server's order when
   it has one), instead of 2;
4. named groups by elimination, starting from those the probes above saw chosen (not asked
   again): TLS 1.3 hellos with an empty key_share (RFC 8446 4.2.8) make the server name its
   group in a HelloRetryRequest; TLS 1.2 servers name the curve in ServerKeyExchange;
5. a browser's post-quantum hello (X25519MLKEM768 and x25519 shares, padded to a browser's
   size, written in several TCP segments; after the groups, as a middlebox that drops it
   silently holds it to the host's deadline): its answer gives pq_kex and large_hello_ok; when
   it goes unanswered, the same hello without the ML-KEM share and padding is the control;
6. server preference: two accepted suites offered in the reverse of the order the server
   chose from;
7. the leaf sent to a hello without SNI (TLS 1.2 and earlier: the Certificate is cleartext).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from scanner.model.hello import HelloFacts
from scanner.model.suites import GROUPS, SSL2_CIPHER_KINDS, SUITES, Protocol, WeakClass
from scanner.net.hello.codec import Offer, SSL2ClientHello
from scanner.net.hello.offers import (
    CLASSIC_GROUPS,
    ECDHE_KX,
    LEGACY,
    ORDERED,
    PQ_GROUPS,
    SECP256R1,
    SECP384R1,
    SECP521R1,
    TLS12_GROUPS,
    TLS13_GROUPS,
    X448,
    X25519,
    X25519MLKEM768,
    PlanConfig,
    Probe,
    chosen,
    offer_for,
    ordered_suites,
)
from scanner.net.hello.outcome import (
    Accepted,
    Failed,
    Outcome,
    RefusalKind,
    Refused,
    Retried,
    SSL2Accepted,
)

# Re-exported: the plan's vocabulary, defined in offers.py.
__all__ = [
    "CLASSIC_GROUPS",
    "ECDHE_KX",
    "LEGACY",
    "PQ_GROUPS",
    "SECP256R1",
    "SECP384R1",
    "SECP521R1",
    "TLS12_GROUPS",
    "TLS13_GROUPS",
    "X448",
    "X25519",
    "X25519MLKEM768",
    "Plan",
    "PlanConfig",
    "Probe",
    "drive",
    "ordered_suites",
    "plan",
]


@dataclass(slots=True)
class _Found:
    """What the plan has learned so far about one host; each stage reads it and adds to it."""

    sni: str | None
    versions: dict[Protocol, bool | None] = field(default_factory=dict)
    first: dict[Protocol, int] = field(default_factory=dict)  # chosen from all at a version
    seen: dict[Protocol, list[int]] = field(default_factory=dict)  # accepted suites found
    failures: list[str] = field(default_factory=list)
    chain: tuple[bytes, ...] | None = None
    ocsp: bytes | None = None
    sct: bytes | None = None
    flight_read: bool = False
    ssl2_kinds: tuple[int, ...] = ()
    groups: dict[Protocol, list[int]] = field(default_factory=dict)  # chosen by any probe

    def group(self, version: Protocol, group: int | None) -> None:
        """A group the server chose (key share, HelloRetryRequest, ServerKeyExchange)."""
        found = self.groups.setdefault(version, [])
        if group is not None and group not in found:
            found.append(group)

    def note(self, version: Protocol, suite: int) -> None:
        found = self.seen.setdefault(version, [])
        if suite not in found:
            found.append(suite)

    def fail(self, purpose: str, outcome: Failed) -> None:
        self.failures.append(f"{purpose}: {outcome.detail}")


PROTOCOL_VERSION = 70  # the alert (RFC 5246 7.2.2)

Plan = Generator[Probe, Outcome, HelloFacts]
_Steps = Generator[Probe, Outcome, None]


def plan(cfg: PlanConfig) -> Plan:
    """The probes for one host; send each its outcome; returns the facts."""
    f = _Found(sni=cfg.sni)
    yield from _versions(f)
    classes, suites = yield from _classes(cfg, f)
    groups = yield from _named_groups(cfg, f)
    pq_kex, large_ok = yield from _pq_kex(cfg, f)
    preference = yield from _preference(f)
    nosni_chain = yield from _nosni(f)
    return HelloFacts(
        versions={v: f.versions.get(v) for v in Protocol},
        classes=classes,
        groups=groups,
        pq_kex=pq_kex,
        large_hello_ok=large_ok,
        server_preference=preference,
        suites=suites,
        ssl2_kinds=f.ssl2_kinds,
        chain=f.chain,
        nosni_chain=nosni_chain,
        ocsp_response=f.ocsp,
        sct_extension=f.sct,
        flight_read=f.flight_read,
        failures=tuple(f.failures),
    )


# --- 1. versions ---------------------------------------------------------------------------


def _versions(f: _Found) -> _Steps:
    yield from _tls13(f)
    for v in LEGACY:
        # Answered already by a ServerHello for it to a higher probe: asked again only when
        # no chain has been read yet (it is then the highest version below TLS 1.3).
        if v in f.versions and (f.flight_read or f.versions[v] is False):
            continue
        yield from _legacy_version(v, f)
    yield from _ssl2(f)


def _tls13(f: _Found) -> _Steps:
    tls13 = Protocol.TLS1_3
    o = yield Probe(purpose="tls1_3", hello=offer_for(tls13, ORDERED[tls13], f.sni))
    if isinstance(o, Failed):
        f.versions[tls13] = None
        f.fail("tls1_3", o)
        return
    suite = chosen(o, tls13)
    f.versions[tls13] = suite is not None
    if suite is not None and isinstance(o, Accepted | Retried):
        f.first[tls13] = suite
        f.note(tls13, suite)
        f.group(tls13, o.group)


def _legacy_version(v: Protocol, f: _Found) -> _Steps:
    """One version below TLS 1.3; the first accepted one's flight gives the chain."""
    read = not f.flight_read
    o = yield Probe(purpose=v.column, hello=offer_for(v, ORDERED[v], f.sni), read_flight=read)
    if isinstance(o, Failed):
        f.versions[v] = f.versions.get(v) or None
        f.fail(v.column, o)
        return
    if isinstance(o, Refused) and o.kind is RefusalKind.VERSION and o.version:
        lower = _protocol(o.version)
        if lower is not None and lower < v and lower not in f.versions:
            f.versions[lower] = True
    if isinstance(o, Refused) and o.alert == PROTOCOL_VERSION:
        # RFC 5246 E.1: a server willing to use a version below this one answers with it; a
        # protocol_version alert says it speaks only higher ones (SSL 2.0 is still asked).
        for lower in LEGACY[LEGACY.index(v) + 1 :]:
            f.versions.setdefault(lower, False)
    suite = chosen(o, v)
    f.versions[v] = suite is not None
    if suite is None or not isinstance(o, Accepted):
        return
    f.first[v] = suite
    f.note(v, suite)
    f.group(v, o.group)
    if read and o.incomplete:
        f.failures.append(f"{v.column}: the certificate was not read: {o.incomplete}")
    elif read:
        f.flight_read = True
        f.chain, f.ocsp, f.sct = o.chain, o.ocsp_response, o.sct_extension


def _ssl2(f: _Found) -> _Steps:
    kinds = tuple(SSL2_CIPHER_KINDS)
    o = yield Probe(
        purpose="ssl2", hello=SSL2ClientHello(cipher_kinds=kinds, challenge=os.urandom(16))
    )
    if isinstance(o, Failed):
        f.versions[Protocol.SSL2] = None
        f.fail("ssl2", o)
        return
    f.versions[Protocol.SSL2] = isinstance(o, SSL2Accepted)
    if isinstance(o, SSL2Accepted):
        f.ssl2_kinds = o.cipher_kinds


# --- 2./3. weak classes, or every suite ----------------------------------------------------

_Classes = dict[Protocol, frozenset[WeakClass] | None]
_Suites = dict[Protocol, tuple[int, ...] | None]


def _classes(
    cfg: PlanConfig, f: _Found
) -> Generator[Probe, Outcome, tuple[_Classes, _Suites | None]]:
    classes: _Classes = {}
    suites: _Suites | None = {} if cfg.ciphers else None
    for v in (Protocol.TLS1_3, *LEGACY):
        if not f.versions.get(v):
            continue
        if suites is not None:
            found = yield from _every_suite(v, f)
            suites[v] = found
            classes[v] = (
                frozenset().union(*(SUITES[c].classes for c in found))
                if found is not None
                else None
            )
        elif v is Protocol.TLS1_3:
            classes[v] = frozenset()  # TLS 1.3 defines no suite of a weak class
        elif not cfg.classes_every_version and v is not next(
            x for x in LEGACY if f.versions.get(x)
        ):
            classes[v] = None  # asked at one version only
        else:
            classes[v] = yield from _weak_classes(v, f)
    if f.versions.get(Protocol.SSL2):
        classes[Protocol.SSL2] = frozenset().union(
            *(SSL2_CIPHER_KINDS[k].classes for k in f.ssl2_kinds if k in SSL2_CIPHER_KINDS)
        )
    return classes, suites


def _every_suite(v: Protocol, f: _Found) -> Generator[Probe, Outcome, tuple[int, ...] | None]:
    """Every accepted suite at a version, by elimination; None when a probe failed."""
    remaining = [c for c in ORDERED[v] if c != f.first.get(v)]
    found = [f.first[v]] if v in f.first else []
    while remaining:
        o = yield Probe(purpose=f"ciphers {v.column}", hello=offer_for(v, tuple(remaining), f.sni))
        suite = chosen(o, v)
        if isinstance(o, Failed):
            f.fail(f"ciphers {v.column}", o)
            return None
        if suite is None or suite not in remaining:
            break
        found.append(suite)
        remaining.remove(suite)
        f.note(v, suite)
    return tuple(found)


def _weak_classes(v: Protocol, f: _Found) -> Generator[Probe, Outcome, frozenset[WeakClass] | None]:
    """The weak classes accepted at a version, by elimination; None when a probe failed."""
    known: set[WeakClass] = set(SUITES[f.first[v]].classes) if v in f.first else set()
    unknown = set(WeakClass) - known
    for _ in range(len(WeakClass) + 1):
        offer = _of_classes(v, frozenset(unknown))
        if not offer:
            return frozenset(known)
        o = yield Probe(purpose=f"classes {v.column}", hello=offer_for(v, offer, f.sni))
        if isinstance(o, Failed):
            f.fail(f"classes {v.column}", o)
            return None
        suite = chosen(o, v)
        if suite is None:
            return frozenset(known)
        f.note(v, suite)
        known |= SUITES[suite].classes
        unknown -= SUITES[suite].classes
    return None


@functools.lru_cache(maxsize=512)
def _of_classes(v: Protocol, classes: frozenset[WeakClass]) -> tuple[int, ...]:
    """The suites at `v` in any of `classes` (hosts of a fleet ask the same questions)."""
    return tuple(c for c in ORDERED[v] if SUITES[c].classes & classes)


# --- 4. groups -----------------------------------------------------------------------------


def _named_groups(cfg: PlanConfig, f: _Found) -> Generator[Probe, Outcome, tuple[int, ...] | None]:
    if cfg.groups and f.versions.get(Protocol.TLS1_3):
        return (yield from _groups(Protocol.TLS1_3, f))
    if cfg.groups and any(f.versions.get(v) for v in LEGACY if v is not Protocol.SSL3):
        version = next(v for v in LEGACY if f.versions.get(v))
        return (yield from _groups(version, f))
    return None


# --- 5. post-quantum key exchange and large-hello tolerance --------------------------------


def _pq_kex(
    cfg: PlanConfig, f: _Found
) -> Generator[Probe, Outcome, tuple[bool | None, bool | None]]:
    """(pq_kex, large_hello_ok) from a browser's post-quantum hello."""
    if not (f.versions.get(Protocol.TLS1_3) or f.versions.get(Protocol.TLS1_2)):
        return None, None
    browser = Offer(
        versions=(Protocol.TLS1_3, Protocol.TLS1_2),
        suites=ORDERED[Protocol.TLS1_3] + ORDERED[Protocol.TLS1_2],
        groups=PQ_GROUPS,
        key_shares=(X25519MLKEM768, X25519),
        sni=f.sni,
        pad_to=cfg.large_hello,
    )
    o = yield Probe(purpose="pq_kex", hello=browser, segment=cfg.segment)
    if isinstance(o, Accepted | Retried):
        pq_kex = o.group is not None and o.group in GROUPS and GROUPS[o.group].pq
        if isinstance(o, Accepted) and o.version < Protocol.TLS1_3:
            pq_kex = False
        return pq_kex, True
    if isinstance(o, Refused) and o.kind is RefusalKind.ALERT:
        return None, True  # it read the hello and answered it
    large_ok = yield from _large_hello_control(browser, o, f)
    return None, large_ok


def _large_hello_control(
    browser: Offer, o: Outcome, f: _Found
) -> Generator[Probe, Outcome, bool | None]:
    """The browser hello went unanswered: intolerance if the same hello, small, is answered."""
    small = Offer(
        versions=browser.versions,
        suites=browser.suites,
        groups=CLASSIC_GROUPS,
        key_shares=(X25519,),
        sni=f.sni,
    )
    control = yield Probe(purpose="pq_kex control", hello=small)
    if isinstance(control, Accepted | Retried):
        f.failures.append(
            "large_hello: a browser-sized post-quantum hello went unanswered ("
            + (o.detail if isinstance(o, Failed) else "the server closed the connection")
            + "), the same hello without the ML-KEM share was answered"
        )
        return False
    if isinstance(o, Failed):
        f.fail("pq_kex", o)
    return None


# --- 6. server preference, at the highest version with suites to compare -------------------


def _preference(f: _Found) -> Generator[Probe, Outcome, bool | None]:
    for v in (*LEGACY, Protocol.TLS1_3):
        if not f.versions.get(v) or v not in f.first:
            continue
        s1 = f.first[v]
        others = [c for c in f.seen.get(v, []) if c != s1]
        if others:
            s2 = others[0]
        else:
            rest = tuple(c for c in ORDERED[v] if c != s1)
            o = yield Probe(purpose="server_preference", hello=offer_for(v, rest, f.sni))
            second = chosen(o, v)
            if isinstance(o, Failed):
                f.fail("server_preference", o)
                return None
            if second is None:
                continue  # one suite only at this version: try another version
            s2 = second
            f.note(v, s2)
        o = yield Probe(purpose="server_preference", hello=offer_for(v, (s2, s1), f.sni))
        picked = chosen(o, v)
        if isinstance(o, Failed):
            f.fail("server_preference", o)
        elif picked in (s1, s2):
            return picked == s1
        return None
    return None


# --- 7. the leaf without SNI ---------------------------------------------------------------


def _nosni(f: _Found) -> Generator[Probe, Outcome, tuple[bytes, ...] | None]:
    """The chain sent to a hello without SNI (TLS 1.2 and earlier: it is cleartext)."""
    if not f.sni:
        return f.chain
    if not f.flight_read:
        return None
    v = next(v for v in LEGACY if f.versions.get(v))
    o = yield Probe(purpose="nosni", hello=offer_for(v, ORDERED[v], None), read_flight=True)
    if isinstance(o, Accepted) and o.incomplete:
        f.failures.append(f"nosni: the certificate was not read: {o.incomplete}")
    elif isinstance(o, Accepted):
        return o.chain
    elif isinstance(o, Failed):
        f.fail("nosni", o)
    return None


def _groups(version: Protocol, f: _Found) -> Generator[Probe, Outcome, tuple[int, ...] | None]:
    """Named groups by elimination, those other probes saw chosen first (not offered again).
    TLS 1.3: an empty key_share makes the server name its choice in a HelloRetryRequest.
    TLS 1.2: ECDHE suites only; ServerKeyExchange names the curve."""
    tls13 = version is Protocol.TLS1_3
    got = list(f.groups.get(version, ()))
    left = [g for g in (TLS13_GROUPS if tls13 else TLS12_GROUPS) if g not in got]
    suites = ORDERED[version]
    if not tls13:
        suites = tuple(c for c in suites if SUITES[c].kx in ECDHE_KX)
    while left:
        offer = offer_for(version, suites, f.sni, groups=tuple(left), key_shares=())
        o = yield Probe(purpose="groups", hello=offer, read_flight=not tls13)
        if isinstance(o, Failed):
            f.failures.append(f"groups: {o.detail}")
            return None
        if tls13:
            group = o.group if isinstance(o, Retried) else None
        else:
            group = o.group if isinstance(o, Accepted) else None
        if group is None or group not in left:
            break
        got.append(group)
        left.remove(group)
    return tuple(got)


def _protocol(code: int) -> Protocol | None:
    try:
        return Protocol(code)
    except ValueError:
        return None


def drive(steps: Plan, answer: Callable[[Probe], Outcome]) -> tuple[HelloFacts, int]:
    """Run a plan with a synchronous answerer (tests, simulations); the facts and the number
    of hellos sent."""
    sent = 0
    try:
        probe = next(steps)
        while True:
            sent += 1
            probe = steps.send(answer(probe))
    except StopIteration as done:
        return done.value, sent
