"""A host as each client speaks to it (--protocols): the version probes of an answering host
(their findings are added when its result is assembled, scanner.run.assemble)."""

from __future__ import annotations

from scanner.model.types import Handshake, ProtocolSupport, Target
from scanner.net.capture import PerIpLimiter
from scanner.net.probe import ProbeContexts, probe
from scanner.x509 import protocols as px


async def probe_protocols(
    target: Target,
    hs: Handshake,
    *,
    contexts: ProbeContexts,
    deadline: float,
    per_ip: PerIpLimiter | None,
) -> ProtocolSupport:
    """The version probes of an answering host, at the address the main handshake reached."""
    return await probe(
        hs.address,
        target.port,
        target.sni,
        shown=px.FROM_OPENSSL.get(hs.tls_version),
        contexts=contexts,
        deadline=deadline,
        per_ip=per_ip,
    )
