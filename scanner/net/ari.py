"""Asking a CA for ACME Renewal Information (RFC 9773): its directory's `renewalInfo` URL,
then the suggested window of each distinct leaf, through the guarded `HttpFetcher` (size,
redirects, private addresses), once per run, honouring Retry-After. Every failure is a result.

Retry-After (RFC 9110 10.2.3, RFC 9773 4.3): on a 200 it is the CA's next-check hint, kept in
the result; on a refusal (429, 503) a short wait (up to `max_wait`) is waited once, and a
longer one stops every request to that CA's origin until it has passed, for the rest of the run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from cryptography import x509

from scanner.net.fetch import INTERNAL_ERROR, FetchRefused, HttpFetcher, Once
from scanner.x509 import ari
from scanner.x509.ari import Invalid, Window

# An ACME directory and a renewalInfo object are well under a kilobyte.
MAX_BYTES = ari.MAX_BODY
MAX_WAIT = 5.0  # seconds a Retry-After on a refusal is waited within a host's deadline
MAX_REMEMBERED = 100_000  # answers (and directories) kept per run; the oldest go first

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True, kw_only=True)
class AriOk:
    cert_id: str
    url: str
    window: Window
    retry_after: dt.timedelta | None = None  # when the CA suggests asking again


@dataclass(frozen=True, slots=True, kw_only=True)
class AriFailed:
    cert_id: str | None
    url: str | None
    reason: str


AriResult = AriOk | AriFailed


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _origin(url: str) -> str:
    import httpx  # (imported by the fetcher's first request, not with this module)

    try:
        u = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    return f"{u.scheme}://{u.host}:{u.port or (443 if u.scheme == 'https' else 80)}"


class AriClient:
    """One per run: caches directories and answers, remembers each origin's Retry-After."""

    def __init__(
        self,
        http: HttpFetcher,
        *,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        now: Callable[[], dt.datetime] = _utc_now,  # for a Retry-After given as a date
    ) -> None:
        self.http = http
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._directories: Once[str | Invalid] = Once(
            lambda _k, e: Invalid(_internal(e)), limit=MAX_REMEMBERED
        )
        self._answers: Once[AriResult] = Once(_ari_failed, limit=MAX_REMEMBERED)
        self._not_before: dict[str, float] = {}  # origin -> clock time it may be asked again

    async def renewal_info(self, cert: x509.Certificate, directory_url: str) -> AriResult:
        """The suggested window for `cert` from the CA whose ACME directory is
        `directory_url`: asked once per run per (directory, leaf)."""
        cert_id = ari.cert_identifier(cert)
        if isinstance(cert_id, Invalid):
            return AriFailed(cert_id=None, url=None, reason=cert_id.reason)
        return await self._answers.get(
            (directory_url, cert_id), lambda: self._ask(directory_url, cert_id)
        )

    async def _ask(self, directory_url: str, cert_id: str) -> AriResult:
        base = await self._directories.get(directory_url, lambda: self._directory(directory_url))
        if isinstance(base, Invalid):
            return AriFailed(cert_id=cert_id, url=directory_url, reason=base.reason)
        url = ari.renewal_info_url(base, cert_id)
        got = await self._get(url)
        if isinstance(got, Invalid):
            return AriFailed(cert_id=cert_id, url=url, reason=got.reason)
        body, headers = got
        window = ari.parse_renewal_info(body)
        if isinstance(window, Invalid):
            return AriFailed(cert_id=cert_id, url=url, reason=window.reason)
        hint = ari.parse_retry_after(headers.get("retry-after"), self._now())
        return AriOk(cert_id=cert_id, url=url, window=window, retry_after=hint)

    async def _directory(self, url: str) -> str | Invalid:
        got = await self._get(url)
        if isinstance(got, Invalid):
            return Invalid(f"ACME directory {url[:200]}: {got.reason}")
        return ari.parse_directory(got[0])

    async def _get(self, url: str) -> tuple[bytes, httpx.Headers] | Invalid:
        origin = _origin(url)
        wait = self._not_before.get(origin, 0.0) - self._clock()
        if wait > 0:
            return Invalid(
                f"the CA asked to wait {wait:.0f} s more before the next request "
                "(Retry-After); not asked again in this run"
            )
        try:
            return await self.http.get_with_headers(url, max_bytes=MAX_BYTES)
        except FetchRefused as e:
            refused, seconds = self._refused(origin, e)
        if seconds is None or seconds > self.max_wait:
            return refused
        await self._sleep(seconds)
        try:
            return await self.http.get_with_headers(url, max_bytes=MAX_BYTES)
        except FetchRefused as e:
            return self._refused(origin, e)[0]

    def _refused(self, origin: str, e: FetchRefused) -> tuple[Invalid, float | None]:
        """The failure, and the Retry-After it carries in seconds (then remembered for the
        origin)."""
        delay = ari.parse_retry_after(e.retry_after, self._now())
        if delay is None:
            return Invalid(str(e)), None
        seconds = delay.total_seconds()
        self._not_before[origin] = self._clock() + seconds
        return Invalid(f"{e}; the CA asks to retry after {seconds:.0f} s"), seconds


def _internal(e: Exception) -> str:
    return f"{INTERNAL_ERROR}: {type(e).__name__}: {e}"[:300]


def _ari_failed(key: object, e: Exception) -> AriResult:
    return AriFailed(cert_id=None, url=None, reason=_internal(e))
