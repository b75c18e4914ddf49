"""Misbehaving peers on 127.0.0.1: servers that stall, drip, reset, answer with something that
is not TLS, or send certificates no client should have to take. For the tests, and for anyone
checking that one hostile host costs one row and at most one --timeout.

Raw-socket misbehaviour is written byte by byte; the ones that stop part-way through a real
handshake proxy a real TLS server and cut or slow its stream. Everything runs on one asyncio
loop in a background thread; `HostileLab.start()` is a context manager that tears it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import socket
import ssl
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from scanner.testing.der import pem, unparseable_certificate
from scanner.testing.pki import DAY, Pki, PrivateKey, ca_ladder, huge_leaf
from scanner.testing.servers import (
    LOOPBACK,
    NOT_FOUND,
    Handler,
    Loop,
    hold_open,
    http_ok,
    http_redirect,
    server_context,
)

GOOD_DOMAIN = "good.hostile.test"
HOSTILE_DOMAIN = "hostile.test"
LONG_CHAIN = 60  # certificates sent, leaf included
HUGE_CERT_BYTES = 1024 * 1024
DRIP_INTERVAL = 1.0  # seconds between bytes
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"
# TLS 1.2 record: alert, fatal (2), handshake_failure (40).
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x28"
HTTP_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    b"Content-Length: 48\r\nConnection: close\r\n\r\n"
    b"<html><body>400 Bad Request</body></html>\r\n\r\n\r\n"
)


class Kind(StrEnum):
    SILENT = "silent"
    HELLO_THEN_STALL = "hello_then_stall"
    DRIP = "drip"
    RESET_AFTER_HELLO = "reset_after_hello"
    RANDOM_BYTES = "random_bytes"
    HTTP_RESPONSE = "http_response"
    SSH_BANNER = "ssh_banner"
    TLS_ALERT = "tls_alert"
    CLOSE_MID_HANDSHAKE = "close_mid_handshake"
    LONG_CHAIN = "long_chain"
    HUGE_CERTIFICATE = "huge_certificate"
    UNPARSEABLE_CERTIFICATE = "unparseable_certificate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One hostile server and what a correct scan says about a host pointed at it."""

    kind: Kind
    port: int
    error: str | None  # the row's error code, or None when a chain is captured
    detail: str  # a phrase of error_detail (error rows) or of the finding's message
    finding: str | None = None  # a finding code the ok row must carry


@dataclass(frozen=True, slots=True)
class Expect:
    error: str | None
    detail: str
    finding: str | None = None


_WITHIN = "no answer within"
_NOT_TLS = "does not speak TLS"
# What a correct scan says about a host of each kind, in the order the servers start.
EXPECTED: dict[Kind, Expect] = {
    Kind.SILENT: Expect("timeout", _WITHIN),
    Kind.HELLO_THEN_STALL: Expect("timeout", _WITHIN),
    Kind.DRIP: Expect("timeout", _WITHIN),
    Kind.CLOSE_MID_HANDSHAKE: Expect("tls", "closed the connection during the handshake"),
    Kind.RESET_AFTER_HELLO: Expect("tls", "reset the connection"),
    Kind.RANDOM_BYTES: Expect("tls", _NOT_TLS),
    Kind.HTTP_RESPONSE: Expect("tls", _NOT_TLS),
    Kind.SSH_BANNER: Expect("tls", _NOT_TLS),
    Kind.TLS_ALERT: Expect("tls", "handshake_failure"),
    Kind.LONG_CHAIN: Expect(None, "no path to a root within", "issuer_not_found"),
    # OpenSSL clients take 100 KiB of certificates at most.
    Kind.HUGE_CERTIFICATE: Expect("tls", "EXCESSIVE_MESSAGE_SIZE"),
    Kind.UNPARSEABLE_CERTIFICATE: Expect(None, "cannot be parsed", "unparseable_certificate"),
}


# --- handlers -----------------------------------------------------------------------------


async def _read_record(reader: asyncio.StreamReader) -> bytes:
    """One TLS record (5-byte header + body)."""
    header = await reader.readexactly(5)
    (length,) = struct.unpack("!H", header[3:5])
    return header + await reader.readexactly(length)


def _guarded(handler: Handler) -> Handler:
    """Peers going away mid-way are normal here; the writer is always closed."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    return run


async def _reset_after_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_record(reader)
    sock = writer.get_extra_info("socket")
    # SO_LINGER with a zero timeout turns close() into a RST.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _reply(payload: bytes, *, first: bool = False) -> Handler:
    """Send `payload` after the ClientHello (or at once, as SSH servers do), then close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not first:
            await _read_record(reader)
        writer.write(payload)
        await writer.drain()
        if first:
            await reader.read(65536)
            writer.write(b"Invalid SSH identification string.\r\n")
            await writer.drain()

    return handler


