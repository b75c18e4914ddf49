"""Bounded HTTP fetching for AIA, CRL and OCSP URLs named by certificates (untrusted input).

http and https only; redirects at most `max_redirects`, never to another scheme; a body larger
than its cap is dropped; no content decoding (no compression bombs); every hop's host resolved
here and the request sent to the checked address, so a certificate cannot steer the scanner
at its own surroundings (loopback, link-local cloud metadata...) unless `allow_private`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio
import anyio.to_thread
import dns.exception
from anyio.abc import TaskGroup

from scanner.net.resolve import Resolver, SystemResolver

if TYPE_CHECKING:  # httpx is imported with the first fetch: a scan that fetches nothing skips it
    import httpx

T = TypeVar("T")


# How a fetch's internal error (an exception of ours, caught) begins in a finding's message;
# scan.json counts such findings among its internal_errors.
INTERNAL_ERROR = "internal error (please report)"


class FetchRefused(Exception):
    """A fetch that was refused or failed; the message says why, for a finding. `transient`:
    a quick failure another try may not meet (connection refused or reset, a resolver's
    failure, HTTP 5xx or 429); never a refusal, a wrong answer or a timeout."""

    def __init__(
        self, message: str, *, transient: bool = False, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after  # the Retry-After header of a refusing answer, if any


def refused_address(address: str) -> str | None:
    """Why the scanner must not connect to `address` for a certificate's URL, or None.

    RFC 1918 ranges stay allowed (internal CAs live there). Refused: loopback, link-local
    (169.254.169.254 is the cloud metadata service), multicast, unspecified, shared CGNAT space
    100.64.0.0/10 (Alibaba's metadata service is 100.100.100.200) and IPv6 unique local
    fc00::/7 (AWS's is fd00:ec2::254, Oracle's fd20:ce::254). An IPv6 address that carries an
    IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by that IPv4 address too."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    why = _refused_kind(ip)
    if why is not None:
        return f"{ip} is {why} address (--allow-private-fetch allows it)"
    if isinstance(ip, ipaddress.IPv6Address):
        for form, v4 in _embedded_ipv4(ip):
            why = _refused_kind(v4)
            if why is not None:
                return (
                    f"{ip} reaches {v4} ({form}), {why} address (--allow-private-fetch allows it)"
                )
    return None


# Ranges refused beyond what the ipaddress properties name.
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # reaches this host on Linux
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")  # RFC 4193
# IPv6 forms that carry an IPv4 address (RFC 4291 2.5.5, RFC 6052, RFC 8215, RFC 3056).
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")


def _refused_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    for kind, hit in (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("an unspecified", ip.is_unspecified or ip in _THIS_NETWORK),
        ("a shared (CGNAT)", ip in _SHARED),
        ("a unique local", ip in _UNIQUE_LOCAL),
    ):
        if hit:
            return kind
    return None


def _rfc6052(ip: ipaddress.IPv6Address, prefix: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded after a NAT64 prefix of `prefix` bits (RFC 6052 2.2: bits
    64-71 are skipped)."""
    octets = ip.packed
    start = prefix // 8
    v4 = bytes(octets[i] for i in range(start, 16) if i != 8)[:4]
    return ipaddress.IPv4Address(v4)


def _embedded_ipv4(
    ip: ipaddress.IPv6Address,
) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address hands traffic to, with the form's name."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    last32 = ipaddress.IPv4Address(ip.packed[12:])
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in _COMPATIBLE:
        found.append(("IPv4-compatible", last32))
    if ip in _NAT64_WELL_KNOWN:
        found.append(("NAT64", last32))
    if ip in _NAT64_LOCAL:
        # A local-use NAT64 prefix may be any of RFC 6052's lengths inside the /48; a reading
        # that gives 0.0.0.0/8 is another length's zero padding, not an address.
        for n in (96, 64, 56, 48):
            v4 = _rfc6052(ip, n)
            if v4 not in _THIS_NETWORK:
                found.append(("NAT64", v4))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found.extend((("Teredo server", server), ("Teredo client", client)))
    return found


class HttpFetcher:
    """One HTTP client for a run's certificate URLs, with the limits above."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_redirects: int = 3,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        purpose: str = "AIA fetch",
        guard: Callable[[str], str | None] = refused_address,
    ) -> None:
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.allow_private = allow_private
        self.guard = guard  # why an address is refused, or None
        self._resolver = resolver or SystemResolver()
        self._purpose = purpose
        self._client: httpx.AsyncClient | None = None
        self._opening = anyio.Lock()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, url: str, *, max_bytes: int) -> bytes:
        return await self.request("GET", url, max_bytes=max_bytes)

    async def get_with_headers(self, url: str, *, max_bytes: int) -> tuple[bytes, httpx.Headers]:
        """`get`, with the final answer's headers (ACME's Retry-After)."""
        return await self._limited("GET", url, max_bytes, None, None)

    async def request(
        self,
        method: str,
        url: str,
        *,
        max_bytes: int,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> bytes:
        """The body of a 200 answer; raises FetchRefused (with the reason) for anything else,
        timeouts included (`timeout` covers resolution, redirects and the whole body)."""
        data, _ = await self._limited(method, url, max_bytes, body, content_type)
        return data

    async def _limited(
        self, method: str, url: str, max_bytes: int, body: bytes | None, content_type: str | None
    ) -> tuple[bytes, httpx.Headers]:
        client = await self._http()  # the first fetch imports httpx, in a worker thread
        import httpx

        try:
            with anyio.fail_after(self.timeout):
                return await self._follow(client, method, url, max_bytes, body, content_type)
        except TimeoutError:
            raise FetchRefused(f"no complete answer within {self.timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            transient = isinstance(e, httpx.TransportError) and not isinstance(
                e, httpx.TimeoutException
            )
            raise FetchRefused(f"{type(e).__name__}: {e}"[:300], transient=transient) from None
        except OSError as e:  # resolution failures of the system resolver
            raise FetchRefused(f"{type(e).__name__}: {e}"[:300], transient=True) from None

    async def _http(self) -> httpx.AsyncClient:
        """The client, made by the first fetch (in a worker thread: importing httpx and reading
        its CA bundle take about 0.15 s, which a scan that fetches nothing never pays)."""
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                self._client = await anyio.to_thread.run_sync(self._create)
        return self._client

    def _create(self) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.timeout,
            trust_env=False,  # no proxy from the environment: we check what we connect to
            headers={
                "User-Agent": f"tls-fleet-scanner ({self._purpose})",
                "Accept-Encoding": "identity",
            },
        )

    async def _follow(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        max_bytes: int,
        body: bytes | None,
        ctype: str | None,
    ) -> tuple[bytes, httpx.Headers]:
        scheme = _scheme(url)
        for _ in range(self.max_redirects + 1):
            if _scheme(url) != scheme or scheme not in ("http", "https"):
                raise FetchRefused(f"refused URL {url[:200]!r}: only http(s), same scheme")
            parsed = _check_url(url)
            address = await self._address(parsed)
            # Send to the address just checked; Host and SNI keep the name (RFC 9110 7.2).
            headers = {"Host": parsed.netloc.decode("ascii")}
            if ctype:
                headers["Content-Type"] = ctype
            target = parsed.copy_with(host=address)
            extensions = {"sni_hostname": _ascii_host(parsed)} if scheme == "https" else {}
            request = client.build_request(
                method, target, headers=headers, content=body, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = str(parsed.join(location))
                    if response.status_code not in (307, 308):  # RFC 9110 15.4: these keep it
                        method, body, ctype = "GET", None, None
                    continue
                if response.status_code != 200:
                    code = response.status_code
                    raise FetchRefused(
                        f"HTTP {code}",
                        transient=code >= 500 or code == 429,
                        retry_after=response.headers.get("retry-after"),
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(f"response larger than {max_bytes} bytes")
                data = bytearray()
                async for chunk in response.aiter_raw():
                    data += chunk
                    if len(data) > max_bytes:
                        raise FetchRefused(f"response larger than {max_bytes} bytes")
                return bytes(data), response.headers
            finally:
                await response.aclose()
        raise FetchRefused(f"more than {self.max_redirects} redirects")

    async def _address(self, url: httpx.URL) -> str:
        """The address to connect to for `url`'s host, refused when it is the scanner's own
        surroundings (checked on every hop, redirects included)."""
        host = _ascii_host(url)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self._resolver.resolve(host, url.port or 443)
            except (OSError, dns.exception.DNSException) as e:  # as classify's `dns` stage
                raise FetchRefused(
                    f"{host} does not resolve: {type(e).__name__}: {e}"[:300], transient=True
                ) from None
        if not addresses:
            raise FetchRefused(f"{host} has no address")
        address = addresses[0]
        if not self.allow_private:
            why = self.guard(address)
            if why is not None:
                raise FetchRefused(f"refused URL {str(url)[:200]!r}: {why}")
        return address


def _check_url(url: str) -> httpx.URL:
    """Refuse what httpx would fail on below its own error types (a port out of range)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise FetchRefused(f"refused URL {url[:200]!r}: {e}") from None
    if not parsed.host or not 0 < (parsed.port or 80) < 65536:
        raise FetchRefused(f"refused URL {url[:200]!r}: no host, or port out of range")
    return parsed


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


@dataclass(slots=True)
class _Pending(Generic[T]):
    done: anyio.Event
    result: T | None = None


class Once(Generic[T]):
    """One computation per key per run, shared by every host that asks.

    With a task group the computation runs there, not in the asking host's task: a host whose
    deadline runs out stops waiting, while the fetch carries on (within its own time cap) for
    the hosts behind it. Without one it runs in the caller's task and a cancelled caller
    leaves the key for the next one. With `limit`, at most that many finished results are
    kept: the oldest goes first (a key asked again after that is computed again)."""

    def __init__(
        self,
        failed: Callable[[object, Exception], T],
        background: TaskGroup | None = None,
        limit: int | None = None,
    ) -> None:
        self.failed = failed  # the result of a computation that raised (a bug of ours)
        self.background = background
        self.limit = limit
        self._cache: dict[object, _Pending[T]] = {}

    def forget(self, key: object) -> None:
        """Drop a finished computation's result: the next caller computes it again (callers
        waiting for one still running keep waiting for it)."""
        pending = self._cache.get(key)
        if pending is not None and pending.done.is_set():
            del self._cache[key]

    async def get(self, key: object, make: Callable[[], Awaitable[T]]) -> T:
        pending = self._cache.get(key)
        if pending is None:
            if self.limit is not None and len(self._cache) >= self.limit:
                self._evict()
            pending = self._cache[key] = _Pending(anyio.Event())
            if self.background is not None:
                self.background.start_soon(self._run, key, pending, make)
            else:
                await self._run(key, pending, make)
        await pending.done.wait()
        return pending.result if pending.result is not None else await self.get(key, make)

    def _evict(self) -> None:
        """Drop the oldest finished result (computations still running are never dropped)."""
        oldest = next((k for k, p in self._cache.items() if p.done.is_set()), None)
        if oldest is not None:
            del self._cache[oldest]

    def __len__(self) -> int:
        return len(self._cache)

    async def _run(
        self, key: object, pending: _Pending[T], make: Callable[[], Awaitable[T]]
    ) -> None:
        try:
            pending.result = await make()
        except Exception as e:  # in the background it would cancel the whole scan
            pending.result = self.failed(key, e)
        finally:
            if pending.result is None:  # cancelled: let the next caller try again
                del self._cache[key]
            pending.done.set()


def _ascii_host(url: httpx.URL) -> str:
    """The host as resolved and sent in SNI: the A-label form of an IDN (RFC 5890)."""
    return url.raw_host.decode("ascii")
