"""A lab peer for what no server on this machine still speaks: SSL 2.0 (its SERVER-HELLO,
draft-hickman-netscape-ssl-00 B), SSL 3.0 (RFC 6101 5.6) and the suites OpenSSL 3.0 dropped
(export, RC4, DES, 3DES). It answers the first flight only, with the bytes such a server sends
(ServerHello, Certificate, ServerHelloDone; an alert when nothing is in common), choosing by
its own order; the handshake goes no further."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.net.hello.codec import DecodeError, parse_client_hello
from scanner.testing.servers import accepting


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyPolicy:
    certificate: bytes  # DER
    versions: frozenset[int]  # TLS wire versions spoken: 0x0300 .. 0x0303
    suites: tuple[int, ...]  # in the server's order
    ssl2_kinds: tuple[int, ...] = ()  # SSL 2.0 cipher kinds; empty: no SSL 2.0


def _record(ctype: int, version: int, payload: bytes) -> bytes:
    return bytes((ctype,)) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def _alert(version: int, description: int) -> bytes:
    return _record(21, version, bytes((2, description)))


def answer_ssl2(policy: LegacyPolicy, kinds: tuple[int, ...]) -> bytes:
    """SERVER-HELLO: the kinds both sides have, in the client's list order."""
    common = [k for k in kinds if k in policy.ssl2_kinds]
    if not common:
        return b"\x80\x03\x00\x00\x01"  # ERROR: no-cipher-error
    specs = b"".join(k.to_bytes(3, "big") for k in common)
    cert = policy.certificate
    body = (
        b"\x04\x00\x01\x00\x02"  # SERVER-HELLO, no session hit, X.509, version 2
        + len(cert).to_bytes(2, "big")
        + len(specs).to_bytes(2, "big")
        + (16).to_bytes(2, "big")
        + cert
        + specs
        + bytes(range(16))  # connection id
    )
    return (0x8000 | len(body)).to_bytes(2, "big") + body


def answer_tls(policy: LegacyPolicy, data: bytes) -> bytes:
    """The first flight to a TLS/SSL 3.0 ClientHello."""
    try:
        hello = parse_client_hello(data)
    except DecodeError:
        return _alert(0x0300, 50)  # decode_error
    spoken = [v for v in policy.versions if v <= hello.version]
    if not spoken:
        return _alert(min(policy.versions), 70)  # protocol_version
    version = max(spoken)
    suite = next((c for c in policy.suites if c in hello.cipher_suites), None)
    if suite is None:
        return _alert(version, 40)  # handshake_failure
    server_hello = (
        version.to_bytes(2, "big")
        + bytes(range(32))
        + b"\x00"
        + suite.to_bytes(2, "big")
        + b"\x00"  # no compression, no extensions
    )
    cert = policy.certificate
    certs = len(cert).to_bytes(3, "big") + cert
    certificate = len(certs).to_bytes(3, "big") + certs
    msgs = b"".join(
        bytes((t,)) + len(b).to_bytes(3, "big") + b
        for t, b in ((2, server_hello), (11, certificate), (14, b""))
    )
    return _record(22, version, msgs)


def _read_hello(conn: socket.socket) -> bytes:
    head = conn.recv(5)
    if len(head) >= 2 and head[0] & 0x80:  # SSL 2.0 two-byte header
        want = ((head[0] & 0x7F) << 8 | head[1]) + 2
    elif len(head) == 5:
        want = int.from_bytes(head[3:5], "big") + 5
    else:
        return head
    data = head
    while len(data) < want and (more := conn.recv(want - len(data))):
        data += more
    return data


def respond(policy: LegacyPolicy, data: bytes) -> bytes:
    if data and data[0] & 0x80 and len(data) > 11 and data[2] == 1:  # SSL 2.0 CLIENT-HELLO
        if not policy.ssl2_kinds:
            return b""  # a server without SSL 2.0 hangs up on it
        n = int.from_bytes(data[5:7], "big")
        specs = data[11 : 11 + n]
        kinds = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, n, 3))
        return answer_ssl2(policy, kinds)
    return answer_tls(policy, data)


@contextlib.contextmanager
def legacy_server(policy: LegacyPolicy) -> Iterator[int]:
    """Serve `policy` on 127.0.0.1 (one connection at a time); yields the port."""

    def answer(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            reply = respond(policy, _read_hello(conn))
            if reply:
                conn.sendall(reply)

    with accepting(answer) as port:
        yield port
