"""Misbehaving peers on 127.0.0.1: servers that stall, drip, reset, answer with something that
is not TLS, or send certificates no client should have to take. For the tests, and for anyone
checking that one hostile host costs one row and at most one --timeout.

Raw-socket misbehaviour is written byte by byte; the ones that stop part-way through a real
handshake proxy a real TLS server and cut or slow its stream. Everything runs on one asyncio
loop in a background thread; `HostileLab.start()` is a context manager that tears it down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import random
import socket
import ssl
import struct
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scanner.testing.lab import (
    DAY,
    LOOPBACK,
    Issued,
    Pki,
    PrivateKey,
    _Loop,
    make_ca,
    server_context,
)

_log = logging.getLogger(__name__)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

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


# --- DER surgery, for the certificate OpenSSL takes and cryptography refuses ---------------


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def der_children(tlv: bytes) -> list[bytes]:
    """The TLVs inside one constructed TLV (definite lengths only)."""
    start = 2 + (tlv[1] & 0x7F if tlv[1] & 0x80 else 0)
    body, out, i = tlv[start:], [], 0
    while i < len(body):
        length, j = body[i + 1], i + 2
        if length & 0x80:
            k = length & 0x7F
            length, j = int.from_bytes(body[j : j + k], "big"), j + k
        out.append(body[i : j + length])
        i = j + length
    return out


def unparseable_certificate(issued: Issued, issuer: Issued) -> bytes:
    """`issued` re-signed by `issuer` with a notBefore UTCTime that has no seconds
    (`YYMMDDhhmmZ`): OpenSSL loads and sends it, cryptography's DER parser rejects it
    (RFC 5280 4.1.2.5.1 requires the seconds)."""
    fields = der_children(der_children(issued.der)[0])
    _, not_after = der_children(fields[4])
    not_before = issued.cert.not_valid_before_utc.strftime("%y%m%d%H%MZ").encode()
    fields[4] = der_tlv(0x30, der_tlv(0x17, not_before) + not_after)
    key = issuer.key
    # The signature algorithm appears in the TBS and outside it; both name the issuer's.
    if isinstance(key, rsa.RSAPrivateKey):
        alg = der_tlv(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00"  # sha256WithRSA
    else:
        alg = der_tlv(0x06, bytes.fromhex("2a8648ce3d040302"))  # ecdsa-with-SHA256
    fields[2] = der_tlv(0x30, alg)
    tbs = der_tlv(0x30, b"".join(fields))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return der_tlv(0x30, tbs + fields[2] + der_tlv(0x03, b"\x00" + signature))


def pem(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )


# --- handlers -----------------------------------------------------------------------------


async def _read_record(reader: asyncio.StreamReader) -> bytes:
    """One TLS record (5-byte header + body)."""
    header = await reader.readexactly(5)
    (length,) = struct.unpack("!H", header[3:5])
    return header + await reader.readexactly(length)


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


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


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _until_eof(reader)


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


async def _hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _until_eof(reader)


# --- the lab ------------------------------------------------------------------------------


@dataclass
class _LoopThread(_Loop):
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
        return server_context(b"".join(pem(d) for d in chain), key, Path(self._tmp.name))

    async def _build(self) -> None:
        pki, a, loop = self.pki, self.pki.as_of, self._loop
        inter = pki.intermediate
        good = pki.leaf([f"*.{GOOD_DOMAIN}", GOOD_DOMAIN])
        good_ctx = self._tls_context([good.der, inter.der], good.key)
        self.good_port = await loop.serve(_hold_open, good_ctx)
        # The proxies' backend: a second real server, so proxied traffic never competes with
        # the good hosts' server for its accept queue.
        backend_port = await loop.serve(_hold_open, good_ctx)

        def case(kind: Kind, port: int, error: str | None, detail: str, **kw: Any) -> None:
            self.cases[kind] = Case(kind=kind, port=port, error=error, detail=detail, **kw)

        within = "no answer within"
        case(Kind.SILENT, await loop.serve(_silent), "timeout", within)
        for kind, mode in (
            (Kind.HELLO_THEN_STALL, "stall"),
            (Kind.DRIP, "drip"),
        ):
            case(kind, await loop.serve(_proxy(backend_port, mode)), "timeout", within)
        case(
            Kind.CLOSE_MID_HANDSHAKE,
            await loop.serve(_proxy(backend_port, "close")),
            "tls",
            "closed the connection during the handshake",
        )
        case(
            Kind.RESET_AFTER_HELLO,
            await loop.serve(_reset_after_hello),
            "tls",
            "reset the connection",
        )
        noise = random.Random(5).randbytes(4096)
        case(Kind.RANDOM_BYTES, await loop.serve(_reply(noise)), "tls", "does not speak TLS")
        case(
            Kind.HTTP_RESPONSE,
            await loop.serve(_reply(HTTP_RESPONSE)),
            "tls",
            "does not speak TLS",
        )
        case(
            Kind.SSH_BANNER,
            await loop.serve(_reply(SSH_BANNER, first=True)),
            "tls",
            "does not speak TLS",
        )
        case(Kind.TLS_ALERT, await loop.serve(_reply(TLS_ALERT)), "tls", "handshake_failure")

        # Sixty certificates: leaf, then 59 intermediates up to the trusted root.
        issuer = pki.root
        cas: list[Issued] = []
        for i in range(LONG_CHAIN - 1):
            issuer = make_ca(
                f"Hostile Chain CA {i + 1}",
                issuer=issuer,
                not_before=a - 100 * DAY,
                not_after=a + 1000 * DAY,
            )
            cas.append(issuer)
        leaf = pki.leaf([f"*.{HOSTILE_DOMAIN}"], issuer=issuer)
        chain = [leaf.der] + [c.der for c in reversed(cas)]
        case(
            Kind.LONG_CHAIN,
            await loop.serve(_hold_open, self._tls_context(chain, leaf.key)),
            None,
            "no path to a root within",
            finding="issuer_not_found",
        )

        # A 1 MiB certificate: an unrecognised, non-critical extension of that size.
        huge = pki.leaf([f"*.{HOSTILE_DOMAIN}"], issuer=inter)
        builder = (
            x509.CertificateBuilder()
            .subject_name(huge.cert.subject)
            .issuer_name(inter.cert.subject)
            .public_key(huge.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(a - DAY)
            .not_valid_after(a + 100 * DAY)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x00" * HUGE_CERT_BYTES
                ),
                critical=False,
            )
        )
        huge_cert = builder.sign(inter.key, hashes.SHA256())
        huge_der = huge_cert.public_bytes(serialization.Encoding.DER)
        case(
            Kind.HUGE_CERTIFICATE,
            await loop.serve(_hold_open, self._tls_context([huge_der, inter.der], huge.key)),
            "tls",
            "EXCESSIVE_MESSAGE_SIZE",  # OpenSSL clients take 100 KiB of certificates at most
        )

        odd = pki.leaf([f"*.{HOSTILE_DOMAIN}"])
        odd_der = unparseable_certificate(odd, inter)
        case(
            Kind.UNPARSEABLE_CERTIFICATE,
            await loop.serve(_hold_open, self._tls_context([odd_der, inter.der], odd.key)),
            None,
            "cannot be parsed",
            finding="unparseable_certificate",
        )
        self.unparseable_der = odd_der

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
            w(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        elif path in self.files:
            body = self.files[path]
            w(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n")
            w(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        else:
            w(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    def tls(self, chain: Sequence[bytes], key: PrivateKey) -> int:
        """Also serve `chain` (DER, leaf first) over TLS on a port of its own."""
        assert self._loop is not None and self._tmp is not None
        ctx = server_context(b"".join(pem(d) for d in chain), key, Path(self._tmp.name))
        return int(self._loop.run(self._loop.serve(_hold_open, ctx)))

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
