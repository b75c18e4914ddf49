"""ClientHellos, sans I/O: `build` turns an Offer into a ClientHello (SSL 3.0, TLS 1.0-1.3,
with extensions and key shares), `encode`/`encode_sslv2` turn hellos into bytes, and
`parse_client_hello` reads one back (fixtures of real clients, lab peers).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Final

from scanner.model.suites import GROUPS, SUITES, Protocol
from scanner.net.hello.records import (
    EXT_EC_POINT_FORMATS,
    EXT_EXTENDED_MASTER_SECRET,
    EXT_KEY_SHARE,
    EXT_PADDING,
    EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_RENEGOTIATION_INFO,
    EXT_SCT,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_STATUS_REQUEST,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    HANDSHAKE,
    HT_CLIENT_HELLO,
    Cursor,
    DecodeError,
    Extension,
    pack_codes,
    pack_records,
    pack_u8,
    pack_u16,
    pack_u24,
    read_extensions,
)

# Every signature scheme a certificate of any kind could need (RFC 8446 4.2.3 and the TLS 1.2
# SignatureAndHashAlgorithm pairs of RFC 5246 7.4.1.4.1, including SHA-1, DSA and SHA-224).
SIGNATURE_ALGORITHMS: Final = (
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0603, 0x0807, 0x0808,
    0x0809, 0x080A, 0x080B, 0x0303, 0x0301, 0x0302, 0x0203, 0x0201, 0x0202, 0x0402, 0x0502,
    0x0602,
)  # fmt: skip


# --- hello specs ---------------------------------------------------------------------------


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


def _ext(e: Extension) -> bytes:
    return e.type.to_bytes(2, "big") + pack_u16(e.data)


def encode(hello: ClientHello) -> bytes:
    """The hello as TLS records (fragmented at 2^14 bytes, RFC 5246 6.2.1)."""
    body = b"".join(
        (
            hello.version.to_bytes(2, "big"),
            hello.random,
            pack_u8(hello.session_id),
            pack_u16(pack_codes(hello.cipher_suites)),
            pack_u8(hello.compression_methods),
            b"" if hello.extensions is None else pack_u16(b"".join(map(_ext, hello.extensions))),
        )
    )
    return pack_records(HANDSHAKE, hello.record_version, bytes((HT_CLIENT_HELLO,)) + pack_u24(body))


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
    return pack_u16(b"\x00" + pack_u16(host))


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


_ECC_SUITES: Final = frozenset(c for c, s in SUITES.items() if s.kx in _ECC_KX)


def _static_extensions(offer: Offer, ecc: bool) -> tuple[Extension, ...]:
    """The extensions an offer implies, but server_name and padding (`ecc`: it offers an ECC
    suite)."""
    exts: list[Extension] = []
    tls13 = Protocol.TLS1_3 in offer.versions
    if tls13 or ecc:
        exts.append(Extension(EXT_EC_POINT_FORMATS, b"\x01\x00"))
    if offer.groups:
        exts.append(Extension(EXT_SUPPORTED_GROUPS, pack_u16(pack_codes(offer.groups))))
    if offer.highest >= Protocol.TLS1_2:
        exts.append(Extension(EXT_SIGNATURE_ALGORITHMS, pack_u16(pack_codes(SIGNATURE_ALGORITHMS))))
    if offer.status_request:  # ocsp, no responder ids, no request extensions
        exts.append(Extension(EXT_STATUS_REQUEST, b"\x01\x00\x00\x00\x00"))
    if offer.sct:
        exts.append(Extension(EXT_SCT, b""))
    exts.append(Extension(EXT_EXTENDED_MASTER_SECRET, b""))
    exts.append(Extension(EXT_RENEGOTIATION_INFO, b"\x00"))
    if tls13:
        versions = pack_codes(tuple(offer.versions))
        exts.append(Extension(EXT_SUPPORTED_VERSIONS, pack_u8(versions)))
        exts.append(Extension(EXT_PSK_KEY_EXCHANGE_MODES, b"\x01\x01"))  # psk_dhe_ke
        shares = b"".join(g.to_bytes(2, "big") + pack_u16(KEY_SHARES[g]) for g in offer.key_shares)
        exts.append(Extension(EXT_KEY_SHARE, pack_u16(shares)))
    return tuple(exts)


# Per offer shape, name and suites aside (a fleet's hosts differ by name; a cipher enumeration
# sends one shape with ever fewer suites): the extensions and their encoding.
_EXTENSIONS_CACHE: dict[tuple[object, ...], tuple[tuple[Extension, ...], bytes]] = {}


def _extensions(offer: Offer, ecc: bool) -> tuple[tuple[Extension, ...], bytes]:
    key = (offer.versions, offer.groups, offer.key_shares, offer.status_request, offer.sct, ecc)
    found = _EXTENSIONS_CACHE.get(key)
    if found is None:
        if len(_EXTENSIONS_CACHE) >= 256:
            _EXTENSIONS_CACHE.clear()
        exts = _static_extensions(offer, ecc)
        found = _EXTENSIONS_CACHE[key] = (exts, b"".join(map(_ext, exts)))
    return found


def build(
    offer: Offer, *, random: bytes | None = None, session_id: bytes | None = None
) -> ClientHello:
    """The ClientHello for an offer: legacy_version the highest offered version (TLS 1.2 when
    TLS 1.3 is offered, RFC 8446 4.1.2), a fresh random, and for TLS 1.3 a 32-byte session id
    (middlebox compatibility, RFC 8446 D.4). The extension block is computed once per shape."""
    return assemble(offer, random=random, session_id=session_id)[0]


def assemble(
    offer: Offer, *, random: bytes | None = None, session_id: bytes | None = None
) -> tuple[ClientHello, bytes]:
    """`build` and `encode` at once, the extension block cached per offer shape (the
    prober's hellos come from template.hello_for, spliced into what this writes)."""
    highest = offer.highest
    legacy = min(highest, Protocol.TLS1_2)
    if session_id is None:
        session_id = os.urandom(32) if highest is Protocol.TLS1_3 else b""
    random = os.urandom(32) if random is None else random
    if not offer.extensions:
        hello = ClientHello(
            version=legacy,
            random=random,
            session_id=session_id,
            cipher_suites=offer.suites,
            extensions=None,
            record_version=min(legacy, Protocol.TLS1_0),
        )
        return hello, encode(hello)
    # (A repeated offer is spliced from its template instead: see template.py.)
    suites = pack_u16(pack_codes(offer.suites))
    rest, rest_bytes = _extensions(offer, not _ECC_SUITES.isdisjoint(offer.suites))
    named = (Extension(EXT_SERVER_NAME, _sni(offer.sni)),) if offer.sni else ()
    sni = _ext(named[0]) if named else b""
    exts_size = 2 + len(sni) + len(rest_bytes)
    # The handshake message: type and length (4), version, random, session id, suites,
    # compression (one method), extensions.
    size = 4 + 2 + 32 + 1 + len(session_id) + 2 + 2 * len(offer.suites) + 2 + exts_size
    if offer.pad_to:
        target = offer.pad_to  # record header(s) included
        size += 5 * -(-size // 2**14)
    elif 0xFF < size < 0x200:
        # Some TLS terminators (F5 BIG-IP among them) hang on a ClientHello message of 256-511
        # bytes; clients pad those to 512 (RFC 7685 1, as BoringSSL and NSS do), at least 5
        # bytes more (a padding extension has a 4-byte header), as BoringSSL adds.
        target, size = max(512, size + 5) + 5, size + 5
    else:
        target = 0
    padding = Extension(EXT_PADDING, bytes(target - size - 4)) if target >= size + 4 else None
    exts: tuple[Extension, ...] = named
    exts += rest if padding is None else (*rest, padding)
    block = b"".join((sni, rest_bytes, _ext(padding) if padding else b""))
    body = b"".join(
        (
            legacy.to_bytes(2, "big"),
            random,
            pack_u8(session_id),
            suites,
            b"\x01\x00",  # compression: null only
            pack_u16(block),
        )
    )
    hello = ClientHello(
        version=legacy,
        random=random,
        session_id=session_id,
        cipher_suites=offer.suites,
        extensions=exts,
        record_version=min(legacy, Protocol.TLS1_0),
    )
    message = bytes((HT_CLIENT_HELLO,)) + pack_u24(body)
    return hello, pack_records(HANDSHAKE, hello.record_version, message)


# --- reading a ClientHello (fixtures of real clients, lab peers) ----------------------------


def parse_client_hello(data: bytes) -> ClientHello:
    """A ClientHello from its records (one handshake message, possibly over several records)."""
    c = Cursor(data)
    payload = b""
    record_version = 0
    while c.left:
        if c.uint(1) != HANDSHAKE:
            raise DecodeError("not a handshake record")
        version = c.uint(2)
        record_version = record_version or version
        payload += c.vector(2)
    m = Cursor(payload)
    if m.uint(1) != HT_CLIENT_HELLO:
        raise DecodeError("not a ClientHello")
    b = Cursor(m.vector(3))
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
    exts = read_extensions(b) if b.left else None
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
    c = Cursor(data)
    entries = Cursor(c.vector(2))
    if c.left or not entries.left:
        raise DecodeError("not a SignedCertificateTimestampList")
    out = []
    while entries.left:
        sct = entries.vector(2)
        if not sct:
            raise DecodeError("an empty SerializedSCT")
        out.append(sct)
    return tuple(out)
