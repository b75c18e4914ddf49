"""The diagnosis rules, one small pure function per concern: the leaf's validity, its names,
the path to a trust anchor, problems of the served chain, weak keys and signatures, and the
strict client's verdict. Each returns what it concludes and the findings that say why."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.inputs.hostnames import matches, www_hint
from scanner.model.catalogue import Code
from scanner.model.timefmt import utc_z as ts
from scanner.model.types import AiaResult, CertInfo, Finding, Severity
from scanner.x509 import certs
from scanner.x509 import findings as F
from scanner.x509.memo import Memo
from scanner.x509.paths import MAX_DEPTH, End, Path, Source

# OpenSSL security level 2, as Debian and most Linux clients run it.
MIN_RSA_DSA_BITS = 2048
MIN_EC_BITS = 224
WEAK_HASHES = frozenset({"md5", "sha1"})
# Findings at or above this severity explain a rejection; otherwise `not_trusted` says why.
EXPLAINS = Severity.HIGH.rank
_DER = Encoding.DER


def span(delta: dt.timedelta) -> str:
    """A non-negative span in its largest whole unit: `3 day(s)`, `5 hour(s)`, `1 second(s)`."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}(s)"
    return f"{seconds} second(s)"


# --- unparseable certificates ----------------------------------------------------------------


def unparseable(positions: Sequence[int], infos: Sequence[CertInfo]) -> list[Finding]:
    """Certificates of the chain that cannot be parsed, numbered from 1 as people count."""
    return [
        F.make(
            Code.UNPARSEABLE_CERTIFICATE,
            f"certificate {i + 1} of the chain cannot be parsed: {infos[i].parse_error}",
        )
        for i in positions
    ]


# --- validity of the leaf --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Validity:
    expired: bool | None
    not_yet_valid: bool | None
    expiring_soon: bool | None
    days_remaining: int | None
    findings: tuple[Finding, ...]


def validity(leaf: x509.Certificate, as_of: dt.datetime, warn_days: int) -> Validity:
    """RFC 5280 4.1.2.5: both bounds inclusive, one-second granularity (`as_of` whole
    seconds). A bound Python cannot represent (year 0) leaves the verdicts unknown."""
    not_before, not_after, problem = certs.validity(leaf)
    if not_before is None or not_after is None:
        finding = F.make(
            Code.UNPARSEABLE_CERTIFICATE, f"the leaf's validity cannot be read: {problem}"
        )
        return Validity(
            expired=None,
            not_yet_valid=None,
            expiring_soon=None,
            days_remaining=None,
            findings=(finding,),
        )
    expired = as_of > not_after
    not_yet_valid = as_of < not_before
    remaining = not_after - as_of
    expiring_soon = not expired and remaining <= dt.timedelta(days=warn_days)
    found = []
    if expired:
        found.append(
            F.make(
                Code.EXPIRED,
                f"expired {ts(not_after)}, {span(as_of - not_after)} before {ts(as_of)}",
            )
        )
    elif expiring_soon:
        found.append(
            F.make(
                Code.EXPIRING_SOON,
                f"expires {ts(not_after)}, in {span(remaining)} (warning window {warn_days} days)",
            )
        )
    if not_yet_valid:
        found.append(
            F.make(
                Code.NOT_YET_VALID,
                f"valid only from {ts(not_before)}, {span(not_before - as_of)} after {ts(as_of)}",
            )
        )
    return Validity(
        expired=expired,
        not_yet_valid=not_yet_valid,
        expiring_soon=expiring_soon,
        days_remaining=math.floor(remaining.total_seconds() / 86400),
        findings=tuple(found),
    )


# --- names (RFC 6125; the CN is never used) --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    mismatch: bool
    findings: tuple[Finding, ...]


def _names_shown(dns: Sequence[str], ips: Sequence[str]) -> str:
    names = list(dns) + list(ips)
    if not names:
        return "none"
    shown = ", ".join(names[:6])
    return shown + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")


def mismatch_finding(host: str, dns: Sequence[str], ips: Sequence[str]) -> Finding:
    """The mismatch said plainly: www vs apex, a wildcard over the apex or two labels."""
    hint = www_hint(host, dns)
    lowered = [d.lower().rstrip(".") for d in dns]
    if hint is None and f"*.{host}" in lowered:
        hint = f"*.{host} covers names below {host}, never {host} itself"
    if hint is None and "." in host:
        parent = host.split(".", 1)[1]
        if any(d.startswith("*.") and parent.endswith("." + d[2:]) for d in lowered):
            hint = "a wildcard stands for exactly one label"
    message = f"{host} is not among the certificate's names: {_names_shown(dns, ips)}"
    if hint:
        message += f"; {hint}"
    remedy = f"Reissue the certificate with {host} in its subjectAltName"
    if hint and "www" in hint:
        apex = host[4:] if host.startswith("www.") else host
        remedy += f" (include both {apex} and www.{apex})"
    return F.make(Code.HOSTNAME_MISMATCH, message, remedy + ", or point the name elsewhere.")


