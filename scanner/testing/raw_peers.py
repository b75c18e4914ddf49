"""Loopback peers that answer the prober's hellos with chosen bytes: `raw_server` reads each
connection's hello (one record) and then does what it is told; `behind_real` relays the first
connection to a real server and treats every later one so. What they send: `server_hello`, `HRR`."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

from scanner.net.hello.codec import HRR_RANDOM
from scanner.testing.openssl_server import splice
from scanner.testing.servers import accepting

Behaviour = Callable[[socket.socket], None]


def _handshake_record(messages: bytes) -> bytes:
    return b"\x16\x03\x03" + len(messages).to_bytes(2, "big") + messages


def server_hello(suite: int) -> bytes:
    """A TLS 1.2 ServerHello choosing `suite` (no extensions) and a ServerHelloDone."""
    body = b"\x03\x03" + b"\x22" * 32 + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    return _handshake_record(b"\x02" + len(body).to_bytes(3, "big") + body + b"\x0e\x00\x00\x00")


# A HelloRetryRequest (TLS 1.3, TLS_AES_128_GCM_SHA256) asking for a P-256 key share.
_HRR_EXTENSIONS = b"\x00\x2b\x00\x02\x03\x04" + b"\x00\x33\x00\x02\x00\x17"
_HRR_BODY = (
    b"\x03\x03"
    + HRR_RANDOM
    + b"\x00\x13\x01\x00"
    + len(_HRR_EXTENSIONS).to_bytes(2, "big")
    + _HRR_EXTENSIONS
)
HRR = _handshake_record(b"\x02" + len(_HRR_BODY).to_bytes(3, "big") + _HRR_BODY)


def _after_hello(behaviour: Behaviour) -> Behaviour:
    """A connection's handler: read the hello (one record, by its TLS header), `behaviour`,
    close."""

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                head = conn.recv(5)
                want = int.from_bytes(head[3:5], "big") if len(head) == 5 else 0
                got = 0
                while got < want and (chunk := conn.recv(want - got)):
                    got += len(chunk)
                behaviour(conn)

    return serve


@contextlib.contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[int]:
    """Each connection: read the hello (one record), then `behaviour`; yields the port."""
    with accepting(_after_hello(behaviour)) as port:
        yield port


@contextlib.contextmanager
def behind_real(real: int, behaviour: Behaviour) -> Iterator[int]:
    """The first connection relayed to the real server on `real`; every later one reads the
    hello record and gets `behaviour`. Yields the port."""
    opened: list[socket.socket] = []
    hostile = _after_hello(behaviour)

    def serve(conn: socket.socket) -> None:
        if opened:
            hostile(conn)
            return
        opened.append(conn)
        splice(conn, real, opened)

    try:
        with accepting(serve) as port:
            yield port
    finally:
        for sock in opened:
            sock.close()
