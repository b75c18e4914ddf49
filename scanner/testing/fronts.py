"""Lab fronts: TCP handlers that read a client's first record and either answer it themselves
or pass the connection, bytes unchanged, to a real TLS server behind them.
- `legacy_front`: SSL 2.0, SSL 3.0 and hellos offering a legacy suite of its policy are
  answered by the legacy peer (scanner.testing.legacy_peer, what no server here still
  speaks); everything else (a modern client's handshake) goes to the real server.
- `one_segment_front`: a middlebox that resets a connection whose ClientHello record is
  larger than one TCP segment (as some did when browsers' post-quantum hellos grew past
  1500 bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from scanner.net.hello.codec import DecodeError, parse_client_hello
from scanner.testing.legacy_peer import LegacyPolicy, respond
from scanner.testing.servers import LOOPBACK, Handler

SEGMENT = 1300  # bytes of a ClientHello record a one-segment middlebox lets through
_LINGER_RESET = struct.pack("ii", 1, 0)


async def _first_record(reader: asyncio.StreamReader) -> bytes:
    """The first record (SSL 2.0 two-byte header or a TLS record), or what came before EOF."""
    try:
        head = await reader.readexactly(2)
        if head[0] & 0x80:
            return head + await reader.readexactly((head[0] & 0x7F) << 8 | head[1])
        head += await reader.readexactly(3)
        return head + await reader.readexactly(int.from_bytes(head[3:5], "big"))
    except asyncio.IncompleteReadError as e:
        return e.partial


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    with contextlib.suppress(OSError, ConnectionError):
        dst.close()


async def _pass_on(
    first: bytes, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """The connection to the server on `port`, `first` written ahead of the rest."""
    back_reader, back_writer = await asyncio.open_connection(LOOPBACK, port)
    back_writer.write(first)
    await asyncio.gather(_pipe(reader, back_writer), _pipe(back_reader, writer))


def _legacy(policy: LegacyPolicy, record: bytes) -> bool:
    if record and record[0] & 0x80:
        return True  # SSL 2.0 CLIENT-HELLO
    try:
        hello = parse_client_hello(record)
    except DecodeError:
        return False
    return hello.version <= 0x0300 or bool(set(hello.cipher_suites) & set(policy.suites))


def legacy_front(policy: LegacyPolicy, port: int) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await _first_record(reader)
            if _legacy(policy, first):
                reply = respond(policy, first)
                if reply:
                    writer.write(reply)
                    await writer.drain()
            else:
                await _pass_on(first, port, reader, writer)
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler


def one_segment_front(port: int, limit: int = SEGMENT) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await _first_record(reader)
            if len(first) > limit:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                writer.transport.abort()  # a reset, as the middlebox sends
                return
            await _pass_on(first, port, reader, writer)
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler
