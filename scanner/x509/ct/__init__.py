"""Certificate Transparency: SCTs from every source (embedded in the leaf, the TLS extension,
stapled OCSP), their signatures checked against a `LogList` read from Chrome's log_list.json
(v3 schema), and Chrome's CT policy as a pure function of the checked SCTs, the leaf's lifetime
and the logs' states. Time is an input (`as_of`), never read from the clock.

The code lives in `sct` (parsing, encoding, signature), `logs` (log_list.json) and `policy`
(checking SCTs, Chrome's policy, the host's summary); this package re-exports their public
names."""

from __future__ import annotations

from scanner.x509.ct.logs import (
    MAX_LOG_LIST_BYTES,
    Log,
    LogList,
    LogListError,
    LogState,
    read_log_list,
)
from scanner.x509.ct.policy import (
    SHORT_LIFETIME,
    CheckedSct,
    CtPolicyVerdict,
    CtSummary,
    SctStatus,
    check_scts,
    chrome_ct_policy,
    earliest_sct,
    summarize,
)
from scanner.x509.ct.sct import (
    ECDSA_ID,
    EPOCH,
    MAX_SCTS,
    MS,
    RSA_ID,
    SHA256_ID,
    EntryType,
    Sct,
    SctError,
    SctSource,
    embedded_scts,
    ocsp_scts,
    parse_sct,
    parse_sct_list,
    precert_entry,
    serialize_sct,
    serialize_sct_list,
    signature_valid,
    signed_data,
)

__all__ = [
    "CheckedSct",
    "CtPolicyVerdict",
    "CtSummary",
    "ECDSA_ID",
    "EPOCH",
    "EntryType",
    "Log",
    "LogList",
    "LogListError",
    "LogState",
    "MAX_LOG_LIST_BYTES",
    "MAX_SCTS",
    "MS",
    "RSA_ID",
    "SHA256_ID",
    "SHORT_LIFETIME",
    "Sct",
    "SctError",
    "SctSource",
    "SctStatus",
    "check_scts",
    "chrome_ct_policy",
    "earliest_sct",
    "embedded_scts",
    "ocsp_scts",
    "parse_sct",
    "parse_sct_list",
    "precert_entry",
    "read_log_list",
    "serialize_sct",
    "serialize_sct_list",
    "signature_valid",
    "signed_data",
    "summarize",
]
