"""Diagnosis: (chain as sent, host, trust store, as-of, AIA results) -> verdicts and findings,
as named steps (scanner.x509.rules) over the built path (scanner.x509.paths).

A pure function of its inputs: no clock, no sockets. The only outside knowledge it can want is
a missing issuer, which `Diagnosis.aia_wanted` names as URLs for the caller to fetch and hand
back in another call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.serialization import Encoding

from scanner.errors import UsageError
from scanner.model.types import AiaResult, CertInfo, Diagnosis, Verdicts
from scanner.x509 import certs, rules
from scanner.x509.memo import Memo
from scanner.x509.paths import MAX_AIA_URLS, MAX_DEPTH, aia_wanted, build_path, parse_chain
from scanner.x509.verify import chain_verdict

__all__ = ["MAX_AIA_URLS", "MAX_DEPTH", "diagnose"]

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


def diagnose(
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    trust: certs.TrustStore,
    as_of: dt.datetime,
    warn_days: int,
    fetched: Mapping[str, AiaResult] | None = None,
    memo: Memo | None = None,
    offline: bool = False,
) -> Diagnosis:
    """Diagnose one host's chain. `as_of` must be timezone-aware; `fetched` holds the AIA
    results for the URLs an earlier call's `aia_wanted` asked for (missing ones count as not
    fetched); `memo` is the scan's memory of repeated work (a fresh one when None); `offline`
    words findings for a chain read from a file rather than sent by a server."""
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    # Validity has one-second granularity (RFC 5280 4.1.2.5): notAfter 00:00:00Z covers all of
    # that second, as cryptography's verifier reads it (x509-limbo notafter-fractional).
    as_of = as_of.replace(microsecond=0)
    fetched = fetched or {}
    memo = memo or Memo()
    chain = parse_chain(chain_der, memo)
    sent = tuple(memo.info(d) for d in chain.der)
    broken = rules.unparseable(chain.unparseable, sent)
    if chain.leaf is None:
        return Diagnosis(
            leaf=sent[0] if sent else None,
            certificates=sent,
            verdicts=_UNKNOWN,
            findings=tuple(broken),
            days_remaining=None,
        )
    leaf, leaf_info = chain.leaf, sent[0]
    valid = rules.validity(leaf, as_of, warn_days)
    named = rules.names(leaf, leaf_info.subject, host, is_ip)
    path = build_path(chain, trust, fetched, memo)
    route = rules.path_verdicts(path, leaf, leaf_info.subject, trust, fetched, offline=offline)
    served = rules.served_intermediates(path, as_of, memo)
    weak = rules.weakness(path, trust, memo)
    found = [*broken, *valid.findings, *named.findings, *route.findings, *served, *weak]
    rejection = chain_verdict(chain, host, is_ip, named.dns, trust, as_of, memo)
    trusted = rules.trusted(
        rejection,
        weak=bool(weak),
        intermediate_bad=bool(served),
        mismatch=named.mismatch,
        dates_unknown=valid.expired is None,
    )
    if not trusted:
        found += rules.not_trusted(rejection, found)
    verdicts = Verdicts(
        trusted=trusted,
        expired=valid.expired,
        not_yet_valid=valid.not_yet_valid,
        expiring_soon=valid.expiring_soon,
        hostname_mismatch=named.mismatch,
        self_signed=route.self_signed,
        untrusted_root=route.untrusted_root,
        incomplete_chain=route.incomplete_chain,
    )
    fetched_infos: tuple[CertInfo, ...] = tuple(memo.info(d) for d in route.fetched)
    return Diagnosis(
        leaf=leaf_info,
        certificates=sent + fetched_infos,
        verdicts=verdicts,
        findings=tuple(found),
        days_remaining=valid.days_remaining,
        aia_wanted=aia_wanted(path, fetched),
        path=tuple(c.public_bytes(Encoding.DER) for c in path.certs),
    )
