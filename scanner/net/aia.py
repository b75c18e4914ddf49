"""Fetching missing issuers from caIssuers URLs (RFC 5280 4.2.2.1): bounded and cached.

http and https only; redirects at most `max_redirects`, never to another scheme; a response
larger than `max_bytes` is dropped; no content decoding (no compression bombs); one fetch per
URL per run, shared by every host. Every failure, a malformed URL included, is a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import httpx

from scanner.model.types import AiaResult
from scanner.x509.chainfile import parse_issuers


@dataclass(slots=True)
class _Pending:
    done: anyio.Event
    result: AiaResult | None = None


class AiaFetcher:
    def __init__(
        self,
        *,
        enabled: bool = True,
        timeout: float = 5.0,
        max_bytes: int = 64 * 1024,
        max_redirects: int = 3,
    ) -> None:
        self.enabled = enabled
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._cache: dict[str, _Pending] = {}
        self._client: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, url: str) -> AiaResult:
        """The cached result for `url`, fetching it once per run; concurrent callers wait."""
        pending = self._cache.get(url)
        if pending is None:
            pending = self._cache[url] = _Pending(anyio.Event())
            try:
                pending.result = await self._fetch_uncached(url)
            finally:
                if pending.result is None:  # cancelled: let the next caller try again
                    del self._cache[url]
                pending.done.set()
            return pending.result
        await pending.done.wait()
        return pending.result or await self.fetch(url)

    async def _fetch_uncached(self, url: str) -> AiaResult:
        if not self.enabled:
            return AiaResult(url=url, error="AIA fetching is off (--no-aia)")
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.timeout,
                trust_env=False,
                headers={
                    "User-Agent": "tls-fleet-scanner (AIA fetch)",
                    "Accept-Encoding": "identity",
                },
            )
        try:
            with anyio.fail_after(self.timeout):
                body = await self._get(url)
        except TimeoutError:
            return AiaResult(url=url, error=f"no complete answer within {self.timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            return AiaResult(url=url, error=f"{type(e).__name__}: {e}"[:300])
        except _FetchRefused as e:
            return AiaResult(url=url, error=str(e))
        try:
            return AiaResult(url=url, certificates=parse_issuers(body))
        except ValueError as e:
            return AiaResult(url=url, error=str(e))

    async def _get(self, url: str) -> bytes:
        assert self._client is not None
        scheme = _scheme(url)
        for _ in range(self.max_redirects + 1):
            if _scheme(url) != scheme or scheme not in ("http", "https"):
                raise _FetchRefused(f"refused URL {url[:200]!r}: only http(s), same scheme")
            _check_url(url)
            async with self._client.stream("GET", url) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = str(response.url.join(location))
                    continue
                if response.status_code != 200:
                    raise _FetchRefused(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _FetchRefused(f"response larger than {self.max_bytes} bytes")
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _FetchRefused(f"response larger than {self.max_bytes} bytes")
                return bytes(body)
        raise _FetchRefused(f"more than {self.max_redirects} redirects")


class _FetchRefused(Exception):
    pass


def _check_url(url: str) -> None:
    """Refuse what httpx would fail on below its own error types (a port out of range)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise _FetchRefused(f"refused URL {url[:200]!r}: {e}") from None
    if not parsed.host or not 0 < (parsed.port or 80) < 65536:
        raise _FetchRefused(f"refused URL {url[:200]!r}: no host, or port out of range")


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""
