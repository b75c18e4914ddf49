"""How browsers decide, beyond what a bundle says (issue 20): each --root-program judged like
a named trust store and then its constraints applied to the built path, the leaf's SCTs
checked against the --ct-logs list and Chrome's CT policy, and the dated lifetime limits.
Pure: the chain, the default store's diagnosis and the context in; the host's browser view
and its findings out (the run puts them on the host's result)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.model.catalogue import Code
from scanner.model.timefmt import utc_z
from scanner.model.types import DEFAULT_STORE, BrowserView, Diagnosis, Finding, ProgramVerdict
from scanner.x509 import ct, lifetime
from scanner.x509 import findings as F
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import chain_facts
from scanner.x509.stores import NamedStore
from scanner.x509.stores import judge as judge_stores

if TYPE_CHECKING:  # the programs' rules load with --root-program, not with every scan
    from scanner.x509.programs.check import ProgramDistrusted
    from scanner.x509.programs.named import NamedProgram


@dataclass(frozen=True, slots=True)
class CtFacts:
    checked: tuple[ct.CheckedSct, ...]
    summary: ct.CtSummary
    earliest: dt.datetime | None  # the leaf's date for Chrome's SCT constraints


def _parsed(path_der: Sequence[bytes], ctx: DiagnosisContext) -> list[x509.Certificate]:
    out = []
    for der in path_der:
        cert = ctx.memo.parse(der)
        if cert is None:
            break  # a built path is parseable; stop at anything else
        out.append(cert)
    return out


def ct_facts(
    path: Sequence[x509.Certificate],
    path_der: Sequence[bytes],
    ctx: DiagnosisContext,
    extra_scts: Sequence[ct.Sct] = (),
) -> CtFacts:
    """The SCTs of the path's leaf (embedded, then `extra_scts`: those the prober saw in the
    TLS extension or a stapled OCSP response), checked against the log list, remembered per
    path in the scan's memo."""
    logs = ctx.log_list
    key = (tuple(path_der), tuple(extra_scts), ctx.as_of, logs.sha256 if logs else None)
    facts: CtFacts = ctx.memo.ct.get(key, lambda: _ct_facts(path, ctx, extra_scts))
    return facts


def _ct_facts(
    path: Sequence[x509.Certificate], ctx: DiagnosisContext, extra_scts: Sequence[ct.Sct]
) -> CtFacts:
    leaf = path[0]
    try:
        embedded = ct.embedded_scts(leaf)
    except ct.SctError:
        embedded = ()  # an unreadable SCT list counts as none
    checked = ct.check_scts(
        (*embedded, *extra_scts),
        leaf=leaf,
        issuer=path[1] if len(path) > 1 else None,
        logs=ctx.log_list,
        as_of=ctx.as_of,
    )
    dates = _dates(leaf)
    # Unreadable dates: judged as a long-lived certificate (the policy's stricter count).
    span = dates[1] - dates[0] if dates else ct.SHORT_LIFETIME + dt.timedelta(days=1)
    summary = ct.summarize(checked, lifetime=span, have_log_list=ctx.log_list is not None)
    return CtFacts(checked, summary, ct.earliest_sct(checked))


def delivered_scts(tls_list: bytes | None, stapled: Sequence[ct.Sct] = ()) -> tuple[ct.Sct, ...]:
    """The SCTs a server delivered beside the certificate, for `judge`'s `extra_scts`: the
    signed_certificate_timestamp extension's SignedCertificateTimestampList (a malformed list
    counts as none) and those read from a verified stapled OCSP response (RFC 6962 3.3,
    `scanner.x509.hello.stapled_scts`)."""
    out: tuple[ct.Sct, ...] = ()
    if tls_list:
        try:
            out = ct.parse_sct_list(tls_list, ct.SctSource.TLS)
        except ct.SctError:
            out = ()
    return out + tuple(stapled)


