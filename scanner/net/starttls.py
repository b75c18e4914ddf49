"""STARTTLS: the plain-text exchange that asks a server to switch its connection to TLS, for
SMTP, IMAP, POP3, FTP, LDAP, XMPP and PostgreSQL. Every byte read is bounded (line length and
total); the caller's deadline covers the whole exchange."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from scanner.model.types import STARTTLS_CHOICES, StartTls

MAX_LINE = 4096  # bytes of one line (RFC 5321 4.5.3.1.5 allows 512 for an SMTP reply line)
MAX_TOTAL = 64 * 1024  # bytes read from the server before TLS, over the whole exchange
QUOTE_CHARS = 160  # characters of a server's reply quoted in an error detail
EHLO_NAME = b"tls-scanner.invalid"  # RFC 5321 4.1.1.1: a client names itself in EHLO

# `auto`: the IANA ports where these services start in the clear and offer an upgrade.
PORTS: dict[int, StartTls] = {
    25: StartTls.SMTP,
    587: StartTls.SMTP,
    143: StartTls.IMAP,
    110: StartTls.POP3,
    21: StartTls.FTP,
    389: StartTls.LDAP,
    5222: StartTls.XMPP,
    5432: StartTls.POSTGRES,
}
AUTO, NONE = "auto", "none"
CHOICES = STARTTLS_CHOICES


def choose(option: str, cell: str | None, port: int) -> StartTls | None:
    """The protocol to speak before TLS, or None for TLS at once: a row's `starttls` cell
    overrides the --starttls option; `auto` picks by port, `none` is direct TLS."""
    choice = cell or option
    if choice == AUTO:
        return PORTS.get(port)
    if choice == NONE:
        return None
    return StartTls(choice)


class Channel(Protocol):
    """The connected socket before TLS."""

    async def receive(self, max_bytes: int) -> bytes:
        """Some bytes, or b"" when the server closed the connection."""
        ...

    async def send(self, data: bytes) -> None: ...


class Refused(Exception):
    """The server answered in its protocol but refused, or did not offer, the upgrade
    (error code `starttls`)."""


class NotSpoken(Exception):
    """The server does not speak the protocol: garbage, a wrong banner, an endless line, a
    close (error code `tls`). The message says what was expected."""


def quote(data: bytes | str, limit: int = QUOTE_CHARS) -> str:
    """A server's text made printable and short: controls and non-ASCII as escapes."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.rstrip("\r\n")
    out = []
    for ch in text:
        out.append(ch if " " <= ch <= "~" else ch.encode("unicode_escape").decode("ascii"))
        if sum(map(len, out)) > limit:
            return "'" + "".join(out)[:limit] + "...'"
    return "'" + "".join(out) + "'"


class Reader:
    """Lines and bytes from the channel within MAX_LINE and MAX_TOTAL. `expecting` names what
    the exchange waits for (for the detail of a timeout, a close or garbage)."""

    def __init__(self, channel: Channel, protocol: StartTls) -> None:
        self.channel = channel
        self.protocol = protocol
        self.expecting = "a greeting"
        self.buffer = bytearray()
        self.total = 0

    def unexpected(self, got: str) -> NotSpoken:
        return NotSpoken(f"expected {self.expecting}, got {got}")

    async def _fill(self) -> None:
        room = MAX_TOTAL - self.total
        if room <= 0:
            raise self.unexpected(f"more than {MAX_TOTAL} bytes")
        data = await self.channel.receive(min(4096, room))
        if not data:
            raise NotSpoken(f"the server closed the connection; expected {self.expecting}")
        self.total += len(data)
        self.buffer += data

    async def line(self) -> bytes:
        """One line with its end (LF, or CRLF), at most MAX_LINE bytes."""
        while True:
            end = self.buffer.find(b"\n", 0, MAX_LINE)
            if end >= 0:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) >= MAX_LINE:
                raise self.unexpected(
                    f"a line longer than {MAX_LINE} bytes: {quote(bytes(self.buffer[:80]))}"
                )
            await self._fill()

    async def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            await self._fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def some(self) -> bytes:
        if not self.buffer:
            await self._fill()
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    async def send(self, data: bytes) -> None:
        await self.channel.send(data)


def _quote_lines(lines: list[bytes]) -> str:
    return quote(" | ".join(line.decode("utf-8", "replace").rstrip("\r\n") for line in lines))


