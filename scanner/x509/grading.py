"""The SSL Labs grade caps for what the ClientHello prober measures (issue 19), from its
report of one host. Pure. Sources (docs/guide/clients.md cites them):
- SSL Labs Server Rating Guide (2009r): SSL 2.0 -> F; export suites -> F; anonymous and NULL
  suites -> F (insecure cipher suites);
- "SSL Labs Grading Changes" (Ivan Ristic, 2014-10-14 and 2014-12): SSL 3.0 -> C (POODLE);
- "RC4 Is Now Considered Insecure" / grading update (2015-2016): RC4 with TLS 1.1 or newer
  -> C, RC4 with older protocols only -> B;
- "SSL Labs Grading 2018" (2017-12-16 announcement, 2018): 3DES (64-bit block) with TLS 1.1
  or newer -> C unless it is the server's last choice; no forward secrecy with modern
  clients -> B (measured as rsa_key_exchange, forward_secrecy_only)."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model.probed import HelloReport
from scanner.model.suites import SUITES, Protocol, WeakClass

MODERN = (Protocol.TLS1_1, Protocol.TLS1_2)  # "TLS 1.1 or newer" that can carry these suites


@dataclass(frozen=True, slots=True)
class CipherCaps:
    f: bool  # SSL 2.0, export, NULL or anonymous suites
    c: bool  # SSL 3.0; RC4 or 3DES (not last) with TLS 1.1+
    b: bool  # RC4 with older protocols only


def accepted_at(report: HelloReport, weak: WeakClass) -> list[Protocol]:
    """The versions at which a suite of the class is accepted."""
    return [v for v in Protocol if weak in (report.facts.classes.get(v) or frozenset())]


def _triple_des_last(report: HelloReport, v: Protocol) -> bool:
    """3DES suites are the server's last choices at `v` (known only with --ciphers and a
    server order; otherwise a client can get it first: not last)."""
    suites = (report.facts.suites or {}).get(v)
    if not suites or report.facts.server_preference is not True:
        return False
    weak = [WeakClass.TRIPLE_DES in SUITES[c].classes for c in suites if c in SUITES]
    first = weak.index(True) if True in weak else len(weak)
    return all(weak[first:])


def cipher_caps(report: HelloReport) -> CipherCaps:
    f = report.facts
    rc4 = accepted_at(report, WeakClass.RC4)
    des3 = [v for v in accepted_at(report, WeakClass.TRIPLE_DES) if v in MODERN]
    return CipherCaps(
        f=bool(f.versions.get(Protocol.SSL2))
        or any(accepted_at(report, w) for w in (WeakClass.EXPORT, WeakClass.NULL, WeakClass.ANON)),
        c=bool(f.versions.get(Protocol.SSL3))
        or any(v in MODERN for v in rc4)
        or any(not _triple_des_last(report, v) for v in des3),
        b=bool(rc4),
    )
