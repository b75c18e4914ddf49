"""Option values as people write them, shared by the CLI and the Python API: ISO 8601
instants and name servers as IP[:PORT]. Pure; errors are `UsageError` naming the value."""

from __future__ import annotations

import datetime as dt

from scanner.errors import UsageError
from scanner.inputs.hostnames import parse_ip


def parse_as_of(value: str | dt.datetime | None, *, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC instant from ISO 8601 text or a datetime; a time without an offset is UTC,
    a bare date is midnight UTC; None is `now` (the caller's clock, read at the edge)."""
    if value is None:
        if now is None:
            raise UsageError("as_of: no instant given")
        return now.astimezone(dt.UTC)
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"as_of: {value!r} is not an ISO 8601 date or time") from None
    else:
        raise UsageError(f"as_of: expected ISO 8601 text or a datetime, not {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_nameserver(value: str | tuple[str, int]) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or an (ip, port) pair -> (compressed ip, port)."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise UsageError(f"name server {value!r} is not (ip, port)")
        host, port = str(value[0]), value[1] if isinstance(value[1], int) else -1
    elif isinstance(value, str):
        text = value.strip()
        host, port = text, 53
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:]) if rest[1:].isdigit() else -1
            elif rest:
                port = -1
        elif text.count(":") == 1:
            host, _, p = text.partition(":")
            port = int(p) if p.isdigit() else -1
    else:
        raise UsageError(f"name server {value!r} is not IP[:PORT]")
    ip = parse_ip(host)
    if ip is None or not 1 <= port <= 65535:
        raise UsageError(f"name server {value!r} is not IP[:PORT]")
    return str(ip), port
