"""The prober's hellos from templates: a fleet sends the same few offers to every host, and
one offer's hellos differ only in the random, the session id and the server name. A template,
written once per offer shape, suite list and name length by client.assemble, holds the bytes
around those three; a hello is then one join and its ClientHello value."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scanner.model.suites import Protocol
from scanner.net.hello.client import ClientHello, Offer, assemble
from scanner.net.hello.records import EXT_SERVER_NAME, Extension, pack_u16

_HEAD = 5 + 4 + 2  # record header, handshake header, legacy_version: then the random
_NAME_AT = 9  # in the server_name extension: type, length, list length, name type, length


@dataclass(frozen=True, slots=True)
class _Template:
    suites: tuple[int, ...]  # the offer's own tuple: the cache is keyed by its id
    head: bytes  # up to the random
    middle: bytes  # after the session id, up to the server name (or to the end)
    tail: bytes  # after the server name
    extensions: tuple[Extension, ...]  # but server_name
    named: bool  # the name goes between middle and tail
    version: int
    record_version: int


_TEMPLATES: dict[tuple[object, ...], _Template | None] = {}
_SEEN: dict[tuple[object, ...], None] = {}
_NAMES: dict[str, Extension] = {}


def hello_for(
    offer: Offer, *, random: bytes | None = None, session_id: bytes | None = None
) -> tuple[ClientHello, bytes]:
    """The ClientHello for `offer` and its bytes (exactly client.assemble's): a fresh random,
    and for TLS 1.3 a fresh 32-byte session id, unless given."""
    tls13 = offer.versions[0] is Protocol.TLS1_3
    if random is None and session_id is None:
        fresh = os.urandom(64 if tls13 else 32)  # one call for both
        random, session_id = fresh[:32], fresh[32:]
    else:
        session_id = (os.urandom(32) if tls13 else b"") if session_id is None else session_id
        random = os.urandom(32) if random is None else random
    sni = offer.sni
    key = (
        id(offer.suites),
        offer.versions,
        offer.groups,
        offer.key_shares,
        offer.status_request,
        offer.sct,
        offer.pad_to,
        offer.extensions,
        len(sni) if sni else -1,
        len(session_id),
    )
    t = _TEMPLATES.get(key)
    if t is None or t.suites is not offer.suites:
        if key not in _SEEN or (key in _TEMPLATES and t is None):
            # Written on the second sighting: a cipher enumeration offers a new suite list
            # every time, where a template would only be written and never used.
            if len(_SEEN) >= 4096:
                _SEEN.clear()
            _SEEN[key] = None
            return assemble(offer, random=random, session_id=session_id)
        t = _template(offer, key, len(session_id))
        if t is None:
            return assemble(offer, random=random, session_id=session_id)
    name = sni.encode("ascii") if sni and t.named else b""  # callers pass the A-label form
    data = b"".join((t.head, random, bytes((len(session_id),)), session_id, t.middle, name, t.tail))
    extensions = (_name(sni), *t.extensions) if sni and t.named else t.extensions
    hello = ClientHello(
        version=t.version,
        random=random,
        session_id=session_id,
        cipher_suites=offer.suites,
        extensions=extensions if offer.extensions else None,
        record_version=t.record_version,
    )
    return hello, data


def _name(sni: str) -> Extension:
    found = _NAMES.get(sni)
    if found is None:
        if len(_NAMES) >= 4096:
            _NAMES.clear()
        host = sni.encode("ascii")
        found = _NAMES[sni] = Extension(EXT_SERVER_NAME, pack_u16(b"\x00" + pack_u16(host)))
    return found


def _template(offer: Offer, key: tuple[object, ...], sid: int) -> _Template | None:
    """Written by assemble once; None (remembered) when the hello spans several records."""
    if len(_TEMPLATES) >= 1024:
        _TEMPLATES.clear()
    hello, data = assemble(offer, random=bytes(32), session_id=bytes(sid))
    t: _Template | None = None
    if len(data) - 5 <= 2**14:
        after = _HEAD + 32 + 1 + sid
        named = bool(offer.sni and hello.extensions)
        if offer.sni and hello.extensions:
            # The extension block: after the suites, compression (2) and its length (2);
            # server_name comes first in it.
            at = after + 2 + 2 * len(offer.suites) + 2 + 2 + _NAME_AT
            end = at + len(offer.sni)
            assert data[at:end] == offer.sni.encode("ascii")
            middle, tail, exts = data[after:at], data[end:], hello.extensions[1:]
        else:
            middle, tail, exts = data[after:], b"", hello.extensions or ()
        t = _Template(
            suites=offer.suites,
            head=data[:_HEAD],
            middle=middle,
            tail=tail,
            extensions=exts,
            named=named,
            version=hello.version,
            record_version=hello.record_version,
        )
    _TEMPLATES[key] = t
    return t
