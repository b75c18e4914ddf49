"""ClientHellos and the server's first flight, sans I/O (in the style of h11): `encode` turns a
hello spec into bytes, `FlightReader` turns the server's bytes into typed events. No sockets, no
clock; every length is checked against a cap before anything is buffered, and at most
MAX_BUFFERED bytes are ever held (a 16 MiB length claim is an event, not an allocation).

Formats: TLS 1.0-1.2 (RFC 2246, 4346, 5246), TLS 1.3 (RFC 8446), SSL 3.0 (RFC 6101), SSL 2.0
CLIENT-HELLO / SERVER-HELLO and the version-2-compatible hello (draft-hickman-netscape-ssl-00,
RFC 5246 E.2), extensions (RFC 6066 server_name and status_request, RFC 6962
signed_certificate_timestamp, RFC 7685 padding, RFC 7627 extended_master_secret, RFC 5746
renegotiation_info), OCSP stapling's CertificateStatus (RFC 6066 8).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Final

from scanner.model.suites import GROUPS, SUITES, Protocol

# Record and message caps. A TLSCiphertext fragment is at most 2^14 + 2048 bytes (RFC 5246
# 6.2.3); a first flight is a few KiB, a certificate chain rarely over 16 KiB.
MAX_RECORD: Final = 2**14 + 2048
MAX_BUFFERED: Final = 64 * 1024
MAX_MESSAGE: Final = MAX_BUFFERED - 4

# Content types (RFC 5246 6.2.1) and handshake types (RFC 8446 4).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
HT_CLIENT_HELLO, HT_SERVER_HELLO = 1, 2
HT_CERTIFICATE, HT_SERVER_KEY_EXCHANGE, HT_CERTIFICATE_REQUEST = 11, 12, 13
HT_SERVER_HELLO_DONE, HT_CERTIFICATE_STATUS = 14, 22

# Extension types (IANA "TLS ExtensionType Values").
EXT_SERVER_NAME = 0
EXT_STATUS_REQUEST = 5
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_SCT = 18
EXT_PADDING = 21
EXT_EXTENDED_MASTER_SECRET = 23
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_KEY_SHARE = 51
EXT_RENEGOTIATION_INFO = 0xFF01

# RFC 8446 4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest") is an HRR.
HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

# Every signature scheme a certificate of any kind could need (RFC 8446 4.2.3 and the TLS 1.2
# SignatureAndHashAlgorithm pairs of RFC 5246 7.4.1.4.1, including SHA-1, DSA and SHA-224).
SIGNATURE_ALGORITHMS: Final = (
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0603, 0x0807, 0x0808,
    0x0809, 0x080A, 0x080B, 0x0303, 0x0301, 0x0302, 0x0203, 0x0201, 0x0202, 0x0402, 0x0502,
    0x0602,
)  # fmt: skip


# --- hello specs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Extension:
    type: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello:
    """A TLS or SSL 3.0 ClientHello exactly as sent (`encode` is its inverse of
    `parse_client_hello`). `extensions` None: no extensions block at all (SSL 3.0 style)."""

    version: int  # legacy_version / client_version
    random: bytes
    session_id: bytes = b""
    cipher_suites: tuple[int, ...]
    compression_methods: bytes = b"\x00"
    extensions: tuple[Extension, ...] | None = ()
    record_version: int = Protocol.TLS1_0

    def extension(self, type_: int) -> bytes | None:
        for e in self.extensions or ():
            if e.type == type_:
                return e.data
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SSL2ClientHello:
    """An SSL 2.0 CLIENT-HELLO; with `version` 0x0301.. it is the version-2-compatible hello
    of RFC 5246 E.2 (cipher kinds 0x00XXYY are TLS suites)."""

    version: int = Protocol.SSL2
    cipher_kinds: tuple[int, ...]
    session_id: bytes = b""
    challenge: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """What a probe offers; `build` turns it into a ClientHello. `versions`: the versions
    offered, highest first (TLS 1.3 among them: sent in supported_versions)."""

    versions: tuple[Protocol, ...]
    suites: tuple[int, ...]
    groups: tuple[int, ...] = ()
    key_shares: tuple[int, ...] = ()  # groups sent with a key share (TLS 1.3)
    sni: str | None = None
    status_request: bool = True
    sct: bool = True
    pad_to: int = 0  # total bytes of the hello's record(s); 0: no padding
    extensions: bool = True  # False: an SSL 3.0-style hello without any

    @property
    def highest(self) -> Protocol:
        return self.versions[0]


# --- encoding ------------------------------------------------------------------------------


def _u8(b: bytes) -> bytes:
    return bytes((len(b),)) + b


def _u16(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def _u24(b: bytes) -> bytes:
    return len(b).to_bytes(3, "big") + b


def _codes(codes: tuple[int, ...]) -> bytes:
    return struct.pack(f">{len(codes)}H", *codes)


def _ext(e: Extension) -> bytes:
    return e.type.to_bytes(2, "big") + _u16(e.data)


def encode(hello: ClientHello) -> bytes:
    """The hello as TLS records (fragmented at 2^14 bytes, RFC 5246 6.2.1)."""
    body = b"".join(
        (
            hello.version.to_bytes(2, "big"),
            hello.random,
            _u8(hello.session_id),
            _u16(_codes(hello.cipher_suites)),
            _u8(hello.compression_methods),
            b"" if hello.extensions is None else _u16(b"".join(map(_ext, hello.extensions))),
        )
    )
    return _records(HANDSHAKE, hello.record_version, bytes((HT_CLIENT_HELLO,)) + _u24(body))


def _records(content_type: int, version: int, payload: bytes) -> bytes:
    head = bytes((content_type,)) + version.to_bytes(2, "big")
    return b"".join(
        head + _u16(payload[i : i + 2**14]) for i in range(0, max(len(payload), 1), 2**14)
    )


def encode_sslv2(hello: SSL2ClientHello) -> bytes:
    """An SSL 2.0 record with a two-byte header (the high bit set)."""
    kinds = b"".join(k.to_bytes(3, "big") for k in hello.cipher_kinds)
    body = b"".join(
        (
            b"\x01",  # MSG-CLIENT-HELLO
            hello.version.to_bytes(2, "big"),
            len(kinds).to_bytes(2, "big"),
            len(hello.session_id).to_bytes(2, "big"),
            len(hello.challenge).to_bytes(2, "big"),
            kinds,
            hello.session_id,
            hello.challenge,
        )
    )
    return (0x8000 | len(body)).to_bytes(2, "big") + body


def _sni(name: str) -> bytes:
    host = name.encode("ascii")  # callers pass the A-label form
    return _u16(b"\x00" + _u16(host))


def _mlkem_ek(k: int) -> bytes:
    """An ML-KEM encapsulation key (FIPS 203 7.2: ByteEncode12 of k*256 coefficients, each
    below q = 3329, then the 32-byte seed rho). The server runs the modulus check on it, so
    arbitrary bytes would be refused; the client never decapsulates, so any valid key does."""
    out = bytearray()
    for i in range(0, k * 256, 2):
        a, b = (i * 1723 + 17) % 3329, ((i + 1) * 1723 + 17) % 3329
        out += bytes((a & 0xFF, (a >> 8) | ((b & 0x0F) << 4), b >> 4))
    return bytes(out) + bytes(range(32))


# P-curve points: the curves' generators (SEC 2), uncompressed (valid points, checked by the
# server); X25519/X448: the base point u = 9 / u = 5 (RFC 7748); FFDHE: y = 4, a quadratic
# residue in range (RFC 7919 5.1's checks).
_P256 = bytes.fromhex(
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
_P384 = bytes.fromhex(
    "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38"
    "5502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8"
    "f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"
)
_P521 = bytes.fromhex(
    "0400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d"
    "3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"
    "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c"
    "97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"
)
_BP256 = bytes.fromhex(
    "048bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262"
    "547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f046997"
)
_BP384 = bytes.fromhex(
    "041d1c64f068cf45ffa2a63a81b7c13f6b8847a3e77ef14fe3db7fcafe0cbd10e8"
    "e826e03436d646aaef87b2e247d4af1e8abe1d7520f9c2a45cb1eb8e95cfd55262"
    "b70b29feec5864e19c054ff99129280e4646217791811142820341263c5315"
)
_BP512 = bytes.fromhex(
    "0481aee4bdd82ed9645a21322e9c4c6a9385ed9f70b5d916c1b43b62eef4d0098e"
    "ff3b1f78e2d0d48d50d1687b93b97d5f7c6d5047406a5e688b352209bcb9f8227d"
    "de385d566332ecc0eabfa9cf7822fdf209f70024a57b1aa000c55b881f8111b2dc"
    "de494a5f485e5bca4bd88a2763aed1ca2b2fa8f0540678cd1e0f3ad80892"
)
_X25519 = (9).to_bytes(32, "little")
_MLKEM768 = _mlkem_ek(3)
_MLKEM1024 = _mlkem_ek(4)
KEY_SHARES: Final[dict[int, bytes]] = {
    0x0017: _P256,
    0x0018: _P384,
    0x0019: _P521,
    0x001D: _X25519,
    0x001E: (5).to_bytes(56, "little"),
    0x001F: _BP256,
    0x0020: _BP384,
    0x0021: _BP512,
    **{code: (4).to_bytes(GROUPS[code].share_len, "big") for code in range(0x0100, 0x0105)},
    0x0200: _mlkem_ek(2),
    0x0201: _MLKEM768,
    0x0202: _MLKEM1024,
    # Hybrids (draft-ietf-tls-ecdhe-mlkem 3): X25519MLKEM768 puts ML-KEM first, the others
    # the ECDH share first.
    0x11EB: _P256 + _MLKEM768,
    0x11EC: _MLKEM768 + _X25519,
    0x11ED: _P384 + _MLKEM1024,
}
assert all(len(v) == GROUPS[k].share_len for k, v in KEY_SHARES.items())

_ECC_KX = ("ECDH", "ECDH/RSA", "ECDH/ECDSA", "ECDHEPSK")


def _static_extensions(offer: Offer) -> tuple[Extension, ...]:
    """The extensions an offer implies, but padding; cached per offer shape (see build)."""
    exts: list[Extension] = []
    if offer.sni:
        exts.append(Extension(EXT_SERVER_NAME, _sni(offer.sni)))
    tls13 = Protocol.TLS1_3 in offer.versions
    ecc = tls13 or any(SUITES[c].kx in _ECC_KX for c in offer.suites if c in SUITES)
    if ecc:
        exts.append(Extension(EXT_EC_POINT_FORMATS, b"\x01\x00"))
    if offer.groups:
        exts.append(Extension(EXT_SUPPORTED_GROUPS, _u16(_codes(offer.groups))))
    if offer.highest >= Protocol.TLS1_2:
        exts.append(Extension(EXT_SIGNATURE_ALGORITHMS, _u16(_codes(SIGNATURE_ALGORITHMS))))
    if offer.status_request:  # ocsp, no responder ids, no request extensions
        exts.append(Extension(EXT_STATUS_REQUEST, b"\x01\x00\x00\x00\x00"))
    if offer.sct:
        exts.append(Extension(EXT_SCT, b""))
    exts.append(Extension(EXT_EXTENDED_MASTER_SECRET, b""))
    exts.append(Extension(EXT_RENEGOTIATION_INFO, b"\x00"))
    if tls13:
        versions = _codes(tuple(offer.versions))
        exts.append(Extension(EXT_SUPPORTED_VERSIONS, _u8(versions)))
        exts.append(Extension(EXT_PSK_KEY_EXCHANGE_MODES, b"\x01\x01"))  # psk_dhe_ke
        shares = b"".join(g.to_bytes(2, "big") + _u16(KEY_SHARES[g]) for g in offer.key_shares)
        exts.append(Extension(EXT_KEY_SHARE, _u16(shares)))
    return tuple(exts)


_EXTENSIONS_CACHE: dict[Offer, tuple[Extension, ...]] = {}


def build(
    offer: Offer, *, random: bytes | None = None, session_id: bytes | None = None
) -> ClientHello:
    """The ClientHello for an offer: legacy_version the highest offered version (TLS 1.2 when
    TLS 1.3 is offered, RFC 8446 4.1.2), a fresh random, and for TLS 1.3 a 32-byte session id
    (middlebox compatibility, RFC 8446 D.4). The extension block is computed once per offer."""
    highest = offer.highest
    legacy = min(highest, Protocol.TLS1_2)
    exts: tuple[Extension, ...] | None = None
    if offer.extensions:
        exts = _EXTENSIONS_CACHE.get(offer)
        if exts is None:
            if len(_EXTENSIONS_CACHE) > 256:
                _EXTENSIONS_CACHE.clear()
            exts = _EXTENSIONS_CACHE[offer] = _static_extensions(offer)
    if session_id is None:
        session_id = os.urandom(32) if highest is Protocol.TLS1_3 else b""
    hello = ClientHello(
        version=legacy,
        random=os.urandom(32) if random is None else random,
        session_id=session_id,
        cipher_suites=offer.suites,
        extensions=exts,
        record_version=min(legacy, Protocol.TLS1_0),
    )
    if exts is None:
        return hello
    if offer.pad_to:
        return pad(hello, offer.pad_to)
    # Some TLS terminators (F5 BIG-IP among them) hang on a ClientHello message of 256-511
    # bytes; clients pad those to 512 (RFC 7685 1, as BoringSSL and NSS do).
    size = len(encode(hello)) - 5
    # (a padding extension has a 4-byte header: at least 5 bytes more, as BoringSSL adds)
    return pad(hello, max(512, size + 5) + 5) if 0xFF < size < 0x200 else hello


def pad(hello: ClientHello, target: int) -> ClientHello:
    """The hello with a padding extension (RFC 7685) bringing its encoding to `target` bytes
    (5-byte record header included), when it is shorter; padding goes last."""
    size = len(encode(hello))
    if size + 4 > target:
        return hello
    extra = Extension(EXT_PADDING, bytes(target - size - 4))
    return ClientHello(
        version=hello.version,
        random=hello.random,
        session_id=hello.session_id,
        cipher_suites=hello.cipher_suites,
        compression_methods=hello.compression_methods,
        extensions=(*(hello.extensions or ()), extra),
        record_version=hello.record_version,
    )


# --- reading a ClientHello (fixtures of real clients, lab peers) ----------------------------


class DecodeError(ValueError):
    """Bytes that are not a well-formed hello."""


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"truncated: wanted {n} bytes at offset {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, n: int) -> bytes:
        return self.take(self.uint(n))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _extensions(c: _Cursor) -> tuple[Extension, ...]:
    block = _Cursor(c.vector(2))
    out = []
    while block.left:
        t = block.uint(2)
        out.append(Extension(t, block.vector(2)))
    return tuple(out)


def parse_client_hello(data: bytes) -> ClientHello:
    """A ClientHello from its records (one handshake message, possibly over several records)."""
    c = _Cursor(data)
    payload = b""
    record_version = 0
    while c.left:
        if c.uint(1) != HANDSHAKE:
            raise DecodeError("not a handshake record")
        version = c.uint(2)
        record_version = record_version or version
        payload += c.vector(2)
    m = _Cursor(payload)
    if m.uint(1) != HT_CLIENT_HELLO:
        raise DecodeError("not a ClientHello")
    b = _Cursor(m.vector(3))
    if m.left:
        raise DecodeError("bytes after the ClientHello")
    version = b.uint(2)
    random = b.take(32)
    session_id = b.vector(1)
    suites_raw = b.vector(2)
    if len(suites_raw) % 2:
        raise DecodeError("odd cipher_suites length")
    suites = struct.unpack(f">{len(suites_raw) // 2}H", suites_raw)
    compression = b.vector(1)
    exts = _extensions(b) if b.left else None
    if b.left:
        raise DecodeError("bytes after the extensions")
    return ClientHello(
        version=version,
        random=random,
        session_id=session_id,
        cipher_suites=suites,
        compression_methods=compression,
        extensions=exts,
        record_version=record_version,
    )


def sct_list(data: bytes) -> tuple[bytes, ...]:
    """The SerializedSCTs of a signed_certificate_timestamp extension (RFC 6962 3.3: a
    2-byte-length list of 2-byte-length entries, neither empty)."""
    c = _Cursor(data)
    entries = _Cursor(c.vector(2))
    if c.left or not entries.left:
        raise DecodeError("not a SignedCertificateTimestampList")
    out = []
    while entries.left:
        sct = entries.vector(2)
        if not sct:
            raise DecodeError("an empty SerializedSCT")
        out.append(sct)
    return tuple(out)


# --- events of the server's first flight ---------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello:
    version: int  # negotiated: supported_versions when present, else legacy_version
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression: int
    extensions: tuple[Extension, ...] | None
    selected_group: int | None  # TLS 1.3 key_share

    def extension(self, type_: int) -> bytes | None:
        for e in self.extensions or ():
            if e.type == type_:
                return e.data
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloRetryRequest:
    version: int
    cipher_suite: int
    selected_group: int | None
    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """TLS 1.2 and earlier (cleartext): the chain as sent, DER, leaf first."""

    chain: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateStatus:
    """A stapled OCSP response (DER)."""

    ocsp_response: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKeyExchange:
    """TLS 1.2 and earlier: the ECDHE named group, or the DHE prime's size in bits."""

    named_group: int | None
    dh_bits: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherHandshake:
    """A handshake message read past but not decoded (e.g. CertificateRequest)."""

    msg_type: int
    length: int


