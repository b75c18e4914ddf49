"""Several trust stores (`--trust-store NAME=PEM`): each named store's verdict on a host's
chain, by the same diagnosis as the default store, and `not_trusted_by` when the default trusts
a chain that a named store does not. Pure: chains, stores and the context in; verdicts and
findings out (the run puts them on the host's result)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scanner.model.catalogue import Code
from scanner.model.types import DEFAULT_STORE as DEFAULT
from scanner.model.types import Finding, StoreVerdict
from scanner.x509 import certs, paths
from scanner.x509 import findings as F
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose


@dataclass(frozen=True, slots=True)
class NamedStore:
    name: str
    trust: certs.TrustStore


def _why_not(
    chain_der: Sequence[bytes],
    store: NamedStore,
    ctx: DiagnosisContext,
    findings: Sequence[Finding],
) -> str:
    """Why `store` rejects the chain: the root it lacks and what the path reached, else the
    finding diagnosis gave with that store."""
    chain = paths.parse_chain(chain_der, ctx.memo)
    if chain.leaf is None:
        return "the leaf cannot be parsed"
    path = paths.build_path(chain, store.trust, ctx.fetched, ctx.memo)
    last = certs.name_text(path.certs[-1].subject)
    if path.end is paths.End.UNTRUSTED_ROOT or path.end is paths.End.SELF_SIGNED_LEAF:
        return f"root absent: the path reached {last}, which is not in {store.name}"
    if path.end is paths.End.ISSUER_NOT_FOUND and path.stuck_at is not None:
        issuer = certs.name_text(path.stuck_at.issuer)
        return f"root absent: the path reached {last}, whose issuer {issuer} is not in {store.name}"
    if path.end is paths.End.TOO_LONG:
        return f"no path to a root of {store.name} within {paths.MAX_DEPTH} certificates"
    # Anchored, yet rejected: the verifier's reason (a constraint of that store's root...).
    worst = max(findings, key=lambda f: f.severity.rank, default=None)
    return f"{worst.code}: {worst.message}" if worst else f"{store.name} rejects the chain"


def judge(
    chain_der: Sequence[bytes],
    *,
    host: str,
    is_ip: bool,
    stores: Sequence[NamedStore],
    ctx: DiagnosisContext,
) -> tuple[StoreVerdict, ...]:
    """Each store's verdict, in the order given: the `trusted` verdict diagnosis gives with that
    store in place of `ctx`'s trust store, using the AIA answers fetched for the default store
    (no fetching of its own)."""
    out = []
    for store in stores:
        judged = ctx.with_trust(store.trust)
        d = diagnose(chain_der, host=host, is_ip=is_ip, ctx=judged)
        trusted = d.verdicts.trusted
        reason = None if trusted else _why_not(chain_der, store, ctx, d.findings)
        out.append(StoreVerdict(name=store.name, trusted=trusted, reason=reason))
    return tuple(out)


def store_findings(default_trusted: bool, verdicts: Sequence[StoreVerdict]) -> tuple[Finding, ...]:
    """`not_trusted_by` once per host, naming every store that rejects what the default
    trusts, and why."""
    if not default_trusted:
        return ()  # the default store's own findings already say why
    rejecting = [v for v in verdicts if not v.trusted]
    if not rejecting:
        return ()
    names = ", ".join(v.name for v in rejecting)
    why = "; ".join(f"{v.name}: {v.reason}" for v in rejecting)
    return (
        F.make(
            Code.NOT_TRUSTED_BY,
            f"trusted by the default store but not by {names} ({why})",
            f"Serve a chain that reaches a root in every store your clients use ({DEFAULT}, "
            f"{names}), or add the root to {names}.",
        ),
    )
