"""A host's result assembled once: its diagnosis (with the revocation verdict), the named
stores' verdicts and finding, the protocol probes and their findings, its name's backends
finding, and the grade computed from all of them. The x509 layer returns verdicts and findings;
only here do they become a `ScanOk`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scanner.analysis import forecast
from scanner.analysis.grade import grade_of
from scanner.model.catalogue import Code
from scanner.model.probed import HelloReport
from scanner.model.types import (
    BrowserView,
    Diagnosis,
    Finding,
    Handshake,
    Outlook,
    ProtocolSupport,
    Revocation,
    ScanOk,
    StoreVerdict,
    Target,
)
from scanner.x509 import ciphers as cx
from scanner.x509 import protocols as px
from scanner.x509.stores import store_findings

if TYPE_CHECKING:  # (the network steps load anyio: `scanner check` needs none of it)
    from scanner.run.outlook import Ahead

REVOKED_FOR_EVERY_STORE = "a certificate of the path is revoked"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What the run learnt about one answering host, before assembly."""

    target: Target
    handshake: Handshake
    diagnosis: Diagnosis  # the default store's, revocation applied
    stores: tuple[StoreVerdict, ...] = ()  # --trust-store verdicts, in option order
    protocols: ProtocolSupport | None = None  # --protocols
    hello: HelloReport | None = None  # --protocols: the prober's report
    # CT, lifetime and --root-program verdicts, with their findings (scanner.x509.browsers).
    browser: BrowserView | None = None
    browser_findings: tuple[Finding, ...] = ()
    ahead: Ahead | None = None  # --ari, --caa


def assemble(answer: Answer, extra: Sequence[Finding] = ()) -> ScanOk:
    """The host's result: findings in the order diagnosis, stores, browsers (programs, CT,
    lifetime), probes, ARI and CAA, `extra` (the backends finding of its name); the grade of
    that whole diagnosis."""
    d, stores, support, hello = answer.diagnosis, answer.stores, answer.protocols, answer.hello
    if hello is not None:
        d = cx.stapled_revocation(d, hello)  # a stapled `revoked` is revocation evidence
    d = _moot(d)
    added: list[Finding] = []
    if stores:
        added += store_findings(d.verdicts.trusted, stores)
        if d.revocation is Revocation.REVOKED:
            # Revoked is revoked whichever root a client trusts: no named store trusts it.
            stores = tuple(
                dataclasses.replace(v, trusted=False, reason=REVOKED_FOR_EVERY_STORE)
                for v in stores
            )
    browser = answer.browser
    added += answer.browser_findings
    if browser is not None and d.revocation is Revocation.REVOKED:
        # Revoked is revoked whichever browser: no root program trusts it either.
        browser = dataclasses.replace(
            browser,
            programs=tuple(
                dataclasses.replace(p, trusted=False, reason=p.reason or REVOKED_FOR_EVERY_STORE)
                for p in browser.programs
            ),
        )
    if support is not None:
        added += px.protocol_findings(support)
    ahead = answer.ahead
    if ahead is not None:
        added += ahead.findings
    if hello is not None:
        added += cx.hello_findings(hello)
    added += extra
    if added:
        d = dataclasses.replace(d, findings=d.findings + tuple(added))
    grade, basis = grade_of(d, support, hello)
    return ScanOk(
        target=answer.target,
        handshake=answer.handshake,
        diagnosis=d,
        protocols=support,
        stores=stores,
        hello=hello,
        browser=browser,
        grade=grade,
        grade_basis=basis,
        outlook=outlook(d, ahead.outlook if ahead else Outlook()),
    )


def _moot(d: Diagnosis) -> Diagnosis:
    """A short-lived leaf needs no revocation pointer (Baseline Requirements 7.1.2.11.2): the
    leaf's `revocation_unknown`, found after diagnosis, says nothing (its `revocation` column
    stays as found)."""
    if not d.short_lived or d.leaf is None:
        return d
    leaf = d.leaf.sha256
    kept = tuple(
        f
        for f in d.findings
        if not (f.code == Code.REVOCATION_UNKNOWN and f.certificate_sha256 == leaf)
    )
    return d if len(kept) == len(d.findings) else dataclasses.replace(d, findings=kept)


def outlook(d: Diagnosis, seen: Outlook, distrust_on: dt.datetime | None = None) -> Outlook:
    """`seen` (ARI and CAA) with the date the host breaks with nothing changed: the one place
    the causes of `forecast.HostDates` are gathered (`distrust_on`: see docs/guide/renewal.md).
    Null for a host not trusted now: it has broken already."""
    if not d.verdicts.trusted or d.leaf is None:
        return seen
    first = _breaks(d.leaf.not_after, tuple(d.path_not_afters), distrust_on, seen.ari_end)
    if first is None:
        return seen
    if seen == _NOTHING_SEEN:  # the common host (no --ari, no --caa): one value per date
        return _seen_breaking(first.on, first.because.value)
    return dataclasses.replace(seen, breaks_on=first.on, breaks_because=first.because.value)


_NOTHING_SEEN = Outlook()


@functools.lru_cache(maxsize=1024)  # a fleet's hosts share few leaves and paths
def _breaks(
    leaf_not_after: dt.datetime | None,
    path_not_afters: tuple[dt.datetime, ...],
    distrust_on: dt.datetime | None,
    ari_end: dt.datetime | None,
) -> forecast.Break | None:
    return forecast.breaks(
        forecast.HostDates(
            leaf_not_after=leaf_not_after,
            path_not_afters=path_not_afters,
            distrust_on=distrust_on,
            ari_end=ari_end,
        )
    )


@functools.lru_cache(maxsize=1024)
def _seen_breaking(on: dt.datetime, because: str) -> Outlook:
    return Outlook(breaks_on=on, breaks_because=because)
