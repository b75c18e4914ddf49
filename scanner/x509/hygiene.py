"""The served chain's hygiene: order, repeats, roots, certificates in no path to the leaf,
expired CA certificates beside the path, and CA certificates of the built path that expire
before the leaf. Pure: on the chain as sent (`paths.Chain`) and the built path (`paths.Path`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from scanner.model.catalogue import Code
from scanner.model.timefmt import utc_z as ts
from scanner.model.types import Finding
from scanner.x509 import certs
from scanner.x509 import findings as F
from scanner.x509.memo import Memo
from scanner.x509.paths import Chain, Path

# Served certificates examined: a hostile server may send hundreds, and relating them costs
# a signature check per pair. Beyond this many, the rest are left unjudged.
MAX_SERVED = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """One certificate as sent: its position (1 = the leaf, as people count) and facts."""

    position: int
    cert: x509.Certificate
    subject: str
    not_after: dt.datetime | None

    def named(self) -> str:
        after = ts(self.not_after) if self.not_after else "unreadable notAfter"
        return f"certificate {self.position} ({self.subject}, notAfter {after})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hygiene:
    """Positions (1-based, as sent) behind each finding; `findings` says them in words."""

    in_order: bool
    duplicates: tuple[int, ...]  # positions repeating an earlier certificate
    roots: tuple[int, ...]  # self-signed certificates after the leaf
    unrelated: tuple[int, ...]  # in no path to the leaf
    expired: tuple[int, ...]  # expired CA certificates off the built path
    expires_first: tuple[dt.datetime, ...]  # notAfter of path CA certs earlier than the leaf's
    findings: tuple[Finding, ...]


def _served(chain: Chain, memo: Memo) -> list[Served]:
    out = []
    for i, der in enumerate(chain.der[:MAX_SERVED]):
        cert = memo.parse(der)
        if cert is None:
            continue  # `unparseable_certificate` says it
        _, not_after, _ = certs.validity(cert)
        out.append(
            Served(
                position=i + 1,
                cert=cert,
                subject=certs.name_text(cert.subject),
                not_after=not_after,
            )
        )
    return out


def _ancestors(leaf: x509.Certificate, pool: Sequence[x509.Certificate], memo: Memo) -> list[int]:
    """Indexes into `pool` of the certificates reachable from the leaf by issuer steps: every
    certificate of some path to the leaf (cross-signs and alternative issuers included)."""
    reached: list[int] = []
    frontier = [leaf]
    while frontier:
        child = frontier.pop()
        for i, cand in enumerate(pool):
            if i in reached or cand is child:
                continue
            if memo.signed_by(child, cand):
                reached.append(i)
                if not memo.self_signed(cand):
                    frontier.append(cand)
    return reached


def check(chain: Chain, path: Path | None, as_of: dt.datetime, memo: Memo) -> Hygiene:
    """The served-chain findings. `path`: the path built from this chain (None when the
    leaf could not be parsed: then nothing can be related, and only repeats are judged).
    Findings come in this order: repeats, unrelated, roots, order, expired, expiring first."""
    served = _served(chain, memo)
    duplicates, found = _duplicates(chain, served)
    unique = [s for s in served if s.position not in duplicates]
    leaf = unique[0] if unique and unique[0].position == 1 else None
    rest = [s for s in unique if s.position != 1]

    if leaf is None or path is None:
        return Hygiene(
            in_order=True,
            duplicates=duplicates,
            roots=(),
            unrelated=(),
            expired=(),
            expires_first=(),
            findings=tuple(found),
        )

    # Related: reachable from the leaf through the served certificates and the built path's.
    pool = [s.cert for s in rest] + [
        c for c in path.certs[1:] if not any(c is s.cert for s in rest)
    ]
    reached = _ancestors(leaf.cert, pool, memo)
    related = [s for i, s in enumerate(rest) if i in reached]
    unrelated = tuple(s.position for i, s in enumerate(rest) if i not in reached)
    found += _unrelated(rest, unrelated)
    roots, root_findings = _roots(related, memo)
    found += root_findings
    in_order, order_findings = _order(leaf, related, path, memo)
    found += order_findings
    expired, expired_findings = _expired(rest, unrelated, path, as_of)
    found += expired_findings
    first, first_findings = _expires_first(leaf, path, as_of)
    found += first_findings
    return Hygiene(
        in_order=in_order,
        duplicates=duplicates,
        roots=roots,
        unrelated=unrelated,
        expired=expired,
        expires_first=first,
        findings=tuple(found),
    )


def _duplicates(chain: Chain, served: Sequence[Served]) -> tuple[tuple[int, ...], list[Finding]]:
    """Repeats: the same DER twice; later copies are judged no further."""
    first_at: dict[bytes, int] = {}
    duplicates: list[int] = []
    for i, der in enumerate(chain.der[:MAX_SERVED]):
        if der in first_at:
            duplicates.append(i + 1)
        else:
            first_at[der] = i + 1
    found: list[Finding] = []
    for pos in duplicates:
        original = first_at[chain.der[pos - 1]]
        s = next((s for s in served if s.position == original), None)
        what = s.named() if s else f"certificate {original}"
        found.append(
            F.make(
                Code.DUPLICATE_IN_CHAIN,
                f"certificate {pos} repeats {what}",
                certificate=s.cert if s else None,
            )
        )
    return tuple(duplicates), found


def _unrelated(rest: Sequence[Served], unrelated: tuple[int, ...]) -> list[Finding]:
    """Certificates in no path from the leaf to a root."""
    return [
        F.make(
            Code.UNRELATED_IN_CHAIN,
            f"{s.named()} is in no path from the leaf to a root (issued by "
            f"{certs.name_text(s.cert.issuer)})",
            f"Remove {s.subject} from the chain file.",
            certificate=s.cert,
        )
        for s in rest
        if s.position in unrelated
    ]


def _roots(related: Sequence[Served], memo: Memo) -> tuple[tuple[int, ...], list[Finding]]:
    """Roots of some path to the leaf (an unrelated root is `unrelated_in_chain` only)."""
    roots = tuple(s.position for s in related if memo.self_signed(s.cert))
    found = [
        F.make(
            Code.ROOT_IN_CHAIN,
            f"the server sends the root {s.named()}",
            f"Remove the root {s.subject} from the chain file.",
            certificate=s.cert,
        )
        for s in related
        if s.position in roots
    ]
    return roots, found


def _order(
    leaf: Served, related: Sequence[Served], path: Path, memo: Memo
) -> tuple[bool, list[Finding]]:
    """Order: each related certificate must certify one sent before it (its subject comes
    first). Alternative issuers sent side by side (a cross-sign beside a root) both pass."""
    sent_before: list[x509.Certificate] = [leaf.cert]
    misplaced: list[Served] = []
    for s in related:
        if not any(memo.signed_by(earlier, s.cert) for earlier in sent_before):
            misplaced.append(s)
        sent_before.append(s.cert)
    if not misplaced:
        return True, []
    sent = ", ".join(f"{s.position} {s.subject}" for s in [leaf, *related])
    wanted = [c for c in path.certs[1:] if any(c is s.cert for s in related)]
    wanted_text = ", ".join(
        [leaf.subject, *(certs.name_text(c.subject) for c in wanted)]
        + [s.subject for s in related if not any(s.cert is c for c in wanted)]
    )
    finding = F.make(
        Code.CHAIN_ORDER,
        f"{misplaced[0].named()} comes before the certificate it certifies; the chain "
        f"is sent as {sent}",
        f"Send the chain leaf first, each issuer after the certificate it signed: {wanted_text}.",
        certificate=misplaced[0].cert,
    )
    return False, [finding]


def _expired(
    rest: Sequence[Served], unrelated: tuple[int, ...], path: Path, as_of: dt.datetime
) -> tuple[tuple[int, ...], list[Finding]]:
    """Expired CA certificates the path does not use: clients that build through them fail.
    (On the path, a served one is `intermediate_expired`; `==` compares DER, so a served copy
    of the store's root is on the path too.)"""
    expired = tuple(
        s.position
        for s in rest
        if s.not_after is not None
        and as_of > s.not_after
        and not any(s.cert is c or s.cert == c for c in path.certs)
        and s.position not in unrelated
    )
    found = [
        F.make(
            Code.EXPIRED_IN_CHAIN,
            f"the server sends {s.named()}, expired {_ago(s.not_after, as_of)}; a "
            "valid path avoids it, but clients that build through it reject the chain",
            f"Remove {s.subject} from the chain file.",
            certificate=s.cert,
        )
        for s in rest
        if s.position in expired
    ]
    return expired, found


def _expires_first(
    leaf: Served, path: Path, as_of: dt.datetime
) -> tuple[tuple[dt.datetime, ...], list[Finding]]:
    """CA certificates of the built path that expire before the leaf (and have not yet)."""
    first: list[dt.datetime] = []
    found: list[Finding] = []
    if leaf.not_after is None:
        return (), found
    for i, cert in enumerate(path.certs[1:], start=2):
        _, not_after, _ = certs.validity(cert)
        if not_after is None or not_after >= leaf.not_after or as_of > not_after:
            continue
        first.append(not_after)
        name = certs.name_text(cert.subject)
        where = path.sources[i - 1].value
        found.append(
            F.make(
                Code.INTERMEDIATE_EXPIRES_FIRST,
                f"{name} (certificate {i} of the built path, from {where}) expires "
                f"{ts(not_after)}, before the leaf ({ts(leaf.not_after)}): the host breaks "
                "then",
                f"Before {ts(not_after)}, deploy the CA's current chain for this leaf "
                f"(one that does not go through {name}).",
                certificate=cert,
            )
        )
    return tuple(first), found


def _ago(when: dt.datetime | None, as_of: dt.datetime) -> str:
    assert when is not None
    days = (as_of - when).days
    return f"{ts(when)} ({days} day(s) before {ts(as_of)})"
