"""A host's path judged: for each certificate below the anchor, the CRLs supplied, then its
CRL URLs, then OCSP; findings for what is revoked or unknown; the URLs still wanted. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509

from scanner.model.catalogue import Code
from scanner.model.types import Diagnosis, Finding
from scanner.x509 import certs
from scanner.x509 import findings as F
from scanner.x509.context import DiagnosisContext
from scanner.x509.memo import Memo
from scanner.x509.revocation.crl import MAX_CRL_URLS, Crl, check_crl, crl_urls
from scanner.x509.revocation.ocsp import MAX_OCSP_URLS, check_ocsp, ocsp_request, ocsp_urls
from scanner.x509.revocation.verdict import Source, Status, Verdict, ts

# CA/Browser Forum Baseline Requirements 1.6.1 "Short-lived Subscriber Certificate": they need
# no CRL or OCSP pointer (7.1.2.11.2); 10 days when issued before 2026-03-15, 7 days after.
SHORT_LIVED_UNTIL = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)


def short_lived(cert: x509.Certificate) -> bool:
    """A short-lived subscriber certificate of the Baseline Requirements (validity counted
    inclusively, RFC 5280 4.1.2.5)."""
    try:
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    except ValueError:  # a validity cryptography cannot represent (year 0): not known short
        return False
    days = 10 if nb < SHORT_LIVED_UNTIL else 7
    return (na - nb).total_seconds() + 1 <= days * 86400


# --- a host's path ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """What the caller has: CRLs supplied as files (used first), fetched CRLs and OCSP
    answers, each a value or why there is none. `online` False: ask for no URL (`check`)."""

    files: Sequence[Crl] = ()
    crls: Mapping[str, Crl | str] = field(default_factory=dict)
    ocsp: Mapping[tuple[str, bytes], bytes | str] = field(default_factory=dict)
    online: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    status: Status
    source: Source | None = None
    findings: tuple[Finding, ...] = ()
    # URLs (and OCSP requests) still to fetch: fetch them and judge again with the results.
    wanted_crls: tuple[str, ...] = ()
    wanted_ocsp: tuple[tuple[str, bytes], ...] = ()


NOT_CHECKED = Judgement(status=Status.NOT_CHECKED)


@dataclass(frozen=True, slots=True)
class _Wanted:
    crls: tuple[str, ...] = ()
    ocsp: tuple[tuple[str, bytes], ...] = ()


def pairs(
    path_der: Sequence[bytes], memo: Memo | None = None
) -> list[tuple[x509.Certificate, x509.Certificate]]:
    """(certificate, its issuer) for every certificate of the built path below its last one
    (the trust anchor, or the end the path builder reached)."""
    parse = memo.parse if memo is not None else certs.try_parse
    path = [parse(d) for d in path_der]
    return [(c, i) for c, i in zip(path, path[1:], strict=False) if c is not None and i is not None]


def judge(path_der: Sequence[bytes], *, ctx: DiagnosisContext, evidence: Evidence) -> Judgement:
    """The path's revocation status at `ctx.as_of` with a finding per certificate that is
    revoked or could not be checked; or the URLs still wanted. `ctx.memo`: the scan's parsed
    certificates."""
    as_of, memo = ctx.as_of, ctx.memo  # to the second: CRL and OCSP times have that granularity
    verdicts: list[tuple[x509.Certificate, Verdict]] = []
    wanted_crls: list[str] = []
    wanted_ocsp: list[tuple[str, bytes]] = []
    path = pairs(path_der, memo)
    for cert, issuer in path:
        pointers = memo.pointers.one(cert, _pointers) if memo is not None else _pointers(cert)
        v = _certificate(cert, issuer, pointers, as_of, evidence)
        if isinstance(v, _Wanted):
            wanted_crls += [u for u in v.crls if u not in wanted_crls]
            wanted_ocsp += [k for k in v.ocsp if k not in wanted_ocsp]
        elif v is not None:
            verdicts.append((cert, v))
    if wanted_crls or wanted_ocsp:
        return Judgement(
            status=Status.UNKNOWN,
            wanted_crls=tuple(wanted_crls),
            wanted_ocsp=tuple(wanted_ocsp),
        )
    return _summarise(verdicts, leaf=path[0][0] if path else None, memo=memo)


def _pointers(cert: x509.Certificate) -> tuple[tuple[str, ...], ...]:
    """(CRL URLs, OCSP URLs) to try, each capped."""
    return crl_urls(cert)[:MAX_CRL_URLS], ocsp_urls(cert)[:MAX_OCSP_URLS]


def _certificate(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    pointers: tuple[tuple[str, ...], ...],
    as_of: dt.datetime,
    ev: Evidence,
) -> Verdict | _Wanted | None:
    """One certificate: supplied CRLs, then its CRL URLs, then OCSP when no CRL was usable.
    None: nothing to check and nothing to say (a short-lived certificate without pointers)."""
    reasons: list[str] = []
    first_url: str | None = None
    for crl in ev.files:
        if crl.issuer != cert.issuer:
            continue
        v = check_crl(crl, cert, issuer, as_of, source=Source.CRL_FILE, url=None)
        if v.status is not Status.UNKNOWN:
            return v
        reasons.append(v.why or "")
    urls, o_urls = pointers
    if not ev.online:
        if not reasons and not urls and not o_urls and short_lived(cert):
            return None
        reasons = reasons or ["no CRL supplied with --crl is from its issuer (check never fetches)"]
        return Verdict(status=Status.UNKNOWN, why="; ".join(reasons))
    missing = tuple(u for u in urls if u not in ev.crls)
    if missing:
        return _Wanted(crls=missing)
    for url in urls:
        first_url = first_url or url
        got = ev.crls[url]
        if isinstance(got, str):
            reasons.append(f"{url}: {got}")
            continue
        v = check_crl(got, cert, issuer, as_of, source=Source.CRL, url=url)
        if v.status is not Status.UNKNOWN:
            return v
        reasons.append(v.why or "")
    if o_urls:
        request = ocsp_request(cert, issuer)
        missing_ocsp = tuple((u, request) for u in o_urls if (u, request) not in ev.ocsp)
        if missing_ocsp:
            return _Wanted(ocsp=missing_ocsp)
        for url in o_urls:
            first_url = first_url or url
            answer = ev.ocsp[(url, request)]
            if isinstance(answer, str):
                reasons.append(f"OCSP {url}: {answer}")
                continue
            v = check_ocsp(answer, cert, issuer, as_of, url=url)
            if v.status is not Status.UNKNOWN:
                return v
            reasons.append(f"OCSP {v.why}")
    if reasons:
        return Verdict(status=Status.UNKNOWN, url=first_url, why="; ".join(reasons))
    if short_lived(cert):
        return None  # Baseline Requirements 7.1.2.11.2: no pointer needed
    return Verdict(
        status=Status.UNKNOWN,
        why="it names no CRL distribution point and no OCSP URL, so no client can learn that "
        "it was revoked",
    )


def _names(cert: x509.Certificate) -> tuple[str, str, str]:
    sha256, subject = F.identity(cert)
    return sha256, subject, certs.serial_hex(cert)


def _summarise(
    verdicts: Sequence[tuple[x509.Certificate, Verdict]],
    leaf: x509.Certificate | None,
    memo: Memo | None = None,
) -> Judgement:
    found: list[Finding] = []
    for cert, v in verdicts:
        if v.status is Status.GOOD:
            continue
        # The same intermediates (and, behind a load balancer, leaves) come back for
        # thousands of hosts: their names are read once per scan.
        sha256, subject, serial = memo.names.one(cert, _names) if memo else _names(cert)
        who = "the leaf" if cert is leaf else subject
        if v.status is Status.REVOKED:
            when = ts(v.revoked_at) if v.revoked_at else "an unknown time"
            where = v.url or "a CRL supplied with --crl"
            found.append(
                F.make(
                    Code.REVOKED,
                    f"{who} (serial {serial}) was revoked by its CA at {when}, reason "
                    f"{v.reason or 'not given'} ({v.source} {where})",
                    f"Replace {who} now: clients refuse it. Get a new certificate (with a new "
                    "key if the reason is keyCompromise) and deploy it.",
                    named=(sha256, subject),
                    url=v.url,
                )
            )
        elif v.status is Status.UNKNOWN:
            found.append(
                F.make(
                    Code.REVOCATION_UNKNOWN,
                    f"the revocation status of {who} (serial {serial}) is unknown: {v.why}",
                    named=(sha256, subject),
                    url=v.url,
                )
            )
    statuses = [v.status for _, v in verdicts]
    if Status.REVOKED in statuses:
        first = next(v for _, v in verdicts if v.status is Status.REVOKED)
        return Judgement(status=Status.REVOKED, source=first.source, findings=tuple(found))
    if Status.UNKNOWN in statuses:
        return Judgement(status=Status.UNKNOWN, findings=tuple(found))
    if statuses:  # all good: the source that vouched for the leaf, else the first
        by_leaf = [v.source for c, v in verdicts if c is leaf]
        return Judgement(status=Status.GOOD, source=(by_leaf or [verdicts[0][1].source])[0])
    return NOT_CHECKED


def apply(diagnosis: Diagnosis, judgement: Judgement) -> Diagnosis:
    """The diagnosis with the revocation verdict: its findings added, and a revoked
    certificate anywhere in the path making the chain untrusted."""
    verdicts = diagnosis.verdicts
    if judgement.status is Status.REVOKED:
        verdicts = replace(verdicts, trusted=False)
    return replace(
        diagnosis,
        verdicts=verdicts,
        findings=diagnosis.findings + judgement.findings,
        revocation=judgement.status,
        revocation_source=judgement.source,
    )