# --- SMTP (RFC 5321 replies, RFC 3207 STARTTLS) ---------------------------------------------

_REPLY = re.compile(rb"^(\d{3})([ -]|\r?\n|$)")


async def _reply(r: Reader, label: str) -> tuple[int, list[bytes]]:
    """A reply of SMTP (RFC 5321 4.2.1) or FTP (RFC 959 4.2): `code-text` lines, then a last
    `code text` line. FTP allows other text inside a multi-line reply; SMTP does not."""
    lines = [await r.line()]
    m = _REPLY.match(lines[0])
    if m is None:
        raise r.unexpected(f"{quote(lines[0])} (not a {label} reply)")
    code = m.group(1)
    if m.group(2) == b"-":
        while True:
            line = await r.line()
            lines.append(line)
            if line.startswith(code + b" ") or line.rstrip(b"\r\n") == code:
                break
            if label == "SMTP" and not line.startswith(code + b"-"):
                raise r.unexpected(f"{quote(line)} (not an SMTP reply line)")
    return int(code), lines


async def _smtp(r: Reader, host: str) -> None:
    r.expecting = "an SMTP greeting (220, RFC 5321)"
    code, lines = await _reply(r, "SMTP")
    if code != 220:
        raise Refused(f"the SMTP server does not accept a session: {_quote_lines(lines)}")
    await r.send(b"EHLO " + EHLO_NAME + b"\r\n")
    r.expecting = "an SMTP reply to EHLO (250)"
    code, lines = await _reply(r, "SMTP")
    if code != 250:
        raise Refused(f"the SMTP server refused EHLO: {_quote_lines(lines)}")
    keywords = {line[4:].split(None, 1)[0].upper() for line in lines[1:] if line[4:].split()}
    if b"STARTTLS" not in keywords:
        raise Refused(
            f"the SMTP server does not offer STARTTLS (RFC 3207) in its EHLO reply: "
            f"{_quote_lines(lines)}"
        )
    await r.send(b"STARTTLS\r\n")
    r.expecting = "an SMTP reply to STARTTLS (220)"
    code, lines = await _reply(r, "SMTP")
    if code != 220:
        raise Refused(f"the SMTP server refused STARTTLS: {_quote_lines(lines)}")


# --- IMAP (RFC 3501 6.2.1) ------------------------------------------------------------------


def _imap_capabilities(line: bytes) -> set[bytes]:
    text = line.upper()
    if text.startswith(b"* CAPABILITY "):
        return set(text[13:].split())
    start = text.find(b"[CAPABILITY ")
    end = text.find(b"]", start)
    return set(text[start + 12 : end].split()) if start >= 0 and end > start else set()


async def _imap_command(r: Reader, tag: bytes, command: bytes) -> tuple[bytes, list[bytes]]:
    """Send a tagged command; return the tagged completion and the untagged lines before it."""
    await r.send(tag + b" " + command + b"\r\n")
    untagged: list[bytes] = []
    while True:
        line = await r.line()
        if line.startswith(tag + b" "):
            return line, untagged
        if not line.startswith((b"* ", b"+ ")):
            raise r.unexpected(f"{quote(line)} (not an IMAP response)")
        untagged.append(line)


async def _imap(r: Reader, host: str) -> None:
    r.expecting = "an IMAP greeting (* OK, RFC 3501 7.1)"
    greeting = await r.line()
    upper = greeting.upper()
    if upper.startswith(b"* BYE"):
        raise Refused(f"the IMAP server rejected the connection: {quote(greeting)}")
    if not upper.startswith((b"* OK", b"* PREAUTH")):
        raise r.unexpected(quote(greeting))
    capabilities = _imap_capabilities(greeting)
    if b"STARTTLS" not in capabilities:
        r.expecting = "an IMAP reply to CAPABILITY"
        done, untagged = await _imap_command(r, b"a1", b"CAPABILITY")
        for line in untagged:
            capabilities |= _imap_capabilities(line)
        if b"STARTTLS" not in capabilities:
            raise Refused(
                f"the IMAP server does not offer STARTTLS: {_quote_lines([*untagged, done])}"
            )
    r.expecting = "an IMAP reply to STARTTLS (OK)"
    done, _ = await _imap_command(r, b"a2", b"STARTTLS")
    if not done[3:].upper().startswith(b"OK"):
        raise Refused(f"the IMAP server refused STARTTLS: {quote(done)}")


