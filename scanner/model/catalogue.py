"""The catalogue of findings: stable code, severity, meaning and remedy, kept in one place.

Diagnosis builds findings only through `scanner.x509.findings.make`, so every code written to
disk is listed here; docs/reference/findings.md is generated from it (a test checks it is current).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scanner.model.types import Severity


class Code(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRING_SOON = "expiring_soon"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    NO_SAN = "no_san"
    SELF_SIGNED = "self_signed"
    UNTRUSTED_ROOT = "untrusted_root"
    ISSUER_NOT_FOUND = "issuer_not_found"
    INCOMPLETE_CHAIN = "incomplete_chain"
    INTERMEDIATE_EXPIRED = "intermediate_expired"
    WEAK_KEY = "weak_key"
    DSA_KEY = "dsa_key"
    WEAK_SIGNATURE = "weak_signature"
    NOT_TRUSTED = "not_trusted"
    UNPARSEABLE_CERTIFICATE = "unparseable_certificate"
    AIA_FETCH_FAILED = "aia_fetch_failed"
    # As each client sees it (issue 12): --protocols and --trust-store.
    LEGACY_PROTOCOL = "legacy_protocol"
    NO_MODERN_PROTOCOL = "no_modern_protocol"
    NO_TLS13 = "no_tls13"
    RSA_KEY_EXCHANGE = "rsa_key_exchange"
    NOT_TRUSTED_BY = "not_trusted_by"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    INCONSISTENT_BACKENDS = "inconsistent_backends"
    # The date each host breaks (issue 21): the served chain, renewal, ARI and CAA.
    CHAIN_ORDER = "chain_order"
    DUPLICATE_IN_CHAIN = "duplicate_in_chain"
    ROOT_IN_CHAIN = "root_in_chain"
    UNRELATED_IN_CHAIN = "unrelated_in_chain"
    EXPIRED_IN_CHAIN = "expired_in_chain"
    INTERMEDIATE_EXPIRES_FIRST = "intermediate_expires_first"
    RENEWAL_OVERDUE = "renewal_overdue"
    ARI_RENEW_NOW = "ari_renew_now"
    CAA_FORBIDS_CURRENT_CA = "caa_forbids_current_ca"
    # Every version, cipher and key exchange (issue 19): the ClientHello prober, --protocols.
    SSL2 = "ssl2"
    SSL3 = "ssl3"
    EXPORT_CIPHER = "export_cipher"
    NULL_CIPHER = "null_cipher"
    ANON_CIPHER = "anon_cipher"
    RC4_CIPHER = "rc4_cipher"
    DES_CIPHER = "des_cipher"
    TRIPLE_DES_CIPHER = "3des_cipher"
    NO_PQ_KEX = "no_pq_kex"
    LARGE_HELLO_INTOLERANT = "large_hello_intolerant"
    MUST_STAPLE_NOT_STAPLED = "must_staple_not_stapled"
    NO_SERVER_PREFERENCE = "no_server_preference"
    # Trust the way browsers decide it (issue 20): root programs, CT, lifetime rules.
    DISTRUSTED_BY_PROGRAM = "distrusted_by_program"
    CT_NONCOMPLIANT = "ct_noncompliant"
    INVALID_SCT = "invalid_sct"
    LIFETIME_OVER_LIMIT = "lifetime_over_limit"


@dataclass(frozen=True, slots=True)
class Spec:
    severity: Severity
    meaning: str  # one line, for the docs and the report
    remedy: str  # the generic remedy; findings may say it more precisely


CATALOGUE: dict[Code, Spec] = {
    Code.EXPIRED: Spec(
        Severity.CRITICAL,
        "The leaf certificate's notAfter is before the scan instant.",
        "Renew the certificate and deploy it (then automate renewal, e.g. ACME).",
    ),
    Code.NOT_YET_VALID: Spec(
        Severity.CRITICAL,
        "The leaf certificate's notBefore is after the scan instant.",
        "Check the clock of the server and of the scanning machine; if both are right, the "
        "certificate was deployed before its validity starts: deploy the previous one until then.",
    ),
    Code.EXPIRING_SOON: Spec(
        Severity.MEDIUM,
        "The leaf certificate expires within the warning window.",
        "Renew the certificate before it expires.",
    ),
    Code.HOSTNAME_MISMATCH: Spec(
        Severity.CRITICAL,
        "No subjectAltName of the leaf matches the host name (RFC 6125; the CN is ignored).",
        "Reissue the certificate with the host name in its subjectAltName.",
    ),
    Code.NO_SAN: Spec(
        Severity.CRITICAL,
        "The leaf has no subjectAltName; clients ignore the CN, so it matches no name.",
        "Reissue the certificate with the host name in its subjectAltName.",
    ),
    Code.SELF_SIGNED: Spec(
        Severity.CRITICAL,
        "The leaf certificate is its own issuer (self-signed).",
        "Replace it with a certificate from a publicly trusted CA (or your internal CA whose "
        "root your clients trust).",
    ),
    Code.UNTRUSTED_ROOT: Spec(
        Severity.CRITICAL,
        "The chain ends at a self-signed root that is not in the trust store.",
        "Use a certificate from a publicly trusted CA, or add the root to the clients' trust "
        "store (and to --ca-bundle).",
    ),
    Code.ISSUER_NOT_FOUND: Spec(
        Severity.CRITICAL,
        "The issuer of a certificate in the chain is neither sent, in the trust store, nor "
        "reachable through AIA.",
        "Install the full chain (leaf, then intermediates) on the server; if the CA is private, "
        "add its root to the trust store.",
    ),
    Code.INCOMPLETE_CHAIN: Spec(
        Severity.HIGH,
        "The server does not send an intermediate that the path needs; it was found through "
        "AIA, which many clients (curl, Java, Python, Firefox) do not fetch.",
        "Install the missing intermediate on the server, after the leaf.",
    ),
    Code.INTERMEDIATE_EXPIRED: Spec(
        Severity.CRITICAL,
        "An intermediate certificate the server sends is outside its validity period.",
        "Replace the intermediate with the CA's current one.",
    ),
    Code.WEAK_KEY: Spec(
        Severity.HIGH,
        "A certificate below the root has a key weaker than OpenSSL security level 2 allows "
        "(RSA/DSA < 2048 bits, EC < 224 bits).",
        "Reissue with an RSA key of at least 2048 bits or an ECDSA P-256 key.",
    ),
    Code.DSA_KEY: Spec(
        Severity.HIGH,
        "A certificate below the root has a DSA key: TLS 1.3, browsers and Python's default "
        "client do not accept DSA, and cryptography deprecates it (FIPS 186-5 withdrew it).",
        "Reissue with an RSA key of at least 2048 bits or an ECDSA P-256 key.",
    ),
    Code.WEAK_SIGNATURE: Spec(
        Severity.HIGH,
        "A certificate below the root is signed with MD5 or SHA-1.",
        "Reissue the certificate (and use a CA chain) signed with SHA-256 or better.",
    ),
    Code.NOT_TRUSTED: Spec(
        Severity.HIGH,
        "A strict client rejects the chain for a reason not covered by another finding.",
        "Read the message: it quotes the validator's reason.",
    ),
    Code.UNPARSEABLE_CERTIFICATE: Spec(
        Severity.HIGH,
        "A certificate the server sent cannot be parsed as X.509.",
        "Reissue the certificate with a standard-conforming CA.",
    ),
    Code.AIA_FETCH_FAILED: Spec(
        Severity.INFO,
        "A caIssuers URL needed to complete the chain could not be fetched.",
        "Check the URL in the certificate's Authority Information Access extension.",
    ),
    Code.LEGACY_PROTOCOL: Spec(
        Severity.MEDIUM,
        "The server accepts TLS 1.0 and/or TLS 1.1, deprecated by RFC 8996 (--protocols).",
        "Disable TLS 1.0 and 1.1 on the server; keep TLS 1.2 and 1.3.",
    ),
    Code.NO_MODERN_PROTOCOL: Spec(
        Severity.HIGH,
        "The server accepts neither TLS 1.2 nor TLS 1.3: current browsers and default .NET and "
        "Java clients refuse it (--protocols).",
        "Enable TLS 1.2 and TLS 1.3 on the server (upgrade its TLS library if it cannot).",
    ),
    Code.NO_TLS13: Spec(
        Severity.INFO,
        "The server does not accept TLS 1.3 (--protocols).",
        "Enable TLS 1.3 on the server.",
    ),
    Code.RSA_KEY_EXCHANGE: Spec(
        Severity.LOW,
        "The server accepts a static-RSA key exchange, which has no forward secrecy: whoever "
        "obtains the key later can decrypt recorded sessions (--protocols).",
        "Allow only ECDHE (and DHE) key exchange suites; TLS 1.3 has no others.",
    ),
    Code.NOT_TRUSTED_BY: Spec(
        Severity.MEDIUM,
        "The default store trusts the chain but a store named with --trust-store does not.",
        "Serve a chain that reaches a root in every store your clients use, or add the root "
        "to the store that lacks it.",
    ),
    Code.REVOKED: Spec(
        Severity.CRITICAL,
        "A certificate of the path is revoked by its CA (CRL or OCSP, RFC 5280, RFC 6960); "
        "clients refuse it.",
        "Replace the certificate now (with a new key if it was compromised) and deploy it.",
    ),
    Code.REVOCATION_UNKNOWN: Spec(
        Severity.INFO,
        "The revocation status of a certificate of the path could not be established: "
        "responder timeout, HTTP error, bad signature, stale or oversized CRL, or no pointer.",
        "Read the message: it names the certificate, the URL and why.",
    ),
    Code.INCONSISTENT_BACKENDS: Spec(
        Severity.HIGH,
        "The addresses of one name serve different leaf certificates (`--addresses all`).",
        "Deploy the same certificate on every backend.",
    ),
    Code.CHAIN_ORDER: Spec(
        Severity.LOW,
        "The served chain is not leaf-then-issuers: a certificate comes before the one it "
        "certifies (RFC 5246 7.4.2; RFC 8446 4.4.2 says each SHOULD certify the one before).",
        "Send the leaf first, then its issuer, then that issuer's issuer.",
    ),
    Code.DUPLICATE_IN_CHAIN: Spec(
        Severity.LOW,
        "The server sends the same certificate more than once.",
        "Remove the repeated certificate from the chain file.",
    ),
    Code.ROOT_IN_CHAIN: Spec(
        Severity.INFO,
        "The server sends a self-signed root: clients use their own copy, so it only adds "
        "bytes to every handshake.",
        "Remove the root from the chain file (keep leaf and intermediates).",
    ),
    Code.UNRELATED_IN_CHAIN: Spec(
        Severity.MEDIUM,
        "The server sends a certificate that is in no path from the leaf to a root.",
        "Remove the unrelated certificate from the chain file (it is usually a leftover of a "
        "previous certificate or CA).",
    ),
    Code.EXPIRED_IN_CHAIN: Spec(
        Severity.HIGH,
        "The server sends a CA certificate that has expired and is not on the built path: "
        "clients that build through it (older OpenSSL, GnuTLS, Java) reject the chain, as in "
        "the AddTrust outage of 2020.",
        "Remove the expired certificate from the chain file; send the CA's current one.",
    ),
    Code.INTERMEDIATE_EXPIRES_FIRST: Spec(
        Severity.MEDIUM,
        "A CA certificate of the built path expires before the leaf: the host breaks on that "
        "date, whatever the leaf's own date.",
        "Get the CA's current intermediate (or a chain that avoids the expiring certificate) "
        "and deploy it before that date.",
    ),
    Code.RENEWAL_OVERDUE: Spec(
        Severity.MEDIUM,
        "More than the renew-at fraction (default two thirds, as ACME clients renew) of the "
        "leaf's lifetime has passed and it is not yet expired: its renewal has likely stopped.",
        "Check the renewal job (ACME client logs, timer or cron) and renew now.",
    ),
    Code.ARI_RENEW_NOW: Spec(
        Severity.HIGH,
        "The issuing CA's ACME Renewal Information (RFC 9773) window has started: the CA asks "
        "for renewal now, usually ahead of a revocation.",
        "Renew the certificate now (an ARI-aware ACME client does it by itself).",
    ),
    Code.CAA_FORBIDS_CURRENT_CA: Spec(
        Severity.HIGH,
        "The name's CAA records (RFC 8659) do not allow the CA that issued the certificate in "
        "service, so the next renewal from that CA will fail.",
        "Add an `issue` (or, for wildcard names, `issuewild`) record for the CA, or change CA.",
    ),
    # Issue 19: what the ClientHello prober finds (--protocols). Remedies name nginx's
    # ssl_protocols/ssl_ciphers/ssl_prefer_server_ciphers and Apache mod_ssl's SSLProtocol/
    # SSLCipherSuite/SSLHonorCipherOrder.
    Code.SSL2: Spec(
        Severity.CRITICAL,
        "The server accepts SSL 2.0 (RFC 6176 prohibits it; DROWN, CVE-2016-0800) (--protocols).",
        "Disable SSL 2.0. nginx: `ssl_protocols TLSv1.2 TLSv1.3;`; Apache: "
        "`SSLProtocol -all +TLSv1.2 +TLSv1.3`.",
    ),
    Code.SSL3: Spec(
        Severity.HIGH,
        "The server accepts SSL 3.0 (RFC 7568 deprecates it; POODLE, CVE-2014-3566) (--protocols).",
        "Disable SSL 3.0. nginx: `ssl_protocols TLSv1.2 TLSv1.3;`; Apache: "
        "`SSLProtocol -all +TLSv1.2 +TLSv1.3`.",
    ),
    Code.EXPORT_CIPHER: Spec(
        Severity.CRITICAL,
        "The server accepts an export-grade (40/56-bit) cipher suite (FREAK, Logjam) "
        "(--protocols).",
        "Remove export suites. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL:!EXPORT:!RC4:!3DES:!DES;`; "
        "Apache: `SSLCipherSuite HIGH:!aNULL:!eNULL:!EXPORT:!RC4:!3DES:!DES`.",
    ),
    Code.NULL_CIPHER: Spec(
        Severity.CRITICAL,
        "The server accepts a cipher suite without encryption (NULL) (--protocols).",
        "Remove NULL suites. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL;`; Apache: "
        "`SSLCipherSuite HIGH:!aNULL:!eNULL`.",
    ),
    Code.ANON_CIPHER: Spec(
        Severity.CRITICAL,
        "The server accepts an anonymous cipher suite (no server authentication: any "
        "man in the middle can impersonate it) (--protocols).",
        "Remove anonymous suites. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL;`; Apache: "
        "`SSLCipherSuite HIGH:!aNULL:!eNULL`.",
    ),
    Code.RC4_CIPHER: Spec(
        Severity.HIGH,
        "The server accepts an RC4 cipher suite (RFC 7465 prohibits RC4) (--protocols).",
        "Remove RC4. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL:!RC4;`; Apache: "
        "`SSLCipherSuite HIGH:!aNULL:!eNULL:!RC4`.",
    ),
    Code.DES_CIPHER: Spec(
        Severity.HIGH,
        "The server accepts a single-DES cipher suite (56-bit key; RFC 5469) (--protocols).",
        "Remove DES. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL:!DES;`; Apache: "
        "`SSLCipherSuite HIGH:!aNULL:!eNULL:!DES`.",
    ),
    Code.TRIPLE_DES_CIPHER: Spec(
        Severity.MEDIUM,
        "The server accepts a 3DES cipher suite (64-bit block: SWEET32, CVE-2016-2183) "
        "(--protocols).",
        "Remove 3DES. nginx: `ssl_ciphers HIGH:!aNULL:!eNULL:!3DES;`; Apache: "
        "`SSLCipherSuite HIGH:!aNULL:!eNULL:!3DES`.",
    ),
    Code.NO_PQ_KEX: Spec(
        Severity.INFO,
        "The server does not select a post-quantum hybrid key exchange (X25519MLKEM768) when "
        "a browser offers one: recorded sessions are open to a future quantum computer "
        "(--protocols).",
        "Upgrade to a TLS library with ML-KEM (OpenSSL 3.5, BoringSSL, recent NSS) and enable "
        "the group. nginx: `ssl_ecdh_curve X25519MLKEM768:X25519:prime256v1;`; Apache: "
        "`SSLOpenSSLConfCmd Groups X25519MLKEM768:X25519:prime256v1`.",
    ),
    Code.LARGE_HELLO_INTOLERANT: Spec(
        Severity.HIGH,
        "A browser-sized post-quantum ClientHello (over several TCP segments) goes unanswered "
        "while the same hello, small, is answered: browsers that send post-quantum hellos "
        "cannot connect (--protocols).",
        "Fix or replace the server or middlebox (load balancer, firewall) that drops a "
        "ClientHello larger than one segment.",
    ),
    Code.MUST_STAPLE_NOT_STAPLED: Spec(
        Severity.HIGH,
        "The leaf carries the TLS feature extension status_request (must-staple, RFC 7633) "
        "and the server stapled no OCSP response: Firefox refuses the connection "
        "(--protocols).",
        "Enable stapling. nginx: `ssl_stapling on; ssl_stapling_verify on;`; Apache: "
        "`SSLUseStapling on` (with `SSLStaplingCache`).",
    ),
    Code.NO_SERVER_PREFERENCE: Spec(
        Severity.LOW,
        "The server accepts a weak cipher suite and picks by the client's order instead of "
        "its own, so a client that lists the weak suite first gets it (--protocols).",
        "Use the server's order. nginx: `ssl_prefer_server_ciphers on;`; Apache: "
        "`SSLHonorCipherOrder on`.",
    ),
    Code.DISTRUSTED_BY_PROGRAM: Spec(
        Severity.HIGH,
        "A root program given with --root-program distrusts the leaf through a constraint on "
        "its root (Chrome's sct_not_after_sec and other constraints, Mozilla's "
        "CKA_NSS_SERVER_DISTRUST_AFTER), though the root is still in the program: that "
        "browser refuses the certificate while bundle-based checks call it trusted.",
        "Reissue the certificate from another CA, one the program trusts without such a "
        "constraint.",
    ),
    Code.CT_NONCOMPLIANT: Spec(
        Severity.HIGH,
        "The leaf does not carry enough valid SCTs for Chrome's CT policy (--ct-logs): 2 for a "
        "certificate valid 180 days or less, else 3, from at least 2 log operators. Reported "
        "for paths ending at a root of the default store or of a CT-enforcing --root-program.",
        "Reissue the certificate from a CA that logs it to Certificate Transparency (every "
        "publicly trusted CA does), or serve SCTs by TLS extension or stapled OCSP.",
    ),
    Code.INVALID_SCT: Spec(
        Severity.MEDIUM,
        "An SCT names a log of the --ct-logs list but its signature does not verify over the "
        "certificate (RFC 6962 3.2).",
        "Ask the CA to reissue the certificate; an SCT that fails its signature was altered or "
        "belongs to another certificate.",
    ),
    Code.LIFETIME_OVER_LIMIT: Spec(
        Severity.HIGH,
        "The leaf is valid longer than the rule for its notBefore allows: the CA/Browser "
        "Forum maximum for publicly trusted certificates (398 days, 200 from 2026-03-15, 100 "
        "from 2027-03-15, 47 from 2029-03-15: ballot SC-081), or Apple's 825 days for any "
        "certificate issued from 2019-07-01, private CAs included.",
        "Reissue the certificate with a validity within the limit (and automate renewal).",
    ),
}


# Catalogued with their pure rules and unit tests (issue 21's foundation: served-chain hygiene,
# the renewal clock, ARI and CAA), not yet run by `scanner scan`. The session that wires one in
# removes it here (the lab test then asks for a scenario, the docs stop marking it).
NOT_YET_SCANNED: frozenset[Code] = frozenset()