def _dates(leaf: x509.Certificate) -> tuple[dt.datetime, dt.datetime] | None:
    """(notBefore, notAfter), or None when Python cannot represent one (year 0)."""
    try:
        return leaf.not_valid_before_utc, leaf.not_valid_after_utc
    except ValueError:
        return None


def _cutoff_at(v: ProgramDistrusted) -> dt.datetime | None:
    from scanner.x509.programs.check import Rule

    if v.rule not in (Rule.SCT_NOT_AFTER, Rule.SCT_ALL_AFTER, Rule.SERVER_DISTRUST_AFTER):
        return None
    return dt.datetime.fromisoformat(v.cutoff.replace("Z", "+00:00"))


def _program(
    np: NamedProgram,
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    ctx: DiagnosisContext,
    extra_scts: Sequence[ct.Sct],
) -> tuple[ProgramVerdict, ProgramDistrusted | None]:
    """The program's verdict: the named-store verdict with its anchors as the store, then
    its constraints on the path built to them."""
    from scanner.x509.programs.check import NotAnchored, ProgramDistrusted, check

    base = ProgramVerdict(
        name=np.name,
        kind=np.program.kind.value,
        trusted=False,
        anchored=False,
        requires_ct=np.requires_ct,
        reason=f"no certificate of its roots is known ({np.program.source} names them by hash)",
    )
    if np.trust is None:
        return base, None
    (store,) = judge_stores(
        chain_der, host=host, is_ip=is_ip, stores=(NamedStore(np.name, np.trust),), ctx=ctx
    )
    path_der = chain_facts(chain_der, ctx.with_trust(np.trust)).path_der
    path = _parsed(path_der, ctx)
    if not path:
        return dataclasses.replace(base, reason=store.reason), None
    earliest = ct_facts(path, path_der[: len(path)], ctx, extra_scts).earliest
    if _dates(path[0]) is None:  # no date to hold against a cutoff: the store's verdict
        return dataclasses.replace(base, reason=store.reason), None
    verdict = check(np.program, path, earliest_sct=earliest)
    if isinstance(verdict, ProgramDistrusted):
        return (
            ProgramVerdict(
                name=np.name,
                kind=base.kind,
                trusted=False,
                anchored=True,
                requires_ct=np.requires_ct,
                reason=f"distrusted: {verdict.message}",
                distrusted=True,
                rule=verdict.rule.value,
                cutoff=verdict.cutoff,
                cutoff_at=_cutoff_at(verdict),
                leaf_date=verdict.leaf_date,
            ),
            verdict,
        )
    anchored = not isinstance(verdict, NotAnchored)
    return (
        ProgramVerdict(
            name=np.name,
            kind=base.kind,
            trusted=store.trusted and anchored,
            anchored=anchored,
            requires_ct=np.requires_ct,
            reason=None if store.trusted and anchored else store.reason,
        ),
        None,
    )


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _distrust_finding(
    distrusted: Sequence[tuple[ProgramVerdict, ProgramDistrusted]],
    path: Sequence[x509.Certificate],
) -> Finding:
    """One finding per host, naming each program, its root, rule, cutoff and the leaf's date."""
    first = distrusted[0][1]
    root = next((c for c in path if _sha256(c) == first.root_sha256), None)
    why = "; ".join(f"{v.name} ({v.kind}): {d.message}" for v, d in distrusted)
    rules = ", ".join(f"{v.name} by {d.rule} (cutoff {d.cutoff})" for v, d in distrusted)
    return F.make(
        Code.DISTRUSTED_BY_PROGRAM,
        f"distrusted by {why}",
        f"Reissue the certificate from another CA: {rules} distrust(s) this root's leaves.",
        certificate=root,
    )


