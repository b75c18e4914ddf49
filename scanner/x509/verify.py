"""The strict client's answer: cryptography's Web PKI verifier on the chain as sent, for the
host, at as-of, with the trust store. Pure; the answer for a chain is shared by every host
name the leaf covers (remembered in the scan's `Memo`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification

from scanner.x509 import certs
from scanner.x509.memo import Memo
from scanner.x509.paths import MAX_DEPTH, Chain


def strict_verify(
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
    except certs.MALFORMED as e:  # a name or certificate the verifier cannot even take
        return f"{type(e).__name__}: {e}"
    return None


# cryptography's rules for a DNS name (x509-verification types.rs DNSName::new): ASCII letters,
# digits and inner hyphens, labels of 1 to 63, at most 253 in all.
_VERIFIER_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _verifier_dns_name(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_VERIFIER_LABEL.match(x) for x in text.split("."))


def verifier_name_matches(host: str, dns_sans: Sequence[str]) -> bool:
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


def chain_verdict(
    chain: Chain,
    host: str,
    is_ip: bool,
    dns_sans: Sequence[str],
    trust: certs.TrustStore,
    as_of: dt.datetime,
    memo: Memo,
) -> str | None:
    """`strict_verify`, remembered per (chain, trust store, as-of) for names the verifier
    matches: it reads the name only to match it against the leaf's subjectAltNames
    (policy/extension.rs, ee::subject_alternative_name), so for any two names that both match,
    every other check, and so the answer, is the same."""
    if is_ip or not verifier_name_matches(host, dns_sans):
        return strict_verify(chain, host, is_ip, trust, as_of)
    key = (chain.digest, trust.sha256, as_of)
    return memo.verdicts.get(key, lambda: strict_verify(chain, host, is_ip, trust, as_of))
