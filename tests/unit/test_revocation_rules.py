"""The revocation rules without a network: CRL signature, currency (boundaries to the second),
scope (partitioned CRLs), serials as integers, delta and indirect CRLs, OCSP signers, short-lived
certificates, and what the path-level judgement says. Expected values are the RFCs' rules,
written out here."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.testing.lab import DAY, Issued, Pki, ec_key, make_ca, make_leaf, name
from scanner.testing.responders import der_crl, der_entry, ocsp_response
from scanner.x509 import certs
from scanner.x509 import revocation as rv
from scanner.x509.context import DiagnosisContext

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
URL = "http://crl.example/intermediate.crl"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create(FIXED, crl_base="http://crl.example")


def crl_of(
    pki: Pki,
    revoked: list[x509.Certificate] = (),  # type: ignore[assignment]
    *,
    issuer: Issued | None = None,
    this_update: dt.datetime = FIXED - DAY,
    next_update: dt.datetime = FIXED + DAY,
    idp: x509.IssuingDistributionPoint | None = None,
    delta: bool = False,
) -> rv.Crl:
    issuer = issuer or pki.intermediate
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    if idp is not None:
        b = b.add_extension(idp, critical=True)
    if delta:
        b = b.add_extension(x509.DeltaCRLIndicator(1), critical=True)
    for cert in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(FIXED - 2 * DAY)
            .add_extension(x509.CRLReason(x509.ReasonFlags.ca_compromise), critical=False)
            .build()
        )
    return rv.parse_crl(b.sign(issuer.key, hashes.SHA256()).public_bytes(Encoding.DER))


def check(crl: rv.Crl, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime = FIXED):
    return rv.check_crl(crl, cert, issuer, at, source=rv.Source.CRL, url=URL)


def test_a_listed_serial_is_revoked_with_time_and_reason(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    v = check(crl_of(pki, [leaf]), leaf, pki.intermediate.cert)
    assert v.status is rv.Status.REVOKED
    assert v.revoked_at == FIXED - 2 * DAY and v.reason == "ca_compromise"
    other = pki.leaf(["b.test"]).cert
    assert check(crl_of(pki, [leaf]), other, pki.intermediate.cert).status is rv.Status.GOOD


def test_pem_and_der_read_the_same(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    crl = pki.crl(
        pki.intermediate, [(leaf.serial_number, FIXED - DAY, x509.ReasonFlags.superseded)]
    )
    der, pem = (
        rv.parse_crl(crl.public_bytes(Encoding.DER)),
        rv.parse_crl(crl.public_bytes(Encoding.PEM)),
    )
    assert dict(der.entries) == dict(pem.entries) and der.lookup(leaf.serial_number) is not None


def test_not_a_crl_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        rv.parse_crl(b"<html>not a CRL</html>")


def test_serials_compare_as_integers_leading_zero_bytes_included(pki: Pki) -> None:
    """A serial with its high bit set is written with a leading zero byte (00 80 ... 05, the
    sign octet of X.690 8.3): it matches the certificate's serial as an integer (a hex-string
    comparison of '0080...05' with '80...05' would not), and 0x05 does not match 0x0005..."""
    serial = 0x80 << 144 | 5
    high = pki.leaf(["high.test"], serial=serial).cert
    assert serial.to_bytes(19, "big")[0] == 0x80
    crl = rv.parse_crl(der_crl(pki.intermediate, [der_entry(b"\x00" + serial.to_bytes(19, "big"))]))
    assert check(crl, high, pki.intermediate.cert).status is rv.Status.REVOKED
    assert crl.lookup(serial) == (dt.datetime(2026, 5, 20, tzinfo=dt.UTC), "key_compromise")
    low = pki.leaf(["low.test"], serial=5).cert
    assert check(crl, low, pki.intermediate.cert).status is rv.Status.GOOD


def test_a_non_minimal_serial_encoding_is_not_a_crl(pki: Pki) -> None:
    """00 00 12 34 is not DER (X.690 10.1, 8.3.2): the CRL is refused, never half-read."""
    with pytest.raises(ValueError):
        rv.parse_crl(der_crl(pki.intermediate, [der_entry(b"\x00\x00\x12\x34")]))


def test_signature_must_verify_with_the_issuers_key(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    forged = make_ca("Scanner Lab Intermediate CA", not_before=FIXED - DAY, not_after=FIXED + DAY)
    crl = crl_of(pki, [leaf], issuer=forged)  # same name, another key
    v = check(crl, leaf, pki.intermediate.cert)
    assert v.status is rv.Status.UNKNOWN and "bad signature" in (v.why or "")


def test_a_crl_with_an_unknown_signature_algorithm_is_not_used(pki: Pki) -> None:
    """cryptography raises UnsupportedAlgorithm on reading its hash: the CRL is read, and
    not used, rather than failing the fetch or the --crl file."""
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    data = der_crl(pki.intermediate, [])
    assert data.count(sha256_rsa) == 2  # in the TBS and outside it
    # 1.2.840.113549.1.1.99: not an algorithm cryptography knows
    crl = rv.parse_crl(data.replace(sha256_rsa, bytes.fromhex("06092a864886f70d010163")))
    assert crl.unusable == "its signature algorithm 1.2.840.113549.1.1.99 is not supported"
    leaf = pki.leaf(["a.test"]).cert
    v = check(crl, leaf, pki.intermediate.cert)
    assert v.status is rv.Status.UNKNOWN and "not used" in (v.why or "")


def test_a_crl_of_another_issuer_does_not_count(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    v = check(crl_of(pki, issuer=pki.root), leaf, pki.intermediate.cert)
    assert v.status is rv.Status.UNKNOWN and "not by the certificate's issuer" in (v.why or "")


@pytest.mark.parametrize(
    ("at", "status", "why"),
    [
        (FIXED - DAY, rv.Status.GOOD, None),  # thisUpdate <= as-of
        (FIXED - DAY - SECOND, rv.Status.UNKNOWN, "not yet valid"),
        (FIXED + DAY, rv.Status.GOOD, None),  # as-of <= nextUpdate
        (FIXED + DAY + SECOND, rv.Status.UNKNOWN, "stale CRL"),
    ],
)
def test_current_at_as_of_to_the_second(
    pki: Pki, at: dt.datetime, status: rv.Status, why: str | None
) -> None:
    leaf = pki.leaf(["a.test"]).cert
    v = check(crl_of(pki), leaf, pki.intermediate.cert, at)
    assert v.status is status
    assert why is None or why in (v.why or "")


def idp(
    urls: list[str], *, only_ca: bool = False, indirect: bool = False
) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(u) for u in urls] or None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=only_ca,
        only_some_reasons=None,
        indirect_crl=indirect,
        only_contains_attribute_certs=False,
    )


def test_a_partition_covers_only_the_certificates_that_name_it(pki: Pki) -> None:
    """RFC 5280 6.3.3 (b)(2)(i): a partitioned CRL's IDP names must meet the certificate's
    distribution point names."""
    mine = pki.leaf(["a.test"], crl_url="http://crl.example/part-1.crl").cert
    other = pki.leaf(["b.test"], crl_url="http://crl.example/part-2.crl").cert
    part1 = crl_of(pki, [mine], idp=idp(["http://crl.example/part-1.crl"]))
    assert check(part1, mine, pki.intermediate.cert).status is rv.Status.REVOKED
    v = check(part1, other, pki.intermediate.cert)
    assert v.status is rv.Status.UNKNOWN and "partition" in (v.why or "")


def test_a_ca_only_crl_does_not_cover_a_leaf(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    v = check(crl_of(pki, idp=idp([], only_ca=True)), leaf, pki.intermediate.cert)
    assert v.status is rv.Status.UNKNOWN and "CA certificates only" in (v.why or "")


def test_delta_and_indirect_crls_are_refused_with_the_reason(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"]).cert
    delta = check(crl_of(pki, [leaf], delta=True), leaf, pki.intermediate.cert)
    assert delta.status is rv.Status.UNKNOWN and "delta CRL" in (delta.why or "")
    indirect = check(crl_of(pki, idp=idp([], indirect=True)), leaf, pki.intermediate.cert)
    assert indirect.status is rv.Status.UNKNOWN and "indirect CRL" in (indirect.why or "")


@pytest.mark.parametrize(
    ("issued", "days", "short"),
    [
        (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 10, True),  # before 2026-03-15: 10 days
        (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 11, False),
        (dt.datetime(2026, 4, 1, tzinfo=dt.UTC), 7, True),  # from 2026-03-15: 7 days
        (dt.datetime(2026, 4, 1, tzinfo=dt.UTC), 8, False),
    ],
)
def test_short_lived_per_the_baseline_requirements(
    pki: Pki, issued: dt.datetime, days: int, short: bool
) -> None:
    # Validity is inclusive of both ends (RFC 5280 4.1.2.5): N days is notAfter = nb + N d - 1 s.
    leaf = make_leaf(
        pki.intermediate,
        dns_names=["a.test"],
        not_before=issued,
        not_after=issued + days * DAY - SECOND,
    )
    assert rv.short_lived(leaf.cert) is short


def lab_trust(pki: Pki) -> certs.TrustStore:
    """A trust store for the context (revocation judges the path it is given, whatever the
    store)."""
    return certs.load_trust_store(pki.root.pem, "lab.pem")


def path(*chain: Issued) -> list[bytes]:
    return [c.der for c in chain]


def test_judge_a_path_wants_the_crls_then_judges(pki: Pki) -> None:
    leaf = pki.leaf(["a.test"])
    chain = path(leaf, pki.intermediate, pki.root)
    first = rv.judge(
        chain, evidence=rv.Evidence(), ctx=DiagnosisContext(trust=lab_trust(pki), as_of=FIXED)
    )
    assert set(first.wanted_crls) == {
        "http://crl.example/intermediate.crl",
        "http://crl.example/root.crl",
    }
    evidence = rv.Evidence(
        crls={
            "http://crl.example/intermediate.crl": crl_of(pki, [leaf.cert]),
            "http://crl.example/root.crl": crl_of(pki, issuer=pki.root),
        }
    )
    j = rv.judge(chain, evidence=evidence, ctx=DiagnosisContext(trust=lab_trust(pki), as_of=FIXED))
    assert (j.status, j.source) == (rv.Status.REVOKED, rv.Source.CRL)
    assert [f.code for f in j.findings] == ["revoked"]
    assert j.findings[0].url == "http://crl.example/intermediate.crl"


def test_a_certificate_without_pointers_is_unknown_unless_short_lived(pki: Pki) -> None:
    bare = Pki.create(FIXED)  # no CRL distribution points at all
    long_lived = bare.leaf(["a.test"])
    j = rv.judge(
        path(long_lived, bare.intermediate, bare.root),
        evidence=rv.Evidence(),
        ctx=DiagnosisContext(trust=lab_trust(pki), as_of=FIXED),
    )
    assert j.status is rv.Status.UNKNOWN
    assert [f.code for f in j.findings] == ["revocation_unknown", "revocation_unknown"]
    assert "names no CRL distribution point and no OCSP URL" in j.findings[0].message
    short = bare.leaf(["s.test"], not_before=FIXED - DAY, not_after=FIXED + 5 * DAY)
    evidence = rv.Evidence(crls={})
    j = rv.judge(
        path(short, bare.intermediate, bare.root),
        evidence=evidence,
        ctx=DiagnosisContext(trust=lab_trust(pki), as_of=FIXED),
    )
    assert [f.certificate_subject for f in j.findings] == [
        "CN=Scanner Lab Intermediate CA,O=Scanner Lab"
    ]  # the short-lived leaf: no finding


def test_a_path_with_no_issuer_is_not_checked(pki: Pki) -> None:
    j = rv.judge(
        path(pki.leaf(["a.test"])),
        evidence=rv.Evidence(),
        ctx=DiagnosisContext(trust=lab_trust(pki), as_of=FIXED),
    )
    assert j == rv.NOT_CHECKED


def responder(issuer: Issued, *, eku: bool = True) -> Issued:
    key = ec_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(name("responder"))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(FIXED - DAY)
        .not_valid_after(FIXED + DAY)
    )
    if eku:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return Issued(b.sign(issuer.key, hashes.SHA256()), key)


@pytest.mark.parametrize(
    ("signer", "good"),
    [("issuer", True), ("delegate", True), ("delegate_without_eku", False), ("stranger", False)],
)
def test_ocsp_signers(pki: Pki, signer: str, good: bool) -> None:
    """RFC 6960 4.2.2.2: the issuer, or a certificate it issued with id-kp-OCSPSigning."""
    inter = pki.intermediate
    leaf = pki.leaf(["a.test"], ocsp_url="http://ocsp.example").cert
    who = {
        "issuer": inter,
        "delegate": responder(inter),
        "delegate_without_eku": responder(inter, eku=False),
        "stranger": responder(pki.rogue_root),
    }[signer]
    data = ocsp_response(
        leaf,
        inter.cert,
        who.cert,
        who.key,
        ocsp.OCSPCertStatus.GOOD,
        this_update=FIXED - DAY,
        next_update=FIXED + DAY,
        include=[] if signer == "issuer" else [who.cert],
    )
    v = rv.check_ocsp(data, leaf, inter.cert, FIXED, url="http://ocsp.example")
    assert v.status is (rv.Status.GOOD if good else rv.Status.UNKNOWN)


@pytest.mark.parametrize(
    ("this_update", "next_update", "why"),
    [
        (FIXED - 3 * DAY, FIXED - 5 * MINUTE, None),  # within the 5 minutes of clock skew
        (FIXED - 3 * DAY, FIXED - 5 * MINUTE - SECOND, "stale response"),
        (FIXED + 5 * MINUTE, FIXED + DAY, None),
        (FIXED + 5 * MINUTE + SECOND, FIXED + DAY, "not yet valid"),
    ],
)
def test_ocsp_currency_with_five_minutes_of_clock_skew(
    pki: Pki, this_update: dt.datetime, next_update: dt.datetime, why: str | None
) -> None:
    inter = pki.intermediate
    leaf = pki.leaf(["a.test"], ocsp_url="http://ocsp.example").cert
    data = ocsp_response(
        leaf,
        inter.cert,
        inter.cert,
        inter.key,
        ocsp.OCSPCertStatus.GOOD,
        this_update=this_update,
        next_update=next_update,
    )
    v = rv.check_ocsp(data, leaf, inter.cert, FIXED, url="http://ocsp.example")
    assert v.status is (rv.Status.GOOD if why is None else rv.Status.UNKNOWN)
    assert why is None or why in (v.why or "")


SHA1_OID = bytes.fromhex("06052b0e03021a")  # the CertID hash ocsp_response uses
SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")  # the response's signature algorithm


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        # 1.3.14.3.2.29 (sha1WithRSASignature) in the CertID: not a hash cryptography knows
        (SHA1_OID, bytes.fromhex("06052b0e03021d"), "does not name serial"),
        # 1.2.840.113549.1.1.99 as the response's signature algorithm: unknown
        (SHA256_RSA_OID, bytes.fromhex("06092a864886f70d010163"), "bad signature"),
    ],
    ids=["certid_hash", "signature_algorithm"],
)
def test_an_ocsp_response_with_an_unknown_algorithm_does_not_count(
    pki: Pki, old: bytes, new: bytes, why: str
) -> None:
    """cryptography raises UnsupportedAlgorithm on reading such a field: the response is one
    that does not count (a fetched answer unknown, a staple invalid), not a failed host."""
    from scanner.model.probed import Stapled
    from scanner.x509.hello import stapled_status

    inter = pki.intermediate
    issued = pki.leaf(["a.test"], ocsp_url="http://ocsp.example")
    data = ocsp_response(
        issued.cert,
        inter.cert,
        inter.cert,
        inter.key,
        ocsp.OCSPCertStatus.GOOD,
        this_update=FIXED - DAY,
        next_update=FIXED + DAY,
    )
    assert data.count(old) == 1
    patched = data.replace(old, new)
    chain = [issued.der, inter.der]
    assert stapled_status(data, chain, FIXED) is Stapled.GOOD
    v = rv.check_ocsp(patched, issued.cert, inter.cert, FIXED, url="http://ocsp.example")
    assert v.status is rv.Status.UNKNOWN and why in (v.why or "")
    assert stapled_status(patched, chain, FIXED) is Stapled.INVALID
