"""Host names: normalisation of input names and RFC 6125 matching against subjectAltNames."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna

from scanner.errors import HostError

_LDH = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
MAX_NAME = 253
MAX_LABEL = 63


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal (IPv6 with or without brackets, with or without a zone id), else None."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if ":" not in t and not t[:1].isdigit():
        return None  # IPv6 always has ':'; IPv4 starts with a digit (fast path for names)
    try:
        return ipaddress.ip_address(t)
    except ValueError:
        return None


def ip_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as people read it: compressed, and an IPv4-mapped IPv6 address
    (RFC 4291 2.5.5.2) with its IPv4 part dotted, `::ffff:127.0.0.1` (not `::ffff:7f00:1`)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        zone = f"%{ip.scope_id}" if ip.scope_id else ""
        return f"::ffff:{ip.ipv4_mapped}{zone}"
    return str(ip)


def unicode_name(host: str) -> str:
    """The Unicode form of an A-label host name (`xn--bcher-kva.example` -> `bücher.example`),
    for people; the host itself when it has no A-label or cannot be decoded."""
    if "xn--" not in host:
        return host
    try:
        return str(idna.decode(host))
    except (idna.IDNAError, UnicodeError, ValueError):
        return host


def normalise_dns_name(text: str) -> str:
    """Lower-case A-label form of a DNS name, or HostError saying why it is not one.

    Labels are letters, digits, hyphens and underscores (underscores appear in real fleets'
    names though RFC 952 forbids them); non-ASCII labels go through IDNA 2008 with UTS 46
    mapping, so `Bücher.example` becomes `xn--bcher-kva.example`.
    """
    name = text.strip()
    if not name:
        raise HostError("empty host")
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise HostError("host is only a dot")
    if any(c.isspace() for c in name):
        raise HostError(f"host {name!r} contains white space")
    if not name.isascii():
        try:  # UTS 46 mapping first, so full-width dots and capitals are folded
            name = idna.uts46_remap(name, std3_rules=False, transitional=False)
        except idna.IDNAError as e:
            raise HostError(f"host {text.strip()!r}: not a valid IDN ({e})") from None
    labels = []
    for label in name.split("."):
        if not label:
            raise HostError(f"host {name!r} has an empty label")
        if label.isascii():
            # An ASCII label is taken as written when it is LDH, A-labels included: `xn--n3h`
            # is a registered name though not valid IDNA 2008 (DNS itself knows only LDH).
            label = label.lower()
        else:
            try:
                label = idna.encode(label).decode("ascii")
            except idna.IDNAError as e:
                raise HostError(f"host {name!r}: not a valid IDN label ({e})") from None
        if len(label) > MAX_LABEL:
            raise HostError(f"host {name!r}: label longer than {MAX_LABEL} characters")
        if not _LDH.match(label):
            raise HostError(
                f"host {name!r}: label {label!r} may hold only letters, digits, '-' and '_' "
                "and may not start or end with '-'"
            )
        labels.append(label)
    out = ".".join(labels)
    if len(out) > MAX_NAME:
        raise HostError(f"host name longer than {MAX_NAME} characters")
    if labels[-1].isdigit():
        raise HostError(f"host {name!r} is neither an IP address nor a DNS name")
    return out


def normalise_host(text: str) -> tuple[str, bool]:
    """(normalised host, is an IP literal): a compressed IP literal, else the lower-case A-label
    DNS name; HostError when it is neither. The one reading of a host cell and of --host."""
    ip = parse_ip(text)
    if ip is not None:
        return ip_text(ip), True
    return normalise_dns_name(text), False


def normalise_ip(text: str) -> str | None:
    ip = parse_ip(text)
    return None if ip is None else ip_text(ip)


def _dns_matches(host: str, pattern: str) -> bool:
    """RFC 6125 section 6.4: exact match, or a wildcard that is the whole left-most label and
    stands for exactly one non-empty label. Partial wildcards (`f*.example.com`), wildcards
    in other labels, and wildcards directly over a single label (`*.com`) never match."""
    # A SAN is compared as written (case aside): a trailing dot or space makes it an invalid
    # dNSName (RFC 5280 4.2.1.6), which strict verifiers such as cryptography's never match.
    pattern = pattern.lower()
    if not pattern:
        return False
    if "*" not in pattern:
        return pattern == host
    first, _, rest = pattern.partition(".")
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    head, _, tail = host.partition(".")
    return bool(head) and tail == rest


def matches(host: str, is_ip: bool, san_dns: Iterable[str], san_ip: Iterable[str]) -> bool:
    """Whether the leaf's SANs cover `host` (already normalised). The CN is never consulted,
    and an IP address written as a dNSName does not count for an IP target."""
    if is_ip:
        want = parse_ip(host)
        if want is None:
            return False
        want_plain = ipaddress.ip_address(str(want).split("%", 1)[0])
        return any(parse_ip(s) == want_plain for s in san_ip)
    return any(_dns_matches(host, p) for p in san_dns)


def www_hint(host: str, san_dns: Iterable[str]) -> str | None:
    """The www-vs-apex case, said plainly: the certificate covers the other one of the pair."""
    names = {n.lower().rstrip(".") for n in san_dns}
    if host.startswith("www.") and host[4:] in names:
        return f"the certificate covers {host[4:]} but not {host}"
    if f"www.{host}" in names:
        return f"the certificate covers www.{host} but not the apex {host}"
    return None
