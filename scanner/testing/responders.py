"""CRL and OCSP servers on 127.0.0.1 for the tests: CRL files served as they are (or one byte
a second), and OCSP responders (RFC 6960 A.1, HTTP POST) that answer through a function of the
request, which may misbehave: never answer, refuse, sign with the wrong key, name another serial.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from scanner.testing.lab import LOOPBACK, Issued, PrivateKey, _hold_open, _Loop, server_context

DRIP_INTERVAL = 1.0
# An OCSP responder: the request in, the DER response out (None: never answer).
Responder = Callable[[ocsp.OCSPRequest], bytes | None]


def ocsp_response(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    signer: x509.Certificate,
    signer_key: PrivateKey,
    status: ocsp.OCSPCertStatus,
    *,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked_at: dt.datetime | None = None,
    reason: x509.ReasonFlags | None = None,
    include: Sequence[x509.Certificate] = (),
) -> bytes:
    """A signed OCSP response about `cert`, identifying its signer by key hash."""
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash every responder uses
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
    )
    if include:
        builder = builder.certificates(list(include))
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


@dataclass
class RevocationServer:
    files: dict[str, bytes] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # paths served one byte a second
    responders: dict[str, Responder] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    hits: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _loop: _Loop | None = None

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("ascii", "replace")
            self.hits[path] = self.hits.get(path, 0) + 1
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if path in self.redirects:
                location = self.redirects[path]
                status = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n"
                writer.write(status.encode() + b"Content-Length: 0\r\n\r\n")
            elif path in self.responders:
                answer = self.responders[path](ocsp.load_der_ocsp_request(body))
                if answer is None:
                    await asyncio.sleep(3600)
                    return
                await self._send(writer, answer, "application/ocsp-response")
            elif path in self.files:
                data = self.files[path]
                if path in self.slow:
                    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode())
                    for i in range(len(data)):
                        writer.write(data[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(DRIP_INTERVAL)
                else:
                    await self._send(writer, data, "application/pkix-crl")
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes, ctype: str) -> None:
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    def tls(self, chain: Sequence[Issued], tmp: str) -> int:
        """Also serve `chain` over TLS on a port of its own."""
        assert self._loop is not None
        ctx = server_context(b"".join(c.pem for c in chain), chain[0].key, Path(tmp))
        return int(self._loop.run(self._loop.serve(_hold_open, ctx)))

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[RevocationServer]:
        server = cls()
        server._loop = loop = _Loop(name="revocation")
        loop.start()
        try:
            server.port = int(loop.run(loop.serve(server.handle)))
            yield server
        finally:
            loop.stop()


# --- CRLs written byte by byte --------------------------------------------------------------


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def der_entry(serial: bytes, when: bytes = b"260520000000Z", reason: int | None = 1) -> bytes:
    """One revokedCertificates entry (RFC 5280 5.1.2.6): `serial` as the INTEGER's content
    octets, written as given (so a test can add leading zero bytes no builder would write)."""
    ext = b""
    if reason is not None:
        crl_reason = bytes.fromhex("0603551d15") + _der(0x04, bytes([0x0A, 1, reason]))
        ext = _der(0x30, _der(0x30, crl_reason))
    return _der(0x30, _der(0x02, serial) + _der(0x17, when) + ext)


def der_crl(
    issuer: Issued,
    entries: Sequence[bytes],
    *,
    this_update: bytes = b"260501000000Z",
    next_update: bytes = b"260701000000Z",
) -> bytes:
    """A CRL signed by `issuer` (RSA or EC, SHA-256) with these entries, written directly:
    cryptography's builder takes minutes for the half a million entries of a 20 MiB CRL, and
    normalises serials."""
    key = issuer.key
    if isinstance(key, rsa.RSAPrivateKey):
        alg = _der(0x30, bytes.fromhex("06092a864886f70d01010b") + b"\x05\x00")
    else:
        alg = _der(0x30, bytes.fromhex("06082a8648ce3d040302"))
    tbs = _der(
        0x30,
        _der(0x02, b"\x01")
        + alg
        + issuer.cert.subject.public_bytes()
        + _der(0x17, this_update)
        + _der(0x17, next_update)
        + (_der(0x30, b"".join(entries)) if entries else b""),
    )
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _der(0x30, tbs + alg + _der(0x03, b"\x00" + signature))
