"""The server's first flight, sans I/O (in the style of h11): `FlightReader` turns the bytes a
server sends into typed events, checking the answer against the hello offered. Every length is
checked against a cap before anything is buffered, and at most MAX_BUFFERED bytes are ever held
(a 16 MiB length claim is an event, not an allocation).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Container
from dataclasses import dataclass, field

from scanner.model.suites import SUITES, Protocol
from scanner.net.hello.client import ClientHello, SSL2ClientHello
from scanner.net.hello.events import (
    Alert,
    Certificate,
    CertificateStatus,
    Closed,
    Encrypted,
    Event,
    HelloRetryRequest,
    OtherHandshake,
    ProtocolError,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    SSL2Error,
    SSL2ServerHello,
)
from scanner.net.hello.records import (
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    EXT_KEY_SHARE,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    HANDSHAKE,
    HRR_RANDOM,
    HT_CERTIFICATE,
    HT_CERTIFICATE_STATUS,
    HT_SERVER_HELLO,
    HT_SERVER_HELLO_DONE,
    HT_SERVER_KEY_EXCHANGE,
    MAX_BUFFERED,
    MAX_MESSAGE,
    MAX_RECORD,
    Cursor,
    DecodeError,
    Extension,
    read_extensions,
)

_ECDHE_KX = frozenset({"ECDH", "ECDHEPSK"})
_DHE_KX = frozenset({"DH", "DH(512)", "DH(1024)", "DHEPSK"})


@dataclass(slots=True)
class _State:
    server_hello: ServerHello | None = None
    retried: bool = False
    failed: bool = False
    closed: bool = False
    seen: list[int] = field(default_factory=list)


class FlightReader:
    """The server's first flight, from bytes (`receive_data`) to events. `offered`: the hello
    sent, against which the answer is checked (a suite, version or group never offered is a
    ProtocolError). `sslv2`: an SSL 2.0 hello was sent, so an SSL 2.0 answer is expected.

    The caller reads at most `room` bytes at a time: buffered bytes never exceed
    MAX_BUFFERED. `hello_only`: stop at the ServerHello (or HelloRetryRequest), reading
    nothing after it (a probe that needs only the server's choice)."""

    def __init__(
        self, offered: ClientHello | SSL2ClientHello | None = None, *, hello_only: bool = False
    ) -> None:
        self._offered = offered
        self._hello_only = hello_only
        self._sslv2 = isinstance(offered, SSL2ClientHello)
        self._buf = bytearray()
        self._hs = bytearray()
        self._state = _State()
        self.events_seen = 0

    @property
    def room(self) -> int:
        return max(0, MAX_BUFFERED - len(self._buf) - len(self._hs))

    @property
    def failed(self) -> bool:
        return self._state.failed

    def receive_data(self, data: bytes) -> list[Event]:
        """Events for these bytes; b"" is the end of the stream."""
        st = self._state
        if st.failed or st.closed:
            return []
        if not data:
            st.closed = True
            return [Closed(mid_record=bool(self._buf or self._hs))]
        if len(data) > self.room:
            return [self._fail(f"more than {MAX_BUFFERED} bytes buffered")]
        self._buf += data
        out: list[Event] = []
        while not st.failed and not (self._hello_only and (st.server_hello or st.retried)):
            if self._sslv2 and self._buf and self._buf[0] & 0x80:
                if not self._sslv2_record(out):
                    break
            elif not self._record(out):
                break
        return out

    def _fail(self, detail: str) -> ProtocolError:
        self._state.failed = True
        self._buf.clear()
        self._hs.clear()
        return ProtocolError(detail=detail)

    def _record(self, out: list[Event]) -> bool:
        buf = self._buf
        if len(buf) < 5:
            # The first bytes already tell a non-TLS peer (an HTTP server, a banner).
            if buf and buf[0] not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA):
                out.append(self._fail(f"not a TLS record (starts {bytes(buf[:5])!r})"))
            return False
        ctype, major, length = buf[0], buf[1], (buf[3] << 8) | buf[4]
        if ctype not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA) or major != 3:
            out.append(self._fail(f"not a TLS record (starts {bytes(buf[:5])!r})"))
            return False
        if length > MAX_RECORD or length == 0 and ctype != APPLICATION_DATA:
            out.append(self._fail(f"record length {length} out of range"))
            return False
        if len(buf) < 5 + length:
            return False
        fragment = bytes(buf[5 : 5 + length])
        del buf[: 5 + length]
        if ctype == HANDSHAKE:
            if self._state.server_hello and self._state.server_hello.version >= Protocol.TLS1_3:
                out.append(self._fail("a cleartext handshake record after a TLS 1.3 ServerHello"))
                return False
            self._hs += fragment
            self._messages(out)
        elif ctype == ALERT:
            if length % 2:
                out.append(self._fail(f"alert record of {length} bytes"))
                return False
            out.extend(
                Alert(level=fragment[i], description=fragment[i + 1]) for i in range(0, length, 2)
            )
        elif ctype == APPLICATION_DATA:
            if self._state.server_hello is None:
                out.append(self._fail("application data before the ServerHello"))
                return False
            out.append(Encrypted())
        return True  # change_cipher_spec (TLS 1.3 middlebox compatibility): nothing to say

    def _sslv2_record(self, out: list[Event]) -> bool:
        """An SSL 2.0 record with a two-byte header: SERVER-HELLO or ERROR."""
        buf = self._buf
        if len(buf) < 2:
            return False
        length = ((buf[0] & 0x7F) << 8) | buf[1]
        if length > MAX_RECORD or length == 0:
            out.append(self._fail(f"SSL 2.0 record length {length} out of range"))
            return False
        if len(buf) < 2 + length:
            return False
        msg = bytes(buf[2 : 2 + length])
        del buf[: 2 + length]
        try:
            if msg[0] == 4:
                hello = _sslv2_server_hello(msg)
                offered = self._offered
                if isinstance(offered, SSL2ClientHello):
                    stray = [k for k in hello.cipher_kinds if k not in offered.cipher_kinds]
                    if stray:
                        out.append(
                            self._fail(f"SSL 2.0 cipher kind {stray[0]:#08x}, never offered")
                        )
                        return False
                out.append(hello)
            elif msg[0] == 0 and len(msg) >= 3:
                out.append(SSL2Error(code=int.from_bytes(msg[1:3], "big")))
            else:
                out.append(self._fail(f"SSL 2.0 message type {msg[0]} in a first flight"))
                return False
        except DecodeError as e:
            out.append(self._fail(f"malformed SSL 2.0 SERVER-HELLO: {e}"))
            return False
        return True

    def _messages(self, out: list[Event]) -> None:
        hs, st = self._hs, self._state
        while len(hs) >= 4 and not st.failed and not (self._hello_only and st.seen):
            mtype, length = hs[0], int.from_bytes(hs[1:4], "big")
            if length > MAX_MESSAGE:
                out.append(self._fail(f"handshake message of {length} bytes (cap {MAX_MESSAGE})"))
                return
            if len(hs) < 4 + length:
                return
            body = bytes(hs[4 : 4 + length])
            del hs[: 4 + length]
            try:
                out.append(self._message(mtype, body))
            except DecodeError as e:
                out.append(self._fail(f"malformed handshake message {mtype}: {e}"))

    def _message(self, mtype: int, body: bytes) -> Event:
        st = self._state
        st.seen.append(mtype)
        if mtype == HT_SERVER_HELLO:
            if st.server_hello is not None or st.retried:
                return self._fail("a second ServerHello or HelloRetryRequest in one flight")
            hello = _server_hello(body)
            problem = self._check(hello)
            if problem:
                return self._fail(problem)
            if isinstance(hello, HelloRetryRequest):
                st.retried = True
            else:
                st.server_hello = hello
            return hello
        if st.server_hello is None:
            return self._fail(f"handshake message {mtype} before the ServerHello")
        c = Cursor(body)
        if mtype == HT_CERTIFICATE:
            chain = []
            certs = Cursor(c.vector(3))
            while certs.left:
                chain.append(certs.vector(3))
            return Certificate(chain=tuple(chain))
        if mtype == HT_CERTIFICATE_STATUS:
            if c.uint(1) != 1:
                raise DecodeError("status_type is not ocsp")
            return CertificateStatus(ocsp_response=c.vector(3))
        if mtype == HT_SERVER_KEY_EXCHANGE:
            suite = SUITES.get(st.server_hello.cipher_suite)
            kx = suite.kx if suite else ""
            if kx in _ECDHE_KX and c.uint(1) == 3:  # named_curve
                return ServerKeyExchange(named_group=c.uint(2), dh_bits=None)
            if kx in _DHE_KX:
                p = c.vector(2).lstrip(b"\x00")
                bits = (len(p) - 1) * 8 + p[0].bit_length() if p else 0
                return ServerKeyExchange(named_group=None, dh_bits=bits)
            return ServerKeyExchange(named_group=None, dh_bits=None)
        if mtype == HT_SERVER_HELLO_DONE:
            return ServerHelloDone()
        return OtherHandshake(msg_type=mtype, length=len(body))

    def _check(self, hello: ServerHello | HelloRetryRequest) -> str | None:
        offered = self._offered
        if not isinstance(offered, ClientHello):
            return None
        sh = hello if isinstance(hello, ServerHello) else None
        return never_offered(
            offered,
            sh is None,
            hello.version,
            hello.cipher_suite,
            sh.compression if sh else None,
            hello.selected_group,
        )