def names(leaf: x509.Certificate, subject: str | None, host: str, is_ip: bool) -> Names:
    sans = certs.sans(leaf)
    if sans is None:
        finding = F.make(
            Code.NO_SAN,
            f"the certificate has no subjectAltName (subject {subject}), so it matches no "
            f"name, {host} included",
            f"Reissue the certificate with {host} in its subjectAltName.",
        )
        return Names(dns=(), ips=(), mismatch=True, findings=(finding,))
    dns, ips = sans
    mismatch = not matches(host, is_ip, dns, ips)
    found = (mismatch_finding(host, dns, ips),) if mismatch else ()
    return Names(dns=dns, ips=ips, mismatch=mismatch, findings=found)


# --- the path to a trust anchor --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PathVerdicts:
    self_signed: bool
    untrusted_root: bool
    incomplete_chain: bool
    fetched: tuple[bytes, ...]  # DER of the certificates the path took from AIA
    findings: tuple[Finding, ...]


def _fetched_from(
    cert: x509.Certificate, urls: Sequence[str], fetched: Mapping[str, AiaResult]
) -> str | None:
    """The caIssuers URL whose answer held `cert`."""
    der = cert.public_bytes(_DER)
    for url in urls:
        result = fetched.get(url)
        if result is not None and der in result.certificates:
            return url
    return urls[0] if urls else None


def _issuer_not_found(
    path: Path, leaf: x509.Certificate, fetched: Mapping[str, AiaResult], *, offline: bool
) -> list[Finding]:
    stuck = path.stuck_at or leaf
    urls = certs.ca_issuers_urls(stuck)
    where = "the leaf" if stuck is leaf else certs.name_text(stuck.subject)
    source = "in the file" if offline else "sent by the server"
    message = (
        f"the issuer {certs.name_text(stuck.issuer)} of {where} is not {source} and not in "
        "the trust store"
    )
    if path.end is End.TOO_LONG:
        message = f"no path to a root within {MAX_DEPTH} certificates"
    elif not urls:
        message += "; the certificate names no caIssuers URL"
    found = [F.make(Code.ISSUER_NOT_FOUND, message)]
    for u in urls:
        r = fetched.get(u)
        if r is not None and r.error:
            found.append(
                F.make(
                    Code.AIA_FETCH_FAILED,
                    f"caIssuers {r.url} could not be fetched: {r.error}",
                    url=r.url,
                )
            )
    return found


def _incomplete(path: Path, fetched: Mapping[str, AiaResult]) -> list[Finding]:
    found = []
    for i, (m, source) in enumerate(zip(path.certs, path.sources, strict=True)):
        if source is not Source.AIA:
            continue
        urls = certs.ca_issuers_urls(path.certs[i - 1])
        url_text = ", ".join(urls)
        name = certs.name_text(m.subject)
        found.append(
            F.make(
                Code.INCOMPLETE_CHAIN,
                f"the server does not send the intermediate {name}; it was fetched from {url_text}",
                f"Install the intermediate {name} (from {url_text}) on the server, after the "
                "leaf in the chain file.",
                certificate=m,
                url=_fetched_from(m, urls, fetched),
            )
        )
    return found


def path_verdicts(
    path: Path,
    leaf: x509.Certificate,
    subject: str | None,
    trust: certs.TrustStore,
    fetched: Mapping[str, AiaResult],
    *,
    offline: bool = False,
) -> PathVerdicts:
    """Self-signed leaf, untrusted root, missing issuer, or completed through AIA."""
    self_signed = path.end is End.SELF_SIGNED_LEAF or (
        path.end is End.ANCHORED and len(path.certs) == 1
    )
    incomplete = Source.AIA in path.sources and path.end is not End.ISSUER_NOT_FOUND
    found: list[Finding] = []
    if path.end is End.SELF_SIGNED_LEAF:
        found.append(
            F.make(Code.SELF_SIGNED, f"the certificate is self-signed (subject {subject})")
        )
    if path.end is End.UNTRUSTED_ROOT:
        root = certs.name_text(path.certs[-1].subject)
        found.append(
            F.make(
                Code.UNTRUSTED_ROOT,
                f"the chain ends at {root}, which is not in the trust store {trust.path}",
                f"Use a certificate from a publicly trusted CA, or add the root {root} to the "
                "clients' trust store.",
                certificate=path.certs[-1],
            )
        )
    if path.end in (End.ISSUER_NOT_FOUND, End.TOO_LONG):
        found += _issuer_not_found(path, leaf, fetched, offline=offline)
    if incomplete:
        found += _incomplete(path, fetched)
    return PathVerdicts(
        self_signed=self_signed,
        untrusted_root=path.end in (End.UNTRUSTED_ROOT, End.ISSUER_NOT_FOUND, End.TOO_LONG)
        and not self_signed,
        incomplete_chain=incomplete,
        fetched=tuple(
            c.public_bytes(_DER)
            for c, s in zip(path.certs, path.sources, strict=True)
            if s is Source.AIA
        ),
        findings=tuple(found),
    )


