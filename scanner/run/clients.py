"""A host as each client speaks to it (--protocols): the version probes added to a host's
result with their findings."""

from __future__ import annotations

import dataclasses

from scanner.model.types import ProtocolSupport, ScanOk
from scanner.net.capture import PerIpLimiter
from scanner.net.probe import ProbeContexts, probe
from scanner.x509 import protocols as px
from scanner.x509.stores import with_findings


def with_protocols(result: ScanOk, support: ProtocolSupport) -> ScanOk:
    d = with_findings(result.diagnosis, px.protocol_findings(support))
    return dataclasses.replace(result, diagnosis=d, protocols=support)


async def probe_protocols(
    result: ScanOk, *, contexts: ProbeContexts, deadline: float, per_ip: PerIpLimiter | None
) -> ScanOk:
    """The version probes of an answering host, at the address the main handshake reached."""
    hs, t = result.handshake, result.target
    support = await probe(
        hs.address,
        t.port,
        t.sni,
        shown=px.FROM_OPENSSL.get(hs.tls_version),
        contexts=contexts,
        deadline=deadline,
        per_ip=per_ip,
    )
    return with_protocols(result, support)