def _proxy(backend_port: int, mode: str) -> Handler:
    """Relay a real TLS server, misbehaving on the way back: `stall` after its first record
    (the ServerHello), `close` cleanly after it, or `drip` everything one byte at a time."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b_reader, b_writer = await asyncio.open_connection(LOOPBACK, backend_port)

        async def upstream() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    b_writer.write(data)
                    await b_writer.drain()

        up = asyncio.ensure_future(upstream())
        try:
            if mode == "drip":
                while byte := await b_reader.read(1):
                    writer.write(byte)
                    await writer.drain()
                    await asyncio.sleep(DRIP_INTERVAL)
            else:
                writer.write(await _read_record(b_reader))
                await writer.drain()
                if mode == "stall":
                    await up
        finally:
            up.cancel()
            with contextlib.suppress(BaseException):
                await up
            b_writer.close()

    return handler


def der_context(chain: Sequence[bytes], key: PrivateKey, tmp: Path) -> ssl.SSLContext:
    """`server_context` for a chain given as DER (which need not parse: OpenSSL sends it)."""
    return server_context(b"".join(pem(d) for d in chain), key, tmp)


# --- the lab ------------------------------------------------------------------------------


@dataclass
class _LoopThread(Loop):
    """The lab's server thread; plain-TCP handlers are guarded against the scanner hanging up."""

    name: str = "hostile"

    async def serve(
        self,
        handler: Handler,
        ctx: ssl.SSLContext | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> int:
        return await super().serve(handler if ctx else _guarded(handler), ctx, host=host, port=port)


class HostileLab:
    """A trusted server for good hosts (`*.good.hostile.test`) and one server per `Kind`.

    Certificates come from `pki` (the lab's private CA; trust `ca_pem`) and are dated
    relative to its as-of."""

    def __init__(self, pki: Pki, timeout: float) -> None:
        self.pki = pki
        self.timeout = timeout
        self.cases: dict[Kind, Case] = {}
        self.good_port = 0
        self.unparseable_der = b""  # the certificate the unparseable_certificate server sends
        self._loop = _LoopThread()
        self._tmp = tempfile.TemporaryDirectory(prefix="scanner-hostile-")

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, as_of: dt.datetime, *, pki: Pki | None = None, timeout: float = 2.0
    ) -> Iterator[HostileLab]:
        lab = cls(pki or Pki.create(as_of), timeout)
        lab._loop.start()
        try:
            lab._loop.run(lab._build())
            yield lab
        finally:
            lab._loop.stop()
            lab._tmp.cleanup()

    @property
    def ca_pem(self) -> bytes:
        return self.pki.root.pem

    def _tls_context(self, chain: Sequence[bytes], key: PrivateKey) -> ssl.SSLContext:
        return der_context(chain, key, Path(self._tmp.name))

    async def _build(self) -> None:
        pki, loop = self.pki, self._loop
        good = pki.leaf([f"*.{GOOD_DOMAIN}", GOOD_DOMAIN])
        good_ctx = self._tls_context([good.der, pki.intermediate.der], good.key)
        self.good_port = await loop.serve(hold_open, good_ctx)
        # The proxies' backend: a second real server, so proxied traffic never competes with
        # the good hosts' server for its accept queue.
        servers = self._servers(backend_port=await loop.serve(hold_open, good_ctx))
        for kind, expect in EXPECTED.items():
            handler, ctx = servers[kind]
            port = await loop.serve(handler, ctx)
            self.cases[kind] = Case(
                kind=kind,
                port=port,
                error=expect.error,
                detail=expect.detail,
                finding=expect.finding,
            )

    def _servers(self, backend_port: int) -> dict[Kind, tuple[Handler, ssl.SSLContext | None]]:
        """What serves each kind: a handler, and a TLS context for the ones that speak TLS."""
        noise = random.Random(5).randbytes(4096)
        return {
            Kind.SILENT: (hold_open, None),
            Kind.HELLO_THEN_STALL: (_proxy(backend_port, "stall"), None),
            Kind.DRIP: (_proxy(backend_port, "drip"), None),
            Kind.CLOSE_MID_HANDSHAKE: (_proxy(backend_port, "close"), None),
            Kind.RESET_AFTER_HELLO: (_reset_after_hello, None),
            Kind.RANDOM_BYTES: (_reply(noise), None),
            Kind.HTTP_RESPONSE: (_reply(HTTP_RESPONSE), None),
            Kind.SSH_BANNER: (_reply(SSH_BANNER, first=True), None),
            Kind.TLS_ALERT: (_reply(TLS_ALERT), None),
            Kind.LONG_CHAIN: (hold_open, self._long_chain()),
            Kind.HUGE_CERTIFICATE: (hold_open, self._huge_certificate()),
            Kind.UNPARSEABLE_CERTIFICATE: (hold_open, self._unparseable_certificate()),
        }

    def _long_chain(self) -> ssl.SSLContext:
        """Sixty certificates: leaf, then 59 intermediates up to the trusted root."""
        pki, a = self.pki, self.pki.as_of
        cas = ca_ladder(
            pki.root,
            LONG_CHAIN - 1,
            "Hostile Chain CA",
            not_before=a - 100 * DAY,
            not_after=a + 1000 * DAY,
        )
        leaf = pki.leaf([f"*.{HOSTILE_DOMAIN}"], issuer=cas[-1])
        return self._tls_context([leaf.der] + [c.der for c in reversed(cas)], leaf.key)

    def _huge_certificate(self) -> ssl.SSLContext:
        """A 1 MiB certificate: an unrecognised, non-critical extension of that size."""
        inter = self.pki.intermediate
        huge = huge_leaf(inter, f"*.{HOSTILE_DOMAIN}", HUGE_CERT_BYTES, as_of=self.pki.as_of)
        return self._tls_context([huge.der, inter.der], huge.key)

    def _unparseable_certificate(self) -> ssl.SSLContext:
        odd = self.pki.leaf([f"*.{HOSTILE_DOMAIN}"])
        self.unparseable_der = unparseable_certificate(odd, self.pki.intermediate)
        return self._tls_context([self.unparseable_der, self.pki.intermediate.der], odd.key)

    def good_rows(self, n: int, start: int = 0) -> list[dict[str, str]]:
        """`n` good hosts, distinct names sharing the good server through the ip column."""
        return [
            {
                "host": f"g{i}.{GOOD_DOMAIN}",
                "port": str(self.good_port),
                "ip": LOOPBACK,
                "kind": "good",
            }
            for i in range(start, start + n)
        ]

    def hostile_rows(self, n: int, kinds: Sequence[Kind] = tuple(Kind)) -> list[dict[str, str]]:
        """`n` hostile hosts, cycling through `kinds`."""
        rows = []
        for i in range(n):
            kind = kinds[i % len(kinds)]
            rows.append(
                {
                    "host": f"{kind.value.replace('_', '-')}-{i}.{HOSTILE_DOMAIN}",
                    "port": str(self.cases[kind].port),
                    "ip": LOOPBACK,
                    "kind": kind.value,
                }
            )
        return rows


