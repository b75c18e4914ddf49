"""Offline diagnosis of a saved chain (`scanner check`): the diagnosis `scan` runs, on
certificates read from a file instead of a handshake. No network (no AIA fetching), no clock:
the caller passes as-of and the instant of the check. Revocation only from CRLs handed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import ChainFileError, HostError
from scanner.inputs.hostnames import normalise_host
from scanner.model.columns import HOST_COLUMNS
from scanner.model.timefmt import utc_z
from scanner.model.types import Diagnosis, Handshake, Target
from scanner.run.assemble import Answer, assemble
from scanner.store import rows
from scanner.x509 import diagnose as dx
from scanner.x509.browsers import judge as judge_browsers
from scanner.x509.certs import TrustStore
from scanner.x509.chainfile import load_chain
from scanner.x509.context import DiagnosisContext
from scanner.x509.ct.logs import LogList
from scanner.x509.stores import NamedStore
from scanner.x509.stores import judge as judge_stores

if TYPE_CHECKING:
    import pandas as pd

    from scanner.x509.programs.named import NamedProgram
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
    programs: Sequence[NamedProgram] = (),
    log_list: LogList | None = None,
) -> CheckReport:
    """Diagnose `chain` for `host`. Raises HostError for a host that is neither a DNS name nor
    an IP literal, ChainFileError for an empty chain, UsageError for a naive as-of."""
    if not chain:
        raise ChainFileError("no certificate to check")
    name, is_ip = normalise_host(host)
    ctx = DiagnosisContext(
        trust=trust,
        as_of=as_of,
        warn_days=warn_days,
        offline=True,
        programs=tuple(programs),
        log_list=log_list,
    )
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
    # Root programs, CT and lifetime, as scan judges them.
    browser, found = judge_browsers(chain, host=name, is_ip=is_ip, diagnosis=diagnosis, ctx=ctx)
    result = assemble(
        Answer(
            target=target,
            handshake=handshake,
            diagnosis=diagnosis,
            stores=verdicts,
            browser=browser,
            browser_findings=found,
        )
    )
    diagnosis = result.diagnosis
    row = rows.host_row(result, (), checked_at)
    row.update(dict.fromkeys(NETWORK_COLUMNS))
    return CheckReport(host=name, chain=tuple(chain), diagnosis=diagnosis, row=row)


# --- from Python: `scanner.check` --------------------------------------------------------------

MAX_CHAIN_FILE = 16 * 1024 * 1024


def _chain_bytes(chain: Path | str | bytes) -> tuple[bytes, str]:
    """The chain's bytes and how to name it in an error: bytes as given, or a file's (capped)."""
    if isinstance(chain, bytes | bytearray | memoryview):
        return bytes(chain), "chain"
    if not isinstance(chain, str | Path):
        raise ChainFileError(f"chain: expected a file path or PEM/DER bytes, not {chain!r}")
    try:
        with open(chain, "rb") as f:
            data = f.read(MAX_CHAIN_FILE + 1)  # never more than the cap
    except OSError as e:
        raise ChainFileError(f"cannot read {chain}: {e.strerror or e}") from None
    if len(data) > MAX_CHAIN_FILE:
        raise ChainFileError(f"{chain}: larger than {MAX_CHAIN_FILE // (1024 * 1024)} MiB")
    return data, str(chain)


def check_frame(
    chain: Path | str | bytes,
    *,
    host: str,
    as_of: dt.datetime | str | None = None,
    ca_bundle: Path | str | None = None,
    warn_days: int = 30,
    crl_files: Sequence[Path | str] = (),
    trust_stores: Mapping[str, Path | str] | None = None,
    root_programs: Mapping[str, Path | str] | None = None,
    ct_logs: Path | str | None = None,
) -> pd.DataFrame:
    """`scanner check` from Python: the chain (a PEM, DER or PKCS#7 file's path, or its bytes)
    diagnosed offline for `host`, as a one-row DataFrame with the columns and dtypes of
    `scanner.load(...).hosts` (those of a connection, NETWORK_COLUMNS, are missing values).

    The keywords are `scanner.scan`'s of the same names (a test holds them to its options),
    validated as there: `as_of` an aware datetime or ISO 8601 text (default now), `ca_bundle`
    a PEM trust store (default Mozilla's roots), `crl_files` the only revocation source
    (nothing is fetched), `trust_stores` {name: PEM path} judged too (`trusted_by`),
    `root_programs` {name: root_store.textproto or certdata.txt path} and `ct_logs` (a
    log_list.json path) as scan takes them. Raises a ScannerError saying what was wrong.

    Example: scanner.check("chain.pem", host="www.example.com").T
    """
    import pyarrow as pa

    from scanner.run.options import api_settings
    from scanner.store import tables
    from scanner.store.load import hosts_frame

    given: dict[str, object] = {"as_of": as_of, "ca_bundle": ca_bundle, "warn_days": warn_days}
    given |= {"crl_files": crl_files, "trust_stores": trust_stores}
    given |= {"root_programs": root_programs, "ct_logs": ct_logs}
    settings = api_settings(given)  # validated as scanner.scan's keywords are
    if not isinstance(host, str):
        raise HostError(f"host: expected a host name, not {host!r}")
    data, source = _chain_bytes(chain)
    report = check_files(
        data,
        source,
        host=host,
        as_of=settings["as_of"],
        checked_at=dt.datetime.now(dt.UTC),
        ca_bundle=settings["ca_bundle"],
        warn_days=settings["warn_days"],
        crl_files=settings["crl_files"],
        trust_stores=settings["trust_stores"],
        root_programs=settings["root_programs"],
        ct_logs=settings["ct_logs"],
    )
    table = pa.Table.from_pylist([report.row], schema=tables.hosts_schema(()))
    return hosts_frame(table)


def check_files(
    data: bytes,
    source: str,
    *,
    host: str,
    as_of: dt.datetime,
    checked_at: dt.datetime,
    ca_bundle: Path | None,
    warn_days: int,
    crl_files: Sequence[Path],
    trust_stores: Sequence[tuple[str, Path]],
    root_programs: Sequence[tuple[str, Path]] = (),
    ct_logs: Path | None = None,
) -> CheckReport:
    """`check` of the chain in `data` (named `source` in errors), with the trust stores and
    CRLs read from their files: what `scanner check` and `scanner.check` do once their options
    are validated."""
    from scanner.store.programs import load_judged_programs, load_log_list
    from scanner.store.trust import load_named, load_trust

    certificates = load_chain(data, source)
    trust = load_trust(ca_bundle)
    stores = load_named(trust_stores)
    programs = load_judged_programs(root_programs, trust, stores)
    crls: tuple[Crl, ...] = ()
    if crl_files:
        from scanner.store.crlfiles import load_crl_files

        crls = load_crl_files(crl_files)
    return check(
        certificates,
        host=host,
        trust=trust,
        as_of=as_of,
        checked_at=checked_at,
        warn_days=warn_days,
        stores=stores,
        crls=crls,
        programs=programs,
        log_list=load_log_list(ct_logs),
    )


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
    "check_files",
    "check_frame",
    "json_row",
    "load_chain",
]
