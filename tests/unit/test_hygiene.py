"""The served chain's hygiene (scanner.x509.hygiene) on chains minted here: in order, out of
order, a repeat, the root, an unrelated certificate, an expired cross-sign beside a valid path,
an intermediate expiring before the leaf, and a hostile chain of many certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from scanner.model.types import Severity
from scanner.testing.pki import DAY, Issued, make_ca, make_leaf
from scanner.x509 import certs, hygiene
from scanner.x509.memo import Memo
from scanner.x509.paths import End, build_path, parse_chain

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "hygiene.lab.test"


class Ca:
    """root -> inter1 -> inter2 -> leaf, a rogue CA, and an old root that cross-signed the
    root (that cross-sign expired 10 days ago)."""

    def __init__(self) -> None:
        far = dict(not_before=AS_OF - 1000 * DAY, not_after=AS_OF + 3000 * DAY)
        self.root = make_ca("Hygiene Root", **far)
        self.old_root = make_ca(
            "Hygiene Old Root", not_before=AS_OF - 5000 * DAY, not_after=AS_OF - 10 * DAY
        )
        self.cross = make_ca(
            "Hygiene Root",
            key=self.root.key,
            issuer=self.old_root,
            not_before=AS_OF - 4000 * DAY,
            not_after=AS_OF - 10 * DAY,
        )
        self.inter1 = make_ca("Hygiene Inter 1", issuer=self.root, **far)
        self.inter2 = make_ca("Hygiene Inter 2", issuer=self.inter1, **far)
        self.rogue = make_ca("Somebody Else CA", **far)
        self.leaf = make_leaf(
            self.inter2, dns_names=[HOST], not_before=AS_OF - 10 * DAY, not_after=AS_OF + 80 * DAY
        )
        self.trust = certs.load_trust_store(self.root.pem, "root.pem")


@pytest.fixture(scope="module")
def ca() -> Ca:
    return Ca()


def judge(ca: Ca, chain: Sequence[Issued | bytes], as_of: dt.datetime = AS_OF) -> hygiene.Hygiene:
    memo = Memo()
    ders = [c if isinstance(c, bytes) else c.der for c in chain]
    parsed = parse_chain(ders, memo)
    path = build_path(parsed, ca.trust, {}, memo) if parsed.leaf is not None else None
    return hygiene.check(parsed, path, as_of, memo)


def codes(h: hygiene.Hygiene) -> list[str]:
    return [f.code for f in h.findings]


def test_a_clean_chain_has_no_finding(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1])
    assert h.findings == ()
    assert (h.in_order, h.duplicates, h.roots, h.unrelated, h.expired) == (True, (), (), (), ())


def test_out_of_order(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter1, ca.inter2])
    assert codes(h) == ["chain_order"]
    (f,) = h.findings
    assert f.severity is Severity.LOW
    assert f.message.startswith("certificate 2 (CN=Hygiene Inter 1,O=Scanner Lab, notAfter ")
    assert "comes before the certificate it certifies" in f.message
    assert "sent as 1 CN=hygiene.lab.test" in f.message
    assert f.remedy.endswith(
        "CN=hygiene.lab.test,O=Scanner Lab, CN=Hygiene Inter 2,O=Scanner Lab, "
        "CN=Hygiene Inter 1,O=Scanner Lab."
    )
    assert h.in_order is False


def test_root_first_is_out_of_order_and_a_root(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.root, ca.inter2, ca.inter1])
    assert codes(h) == ["root_in_chain", "chain_order"]
    assert h.roots == (2,)


def test_repeated_intermediate(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1, ca.inter2])
    assert codes(h) == ["duplicate_in_chain"]
    (f,) = h.findings
    assert f.message.startswith("certificate 4 repeats certificate 2 (CN=Hygiene Inter 2")
    assert h.duplicates == (4,) and h.in_order


def test_root_in_chain_is_info(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1, ca.root])
    assert codes(h) == ["root_in_chain"]
    assert h.findings[0].severity is Severity.INFO
    assert "the server sends the root certificate 4 (CN=Hygiene Root" in h.findings[0].message


def test_unrelated_certificate(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.rogue, ca.inter1])
    assert codes(h) == ["unrelated_in_chain"]  # a root, but of no path: not root_in_chain
    assert h.unrelated == (3,)
    assert h.in_order  # the unrelated certificate is not an issuer out of place
    unrelated = next(f for f in h.findings if f.code == "unrelated_in_chain")
    assert unrelated.severity is Severity.MEDIUM
    assert "certificate 3 (CN=Somebody Else CA" in unrelated.message
    assert unrelated.certificate_subject == "CN=Somebody Else CA,O=Scanner Lab"


def test_unrelated_intermediate_not_self_signed(ca: Ca) -> None:
    other = make_ca("Other Inter", issuer=ca.rogue, not_before=AS_OF - DAY, not_after=AS_OF + DAY)
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1, other])
    assert codes(h) == ["unrelated_in_chain"]
    assert h.unrelated == (4,)


def test_expired_cross_sign_beside_a_valid_path(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1, ca.cross])
    assert codes(h) == ["expired_in_chain"]
    (f,) = h.findings
    assert f.severity is Severity.HIGH
    assert f.message.startswith("the server sends certificate 4 (CN=Hygiene Root,O=Scanner Lab")
    assert "(10 day(s) before 2026-06-01T00:00:00Z)" in f.message
    assert (h.expired, h.unrelated, h.in_order) == ((4,), (), True)


def test_the_cross_sign_is_fine_before_it_expires(ca: Ca) -> None:
    h = judge(ca, [ca.leaf, ca.inter2, ca.inter1, ca.cross], as_of=AS_OF - 10 * DAY)
    assert codes(h) == []
    h = judge(
        ca,
        [ca.leaf, ca.inter2, ca.inter1, ca.cross],
        as_of=AS_OF - 10 * DAY + dt.timedelta(seconds=1),
    )
    assert codes(h) == ["expired_in_chain"]


def test_expired_intermediate_on_the_path_is_not_expired_in_chain(ca: Ca) -> None:
    """On the path it is `intermediate_expired` (rules.served_intermediates), not this."""
    old = make_ca("Old Inter", issuer=ca.root, not_before=AS_OF - 100 * DAY, not_after=AS_OF - DAY)
    leaf = make_leaf(old, dns_names=[HOST], not_before=AS_OF - 50 * DAY, not_after=AS_OF + 50 * DAY)
    h = judge(ca, [leaf, old])
    assert "expired_in_chain" not in codes(h)


def test_intermediate_expires_before_the_leaf(ca: Ca) -> None:
    short = make_ca(
        "Short Inter", issuer=ca.root, not_before=AS_OF - 100 * DAY, not_after=AS_OF + 20 * DAY
    )
    leaf = make_leaf(
        short, dns_names=[HOST], not_before=AS_OF - 10 * DAY, not_after=AS_OF + 80 * DAY
    )
    h = judge(ca, [leaf, short])
    assert codes(h) == ["intermediate_expires_first"]
    (f,) = h.findings
    assert f.severity is Severity.MEDIUM
    assert f.message == (
        "CN=Short Inter,O=Scanner Lab (certificate 2 of the built path, from sent) expires "
        "2026-06-21T00:00:00Z, before the leaf (2026-08-20T00:00:00Z): the host breaks then"
    )
    assert h.expires_first == (AS_OF + 20 * DAY,)
    # Once it has expired, `intermediate_expired` speaks instead.
    assert (
        judge(ca, [leaf, short], as_of=AS_OF + 20 * DAY + dt.timedelta(seconds=1)).expires_first
        == ()
    )


def test_a_root_of_the_store_expiring_first_counts(ca: Ca) -> None:
    root = make_ca("Ending Root", not_before=AS_OF - 1000 * DAY, not_after=AS_OF + 30 * DAY)
    leaf = make_leaf(root, dns_names=[HOST], not_before=AS_OF - DAY, not_after=AS_OF + 60 * DAY)
    memo = Memo()
    parsed = parse_chain([leaf.der], memo)
    path = build_path(parsed, certs.load_trust_store(root.pem, "r.pem"), {}, memo)
    assert path.end is End.ANCHORED
    h = hygiene.check(parsed, path, AS_OF, memo)
    assert codes(h) == ["intermediate_expires_first"]
    assert "from store" in h.findings[0].message


def test_unparseable_leaf_judges_only_repeats(ca: Ca) -> None:
    h = judge(ca, [b"garbage", ca.inter1, ca.inter1])
    assert codes(h) == ["duplicate_in_chain"]


def test_a_hostile_chain_is_bounded(ca: Ca) -> None:
    chain: list[Issued | bytes] = [ca.leaf, ca.inter2, ca.inter1]
    chain += [ca.rogue] * 200
    h = judge(ca, chain)
    assert h.unrelated == (4,)
    assert h.duplicates == tuple(range(5, hygiene.MAX_SERVED + 1))
