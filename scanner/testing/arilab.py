"""The lab's small ACME Renewal Information server (RFC 9773): an ACME directory naming its
`renewalInfo` URL, and per certificate identifier a scripted answer (a window in the past or
the future, a refusal with Retry-After then a window, garbage, a 16 MiB body). Counts every
request, so tests can check each leaf is asked once per scan."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
from collections import Counter
from dataclasses import dataclass, field

from scanner.model.timefmt import utc_z
from scanner.testing.servers import Handler

DIRECTORY = "/acme/directory"
RENEWAL_INFO = "/acme/renewal-info"
HUGE = 16 * 1024 * 1024
EXPLANATION = "https://ca.lab.test/incidents/2026-05"


class Ari(enum.Enum):
    """What the ARI server answers for a lab leaf."""

    PAST = "past"  # the window opened 5 days before as-of (the CA asks for renewal now)
    FUTURE = "future"  # the window opens in 100 days
    RETRY = "retry"  # 503 with Retry-After: 1 once, then a future window
    GARBAGE = "garbage"  # not JSON
    HUGE = "huge"  # a 16 MiB body, more than any renewalInfo object


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def wire(self) -> bytes:
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[self.status]
        head = [f"HTTP/1.1 {self.status} {reason}", f"Content-Length: {len(self.body)}"]
        head += [f"{k}: {v}" for k, v in self.headers] + ["Connection: close", "", ""]
        return "\r\n".join(head).encode() + self.body


def _window(start: dt.datetime, end: dt.datetime, why: str | None = None) -> bytes:
    obj: dict[str, object] = {"suggestedWindow": {"start": utc_z(start), "end": utc_z(end)}}
    if why:
        obj["explanationURL"] = why
    return json.dumps(obj).encode()


def replies(kind: Ari, as_of: dt.datetime) -> list[Reply]:
    """The answers to successive requests for one identifier (the last repeats)."""
    day = dt.timedelta(days=1)
    future = Reply(200, _window(as_of + 100 * day, as_of + 110 * day), (("Retry-After", "21600"),))
    match kind:
        case Ari.PAST:
            return [Reply(200, _window(as_of - 5 * day, as_of + 2 * day, EXPLANATION))]
        case Ari.FUTURE:
            return [future]
        case Ari.RETRY:
            return [Reply(503, b"busy", (("Retry-After", "1"),)), future]
        case Ari.GARBAGE:
            return [Reply(200, b"<html>not json")]
        case Ari.HUGE:
            return [Reply(200, b"{" + b" " * HUGE + b"}")]


@dataclass
class AriServer:
    """Routes by path; `hits` counts requests per path."""

    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    base: str = ""

    def directory(self, base: str) -> None:
        self.base = base
        body = json.dumps({"renewalInfo": f"{base}{RENEWAL_INFO}", "newNonce": f"{base}/n"})
        self.routes[DIRECTORY] = [Reply(200, body.encode())]

    @property
    def directory_url(self) -> str:
        return f"{self.base}{DIRECTORY}"

    def answer(self, cert_id: str, kind: Ari, as_of: dt.datetime) -> None:
        self.routes[f"{RENEWAL_INFO}/{cert_id}"] = replies(kind, as_of)

    def handler(self) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = await reader.readuntil(b"\r\n\r\n")
                path = request.split(b" ", 2)[1].decode("ascii", "replace")
                n = self.hits[path]
                self.hits[path] += 1
                scripted = self.routes.get(path)
                reply = scripted[min(n, len(scripted) - 1)] if scripted else Reply(404, b"")
                writer.write(reply.wire())
                await writer.drain()
            except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError):
                pass  # the client stops reading a body over its cap
            finally:
                writer.close()

        return handle