def never_offered(
    offered: ClientHello,
    hrr: bool,
    version: int,
    suite: int,
    compression: int | None,
    group: int | None,
) -> str | None:
    """What a ServerHello (or, `hrr`, a HelloRetryRequest) chose that `offered` never offered,
    RFC 8446 4.1.3/4.1.4 and RFC 5246 7.4.1.3; None when it chose only what was offered."""
    if suite not in suite_set(offered.cipher_suites):
        return f"the server selected cipher suite 0x{suite:04x}, never offered"
    raw_versions = offered.extension(EXT_SUPPORTED_VERSIONS)
    if not (
        (raw_versions is not None and version in versions_listed(raw_versions))
        or Protocol.SSL3 <= version <= offered.version
    ):
        return f"the server selected version 0x{version:04x}, never offered"
    if compression is not None and compression not in offered.compression_methods:
        return f"the server selected compression {compression}, never offered"
    if group is None:
        if not hrr and version >= Protocol.TLS1_3:
            return "a TLS 1.3 ServerHello without key_share (PSK-only, never offered)"
        return None  # (an HRR for a cookie only, RFC 8446 4.1.4)
    shares = shares_listed(offered.extension(EXT_KEY_SHARE))
    if hrr:
        if group not in groups_listed(offered.extension(EXT_SUPPORTED_GROUPS)):
            return f"HelloRetryRequest for group {group:#06x}, never offered"
        if group in shares:
            return f"HelloRetryRequest for group {group:#06x}, whose key share was sent"
    elif group not in shares:
        return f"ServerHello key share for group {group:#06x}, never offered"
    return None


