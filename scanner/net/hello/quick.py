"""The usual answer to a probe that needs only the server's choice, read straight from the
first bytes received: one complete record holding a ServerHello or HelloRetryRequest that
`FlightReader` accepts, or one fatal alert. Anything else (a record split over reads, a
warning first, an answer the offer does not allow, any malformation) is None, and the caller
reads the bytes through FlightReader and decide() as usual. Either way the outcome is the
same (tests/unit/test_hello_quick.py checks it on the codec's flights and mutations of them);
this way costs a fifth of the CPU, and most of a fleet's hellos are answered so."""

from __future__ import annotations

from scanner.net.hello.client import ClientHello
from scanner.net.hello.outcome import (
    Accepted,
    Outcome,
    RefusalKind,
    Refused,
    Retried,
    lowest_offered,
)
from scanner.net.hello.records import (
    ALERT,
    EXT_KEY_SHARE,
    EXT_SCT,
    EXT_SUPPORTED_VERSIONS,
    HANDSHAKE,
    HRR_RANDOM,
    HT_SERVER_HELLO,
    MAX_RECORD,
)
from scanner.net.hello.server import never_offered


def quick_outcome(data: bytes, offered: ClientHello) -> Outcome | None:
    """The outcome of a hello-only probe from its first bytes, when they are the usual
    answer; None: read them the general way."""
    if len(data) < 7 or data[1] != 3:
        return None
    length = (data[3] << 8) | data[4]
    if data[0] == ALERT:
        if length == 2 and data[5] == 2:  # one fatal alert, alone in its record
            return Refused(kind=RefusalKind.ALERT, alert=data[6])
        return None
    if (
        data[0] != HANDSHAKE
        or not 4 <= length <= MAX_RECORD
        or len(data) < 5 + length
        or data[5] != HT_SERVER_HELLO
    ):
        return None
    size = int.from_bytes(data[6:9], "big")
    if 4 + size > length:  # the message goes on in another record
        return None
    return _server_hello(data[9 : 9 + size], offered)


def _server_hello(body: bytes, offered: ClientHello) -> Outcome | None:
    n = len(body)
    if n < 38:
        return None
    sid = body[34]
    at = 35 + sid
    if sid > 32 or at + 3 > n:
        return None
    version = (body[0] << 8) | body[1]  # legacy_version, unless supported_versions says
    suite = (body[at] << 8) | body[at + 1]
    compression = body[at + 2]
    hrr = body[2:34] == HRR_RANDOM
    group: int | None = None
    sct: bytes | None = None
    pos = at + 3
    if pos != n:
        if pos + 2 > n or pos + 2 + ((body[pos] << 8) | body[pos + 1]) != n:
            return None
        pos += 2
        while pos < n:
            if pos + 4 > n:
                return None
            kind, start = (body[pos] << 8) | body[pos + 1], pos + 4
            pos = start + ((body[pos + 2] << 8) | body[pos + 3])
            if pos > n:
                return None
            if kind == EXT_SUPPORTED_VERSIONS:
                if pos - start != 2:
                    return None
                version = (body[start] << 8) | body[start + 1]
            elif kind == EXT_KEY_SHARE:
                if pos - start < 2:
                    return None
                group = (body[start] << 8) | body[start + 1]
                if not hrr and (
                    pos - start < 4 or start + 4 + ((body[start + 2] << 8) | body[start + 3]) != pos
                ):
                    return None
            elif kind == EXT_SCT and sct is None:
                sct = body[start:pos]
    if never_offered(offered, hrr, version, suite, None if hrr else compression, group):
        return None  # the general way says what
    if hrr:
        return Retried(suite=suite, group=group)
    if version < lowest_offered(offered):
        return Refused(kind=RefusalKind.VERSION, version=version)
    return Accepted(version=version, suite=suite, group=group, sct_extension=sct)
