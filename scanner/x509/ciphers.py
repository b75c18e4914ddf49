"""Findings from the ClientHello prober's report of one host (`--protocols`): SSL 2.0 and 3.0,
the weak cipher classes accepted, post-quantum key exchange, large-hello tolerance,
must-staple without a staple, no server order; and a stapled `revoked` as revocation
evidence. Pure: a report in, findings out."""

from __future__ import annotations

from scanner.model.catalogue import Code
from scanner.model.probed import HelloReport, Stapled
from scanner.model.suites import SUITES, Protocol, WeakClass
from scanner.model.types import Diagnosis, Finding, Revocation, RevocationSource
from scanner.x509 import findings as F
from scanner.x509.grading import accepted_at
from scanner.x509.revocation.judge import Judgement, apply

LABELS = {
    Protocol.SSL2: "SSL 2.0",
    Protocol.SSL3: "SSL 3.0",
    Protocol.TLS1_0: "TLS 1.0",
    Protocol.TLS1_1: "TLS 1.1",
    Protocol.TLS1_2: "TLS 1.2",
    Protocol.TLS1_3: "TLS 1.3",
}
# The weak classes with a finding of their own, worst first (`cbc` and `no_fs` have none:
# no_fs is rsa_key_exchange's, through forward_secrecy_only).
CLASS_CODES = {
    WeakClass.EXPORT: Code.EXPORT_CIPHER,
    WeakClass.NULL: Code.NULL_CIPHER,
    WeakClass.ANON: Code.ANON_CIPHER,
    WeakClass.RC4: Code.RC4_CIPHER,
    WeakClass.DES: Code.DES_CIPHER,
    WeakClass.TRIPLE_DES: Code.TRIPLE_DES_CIPHER,
}
FINDING_CLASSES = frozenset(CLASS_CODES)
MAX_NAMED = 4  # suites named in a message


def _suites_named(report: HelloReport, weak: WeakClass) -> str:
    """With --ciphers: the accepted suites of the class, named (at most MAX_NAMED)."""
    suites = report.facts.suites or {}
    names = dict.fromkeys(
        SUITES[c].name
        for found in suites.values()
        for c in found or ()
        if c in SUITES and weak in SUITES[c].classes
    )
    if not names:
        return ""
    shown = list(names)[:MAX_NAMED]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    return f" ({', '.join(shown)}{more})"


def hello_findings(report: HelloReport) -> tuple[Finding, ...]:
    """A finding only for what a probe showed (a failed probe leaves its fact None)."""
    f = report.facts
    found: list[Finding] = []
    if f.versions.get(Protocol.SSL2):
        found.append(F.make(Code.SSL2, "the server accepts SSL 2.0 (RFC 6176 prohibits it)"))
    if f.versions.get(Protocol.SSL3):
        found.append(F.make(Code.SSL3, "the server accepts SSL 3.0 (RFC 7568; POODLE)"))
    for weak, code in CLASS_CODES.items():
        at = accepted_at(report, weak)
        if at:
            found.append(
                F.make(
                    code,
                    f"the server accepts {weak.value} cipher suites at "
                    f"{', '.join(LABELS[v] for v in at)}{_suites_named(report, weak)}",
                )
            )
    if f.pq_kex is False:
        found.append(
            F.make(
                Code.NO_PQ_KEX,
                "offered X25519MLKEM768 with x25519 as a browser does, the server chose a "
                "classical key exchange",
            )
        )
    if f.large_hello_ok is False:
        found.append(F.make(Code.LARGE_HELLO_INTOLERANT))
    if report.must_staple and f.flight_read and f.ocsp_response is None:
        found.append(
            F.make(
                Code.MUST_STAPLE_NOT_STAPLED,
                "the leaf is must-staple (TLS feature status_request) and the server stapled no "
                "OCSP response to a hello asking for one",
            )
        )
    weak_seen = sorted(c.value for c in report.facts.cipher_classes & FINDING_CLASSES)
    if f.server_preference is False and weak_seen:
        found.append(
            F.make(
                Code.NO_SERVER_PREFERENCE,
                f"the server picks by the client's order and accepts {', '.join(weak_seen)} "
                "cipher suites",
            )
        )
    return tuple(found)


def stapled_revocation(d: Diagnosis, report: HelloReport) -> Diagnosis:
    """A stapled response that verifies and says `revoked` is revocation evidence as a fetched
    one is: the diagnosis becomes revoked (untrusted) with the `revoked` finding."""
    if report.stapled is not Stapled.REVOKED or d.revocation is Revocation.REVOKED:
        return d
    finding = F.make(
        Code.REVOKED,
        "the leaf was revoked by its CA: the OCSP response the server stapled says so "
        "(RFC 6960, verified as a fetched one)",
    )
    return apply(
        d,
        Judgement(status=Revocation.REVOKED, source=RevocationSource.OCSP, findings=(finding,)),
    )