# --- problems of the served chain ------------------------------------------------------------


def served_intermediates(path: Path, as_of: dt.datetime, memo: Memo) -> tuple[Finding, ...]:
    """Intermediates the server sends that are outside their validity (or whose validity
    cannot be read): clients reject the chain whatever the leaf's dates."""
    found = []
    for cert, source in zip(path.certs[1:], path.sources[1:], strict=True):
        if source is not Source.SENT or memo.self_signed(cert):
            continue
        nb, na, problem = certs.validity(cert)
        if nb is not None and na is not None and nb <= as_of <= na:
            continue
        name = certs.name_text(cert.subject)
        if nb is None or na is None:
            found.append(
                F.make(
                    Code.INTERMEDIATE_EXPIRED,
                    f"the validity of the intermediate {name} in the chain cannot be read: "
                    f"{problem}",
                    certificate=cert,
                )
            )
        elif as_of > na or as_of < nb:
            when = f"expired {ts(na)}" if as_of > na else f"not valid before {ts(nb)}"
            found.append(
                F.make(
                    Code.INTERMEDIATE_EXPIRED,
                    f"the intermediate {name} in the chain is {when}",
                    certificate=cert,
                )
            )
    return tuple(found)


# --- weak keys and signatures ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Weakness:
    """What is weak about one certificate (each None when nothing is)."""

    key: str | None = None  # under OpenSSL security level 2: "RSA 1024 bits"
    dsa: str | None = None  # a DSA key of any size: "DSA 2048 bits"
    signature: str | None = None  # MD5 or SHA-1: the algorithm's name

    def __bool__(self) -> bool:
        return bool(self.key or self.dsa or self.signature)


def weakness_of(cert: x509.Certificate) -> Weakness:
    """Weak key and signature at OpenSSL security level 2, and a DSA key of any size."""
    key_type, bits = certs.key_facts(cert)
    weak_key = None
    if (
        bits is not None
        and key_type is not None
        and (
            (key_type in ("RSA", "DSA") and bits < MIN_RSA_DSA_BITS)
            or (key_type.startswith("EC-") and bits < MIN_EC_BITS)
        )
    ):
        weak_key = f"{key_type} {bits} bits"
    h = certs.signature_hash(cert)
    weak_sig = certs.signature_algorithm(cert) if h in WEAK_HASHES else None
    dsa = f"DSA {bits} bits" if key_type == "DSA" else None
    return Weakness(key=weak_key, dsa=dsa, signature=weak_sig)


def weakness(path: Path, trust: certs.TrustStore, memo: Memo) -> tuple[Finding, ...]:
    """Every certificate below the root (the trust anchor's own key and signature are the
    store's business, not the server's)."""
    below_root = [c for i, c in enumerate(path.certs) if i == 0 or not memo.self_signed(c)]
    if path.end is End.ANCHORED and len(path.certs) > 1:
        below_root = [c for c in below_root if not memo.in_store(trust, c)]
    found = []
    leaf = path.certs[0]
    for cert in below_root:
        weak = memo.weakness.one(cert, weakness_of)
        if not weak:
            continue
        who = "the leaf" if cert is leaf else certs.name_text(cert.subject)
        if weak.key:
            found.append(F.make(Code.WEAK_KEY, f"{who} has a {weak.key} key", certificate=cert))
        if weak.dsa:
            found.append(F.make(Code.DSA_KEY, f"{who} has a {weak.dsa} key", certificate=cert))
        if weak.signature:
            found.append(
                F.make(
                    Code.WEAK_SIGNATURE, f"{who} is signed with {weak.signature}", certificate=cert
                )
            )
    return tuple(found)


# --- the verdict -----------------------------------------------------------------------------


def trusted(
    rejection: str | None,
    *,
    weak: bool,
    intermediate_bad: bool,
    mismatch: bool,
    dates_unknown: bool,
) -> bool:
    """Trusted when the strict verifier accepts the chain and none of our stricter rules
    object (our RFC 6125 matcher never matches `*.com`; security level 2; served
    intermediates valid; the leaf's validity readable: unreadable, nobody can say it holds)."""
    return not (rejection or weak or intermediate_bad or mismatch or dates_unknown)


def not_trusted(rejection: str | None, found: Sequence[Finding]) -> tuple[Finding, ...]:
    """`not_trusted` quoting the verifier, when no finding of ours explains the rejection."""
    if any(f.severity.rank >= EXPLAINS for f in found):
        return ()
    reason = rejection or "unknown reason"
    return (F.make(Code.NOT_TRUSTED, f"a strict client rejects the chain: {reason}"),)
