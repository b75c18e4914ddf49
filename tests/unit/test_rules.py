"""Each diagnosis step on its own (scanner.x509.rules over scanner.x509.paths), with real
certificates minted here and expected values written from the documented definitions
(docs/guide/diagnosis.md); and a host counted once per finding code however many certificates
carry it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import pytest

from scanner.analysis.summary import summarise
from scanner.model.types import Finding, Handshake, Target
from scanner.run.assemble import Answer, assemble
from scanner.store import rows
from scanner.testing.lab import DAY, Issued, Pki, make_ca, make_leaf, resign_sha1, rsa_key
from scanner.x509 import certs, rules
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose
from scanner.x509.memo import Memo
from scanner.x509.paths import End, Source, build_path, parse_chain

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "rules.lab.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create(FIXED)


@pytest.fixture(scope="module")
def trust(pki: Pki) -> certs.TrustStore:
    return certs.load_trust_store(pki.root.pem, "lab-root.pem")


def codes(found: Sequence[Finding]) -> list[str]:
    return [f.code for f in found]


# --- validity ------------------------------------------------------------------------------


def test_validity_of_a_current_leaf(pki: Pki) -> None:
    leaf = pki.leaf([HOST], not_before=FIXED - 10 * DAY, not_after=FIXED + 100 * DAY)
    v = rules.validity(leaf.cert, FIXED, warn_days=30)
    assert (v.expired, v.not_yet_valid, v.expiring_soon, v.days_remaining) == (
        False,
        False,
        False,
        100,
    )
    assert v.findings == ()


def test_validity_expired_and_expiring(pki: Pki) -> None:
    old = pki.leaf([HOST], not_before=FIXED - 100 * DAY, not_after=FIXED - 3 * DAY)
    v = rules.validity(old.cert, FIXED, warn_days=30)
    assert (v.expired, v.expiring_soon, v.days_remaining) == (True, False, -3)
    assert codes(v.findings) == ["expired"]
    assert v.findings[0].message == (
        "expired 2026-05-29T00:00:00Z, 3 day(s) before 2026-06-01T00:00:00Z"
    )
    soon = pki.leaf([HOST], not_before=FIXED - 100 * DAY, not_after=FIXED + 5 * DAY)
    assert codes(rules.validity(soon.cert, FIXED, warn_days=30).findings) == ["expiring_soon"]


def test_validity_not_yet_valid(pki: Pki) -> None:
    future = pki.leaf([HOST], not_before=FIXED + 2 * DAY, not_after=FIXED + 200 * DAY)
    v = rules.validity(future.cert, FIXED, warn_days=30)
    assert (v.expired, v.not_yet_valid) == (False, True)
    assert codes(v.findings) == ["not_yet_valid"]


# --- names --------------------------------------------------------------------------------


def test_names_match_and_mismatch(pki: Pki) -> None:
    leaf = pki.leaf(["shop.lab.test"]).cert
    assert rules.names(leaf, "CN=x", "shop.lab.test", False).mismatch is False
    www = rules.names(leaf, "CN=x", "www.shop.lab.test", False)
    assert www.mismatch is True and codes(www.findings) == ["hostname_mismatch"]
    assert "covers shop.lab.test but not www.shop.lab.test" in www.findings[0].message
    assert "(include both shop.lab.test and www.shop.lab.test)" in www.findings[0].remedy


def test_names_without_san(pki: Pki) -> None:
    leaf = pki.leaf(["nosan.lab.test"], san=False).cert
    n = rules.names(leaf, "CN=nosan.lab.test", "nosan.lab.test", False)
    assert n.mismatch is True and codes(n.findings) == ["no_san"]


# --- the path -----------------------------------------------------------------------------


def _path(der: Sequence[bytes], trust: certs.TrustStore) -> tuple[rules.PathVerdicts, End]:
    memo = Memo()
    chain = parse_chain(der, memo)
    assert chain.leaf is not None
    path = build_path(chain, trust, {}, memo)
    return rules.path_verdicts(path, chain.leaf, "CN=x", trust, {}), path.end


def test_path_anchored(pki: Pki, trust: certs.TrustStore) -> None:
    v, end = _path([pki.leaf([HOST]).der, pki.intermediate.der], trust)
    assert end is End.ANCHORED
    assert (v.self_signed, v.untrusted_root, v.incomplete_chain, v.findings) == (
        False,
        False,
        False,
        (),
    )


def test_path_missing_intermediate(pki: Pki, trust: certs.TrustStore) -> None:
    v, end = _path([pki.leaf([HOST]).der], trust)
    assert end is End.ISSUER_NOT_FOUND and v.untrusted_root is True
    assert codes(v.findings) == ["issuer_not_found"]
    assert "is not sent by the server" in v.findings[0].message


def test_path_self_signed_and_untrusted_root(pki: Pki, trust: certs.TrustStore) -> None:
    own = make_leaf(None, dns_names=[HOST], not_before=FIXED - DAY, not_after=FIXED + DAY)
    v, end = _path([own.der], trust)
    assert end is End.SELF_SIGNED_LEAF and v.self_signed is True and v.untrusted_root is False
    assert codes(v.findings) == ["self_signed"]
    rogue = pki.rogue_root
    leaf = make_leaf(rogue, dns_names=[HOST], not_before=FIXED - DAY, not_after=FIXED + DAY)
    v, end = _path([leaf.der, rogue.der], trust)
    assert end is End.UNTRUSTED_ROOT and v.untrusted_root is True
    assert codes(v.findings) == ["untrusted_root"]
    assert v.findings[0].certificate_subject == "CN=Untrusted Root CA,O=Scanner Lab"


# --- the served chain, weakness, verdict --------------------------------------------------


def test_served_intermediate_out_of_validity(pki: Pki, trust: certs.TrustStore) -> None:
    retired = pki.expired_intermediate
    leaf = make_leaf(retired, dns_names=[HOST], not_before=FIXED - DAY, not_after=FIXED + DAY)
    memo = Memo()
    chain = parse_chain([leaf.der, retired.der], memo)
    path = build_path(chain, trust, {}, memo)
    assert path.sources == (Source.SENT, Source.SENT, Source.STORE)
    found = rules.served_intermediates(path, FIXED, memo)
    assert codes(found) == ["intermediate_expired"]
    assert "is expired 2026-05-27T00:00:00Z" in found[0].message


def test_weakness_below_the_root(pki: Pki, trust: certs.TrustStore) -> None:
    leaf = pki.leaf([HOST], key=rsa_key(1024))
    memo = Memo()
    chain = parse_chain([leaf.der, pki.intermediate.der], memo)
    found = rules.weakness(build_path(chain, trust, {}, memo), trust, memo)
    assert codes(found) == ["weak_key"] and found[0].message == "the leaf has a RSA 1024 bits key"


def test_trusted_needs_every_rule() -> None:
    assert rules.trusted(
        None, weak=False, intermediate_bad=False, mismatch=False, dates_unknown=False
    )
    for objection in ("weak", "intermediate_bad", "mismatch", "dates_unknown"):
        flags = dict.fromkeys(("weak", "intermediate_bad", "mismatch", "dates_unknown"), False)
        assert not rules.trusted(None, **{**flags, objection: True}), objection
    assert not rules.trusted(
        "bad", weak=False, intermediate_bad=False, mismatch=False, dates_unknown=False
    )


def test_not_trusted_only_when_nothing_explains_it(pki: Pki) -> None:
    explained = rules.validity(
        pki.leaf([HOST], not_after=FIXED - DAY, not_before=FIXED - 9 * DAY).cert, FIXED, 30
    ).findings
    assert rules.not_trusted("expired", explained) == ()
    (f,) = rules.not_trusted("some reason", ())
    assert f.code == "not_trusted" and f.message.endswith("some reason")


# --- a host counts once per code ------------------------------------------------------------


def test_two_sha1_certificates_count_one_host_once() -> None:
    root = make_ca(
        "SHA-1 Root", key=rsa_key(2048), not_before=FIXED - 900 * DAY, not_after=FIXED + 900 * DAY
    )
    inter = make_ca(
        "SHA-1 Intermediate",
        issuer=root,
        key=rsa_key(2048),
        not_before=FIXED - 800 * DAY,
        not_after=FIXED + 800 * DAY,
    )
    inter = resign_sha1(inter, root)
    leaf = make_leaf(
        Issued(inter.cert, inter.key),
        dns_names=[HOST],
        key=rsa_key(2048),
        not_before=FIXED - DAY,
        not_after=FIXED + 100 * DAY,
    )
    leaf = resign_sha1(leaf, inter)
    trust = certs.load_trust_store(root.pem, "sha1-root.pem")
    d = diagnose(
        [leaf.der, inter.der],
        host=HOST,
        is_ip=False,
        ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=30),
    )
    assert [f.code for f in d.findings] == ["weak_signature", "weak_signature"]  # one per cert
    assert d.codes == ("weak_signature",)
    target = Target(row=2, host=HOST, port=443, ip=None, is_ip=False)
    hs = Handshake(chain=(leaf.der, inter.der), tls_version="TLSv1.3", cipher="x", address="::1")
    row = rows.host_row(assemble(Answer(target=target, handshake=hs, diagnosis=d)), (), FIXED)
    assert row["findings"] == ["weak_signature"]
    # A summary of rows that still list a code twice counts the host once, share at most 1.
    counts = summarise(pd.DataFrame([{**row, "findings": ["weak_signature", "weak_signature"]}]))
    weak = counts[(counts["kind"] == "finding") & (counts["name"] == "weak_signature")]
    assert weak["hosts"].tolist() == [1] and weak["share"].tolist() == [1.0]


# --- what a scan remembers of a chain ---------------------------------------------------------


def test_a_remembered_chain_gives_each_host_its_own_diagnosis(
    pki: Pki, trust: certs.TrustStore
) -> None:
    """The host-independent steps are remembered per chain (`Memo.chains`); the name checks
    still run per host. Every host's diagnosis equals a diagnosis with nothing remembered,
    whether the scan saw the chain before or not, for names that match and names that do
    not."""
    leaf = pki.leaf(["*.fleet.test", "fleet.test"], not_after=FIXED + 10 * DAY)
    chain = (leaf.der, pki.intermediate.der)
    memo = Memo()
    hosts = ["a.fleet.test", "fleet.test", "b.fleet.test", "other.test", "x.y.fleet.test"]
    for host in hosts:
        # Fresh bytes per host, as each handshake hands over its own.
        sent = tuple(bytes(bytearray(d)) for d in chain)
        remembered = diagnose(
            sent,
            host=host,
            is_ip=False,
            ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=30, memo=memo),
        )
        fresh = diagnose(
            chain,
            host=host,
            is_ip=False,
            ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=30),
        )
        assert remembered == fresh, host
    assert (memo.chains.stats.misses, memo.chains.stats.hits) == (1, len(hosts) - 1)
    by_host = {
        h: diagnose(
            chain,
            host=h,
            is_ip=False,
            ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=30, memo=memo),
        )
        for h in ("a.fleet.test", "other.test")
    }
    assert by_host["a.fleet.test"].verdicts.trusted is True
    # 30 of its 40 days passed: past the two thirds at which ACME clients renew.
    assert codes(by_host["a.fleet.test"].findings) == ["expiring_soon", "renewal_overdue"]
    assert by_host["other.test"].verdicts.hostname_mismatch is True
    # The verifier's refusal is the mismatch, already a finding: no separate not_trusted.
    assert codes(by_host["other.test"].findings) == [
        "expiring_soon",
        "renewal_overdue",
        "hostname_mismatch",
    ]
    # Another as-of or warning period is another chain judgement, not a remembered one.
    later = diagnose(
        chain,
        host="a.fleet.test",
        is_ip=False,
        ctx=DiagnosisContext(trust=trust, as_of=FIXED + 20 * DAY, warn_days=30, memo=memo),
    )
    assert later.verdicts.expired is True
    assert memo.chains.stats.misses == 2
