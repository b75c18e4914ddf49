"""The lab's servers on loopback: one asyncio loop in a daemon thread (`Loop`), TLS server
contexts, small per-connection handlers, a DNS server from a table, parked ports."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization

from scanner.testing.pki import PrivateKey

LOOPBACK = "127.0.0.1"
# The one address that is never on loopback: TCP to a multicast group fails locally with
# ENETUNREACH before any packet leaves, which is how the lab shows `unreachable`.
UNREACHABLE_IP = "224.0.0.1"

_log = logging.getLogger(__name__)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def server_context(chain_pem: bytes, key: PrivateKey, tmp: Path) -> ssl.SSLContext:
    """A server context sending the PEM certificates of `chain_pem` (leaf first) exactly;
    security level 0 so that the lab can serve weak keys and SHA-1 signatures (no anonymous
    suites: a real server has a certificate to show)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:!aNULL:@SECLEVEL=0")
    stem = tmp / f"chain-{uuid.uuid4().hex}"
    cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
    cert_file.write_bytes(chain_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def tls_context(
    chain_pem: bytes,
    key: PrivateKey,
    tmp: Path,
    *,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
    static_rsa: bool = False,
    ciphers: str | None = None,
    server_order: bool = True,
) -> ssl.SSLContext:
    """`server_context` for a lab host: TLS 1.2 and 1.3 unless `versions` (min, max) says
    otherwise; static-RSA key exchange only when asked (an RSA leaf could do it)."""
    ctx = server_context(chain_pem, key, tmp)
    ctx.set_ciphers(
        ciphers or ("ALL:!aNULL:@SECLEVEL=0" if static_rsa else "ALL:!aNULL:!kRSA:@SECLEVEL=0")
    )
    if not server_order:  # pick by the client's order (OpenSSL's default for a server)
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if versions is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 bounds are deprecated in Python
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version, ctx.maximum_version = versions
    return ctx


async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep the connection until the client goes away (TLS servers after the handshake, and
    the server that never speaks)."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        writer.close()


def tls_handler(ctx: ssl.SSLContext) -> Handler:
    """TLS from the first byte with `ctx`, on a plain listener (for several per port)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(ctx, ssl_handshake_timeout=30)
            while await reader.read(65536):
                pass
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    return handler


def reply_then_close(payload: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1024)
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handler


class DnsProtocol(asyncio.DatagramProtocol):
    """A tiny authoritative server: A and AAAA records from a table (one address or several
    per name), NXDOMAIN for anything else. A name whose entry is a dict holds records by type
    in zone-file text (`{"CAA": ['0 issue "ca.test"'], "CNAME": "other.test"}`, or an error:
    `{"RCODE": "SERVFAIL"}`); a CNAME is followed within the table, as a recursive resolver
    answers."""

    def __init__(self, records: dict[str, Any], log: list[tuple[str, str]]) -> None:
        self.records = records
        self.transport: Any = None
        self.log = log  # (name, type) of every question, for tests

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
            question = query.question[0]
        except Exception:  # noqa: BLE001 - garbage in: no answer, like a real server
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        qname = question.name.to_text(omit_final_dot=True).lower()
        self.log.append((qname, dns.rdatatype.to_text(question.rdtype)))
        value = self.records.get(qname)
        if value is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif isinstance(value, dict):
            self._typed(response, qname, dns.rdatatype.to_text(question.rdtype))
        else:
            addresses = [value] if isinstance(value, str) else list(value)
            rdtype = {dns.rdatatype.A: ("A", 4), dns.rdatatype.AAAA: ("AAAA", 6)}.get(
                question.rdtype
            )
            wanted = [
                a for a in addresses if rdtype and ipaddress.ip_address(a).version == rdtype[1]
            ]
            if wanted and rdtype:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", rdtype[0], wanted)
                )
        self.transport.sendto(response.to_wire(), addr)

    def _typed(self, response: dns.message.Message, name: str, rdtype: str) -> None:
        for _ in range(8):  # a CNAME loop in the table ends here
            entry = self.records.get(name)
            if not isinstance(entry, dict):
                return
            if "RCODE" in entry:  # a failing server: {"RCODE": "SERVFAIL"}
                response.set_rcode(dns.rcode.from_text(entry["RCODE"]))
                return
            for kind in (rdtype, "CNAME"):
                if kind in entry:
                    values = entry[kind]
                    values = [values] if isinstance(values, str) else list(values)
                    if kind == "CNAME":  # a target written without the root's dot
                        values = [v if v.endswith(".") else v + "." for v in values]
                    owner = dns.name.from_text(name)  # absolute: the root is the origin
                    response.answer.append(dns.rrset.from_text_list(owner, 60, "IN", kind, values))
                    break
            if rdtype in entry or "CNAME" not in entry:
                return
            name = str(entry["CNAME"]).lower().rstrip(".")


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def http_ok(body: bytes, content_type: str) -> bytes:
    """A whole HTTP/1.1 200 response carrying `body`; the connection closes after it."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def http_redirect(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


def http_handler(files: dict[str, bytes]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode("ascii", "replace")
            body = files.get(path)
            writer.write(NOT_FOUND if body is None else http_ok(body, "application/pkix-cert"))
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError):
            pass
        finally:
            writer.close()

    return handler


@dataclass
class Loop:
    """One asyncio loop in a daemon thread, serving on 127.0.0.1 (the lab's and hostile's)."""

    name: str = "lab"
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    thread: threading.Thread | None = None
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    def start(self) -> None:
        # Faulty peers are the point of the lab: their errors are logged at debug level only.
        self.loop.set_exception_handler(lambda _loop, ctx: _log.debug("%s: %s", self.name, ctx))
        self.thread = threading.Thread(target=self.loop.run_forever, name=self.name, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)  # type: ignore[arg-type]

    async def serve(
        self,
        handler: Handler,
        ctx: ssl.SSLContext | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> int:
        server = await asyncio.start_server(
            handler,
            host,
            port,
            ssl=ctx,
            ssl_handshake_timeout=30 if ctx else None,
            backlog=2048,  # hundreds of scanner connections arrive at once
        )
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def serve_dns(self, records: dict[str, Any], log: list[tuple[str, str]]) -> int:
        transport, _ = await self.loop.create_datagram_endpoint(
            lambda: DnsProtocol(records, log), local_addr=(LOOPBACK, 0)
        )
        self.transports.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    async def serve_same_port(self, handlers: Sequence[tuple[str, Handler]]) -> int:
        """Servers on one port of several loopback addresses (a name's backends): the first
        on a port the system picks, the others on that port."""
        (first_host, first), rest = handlers[0], handlers[1:]
        for _ in range(20):
            started = len(self.servers)
            port = await self.serve(first, host=first_host)
            try:
                for host, handler in rest:
                    await self.serve(handler, host=host, port=port)
            except OSError:  # taken on another address: close these and try another port
                for server in self.servers[started:]:
                    server.close()
                del self.servers[started:]
                continue
            return port
        raise OSError("no port free on every address")

    async def _close(self) -> None:
        for s in self.servers:
            s.close()
        for transport in self.transports:
            transport.close()
        # Connections still held by handlers (a silent server's peer that never hung up).
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 2)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread:
            self.thread.join(5)
        self.loop.close()


# Sockets bound and never listening, kept for the life of the process: their ports refuse
# connections, and no server started later on port 0 can be given one of them.
_PARKED: list[socket.socket] = []


@atexit.register
def _close_parked() -> None:
    for s in _PARKED:
        s.close()


@contextlib.contextmanager
def accepting(on_connection: Callable[[socket.socket], None]) -> Iterator[int]:
    """A blocking listener on a fresh 127.0.0.1 port whose daemon thread hands each accepted
    socket to `on_connection`, one at a time (the callback owns it: closes or keeps it);
    yields the port, and stops the thread and closes the listener on exit."""
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.1)  # how often the thread looks at `stop`
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            on_connection(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(10)
        listener.close()


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """`http.server` answering with `handler` on a fresh 127.0.0.1 port, a thread for each
    request; yields the port, and shuts the server down on exit."""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def free_port() -> int:
    """A loopback port where nothing listens and nothing will (connections are refused)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    _PARKED.append(s)
    return int(s.getsockname()[1])
