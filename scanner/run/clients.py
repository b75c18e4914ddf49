"""A host as each client speaks to it (--protocols, --ciphers): the ClientHello prober run on
the address the main handshake reached, its facts judged against the host's diagnosis (their
findings are added when its result is assembled, scanner.run.assemble)."""

from __future__ import annotations

import datetime as dt

from scanner.model.probed import HelloReport
from scanner.model.types import Diagnosis, Handshake, ProtocolSupport, Target
from scanner.net.capture import PerIpLimiter
from scanner.net.hello import probe as hello_probe
from scanner.net.hello.client import sct_list
from scanner.net.hello.codec import DecodeError
from scanner.net.hello.plan import PlanConfig
from scanner.x509 import hello as hx


async def probe_protocols(
    target: Target,
    hs: Handshake,
    diagnosis: Diagnosis,
    *,
    ciphers: bool,
    as_of: dt.datetime,
    deadline: float,
    per_ip: PerIpLimiter | None,
) -> tuple[ProtocolSupport, HelloReport]:
    """Every probe of the prober's plan, one after another until `deadline`, within
    --per-ip; the version columns and the report of what else it found."""
    facts, _sent = await hello_probe.run(
        hs.address,
        target.port,
        PlanConfig(sni=target.sni, ciphers=ciphers),
        deadline=deadline,
        per_ip=per_ip,
    )
    report = HelloReport(
        facts=facts,
        ciphers=ciphers,
        stapled=hx.stapled_status(facts.ocsp_response, diagnosis.path, as_of),
        must_staple=hx.must_staple(hs.chain[0] if hs.chain else None),
        sct_count=_sct_count(facts.sct_extension) if facts.flight_read else None,
    )
    return hx.support_of(facts), report


def _sct_count(extension: bytes | None) -> int | None:
    """SCTs in the ServerHello's signed_certificate_timestamp extension; 0 without one,
    None when it cannot be read."""
    if extension is None:
        return 0
    try:
        return len(sct_list(extension))
    except DecodeError:
        return None
