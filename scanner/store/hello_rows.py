"""The prober's columns of a hosts.parquet row and its ciphers.parquet rows (issue 19), as
plain dicts. Pure: it serialises a report as assembled by the run, judging nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from scanner.model.probed import HelloReport
from scanner.model.suites import SSL2_CIPHER_KINDS, SUITES, Protocol, Suite, WeakClass, group_name
from scanner.model.types import ScanOk


def hello_columns(report: HelloReport) -> dict[str, Any]:
    f = report.facts
    known = [c for v, c in f.classes.items() if f.versions.get(v) and c is not None]
    accepted = frozenset().union(*known) if known else None
    return {
        "ssl2": f.versions.get(Protocol.SSL2),
        "ssl3": f.versions.get(Protocol.SSL3),
        "cipher_classes": [w.value for w in WeakClass if w in accepted]
        if accepted is not None
        else None,
        "server_preference": f.server_preference,
        "groups": [group_name(g) for g in f.groups] if f.groups is not None else None,
        "pq_kex": f.pq_kex,
        "large_hello_ok": f.large_hello_ok,
        "nosni_leaf_sha256": hashlib.sha256(f.nosni_chain[0]).hexdigest()
        if f.nosni_chain
        else None,
        "ocsp_stapled": f.ocsp_response is not None if f.flight_read else None,
        "ocsp_stapled_status": report.stapled.value if report.stapled else None,
        "sct_tls_count": report.sct_count,
    }


def probe_failures(report: HelloReport) -> str | None:
    """For an answering host's error_detail: which probes failed, and why."""
    if not report.facts.failures:
        return None
    return ("probes failed: " + "; ".join(report.facts.failures))[:2000]


def _row(version: Protocol, code: int | None, s: Suite, order: int | None) -> dict[str, Any]:
    return {
        "version": version.column,
        "suite": s.name,
        "code": code,
        "kx": s.kx,
        "auth": s.auth,
        "enc": s.enc,
        "bits": s.bits,
        "class": [w.value for w in WeakClass if w in s.classes],
        "order": order,
    }


def cipher_rows(result: object) -> Iterator[dict[str, Any]]:
    """ciphers.parquet: one row per accepted suite per version (--ciphers), `order` the rank
    in the server's preference (null when it has none). SSL 2.0 cipher kinds are 24-bit:
    their `code` is null, `suite` names them."""
    if not isinstance(result, ScanOk) or result.hello is None or not result.hello.ciphers:
        return
    t, f = result.target, result.hello.facts
    key = {
        "host": t.host,
        "port": t.port,
        "ip": t.ip,
        "input_line": t.row,
        "connected_ip": result.handshake.address,
    }
    ranked = f.server_preference is True
    for v in Protocol:
        if v is Protocol.SSL2:
            for kind in f.ssl2_kinds:
                if kind in SSL2_CIPHER_KINDS:
                    yield key | _row(v, None, SSL2_CIPHER_KINDS[kind], None)
            continue
        for i, code in enumerate((f.suites or {}).get(v) or ()):
            if code in SUITES:
                yield key | _row(v, code, SUITES[code], i + 1 if ranked else None)
