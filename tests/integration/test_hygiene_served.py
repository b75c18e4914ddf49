"""The served-chain findings (scanner.x509.hygiene) on chains captured from real TLS servers on
127.0.0.1: each server sends its chain exactly as configured (out of order, with a repeat, the
root, an unrelated certificate, an expired cross-sign beside a valid path, an intermediate
expiring before the leaf), and the findings come from what the handshake delivered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import anyio
import pytest

from scanner.model.types import Handshake, Target
from scanner.net.capture import capture, client_context
from scanner.net.resolve import SystemResolver
from scanner.testing.lab import LOOPBACK, Lab
from scanner.testing.pki import DAY, Issued, make_ca, make_leaf
from scanner.x509 import certs, hygiene
from scanner.x509.memo import Memo
from scanner.x509.paths import build_path, parse_chain

HOST = "hygiene.lab.test"


class Pki:
    def __init__(self, as_of: dt.datetime) -> None:
        far = dict(not_before=as_of - 1000 * DAY, not_after=as_of + 3000 * DAY)
        self.root = make_ca("Served Root", **far)
        old_root = make_ca("Served Old Root", not_before=as_of - 5000 * DAY, not_after=as_of - DAY)
        self.cross = make_ca(
            "Served Root",
            key=self.root.key,
            issuer=old_root,
            not_before=as_of - 4000 * DAY,
            not_after=as_of - DAY,
        )
        self.inter1 = make_ca("Served Inter 1", issuer=self.root, **far)
        self.inter2 = make_ca("Served Inter 2", issuer=self.inter1, **far)
        self.short = make_ca(
            "Served Short Inter",
            issuer=self.root,
            not_before=as_of - DAY,
            not_after=as_of + 9 * DAY,
        )
        self.rogue = make_ca("Served Stranger CA", **far)
        dates = dict(not_before=as_of - 10 * DAY, not_after=as_of + 80 * DAY)
        self.leaf = make_leaf(self.inter2, dns_names=[HOST], **dates)
        self.short_leaf = make_leaf(self.short, dns_names=[HOST], **dates)
        self.trust = certs.load_trust_store(self.root.pem, "served-root.pem")


@pytest.fixture(scope="module")
def pki(fixed: dt.datetime) -> Pki:
    return Pki(fixed)


def served(lab: Lab, chain: Sequence[Issued]) -> Handshake:
    port = lab.serve_chain(chain)
    target = Target(row=1, host=HOST, port=port, ip=LOOPBACK, is_ip=False)

    async def go() -> Handshake:
        result = await capture(
            target, ctx=client_context(), resolver=SystemResolver(), timeout=10.0
        )
        assert isinstance(result, Handshake), result
        return result

    return anyio.run(go)


CASES = {
    "clean": (["leaf", "inter2", "inter1"], []),
    "out_of_order": (["leaf", "inter1", "inter2"], ["chain_order"]),
    "repeat": (["leaf", "inter2", "inter2", "inter1"], ["duplicate_in_chain"]),
    "root": (["leaf", "inter2", "inter1", "root"], ["root_in_chain"]),
    "unrelated": (["leaf", "inter2", "rogue", "inter1"], ["unrelated_in_chain"]),
    "expired_cross_sign": (["leaf", "inter2", "inter1", "cross"], ["expired_in_chain"]),
    "expires_first": (["short_leaf", "short"], ["intermediate_expires_first"]),
}


@pytest.mark.parametrize(("names", "expected"), CASES.values(), ids=CASES.keys())
def test_findings_from_the_captured_chain(
    lab: Lab, pki: Pki, fixed: dt.datetime, names: list[str], expected: list[str]
) -> None:
    chain = [getattr(pki, n) for n in names]
    handshake = served(lab, chain)
    assert list(handshake.chain) == [c.der for c in chain]  # sent exactly as configured
    memo = Memo()
    parsed = parse_chain(handshake.chain, memo)
    path = build_path(parsed, pki.trust, {}, memo)
    result = hygiene.check(parsed, path, fixed, memo)
    assert [f.code for f in result.findings] == expected
