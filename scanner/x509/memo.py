"""What a scan remembers between hosts: fleets serve the same intermediates and roots
thousands of times, so parsing, signature checks, weakness and the verifier's answer for a
chain are worth keeping. One `Memo` per scan (or per check), passed in; bounded (FIFO)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cryptography import x509

from scanner.model.types import CertInfo
from scanner.x509 import certs

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


class Memo:
    """Per-scan memory of the certificate work that repeats across hosts."""

    def __init__(self, size: int = 8192) -> None:
        self.parsed: Bounded[bytes, x509.Certificate | None] = Bounded(size)
        self.infos: Bounded[bytes, CertInfo] = Bounded(size)
        self.signatures: Bounded[tuple[x509.Certificate, x509.Certificate], bool] = Bounded(
            size * 4
        )
        self.weakness: Bounded[x509.Certificate, tuple[str | None, str | None]] = Bounded(size)
        # The verifier's answer per (chain, trust store, as-of): see scanner.x509.verify.
        self.verdicts: Bounded[tuple[bytes, str, object], str | None] = Bounded(size // 2)

    def parse(self, der: bytes) -> x509.Certificate | None:
        return self.parsed.get(der, lambda: certs.try_parse(der))

    def info(self, der: bytes) -> CertInfo:
        return self.infos.get(der, lambda: certs.info(der, self.parse(der)))

    def signed_by(self, child: x509.Certificate, issuer: x509.Certificate) -> bool:
        return self.signatures.get((child, issuer), lambda: certs.signed_by(child, issuer))

    def self_signed(self, cert: x509.Certificate) -> bool:
        return cert.subject == cert.issuer and self.signed_by(cert, cert)
