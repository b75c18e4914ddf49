"""Diagnosis: (chain as sent, host, trust store, as-of, AIA results) -> verdicts and findings.

A pure function of its inputs: no clock, no sockets. The only outside knowledge it can want is
a missing issuer, which `Diagnosis.aia_wanted` names as URLs for the caller to fetch and hand
back in another call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from scanner.inputs.hostnames import matches, www_hint
from scanner.model.catalogue import Code
from scanner.model.types import AiaResult, CertInfo, Diagnosis, Finding, Severity, Verdicts
from scanner.x509 import certs
from scanner.x509 import findings as F

MAX_DEPTH = 8
# caIssuers URLs tried per certificate: a certificate naming hundreds must not buy hundreds of
# fetches (each up to --aia-timeout).
MAX_AIA_URLS = 4
# OpenSSL security level 2, as Debian and most Linux clients run it.
MIN_RSA_DSA_BITS = 2048
MIN_EC_BITS = 224
WEAK_HASHES = frozenset({"md5", "sha1"})
# Findings at or above this severity explain a rejection; otherwise `not_trusted` says why.
_EXPLAINS = Severity.HIGH.rank
_DER = Encoding.DER


class Source(Enum):
    SENT = "sent"
    STORE = "store"
    AIA = "aia"


class End(Enum):
    ANCHORED = "anchored"  # reached a certificate of the trust store
    UNTRUSTED_ROOT = "untrusted_root"  # reached a self-signed certificate not in the store
    SELF_SIGNED_LEAF = "self_signed_leaf"
    ISSUER_NOT_FOUND = "issuer_not_found"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class Path:
    certs: tuple[x509.Certificate, ...]
    sources: tuple[Source, ...]
    end: End
    stuck_at: x509.Certificate | None = None  # whose issuer could not be found


@dataclass(frozen=True, slots=True)
class Chain:
    """The chain as sent, parsed; unparseable certificates kept as DER only."""

    der: tuple[bytes, ...]
    leaf: x509.Certificate | None
    intermediates: tuple[x509.Certificate, ...]
    unparseable: tuple[int, ...]  # positions in `der`


def parse_chain(der: Sequence[bytes]) -> Chain:
    parsed = [certs.try_parse(d) for d in der]
    return Chain(
        der=tuple(der),
        leaf=parsed[0] if parsed else None,
        intermediates=tuple(c for c in parsed[1:] if c is not None),
        unparseable=tuple(i for i, c in enumerate(parsed) if c is None),
    )


def _fetched_certs(fetched: Mapping[str, AiaResult], urls: Sequence[str]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for url in urls:
        result = fetched.get(url)
        if result is not None:
            out.extend(c for d in result.certificates if (c := certs.try_parse(d)) is not None)
    return out


def build_path(chain: Chain, trust: certs.TrustStore, fetched: Mapping[str, AiaResult]) -> Path:
    """Follow issuers from the leaf: the trust store first (a cross-signed chain that reaches a
    trusted root is trusted), then what the server sent, then what AIA fetching returned."""
    assert chain.leaf is not None
    path = [chain.leaf]
    sources = [Source.SENT]
    current = chain.leaf
    if certs.self_signed(current):
        end = End.ANCHORED if trust.contains(current) else End.SELF_SIGNED_LEAF
        return Path(tuple(path), tuple(sources), end)
    for _ in range(MAX_DEPTH):
        if trust.contains(current) and len(path) > 1:
            return Path(tuple(path), tuple(sources), End.ANCHORED)
        candidates: list[tuple[x509.Certificate, Source]] = [
            (c, Source.STORE) for c in trust.issuers_of(current)
        ]
        candidates += [(c, Source.SENT) for c in chain.intermediates]
        if fetched:  # skip reading the AIA extension when nothing was fetched
            candidates += [
                (c, Source.AIA) for c in _fetched_certs(fetched, certs.ca_issuers_urls(current))
            ]
        issuer = None
        for cand, source in candidates:
            if any(cand is p for p in path) and not certs.self_signed(cand):
                continue
            if certs.signed_by(current, cand):
                issuer = (cand, source)
                break
        if issuer is None:
            return Path(tuple(path), tuple(sources), End.ISSUER_NOT_FOUND, stuck_at=current)
        cand, source = issuer
        if source is Source.STORE:
            path.append(cand)
            sources.append(source)
            return Path(tuple(path), tuple(sources), End.ANCHORED)
        if certs.self_signed(cand):
            path.append(cand)
            sources.append(source)
            end = End.ANCHORED if trust.contains(cand) else End.UNTRUSTED_ROOT
            return Path(tuple(path), tuple(sources), end)
        path.append(cand)
        sources.append(source)
        current = cand
    return Path(tuple(path), tuple(sources), End.TOO_LONG, stuck_at=current)


def _aia_wanted(path: Path, fetched: Mapping[str, AiaResult]) -> tuple[str, ...]:
    """caIssuers URLs that could complete the path and have not been fetched yet."""
    if path.end is not End.ISSUER_NOT_FOUND or path.stuck_at is None:
        return ()
    urls = certs.ca_issuers_urls(path.stuck_at)[:MAX_AIA_URLS]
    return tuple(
        u for u in urls if u not in fetched and u.lower().startswith(("http://", "https://"))
    )


def _strict_verify(
    chain: Chain, host: str, is_ip: bool, trust: certs.TrustStore, as_of: dt.datetime
) -> str | None:
    """None when cryptography's Web PKI verifier accepts the chain as sent; else its reason."""
    assert chain.leaf is not None
    try:
        subject: x509.DNSName | x509.IPAddress
        if is_ip:
            subject = x509.IPAddress(ipaddress.ip_address(host.split("%", 1)[0]))
        else:
            subject = x509.DNSName(host)
        verifier = (
            verification.PolicyBuilder()
            .store(trust.store)
            .time(as_of)
            .max_chain_depth(MAX_DEPTH)
            .build_server_verifier(subject)
        )
        verifier.verify(chain.leaf, list(chain.intermediates))
    except verification.VerificationError as e:
        return str(e)
    except Exception as e:  # a name or certificate the verifier cannot even take
        return f"{type(e).__name__}: {e}"
    return None


