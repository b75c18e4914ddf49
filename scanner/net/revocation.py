"""Fetching CRLs (RFC 5280 4.2.1.13, over HTTP GET) and OCSP answers (RFC 6960 A.1, HTTP
POST) with the limits of `HttpFetcher`; each URL (each OCSP request) once per run, shared by
every host; a CRL parsed once, in a worker thread, and kept only as its lookups need it."""

from __future__ import annotations

import anyio.to_thread
from anyio.abc import TaskGroup

from scanner.net.fetch import INTERNAL_ERROR, FetchRefused, HttpFetcher, Once
from scanner.x509.revocation import OCSP_CONTENT_TYPE, Crl, parse_crl

CRL_MAX_BYTES = 20 * 1024 * 1024
OCSP_MAX_BYTES = 64 * 1024  # a response names one certificate and maybe its responder's


class RevocationFetcher:
    def __init__(
        self,
        http: HttpFetcher,
        *,
        crl_max_bytes: int = CRL_MAX_BYTES,
        background: TaskGroup | None = None,
    ) -> None:
        self.http = http
        self.crl_max_bytes = crl_max_bytes
        self._crls: Once[Crl | str] = Once(_internal, background)
        self._ocsp: Once[bytes | str] = Once(_internal, background)

    async def crl(self, url: str) -> Crl | str:
        """The CRL at `url`, or why there is none."""
        return await self._crls.get(url, lambda: self._fetch_crl(url))

    async def ocsp(self, url: str, request: bytes) -> bytes | str:
        """The responder's answer to `request` (DER), or why there is none."""
        return await self._ocsp.get((url, request), lambda: self._post(url, request))

    async def _fetch_crl(self, url: str) -> Crl | str:
        try:
            body = await self.http.get(url, max_bytes=self.crl_max_bytes)
        except FetchRefused as e:
            reason = str(e)
            if reason.startswith("response larger"):
                reason += " (--crl-max-bytes)"
            return reason
        try:
            # A big CRL takes a second or more to parse: never on the event loop.
            return await anyio.to_thread.run_sync(parse_crl, body)
        except ValueError as e:
            return f"not a CRL ({e})"[:300]

    async def _post(self, url: str, request: bytes) -> bytes | str:
        try:
            return await self.http.request(
                "POST",
                url,
                body=request,
                content_type=OCSP_CONTENT_TYPE,
                max_bytes=OCSP_MAX_BYTES,
            )
        except FetchRefused as e:
            return str(e)


def _internal(key: object, e: Exception) -> str:
    return f"{INTERNAL_ERROR}: {type(e).__name__}: {e}"[:300]
