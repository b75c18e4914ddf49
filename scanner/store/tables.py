"""Arrow schemas of the output tables and the rows that fill them. Pure.

Timestamps are microseconds in UTC (Spark, DuckDB and pandas all read them without casts);
lists are list<string>; carried input columns are strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from scanner.model.columns import HOST_COLUMNS, VERDICT_COLUMNS
from scanner.model.types import TlsVersion

TS = pa.timestamp("us", tz="UTC")
STR_LIST = pa.list_(pa.string())


_HOST_FIELDS: list[pa.Field] = [
    pa.field("host", pa.string(), nullable=False),
    pa.field("host_unicode", pa.string(), nullable=False),  # the IDN for people (U-labels)
    pa.field("port", pa.int32()),
    pa.field("ip", pa.string()),
    pa.field("input_line", pa.int64(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("error_detail", pa.string()),
    pa.field("connected_ip", pa.string()),
    pa.field("protocol", pa.string()),
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
    pa.field("revoked", pa.bool_()),
    pa.field("revocation", pa.string()),
    pa.field("revocation_source", pa.string()),
    pa.field("findings", STR_LIST),
    pa.field("severity", pa.string()),
    # As each client sees it (--protocols, --trust-store): null where not measured.
    *(pa.field(v.value, pa.bool_()) for v in TlsVersion),
    pa.field("forward_secrecy_only", pa.bool_()),
    # The ClientHello prober (--protocols, issue 19): null where not measured or a probe failed.
    pa.field("ssl2", pa.bool_()),
    pa.field("ssl3", pa.bool_()),
    pa.field("cipher_classes", STR_LIST),
    pa.field("server_preference", pa.bool_()),
    pa.field("groups", STR_LIST),
    pa.field("pq_kex", pa.bool_()),
    pa.field("large_hello_ok", pa.bool_()),
    pa.field("nosni_leaf_sha256", pa.string()),
    pa.field("ocsp_stapled", pa.bool_()),
    pa.field("ocsp_stapled_status", pa.string()),
    pa.field("sct_tls_count", pa.int32()),
    pa.field("trusted_by", STR_LIST),
    # How browsers decide (issue 20): null where not measured (no leaf; no --ct-logs).
    pa.field("distrusted_by", STR_LIST),
    pa.field("sct_count", pa.int32()),
    pa.field("sct_valid", pa.int32()),
    pa.field("sct_operators", pa.int32()),
    pa.field("ct_compliant", pa.bool_()),
    pa.field("lifetime_days", pa.float64()),
    pa.field("grade", pa.string()),
    pa.field("grade_basis", pa.string()),
    # The date each host breaks (issue 21): null where not known or not asked (--ari, --caa).
    pa.field("lifetime_used", pa.float64()),
    pa.field("short_lived", pa.bool_()),
    pa.field("ari_start", TS),
    pa.field("ari_end", TS),
    pa.field("ari_explanation", pa.string()),
    pa.field("caa", STR_LIST),
    pa.field("caa_permits_issuer", pa.bool_()),
    pa.field("breaks_on", TS),
    pa.field("breaks_because", pa.string()),
    # (end of issue 21)
    pa.field("scanned_at", TS, nullable=False),
]
if tuple(f.name for f in _HOST_FIELDS) != HOST_COLUMNS:  # one list of names, two homes
    raise AssertionError("scanner.model.columns.HOST_COLUMNS differs from the hosts schema")

# The target row (and address) a findings or ciphers row is about.
_ROW_KEY = (
    pa.field("host", pa.string(), nullable=False),
    pa.field("port", pa.int32(), nullable=False),
    pa.field("ip", pa.string()),
    pa.field("input_line", pa.int64(), nullable=False),
    pa.field("connected_ip", pa.string()),
)

FINDINGS_SCHEMA = pa.schema(
    [
        *_ROW_KEY,
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

# --ciphers (issue 19): one row per target row, version and accepted suite.
CIPHERS_SCHEMA = pa.schema(
    [
        *_ROW_KEY,
        pa.field("version", pa.string(), nullable=False),
        pa.field("suite", pa.string(), nullable=False),
        pa.field("code", pa.uint16()),  # null for SSL 2.0 cipher kinds (24-bit)
        pa.field("kx", pa.string()),
        pa.field("auth", pa.string()),
        pa.field("enc", pa.string()),
        pa.field("bits", pa.int32()),
        pa.field("class", STR_LIST),
        pa.field("order", pa.int32()),
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
