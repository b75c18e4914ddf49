"""Lab servers that start in the clear and upgrade to TLS as their RFCs say (SMTP, IMAP, POP3,
FTP, LDAP, XMPP, PostgreSQL), with switches to refuse or never offer the upgrade, and peers
that misbehave before TLS (a dripped banner, a 1 MiB banner line)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scanner.model.types import StartTls

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LINE_LIMIT = 8192  # the lab's own bound on what a client may send it


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    """How a lab server treats the upgrade: list it among its capabilities (`offer`), and
    agree to it when asked (`accept`)."""

    offer: bool = True
    accept: bool = True


async def _tls_then_hold(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: ssl.SSLContext
) -> None:
    """Start TLS on the connection (server side), then keep it until the client leaves."""
    await writer.start_tls(ctx, ssl_handshake_timeout=30)
    while await reader.read(65536):
        pass


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line:
        raise EOFError
    return line[:LINE_LIMIT]


# --- one dialogue per protocol --------------------------------------------------------------


async def _smtp(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 5321 greeting and EHLO, RFC 3207 STARTTLS (454 when refused)."""
    w.write(b"220 mail.lab.test ESMTP lab\r\n")
    while True:
        verb = (await _line(r)).strip().upper()
        if verb.startswith((b"EHLO", b"HELO")):
            w.write(b"250-mail.lab.test greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n")
            w.write((b"250-STARTTLS\r\n" if u.offer else b"") + b"250 8BITMIME\r\n")
        elif verb == b"STARTTLS":
            if not (u.offer and u.accept):
                w.write(b"454 4.7.0 TLS not available due to local problem\r\n")
                continue
            w.write(b"220 2.0.0 Ready to start TLS\r\n")
            await w.drain()
            return await _tls_then_hold(r, w, ctx)
        elif verb == b"QUIT":
            w.write(b"221 2.0.0 Bye\r\n")
            return
        else:
            w.write(b"502 5.5.2 Error: command not recognized\r\n")
        await w.drain()


