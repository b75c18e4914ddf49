"""Revocation judgement for the certificates of a built path: CRLs (RFC 5280 5, 6.3) and OCSP
responses (RFC 6960) handed in by the caller, judged at `as_of`. Pure: like diagnosis, it names
the URLs it still wants (`Judgement.wanted_*`) and the caller fetches them.

crl (parse and check one CRL), ocsp (request and check one response), judge (a host's path),
verdict (what one certificate's evidence says).
"""

from scanner.x509.revocation.crl import MAX_CRL_URLS, Crl, Scope, check_crl, crl_urls, parse_crl
from scanner.x509.revocation.judge import (
    NOT_CHECKED,
    SHORT_LIVED_UNTIL,
    Evidence,
    Judgement,
    apply,
    judge,
    pairs,
    short_lived,
)
from scanner.x509.revocation.ocsp import (
    MAX_OCSP_URLS,
    OCSP_CONTENT_TYPE,
    OCSP_LEEWAY,
    check_ocsp,
    ocsp_request,
    ocsp_urls,
)
from scanner.x509.revocation.verdict import Source, Status, Verdict

__all__ = [
    "MAX_CRL_URLS",
    "MAX_OCSP_URLS",
    "NOT_CHECKED",
    "OCSP_CONTENT_TYPE",
    "OCSP_LEEWAY",
    "SHORT_LIVED_UNTIL",
    "Crl",
    "Evidence",
    "Judgement",
    "Scope",
    "Source",
    "Status",
    "Verdict",
    "apply",
    "check_crl",
    "check_ocsp",
    "crl_urls",
    "judge",
    "ocsp_request",
    "ocsp_urls",
    "pairs",
    "parse_crl",
    "short_lived",
]
