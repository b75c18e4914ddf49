"""The scan is correct on any anyio backend: on trio the handshake goes through anyio's
TLSStream (asyncio's SSL transport is not there), resolution through dnspython's trio backend,
and every lab scenario must come out exactly as on asyncio."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import anyio
import pandas as pd
import pytest

from scanner.run.api import scan_async
from scanner.store.load import ScanTables
from scanner.testing.lab import Lab


def run_on(backend: str, lab: Lab, files: Any, fixed: dt.datetime) -> ScanTables:
    scan = partial(
        scan_async,
        lab.rows(),
        as_of=fixed,
        ca_bundle=files.ca,
        timeout=lab.timeout,
        concurrency=20,
        nameservers=[lab.dns_address],
        protocols=True,
        trust_stores=dict(lab.write_stores(files.ca.parent)),
        allow_private_fetch=True,  # the lab's AIA and CRL servers are on loopback
        addresses="all",  # the round-robin name on each address (the first differs by run)
    )
    return anyio.run(scan, backend=backend)


def outcome(tables: ScanTables) -> dict[Any, tuple[Any, ...]]:
    hosts = tables.hosts
    return {
        (r.host, r.port, r.connected_ip): (
            r.status,
            r.error,
            r.trusted,
            tuple(sorted(r.findings)) if isinstance(r.findings, list) else None,
            r.leaf_sha256,
            r.chain_length,
            r.grade,
            tuple(r.trusted_by) if isinstance(r.trusted_by, list) else None,
            tuple(
                None if pd.isna(v) else bool(v) for v in (r.tls1_0, r.tls1_1, r.tls1_2, r.tls1_3)
            ),
            r.protocol,
        )
        for r in hosts.itertuples(index=False)
    }


@pytest.fixture(scope="module")
def on_asyncio(lab: Lab, lab_files: Any, fixed: dt.datetime) -> ScanTables:
    return run_on("asyncio", lab, lab_files, fixed)


def test_trio_backend_gives_the_same_scan(
    lab: Lab, lab_files: Any, fixed: dt.datetime, on_asyncio: ScanTables
) -> None:
    on_trio = run_on("trio", lab, lab_files, fixed)
    expected = outcome(on_asyncio)
    assert outcome(on_trio) == expected
    assert len(expected) == len(lab.rows()) + 2  # the round-robin name: 3 addresses
    by_scenario = {
        s.name: (s.host, s.port, s.addresses[0] if s.addresses else s.ip or "127.0.0.1")
        for s in lab.scenarios
    }
    for s in ("dns", "unreachable", "refused", "timeout", "not_tls", "starttls_not_offered"):
        key = by_scenario[s]
        by_scenario[s] = next(k for k in expected if k[:2] == key[:2])
    assert expected[by_scenario["inconsistent_backends"]][3] == (
        "inconsistent_backends",
        "no_pq_kex",  # the ClientHello prober's (--protocols), on every lab server
    )
    assert expected[by_scenario["starttls_smtp"]][-1] == "smtp"
    assert expected[by_scenario["starttls_not_offered"]][1] == "starttls"
    # Spot checks that the comparison is about real results, on both backends.
    assert bool(expected[by_scenario["valid"]][2])
    assert expected[by_scenario["incomplete_chain"]][3] == ("incomplete_chain", "no_pq_kex")
    assert expected[by_scenario["resolved_by_dns"]][0] == "ok"
    assert expected[by_scenario["dns"]][1] == "dns"
    assert expected[by_scenario["timeout"]][1] == "timeout"
    assert expected[by_scenario["not_tls"]][1] == "tls"
    assert expected[by_scenario["tls1_0_only"]][6:9] == (
        "C",
        ("default", "java"),
        (True, False, False, False),
    )
    assert expected[by_scenario["one_store"]][7] == ("default",)
