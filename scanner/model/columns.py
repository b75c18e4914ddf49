"""The column names of hosts.parquet, in order, for code that must not load pyarrow (the
analysis, the reports, the CLI). scanner.store.tables defines their types and checks that its
schema has exactly these names."""

from __future__ import annotations

VERDICT_COLUMNS = (
    "trusted",
    "expired",
    "not_yet_valid",
    "expiring_soon",
    "hostname_mismatch",
    "self_signed",
    "untrusted_root",
    "incomplete_chain",
)
# Verdicts reported as "problems": every verdict column but `trusted` (plus not trusted).
PROBLEM_VERDICTS = tuple(c for c in VERDICT_COLUMNS if c != "trusted")

# The ClientHello prober's hosts columns (--protocols, issue 19).
HELLO_COLUMNS = (
    "ssl2",
    "ssl3",
    "cipher_classes",
    "server_preference",
    "groups",
    "pq_kex",
    "large_hello_ok",
    "nosni_leaf_sha256",
    "ocsp_stapled",
    "ocsp_stapled_status",
    "sct_tls_count",
)

HOST_COLUMNS = (
    "host",
    "host_unicode",
    "port",
    "ip",
    "input_line",
    "status",
    "error",
    "error_detail",
    "connected_ip",
    "protocol",
    "tls_version",
    "cipher",
    "subject",
    "issuer",
    "san_dns",
    "san_ip",
    "not_before",
    "not_after",
    "days_remaining",
    "chain_length",
    "leaf_sha256",
    *VERDICT_COLUMNS,
    "revoked",
    "revocation",
    "revocation_source",
    "findings",
    "severity",
    # As each client sees it (--protocols, --trust-store).
    "tls1_0",
    "tls1_1",
    "tls1_2",
    "tls1_3",
    "forward_secrecy_only",
    *HELLO_COLUMNS,  # the ClientHello prober (--protocols, issue 19)
    "trusted_by",
    # How browsers decide (issue 20): --root-program, CT (--ct-logs), lifetime rules.
    "distrusted_by",
    "sct_count",
    "sct_valid",
    "sct_operators",
    "ct_compliant",
    "lifetime_days",
    "grade",
    "grade_basis",
    # The date each host breaks (issue 21).
    "lifetime_used",
    "short_lived",
    "ari_start",
    "ari_end",
    "ari_explanation",
    "caa",
    "caa_permits_issuer",
    "breaks_on",
    "breaks_because",
    # (end of issue 21)
    "scanned_at",
)
