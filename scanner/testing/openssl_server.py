"""`openssl s_server` on loopback as a real peer for the ClientHello prober: started on port 0
with chosen options, its port read from its ACCEPT line, stopped (by its own pid) on exit."""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from scanner.testing.pki import Issued
from scanner.testing.servers import accepting

OPENSSL = shutil.which("openssl")
_START_SECONDS = 10.0


def _drain(stream: object) -> None:
    # s_server writes a line or two per connection; a full pipe would stall it.
    read = getattr(stream, "read1", None)
    while read is not None and read(65536):
        pass


@contextlib.contextmanager
def s_server(leaf: Issued, options: Sequence[str], tmp: Path) -> Iterator[int]:
    """Serve `leaf` (self-contained: leaf only) with `options`; yields the port."""
    if OPENSSL is None:
        raise RuntimeError("openssl is not installed")
    cert, key = tmp / "s_server.crt", tmp / "s_server.key"
    cert.write_bytes(leaf.pem)
    key.write_bytes(leaf.key_pem())
    args = [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-cert", str(cert), "-key", str(key)]
    proc = subprocess.Popen(
        [*args, *options],
        stdin=subprocess.PIPE,  # kept open: s_server treats EOF on stdin as "quit"
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        port, seen = 0, b""
        deadline = time.monotonic() + _START_SECONDS
        while not port:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise RuntimeError(f"s_server {options} did not start: {seen[-500:]!r}")
            # os.read, not readline: a buffered reader would hide a line select cannot see
            if select.select([proc.stdout], [], [], left)[0]:
                seen += os.read(proc.stdout.fileno(), 4096)
                for line in seen.splitlines():
                    if line.startswith(b"ACCEPT ") and seen.endswith(b"\n"):
                        port = int(line.rsplit(b":", 1)[1])
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        yield port
    finally:
        proc.kill()
        proc.wait()
        if proc.stdin:
            proc.stdin.close()
        if proc.stdout:
            proc.stdout.close()


def serverinfo_scts(sct_list: bytes, tmp: Path) -> list[str]:
    """s_server options answering the signed_certificate_timestamp extension (RFC 6962 3.3,
    type 18) with `sct_list` (a SignedCertificateTimestampList): -serverinfo, a file in `tmp`."""
    block = (18).to_bytes(2, "big") + len(sct_list).to_bytes(2, "big") + sct_list
    path = tmp / "serverinfo.pem"
    path.write_bytes(
        b"-----BEGIN SERVERINFO FOR CT-----\n"
        + base64.encodebytes(block)
        + b"-----END SERVERINFO FOR CT-----\n"
    )
    return ["-serverinfo", str(path)]


@contextlib.contextmanager
def pyopenssl_server(leaf: Issued, *, classic_only: bool = False) -> Iterator[int]:
    """A TLS server on the OpenSSL that cryptography's wheel bundles (through pyOpenSSL, a dev
    dependency): its default groups put X25519MLKEM768 first. `classic_only`: P-256 only.
    Each connection's handshake runs until the client hangs up; yields the port."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from OpenSSL import SSL  # the dev extra's pyOpenSSL

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate(leaf.cert)
    ctx.use_privatekey(leaf.key)
    if classic_only:
        ctx.set_tmp_ecdh(ec.SECP256R1())

    def handshake(sock: socket.socket) -> None:
        with sock:
            sock.setblocking(False)  # pyOpenSSL: WantReadError, then wait with select
            conn = SSL.Connection(ctx, sock)
            conn.set_accept_state()
            with contextlib.suppress(SSL.Error, OSError):
                while True:
                    try:
                        conn.do_handshake()
                        break
                    except SSL.WantReadError:
                        if not select.select([sock], [], [], 5)[0]:
                            break

    with accepting(handshake) as port:
        yield port


def _relay(a: socket.socket, b: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := a.recv(65536):
            b.sendall(data)
    with contextlib.suppress(OSError):
        b.shutdown(socket.SHUT_WR)


def splice(
    client: socket.socket, upstream: int, opened: list[socket.socket], *, first: bytes = b""
) -> None:
    """Connect to 127.0.0.1:`upstream` (the socket added to `opened`, for the caller to close),
    send `first`, then relay both ways, a daemon thread each way."""
    server = socket.create_connection(("127.0.0.1", upstream), timeout=5)
    opened.append(server)
    if first:
        server.sendall(first)
    for a, b in ((client, server), (server, client)):
        threading.Thread(target=_relay, args=(a, b), daemon=True).start()


@contextlib.contextmanager
def small_hello_shim(upstream: int, *, limit: int = 1460) -> Iterator[int]:
    """A TCP relay to 127.0.0.1:`upstream` that resets the connection when the client's first
    record is longer than `limit` bytes (one Ethernet segment): the middlebox that drops a
    post-quantum browser's hello. Yields its port."""
    opened: list[socket.socket] = []

    def shim(client: socket.socket) -> None:
        opened.append(client)
        client.settimeout(5)
        head = b""
        with contextlib.suppress(OSError):
            while len(head) < 5 and (more := client.recv(5 - len(head))):
                head += more
        if len(head) < 5 or 5 + int.from_bytes(head[3:5], "big") > limit:
            # RST, not FIN: SO_LINGER with a zero timeout
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        splice(client, upstream, opened, first=head)

    try:
        with accepting(shim) as port:
            yield port
    finally:
        for sock in opened:
            sock.close()
