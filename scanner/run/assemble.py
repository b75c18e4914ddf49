"""A host's result assembled once: its diagnosis (with the revocation verdict), the named
stores' verdicts and finding, the protocol probes and their findings, its name's backends
finding, and the grade computed from all of them. The x509 layer returns verdicts and findings;
only here do they become a `ScanOk`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from scanner.analysis.grade import grade_of
from scanner.model.probed import HelloReport
from scanner.model.types import (
    BrowserView,
    Diagnosis,
    Finding,
    Handshake,
    ProtocolSupport,
    Revocation,
    ScanOk,
    StoreVerdict,
    Target,
)
from scanner.x509 import ciphers as cx
from scanner.x509 import protocols as px
from scanner.x509.stores import store_findings

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


def assemble(answer: Answer, extra: Sequence[Finding] = ()) -> ScanOk:
    """The host's result: findings in the order diagnosis, stores, browsers (programs, CT,
    lifetime), probes, `extra` (the backends finding of its name); the grade of that whole
    diagnosis."""
    d, stores, support, hello = answer.diagnosis, answer.stores, answer.protocols, answer.hello
    if hello is not None:
        d = cx.stapled_revocation(d, hello)  # a stapled `revoked` is revocation evidence
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
    )
