"""What a hello plan offers and asks: the groups and suite orders it offers, the Offer for one
version, the Probe it yields, its configuration, and the suite an outcome chose. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model.suites import SUITES, Protocol, suites_for
from scanner.net.hello.codec import Offer, SSL2ClientHello
from scanner.net.hello.outcome import Accepted, Outcome, Retried

X25519, SECP256R1, SECP384R1, SECP521R1, X448 = 0x001D, 0x0017, 0x0018, 0x0019, 0x001E
X25519MLKEM768 = 0x11EC

# Groups a TLS 1.3 client may name, classical first in a browser's order, then the rest.
TLS13_GROUPS = (
    X25519,
    SECP256R1,
    SECP384R1,
    SECP521R1,
    X448,
    0x0100,
    0x0101,
    0x0102,
    0x0103,
    0x0104,
    0x001F,
    0x0020,
    0x0021,
    X25519MLKEM768,
    0x11EB,
    0x11ED,
    0x0200,
    0x0201,
    0x0202,
)
# Curves of TLS 1.2 ECDHE (RFC 8422 5.1.1, RFC 7027 brainpool).
TLS12_GROUPS = (X25519, SECP256R1, SECP384R1, SECP521R1, X448, 0x001A, 0x001B, 0x001C)
CLASSIC_GROUPS = (X25519, SECP256R1, SECP384R1, SECP521R1)
PQ_GROUPS = (X25519MLKEM768, X25519, SECP256R1, SECP384R1, SECP521R1, 0x0100, 0x0101)

LEGACY = (Protocol.TLS1_2, Protocol.TLS1_1, Protocol.TLS1_0, Protocol.SSL3)
ECDHE_KX = frozenset({"ECDH"})


def _rank(code: int) -> tuple[int, int, int]:
    """Strong suites first (fewest weak classes, AEAD, most bits): a server that follows the
    client's order then picks what a browser would get."""
    s = SUITES[code]
    return (len(s.classes), 0 if s.mac == "AEAD" else 1, -s.bits)


def ordered_suites(version: Protocol) -> tuple[int, ...]:
    return tuple(sorted(suites_for(version), key=_rank))


ORDERED: dict[Protocol, tuple[int, ...]] = {
    v: ordered_suites(v) for v in Protocol if v is not Protocol.SSL2
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    purpose: str  # what it asks, for error details ("tls1_1", "groups", "pq_kex", ...)
    hello: Offer | SSL2ClientHello
    segment: int = 0  # write the hello in pieces of this many bytes (0: at once)
    read_flight: bool = False  # read an accepted TLS 1.2 answer through ServerHelloDone


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanConfig:
    sni: str | None  # the name to send (None for an IP target)
    ciphers: bool = False  # enumerate every accepted suite (`--ciphers`)
    large_hello: int = 1800  # bytes: Chrome's X25519MLKEM768 hello is about this size
    segment: int = 1200  # bytes per TCP segment for the large hello (under a 1280-byte MTU)
    # Cheaper plans (each hello costs about a third of a full TLS handshake in client CPU):
    # weak classes at the highest version below TLS 1.3 only (lower versions: None), and
    # no group enumeration (groups None).
    classes_every_version: bool = True
    groups: bool = True


def offer_for(
    version: Protocol,
    suites: tuple[int, ...],
    sni: str | None,
    *,
    groups: tuple[int, ...] | None = None,
    key_shares: tuple[int, ...] = (X25519,),
) -> Offer:
    if version is Protocol.TLS1_3:
        return Offer(
            versions=(Protocol.TLS1_3,),
            suites=suites,
            groups=TLS13_GROUPS if groups is None else groups,
            key_shares=key_shares,
            sni=sni,
        )
    return Offer(
        versions=(version,),
        suites=suites,
        groups=TLS12_GROUPS if groups is None else groups,
        sni=sni,
        extensions=version is not Protocol.SSL3,
    )


def chosen(outcome: Outcome, version: Protocol) -> int | None:
    """The suite the server chose at exactly this version, if it did."""
    if isinstance(outcome, Accepted) and outcome.version == version:
        return outcome.suite
    if isinstance(outcome, Retried) and version is Protocol.TLS1_3:
        return outcome.suite
    return None
