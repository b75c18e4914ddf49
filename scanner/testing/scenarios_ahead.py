"""The lab's rows of issue 21 (the date each host breaks, and whether its renewal will work):
leaves at points of their life, untidy served chains, answers of the lab's ARI server, CAA
records in the lab's DNS server."""

from __future__ import annotations

from scanner.testing.arilab import Ari
from scanner.testing.labrows import Host, Leaf
from scanner.testing.pki import CaName


def _lifetime(name: str, days: int, at: int, findings: tuple[str, ...] = ()) -> Host:
    """A leaf of `days` days, `at` days into its life (notBefore `at` days before as-of)."""
    return Host(
        name=name,
        host=f"d{days}-at{at}.lab.test",
        leaf=Leaf(
            dns_names=(f"d{days}-at{at}.lab.test",),
            not_before=-at,
            not_after=days - at,
            inclusive=True,
        ),
        findings=findings,
        grade="A",
        owner="renewals",
        note=f"{days}-day leaf, day {at}",
        columns=(("short_lived", days <= 7), ("breaks_because", "leaf_expires")),
    )


DUE = ("expiring_soon", "renewal_overdue")
RENEWAL: tuple[Host, ...] = (
    # 6 days is short-lived: "expiring soon" from its first day says nothing (suppressed).
    _lifetime("six_day_fresh", 6, 2),
    _lifetime("six_day_due", 6, 5, DUE),
    _lifetime("days45_due", 45, 35, DUE),
    _lifetime("days90_fresh", 90, 20),
    _lifetime("days90_due", 90, 65, DUE),
    _lifetime("days398_fresh", 398, 100),
    _lifetime("days398_due", 398, 300, ("renewal_overdue",)),
)


def _chain(
    name: str,
    chain: tuple[CaName, ...],
    finding: str,
    issuer: CaName = "intermediate",
    because: str = "leaf_expires",
) -> Host:
    host = f"{SHORT[name]}.lab.test"  # (short: the fix list keeps names whole at 80 columns)
    return Host(
        name=name,
        host=host,
        leaf=Leaf(dns_names=(host,), issuer=issuer),
        chain=chain,
        findings=(finding,),
        grade="A",
        owner="web",
        columns=(("breaks_because", because),),
    )


SHORT = {
    "chain_out_of_order": "misorder",
    "chain_duplicate": "twice",
    "chain_with_root": "withroot",
    "chain_unrelated": "unrelated",
    "chain_expired_cross": "oldcross",
    "intermediate_ends_first": "ca-ends",
}
HYGIENE: tuple[Host, ...] = (
    _chain(
        "chain_out_of_order",
        ("intermediate", "sub_intermediate"),
        "chain_order",
        issuer="sub_intermediate",
    ),
    _chain("chain_duplicate", ("intermediate", "intermediate"), "duplicate_in_chain"),
    _chain("chain_with_root", ("intermediate", "root"), "root_in_chain"),
    _chain("chain_unrelated", ("intermediate", "new_intermediate"), "unrelated_in_chain"),
    _chain("chain_expired_cross", ("intermediate", "old_cross"), "expired_in_chain"),
    _chain(
        "intermediate_ends_first",
        ("short_intermediate",),
        "intermediate_expires_first",
        issuer="short_intermediate",
        because="chain_expires",
    ),
)


def _ari(name: str, kind: Ari, findings: tuple[str, ...] = (), **cells: object) -> Host:
    host = f"{name.replace('_', '-')}.lab.test"
    return Host(
        name=name,
        host=host,
        leaf=Leaf(dns_names=(host,), issuer="acme_intermediate"),
        chain=("acme_intermediate",),
        findings=findings,
        grade="A",
        owner="acme",
        ari=kind,
        note=f"ARI: {kind.value}",
        columns=tuple(cells.items()),
    )


ARI: tuple[Host, ...] = (
    _ari("ari_past", Ari.PAST, ("ari_renew_now",), breaks_because="ari_window_ends"),
    _ari("ari_future", Ari.FUTURE, breaks_because="ari_window_ends"),
    _ari("ari_garbage", Ari.GARBAGE, ari_start=None, breaks_because="leaf_expires"),
    _ari("ari_huge", Ari.HUGE, ari_start=None, breaks_because="leaf_expires"),
)
LAB_CAA_ID = "ca.lab.test"  # the CAA identifier of the lab's CAs (the lab's CCADB excerpt)
OTHER = '0 issue "other-ca.example"'


def _caa(
    name: str,
    host: str,
    permits: bool,
    dns: tuple[tuple[str, dict[str, object]], ...],
    leaf: tuple[str, ...] = (),
) -> Host:
    return Host(
        name=name,
        host=host,
        leaf=Leaf(dns_names=leaf or (host,)),
        findings=() if permits else ("caa_forbids_current_ca",),
        grade="A",
        owner="dns",
        dns=dns,
        columns=(("caa_permits_issuer", permits),),
    )


CAA: tuple[Host, ...] = (
    _caa(
        "caa_allows",
        "caa-ok.lab.test",
        True,
        (("caa-ok.lab.test", {"CAA": [f'0 issue "{LAB_CAA_ID}"']}),),
    ),
    _caa("caa_forbids", "caa-no.lab.test", False, (("caa-no.lab.test", {"CAA": [OTHER]}),)),
    _caa(
        "caa_wildcard_only",
        "x.caa-wc.lab.test",
        True,
        (("caa-wc.lab.test", {"CAA": [OTHER, f'0 issuewild "{LAB_CAA_ID}"']}),),
        leaf=("*.caa-wc.lab.test",),
    ),
    _caa("caa_parent", "www.caa-up.lab.test", False, (("caa-up.lab.test", {"CAA": [OTHER]}),)),
    _caa(
        "caa_cname",
        "caa-alias.lab.test",
        False,
        (
            ("caa-alias.lab.test", {"CNAME": "caa-target.example.test"}),
            ("caa-target.example.test", {"CAA": [OTHER]}),
        ),
    ),
)

AHEAD: tuple[Host, ...] = (*RENEWAL, *HYGIENE, *ARI, *CAA)