# The offer's lists, read once per distinct value: a fleet's hellos share their extension
# blocks (cached per shape by hello_for), and bytes cache their hash.


_SUITE_SETS: dict[int, tuple[tuple[int, ...], frozenset[int] | None]] = {}


def suite_set(suites: tuple[int, ...]) -> Container[int]:
    """The offered suites for membership tests: a set per tuple object from its second
    sighting on (a tuple does not cache its hash; a cipher enumeration offers a new list
    every time), the tuple itself before."""
    found = _SUITE_SETS.get(id(suites))
    if found is None or found[0] is not suites:
        if len(_SUITE_SETS) >= 1024:
            _SUITE_SETS.clear()
        _SUITE_SETS[id(suites)] = (suites, None)
        return suites
    frozen = found[1]
    if frozen is None:
        frozen = frozenset(suites)
        _SUITE_SETS[id(suites)] = (suites, frozen)
    return frozen


@functools.lru_cache(maxsize=1024)
def versions_listed(raw: bytes) -> frozenset[int]:
    """The versions of a ClientHello's supported_versions extension."""
    return frozenset(
        struct.unpack(f">{(len(raw) - 1) // 2}H", raw[1 : 1 + (len(raw) - 1) // 2 * 2])
    )


@functools.lru_cache(maxsize=1024)
def groups_listed(raw: bytes | None) -> frozenset[int]:
    if not raw or len(raw) < 2:
        return frozenset()
    return frozenset(
        struct.unpack(f">{(len(raw) - 2) // 2}H", raw[2 : 2 + (len(raw) - 2) // 2 * 2])
    )


@functools.lru_cache(maxsize=1024)
def shares_listed(raw: bytes | None) -> frozenset[int]:
    if raw is None:
        return frozenset()
    c = Cursor(raw)
    entries = Cursor(c.vector(2))
    out = []
    while entries.left:
        out.append(entries.uint(2))
        entries.vector(2)
    return frozenset(out)


def _fields(body: bytes) -> tuple[int, bytes, bytes, int, int, tuple[Extension, ...] | None]:
    """A ServerHello's fields; well-formed bodies by slicing, the rest by the cursor (which
    says where they go wrong)."""
    n, sid = len(body), body[34] if len(body) > 34 else 33
    at = 35 + sid
    if sid <= 32 and at + 3 <= n:
        exts: list[Extension] | None = None
        end = at + 3
        whole = end == n  # no extensions block
        if end + 2 <= n:
            pos, exts = end + 2, []
            if pos + int.from_bytes(body[end:pos], "big") == n:
                while pos + 4 <= n:
                    length = int.from_bytes(body[pos + 2 : pos + 4], "big")
                    if pos + 4 + length > n:
                        break
                    kind = int.from_bytes(body[pos : pos + 2], "big")
                    exts.append(Extension(kind, body[pos + 4 : pos + 4 + length]))
                    pos += 4 + length
                whole = pos == n
        if whole:
            return (
                int.from_bytes(body[:2], "big"),
                body[2:34],
                body[35:at],
                int.from_bytes(body[at : at + 2], "big"),
                body[at + 2],
                None if exts is None else tuple(exts),
            )
    c = Cursor(body)
    legacy = c.uint(2)
    random = c.take(32)
    session_id = c.vector(1)
    if len(session_id) > 32:
        raise DecodeError("session id over 32 bytes")
    suite = c.uint(2)
    compression = c.uint(1)
    parsed = read_extensions(c) if c.left else None
    if c.left:
        raise DecodeError("bytes after the extensions")
    return legacy, random, session_id, suite, compression, parsed


def _server_hello(body: bytes) -> ServerHello | HelloRetryRequest:
    legacy, random, session_id, suite, compression, exts = _fields(body)
    version = legacy
    group = None
    is_hrr = random == HRR_RANDOM
    for e in exts or ():
        if e.type == EXT_SUPPORTED_VERSIONS:
            if len(e.data) != 2:
                raise DecodeError("supported_versions of a ServerHello is one version")
            version = int.from_bytes(e.data, "big")
        elif e.type == EXT_KEY_SHARE:
            if len(e.data) < 2:
                raise DecodeError("key_share too short")
            group = int.from_bytes(e.data[:2], "big")
            if not is_hrr:
                share = Cursor(e.data[2:])
                share.vector(2)
                if share.left:
                    raise DecodeError("bytes after the key share")
    if is_hrr:
        return HelloRetryRequest(
            version=version, cipher_suite=suite, selected_group=group, extensions=exts or ()
        )
    return ServerHello(
        version=version,
        legacy_version=legacy,
        random=random,
        session_id=session_id,
        cipher_suite=suite,
        compression=compression,
        extensions=exts,
        selected_group=group,
    )


def _sslv2_server_hello(msg: bytes) -> SSL2ServerHello:
    c = Cursor(msg)
    c.uint(1)  # MSG-SERVER-HELLO
    hit = c.uint(1)
    c.uint(1)  # certificate type (1: X.509)
    version = c.uint(2)
    cert_len, specs_len, conn_len = c.uint(2), c.uint(2), c.uint(2)
    cert = c.take(cert_len)
    specs = c.take(specs_len)
    c.take(conn_len)
    if specs_len % 3:
        raise DecodeError("cipher specs not a multiple of 3 bytes")
    kinds = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3))
    return SSL2ServerHello(
        version=version, session_id_hit=bool(hit), certificate=cert, cipher_kinds=kinds
    )
