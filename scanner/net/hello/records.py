"""The record layer of the hello codec: protocol numbers, record and message caps, the
length-prefixed vectors of RFC 5246 4.3 (writing and a bounds-checked reading cursor), and the
records that carry handshake messages (RFC 5246 6.2.1). Pure: no sockets, no clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

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


@dataclass(frozen=True, slots=True)
class Extension:
    type: int
    data: bytes


# --- writing vectors and records ----------------------------------------------------------


def pack_u8(b: bytes) -> bytes:
    return bytes((len(b),)) + b


def pack_u16(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def pack_u24(b: bytes) -> bytes:
    return len(b).to_bytes(3, "big") + b


def pack_codes(codes: tuple[int, ...]) -> bytes:
    return struct.pack(f">{len(codes)}H", *codes)


def pack_records(content_type: int, version: int, payload: bytes) -> bytes:
    head = bytes((content_type,)) + version.to_bytes(2, "big")
    return b"".join(
        head + pack_u16(payload[i : i + 2**14]) for i in range(0, max(len(payload), 1), 2**14)
    )


# --- reading ------------------------------------------------------------------------------


class DecodeError(ValueError):
    """Bytes that are not a well-formed hello."""


class Cursor:
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


def read_extensions(c: Cursor) -> tuple[Extension, ...]:
    block = Cursor(c.vector(2))
    out = []
    while block.left:
        t = block.uint(2)
        out.append(Extension(t, block.vector(2)))
    return tuple(out)