@dataclass(frozen=True, slots=True)
class ServerHelloDone:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    level: int  # 1 warning, 2 fatal
    description: int  # RFC 8446 6 (40 handshake_failure, 70 protocol_version, ...)


@dataclass(frozen=True, slots=True)
class Encrypted:
    """The first encrypted record (TLS 1.3 after ServerHello): the cleartext flight is over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SSL2ServerHello:
    version: int
    session_id_hit: bool
    certificate: bytes
    cipher_kinds: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SSL2Error:
    code: int  # 1 no-cipher, 2 no-certificate, 4 bad-certificate, 6 unsupported-certificate


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """The server closed the connection; `mid_record`: inside a record or message."""

    mid_record: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolError:
    """Bytes no well-behaved server sends (garbage, an over-long length, a suite or version
    never offered). The reader stops at the first."""

    detail: str


Event = (
    ServerHello
    | HelloRetryRequest
    | Certificate
    | CertificateStatus
    | ServerKeyExchange
    | OtherHandshake
    | ServerHelloDone
    | Alert
    | Encrypted
    | SSL2ServerHello
    | SSL2Error
    | Closed
    | ProtocolError
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
    MAX_BUFFERED."""

    def __init__(self, offered: ClientHello | SSL2ClientHello | None = None) -> None:
        self._offered = offered
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
        while not st.failed:
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
        hs = self._hs
        while len(hs) >= 4 and not self._state.failed:
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
        c = _Cursor(body)
        if mtype == HT_CERTIFICATE:
            chain = []
            certs = _Cursor(c.vector(3))
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
        """What in the answer was never offered, RFC 8446 4.1.3/4.1.4 and RFC 5246 7.4.1.3."""
        offered = self._offered
        if not isinstance(offered, ClientHello):
            return None
        if hello.cipher_suite not in offered.cipher_suites:
            return f"the server selected cipher suite 0x{hello.cipher_suite:04x}, never offered"
        raw_versions = offered.extension(EXT_SUPPORTED_VERSIONS)
        if raw_versions is not None:
            allowed = struct.unpack(f">{(len(raw_versions) - 1) // 2}H", raw_versions[1:])
            ok = hello.version in allowed or (
                hello.version <= offered.version and hello.version >= Protocol.SSL3
            )
        else:
            ok = Protocol.SSL3 <= hello.version <= offered.version
        if not ok:
            return f"the server selected version 0x{hello.version:04x}, never offered"
        if isinstance(hello, ServerHello) and hello.compression not in offered.compression_methods:
            return f"the server selected compression {hello.compression}, never offered"
        group = hello.selected_group
        if group is None:
            if isinstance(hello, HelloRetryRequest):
                return None  # an HRR for a cookie only (RFC 8446 4.1.4)
            if hello.version >= Protocol.TLS1_3:
                return "a TLS 1.3 ServerHello without key_share (PSK-only, never offered)"
            return None
        shares = _offered_shares(offered)
        groups = _offered_groups(offered)
        if isinstance(hello, HelloRetryRequest):
            if group not in groups:
                return f"HelloRetryRequest for group {group:#06x}, never offered"
            if group in shares:
                return f"HelloRetryRequest for group {group:#06x}, whose key share was sent"
        elif group not in shares:
            return f"ServerHello key share for group {group:#06x}, never offered"
        return None


def _offered_groups(hello: ClientHello) -> tuple[int, ...]:
    raw = hello.extension(EXT_SUPPORTED_GROUPS)
    if not raw or len(raw) < 2:
        return ()
    return struct.unpack(f">{(len(raw) - 2) // 2}H", raw[2 : 2 + (len(raw) - 2) // 2 * 2])


def _offered_shares(hello: ClientHello) -> tuple[int, ...]:
    raw = hello.extension(EXT_KEY_SHARE)
    if raw is None:
        return ()
    c = _Cursor(raw)
    entries = _Cursor(c.vector(2))
    out = []
    while entries.left:
        out.append(entries.uint(2))
        entries.vector(2)
    return tuple(out)


def _server_hello(body: bytes) -> ServerHello | HelloRetryRequest:
    c = _Cursor(body)
    legacy = c.uint(2)
    random = c.take(32)
    session_id = c.vector(1)
    if len(session_id) > 32:
        raise DecodeError("session id over 32 bytes")
    suite = c.uint(2)
    compression = c.uint(1)
    exts = _extensions(c) if c.left else None
    if c.left:
        raise DecodeError("bytes after the extensions")
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
                share = _Cursor(e.data[2:])
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
    c = _Cursor(msg)
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
