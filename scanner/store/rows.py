"""The rows of the output tables, as plain dicts keyed by column (no pyarrow needed: the
offline check builds one without loading it). Pure: it serialises a result as assembled by the
run (grade included), judging nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, assert_never

from scanner.inputs.hostnames import unicode_name
from scanner.model.columns import HOST_COLUMNS, VERDICT_COLUMNS
from scanner.model.types import (
    DEFAULT_STORE,
    BrowserView,
    CertInfo,
    Revocation,
    ScanFailed,
    ScanOk,
    ScanResult,
    StoreVerdict,
    TlsVersion,
)
from scanner.store.hello_rows import hello_columns, probe_failures

# hosts.parquet `revoked` by `revocation`: null where the status is not known.
_REVOKED: dict[Revocation, bool] = {Revocation.GOOD: False, Revocation.REVOKED: True}


def host_row(
    result: ScanResult, extra_names: Sequence[str], scanned_at: dt.datetime
) -> dict[str, Any]:
    """One hosts.parquet row. Verdicts, findings and severity are null on error rows."""
    target = result.target
    row: dict[str, Any] = dict.fromkeys(HOST_COLUMNS)
    row.update(
        host=target.host,
        host_unicode=unicode_name(target.host),
        port=target.port,
        ip=target.ip,
        input_line=target.row,
        scanned_at=scanned_at,
    )
    match result:
        case ScanOk(handshake=hs, diagnosis=d):
            leaf, severity = d.leaf, d.severity
            row.update(
                status="ok",
                connected_ip=hs.address,
                protocol=hs.protocol,
                tls_version=hs.tls_version,
                cipher=hs.cipher,
                chain_length=len(hs.chain),
                days_remaining=d.days_remaining,
                findings=list(d.codes),
                severity=severity.value if severity else None,
            )
            if leaf is not None:
                row.update(
                    subject=leaf.subject,
                    issuer=leaf.issuer,
                    san_dns=list(leaf.san_dns),
                    san_ip=list(leaf.san_ip),
                    not_before=leaf.not_before,
                    not_after=leaf.not_after,
                    leaf_sha256=leaf.sha256,
                )
            v = d.verdicts
            for c in VERDICT_COLUMNS:
                row[c] = getattr(v, c)
            p = result.protocols
            if p is not None:
                row.update({t.value: p.get(t) for t in TlsVersion})
                row["forward_secrecy_only"] = p.forward_secrecy_only
            row.update(browser_cells(result))
            if result.hello is not None:
                row.update(hello_columns(result.hello))
                row["error_detail"] = probe_failures(result.hello)
            row.update(
                trusted_by=trusted_by(v.trusted, result.stores, result.browser),
                grade=result.grade.value,
                grade_basis=result.grade_basis.value,
                # revoked is known only when revocation is good or revoked; null when it is
                # unknown or not checked, and `revocation` says why (RFC 5280, RFC 6960).
                revoked=_REVOKED.get(d.revocation),
                revocation=d.revocation.value,
                revocation_source=d.revocation_source.value if d.revocation_source else None,
            )
            row.update(_outlook(result))
        case ScanFailed(error=e, detail=detail, address=address, protocol=protocol):
            row.update(
                status="error",
                error=e.value,
                error_detail=detail,
                connected_ip=address,
                protocol=protocol,
            )
        case _:
            assert_never(result)
    for name, value in zip(extra_names, target.extra, strict=False):
        row[name] = value
    return row


def _outlook(result: ScanOk) -> dict[str, Any]:
    """The columns of issue 21: the leaf's clock, ARI, CAA and the date the host breaks."""
    d, o = result.diagnosis, result.outlook
    cells: dict[str, Any] = {"lifetime_used": d.lifetime_used, "short_lived": d.short_lived}
    if o is not None:
        cells.update(
            ari_start=o.ari_start,
            ari_end=o.ari_end,
            ari_explanation=o.ari_explanation,
            caa=list(o.caa) if o.caa is not None else None,
            caa_permits_issuer=o.caa_permits_issuer,
            breaks_on=o.breaks_on,
            breaks_because=o.breaks_because,
        )
    return cells


def finding_rows(result: ScanResult) -> Iterator[dict[str, Any]]:
    if not isinstance(result, ScanOk):
        return
    t = result.target
    leaf = result.diagnosis.leaf
    for f in result.diagnosis.findings:
        yield {
            "host": t.host,
            "port": t.port,
            "ip": t.ip,
            "input_line": t.row,
            "connected_ip": result.handshake.address,
            "code": f.code,
            "severity": f.severity.value,
            "message": f.message,
            "remedy": f.remedy,
            "leaf_sha256": leaf.sha256 if leaf else None,
            "certificate_sha256": f.certificate_sha256,
            "certificate_subject": f.certificate_subject,
            "url": f.url,
        }


def trusted_by(
    default_trusted: bool, verdicts: Sequence[StoreVerdict], browser: BrowserView | None = None
) -> list[str]:
    """Store names that trust the chain: the default first, then in --trust-store order, then
    the root programs that trust it, in --root-program order."""
    programs = [p.name for p in browser.programs if p.trusted] if browser else []
    stores = [v.name for v in verdicts if v.trusted]
    return ([DEFAULT_STORE] if default_trusted else []) + stores + programs


def browser_cells(result: ScanOk) -> dict[str, Any]:
    """The columns of issue 20 (null without a built path)."""
    b = result.browser
    if b is None:
        return {}
    return {
        "distrusted_by": list(b.distrusted_by),
        "sct_count": b.sct_count,
        "sct_valid": b.sct_valid,
        "sct_operators": b.sct_operators,
        "ct_compliant": b.ct_compliant,
        "lifetime_days": b.lifetime_days,
    }


def certificate_row(info: CertInfo) -> dict[str, Any]:
    return {
        "sha256": info.sha256,
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "key_type": info.key_type,
        "key_size": info.key_size,
        "signature_algorithm": info.signature_algorithm,
        "san_dns": list(info.san_dns),
        "san_ip": list(info.san_ip),
        "is_ca": info.is_ca,
        "self_issued": info.self_issued,
        "parse_error": info.parse_error,
        "der": info.der,
    }


def result_certificates(result: ScanResult) -> tuple[CertInfo, ...]:
    return result.diagnosis.certificates if isinstance(result, ScanOk) else ()
