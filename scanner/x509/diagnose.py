"""Diagnosis: (chain as sent, host, context: trust store, as-of, AIA results...) -> verdicts
and findings, as named steps (scanner.x509.rules) over the built path (scanner.x509.paths).

A pure function of its inputs: no clock, no sockets. The only outside knowledge it can want is
a missing issuer, which `Diagnosis.aia_wanted` names as URLs for the caller to fetch and hand
back in another call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.model.types import CertInfo, Diagnosis, Finding, Verdicts
from scanner.x509 import certs, hygiene, rules
from scanner.x509 import renewal as rn
from scanner.x509.context import DiagnosisContext
from scanner.x509.paths import (
    MAX_AIA_URLS,
    MAX_DEPTH,
    Chain,
    aia_wanted,
    build_path,
    parse_chain,
)
from scanner.x509.verify import chain_verdict

__all__ = [
    "MAX_AIA_URLS",
    "MAX_DEPTH",
    "ChainFacts",
    "DiagnosisContext",
    "chain_facts",
    "diagnose",
]

_UNKNOWN = Verdicts(
    trusted=False,
    expired=None,
    not_yet_valid=None,
    expiring_soon=None,
    hostname_mismatch=None,
    self_signed=None,
    untrusted_root=None,
    incomplete_chain=None,
)


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What diagnosis concludes about a chain whatever the host's name: the same for every
    host that sends it (fleets serve one certificate from many names and addresses), so a
    scan remembers it (`Memo.chains`) and only the name checks run per host."""

    chain: Chain
    sent: tuple[CertInfo, ...]
    # Findings in the order a host's list shows them, with the host's name findings between:
    # unparseable and validity first, then path, served intermediates and weakness.
    findings: tuple[Finding, ...]
    path_findings: tuple[Finding, ...] = ()
    valid: rules.Validity | None = None  # None without a parseable leaf
    route: rules.PathVerdicts | None = None
    served_bad: bool = False
    weak: bool = False
    certificates: tuple[CertInfo, ...] = ()  # sent, then fetched from AIA
    aia_wanted: tuple[str, ...] = ()
    path_der: tuple[bytes, ...] = ()
    renewal: rn.Renewal | None = None  # None without readable leaf dates
    path_not_afters: tuple[dt.datetime, ...] = ()  # the built path's CA certificates


def chain_facts(chain_der: Sequence[bytes], ctx: DiagnosisContext) -> ChainFacts:
    """The host-independent steps of diagnosis, remembered per (chain, trust store, as-of,
    warning days) while nothing was fetched for the host (the common case)."""
    if ctx.fetched:
        return _chain_facts(chain_der, ctx)
    key = (tuple(chain_der), ctx.trust.sha256, ctx.as_of, ctx.warn_days, ctx.renew_at, ctx.offline)
    facts: ChainFacts = ctx.memo.chains.get(key, lambda: _chain_facts(chain_der, ctx))
    return facts


def _chain_facts(chain_der: Sequence[bytes], ctx: DiagnosisContext) -> ChainFacts:
    trust, as_of, fetched, memo = ctx.trust, ctx.as_of, ctx.fetched, ctx.memo
    chain = parse_chain(chain_der, memo)
    sent = tuple(memo.info(d) for d in chain.der)
    broken = rules.unparseable(chain.unparseable, sent)
    if chain.leaf is None:
        return ChainFacts(chain=chain, sent=sent, findings=tuple(broken), certificates=sent)
    leaf, subject = chain.leaf, sent[0].subject
    valid = rules.validity(leaf, as_of, ctx.warn_days)
    path = build_path(chain, trust, fetched, memo)
    route = rules.path_verdicts(path, leaf, subject, trust, fetched, offline=ctx.offline)
    served = rules.served_intermediates(path, as_of, memo)
    weak = rules.weakness(path, trust, memo)
    tidy = hygiene.check(chain, path, as_of, memo)
    ahead = rn.assess_leaf(leaf, as_of, ctx.renew_at)
    return ChainFacts(
        chain=chain,
        sent=sent,
        findings=(*broken, *valid.findings, *(ahead.findings if ahead else ())),
        path_findings=(*route.findings, *served, *weak, *tidy.findings),
        valid=valid,
        route=route,
        served_bad=bool(served),
        weak=bool(weak),
        certificates=sent + tuple(memo.info(d) for d in route.fetched),
        aia_wanted=aia_wanted(path, fetched),
        path_der=tuple(c.public_bytes(Encoding.DER) for c in path.certs),
        renewal=ahead,
        path_not_afters=_not_afters(path.certs[1:]),
    )


def _not_afters(cas: Sequence[x509.Certificate]) -> tuple[dt.datetime, ...]:
    return tuple(d for c in cas if (d := certs.validity(c)[1]) is not None)


def diagnose(
    chain_der: Sequence[bytes], *, host: str, is_ip: bool, ctx: DiagnosisContext
) -> Diagnosis:
    """Diagnose one host's chain against `ctx` (trust store, as-of, warning days, the AIA
    results fetched so far, the scan's memo, offline wording)."""
    facts = chain_facts(chain_der, ctx)
    chain, valid, route = facts.chain, facts.valid, facts.route
    if chain.leaf is None or valid is None or route is None:
        return Diagnosis(
            leaf=facts.sent[0] if facts.sent else None,
            certificates=facts.sent,
            verdicts=_UNKNOWN,
            findings=facts.findings,
            days_remaining=None,
        )
    named = rules.names(chain.leaf, facts.sent[0].subject, host, is_ip)
    found = [*facts.findings, *named.findings, *facts.path_findings]
    rejection = chain_verdict(chain, host, is_ip, named.dns, ctx.trust, ctx.as_of, ctx.memo)
    trusted = rules.trusted(
        rejection,
        weak=facts.weak,
        intermediate_bad=facts.served_bad,
        mismatch=named.mismatch,
        dates_unknown=valid.expired is None,
    )
    if not trusted:
        found += rules.not_trusted(rejection, found)
    ahead = facts.renewal
    expiring_soon = valid.expiring_soon
    if ahead is not None:  # a short-lived leaf is always "expiring soon", and needs no CRL
        found = list(rn.keep(found, ahead, facts.sent[0].sha256))
        expiring_soon = expiring_soon and rn.expiring_soon_applies(ahead)
    verdicts = Verdicts(
        trusted=trusted,
        expired=valid.expired,
        not_yet_valid=valid.not_yet_valid,
        expiring_soon=expiring_soon,
        hostname_mismatch=named.mismatch,
        self_signed=route.self_signed,
        untrusted_root=route.untrusted_root,
        incomplete_chain=route.incomplete_chain,
    )
    return Diagnosis(
        leaf=facts.sent[0],
        certificates=facts.certificates,
        verdicts=verdicts,
        findings=tuple(found),
        days_remaining=valid.days_remaining,
        aia_wanted=facts.aia_wanted,
        path=facts.path_der,
        lifetime_used=ahead.lifetime_used if ahead else None,
        short_lived=ahead.short_lived if ahead else None,
        path_not_afters=facts.path_not_afters,
    )
