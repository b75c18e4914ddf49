"""Arrow schemas of the output tables and the rows that fill them. Pure.

Timestamps are microseconds in UTC (Spark, DuckDB and pandas all read them without casts);
lists are list<string>; carried input columns are strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, assert_never

import pyarrow as pa

from scanner.model.columns import HOST_COLUMNS, VERDICT_COLUMNS
from scanner.model.types import CertInfo, ScanFailed, ScanOk, ScanResult

TS = pa.timestamp("us", tz="UTC")
STR_LIST = pa.list_(pa.string())


_HOST_FIELDS: list[pa.Field] = [
    pa.field("host", pa.string(), nullable=False),
    pa.field("port", pa.int32()),
    pa.field("ip", pa.string()),
    pa.field("input_line", pa.int64(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("error_detail", pa.string()),
    pa.field("connected_ip", pa.string()),
    pa.field("tls_version", pa.string()),
    pa.field("cipher", pa.string()),
    pa.field("subject", pa.string()),
    pa.field("issuer", pa.string()),
    pa.field("san_dns", STR_LIST),
    pa.field("san_ip", STR_LIST),
    pa.field("not_before", TS),
    pa.field("not_after", TS),
    pa.field("days_remaining", pa.int32()),
    pa.field("chain_length", pa.int32()),
    pa.field("leaf_sha256", pa.string()),
    *(pa.field(c, pa.bool_()) for c in VERDICT_COLUMNS),
    pa.field("findings", STR_LIST),
    pa.field("severity", pa.string()),
    pa.field("scanned_at", TS, nullable=False),
]
if tuple(f.name for f in _HOST_FIELDS) != HOST_COLUMNS:  # one list of names, two homes
    raise AssertionError("scanner.model.columns.HOST_COLUMNS differs from the hosts schema")

FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("host", pa.string(), nullable=False),
        pa.field("port", pa.int32(), nullable=False),
        pa.field("ip", pa.string()),
        pa.field("input_line", pa.int64(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("remedy", pa.string(), nullable=False),
        pa.field("leaf_sha256", pa.string()),
        pa.field("certificate_sha256", pa.string()),
        pa.field("certificate_subject", pa.string()),
        pa.field("url", pa.string()),
    ]
)

CERTIFICATES_SCHEMA = pa.schema(
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("subject", pa.string()),
        pa.field("issuer", pa.string()),
        pa.field("serial", pa.string()),
        pa.field("not_before", TS),
        pa.field("not_after", TS),
        pa.field("key_type", pa.string()),
        pa.field("key_size", pa.int32()),
        pa.field("signature_algorithm", pa.string()),
        pa.field("san_dns", STR_LIST),
        pa.field("san_ip", STR_LIST),
        pa.field("is_ca", pa.bool_()),
        pa.field("self_issued", pa.bool_()),
        pa.field("parse_error", pa.string()),
        pa.field("der", pa.binary(), nullable=False),
    ]
)


def nullable_dtype(t: pa.DataType) -> Any:
    """The pandas nullable dtype for an Arrow integer or boolean type (a port stays an integer
    even when some rows have none), else None: `to_pandas(types_mapper=nullable_dtype)`."""
    import pandas as pd

    return {
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }.get(t)


def hosts_schema(extra_names: Sequence[str]) -> pa.Schema:
    return pa.schema(_HOST_FIELDS + [pa.field(n, pa.string()) for n in extra_names])


def host_row(
    result: ScanResult, extra_names: Sequence[str], scanned_at: dt.datetime
) -> dict[str, Any]:
    """One hosts.parquet row. Verdicts, findings and severity are null on error rows."""
    target = result.target
    row: dict[str, Any] = dict.fromkeys(HOST_COLUMNS)
    row.update(
        host=target.host,
        port=target.port,
        ip=target.ip,
        input_line=target.row,
        scanned_at=scanned_at,
    )
    match result:
        case ScanOk(handshake=hs, diagnosis=d):
            leaf = d.leaf
            row.update(
                status="ok",
                connected_ip=hs.address,
                tls_version=hs.tls_version,
                cipher=hs.cipher,
                chain_length=len(hs.chain),
                days_remaining=d.days_remaining,
                findings=list(d.codes),
                severity=d.severity.value if d.severity else None,
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
        case ScanFailed(error=e, detail=detail, address=address):
            row.update(status="error", error=e.value, error_detail=detail, connected_ip=address)
        case _:
            assert_never(result)
    for name, value in zip(extra_names, target.extra, strict=False):
        row[name] = value
    return row


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
            "code": f.code,
            "severity": f.severity.value,
            "message": f.message,
            "remedy": f.remedy,
            "leaf_sha256": leaf.sha256 if leaf else None,
            "certificate_sha256": f.certificate_sha256,
            "certificate_subject": f.certificate_subject,
            "url": f.url,
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
