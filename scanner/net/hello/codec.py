"""ClientHellos and the server's first flight, sans I/O (in the style of h11): `encode` turns a
hello spec into bytes, `FlightReader` turns the server's bytes into typed events. No sockets, no
clock; every length is checked against a cap before anything is buffered, and at most
MAX_BUFFERED bytes are ever held (a 16 MiB length claim is an event, not an allocation).

Formats: TLS 1.0-1.2 (RFC 2246, 4346, 5246), TLS 1.3 (RFC 8446), SSL 3.0 (RFC 6101), SSL 2.0
CLIENT-HELLO / SERVER-HELLO and the version-2-compatible hello (draft-hickman-netscape-ssl-00,
RFC 5246 E.2), extensions (RFC 6066 server_name and status_request, RFC 6962
signed_certificate_timestamp, RFC 7685 padding, RFC 7627 extended_master_secret, RFC 5746
renegotiation_info), OCSP stapling's CertificateStatus (RFC 6066 8).

The code lives in `records` (record layer, caps, vectors), `client` (building, encoding and
parsing ClientHellos), `events` (the first flight's typed events) and `server` (FlightReader);
this module re-exports their public names.
"""

from __future__ import annotations

from scanner.net.hello.client import (
    KEY_SHARES,
    SIGNATURE_ALGORITHMS,
    ClientHello,
    Offer,
    SSL2ClientHello,
    build,
    encode,
    encode_sslv2,
    parse_client_hello,
    sct_list,
)
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
    HRR_RANDOM,
    HT_CERTIFICATE,
    HT_CERTIFICATE_REQUEST,
    HT_CERTIFICATE_STATUS,
    HT_CLIENT_HELLO,
    HT_SERVER_HELLO,
    HT_SERVER_HELLO_DONE,
    HT_SERVER_KEY_EXCHANGE,
    MAX_BUFFERED,
    MAX_MESSAGE,
    MAX_RECORD,
    DecodeError,
    Extension,
)
from scanner.net.hello.server import (
    FlightReader,
)
from scanner.net.hello.template import hello_for

__all__ = [
    "ALERT",
    "APPLICATION_DATA",
    "Alert",
    "CHANGE_CIPHER_SPEC",
    "Certificate",
    "CertificateStatus",
    "ClientHello",
    "Closed",
    "DecodeError",
    "EXT_EC_POINT_FORMATS",
    "EXT_EXTENDED_MASTER_SECRET",
    "EXT_KEY_SHARE",
    "EXT_PADDING",
    "EXT_PSK_KEY_EXCHANGE_MODES",
    "EXT_RENEGOTIATION_INFO",
    "EXT_SCT",
    "EXT_SERVER_NAME",
    "EXT_SIGNATURE_ALGORITHMS",
    "EXT_STATUS_REQUEST",
    "EXT_SUPPORTED_GROUPS",
    "EXT_SUPPORTED_VERSIONS",
    "Encrypted",
    "Event",
    "Extension",
    "FlightReader",
    "HANDSHAKE",
    "HRR_RANDOM",
    "HT_CERTIFICATE",
    "HT_CERTIFICATE_REQUEST",
    "HT_CERTIFICATE_STATUS",
    "HT_CLIENT_HELLO",
    "HT_SERVER_HELLO",
    "HT_SERVER_HELLO_DONE",
    "HT_SERVER_KEY_EXCHANGE",
    "HelloRetryRequest",
    "KEY_SHARES",
    "MAX_BUFFERED",
    "MAX_MESSAGE",
    "MAX_RECORD",
    "Offer",
    "OtherHandshake",
    "ProtocolError",
    "SIGNATURE_ALGORITHMS",
    "SSL2ClientHello",
    "SSL2Error",
    "SSL2ServerHello",
    "ServerHello",
    "ServerHelloDone",
    "ServerKeyExchange",
    "build",
    "encode",
    "encode_sslv2",
    "hello_for",
    "parse_client_hello",
    "sct_list",
]