def _ct_findings(
    facts: CtFacts,
    ctx: DiagnosisContext,
    default_anchored: bool,
    programs: Sequence[ProgramVerdict],
) -> list[Finding]:
    s = facts.summary
    out: list[Finding] = []
    enforcing = [p.name for p in programs if p.anchored and p.requires_ct]
    where = ([DEFAULT_STORE] if ctx.log_list is not None and default_anchored else []) + enforcing
    if s.ct_compliant is False and where:
        out.append(
            F.make(
                Code.CT_NONCOMPLIANT,
                f"not compliant with Chrome's CT policy: {s.reason} ({s.sct_count} SCT(s) "
                f"found, {s.sct_valid} valid); the path ends at a root of "
                f"{', '.join(where)}",
            )
        )
    if s.invalid:
        source = ctx.log_list.source if ctx.log_list else "the log list"
        named = "; ".join(
            f"{c.log.description if c.log else 'unknown log'} "
            f"({c.log.operator if c.log else '?'}), {c.sct.source.value}, "
            f"dated {utc_z(c.sct.timestamp)}"
            for c in s.invalid
        )
        out.append(
            F.make(
                Code.INVALID_SCT,
                f"{len(s.invalid)} SCT(s) name a log of {source} and fail its signature: {named}",
            )
        )
    return out


def judge(
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    diagnosis: Diagnosis,
    ctx: DiagnosisContext,
    extra_scts: Sequence[ct.Sct] = (),
) -> tuple[BrowserView | None, tuple[Finding, ...]]:
    """The host's browser view and findings; (None, ()) without a built path (no parseable
    leaf). `extra_scts`: SCTs from the TLS extension and stapled OCSP, when the prober has
    them. Without root programs, remembered per path (a fleet serves few certificates)."""
    if ctx.programs:
        return _judge(
            chain_der, host=host, is_ip=is_ip, diagnosis=diagnosis, ctx=ctx, extra_scts=extra_scts
        )
    logs = ctx.log_list
    key = (
        tuple(diagnosis.path),
        tuple(extra_scts),
        ctx.as_of,
        logs.sha256 if logs else None,
        ctx.trust.sha256,
    )
    judged: tuple[BrowserView | None, tuple[Finding, ...]] = ctx.memo.browsers.get(
        key,
        lambda: _judge(
            chain_der, host=host, is_ip=is_ip, diagnosis=diagnosis, ctx=ctx, extra_scts=extra_scts
        ),
    )
    return judged


def _judge(
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    diagnosis: Diagnosis,
    ctx: DiagnosisContext,
    extra_scts: Sequence[ct.Sct],
) -> tuple[BrowserView | None, tuple[Finding, ...]]:
    path = _parsed(diagnosis.path, ctx)
    if not path:
        return None, ()
    leaf = path[0]
    facts = ct_facts(path, diagnosis.path[: len(path)], ctx, extra_scts)
    judged = [
        _program(np, chain_der, host=host, is_ip=is_ip, ctx=ctx, extra_scts=extra_scts)
        for np in ctx.programs
    ]
    programs = tuple(v for v, _ in judged)
    distrusted = [(v, why) for v, why in judged if why is not None]
    found: list[Finding] = [_distrust_finding(distrusted, path)] if distrusted else []
    default_anchored = ctx.memo.in_store(ctx.trust, path[-1])
    found += _ct_findings(facts, ctx, default_anchored, programs)
    dates = _dates(leaf)
    public = default_anchored or any(p.anchored for p in programs)
    over = lifetime.judge(*dates, publicly_trusted=public) if dates else ()
    if over:  # one finding, each rule the leaf breaks in it
        found.append(F.make(Code.LIFETIME_OVER_LIMIT, "; ".join(o.message for o in over)))
    s, measured = facts.summary, ctx.log_list is not None
    view = BrowserView(
        programs=programs,
        sct_count=s.sct_count,
        sct_valid=s.sct_valid if measured else None,
        sct_operators=s.sct_operators if measured else None,
        ct_compliant=s.ct_compliant,
        lifetime_days=lifetime.lifetime_days(*dates) if dates else None,
    )
    return view, tuple(found)
