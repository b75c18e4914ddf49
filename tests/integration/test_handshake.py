"""The one connect-and-handshake module (`net.handshake`) on both anyio backends, against a real
TLS server on loopback; and a scan leaves asyncio's SSL classes as it found them (a notebook's
other TLS code keeps asyncio's own read buffer)."""

from __future__ import annotations

import asyncio.sslproto
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import scanner
from scanner.net import handshake as hs
from scanner.net.capture import client_context
from scanner.testing.lab import Lab
from scanner.testing.servers import accepting

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # the lab's instant (tests/conftest.py)
PADDING = 80 * 1024  # a certificate message over the 64 KiB read buffer, under OpenSSL's 100 KiB


def _big_certificate(folder: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate with 80 KiB of padding in a private extension."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(FIXED - dt.timedelta(days=1))
        .not_valid_after(FIXED + dt.timedelta(days=90))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"\x00" * PADDING
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    cert_path, key_path = folder / "big.pem", folder / "big.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, der


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, bytes]]:
    """A TLS server on 127.0.0.1 serving the big certificate, one connection at a time, in a
    thread; (port, the certificate's DER)."""
    cert, key, der = _big_certificate(tmp_path_factory.mktemp("big"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def serve(conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the client goes away
        except OSError:
            conn.close()

    with accepting(serve) as port:
        yield port, der


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_certificate_message_over_the_read_buffer_arrives_whole(
    big_server: tuple[int, bytes], backend: str
) -> None:
    port, der = big_server

    async def run() -> tuple[tuple[bytes, ...], Any]:
        with anyio.fail_after(20):
            return await exchange()

    async def exchange() -> tuple[tuple[bytes, ...], Any]:
        async with await hs.connect("127.0.0.1", port) as conn:
            obj = await conn.start_tls(client_context(), "big.test")
            chain = hs.unverified_chain(obj)
            # On asyncio: the SSL protocol of this connection, to see its read buffer.
            transport = getattr(conn, "_transport", None)
            return chain, transport.get_protocol() if transport else None

    chain, protocol = anyio.run(run, backend=backend)
    assert chain == (der,) and len(der) > hs.SSL_READ_BUFFER
    if backend == "asyncio":
        # Our connection reads through a 64 KiB buffer; asyncio's class keeps its own.
        assert isinstance(protocol, asyncio.sslproto.SSLProtocol)
        assert protocol.max_size == hs.SSL_READ_BUFFER
        assert len(protocol._ssl_buffer) == hs.SSL_READ_BUFFER
        assert asyncio.sslproto.SSLProtocol.max_size == 256 * 1024
    else:
        assert protocol is None


def test_a_server_closing_on_the_hello_is_a_hang_up() -> None:
    """Both paths report a close during the handshake as something `hung_up` knows."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[BaseException] = []

    def serve(count: int) -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            conn.recv(4096)  # the ClientHello
            conn.close()

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()

    async def run() -> None:
        with anyio.fail_after(10):
            async with await hs.connect("127.0.0.1", port) as conn:
                try:
                    await conn.start_tls(client_context(), None)
                except Exception as e:
                    seen.append(e)

    try:
        for backend in ("asyncio", "trio"):
            anyio.run(run, backend=backend)
    finally:
        thread.join(timeout=10)
        listener.close()
    assert len(seen) == 2 and all(hs.hung_up(e) for e in seen), seen


def test_a_scan_leaves_asyncio_ssl_as_it_was(lab: Lab, lab_files: Any) -> None:
    """Part of issue 18: scanning from a notebook must not change asyncio for its other TLS
    code (the scanner once set SSLProtocol.max_size for the whole process and kept it)."""
    original = asyncio.sslproto.SSLProtocol.max_size
    rows = [r for r in lab_files.rows if r["scenario"] in {"valid", "expired", "refused"}]
    tables = scanner.scan(
        rows,
        as_of=FIXED,
        ca_bundle=lab_files.ca,
        timeout=1.5,
        nameservers=[lab.dns_address],
        protocols=True,
    )
    assert sorted(tables.hosts["status"]) == ["error", "ok", "ok"]
    assert asyncio.sslproto.SSLProtocol.max_size == original