# cryptography's rules for a DNS name (x509-verification types.rs DNSName::new): ASCII letters,
# digits and inner hyphens, labels of 1 to 63, at most 253 in all.
_VERIFIER_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _verifier_dns_name(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_VERIFIER_LABEL.match(x) for x in text.split("."))


def _verifier_name_matches(host: str, dns_sans: Sequence[str]) -> bool:
    """Whether cryptography's verifier matches `host` to one of these dNSNames: equal, or `*.`
    and the host's parent, ASCII case-insensitively (types.rs DNSPattern::matches)."""
    if not _verifier_dns_name(host):
        return False
    h = host.lower()
    parent = h.split(".", 1)[1] if "." in h else None
    for san in dns_sans:
        if not san.isascii():
            continue
        s = san.lower()
        if s == h or (parent is not None and s.startswith("*.") and s[2:] == parent):
            return True
    return False


class _ChainVerdicts:
    """The verifier's answer for a chain as sent, shared by every host name the leaf covers.

    cryptography's verifier reads the name only to match it against the leaf's
    subjectAltNames (policy/extension.rs, ee::subject_alternative_name): for any two names
    that both match, every other check, and so the answer, is the same. Bounded (FIFO)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._verdicts: dict[tuple[bytes, str, dt.datetime], str | None] = {}

    def cache_clear(self) -> None:
        self._verdicts.clear()

    def verify(
        self,
        chain: Chain,
        host: str,
        is_ip: bool,
        dns_sans: Sequence[str],
        trust: certs.TrustStore,
        as_of: dt.datetime,
    ) -> str | None:
        if is_ip or not _verifier_name_matches(host, dns_sans):
            return _strict_verify(chain, host, is_ip, trust, as_of)
        digest = hashlib.sha256()
        for der in chain.der:
            digest.update(len(der).to_bytes(4, "big"))
            digest.update(der)
        key = (digest.digest(), trust.sha256, as_of)
        if key in self._verdicts:
            return self._verdicts[key]
        rejection = _strict_verify(chain, host, is_ip, trust, as_of)
        if len(self._verdicts) >= self.maxsize:
            del self._verdicts[next(iter(self._verdicts))]
        self._verdicts[key] = rejection
        return rejection


_chain_verdicts = _ChainVerdicts(4096)


@lru_cache(maxsize=4096)  # the same intermediates come back for thousands of hosts
def _weakness(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(weak key description, weak signature description) at OpenSSL security level 2."""
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
    return weak_key, weak_sig


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


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(delta: dt.timedelta) -> str:
    """A non-negative span in its largest whole unit: `3 day(s)`, `5 hour(s)`, `1 second(s)`."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}(s)"
    return f"{seconds} second(s)"


def _names_shown(dns: Sequence[str], ips: Sequence[str]) -> str:
    names = list(dns) + list(ips)
    if not names:
        return "none"
    shown = ", ".join(names[:6])
    return shown + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")


def _mismatch_finding(host: str, dns: Sequence[str], ips: Sequence[str]) -> Finding:
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


def diagnose(
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    trust: certs.TrustStore,
    as_of: dt.datetime,
    warn_days: int,
    fetched: Mapping[str, AiaResult] | None = None,
) -> Diagnosis:
    """Diagnose one host's chain. `as_of` must be timezone-aware; `fetched` holds the AIA
    results for the URLs an earlier call's `aia_wanted` asked for (missing ones count as not
    fetched)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    # Validity has one-second granularity (RFC 5280 4.1.2.5): notAfter 00:00:00Z covers all of
    # that second, as cryptography's verifier reads it (x509-limbo notafter-fractional).
    as_of = as_of.replace(microsecond=0)
    fetched = fetched or {}
    chain = parse_chain(chain_der)
    sent_infos = tuple(certs.info(d) for d in chain.der)
    found: list[Finding] = []
    for i in chain.unparseable:
        found.append(
            F.make(
                Code.UNPARSEABLE_CERTIFICATE,
                f"certificate #{i} of the chain cannot be parsed: {sent_infos[i].parse_error}",
            )
        )
    if chain.leaf is None:
        verdicts = Verdicts(
            trusted=False,
            expired=None,
            not_yet_valid=None,
            expiring_soon=None,
            hostname_mismatch=None,
            self_signed=None,
            untrusted_root=None,
            incomplete_chain=None,
        )
        return Diagnosis(
            leaf=sent_infos[0] if sent_infos else None,
            certificates=sent_infos,
            verdicts=verdicts,
            findings=tuple(found),
            days_remaining=None,
        )
    leaf = chain.leaf
    leaf_info = sent_infos[0]

    # Validity of the leaf (RFC 5280 4.1.2.5: both bounds inclusive).
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    expired = as_of > not_after
    not_yet_valid = as_of < not_before
    remaining = not_after - as_of
    expiring_soon = not expired and remaining <= dt.timedelta(days=warn_days)
    days_remaining = math.floor(remaining.total_seconds() / 86400)
    if expired:
        found.append(
            F.make(
                Code.EXPIRED,
                f"expired {_ts(not_after)}, {_span(as_of - not_after)} before {_ts(as_of)}",
            )
        )
    elif expiring_soon:
        found.append(
            F.make(
                Code.EXPIRING_SOON,
                f"expires {_ts(not_after)}, in {_span(remaining)} "
                f"(warning window {warn_days} days)",
            )
        )
    if not_yet_valid:
        found.append(
            F.make(
                Code.NOT_YET_VALID,
                f"valid only from {_ts(not_before)}, {_span(not_before - as_of)} after "
                f"{_ts(as_of)}",
            )
        )

    # Names (RFC 6125; the CN is never used).
    names = certs.sans(leaf)
    if names is None:
        hostname_mismatch = True
        found.append(
            F.make(
                Code.NO_SAN,
                f"the certificate has no subjectAltName (subject {leaf_info.subject}), so it "
                f"matches no name, {host} included",
                f"Reissue the certificate with {host} in its subjectAltName.",
            )
        )
    else:
        hostname_mismatch = not matches(host, is_ip, names[0], names[1])
        if hostname_mismatch:
            found.append(_mismatch_finding(host, names[0], names[1]))

    # Path: self-signed leaf, untrusted root, missing issuer, completed through AIA.
    path = build_path(chain, trust, fetched)
    self_signed = path.end is End.SELF_SIGNED_LEAF or (
        path.end is End.ANCHORED and len(path.certs) == 1
    )
    untrusted_root = path.end in (End.UNTRUSTED_ROOT, End.ISSUER_NOT_FOUND, End.TOO_LONG)
    incomplete_chain = Source.AIA in path.sources and path.end is not End.ISSUER_NOT_FOUND
    fetched_infos: list[CertInfo] = []
    for cert, source in zip(path.certs, path.sources, strict=True):
        if source is Source.AIA:
            fetched_infos.append(certs.info(cert.public_bytes(_DER)))
    if self_signed and path.end is End.SELF_SIGNED_LEAF:
        found.append(
            F.make(
                Code.SELF_SIGNED,
                f"the certificate is self-signed (subject {leaf_info.subject})",
            )
        )
    if path.end is End.UNTRUSTED_ROOT:
        root = path.certs[-1]
        found.append(
            F.make(
                Code.UNTRUSTED_ROOT,
                f"the chain ends at {certs.name_text(root.subject)}, which is not in the trust "
                f"store {trust.path}",
                f"Use a certificate from a publicly trusted CA, or add the root "
                f"{certs.name_text(root.subject)} to the clients' trust store.",
                certificate=root,
            )
        )
    if path.end in (End.ISSUER_NOT_FOUND, End.TOO_LONG):
        stuck = path.stuck_at or leaf
        urls = certs.ca_issuers_urls(stuck)
        failures = [fetched[u] for u in urls if u in fetched and fetched[u].error]
        where = "the leaf" if stuck is leaf else certs.name_text(stuck.subject)
        message = (
            f"the issuer {certs.name_text(stuck.issuer)} of {where} is not sent by the server "
            f"and not in the trust store"
        )
        if path.end is End.TOO_LONG:
            message = f"no path to a root within {MAX_DEPTH} certificates"
        elif not urls:
            message += "; the certificate names no caIssuers URL"
        found.append(F.make(Code.ISSUER_NOT_FOUND, message))
        for r in failures:
            found.append(
                F.make(
                    Code.AIA_FETCH_FAILED,
                    f"caIssuers {r.url} could not be fetched: {r.error}",
                    url=r.url,
                )
            )
    if incomplete_chain:
        missing = [c for c, s in zip(path.certs, path.sources, strict=True) if s is Source.AIA]
        for m in missing:
            child = path.certs[path.certs.index(m) - 1]
            url_text = ", ".join(certs.ca_issuers_urls(child))
            name = certs.name_text(m.subject)
            found.append(
                F.make(
                    Code.INCOMPLETE_CHAIN,
                    f"the server does not send the intermediate {name}; it was fetched from "
                    f"{url_text}",
                    f"Install the intermediate {name} (from {url_text}) on the server, after the "
                    "leaf in the chain file.",
                    certificate=m,
                    url=_fetched_from(m, certs.ca_issuers_urls(child), fetched),
                )
            )

    # Served intermediates outside their validity.
    intermediate_bad = False
    for cert, source in zip(path.certs[1:], path.sources[1:], strict=True):
        if source is not Source.SENT or certs.self_signed(cert):
            continue
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        if as_of > na or as_of < nb:
            intermediate_bad = True
            when = f"expired {_ts(na)}" if as_of > na else f"not valid before {_ts(nb)}"
            found.append(
                F.make(
                    Code.INTERMEDIATE_EXPIRED,
                    f"the intermediate {certs.name_text(cert.subject)} the server sends is {when}",
                    certificate=cert,
                )
            )

    # OpenSSL security level 2 for every certificate below the root.
    below_root = [c for i, c in enumerate(path.certs) if i == 0 or not certs.self_signed(c)]
    if path.end is End.ANCHORED and len(path.certs) > 1:
        below_root = [c for c in below_root if not trust.contains(c)]
    weak = False
    for cert in below_root:
        weak_key, weak_sig = _weakness(cert)
        if not (weak_key or weak_sig):
            continue
        who = "the leaf" if cert is leaf else certs.name_text(cert.subject)
        if weak_key:
            weak = True
            found.append(F.make(Code.WEAK_KEY, f"{who} has a {weak_key} key", certificate=cert))
        if weak_sig:
            weak = True
            found.append(
                F.make(Code.WEAK_SIGNATURE, f"{who} is signed with {weak_sig}", certificate=cert)
            )

    rejection = _chain_verdicts.verify(chain, host, is_ip, names[0] if names else (), trust, as_of)
    # Our RFC 6125 matcher is stricter than the verifier (`*.com` never matches): a name that
    # does not match is never trusted.
    trusted = rejection is None and not weak and not intermediate_bad and not hostname_mismatch
    if not trusted and not any(f.severity.rank >= _EXPLAINS for f in found):
        found.append(
            F.make(
                Code.NOT_TRUSTED,
                f"a strict client rejects the chain: {rejection or 'unknown reason'}",
            )
        )
    verdicts = Verdicts(
        trusted=trusted,
        expired=expired,
        not_yet_valid=not_yet_valid,
        expiring_soon=expiring_soon,
        hostname_mismatch=hostname_mismatch,
        self_signed=self_signed,
        untrusted_root=untrusted_root and not self_signed,
        incomplete_chain=incomplete_chain,
    )
    return Diagnosis(
        leaf=leaf_info,
        certificates=sent_infos + tuple(fetched_infos),
        verdicts=verdicts,
        findings=tuple(found),
        days_remaining=days_remaining,
        aia_wanted=_aia_wanted(path, fetched),
    )
