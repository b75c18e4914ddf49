"""Offline diagnosis of a saved chain (`scanner check`): the diagnosis `scan` runs, on
certificates read from a file instead of a handshake. No network (no AIA fetching), no clock:
the caller passes as-of and the instant of the check. Revocation only from CRLs handed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanner.errors import ChainFileError, HostError
from scanner.inputs.hostnames import normalise_host
from scanner.model.columns import HOST_COLUMNS
from scanner.model.timefmt import utc_z
from scanner.model.types import Diagnosis, Handshake, Target
from scanner.run.assemble import Answer, assemble
from scanner.store import rows
from scanner.x509 import diagnose as dx
from scanner.x509.certs import TrustStore
from scanner.x509.chainfile import load_chain
from scanner.x509.context import DiagnosisContext
from scanner.x509.stores import NamedStore
from scanner.x509.stores import judge as judge_stores

if TYPE_CHECKING:
    from scanner.x509.revocation import Crl

# Columns that describe a connection; an offline check has none.
NETWORK_COLUMNS = ("port", "ip", "input_line", "connected_ip", "tls_version", "cipher")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    host: str
    chain: tuple[bytes, ...]
    diagnosis: Diagnosis
    row: dict[str, Any]  # keyed by the hosts.parquet columns


def check(
    chain: Sequence[bytes],
    *,
    host: str,
    trust: TrustStore,
    as_of: dt.datetime,
    checked_at: dt.datetime,
    warn_days: int = 30,
    stores: Sequence[NamedStore] = (),
    crls: Sequence[Crl] = (),
) -> CheckReport:
    """Diagnose `chain` for `host`. Raises HostError for a host that is neither a DNS name nor
    an IP literal, ChainFileError for an empty chain, UsageError for a naive as-of."""
    if not chain:
        raise ChainFileError("no certificate to check")
    name, is_ip = normalise_host(host)
    ctx = DiagnosisContext(trust=trust, as_of=as_of, warn_days=warn_days, offline=True)
    diagnosis = dx.diagnose(chain, host=name, is_ip=is_ip, ctx=ctx)
    if crls:  # the supplied CRLs are the only source (check never fetches); without them
        # nothing is revoked
        from scanner.x509 import revocation as rv

        evidence = rv.Evidence(files=crls, online=False)
        diagnosis = rv.apply(diagnosis, rv.judge(diagnosis.path, ctx=ctx, evidence=evidence))
    target = Target(row=0, host=name, port=0, ip=None, is_ip=is_ip)
    handshake = Handshake(chain=tuple(chain), tls_version="", cipher="", address="")
    # The named stores judge the chain as the default store did (no AIA fetching offline).
    verdicts = judge_stores(chain, host=name, is_ip=is_ip, stores=stores, ctx=ctx)
    result = assemble(
        Answer(target=target, handshake=handshake, diagnosis=diagnosis, stores=verdicts)
    )
    diagnosis = result.diagnosis
    row = rows.host_row(result, (), checked_at)
    row.update(dict.fromkeys(NETWORK_COLUMNS))
    return CheckReport(host=name, chain=tuple(chain), diagnosis=diagnosis, row=row)


def json_value(value: Any) -> Any:
    """A hosts.parquet value as JSON: timestamps in ISO 8601 UTC, tuples as lists."""
    if isinstance(value, dt.datetime):
        return utc_z(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json_value(row[k]) for k in HOST_COLUMNS}


__all__ = [
    "ChainFileError",
    "CheckReport",
    "HostError",
    "check",
    "json_row",
    "load_chain",
]
