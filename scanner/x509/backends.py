"""Whether the addresses of one (host, port) serve the same leaf certificate: the finding
`inconsistent_backends` (which the run puts on every answering row) when they do not. Pure."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence

from scanner.model.catalogue import Code
from scanner.model.types import Diagnosis, Finding, Handshake
from scanner.x509.findings import make

SHOWN_LEAVES = 8  # leaves named in the message (a name with many backends stays readable)
SHOWN_ADDRESSES = 8  # addresses named per leaf


def _leaf_key(hs: Handshake, d: Diagnosis) -> tuple[str, str]:
    """(SHA-256 of the leaf, its notAfter as text)."""
    leaf = d.leaf
    if leaf is not None:
        not_after = leaf.not_after.isoformat() if leaf.not_after else "unknown"
        return leaf.sha256, not_after
    return hashlib.sha256(hs.chain[0]).hexdigest(), "unknown (unparseable)"


def _address_order(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def check(host: str, port: int, answers: Sequence[tuple[Handshake, Diagnosis]]) -> Finding | None:
    """`inconsistent_backends` when the addresses of `host:port` that answered (each one's
    handshake and diagnosis) served more than one distinct leaf, else None."""
    by_leaf: dict[tuple[str, str], list[str]] = {}
    for hs, d in answers:
        by_leaf.setdefault(_leaf_key(hs, d), []).append(hs.address)
    if len(by_leaf) < 2:
        return None
    parts = []
    for addresses in by_leaf.values():
        addresses.sort(key=_address_order)
    for (sha, not_after), addresses in sorted(
        by_leaf.items(), key=lambda kv: _address_order(kv[1][0])
    ):
        shown = ", ".join(addresses[:SHOWN_ADDRESSES])
        more = (
            f" and {len(addresses) - SHOWN_ADDRESSES} more"
            if len(addresses) > SHOWN_ADDRESSES
            else ""
        )
        parts.append(
            f"{shown}{more} serve{'s' if len(addresses) == 1 else ''} leaf "
            f"{sha[:16]} (notAfter {not_after})"
        )
    hidden = len(parts) - SHOWN_LEAVES
    message = (
        f"{len(by_leaf)} distinct leaf certificates behind {host}:{port}: "
        + "; ".join(parts[:SHOWN_LEAVES])
        + (f"; and {hidden} more leaves" if hidden > 0 else "")
    )
    return make(Code.INCONSISTENT_BACKENDS, message)