# --- POP3 (RFC 2595 4) ----------------------------------------------------------------------


async def _pop3_status(r: Reader, what: str) -> bytes:
    line = await r.line()
    if line.startswith(b"-ERR"):
        raise Refused(f"the POP3 server {what}: {quote(line)}")
    if not line.startswith(b"+OK"):
        raise r.unexpected(quote(line))
    return line


async def _pop3(r: Reader, host: str) -> None:
    r.expecting = "a POP3 greeting (+OK, RFC 1939)"
    await _pop3_status(r, "rejected the connection")
    await r.send(b"STLS\r\n")  # a server without STLS answers -ERR (RFC 2595 4)
    r.expecting = "a POP3 reply to STLS (+OK)"
    await _pop3_status(r, "refused STLS")


# --- FTP (RFC 4217 4) -----------------------------------------------------------------------


async def _ftp(r: Reader, host: str) -> None:
    r.expecting = "an FTP greeting (220, RFC 959)"
    code, lines = await _reply(r, "FTP")
    if code == 120:  # "service ready in nnn minutes", then the greeting (RFC 959 5.4)
        code, lines = await _reply(r, "FTP")
    if code != 220:
        raise Refused(f"the FTP server does not accept a session: {_quote_lines(lines)}")
    await r.send(b"AUTH TLS\r\n")
    r.expecting = "an FTP reply to AUTH TLS (234)"
    code, lines = await _reply(r, "FTP")
    if code != 234:
        raise Refused(f"the FTP server refused AUTH TLS: {_quote_lines(lines)}")


