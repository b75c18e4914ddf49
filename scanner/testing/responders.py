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
from cryptography.x509 import ocsp

from scanner.testing.der import der_tlv, sign, signature_algorithm
from scanner.testing.pki import Issued, PrivateKey
from scanner.testing.servers import (
    LOOPBACK,
    NOT_FOUND,
    Loop,
    hold_open,
    http_ok,
    http_redirect,
    server_context,
)

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
    _loop: Loop | None = None

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
                writer.write(http_redirect(self.redirects[path]))
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
                writer.write(NOT_FOUND)
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes, ctype: str) -> None:
        writer.write(http_ok(data, ctype))
        await writer.drain()

    def tls(self, chain: Sequence[Issued], tmp: str) -> int:
        """Also serve `chain` over TLS on a port of its own."""
        assert self._loop is not None
        ctx = server_context(b"".join(c.pem for c in chain), chain[0].key, Path(tmp))
        return int(self._loop.run(self._loop.serve(hold_open, ctx)))

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[RevocationServer]:
        server = cls()
        server._loop = loop = Loop(name="revocation")
        loop.start()
        try:
            server.port = int(loop.run(loop.serve(server.handle)))
            yield server
        finally:
            loop.stop()


# --- CRLs written byte by byte --------------------------------------------------------------


def der_entry(serial: bytes, when: bytes = b"260520000000Z", reason: int | None = 1) -> bytes:
    """One revokedCertificates entry (RFC 5280 5.1.2.6): `serial` as the INTEGER's content
    octets, written as given (so a test can add leading zero bytes no builder would write)."""
    ext = b""
    if reason is not None:
        crl_reason = bytes.fromhex("0603551d15") + der_tlv(0x04, bytes([0x0A, 1, reason]))
        ext = der_tlv(0x30, der_tlv(0x30, crl_reason))
    return der_tlv(0x30, der_tlv(0x02, serial) + der_tlv(0x17, when) + ext)


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
    alg = signature_algorithm(key)
    tbs = der_tlv(
        0x30,
        der_tlv(0x02, b"\x01")
        + alg
        + issuer.cert.subject.public_bytes()
        + der_tlv(0x17, this_update)
        + der_tlv(0x17, next_update)
        + (der_tlv(0x30, b"".join(entries)) if entries else b""),
    )
    return der_tlv(0x30, tbs + alg + der_tlv(0x03, b"\x00" + sign(key, tbs)))
