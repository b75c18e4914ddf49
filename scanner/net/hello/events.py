"""The events of a server's first flight, as `FlightReader` reports them: typed, frozen
values, one per handshake message, alert, record kind or failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.net.hello.records import Extension


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