# --- LDAP (RFC 4511 4.14: the StartTLS extended operation) ----------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
# LDAPMessage { messageID 1, extendedReq [APPLICATION 23] { requestName [0] OID } }
LDAP_STARTTLS = (
    b"\x30"
    + bytes([len(LDAP_STARTTLS_OID) + 7])
    + b"\x02\x01\x01\x77"
    + bytes([len(LDAP_STARTTLS_OID) + 2])
    + b"\x80"
    + bytes([len(LDAP_STARTTLS_OID)])
    + LDAP_STARTTLS_OID
)
_LDAP_RESULTS = {  # RFC 4511 4.1.9
    1: "operationsError",
    2: "protocolError",
    12: "unavailableCriticalExtension",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


def _ber(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One BER element at `pos` of a complete message: (tag, contents, next position)."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 3 or pos + size > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos : pos + length], pos + length


async def _ldap_message(r: Reader) -> bytes:
    head = await r.exactly(2)
    if head[0] != 0x30:
        raise r.unexpected(f"{quote(head + bytes(r.buffer[:40]))} (not a BER SEQUENCE)")
    length = head[1]
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 3:
            raise r.unexpected("a BER length it cannot read")
        length = int.from_bytes(await r.exactly(size), "big")
    if length > MAX_TOTAL:
        raise r.unexpected(f"a message of {length} bytes (more than {MAX_TOTAL})")
    return await r.exactly(length)


async def _ldap(r: Reader, host: str) -> None:
    await r.send(LDAP_STARTTLS)
    r.expecting = "an LDAP ExtendedResponse to StartTLS (RFC 4511 4.14.2)"
    body = await _ldap_message(r)
    try:
        tag, message_id, pos = _ber(body, 0)
        op, response, _ = _ber(body, pos)
        if tag != 0x02 or op != 0x78:  # INTEGER messageID, [APPLICATION 24] extendedResp
            raise ValueError("not an ExtendedResponse")
        tag, code, pos = _ber(response, 0)
        _, _matched, pos = _ber(response, pos)
        _, message, pos = _ber(response, pos)
        if tag != 0x0A:  # ENUMERATED resultCode
            raise ValueError("no resultCode")
    except ValueError as e:
        raise r.unexpected(f"an LDAP message it cannot read ({e})") from None
    result = int.from_bytes(code, "big")
    if result != 0 or int.from_bytes(message_id, "big") == 0:
        name = _LDAP_RESULTS.get(result, "")
        raise Refused(
            f"the LDAP server refused StartTLS: resultCode {result}"
            + (f" ({name})" if name else "")
            + (f", {quote(message)}" if message else "")
        )


# --- XMPP (RFC 6120 4 and 5) ----------------------------------------------------------------

_STREAMS = "{http://etherx.jabber.org/streams}"
_TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
_TLS = "{" + _TLS_NS + "}"


async def _xmpp_element(r: Reader, parser: Any, depth: list[int]) -> ET.Element:
    """The next complete child of the stream (depth 2), reading as needed."""
    while True:
        for event, element in parser.read_events():
            if event == "start":
                depth[0] += 1
                if depth[0] == 1 and element.tag != _STREAMS + "stream":
                    raise r.unexpected(f"<{quote(element.tag)[1:-1]}> (not an XMPP stream)")
            else:
                depth[0] -= 1
                if depth[0] == 1:
                    return element  # type: ignore[no-any-return]
                if depth[0] == 0:
                    raise Refused("the XMPP server closed its stream")
        data = await r.some()
        # RFC 6120 11.1: no DTDs, comments or processing instructions (and so no entity tricks).
        if b"<!" in data or b"<?" in data.replace(b"<?xml ", b""):
            raise r.unexpected("XML that XMPP forbids (a DTD, comment or processing instruction)")
        try:
            parser.feed(data)
        except ET.ParseError as e:
            raise r.unexpected(f"text that is not XML ({e}): {quote(data[:80])}") from None


async def _xmpp(r: Reader, host: str) -> None:
    domain = host.encode("idna") if host.isascii() else host.encode("utf-8")
    await r.send(
        b"<?xml version='1.0'?><stream:stream to='"
        + domain.replace(b"'", b"")
        + b"' version='1.0' xml:lang='en' xmlns='jabber:client'"
        b" xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    parser: Any = ET.XMLPullParser(events=("start", "end"))
    depth = [0]
    r.expecting = "an XMPP stream header and features (RFC 6120 4.3)"
    features = await _xmpp_element(r, parser, depth)
    if features.tag == _STREAMS + "error":
        raise Refused(f"the XMPP server sent a stream error: {_xmpp_text(features)}")
    if features.tag != _STREAMS + "features":
        raise r.unexpected(f"<{quote(features.tag)[1:-1]}> instead of <stream:features>")
    if features.find(_TLS + "starttls") is None:
        raise Refused("the XMPP server does not offer STARTTLS in its stream features")
    await r.send(b"<starttls xmlns='" + _TLS_NS.encode() + b"'/>")
    r.expecting = "an XMPP <proceed/> (RFC 6120 5.4.2.3)"
    answer = await _xmpp_element(r, parser, depth)
    if answer.tag != _TLS + "proceed":
        raise Refused(f"the XMPP server refused STARTTLS: <{answer.tag.rsplit('}', 1)[-1]}>")


def _xmpp_text(element: ET.Element) -> str:
    names = [child.tag.rsplit("}", 1)[-1] for child in element]
    return quote(" ".join(names) or "(empty)")


# --- PostgreSQL (protocol 3.0, "SSL Session Encryption") ------------------------------------

PG_SSL_REQUEST = struct.pack("!II", 8, 80877103)


async def _postgres(r: Reader, host: str) -> None:
    await r.send(PG_SSL_REQUEST)
    r.expecting = "a PostgreSQL answer to SSLRequest ('S' or 'N')"
    answer = await r.exactly(1)
    if answer == b"N":
        raise Refused("the PostgreSQL server does not accept SSL (answered 'N' to SSLRequest)")
    if answer == b"E":
        raise Refused("the PostgreSQL server answered SSLRequest with an error message")
    if answer != b"S":
        raise r.unexpected(quote(answer + bytes(r.buffer[:40])))


_DIALOGUES: dict[StartTls, Callable[[Reader, str], Awaitable[None]]] = {
    StartTls.SMTP: _smtp,
    StartTls.IMAP: _imap,
    StartTls.POP3: _pop3,
    StartTls.FTP: _ftp,
    StartTls.LDAP: _ldap,
    StartTls.XMPP: _xmpp,
    StartTls.POSTGRES: _postgres,
}


async def upgrade(reader: Reader, host: str) -> None:
    """Speak `reader.protocol` up to the server's agreement to start TLS. Raises Refused or
    NotSpoken (and lets the channel's own errors and the caller's timeout through)."""
    await _DIALOGUES[reader.protocol](reader, host)
    if reader.buffer:
        # Bytes after the go-ahead would be taken for TLS (the injection RFC 3207 5 warns of).
        raise NotSpoken(
            f"the server sent data after agreeing to start TLS: {quote(bytes(reader.buffer))}"
        )
