"""x509-limbo (../shared/corpora/x509-limbo, 208 path-validation cases with expected results)
through the diagnosis `scan` and `check` use: the `trusted` verdict against
`expected_result`. Every case runs; each disagreement is explained below, and the test fails
when one appears or disappears, so the agreement figure in the docs (guide/conformance.md)
stays true."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scanner.run.check import HostError, check, load_chain
from scanner.x509 import certs

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "x509-limbo" / "limbo.json"
FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # cases without a validation time
NO_NAME = "peer-name.invalid"  # client cases and the one server case without a peer name

AGREEMENT = 165  # of 208
SERVER_AGREEMENT = 160  # of the 197 server cases with a DNS or IP peer name
PLAIN_AGREEMENT = 136  # of the 156 of those that list no optional feature

# Why the verdict differs from the expected result, case by case.
CRL = "revocation is not checked (CRLs are ignored; see 'What it cannot tell you')"
DEPTH = "the case limits max_chain_depth; the scanner always allows 8 certificates"
CLIENT = (
    "a client certificate (email SANs) or no peer name: the scanner judges a server name, "
    "which the leaf does not carry, so hostname_mismatch"
)
CN = (
    "CA/B BR 7.1.4.3 (the CN must repeat a SAN): the scanner, like TLS clients, never reads "
    "the CN (RFC 6125)"
)
KEY_ID = "a missing or malformed AKI/SKI: cryptography's verifier does not require them"
EKU = "pedantic CA/B EKU rule (anyEKU, missing EKU, EKU on a root); cryptography accepts"
NON_CRITICAL = "a non-critical nameConstraints/policyConstraints; cryptography's verifier accepts"
PSL = "a wildcard over a public suffix: the scanner has no public suffix list"
KEYS = (
    "CA/B subscriber key rule (RSA modulus a multiple of 8) is stricter than OpenSSL "
    "security level 2, which the scanner applies (a DSA key is its own finding, dsa_key)"
)
SERIAL = "serial number zero: parsed (with a deprecation warning) and accepted by cryptography"
STRICT = (
    "cryptography's verifier rejects a chain the case accepts (the rejection is quoted in "
    "not_trusted)"
)

EXPLAINED: dict[str, str] = {
    "crl::revoked-certificate-with-crl": CRL,
    "crl::crlnumber-missing": CRL,
    "crl::crlnumber-critical": CRL,
    "crl::issuer-missing-crlsign": CRL,
    "crl::issuer-no-keyusage-extension": STRICT + ": the root has no keyUsage",
    "pathlen::validation-ignores-pathlen-in-leaf": STRICT + ": cA asserted in the EE",
    "pathlen::self-issued-certs-pathlen": STRICT + ": it does not build this self-issued path",
    "pathlen::max-chain-depth-0-exhausted": DEPTH,
    "pathlen::max-chain-depth-1-exhausted": DEPTH,
    "rfc5280::aki::intermediate-missing-aki": KEY_ID,
    "rfc5280::aki::cross-signed-root-missing-aki": KEY_ID,
    "rfc5280::nc::permitted-dns-match-noncritical": NON_CRITICAL,
    "rfc5280::nc::permitted-dn-match": CLIENT,
    "rfc5280::nc::nc-permits-email-exact": CLIENT,
    "rfc5280::nc::nc-permits-email-domain": CLIENT,
    "rfc5280::nc::nc-permits-email-literal-asterisk-exact-match": CLIENT,
    "rfc5280::nc::nc-permits-email-literal-double-asterisk": CLIENT,
    "rfc5280::nc::nc-permits-email-literal-mid-asterisk": CLIENT,
    "rfc5280::pc::ica-noncritical-pc": NON_CRITICAL,
    "rfc5280::serial::zero": SERIAL,
    "rfc5280::ski::root-missing-ski": KEY_ID,
    "rfc5280::ski::intermediate-missing-ski": KEY_ID,
    "rfc5280::ca-as-leaf": STRICT + ": cA asserted in the EE",
    "webpki::aki::root-with-aki-authoritycertissuer": KEY_ID,
    "webpki::aki::root-with-aki-authoritycertserialnumber": KEY_ID,
    "webpki::aki::root-with-aki-all-fields": KEY_ID,
    "webpki::aki::root-with-aki-ski-mismatch": KEY_ID,
    "webpki::cn::ipv4-hex-mismatch": CN,
    "webpki::cn::ipv4-leading-zeros-mismatch": CN,
    "webpki::cn::ipv6-uppercase-mismatch": CN,
    "webpki::cn::ipv6-uncompressed-mismatch": CN,
    "webpki::cn::ipv6-non-rfc5952-mismatch": CN,
    "webpki::cn::not-in-san": CN,
    "webpki::cn::case-mismatch": CN,
    # Their peer names are LDH A-labels that IDNA 2008 disallows (`xn--n3h.com`): a DNS name
    # all the same, scanned as written; the certificate is right for it but for the CN.
    "webpki::cn::punycode-not-in-san": CN,
    "webpki::cn::utf8-vs-punycode-mismatch": CN,
    "webpki::eku::ee-anyeku": EKU,
    "webpki::eku::ee-without-eku": EKU,
    "webpki::eku::root-has-eku": EKU,
    "webpki::san::public-suffix-multi-label-wildcard-san": PSL,
    "webpki::san::public-suffix-private-namespace-wildcard-san": PSL,
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": KEYS,
    "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf": KEYS,
}

# Peer names the input parser refuses (IDNA 2008 forbids the code point, or a hyphen rule):
# `scan` reports such a row as invalid_input, so never trusted. All expect FAILURE.
REFUSED_NAMES = {
    "webpki::san::wildcard-embedded-ulabel-san",
    "webpki::san::unicode-emoji-san",
}


@cache
def corpus() -> tuple[dict[str, Any], ...]:
    if not CORPUS.is_file():
        pytest.fail(
            f"the x509-limbo corpus is not at {CORPUS}: the tests expect the shared/ folder "
            "beside the checkout (../shared/corpora/x509-limbo), as CI lays it out",
            pytrace=False,
        )
    with open(CORPUS, encoding="utf-8") as f:
        return tuple(json.load(f)["testcases"])


def peer_name(case: dict[str, Any]) -> str:
    name = case["expected_peer_name"]
    if case["validation_kind"] != "SERVER" or not name:
        return NO_NAME
    return str(name["value"])


def verdict(case: dict[str, Any]) -> str:
    """SUCCESS when the diagnosis calls the chain trusted, as limbo spells it."""
    trust = certs.load_trust_store("".join(case["trusted_certs"]).encode(), case["id"])
    pem = case["peer_certificate"] + "".join(case["untrusted_intermediates"])
    when = case["validation_time"]
    as_of = dt.datetime.fromisoformat(when) if when else FIXED
    try:
        report = check(
            load_chain(pem.encode(), case["id"]),
            host=peer_name(case),
            trust=trust,
            as_of=as_of,
            checked_at=as_of,
            warn_days=0,
        )
    except HostError:
        assert case["id"] in REFUSED_NAMES, case["id"]
        return "FAILURE"
    return "SUCCESS" if report.row["trusted"] else "FAILURE"


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[str, str]]:
    """case id -> (expected, ours), for every case of the corpus."""
    return {c["id"]: (c["expected_result"], verdict(c)) for c in corpus()}


def test_the_corpus_is_the_documented_one() -> None:
    cases = corpus()
    assert len(cases) == 208 and len({c["id"] for c in cases}) == 208


def test_every_case_runs_to_a_verdict(results: dict[str, tuple[str, str]]) -> None:
    assert len(results) == 208
    assert {ours for _, ours in results.values()} == {"SUCCESS", "FAILURE"}


def test_disagreements_are_exactly_the_explained_ones(
    results: dict[str, tuple[str, str]],
) -> None:
    disagree = {i for i, (expected, ours) in results.items() if expected != ours}
    assert sorted(disagree - EXPLAINED.keys()) == [], "unexplained disagreement"
    assert sorted(EXPLAINED.keys() - disagree) == [], "explained case now agrees: update"
    assert len(results) - len(disagree) == AGREEMENT


def test_agreement_on_server_cases(results: dict[str, tuple[str, str]]) -> None:
    server = [c for c in corpus() if c["validation_kind"] == "SERVER" and c["expected_peer_name"]]
    plain = [c for c in server if not c["features"]]
    assert (len(server), len(plain)) == (197, 156)

    def agreeing(cases: list[dict[str, Any]]) -> int:
        return sum(1 for c in cases if results[c["id"]][0] == results[c["id"]][1])

    assert agreeing(server) == SERVER_AGREEMENT
    assert agreeing(plain) == PLAIN_AGREEMENT


def test_refused_peer_names_are_expected_failures(results: dict[str, tuple[str, str]]) -> None:
    for case_id in REFUSED_NAMES:
        assert results[case_id] == ("FAILURE", "FAILURE")


def test_pathological_cases_end_untrusted(results: dict[str, tuple[str, str]]) -> None:
    patho = {i: r for i, r in results.items() if i.startswith("pathological::")}
    assert len(patho) == 11
    assert all(expected == ours for expected, ours in patho.values())
