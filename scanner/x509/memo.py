"""What a scan remembers between hosts: fleets serve the same intermediates and roots
thousands of times, so parsing, signature checks, weakness and the verifier's answer for a
chain are worth keeping. One `Memo` per scan (or per check), passed in; bounded (FIFO).

Certificates are remembered by identity: `parse` hands out one object per DER, and hashing a
certificate (its whole DER, every time) costs more than most answers it would look up."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from scanner.model.types import CertInfo
from scanner.x509 import certs

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
_SHA256 = hashes.SHA256()


@dataclass(slots=True)
class Stats:
    hits: int = 0
    misses: int = 0


class Bounded(Generic[K, V]):
    """A dict of at most `size` entries; the oldest goes first. Counts hits and misses."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stats = Stats()
        self._items: dict[K, V] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        try:
            value = self._items[key]
        except KeyError:
            self.stats.misses += 1
            value = compute()
            if len(self._items) >= self.size:
                del self._items[next(iter(self._items))]
            self._items[key] = value
            return value
        self.stats.hits += 1
        return value

    def __len__(self) -> int:
        return len(self._items)


class ByIdentity(Generic[V]):
    """Answers per certificate object (or pair of objects), keyed by `id` and holding the
    objects themselves, so an id is never reused while its entry lives."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stats = Stats()
        self._items: dict[object, tuple[object, object, V]] = {}

    def _store(self, key: object, a: object, b: object, value: V) -> V:
        self.stats.misses += 1
        if key not in self._items and len(self._items) >= self.size:
            del self._items[next(iter(self._items))]
        self._items[key] = (a, b, value)
        return value

    def one(self, obj: T, compute: Callable[[T], V]) -> V:
        entry = self._items.get(id(obj))
        if entry is not None and entry[0] is obj:
            self.stats.hits += 1
            return entry[2]
        return self._store(id(obj), obj, None, compute(obj))

    def pair(self, a: T, b: T, compute: Callable[[T, T], V]) -> V:
        key = (id(a), id(b))
        entry = self._items.get(key)
        if entry is not None and entry[0] is a and entry[1] is b:
            self.stats.hits += 1
            return entry[2]
        return self._store(key, a, b, compute(a, b))


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(_SHA256)


class Memo:
    """Per-scan memory of the certificate work that repeats across hosts."""

    def __init__(self, size: int = 8192) -> None:
        self.parsed: Bounded[bytes, x509.Certificate | None] = Bounded(size)
        self.infos: Bounded[bytes, CertInfo] = Bounded(size)
        self.signatures: ByIdentity[bool] = ByIdentity(size * 4)
        self.selfsigned: ByIdentity[bool] = ByIdentity(size)
        self.fingerprints: ByIdentity[bytes] = ByIdentity(size)
        # scanner.x509.rules.Weakness per certificate (typed Any: rules imports this module).
        self.weakness: ByIdentity[Any] = ByIdentity(size)
        # (SHA-256 hex, subject text, serial hex) of certificates findings name.
        self.names: ByIdentity[tuple[str, str, str]] = ByIdentity(size)
        # The verifier's answer per (chain, trust store, as-of): see scanner.x509.verify.
        self.verdicts: Bounded[tuple[bytes, str, object], str | None] = Bounded(size // 2)
        # The host-independent diagnosis of a chain (scanner.x509.diagnose.ChainFacts), per
        # (chain DER, trust store, as-of, warning days, offline); and a path's first
        # revocation judgement, before any fetch (scanner.run.pipeline), per (path DER, as-of)
        # in one scan, whose CRL files are fixed. Typed Any: this module sits below both.
        self.chains: Bounded[Hashable, Any] = Bounded(size // 8)
        self.judgements: Bounded[Hashable, Any] = Bounded(size // 8)
        # A path's CT facts (scanner.x509.browsers), per (path DER, extra SCTs, as-of, log
        # list): a fleet's hosts serving one certificate check its SCTs once.
        self.ct: Bounded[Hashable, Any] = Bounded(size // 8)
        # A path's whole browser view and findings when no --root-program is given (nothing
        # in it then depends on the host's name), per the same key and trust store.
        self.browsers: Bounded[Hashable, Any] = Bounded(size // 8)
        # (CRL URLs, OCSP URLs) a certificate names: see scanner.x509.revocation.judge.
        self.pointers: ByIdentity[tuple[tuple[str, ...], ...]] = ByIdentity(size)

    def parse(self, der: bytes) -> x509.Certificate | None:
        return self.parsed.get(der, lambda: certs.try_parse(der))

    def info(self, der: bytes) -> CertInfo:
        return self.infos.get(der, lambda: certs.info(der, self.parse(der)))

    def signed_by(self, child: x509.Certificate, issuer: x509.Certificate) -> bool:
        return self.signatures.pair(child, issuer, certs.signed_by)

    def self_signed(self, cert: x509.Certificate) -> bool:
        # Path building asks it of the same intermediates and roots for every host.
        return self.selfsigned.one(cert, certs.self_signed)

    def in_store(self, trust: certs.TrustStore, cert: x509.Certificate) -> bool:
        """`trust.contains(cert)` with the certificate's fingerprint remembered."""
        fp = self.fingerprints.one(cert, _fingerprint)
        return fp in trust.fingerprints
