"""Fetching missing issuers from caIssuers URLs (RFC 5280 4.2.2.1): bounded and cached.

The limits are `HttpFetcher`'s (http(s) only, capped redirects and size, the private-address
guard); one fetch per URL per run, shared by every host. Every failure, a malformed URL
included, is a result.
"""

from __future__ import annotations

from scanner.model.types import AiaResult
from scanner.net.fetch import INTERNAL_ERROR, FetchRefused, HttpFetcher, Once
from scanner.x509.chainfile import parse_issuers


class AiaFetcher:
    def __init__(
        self,
        http: HttpFetcher,
        *,
        enabled: bool = True,
        max_bytes: int = 64 * 1024,
        once: Once[AiaResult] | None = None,
    ) -> None:
        self.http = http
        self.enabled = enabled
        self.max_bytes = max_bytes
        self._once = once or Once(aia_failed)

    async def fetch(self, url: str) -> AiaResult:
        """The cached result for `url`, fetching it once per run; concurrent callers wait."""
        return await self._once.get(url, lambda: self._fetch_uncached(url))

    async def _fetch_uncached(self, url: str) -> AiaResult:
        if not self.enabled:
            return AiaResult(url=url, error="AIA fetching is off (--no-aia)")
        try:
            body = await self.http.get(url, max_bytes=self.max_bytes)
        except FetchRefused as e:
            return AiaResult(url=url, error=str(e))
        try:
            return AiaResult(url=url, certificates=parse_issuers(body))
        except ValueError as e:
            return AiaResult(url=url, error=str(e))


def aia_failed(url: object, e: Exception) -> AiaResult:
    return AiaResult(url=str(url), error=f"{INTERNAL_ERROR}: {type(e).__name__}: {e}"[:300])
