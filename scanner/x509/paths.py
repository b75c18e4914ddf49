"""Path building: from the leaf as sent to a trust anchor, through the trust store, the
certificates the server sent, and what AIA fetching returned (RFC 4158 in its simplest form:
one issuer per step, the trust store first). Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from cryptography import x509

from scanner.model.types import AiaResult
from scanner.x509 import certs
from scanner.x509.memo import Memo

MAX_DEPTH = 8
# caIssuers URLs tried per certificate: a certificate naming hundreds must not buy hundreds of
# fetches (each up to --aia-timeout).
MAX_AIA_URLS = 4


class Source(Enum):
    SENT = "sent"
    STORE = "store"
    AIA = "aia"


class End(Enum):
    ANCHORED = "anchored"  # reached a certificate of the trust store
    UNTRUSTED_ROOT = "untrusted_root"  # reached a self-signed certificate not in the store
    SELF_SIGNED_LEAF = "self_signed_leaf"
    ISSUER_NOT_FOUND = "issuer_not_found"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class Path:
    certs: tuple[x509.Certificate, ...]
    sources: tuple[Source, ...]
    end: End
    stuck_at: x509.Certificate | None = None  # whose issuer could not be found


@dataclass(frozen=True, slots=True)
class Chain:
    """The chain as sent, parsed; unparseable certificates kept as DER only."""

    der: tuple[bytes, ...]
    leaf: x509.Certificate | None
    intermediates: tuple[x509.Certificate, ...]
    unparseable: tuple[int, ...]  # positions in `der`
    digest: bytes  # SHA-256 over the length-prefixed DERs: the chain's key in a scan's Memo


def parse_chain(der: Sequence[bytes], memo: Memo) -> Chain:
    parsed = [memo.parse(d) for d in der]
    digest = hashlib.sha256()
    for d in der:
        digest.update(len(d).to_bytes(4, "big"))
        digest.update(d)
    return Chain(
        der=tuple(der),
        leaf=parsed[0] if parsed else None,
        intermediates=tuple(c for c in parsed[1:] if c is not None),
        unparseable=tuple(i for i, c in enumerate(parsed) if c is None),
        digest=digest.digest(),
    )


def _fetched_certs(
    fetched: Mapping[str, AiaResult], urls: Sequence[str], memo: Memo
) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for url in urls:
        result = fetched.get(url)
        if result is not None:
            out.extend(c for d in result.certificates if (c := memo.parse(d)) is not None)
    return out


def build_path(
    chain: Chain, trust: certs.TrustStore, fetched: Mapping[str, AiaResult], memo: Memo
) -> Path:
    """Follow issuers from the leaf: the trust store first (a cross-signed chain that reaches a
    trusted root is trusted), then what the server sent, then what AIA fetching returned."""
    assert chain.leaf is not None
    path = [chain.leaf]
    sources = [Source.SENT]
    current = chain.leaf
    if memo.self_signed(current):
        end = End.ANCHORED if memo.in_store(trust, current) else End.SELF_SIGNED_LEAF
        return Path(tuple(path), tuple(sources), end)
    for _ in range(MAX_DEPTH):
        if memo.in_store(trust, current) and len(path) > 1:
            return Path(tuple(path), tuple(sources), End.ANCHORED)
        candidates: list[tuple[x509.Certificate, Source]] = [
            (c, Source.STORE) for c in trust.issuers_of(current)
        ]
        candidates += [(c, Source.SENT) for c in chain.intermediates]
        if fetched:  # skip reading the AIA extension when nothing was fetched
            candidates += [
                (c, Source.AIA)
                for c in _fetched_certs(fetched, certs.ca_issuers_urls(current), memo)
            ]
        issuer = None
        for cand, source in candidates:
            if any(cand is p for p in path) and not memo.self_signed(cand):
                continue
            if memo.signed_by(current, cand):
                issuer = (cand, source)
                break
        if issuer is None:
            return Path(tuple(path), tuple(sources), End.ISSUER_NOT_FOUND, stuck_at=current)
        cand, source = issuer
        if source is Source.STORE:
            path.append(cand)
            sources.append(source)
            return Path(tuple(path), tuple(sources), End.ANCHORED)
        if memo.self_signed(cand):
            path.append(cand)
            sources.append(source)
            end = End.ANCHORED if memo.in_store(trust, cand) else End.UNTRUSTED_ROOT
            return Path(tuple(path), tuple(sources), end)
        path.append(cand)
        sources.append(source)
        current = cand
    return Path(tuple(path), tuple(sources), End.TOO_LONG, stuck_at=current)


def aia_wanted(path: Path, fetched: Mapping[str, AiaResult]) -> tuple[str, ...]:
    """caIssuers URLs that could complete the path and have not been fetched yet."""
    if path.end is not End.ISSUER_NOT_FOUND or path.stuck_at is None:
        return ()
    urls = certs.ca_issuers_urls(path.stuck_at)[:MAX_AIA_URLS]
    return tuple(
        u for u in urls if u not in fetched and u.lower().startswith(("http://", "https://"))
    )