# --- an AIA web server that misbehaves ----------------------------------------------------


class AiaServer:
    """caIssuers URLs on one HTTP server: `files` served as they are, plus `/stream` (a body
    that never ends), `/trickle` (one byte a second, forever), `/loop` (redirects to itself),
    `/to-ftp` and `/to-https` (redirects to another scheme) and `/gzip` (a compressed body).
    `hits` counts requests per path, to check one fetch per URL per run."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.hits: dict[str, int] = {}
        self.port = 0
        self._loop: _LoopThread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode("ascii", "replace")
        self.hits[path] = self.hits.get(path, 0) + 1
        w = writer.write
        if path == "/stream":
            w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"\x30" * 16384
            while True:
                w(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        elif path == "/trickle":
            w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while True:
                w(b"\x30")
                await writer.drain()
                await asyncio.sleep(DRIP_INTERVAL)
        elif path in ("/loop", "/to-ftp", "/to-https"):
            location = {
                "/loop": self.url("/loop"),
                "/to-ftp": f"ftp://{LOOPBACK}:{self.port}/intermediate.der",
                "/to-https": f"https://{LOOPBACK}:{self.port}/intermediate.der",
            }[path]
            w(http_redirect(location))
        elif path in self.files:
            w(http_ok(self.files[path], "application/pkix-cert"))
        else:
            w(NOT_FOUND)
        await writer.drain()

    def tls(self, chain: Sequence[bytes], key: PrivateKey) -> int:
        """Also serve `chain` (DER, leaf first) over TLS on a port of its own."""
        assert self._loop is not None and self._tmp is not None
        ctx = der_context(chain, key, Path(self._tmp.name))
        return int(self._loop.run(self._loop.serve(hold_open, ctx)))

    @classmethod
    @contextlib.contextmanager
    def start(cls, files: dict[str, bytes]) -> Iterator[AiaServer]:
        server = cls(files)
        server._loop = loop = _LoopThread()
        server._tmp = tempfile.TemporaryDirectory(prefix="scanner-aia-")
        loop.start()
        try:
            server.port = loop.run(loop.serve(server.handle))
            yield server
        finally:
            loop.stop()
            server._tmp.cleanup()