async def _imap(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 3501: an untagged OK greeting, CAPABILITY, STARTTLS (tagged OK, or NO)."""
    w.write(b"* OK lab IMAP4rev1 server ready\r\n")
    while True:
        tag, _, command = (await _line(r)).strip().partition(b" ")
        command = command.upper()
        if command == b"CAPABILITY":
            caps = b"IMAP4rev1" + (b" STARTTLS" if u.offer else b"") + b" LOGINDISABLED"
            w.write(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK CAPABILITY completed\r\n")
        elif command == b"STARTTLS":
            if not (u.offer and u.accept):
                w.write(tag + b" NO STARTTLS is disabled on this server\r\n")
                continue
            w.write(tag + b" OK Begin TLS negotiation now\r\n")
            await w.drain()
            return await _tls_then_hold(r, w, ctx)
        else:
            w.write(tag + b" BAD unknown command\r\n")
        await w.drain()


async def _pop3(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 1939 greeting, RFC 2449 CAPA, RFC 2595 STLS (-ERR when refused)."""
    w.write(b"+OK lab POP3 server ready\r\n")
    while True:
        command = (await _line(r)).strip().upper()
        if command == b"CAPA":
            w.write(b"+OK Capability list follows\r\nUSER\r\n" + (b"STLS\r\n" if u.offer else b""))
            w.write(b".\r\n")
        elif command == b"STLS":
            if not (u.offer and u.accept):
                w.write(b"-ERR command not permitted\r\n")
                continue
            w.write(b"+OK Begin TLS negotiation\r\n")
            await w.drain()
            return await _tls_then_hold(r, w, ctx)
        else:
            w.write(b"-ERR unknown command\r\n")
        await w.drain()


async def _ftp(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 959 multi-line greeting, RFC 4217 AUTH TLS (234; 534 when refused)."""
    w.write(b"220-lab FTP server\r\n220 ready\r\n")
    while True:
        command = (await _line(r)).strip().upper()
        if command == b"AUTH TLS":
            if not (u.offer and u.accept):
                w.write(b"534 Policy requires no TLS\r\n")
                continue
            w.write(b"234 AUTH TLS successful\r\n")
            await w.drain()
            return await _tls_then_hold(r, w, ctx)
        w.write(b"500 unknown command\r\n")
        await w.drain()


_LDAP_OID = b"1.3.6.1.4.1.1466.20037"


def _ldap_response(message_id: int, code: int, text: bytes) -> bytes:
    """An ExtendedResponse (RFC 4511 4.12) with the StartTLS responseName."""
    body = (
        b"\x0a\x01"
        + bytes([code])
        + b"\x04\x00\x04"
        + bytes([len(text)])
        + text
        + b"\x8a"
        + bytes([len(_LDAP_OID)])
        + _LDAP_OID
    )
    op = b"\x78" + bytes([len(body)]) + body
    msg = b"\x02\x01" + bytes([message_id]) + op
    return b"\x30" + bytes([len(msg)]) + msg


async def _ldap(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 4511 4.14: the StartTLS extended operation (resultCode 0, or 53 when refused)."""
    head = await r.readexactly(2)
    if head[0] != 0x30 or head[1] & 0x80:
        return
    message = await r.readexactly(head[1])
    message_id = message[2] if message[:2] == b"\x02\x01" else 1
    if _LDAP_OID not in message:
        w.write(_ldap_response(message_id, 2, b"only StartTLS here"))
        return
    if not (u.offer and u.accept):
        w.write(_ldap_response(message_id, 53, b"StartTLS is not enabled"))
        await w.drain()
        return
    w.write(_ldap_response(message_id, 0, b""))
    await w.drain()
    await _tls_then_hold(r, w, ctx)


_XMPP_TLS = b"urn:ietf:params:xml:ns:xmpp-tls"


async def _xmpp(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """RFC 6120: the response stream header, features with <starttls/>, then <proceed/> or
    <failure/> (which closes the stream)."""
    header = await r.readuntil(b">")
    if header.startswith(b"<?xml"):
        header = await r.readuntil(b">")
    if b"stream:stream" not in header:
        return
    w.write(
        b"<?xml version='1.0'?><stream:stream from='lab.test' id='lab-1' version='1.0' "
        b"xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        b"<stream:features>"
        + (b"<starttls xmlns='" + _XMPP_TLS + b"'><required/></starttls>" if u.offer else b"")
        + b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"</mechanisms></stream:features>"
    )
    await w.drain()
    request = await r.readuntil(b">")
    if b"starttls" not in request:
        return
    if not (u.offer and u.accept):
        w.write(b"<failure xmlns='" + _XMPP_TLS + b"'/></stream:stream>")
        await w.drain()
        return
    w.write(b"<proceed xmlns='" + _XMPP_TLS + b"'/>")
    await w.drain()
    await _tls_then_hold(r, w, ctx)


async def _postgres(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, ctx: ssl.SSLContext, u: Upgrade
) -> None:
    """PostgreSQL SSLRequest (length 8, code 80877103): 'S' then TLS, or 'N'."""
    length, code = struct.unpack("!II", await r.readexactly(8))
    if (length, code) != (8, 80877103):
        return
    if not (u.offer and u.accept):
        w.write(b"N")
        await w.drain()
        await r.read(1024)  # a client would go on in the clear; the lab just waits
        return
    w.write(b"S")
    await w.drain()
    await _tls_then_hold(r, w, ctx)


DialogueFn = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, ssl.SSLContext, Upgrade], Awaitable[None]
]
DIALOGUES: dict[StartTls, DialogueFn] = {
    StartTls.SMTP: _smtp,
    StartTls.IMAP: _imap,
    StartTls.POP3: _pop3,
    StartTls.FTP: _ftp,
    StartTls.LDAP: _ldap,
    StartTls.XMPP: _xmpp,
    StartTls.POSTGRES: _postgres,
}


AGREES = Upgrade()  # offers the upgrade and agrees to it


def server(protocol: StartTls, ctx: ssl.SSLContext, upgrade: Upgrade = AGREES) -> Handler:
    """A connection handler speaking `protocol`, then TLS with `ctx`."""
    dialogue = DIALOGUES[protocol]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await dialogue(reader, writer, ctx, upgrade)
            await writer.drain()
        except (ConnectionError, OSError, EOFError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:
            pass
        finally:
            writer.close()

    return handler


# --- peers that misbehave before TLS --------------------------------------------------------


def dripper(every: float = 0.05) -> Handler:
    """An SMTP greeting sent one byte at a time, forever, with no line end."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 ")
            while True:
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(every)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handler


def long_banner(size: int = 1 << 20) -> Handler:
    """An SMTP greeting line of `size` bytes (1 MiB), then CRLF, then nothing more."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 " + b"x" * size + b"\r\n")
            await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1024), 10)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handler
