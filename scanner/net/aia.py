"""Fetching missing issuers from caIssuers URLs (RFC 5280 4.2.2.1): bounded and cached.

The limits are `HttpFetcher`'s (http(s) only, capped redirects and size, the private-address
guard); one fetch per URL, shared by every host. A success is kept for the run; a failure is
kept only for `AIA_FAILURE_TTL` seconds, so a blip of the CA's server at 02:00 does not fail
every later host of that CA, and a quick transient failure is tried once more at once. Every
failure, a malformed URL included, is a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scanner.model.types import AiaResult
from scanner.net.fetch import INTERNAL_ERROR, FetchRefused, HttpFetcher, Once
from scanner.x509.chainfile import parse_issuers

AIA_RETRIES = 1  # further tries of a quick transient failure (FetchRefused.transient)
AIA_FAILURE_TTL = 60.0  # seconds a failed fetch is remembered before a host tries it again


class AiaFetcher:
    def __init__(
        self,
        http: HttpFetcher,
        *,
        enabled: bool = True,
        max_bytes: int = 64 * 1024,
        once: Once[AiaResult] | None = None,
        failure_ttl: float = AIA_FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.enabled = enabled
        self.max_bytes = max_bytes
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._once = once or Once(aia_failed)
        self._failed: dict[str, float] = {}  # url -> when its fetch failed (clock)

    async def fetch(self, url: str) -> AiaResult:
        """The cached result for `url`: fetched once, concurrent callers waiting for it; a
        failure older than `failure_ttl` is fetched again."""
        failed = self._failed.get(url)
        if failed is not None and self._clock() - failed >= self.failure_ttl:
            del self._failed[url]
            self._once.forget(url)
        return await self._once.get(url, lambda: self._fetch_uncached(url))

    async def _fetch_uncached(self, url: str) -> AiaResult:
        result = await self._fetch_now(url)
        if result.error is not None and self.enabled:
            self._failed[url] = self._clock()
        return result

    async def _fetch_now(self, url: str) -> AiaResult:
        if not self.enabled:
            return AiaResult(url=url, error="AIA fetching is off (--no-aia)")
        for tries_left in range(AIA_RETRIES, -1, -1):
            try:
                body = await self.http.get(url, max_bytes=self.max_bytes)
                break
            except FetchRefused as e:
                if not (e.transient and tries_left):
                    return AiaResult(url=url, error=str(e))
        try:
            return AiaResult(url=url, certificates=parse_issuers(body))
        except ValueError as e:
            return AiaResult(url=url, error=str(e))


def aia_failed(url: object, e: Exception) -> AiaResult:
    return AiaResult(url=str(url), error=f"{INTERNAL_ERROR}: {type(e).__name__}: {e}"[:300])
